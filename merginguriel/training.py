"""Fine-tune a sequence classifier on one MASSIVE locale or several (``training_bert.py``), over ``Trainer``.

Every knob is a typed dataclass field with help text (``ModelArguments``, ``DataArguments``,
``ExtraTrainingArguments`` and transformers' own ``TrainingArguments``), parsed by ``HfArgumentParser``, as in
``run_glue.py``, so every Hugging Face option (``--lr_scheduler_type``, ``--warmup_ratio``,
``--gradient_accumulation_steps``, ``--save_total_limit``, ``--report_to`` …) works unchanged.
The saved config carries ``id2label``/``label2id`` in the canonical MASSIVE order (``labels.INTENT_LABELS``).

Where things go (``--output_dir`` = ``OUT``):

* the finished model is written atomically: it appears at ``OUT`` complete (with ``COMPLETE``) or not at all;
* checkpoints (``--save_strategy steps|epoch``, ``--resume_from_checkpoint``, early stopping) are written to
  the persistent sibling ``OUT.checkpoints/`` while training, so they survive a crash and
  ``--resume_from_checkpoint latest`` finds them; after success they are deleted, or moved to
  ``OUT/checkpoints/`` with ``--keep_checkpoints``;
* TensorBoard event files go to ``OUT/runs/`` (with a run-metadata summary at step 0), and the metadata also to
  ``OUT/run_metadata.json``; every argument is saved to ``OUT/training_config.json``.

Class weights (``--class_weights``): with ``N`` training examples, ``K`` classes present and ``n_c`` examples of
class ``c``, ``w_c = N / (K * n_c)`` (0 for classes absent from the training data). The weights are normalised
so that their frequency-weighted mean is 1 (``sum_c n_c w_c / N = 1``); the loss is PyTorch's weighted
cross-entropy, ``sum_i w_{y_i} * CE_i / sum_i w_{y_i}`` per batch.

Mixtures: ``--dataset_config_name fr-FR,de-DE`` concatenates and shuffles; adding ``--mixture_rates 0.7,0.3``
samples ``round(rate_i * T)`` examples from locale ``i`` (largest-remainder rounding so the counts sum to ``T``;
``T = --mixture_size`` or, by default, the total number of rows), repeating a locale's rows when it has fewer
than it is asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from merginguriel import __version__
from merginguriel.defaults import DEFAULT_BASE_MODEL
from merginguriel.evaluation import classification_metrics
from merginguriel.labels import ID2LABEL, INTENT_LABELS, LABEL2ID
from merginguriel.locales import parse_locales
from merginguriel.massive_data import HUB_DATASET, load_split
from merginguriel.model_paths import MODEL_INFIX, base_model_short_name, model_dir_name
from merginguriel.outputs import COMPLETE_MARKER, OutputExistsError, atomic_output_dir, write_json_atomic

logger = logging.getLogger("merginguriel.training")

CHECKPOINTS_SUFFIX = ".checkpoints"


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_BASE_MODEL,
        metadata={"help": "Pretrained encoder to fine-tune (hub id or local folder)."},
    )
    max_seq_length: int = field(default=128, metadata={"help": "Texts are truncated to this many tokens."})
    use_lora: bool = field(
        default=False,
        metadata={
            "help": "Train LoRA adapters (peft) plus the classifier head; the merged-back full weights are saved."
        },
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (the update is scaled by alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: str = field(
        default="query,value", metadata={"help": "Comma-separated module names that get LoRA adapters."}
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
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16 on CUDA GPUs that support it, else fp16 on CUDA, fp32 on MPS/CPU), fp32, fp16 "
            "or bf16. --fp16/--bf16 given explicitly win.",
            "choices": ["auto", "fp32", "fp16", "bf16"],
        },
    )


def default_output_dir(models_root: str | os.PathLike, base_model: str, locales: list[str]) -> Path:
    """``{models_root}/{base}_massive_k_{locale}``; several locales are joined with '+'."""
    if len(locales) == 1:
        return Path(models_root) / model_dir_name(base_model, locales[0])
    return Path(models_root) / f"{base_model_short_name(base_model)}{MODEL_INFIX}{'+'.join(locales)}"


def checkpoints_dir(output_dir: str | os.PathLike) -> Path:
    """Where checkpoints of a run with ``--output_dir output_dir`` live while it trains: ``{output_dir}.checkpoints``."""
    output_dir = Path(output_dir)
    return output_dir.with_name(output_dir.name + CHECKPOINTS_SUFFIX)


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The ``checkpoint-N`` folder with the largest ``N`` that has a ``trainer_state.json``, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.split("-", 1)[1]
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


def detect_device() -> str:
    """``cuda``, ``mps`` or ``cpu``: what Trainer will use."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def choose_precision(requested: str, device: str, bf16_supported: bool) -> str:
    """The precision to train in: ``requested`` unless it is ``auto``, which means bf16 on CUDA GPUs that support
    it, fp16 on other CUDA GPUs, fp32 elsewhere (MPS mixed precision is not reliable enough; CPU has no gain)."""
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bf16" if bf16_supported else "fp16"
    return "fp32"


