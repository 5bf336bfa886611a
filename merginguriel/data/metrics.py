"""Classification metrics and the mapping of model outputs to canonical label ids (no I/O, no models)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import f1_score

from merginguriel.data.labels import align_label_ids


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


def performance_line(perf: Mapping) -> str:
    """``accuracy 0.8500  macro-F1 0.8220 (51/60)`` for a ``results.json`` performance block."""
    return f"accuracy {perf['accuracy']:.4f}  macro-F1 {perf['macro_f1']:.4f} ({perf['correct']}/{perf['total']})"


def canonical_predictions(logits: np.ndarray, model_labels: Sequence[str]) -> np.ndarray:
    """Argmax over the model's outputs, mapped to canonical label ids by name."""
    return align_label_ids(model_labels)[logits.argmax(axis=1)]


__all__ = ["canonical_predictions", "classification_metrics", "performance_line"]
