"""The typed arguments of one training run: every knob a dataclass field with help text (``ModelArguments``,
``DataArguments``, ``ExtraTrainingArguments`` and transformers' own ``TrainingArguments``), parsed by
``HfArgumentParser`` as in ``run_glue.py``, and :func:`training_arguments`, which builds the same four objects
from field values by name with the command line's defaults (``TRAINER_DEFAULTS``)."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from merginguriel.data.locales import parse_locales
from merginguriel.data.massive import HUB_DATASET, DataSelection
from merginguriel.defaults import DEFAULT_BASE_MODEL
from merginguriel.errors import UserError
from merginguriel.generative.classifier import DEFAULT_PROMPT_TEMPLATE
from merginguriel.training.outputs import default_output_dir

TASKS = ("classification", "generative")
LORA_MIN_PARAMETERS = 250_000_000
DEFAULT_LORA_TARGETS = {"classification": "query,value", "generative": "all-linear"}


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_BASE_MODEL,
        metadata={"help": "Pretrained model to fine-tune (hub id or local folder): an encoder, or with "
                  "--task generative any causal LM."},
    )  # fmt: skip
    task: str = field(
        default="classification",
        metadata={
            "help": "classification: a sequence classifier (encoder + head). generative: a causal LM that writes "
            "the intent's label text after --prompt_template (see docs/training.md).",
            "choices": list(TASKS),
        },
    )
    prompt_template: str = field(
        default=DEFAULT_PROMPT_TEMPLATE,
        metadata={
            "help": "--task generative: the prompt, {text} replaced by the utterance (one for all locales)."
        },
    )
    max_seq_length: int = field(
        default=128, metadata={"help": "Texts (generative: prompts) are truncated to this many tokens."}
    )
    packing: bool = field(
        default=False,
        metadata={
            "help": "--task generative: pack each batch's training examples into rows of --packing_length tokens, "
            "positions restarting per example and attention kept within it (block-diagonal mask), instead of "
            "padding every example to the batch's longest; same loss, fewer pad tokens (docs/generative.md).",
            "nargs": "?",
            "const": True,
        },
    )
    packing_length: int | None = field(
        default=None,
        metadata={"help": "--packing: tokens per packed row (default --max_seq_length)."},
    )
    use_lora: bool | None = field(
        default=None,
        metadata={
            "help": "Train LoRA adapters (peft) and save the merged-back full weights. Default: off for "
            f"classification, on for generative models over {LORA_MIN_PARAMETERS // 10**6}M parameters; "
            "--use_lora / --use_lora false decide explicitly.",
            "nargs": "?",
            "const": True,
        },
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={
            "help": "Freeze the input word embeddings: the largest matrix of a multilingual encoder (96M of "
            "multilingual-e5-small's 118M parameters), so a step costs far less, and every model fine-tuned "
            "from the same base keeps the same embeddings."
        },
    )
    attn_implementation: str = field(
        default="auto",
        metadata={
            "help": "Attention: auto (flash_attention_2 on CUDA when installed, else sdpa, else eager), eager, sdpa "
            "or flash_attention_2; what cannot run here falls back (flash → sdpa → eager), logged and recorded in "
            "run_metadata.json.",
            "choices": ["auto", "eager", "sdpa", "flash_attention_2"],
        },
    )
    quantization: str = field(
        default="none",
        metadata={
            "help": "Train LoRA adapters on a base loaded quantised by bitsandbytes (QLoRA): 4bit (NF4, double "
            "quantisation) or 8bit (LLM.int8); implies --use_lora. The saved model is the full-precision base "
            "with the LoRA update merged in. Needs pip install 'merginguriel[qlora]'; meant for CUDA (bitsandbytes' "
            "CPU backend is slow).",
            "choices": ["none", "4bit", "8bit"],
        },
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (the update is scaled by alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated module names that get LoRA adapters (default: query,value for "
            "classification, all-linear for generative)."
        },
    )


@dataclass
class DataArguments:
    dataset_config_name: str = field(
        default="en-US",
        metadata={
            "help": "Locale, or comma-separated locales (concatenated and shuffled), e.g. de-DE,nl-NL.",
            "aliases": ["--locale", "--locales"],
        },
    )
    dataset_name: str = field(
        default=HUB_DATASET,
        metadata={"help": "Hub id, local folder (<locale>/{train,dev,test}.jsonl[.gz]) or 'builtin'."},
    )
    text_column: str = field(default="utt", metadata={"help": "Column holding the utterance."})
    models_root: str = field(
        default="haryos_model",
        metadata={"help": "Default parent of --output_dir: {models_root}/{base}_massive_k_{locale}."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N training rows per locale."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N dev rows per locale."}
    )
    max_predict_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N test rows per locale."}
    )
    mixture_rates: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated sampling rates, one per locale of --dataset_config_name (e.g. 0.7,0.3); "
            "normalised to sum to 1. Without it the locales are concatenated."
        },
    )
    mixture_size: int | None = field(
        default=None,
        metadata={"help": "Training rows drawn by --mixture_rates (default: the total number of rows)."},
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output folder."})


@dataclass
class ExtraTrainingArguments:
    class_weights: bool = field(
        default=False,
        metadata={"help": "Weight the cross-entropy by inverse class frequency, w_c = N / (K * n_c)."},
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Stop after this many evaluations without improvement of --metric_for_best_model "
            "(default accuracy); turns on per-epoch evaluation/saving and loads the best model at the end."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "Minimum improvement that counts for early stopping."}
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={"help": "Move the checkpoints into {output_dir}/checkpoints/ instead of deleting them."},
    )
    objective: str = field(
        default="sft",
        metadata={
            "help": "sft: supervised training on the label tokens. grpo (--task generative): reinforcement learning "
            "with TRL's GRPO, reward = the sampled completion is the gold label (+ --grpo_format_reward for any "
            "label); start from a model trained with sft (docs/generative.md).",
            "choices": ["sft", "grpo"],
        },
    )
    grpo_num_generations: int = field(
        default=4, metadata={"help": "--objective grpo: completions sampled per prompt (the group)."}
    )
    grpo_max_completion_length: int = field(
        default=16,
        metadata={"help": "--objective grpo: tokens a completion may have (labels are 1–5 + EOS)."},
    )
    grpo_temperature: float = field(default=1.0, metadata={"help": "--objective grpo: sampling temperature."})
    grpo_beta: float = field(
        default=0.0,
        metadata={"help": "--objective grpo: weight of the KL divergence to the starting model (0: none, no "
                  "reference model kept)."},
    )  # fmt: skip
    grpo_format_reward: float = field(
        default=0.1,
        metadata={
            "help": "--objective grpo: reward for a completion that is one of the labels, right or wrong."
        },
    )
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16 on CUDA GPUs that support it, else fp16 on CUDA, fp32 on MPS/CPU), fp32, fp16 "
            "or bf16. --fp16/--bf16 given explicitly win.",
            "choices": ["auto", "fp32", "fp16", "bf16"],
        },
    )


ARGUMENT_CLASSES: tuple[type, ...] = (
    ModelArguments,
    DataArguments,
    ExtraTrainingArguments,
    TrainingArguments,
)
# The toolkit's trainer defaults where they differ from transformers': no checkpoints or evaluation unless
# asked for, TensorBoard, and the usual fine-tuning rate and batch sizes. Used by training_arguments() and by
# the training_bert.py parser, so both start from the same values.
TRAINER_DEFAULTS: dict[str, Any] = {
    "save_strategy": "no",
    "eval_strategy": "no",
    "report_to": "tensorboard",
    "logging_steps": 25,
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
}
# transformers 5 dropped --warmup_ratio: its --warmup_steps takes a ratio of the total steps when below 1
WARMUP_RATIO_FIELD = (
    "warmup_ratio"
    if any(f.name == "warmup_ratio" for f in dataclasses.fields(TrainingArguments))
    else "warmup_steps"
)


@dataclass
class TrainArguments:
    """The four argument objects of one training run, as ``training_bert.py`` parses them."""

    model: ModelArguments
    data: DataArguments
    extra: ExtraTrainingArguments
    training: TrainingArguments

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> TrainArguments:
        """The argument objects from field values by name (any field of the four classes, ``warmup_ratio``
        included); fields not given take ``TRAINER_DEFAULTS``, then the dataclass defaults."""
        owners = _field_owners()
        values: dict[type, dict[str, Any]] = {owner: {} for owner in ARGUMENT_CLASSES}
        for name, value in checked_fields(fields).items():
            values[owners[name]][name] = _coerced(owners[name], name, value)
        return cls(
            model=ModelArguments(**values[ModelArguments]),
            data=DataArguments(**values[DataArguments]),
            extra=ExtraTrainingArguments(**values[ExtraTrainingArguments]),
            training=TrainingArguments(**{**TRAINER_DEFAULTS, **values[TrainingArguments]}),
        )


@functools.cache
def _field_owners() -> dict[str, type]:
    """Every settable field name -> the argument class it belongs to."""
    return {f.name: owner for owner in ARGUMENT_CLASSES for f in dataclasses.fields(owner) if f.init}


def training_field_names() -> list[str]:
    """Every field name :func:`training_arguments` takes: the fields of the four argument classes."""
    return list(_field_owners())


@functools.cache
def _type_hints(owner: type) -> dict[str, Any]:
    return typing.get_type_hints(owner)


def _coerced(owner: type, name: str, value: Any) -> Any:
    """``value`` as the command line would give it: an integer for a float field becomes a float (so
    ``training_config.json`` records ``3.0`` epochs either way)."""
    hint = _type_hints(owner).get(name)
    floats = hint is float or float in typing.get_args(hint)
    if floats and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def checked_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with ``warmup_ratio`` under its name in this transformers version (``warmup_steps`` on
    transformers 5); an unknown name is a ``ValueError`` naming it and the closest field names."""
    owners = _field_owners()
    out: dict[str, Any] = {}
    for name, value in fields.items():
        name = WARMUP_RATIO_FIELD if name == "warmup_ratio" else name
        if name not in owners:
            close = difflib.get_close_matches(name, list(owners), n=3)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UserError(
                f"Unknown training option {name!r}: not a field of ModelArguments, DataArguments, "
                f"ExtraTrainingArguments or TrainingArguments.{hint}"
            )
        out[name] = value
    return out