def replace_training_args(args: TrainingArguments, **changes: Any) -> TrainingArguments:
    """A copy of ``args`` with ``changes``, validated again by ``TrainingArguments.__post_init__``."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    values.update(changes)
    return type(args)(**values)


def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = (
        prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    )
    metrics = classification_metrics(prediction.label_ids, np.asarray(logits).argmax(axis=1))
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def inverse_frequency_weights(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """``w_c = N / (K * n_c)`` for the ``K`` classes present (``n_c > 0``), 0 for absent classes."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


class WeightedLossTrainer(Trainer):
    """``Trainer`` whose loss is cross-entropy weighted per class (a per-batch weighted mean)."""

    loss_is_scaled_for_ga = False  # a per-batch mean: Trainer divides it by the accumulation steps

    def __init__(self, *args: Any, class_weights: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_weights = torch.tensor(class_weights, dtype=torch.float32)

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits
        loss_fn = torch.nn.CrossEntropyLoss(
            weight=self.class_weights.to(device=logits.device, dtype=logits.dtype)
        )
        loss = loss_fn(logits.view(-1, logits.shape[-1]), labels.view(-1))
        return (loss, outputs) if return_outputs else loss


def parse_mixture_rates(text: str | None, num_locales: int) -> list[float] | None:
    """``--mixture_rates 0.7,0.3`` -> ``[0.7, 0.3]``, checked against the number of locales (None without rates)."""
    if not text:
        return None
    try:
        rates = [float(r) for r in text.split(",")]
    except ValueError:
        raise ValueError(f"--mixture_rates {text!r} is not a comma-separated list of numbers.") from None
    mixture_counts([1] * num_locales, rates, total=0)  # validates count, sign and sum
    return rates


def check_model_source(name: str | os.PathLike, flag: str = "--model_name_or_path", hub: bool = True) -> None:
    """Fail early, with a clear ``FileNotFoundError``, unless ``name`` is a model folder (``config.json``) or a
    hub id whose config can be fetched (or is cached, offline); ``hub=False`` takes any hub id on trust."""
    from transformers import AutoConfig

    text = str(name)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{flag} {text} is a folder without config.json: not a model folder.")
        return
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or (os.sep != "/" and os.sep in text):
        raise FileNotFoundError(f"{flag} {text}: no such model folder.")
    if not hub:
        return
    try:
        AutoConfig.from_pretrained(text)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileNotFoundError(
            f"{flag} {text} is neither a local model folder nor a loadable hub model ({first})."
        ) from None


def check_dataset_locales(dataset_name: str | os.PathLike, locales: Sequence[str]) -> None:
    """For a local dataset folder (the built-in corpus included), fail early unless every locale is in it."""
    from merginguriel.massive_data import DatasetError, local_locales, resolve_dataset

    source = resolve_dataset(dataset_name)
    if source.kind != "local":
        return
    have = set(local_locales(source.location))
    absent = [loc for loc in locales if loc not in have]
    if absent:
        raise DatasetError(
            f"Locale{'s' if len(absent) > 1 else ''} {', '.join(absent)} not in dataset {dataset_name} "
            f"(it has: {', '.join(sorted(have)) or 'nothing'})."
        )


def mixture_counts(sizes: Sequence[int], rates: Sequence[float], total: int | None = None) -> list[int]:
    """Rows to draw per part: ``rate_i * T`` rounded by largest remainder so the counts sum to ``T``."""
    if len(sizes) != len(rates):
        raise ValueError(
            f"--mixture_rates has {len(rates)} rates for {len(sizes)} locales; give one rate per locale."
        )
    if any(r < 0 for r in rates) or sum(rates) <= 0:
        raise ValueError(f"--mixture_rates must be >= 0 and not all zero (got {list(rates)}).")
    total = int(sum(sizes)) if total is None else int(total)
    norm = np.asarray(rates, dtype=np.float64) / float(sum(rates))
    exact = norm * total
    counts = np.floor(exact).astype(int)
    for i in sorted(range(len(rates)), key=lambda j: (-(exact[j] - counts[j]), j))[
        : total - int(counts.sum())
    ]:
        counts[i] += 1
    return [int(c) for c in counts]


def mix_datasets(parts: Sequence[Any], rates: Sequence[float], total: int | None, seed: int) -> Any:
    """Sample ``mixture_counts`` rows from each dataset (whole passes, then a seeded sample), concatenate, shuffle."""
    from datasets import concatenate_datasets

    counts = mixture_counts([len(p) for p in parts], rates, total)
    rng = np.random.default_rng(seed)
    picked = []
    for part, count in zip(parts, counts):
        if count == 0:
            continue
        if len(part) == 0:
            raise ValueError("A locale in the mixture has no training rows.")
        full, rest = divmod(count, len(part))
        index = np.concatenate(
            [np.tile(np.arange(len(part)), full), rng.choice(len(part), rest, replace=False)]
        )
        picked.append(part.select(index.astype(np.int64).tolist()))
    return concatenate_datasets(picked).shuffle(seed=seed)


def _tokenized(split: Any, tokenizer: Any, max_length: int) -> Any:
    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    return split.map(encode, batched=True, remove_columns=["text", "intent", "locale"], desc="tokenize")


def _load_splits(
    data_args: DataArguments, locales: list[str], seed: int, which: dict[str, bool]
) -> dict[str, Any]:
    from datasets import concatenate_datasets

    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_predict_samples,
    }
    rates = parse_mixture_rates(data_args.mixture_rates, len(locales))
    out = {}
    for split, wanted in which.items():
        if not wanted:
            continue
        parts = [
            load_split(data_args.dataset_name, loc, split, data_args.text_column, limits[split])
            for loc in locales
        ]
        if split == "train" and rates is not None:
            data = mix_datasets(parts, rates, data_args.mixture_size, seed)
        else:
            data = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
            if split == "train":
                data = data.shuffle(seed=seed)
        counts = Counter(data["locale"])
        logger.info(
            "%s split: %d examples (%s)",
            split,
            len(data),
            ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
        )
        out[split] = data
    return out


