"""Fine-tune a sequence classifier on one MASSIVE locale or several (``training_bert.py``), over ``Trainer``.

Every knob is a typed dataclass field with help text (``ModelArguments``, ``DataArguments`` and
transformers' own ``TrainingArguments``), parsed by ``HfArgumentParser``, as in ``run_glue.py``.
The saved config carries ``id2label``/``label2id`` in the canonical MASSIVE order (``labels.INTENT_LABELS``).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    set_seed,
)

from merginguriel import __version__
from merginguriel.cli_options import DEFAULT_BASE_MODEL
from merginguriel.evaluation import classification_metrics
from merginguriel.labels import ID2LABEL, INTENT_LABELS, LABEL2ID
from merginguriel.locales import parse_locales
from merginguriel.massive_data import HUB_DATASET, load_split
from merginguriel.model_paths import MODEL_INFIX, base_model_short_name, model_dir_name
from merginguriel.outputs import atomic_output_dir, write_json_atomic

logger = logging.getLogger("merginguriel.training")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_BASE_MODEL, metadata={"help": "Pretrained encoder to fine-tune (hub id or local folder)."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Texts are truncated to this many tokens."})


@dataclass
class DataArguments:
    dataset_config_name: str = field(
        default="en-US",
        metadata={"help": "Locale, or comma-separated locales (concatenated and shuffled), e.g. de-DE,nl-NL.",
                  "aliases": ["--locale", "--locales"]},
    )
    dataset_name: str = field(
        default=HUB_DATASET,
        metadata={"help": "Hub id, local folder (<locale>/{train,dev,test}.jsonl[.gz]) or 'builtin'."},
    )
    text_column: str = field(default="utt", metadata={"help": "Column holding the utterance."})
    models_root: str = field(
        default="haryos_model", metadata={"help": "Default parent of --output_dir: {models_root}/{base}_massive_k_{locale}."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows per locale."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N dev rows per locale."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test rows per locale."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output folder."})


def default_output_dir(models_root: str | os.PathLike, base_model: str, locales: list[str]) -> Path:
    """``{models_root}/{base}_massive_k_{locale}``; several locales are joined with '+'."""
    if len(locales) == 1:
        return Path(models_root) / model_dir_name(base_model, locales[0])
    return Path(models_root) / f"{base_model_short_name(base_model)}{MODEL_INFIX}{'+'.join(locales)}"


def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    metrics = classification_metrics(prediction.label_ids, np.asarray(logits).argmax(axis=1))
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _tokenized(split: Any, tokenizer: Any, max_length: int) -> Any:
    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    return split.map(encode, batched=True, remove_columns=["text", "intent", "locale"], desc="tokenize")


def train_classifier(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict:
    """Train / evaluate / predict as asked; returns all metrics. The model folder is written atomically."""
    locales = parse_locales(data_args.dataset_config_name)
    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    if training_args.do_train:
        with atomic_output_dir(output_dir, overwrite=data_args.overwrite) as tmp:
            training_args.output_dir = str(tmp)
            metrics = _run(model_args, data_args, training_args, locales, model_args.model_name_or_path, tmp)
        training_args.output_dir = str(output_dir)
    else:
        metrics = _run(model_args, data_args, training_args, locales, model_args.model_name_or_path, output_dir)
    return metrics


def _load_splits(data_args: DataArguments, locales: list[str], seed: int, which: dict[str, bool]) -> dict[str, Any]:
    from datasets import concatenate_datasets

    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples, "test": data_args.max_predict_samples}
    out = {}
    for split, wanted in which.items():
        if not wanted:
            continue
        parts = [load_split(data_args.dataset_name, loc, split, data_args.text_column, limits[split]) for loc in locales]
        data = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        if split == "train":
            data = data.shuffle(seed=seed)
        counts = Counter(data["locale"])
        logger.info("%s split: %d examples (%s)", split, len(data), ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        out[split] = data
    return out


def _run(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    locales: list[str],
    model_path: str,
    out_dir: Path,
) -> dict:
    splits = _load_splits(
        data_args,
        locales,
        training_args.seed,
        {"train": training_args.do_train, "validation": training_args.do_eval, "test": training_args.do_predict},
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path,
        num_labels=len(INTENT_LABELS),
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
        ignore_mismatched_sizes=True,
    )
    encoded = {name: _tokenized(data, tokenizer, model_args.max_seq_length) for name, data in splits.items()}
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encoded.get("train"),
        eval_dataset=encoded.get("validation"),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    metrics: dict[str, Any] = {"locales": locales}
    if training_args.do_train:
        result = trainer.train()
        metrics.update({f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()})
        trainer.save_model(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
        metrics["train_examples_per_locale"] = dict(Counter(splits["train"]["locale"]))
    if training_args.do_eval:
        metrics.update(trainer.evaluate(encoded["validation"], metric_key_prefix="eval"))
    if training_args.do_predict:
        metrics.update(trainer.predict(encoded["test"], metric_key_prefix="predict").metrics)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "all_results.json", metrics)
    write_json_atomic(
        out_dir / "training_config.json",
        {
            "merginguriel_version": __version__,
            "model_arguments": asdict(model_args),
            "data_arguments": asdict(data_args),
            "training_arguments": json.loads(training_args.to_json_string()),
        },
    )
    return metrics