def training_fields(
    model_name_or_path: str | os.PathLike,
    locales: str | Sequence[str],
    dataset_name: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The field values by name of one run, checked (see :func:`training_arguments`), in the order of a
    ``training_bert.py`` command line: model, locales, dataset, output folder, ``fields``; ``overrides`` win
    over all of them. No argument object is built, so nothing here depends on the device."""
    if "dataset_config_name" in fields:
        raise UserError("Give the locales once, as `locales` (dataset_config_name is that same field).")
    values = checked_fields(
        {
            "model_name_or_path": str(model_name_or_path),
            "dataset_config_name": locales if isinstance(locales, str) else ",".join(locales),
            "dataset_name": str(dataset_name),
            "output_dir": None if output_dir is None else str(output_dir),
            **fields,
            **(overrides or {}),
        }
    )
    if values["output_dir"] is None:
        root = values.get("models_root", DataArguments.models_root)
        locale_list = parse_locales(values["dataset_config_name"])
        values["output_dir"] = str(default_output_dir(root, values["model_name_or_path"], locale_list))
    return values


def training_arguments(
    model_name_or_path: str | os.PathLike,
    locales: str | Sequence[str],
    dataset_name: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> TrainArguments:
    """The arguments of one training run, as ``training_bert.py`` would parse the equivalent command line.

    ``locales`` is one locale, a comma-separated string or a list (``--dataset_config_name``); ``output_dir``
    defaults to ``{models_root}/{base}_massive_k_{locale}``. ``fields`` are any fields of ``ModelArguments``,
    ``DataArguments``, ``ExtraTrainingArguments`` or ``TrainingArguments`` by name (``warmup_ratio`` too, also
    on transformers 5); the trainer fields not given take ``TRAINER_DEFAULTS``. ``overrides`` (typically a
    command's ``--additional-args``) win over everything else, the four positional values included. An
    unknown field name is a ``ValueError`` that names it and the closest fields.
    """
    return TrainArguments.from_fields(
        training_fields(model_name_or_path, locales, dataset_name, output_dir, overrides=overrides, **fields)
    )


V = typing.TypeVar("V")


def as_value(cls: type[V], value: V | Mapping[str, Any]) -> V:
    """``value`` as a ``cls`` value object: a config read back from JSON holds it as a dict of its fields."""
    return cls(**value) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class TrainingOptions:
    """The fine-tuning knobs the training family shares (multi-language, iterative, snapshot averaging and
    fusion training), declared once: epochs, learning rate, per-device training batch size, row limits per
    locale, seed, and ``overrides`` — ``training_bert.py`` fields by name (``--additional-args``), which win over
    everything else. The data (dataset, text column, max sequence length) is a
    :class:`~merginguriel.data.massive.DataSelection` and device / progress a :class:`~merginguriel.runtime.Runtime`,
    composed beside it in each job's config."""

    epochs: float = 3.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    seed: int = 42
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("epochs", "learning_rate", "batch_size", "max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive (got {value}).")

    def arguments(
        self,
        model_name_or_path: str | os.PathLike,
        locales: str | Sequence[str],
        data: DataSelection,
        output_dir: str | os.PathLike | None,
        **fields: Any,
    ) -> TrainArguments:
        """The trainer arguments of one run of ``model_name_or_path`` on ``locales`` with these options and
        ``data``'s dataset, text column and max sequence length; ``fields`` set (or replace) any other trainer
        field; ``overrides`` win over all."""
        values: dict[str, Any] = {
            "num_train_epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "per_device_train_batch_size": self.batch_size,
            "max_seq_length": data.max_seq_length,
            "seed": self.seed,
            "text_column": data.text_column,
            "max_train_samples": self.max_train_samples,
            **fields,
        }
        return training_arguments(
            model_name_or_path, locales, data.dataset_name, output_dir, overrides=self.overrides, **values
        )


__all__ = [
    "as_value",
    "TrainingOptions",
    "DEFAULT_LORA_TARGETS",
    "LORA_MIN_PARAMETERS",
    "TASKS",
    "WARMUP_RATIO_FIELD",
    "DataArguments",
    "ExtraTrainingArguments",
    "ModelArguments",
    "TrainArguments",
    "checked_fields",
    "training_arguments",
    "training_field_names",
    "training_fields",
]
