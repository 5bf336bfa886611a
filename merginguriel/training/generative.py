"""The trainer's generative branch (``--task generative``): a causal LM fine-tuned to write the intent's label text
after the prompt (see :mod:`merginguriel.generative.classifier` for the template, the label texts and the scoring rule).

* **Data.** Training rows are ``prompt ids + label ids + EOS`` with ``labels`` = -100 on the prompt (and on
  padding), the label ids and EOS on the rest: the loss is on the label tokens only. Dev/test rows are the prompt
  alone with the gold label's index: they are scored, not generated.
* **Collator.** Dynamic right padding to the longest row of the batch (``pad_token``, else EOS).
* **Packing** (``--packing``). The batch's training examples are packed, first-fit decreasing, into rows of at
  most ``--packing_length`` tokens (default ``--max_seq_length``; an example longer than that gets a row of its
  own), the rows right-padded to the longest. Each example keeps its own positions (``position_ids`` restart at
  0 per example) and the batch has no ``attention_mask``, so transformers builds a block-diagonal causal mask from
  the position ids (sdpa / eager, tested; flash-attention's varlen path reads the same position ids, untested
  without a GPU): no token attends across examples, and the loss is on the label tokens only, as without
  packing. The same examples per step give the same loss and gradients as padding (tested); what changes is how
  many pad tokens are computed. A mixture-of-experts router's balancing loss then counts the few pad tokens at a
  row's end too (there is no mask to exclude them).
* **Loss.** The model's own causal-LM loss; with ``--class_weights``, each row's label tokens are weighted by its
  class weight: ``Σ_i w_{y_i} Σ_{t∈label_i} CE_{i,t} / Σ_i w_{y_i} |label_i|`` per batch (packed: each token
  carries its example's weight).
* **Evaluation.** :class:`GenerativeTrainer` scores the 60 labels on each dev/test prompt
  (:func:`merginguriel.generative.classifier.score_labels`); the scores are the "logits" of ``compute_metrics`` (accuracy,
  macro-F1: early stopping on dev accuracy works as for encoders), the eval loss is the cross-entropy of the
  softmax over the 60 scores.
* **QLoRA.** ``--quantization 4bit|8bit`` loads the base quantised by bitsandbytes and trains LoRA on top; the
  adapters are merged into the full-precision base when saved (:mod:`merginguriel.training.quantization`).
* **LoRA.** On by default for models with more than :data:`LORA_MIN_PARAMETERS` parameters (``--use_lora
  true/false`` decides explicitly), on ``all-linear`` layers unless ``--lora_target_modules`` names others;
  merged back into full weights when saved. With bf16 training (CUDA) the frozen base weights of a LoRA run are
  loaded in bf16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import Trainer

from merginguriel.generative.classifier import GenerativeSpec, PromptTokenizer, score_labels
from merginguriel.training.arguments import TrainArguments
from merginguriel.training.lora import lora_model
from merginguriel.training.quantization import compute_dtype, prepare_quantised, quantization_config

IGNORE_INDEX = -100


def load_causal_lm(
    args: TrainArguments, attn_implementation: str | None = None
) -> tuple[PromptTokenizer, Any]:
    """(prompt tokenizer, causal LM with the marker in its config), LoRA-wrapped when asked for and training;
    ``attn_implementation`` as resolved by :mod:`merginguriel.training.attention` (None: transformers' choice)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = args.model.model_name_or_path
    spec = GenerativeSpec(prompt_template=args.model.prompt_template)
    tokenizer = PromptTokenizer(AutoTokenizer.from_pretrained(path), spec)
    lora = bool(args.model.use_lora) and args.training.do_train
    kwargs: dict[str, Any] = {"attn_implementation": attn_implementation} if attn_implementation else {}
    quantised = args.model.quantization != "none" and lora
    if quantised:
        kwargs["quantization_config"] = quantization_config(
            args.model.quantization, compute_dtype(args.training)
        )
    elif lora and args.training.bf16:
        kwargs[_dtype_argument()] = torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    spec.apply(model.config)
    if hasattr(model.config, "output_router_logits") and args.training.do_train:
        # a mixture-of-experts decoder: the router's load-balancing loss (router_aux_loss_coef × aux loss) joins
        # the label-token loss while training, as in the model's pretraining
        model.config.output_router_logits = True
    if lora:
        from peft import TaskType

        if quantised:
            model = prepare_quantised(model, bool(args.training.gradient_checkpointing))
        model = lora_model(model, args.model, TaskType.CAUSAL_LM)
        if args.training.gradient_checkpointing:
            model.enable_input_require_grads()
    return tokenizer, model


def _dtype_argument() -> str:
    """``from_pretrained``'s dtype keyword: ``dtype`` (transformers ≥ 4.56), ``torch_dtype`` before."""
    import inspect

    from transformers import PreTrainedModel

    return (
        "dtype" if "dtype" in inspect.signature(PreTrainedModel.from_pretrained).parameters else "torch_dtype"
    )


def label_index(tokenizer: PromptTokenizer) -> dict[str, int]:
    """Intent name -> its position among the tokenizer's labels (the score columns)."""
    return {name: j for j, name in enumerate(tokenizer.spec.labels)}


def causal_features(split: Any, tokenizer: PromptTokenizer, max_length: int) -> Any:
    """Training rows: ``input_ids`` = prompt + label + EOS, ``labels`` masked to -100 on the prompt, and the
    row's label index as ``intent_id`` (for class weights)."""
    index = label_index(tokenizer)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "intent_id": []}
        for prompt, intent in zip(tokenizer.prompt_ids(batch["text"], max_length), batch["intent"]):
            target = tokenizer.label_sequences[index[intent]]
            out["input_ids"].append(prompt + target)
            out["attention_mask"].append([1] * (len(prompt) + len(target)))
            out["labels"].append([IGNORE_INDEX] * len(prompt) + target)
            out["intent_id"].append(index[intent])
        return out

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="causal-lm rows")


