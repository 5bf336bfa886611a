"""Expert-fusion models: several fine-tuned locale models ("experts") read the same text; a fusion module
combines their pooled representations and a global head classifies the result. Training is in
:mod:`merginguriel.training.fusion`.

Each expert ``i`` gives ``r_i`` = its last hidden state at the first token (``<s>`` / ``[CLS]``), of size ``H``
(detected from the experts' configs, which must agree). Fusion types:

* ``multiplicative`` — ``LayerNorm(prod_i (W_i r_i + b_i))``;
* ``multiplicativeAddition`` — ``LayerNorm(prod_i p_i + sum_i p_i)`` with ``p_i = W_i r_i + b_i``;
* ``concatenation`` — ``tanh(W [r_1; ...; r_K] + b)``;
* ``TransformerBase`` — attention fusion: a learned fusion token followed by ``r_1..r_K`` (plus learned expert
  embeddings) goes through one Transformer encoder layer; the fusion token's output is the fused vector.

The head is ``Linear(H, num_labels)`` after dropout.

Saved layout (:func:`save_components`, :func:`save_complete`)::

    components/   each expert as a Hugging Face encoder folder (experts/{i}_{name}/, + tokenizer),
                  fusion.safetensors  head.safetensors  fusion_config.json  tokenizer files
    complete/     the complete model: model.safetensors (all weights), fusion_config.json,
                  expert_configs/{i}/config.json, tokenizer files

:func:`load_fusion_model` rebuilds the model from either folder. The model returns an object with ``.logits``
and has ``.config.num_labels`` / ``.config.id2label``, so ``merginguriel.models.evaluation.evaluate_model(...,
loaded=load_fusion_model(path))`` evaluates it on any locale like any other model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase
from transformers.modeling_outputs import SequenceClassifierOutput

from merginguriel.data.labels import ID2LABEL
from merginguriel.errors import MissingInputError, UserError
from merginguriel.models.checks import FUSION_CONFIG, check_finite, check_fusion_folder, check_model_folder
from merginguriel.outputs.atomic import atomic_output_dir, write_json_atomic

FUSION_TYPES = ("multiplicative", "multiplicativeAddition", "concatenation", "TransformerBase")
CONFIG_FILE = FUSION_CONFIG


@dataclass
class FusionConfig:
    """What a fused model is made of; also its ``.config`` (``num_labels``, ``id2label``, ``model_type``)."""

    expert_names: list[str]
    fusion_type: str
    hidden_size: int
    id2label: dict[int, str] = field(default_factory=lambda: dict(ID2LABEL))
    dropout: float = 0.1
    expert_sources: list[str] = field(default_factory=list)
    model_type: str = "merginguriel-expert-fusion"

    def __post_init__(self) -> None:
        if self.fusion_type not in FUSION_TYPES:
            raise UserError(
                f"Unknown fusion type {self.fusion_type!r}; choose one of {', '.join(FUSION_TYPES)}."
            )
        self.id2label = {int(k): v for k, v in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.id2label.items()}

    def save(self, folder: str | os.PathLike) -> None:
        write_json_atomic(Path(folder) / CONFIG_FILE, asdict(self))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> FusionConfig:
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            raise MissingInputError(f"{folder} is not a fusion model folder (no {CONFIG_FILE}).")
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"{path} is not a fusion configuration ({type(exc).__name__}: {exc}); the folder is damaged: "
                "save the fusion model again (merginguriel fusion writes it)."
            ) from None


def _attention_heads(hidden: int) -> int:
    return next(h for h in (8, 4, 2, 1) if hidden % h == 0)


class FusionModule(nn.Module):
    """Combines ``K`` expert vectors (batch x K x H) into one (batch x H)."""

    def __init__(self, fusion_type: str, num_experts: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.fusion_type = fusion_type
        if fusion_type in ("multiplicative", "multiplicativeAddition"):
            self.projections = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_experts))
            self.norm = nn.LayerNorm(hidden)
        elif fusion_type == "concatenation":
            self.proj = nn.Linear(num_experts * hidden, hidden)
        elif fusion_type == "TransformerBase":
            self.fusion_token = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
            self.expert_embeddings = nn.Parameter(torch.randn(1, num_experts, hidden) * 0.02)
            self.layer = nn.TransformerEncoderLayer(
                d_model=hidden, nhead=_attention_heads(hidden), dim_feedforward=2 * hidden, dropout=dropout,
                batch_first=True,
            )  # fmt: skip
        else:
            raise UserError(f"Unknown fusion type {fusion_type!r}; choose one of {', '.join(FUSION_TYPES)}.")

    def forward(self, reps: torch.Tensor) -> torch.Tensor:
        if self.fusion_type in ("multiplicative", "multiplicativeAddition"):
            projected = [proj(reps[:, i]) for i, proj in enumerate(self.projections)]
            fused = torch.stack(projected, 0).prod(0)
            if self.fusion_type == "multiplicativeAddition":
                fused = fused + torch.stack(projected, 0).sum(0)
            return self.norm(fused)
        if self.fusion_type == "concatenation":
            return torch.tanh(self.proj(reps.flatten(1)))
        tokens = torch.cat(
            [self.fusion_token.expand(reps.shape[0], -1, -1), reps + self.expert_embeddings], 1
        )
        return self.layer(tokens)[:, 0]


class ExpertFusionModel(nn.Module):
    """Experts + fusion module + global head; ``forward`` returns a ``SequenceClassifierOutput``."""

    def __init__(self, experts: Sequence[nn.Module], config: FusionConfig) -> None:
        super().__init__()
        if len(experts) != len(config.expert_names):
            raise UserError(f"{len(experts)} experts for {len(config.expert_names)} expert names.")
        self.config = config
        self.experts = nn.ModuleList(experts)
        self.fusion = FusionModule(config.fusion_type, len(experts), config.hidden_size, config.dropout)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.hidden_size, config.num_labels)
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        reps = torch.stack([expert(**inputs).last_hidden_state[:, 0] for expert in self.experts], 1)
        logits = self.head(self.fusion(reps))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def component_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"fusion": self.fusion.state_dict(), "head": self.head.state_dict()}


def _load_encoder(path: str | os.PathLike) -> nn.Module:
    """The encoder of a classifier folder (its classification head is dropped)."""
    try:
        return AutoModel.from_pretrained(str(path), add_pooling_layer=False)
    except TypeError:  # architectures without a pooler flag
        return AutoModel.from_pretrained(str(path))


def _encoder_from_config(path: str | os.PathLike) -> nn.Module:
    config = AutoConfig.from_pretrained(str(path))
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def build_fusion_model(
    expert_paths: Sequence[str | os.PathLike],
    expert_names: Sequence[str],
    fusion_type: str,
    dropout: float = 0.1,
    seed: int = 42,
) -> tuple[ExpertFusionModel, PreTrainedTokenizerBase]:
    """Load the experts, check they share hidden size and tokenizer, and add a new fusion module and head."""
    if len(expert_paths) < 2:
        raise UserError("Expert fusion needs at least two experts.")
    for path in expert_paths:
        check_model_folder(path)
    sizes = {str(p): AutoConfig.from_pretrained(str(p)).hidden_size for p in expert_paths}
    if len(set(sizes.values())) != 1:
        raise UserError(f"Experts have different hidden sizes: {sizes}; fuse experts of one architecture.")
    tokenizer = AutoTokenizer.from_pretrained(str(expert_paths[0]))
    vocab = tokenizer.get_vocab()
    for path in expert_paths[1:]:
        if AutoTokenizer.from_pretrained(str(path)).get_vocab() != vocab:
            raise UserError(
                f"Expert {path} has another vocabulary than {expert_paths[0]}; experts must share a tokenizer."
            )
    experts = [_load_encoder(p) for p in expert_paths]
    for path, expert in zip(expert_paths, experts):
        check_finite(expert, path)
    config = FusionConfig(
        expert_names=list(expert_names), fusion_type=fusion_type, hidden_size=next(iter(sizes.values())),
        dropout=dropout, expert_sources=[str(p) for p in expert_paths],
    )  # fmt: skip
    torch.manual_seed(seed)
    return ExpertFusionModel(experts, config), tokenizer


def _expert_folder(i: int, name: str) -> str:
    return f"{i:02d}_{name}"


def save_components(
    model: ExpertFusionModel, tokenizer: PreTrainedTokenizerBase, folder: str | os.PathLike
) -> Path:
    """Experts (HF folders), fusion and head (safetensors) saved independently, atomically, into ``folder``."""
    with atomic_output_dir(folder, overwrite=True) as tmp:
        for i, (name, expert) in enumerate(zip(model.config.expert_names, model.experts)):
            expert.save_pretrained(str(tmp / "experts" / _expert_folder(i, name)))
            tokenizer.save_pretrained(str(tmp / "experts" / _expert_folder(i, name)))
        for part, state in model.component_state().items():
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp / f"{part}.safetensors")
            )
        model.config.save(tmp)
        tokenizer.save_pretrained(str(tmp))
    return Path(folder)


def save_complete(
    model: ExpertFusionModel, tokenizer: PreTrainedTokenizerBase, folder: str | os.PathLike
) -> Path:
    """The complete model (one ``model.safetensors``) with the experts' configs, atomically, into ``folder``."""
    with atomic_output_dir(folder, overwrite=True) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        for i, expert in enumerate(model.experts):
            expert.config.save_pretrained(str(tmp / "expert_configs" / str(i)))
        model.config.save(tmp)
        tokenizer.save_pretrained(str(tmp))
    return Path(folder)


