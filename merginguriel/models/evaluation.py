"""Evaluation of a model on a data selection, through the one cached inference path, and the one builder of
``results.json`` records (single models, merges, ensembles and fused models all write this structure).

``evaluate_model`` reads the selection's rows, gets the model's logits with
:func:`merginguriel.models.logits_cache.compute_logits` (from the logits cache when one is given and holds them, so a
model an NxN run already evaluated needs no forward pass), and scores them by label name.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from merginguriel import __version__
from merginguriel.data.labels import INTENT_LABELS
from merginguriel.data.massive import DataSelection, LoadedSplit, load_selection
from merginguriel.data.metrics import canonical_predictions, classification_metrics, performance_line
from merginguriel.generative.classifier import generative_info
from merginguriel.models.inference import load_classifier, predict_logits
from merginguriel.models.logits_cache import LogitsCache, compute_logits
from merginguriel.runtime import Runtime


def results_record(
    split: LoadedSplit,
    predictions: np.ndarray,
    model_info: Mapping[str, Any],
    runtime: Runtime,
    elapsed: float,
    num_examples: int = 5,
) -> dict[str, Any]:
    """The ``results.json`` structure: evaluation, model and dataset info, performance, a few examples."""
    gold = np.asarray(split.gold)
    pred = np.asarray(predictions)
    sel = split.selection
    examples = [
        {
            "text": split.texts[i],
            "true_label": INTENT_LABELS[gold[i]],
            "predicted_label": INTENT_LABELS[pred[i]],
            "correct": bool(gold[i] == pred[i]),
        }
        for i in range(min(num_examples, len(gold)))
    ]
    dataset_info = {
        "dataset_name": str(sel.dataset_name),
        "locale": sel.locale,
        "split": sel.split,
        "text_column": sel.text_column,
        "num_examples": len(gold),
        "max_samples": sel.max_samples,
    }
    if sel.sample_seed is not None:
        dataset_info["sample_seed"] = sel.sample_seed
    return {
        "evaluation_info": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "elapsed_seconds": round(elapsed, 3),
            "device": runtime.device,
            "batch_size": runtime.batch_size,
            "max_seq_length": sel.max_seq_length,
            "merginguriel_version": __version__,
        },
        "model_info": dict(model_info),
        "dataset_info": dataset_info,
        "performance": classification_metrics(gold, pred),
        "examples": examples,
    }


def evaluate_model(
    model_dir: str | os.PathLike,
    selection: DataSelection,
    runtime: Runtime | None = None,
    cache: LogitsCache | None = None,
    *,
    loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None,
    num_examples: int = 5,
    decoding: str = "score",
) -> dict[str, Any]:
    """Evaluate a model folder (or an already ``loaded`` model) on ``selection``; the ``results.json`` dict.

    ``decoding="trie"`` (generative models only) predicts by constrained generation over the label trie instead
    of label scoring (:mod:`merginguriel.generative.classifier`); its rows are not label scores, so they are not cached."""
    if not isinstance(selection, DataSelection):
        raise TypeError(
            f"evaluate_model(model_dir, selection, runtime, cache): selection must be a DataSelection, got "
            f"{type(selection).__name__}; build one with DataSelection(dataset_name, locale, split, ...)."
        )
    runtime = runtime or Runtime()
    if decoding != "score":
        loaded, cache = _decoding_model(model_dir, decoding, runtime.device, cache), None
    started = time.time()
    split = load_selection(selection)
    holder: list[Any] = []

    def get_model() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        holder.append(loaded if loaded is not None else load_classifier(model_dir, runtime.device))
        return holder[-1]

    entry, _ = compute_logits(
        cache, model_dir, split, get_model, runtime.batch_size, runtime.device, runtime.progress
    )
    model_info = {
        "model_path": str(model_dir),
        "model_type": holder[0][0].config.model_type if holder else _model_type(model_dir),
        "num_labels": len(entry.labels),
        **generative_info(model_dir),  # task, prompt template and scoring rule of a generative model
        **({"decoding": decoding} if decoding != "score" else {}),
    }
    results = results_record(
        split, entry.predictions(), model_info, runtime, time.time() - started, num_examples
    )
    if cache is not None:
        results["evaluation_info"]["logits_cache"] = str(cache.root)
    return results


def _decoding_model(
    model_dir: str | os.PathLike, decoding: str, device: str, cache: LogitsCache | None
) -> tuple[Any, Any]:
    """The generative classifier of ``model_dir`` that predicts by ``decoding`` (a clear error otherwise)."""
    from merginguriel.generative.classifier import (
        DECODINGS,
        GenerativeSpecError,
        is_generative,
        load_generative,
    )

    if decoding not in DECODINGS:
        raise GenerativeSpecError(f"Unknown decoding {decoding!r}; choose from {', '.join(DECODINGS)}.")
    if not is_generative(model_dir):
        raise GenerativeSpecError(
            f"--decoding {decoding} is for generative intent models (decoder LMs trained with --task generative); "
            f"{model_dir} is not one. Leave --decoding at score."
        )
    if cache is not None:
        raise GenerativeSpecError(
            f"--decoding {decoding} rows are not label scores and are not cached; drop --logits-cache."
        )
    return load_generative(model_dir, device, decoding)


def _model_type(model_dir: str | os.PathLike) -> str | None:
    """``model_type`` from a folder's ``config.json`` (or ``fusion_config.json``) without loading the model."""
    for name in ("config.json", "fusion_config.json"):
        path = Path(model_dir) / name
        if path.is_file():
            try:
                return json.loads(path.read_text()).get("model_type")
            except ValueError:
                return None
    return None


__all__ = [
    "canonical_predictions",
    "classification_metrics",
    "evaluate_model",
    "load_classifier",
    "performance_line",
    "predict_logits",
    "results_record",
]