def prompt_features(split: Any, tokenizer: PromptTokenizer, max_length: int) -> Any:
    """Dev/test rows: the prompt alone and the gold label's index as ``labels``."""
    index = label_index(tokenizer)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        ids = tokenizer.prompt_ids(batch["text"], max_length)
        return {
            "input_ids": ids,
            "attention_mask": [[1] * len(x) for x in ids],
            "labels": [index[intent] for intent in batch["intent"]],
        }

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="prompts")


def encode_splits(splits: dict[str, Any], tokenizer: PromptTokenizer, max_length: int) -> dict[str, Any]:
    """The training split as causal-LM rows, the others as prompts to score."""
    return {
        name: (causal_features if name == "train" else prompt_features)(data, tokenizer, max_length)
        for name, data in splits.items()
    }


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: the indices of ``lengths`` grouped into rows whose lengths sum to at most
    ``capacity`` (an item longer than ``capacity`` gets a row of its own); rows in order of creation, each row's
    items longest first."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: (-lengths[j], j)):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(max(0, capacity - lengths[i]))
    return rows


@dataclass
class GenerativeCollator:
    """Right-pads ``input_ids`` (``pad_id``), ``attention_mask`` (0) and token ``labels`` (-100) to the longest row;
    integer ``labels`` (a prompt's gold index) and ``intent_id`` are stacked. With ``pack_length``, training rows
    (token ``labels``) are packed instead (see the module doc): ``input_ids``, ``labels``, ``position_ids`` and
    ``token_intent`` (each token's example's label index), no ``attention_mask``, and ``use_cache=False``
    (transformers derives the block-diagonal mask from the position ids only without a cache)."""

    pad_id: int
    pack_length: int | None = None

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if self.pack_length is not None and isinstance(features[0].get("labels"), (list, tuple)):
            return self.packed(features)
        width = max(len(f["input_ids"]) for f in features)

        def padded(key: str, value: int) -> torch.Tensor:
            return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features])

        batch = {"input_ids": padded("input_ids", self.pad_id), "attention_mask": padded("attention_mask", 0)}
        if "labels" in features[0]:
            token_labels = isinstance(features[0]["labels"], (list, tuple))
            batch["labels"] = (
                padded("labels", IGNORE_INDEX)
                if token_labels
                else torch.tensor([int(f["labels"]) for f in features])
            )
        if "intent_id" in features[0]:
            batch["intent_id"] = torch.tensor([int(f["intent_id"]) for f in features])
        return batch

    def packed(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The examples packed into rows of at most ``pack_length`` tokens; a row's pad tail is a sequence of
        its own (positions from 0, labels -100), so nothing attends to it and it attends to nothing real."""
        assert self.pack_length is not None
        rows = pack_rows([len(f["input_ids"]) for f in features], self.pack_length)
        width = max(sum(len(features[i]["input_ids"]) for i in row) for row in rows)
        columns: dict[str, list[list[int]]] = {
            "input_ids": [],
            "labels": [],
            "position_ids": [],
            "token_intent": [],
        }
        for row in rows:
            ids: list[int] = []
            labels: list[int] = []
            positions: list[int] = []
            intents: list[int] = []
            for i in row:
                f, n = features[i], len(features[i]["input_ids"])
                ids += list(f["input_ids"])
                labels += [IGNORE_INDEX, *list(f["labels"])[1:]]  # never predicted across examples
                positions += range(n)
                intents += [int(f.get("intent_id", 0))] * n
            tail = width - len(ids)
            columns["input_ids"].append(ids + [self.pad_id] * tail)
            columns["labels"].append(labels + [IGNORE_INDEX] * tail)
            columns["position_ids"].append(positions + list(range(tail)))
            columns["token_intent"].append(intents + [0] * tail)
        return {"use_cache": False, **{key: torch.tensor(values) for key, values in columns.items()}}


def weighted_label_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_i w_i Σ_t CE_{i,t} / Σ_i w_i n_i`` over the label tokens (``labels != -100``, shifted by one as in
    causal-LM training), ``n_i`` the number of label tokens of example ``i``; ``weights`` per row (shape ``(B,)``)
    or per token (``(B, T)``, packed rows: each token its example's weight)."""
    shift_logits = logits[:, :-1].float()
    targets = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(
        shift_logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
    )
    per_token = weights[:, None].expand_as(labels) if weights.dim() == 1 else weights
    weights = per_token[:, 1:].to(ce.dtype) * (targets != IGNORE_INDEX)
    return (ce * weights).sum() / weights.sum()


class GenerativeTrainer(Trainer):
    """``Trainer`` for the generative branch: class-weighted label-token loss when weights are given, and
    dev/test evaluation by label scoring (see the module doc)."""

    def __init__(
        self,
        *args: Any,
        label_sequences: Sequence[Sequence[int]],
        class_weights: np.ndarray | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.label_sequences = [list(s) for s in label_sequences]
        self.class_weights = (
            None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        )
        if self.class_weights is not None:
            self.loss_is_scaled_for_ga = False  # a per-batch weighted mean, as WeightedLossTrainer's

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        intent = inputs.pop("intent_id", None)
        token_intent = inputs.pop("token_intent", None)
        intent = token_intent if token_intent is not None else intent
        if self.class_weights is None or intent is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        weights = self.class_weights.to(outputs.logits.device)[intent]
        loss = weighted_label_loss(outputs.logits, labels, weights)
        if getattr(outputs, "aux_loss", None) is not None:  # mixture of experts: the router's balancing loss
            loss = loss + model.config.router_aux_loss_coef * outputs.aux_loss.to(loss.device)
        return (loss, outputs) if return_outputs else loss

    def prediction_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        inputs = self._prepare_inputs(inputs)
        gold = inputs.get("labels")
        if gold is None or gold.dim() != 1:  # causal-LM rows: the usual loss
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        with torch.no_grad():
            scores = score_labels(model, inputs["input_ids"], inputs["attention_mask"], self.label_sequences)
            loss = torch.nn.functional.cross_entropy(scores, gold)
        if prediction_loss_only:
            return loss.detach(), None, None
        return loss.detach(), scores.detach(), gold


__all__ = [
    "IGNORE_INDEX",
    "GenerativeCollator",
    "GenerativeTrainer",
    "causal_features",
    "encode_splits",
    "label_index",
    "pack_rows",
    "load_causal_lm",
    "prompt_features",
    "weighted_label_loss",
]