def _world() -> tuple[int, int]:
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


@contextlib.contextmanager
def _staging_dir(final: Path, overwrite: bool) -> Iterator[Path]:
    """The folder the model is written to before it is renamed to ``final``.

    One process: :func:`merginguriel.outputs.atomic_output_dir`. Under ``torchrun`` / ``accelerate launch`` every
    process must see the same folder, so it is the fixed ``.{name}.partial-dist`` sibling, created and renamed by
    rank 0 only, with barriers around it.
    """
    world, rank = _world()
    if world == 1:
        with atomic_output_dir(final, overwrite=overwrite) as tmp:
            yield tmp
        return
    from accelerate import PartialState

    state = PartialState()
    staging = final.parent / f".{final.name}.partial-dist"
    if rank == 0:
        if final.exists() and not overwrite:
            raise OutputExistsError(f"Output folder {final} exists already. Pass --overwrite to replace it.")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    state.wait_for_everyone()
    try:
        yield staging
        state.wait_for_everyone()
        if rank == 0:
            (staging / COMPLETE_MARKER).write_text("complete\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        state.wait_for_everyone()
    except BaseException:
        if rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _needs_checkpoints(args: TrainingArguments) -> bool:
    return str(getattr(args.save_strategy, "value", args.save_strategy)) != "no"


def prepare_training_args(
    training_args: TrainingArguments, extra: ExtraTrainingArguments
) -> TrainingArguments:
    """Apply the options that imply others: early stopping (evaluate + save per epoch, load the best model),
    resume (checkpoints needed), TensorBoard always, and the precision."""
    changes: dict[str, Any] = {}
    eval_strategy = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy))
    if extra.early_stopping_patience is not None:
        if extra.early_stopping_patience < 1:
            raise ValueError("--early_stopping_patience must be at least 1.")
        if eval_strategy == "no":
            eval_strategy = "epoch"
            changes["eval_strategy"] = "epoch"
        changes["save_strategy"] = eval_strategy
        if eval_strategy == "steps":
            changes["save_steps"] = training_args.eval_steps or training_args.logging_steps
        changes["load_best_model_at_end"] = True
        changes["metric_for_best_model"] = training_args.metric_for_best_model or "accuracy"
    elif training_args.resume_from_checkpoint and not _needs_checkpoints(training_args):
        changes["save_strategy"] = "epoch"  # a resumed run should itself be resumable
    report_to = list(training_args.report_to or [])
    if "none" in report_to:
        report_to.remove("none")
    if "all" not in report_to and "tensorboard" not in report_to:
        report_to.append("tensorboard")
    if report_to != list(training_args.report_to or []):
        changes["report_to"] = report_to
    if "wandb" in report_to:
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise ValueError("--report_to wandb needs the wandb package: pip install 'merginguriel[wandb]'.")
    if not (training_args.fp16 or training_args.bf16):
        device = detect_device()
        bf16_ok = device == "cuda" and torch.cuda.is_bf16_supported()
        precision = choose_precision(extra.precision, device, bf16_ok)
        if precision == "bf16":
            changes["bf16"] = True
        elif precision == "fp16":
            changes["fp16"] = True
    return replace_training_args(training_args, **changes) if changes else training_args