def load_fusion_model(
    folder: str | os.PathLike, device: str = "cpu"
) -> tuple[ExpertFusionModel, PreTrainedTokenizerBase]:
    """Rebuild a fused model (eval mode, on ``device``) from a complete folder or from a components folder
    (checked first: :func:`check_fusion_folder`; non-finite weights are refused after loading)."""
    folder = Path(folder)
    check_fusion_folder(folder)
    config = FusionConfig.load(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if (folder / "model.safetensors").is_file():
        experts = [
            _encoder_from_config(folder / "expert_configs" / str(i)) for i in range(len(config.expert_names))
        ]
        model = ExpertFusionModel(experts, config)
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
    elif (folder / "experts").is_dir():
        experts = [
            _load_encoder(folder / "experts" / _expert_folder(i, n))
            for i, n in enumerate(config.expert_names)
        ]
        model = ExpertFusionModel(experts, config)
        model.fusion.load_state_dict(load_file(str(folder / "fusion.safetensors")))
        model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    check_finite(model, folder)
    model.to(device).eval()
    return model, tokenizer


__all__ = [
    "CONFIG_FILE",
    "FUSION_TYPES",
    "ExpertFusionModel",
    "FusionConfig",
    "FusionModule",
    "build_fusion_model",
    "load_fusion_model",
    "save_complete",
    "save_components",
]
