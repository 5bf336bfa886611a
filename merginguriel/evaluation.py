"""Evaluation of sequence classifiers on a locale's split: batched, dynamic padding, labels matched by name.

``predict_logits`` is the one inference loop of the toolkit (evaluation, NxN matrices and ensembles use it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from merginguriel import __version__
from merginguriel.labels import INTENT_LABELS, align_label_ids, check_labels_cover, model_label_names
from merginguriel.massive_data import load_split


def load_classifier(
    model_dir: str | os.PathLike, device: str = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (in eval mode, on ``device``) and tokenizer from a folder or hub id.

    An expert-fusion folder (``fusion_config.json``, see ``expert_fusion``) is rebuilt from its components.
    """
    model_dir = str(model_dir)
    if (Path(model_dir) / "fusion_config.json").is_file():
        from merginguriel.expert_fusion import load_fusion_model

        return load_fusion_model(model_dir, device)
    if Path(model_dir).exists() and not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a model folder (no config.json).")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=None)
    model.to(device).eval()
    return model, tokenizer


@torch.inference_mode()
def predict_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "predict",
) -> np.ndarray:
    """Logits (len(texts) x model.num_labels, float32), in the model's own label order.

    Texts are sorted by length so each batch pads only to its own longest text, then put back in order.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False, unit="batch"):
        idx = order[start : start + batch_size]
        enc = tokenizer(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        enc = {k: v.to(device) for k, v in enc.items()}
        out[idx] = model(**enc).logits.float().cpu().numpy()
    return out


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float | int]:
    """Accuracy and macro-F1 (averaged over the labels present in ``y_true`` or ``y_pred``)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    correct = int((y_true == y_pred).sum())
    total = int(len(y_true))
    return {
        "accuracy": correct / total if total else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0))
        if total
        else float("nan"),
        "correct": correct,
        "total": total,
    }


def performance_line(perf: dict) -> str:
    """``accuracy 0.8500  macro-F1 0.8220 (51/60)`` for a ``results.json`` performance block."""
    return f"accuracy {perf['accuracy']:.4f}  macro-F1 {perf['macro_f1']:.4f} ({perf['correct']}/{perf['total']})"


def canonical_predictions(logits: np.ndarray, model_labels: Sequence[str]) -> np.ndarray:
    """Argmax over the model's outputs, mapped to canonical label ids by name."""
    return align_label_ids(model_labels)[logits.argmax(axis=1)]


def evaluate_model(
    model_dir: str | os.PathLike,
    dataset_name: str,
    locale: str,
    split: str = "test",
    text_column: str = "utt",
    batch_size: int = 64,
    max_length: int = 128,
    device: str = "cpu",
    max_samples: int | None = None,
    num_examples: int = 5,
    progress: bool = True,
    loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None,
) -> dict[str, Any]:
    """Evaluate a model folder on ``locale``/``split`` and return the ``results.json`` structure."""
    started = time.time()
    data = load_split(dataset_name, locale, split, text_column, max_samples)
    model, tokenizer = loaded if loaded is not None else load_classifier(model_dir, device)
    labels = model_label_names(model.config)
    check_labels_cover(labels, sorted(set(data["intent"])))
    texts = data["text"]
    logits = predict_logits(
        model, tokenizer, texts, batch_size, max_length, device, progress, desc=f"eval {locale}"
    )
    pred = canonical_predictions(logits, labels)
    gold = np.asarray(data["label"])
    metrics = classification_metrics(gold, pred)
    examples = [
        {
            "text": texts[i],
            "true_label": INTENT_LABELS[gold[i]],
            "predicted_label": INTENT_LABELS[pred[i]],
            "correct": bool(gold[i] == pred[i]),
        }
        for i in range(min(num_examples, len(texts)))
    ]
    return {
        "evaluation_info": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "elapsed_seconds": round(time.time() - started, 3),
            "device": device,
            "batch_size": batch_size,
            "max_seq_length": max_length,
            "merginguriel_version": __version__,
        },
        "model_info": {
            "model_path": str(model_dir),
            "model_type": model.config.model_type,
            "num_labels": model.config.num_labels,
        },
        "dataset_info": {
            "dataset_name": str(dataset_name),
            "locale": locale,
            "split": split,
            "text_column": text_column,
            "num_examples": len(texts),
            "max_samples": max_samples,
        },
        "performance": metrics,
        "examples": examples,
    }