def train_classifier(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    extra_args: ExtraTrainingArguments | None = None,
    callbacks: Sequence[TrainerCallback] | None = None,
) -> dict:
    """Train / evaluate / predict as asked; returns all metrics. The model folder is written atomically.

    ``training_args.resume_from_checkpoint`` may be ``latest`` (the newest checkpoint in
    ``{output_dir}.checkpoints/``; a fresh start if there is none) or a checkpoint folder.

    A wandb run started by this call (``--report_to wandb``) is finished when it returns, so the next call in
    the same process (``--all-lolo``, iterative training, …) logs to a run of its own.
    """
    wandb = sys.modules.get("wandb")
    outer_run = getattr(wandb, "run", None) if wandb is not None else None
    try:
        return _train_classifier(model_args, data_args, training_args, extra_args, callbacks)
    finally:
        wandb = sys.modules.get("wandb")
        if wandb is not None and outer_run is None and getattr(wandb, "run", None) is not None:
            wandb.finish()


def _train_classifier(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    extra_args: ExtraTrainingArguments | None,
    callbacks: Sequence[TrainerCallback] | None,
) -> dict:
    extra_args = extra_args or ExtraTrainingArguments()
    locales = parse_locales(data_args.dataset_config_name)
    # user errors first, before anything is loaded or written
    parse_mixture_rates(data_args.mixture_rates, len(locales))
    check_dataset_locales(data_args.dataset_name, locales)
    check_model_source(model_args.model_name_or_path)
    output_dir = Path(training_args.output_dir)
    training_args = prepare_training_args(training_args, extra_args)
    set_seed(training_args.seed)
    if not training_args.do_train:
        return _run(model_args, data_args, training_args, extra_args, locales, output_dir, None, callbacks)
    if output_dir.exists() and not data_args.overwrite:
        raise OutputExistsError(f"Output folder {output_dir} exists already. Pass --overwrite to replace it.")
    ckpt_dir = checkpoints_dir(output_dir)
    resume = training_args.resume_from_checkpoint
    if resume == "latest":
        found = latest_checkpoint(ckpt_dir)
        if found is None:
            logger.warning(
                "--resume_from_checkpoint latest: no checkpoint in %s; starting from scratch.", ckpt_dir
            )
        else:
            logger.info("resuming from %s", found)
        resume = str(found) if found else None
    elif resume and not (Path(resume) / "trainer_state.json").is_file():
        raise FileNotFoundError(
            f"--resume_from_checkpoint {resume} is not a checkpoint folder (no trainer_state.json); "
            f"give a checkpoint-N folder or 'latest' (the newest in {ckpt_dir})."
        )
    if not resume and latest_checkpoint(ckpt_dir) is not None and not data_args.overwrite:
        raise OutputExistsError(
            f"{ckpt_dir} holds the checkpoints of an unfinished run. Pass --resume_from_checkpoint latest to "
            "continue it, or --overwrite to discard them and start again."
        )
    if not resume and ckpt_dir.is_dir() and _world()[1] == 0:
        logger.warning("removing the checkpoints of an earlier unfinished run in %s (not resuming)", ckpt_dir)
        shutil.rmtree(ckpt_dir)
    with _staging_dir(output_dir, data_args.overwrite) as tmp:
        uses_checkpoints = _needs_checkpoints(training_args)
        run_args = replace_training_args(
            training_args,
            output_dir=str(ckpt_dir if uses_checkpoints else tmp),
            resume_from_checkpoint=resume,
        )
        metrics = _run(model_args, data_args, run_args, extra_args, locales, output_dir, tmp, callbacks)
        if uses_checkpoints and _world()[1] == 0:
            _collect_checkpoints(ckpt_dir, tmp, extra_args.keep_checkpoints)
    return metrics


def _collect_checkpoints(ckpt_dir: Path, tmp: Path, keep: bool) -> None:
    """Move TensorBoard logs (and, if ``keep``, the checkpoints) from ``ckpt_dir`` into the model folder."""
    if not ckpt_dir.is_dir():
        return
    if (ckpt_dir / "runs").is_dir():
        shutil.move(str(ckpt_dir / "runs"), str(tmp / "runs"))
    if keep:
        (tmp / "checkpoints").mkdir(exist_ok=True)
        for path in sorted(ckpt_dir.glob("checkpoint-*")):
            shutil.move(str(path), str(tmp / "checkpoints" / path.name))
    shutil.rmtree(ckpt_dir, ignore_errors=True)


def budget_epochs(args: TrainingArguments, train_examples: int) -> float:
    """Passes over the training data the run is set to make: ``--num_train_epochs``, or with ``--max_steps S``
    ``S * per_device_batch * accumulation * world_size / N`` (examples seen over training examples)."""
    if args.max_steps is not None and args.max_steps > 0 and train_examples:
        seen = args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
        return seen * max(1, int(args.world_size)) / train_examples
    return float(args.num_train_epochs)


class RunMetadataCallback(TrainerCallback):
    """Logs the run metadata (parameters, trainable share, token budget, device, data composition) at step 0
    to TensorBoard (text + scalars), to wandb when it is active, and keeps it for ``run_metadata.json``."""

    def __init__(self, static: dict[str, Any]) -> None:
        self.static = static
        self.metadata: dict[str, Any] = {}
        self.trainer: Trainer | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.metadata = {
            "total_parameters": int(total),
            "trainable_parameters": int(trainable),
            "trainable_share": trainable / total if total else 0.0,
            "device": str(args.device),
            "n_gpu": int(args.n_gpu),
            "world_size": int(args.world_size),
            "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
            "max_steps": int(state.max_steps),
            **self.static,
        }
        self.metadata["budget_epochs"] = budget_epochs(args, self.static["train_examples"])
        self.metadata["token_budget"] = int(
            round(self.static["train_tokens_per_epoch"] * self.metadata["budget_epochs"])
        )
        if not state.is_world_process_zero:
            return
        writer = None
        if self.trainer is not None:
            for cb in self.trainer.callback_handler.callbacks:
                if getattr(cb, "tb_writer", None) is not None:
                    writer = cb.tb_writer
        if writer is not None:
            table = "\n".join(f"| {k} | {v} |" for k, v in self.metadata.items())
            writer.add_text("run_metadata", "| key | value |\n|---|---|\n" + table, 0)
            for key in ("total_parameters", "trainable_parameters", "trainable_share", "token_budget"):
                writer.add_scalar(f"run_metadata/{key}", self.metadata[key], 0)
            writer.flush()
        if "wandb" in (args.report_to or []):
            import wandb

            if wandb.run is not None:
                wandb.run.config.update({"run_metadata": self.metadata}, allow_val_change=True)


def _lora_model(model: Any, model_args: ModelArguments) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=[m.strip() for m in model_args.lora_target_modules.split(",") if m.strip()],
    )
    return get_peft_model(model, config)


def _run(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    extra_args: ExtraTrainingArguments,
    locales: list[str],
    final_dir: Path,
    out_dir: Path | None,
    callbacks: Sequence[TrainerCallback] | None,
) -> dict:
    eval_strategy = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy))
    splits = _load_splits(
        data_args,
        locales,
        training_args.seed,
        {
            "train": training_args.do_train,
            "validation": training_args.do_eval or (training_args.do_train and eval_strategy != "no"),
            "test": training_args.do_predict,
        },
    )
    model_path = model_args.model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path,
        num_labels=len(INTENT_LABELS),
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
        ignore_mismatched_sizes=True,
    )
    if model_args.use_lora and training_args.do_train:
        model = _lora_model(model, model_args)
    encoded = {name: _tokenized(data, tokenizer, model_args.max_seq_length) for name, data in splits.items()}
    trainer_kwargs: dict[str, Any] = {}
    trainer_cls: type[Trainer] = Trainer
    if extra_args.class_weights and training_args.do_train:
        trainer_cls = WeightedLossTrainer
        weights = inverse_frequency_weights(splits["train"]["label"], len(INTENT_LABELS))
        trainer_kwargs["class_weights"] = weights
        logger.info("class weights (inverse frequency): %s", np.round(weights[weights > 0], 4).tolist())
    extra_callbacks = list(callbacks or [])
    meta_cb = None
    if training_args.do_train:
        composition = dict(sorted(Counter(splits["train"]["locale"]).items()))
        tokens = int(sum(len(ids) for ids in encoded["train"]["input_ids"]))
        meta_cb = RunMetadataCallback(
            {
                "train_examples": len(splits["train"]),
                "data_composition": composition,
                "train_tokens_per_epoch": tokens,
                "mixture_rates": data_args.mixture_rates,
                "use_lora": model_args.use_lora,
                "class_weights": extra_args.class_weights,
            }
        )
        extra_callbacks.append(meta_cb)
        logger.info("training data composition: %s", composition)
    if extra_args.early_stopping_patience is not None and training_args.do_train:
        extra_callbacks.append(
            EarlyStoppingCallback(extra_args.early_stopping_patience, extra_args.early_stopping_threshold)
        )
    trainer = trainer_cls(
        model=model,
        args=training_args,
        train_dataset=encoded.get("train"),
        eval_dataset=encoded.get("validation"),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=extra_callbacks,
        **trainer_kwargs,
    )
    if meta_cb is not None:
        meta_cb.trainer = trainer
    metrics: dict[str, Any] = {"locales": locales}
    save_dir = out_dir if out_dir is not None else final_dir
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        metrics.update(
            {f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()}
        )
        metrics["global_step"] = int(trainer.state.global_step)
        if model_args.use_lora:
            trainer.model = trainer.model.merge_and_unload()
            if trainer.is_world_process_zero():
                trainer.model.save_pretrained(str(save_dir))
        else:
            trainer.save_model(str(save_dir))
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(str(save_dir))
        metrics["train_examples_per_locale"] = dict(Counter(splits["train"]["locale"]))
    if training_args.do_eval:
        metrics.update(trainer.evaluate(encoded["validation"], metric_key_prefix="eval"))
    if training_args.do_predict:
        metrics.update(trainer.predict(encoded["test"], metric_key_prefix="predict").metrics)
    if not trainer.is_world_process_zero():
        return metrics
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(save_dir / "all_results.json", metrics)
    if meta_cb is not None:
        write_json_atomic(save_dir / "run_metadata.json", meta_cb.metadata)
    write_json_atomic(
        save_dir / "training_config.json",
        {
            "merginguriel_version": __version__,
            "output_dir": str(final_dir),
            "model_arguments": asdict(model_args),
            "data_arguments": asdict(data_args),
            "extra_training_arguments": asdict(extra_args),
            # the run's own output_dir is a staging or checkpoints folder; record where the model is
            "training_arguments": {
                **json.loads(training_args.to_json_string()),
                "output_dir": str(final_dir),
            },
        },
    )
    return metrics
