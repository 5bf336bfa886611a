"""Ensemble inference: combine the predictions of the source models chosen for a target, without merging.

Sources and weights come from the same selection as merging (``merging.plan_merge``): the top-K locales by
URIEL similarity with similarity weights (renormalised to sum to 1), or the sources/weights the user names.
Write ``w_i`` for source i's weight (normalised so that Σ w_i = 1), ``z_i`` for its logits on one example
(mapped to the canonical label order by *name*), ``p_i = softmax(z_i)`` and ``ŷ_i = argmax z_i``.
Sources are ranked "most similar first" by decreasing weight, ties by their position in the selection.

* ``majority``: ``score(c) = Σ_i [ŷ_i = c]``; predict the ``c`` with the highest score. Ties go to the
  most similar source: among the tied classes, the class voted by the highest-ranked source that voted
  for one of them.
* ``weighted_majority``: ``score(c) = Σ_i w_i [ŷ_i = c]``; ties (within 1e-9) broken as for ``majority``.
* ``soft``: ``P(c) = Σ_i w_i p_i(c)``; predict ``argmax_c P(c)`` (exact ties: lowest canonical id). A class
  a source cannot predict has ``p_i(c) = 0``.
* ``uriel_logits``: ``S(c) = Σ_i w_i z_i(c)``; predict ``argmax_c S(c)`` (exact ties: lowest canonical id).
  Raw logits are only comparable over the same classes, so every source must have the same label set.

Sources are run one after another (a model is freed before the next is loaded). Their logits go through
the on-disk :mod:`merginguriel.models.logits_cache`, so an ensemble over cached sources needs no forward pass.
Any error (missing model, label mismatch, bad logits) raises: no fallback output is ever written.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from merginguriel import __version__
from merginguriel.data.labels import INTENT_LABELS, LabelMismatchError, align_label_ids
from merginguriel.data.massive import DataSelection, LoadedSplit, load_selection
from merginguriel.errors import UserError
from merginguriel.merging.catalogue import VOTING_METHODS
from merginguriel.merging.keys import experiment_key
from merginguriel.merging.naming import ensemble_name
from merginguriel.merging.pipeline import MergePlan, MergeRequest, plan_merge
from merginguriel.models.evaluation import results_record
from merginguriel.models.logits_cache import DEFAULT_CACHE_DIR, CachedLogits, LogitsCache, compute_logits
from merginguriel.outputs.atomic import OutputExistsError, check_writable, write_json_atomic
from merginguriel.runtime import Runtime
from merginguriel.similarity.selection import SourceSelection

TIE_TOLERANCE = 1e-9


class EnsembleError(UserError):
    """An ensemble that cannot be computed as asked."""


def normalized_weights(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0:
        raise EnsembleError("An ensemble needs at least one source weight.")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise EnsembleError(f"Ensemble weights must be finite, >= 0 and not all zero (got {list(w)}).")
    return w / w.sum()


def similarity_rank(weights: Sequence[float]) -> list[int]:
    """Source indices, most similar first: decreasing weight, ties by position."""
    return sorted(range(len(weights)), key=lambda i: (-float(weights[i]), i))


def canonical_matrix(values: np.ndarray, model_labels: Sequence[str], fill: float) -> np.ndarray:
    """Place an (n x len(model_labels)) array into the canonical columns; absent classes get ``fill``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(model_labels):
        raise EnsembleError(f"Logits of shape {values.shape} do not match {len(model_labels)} model labels.")
    out = np.full((values.shape[0], len(INTENT_LABELS)), fill, dtype=np.float64)
    out[:, align_label_ids(model_labels)] = values
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _vote(preds: np.ndarray, vote_weights: np.ndarray, rank: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Class scores from (K x n) canonical votes, and the winner with ties broken by ``rank``.

    ``score(c) = Σ_i vote_weights[i] [preds[i] = c]``; among the classes within ``TIE_TOLERANCE`` of the best
    score, the winner is the class voted by the first source in ``rank`` that voted for one of them.
    """
    k, n = preds.shape
    rows = np.arange(n)
    scores = np.zeros((n, len(INTENT_LABELS)), dtype=np.float64)
    for i in range(k):
        np.add.at(scores, (rows, preds[i]), vote_weights[i])
    best = scores.max(axis=1, keepdims=True)
    tied = scores >= best - TIE_TOLERANCE
    chosen = np.full(n, -1, dtype=np.int64)
    for i in rank:
        take = (chosen < 0) & tied[rows, preds[i]]
        chosen[take] = preds[i][take]
    return chosen, scores


def ensemble_predict(
    method: str,
    logits: Sequence[np.ndarray],
    model_labels: Sequence[Sequence[str]],
    weights: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical predictions (n,) and class scores (n x 60) of one voting method (see the module doc).

    ``logits[i]`` is source i's (n x its num_labels) logits in its own label order ``model_labels[i]``;
    ``weights[i]`` its weight (normalised here). Sources are ranked for ties by decreasing weight.
    """
    if method not in VOTING_METHODS:
        raise EnsembleError(f"Unknown voting method {method!r}; choose from {', '.join(VOTING_METHODS)}.")
    if not (len(logits) == len(model_labels) == len(weights)) or not logits:
        raise EnsembleError("Give one logits array, one label list and one weight per source.")
    if len({len(x) for x in logits}) != 1:
        raise EnsembleError(f"Sources have different numbers of rows: {[len(x) for x in logits]}.")
    w = normalized_weights(weights)
    if method in ("majority", "weighted_majority"):
        preds = np.stack(
            [align_label_ids(lab)[np.asarray(z).argmax(axis=1)] for z, lab in zip(logits, model_labels)]
        )
        vote_weights = np.ones(len(w)) if method == "majority" else w
        return _vote(preds, vote_weights, similarity_rank(w))
    if method == "soft":
        scores = sum(
            wi * canonical_matrix(softmax(np.asarray(z, dtype=np.float64)), lab, 0.0)
            for wi, z, lab in zip(w, logits, model_labels)
        )
        return scores.argmax(axis=1), scores
    label_sets = {frozenset(lab) for lab in model_labels}
    if len(label_sets) != 1:
        raise LabelMismatchError(
            "uriel_logits sums raw logits, which needs every source to predict the same label set; these "
            "sources differ. Use --voting-method soft or majority, or sources trained on the same labels."
        )
    scores = sum(wi * canonical_matrix(z, lab, 0.0) for wi, z, lab in zip(w, logits, model_labels))
    present = align_label_ids(model_labels[0])
    masked = np.full_like(scores, -np.inf)
    masked[:, present] = scores[:, present]
    return masked.argmax(axis=1), scores


@dataclass
class EnsembleRequest:
    """Everything an ensemble run depends on: the target, the voting rules, the sources (chosen exactly as
    for merging), the evaluation data (``data``: its locale is the target's), runtime and outputs."""

    target: str
    voting_methods: list[str] = field(default_factory=lambda: ["majority"])
    sources: SourceSelection = field(default_factory=SourceSelection)
    data: DataSelection = field(default_factory=DataSelection)
    runtime: Runtime = field(default_factory=Runtime)
    cache_dir: str | None = DEFAULT_CACHE_DIR
    results_root: str = "results"
    overwrite: bool = False
    num_examples: int = 5

    def data_selection(self) -> DataSelection:
        return self.data.for_locale(self.target).normalized()


def plan_sources(request: EnsembleRequest) -> MergePlan:
    """Sources and weights exactly as the merge pipeline would pick them (no model is read)."""
    return plan_merge(MergeRequest(mode=request.sources.kind, target=request.target, sources=request.sources))


def source_logits(
    plan: MergePlan,
    split: LoadedSplit,
    cache: LogitsCache | None,
    runtime: Runtime,
) -> tuple[list[CachedLogits], int]:
    """Each source's logits on ``split``, one model at a time; returns (entries, forward passes run)."""
    from merginguriel.models.inference import load_classifier

    entries: list[CachedLogits] = []
    computed = 0
    for source in plan.sources:
        holder: list[Any] = []

        def get_model(path: str = source.path, holder: list[Any] = holder) -> Any:
            holder.append(load_classifier(path, runtime.device))
            return holder[-1]

        entry, ran = compute_logits(
            cache, source.path, split, get_model, runtime.batch_size, runtime.device, runtime.progress
        )
        holder.clear()  # free the model before the next one is loaded
        if ran:
            computed += 1
            _empty_cuda_cache(runtime.device)
        if len(entry.gold) != len(split.gold) or not np.array_equal(entry.gold, split.gold):
            raise EnsembleError(
                f"Cached gold labels of {source.path} do not match {split.selection.locale}'s rows."
            )
        entries.append(entry)
    return entries, computed


def _empty_cuda_cache(device: str) -> None:
    if str(device).startswith("cuda"):  # gc is slow on a big heap: only worth it to give GPU memory back
        import torch

        gc.collect()
        torch.cuda.empty_cache()


def ensemble_key(
    method: str, plan: MergePlan, selection: DataSelection, fingerprints: Sequence[str | None]
) -> str:
    sel = selection.normalized()
    return experiment_key(
        {
            "kind": "ensemble",
            "voting_method": method,
            "target": plan.target,
            "sources": [
                (s.locale, s.path, fp, round(s.weight, 12)) for s, fp in zip(plan.sources, fingerprints)
            ],
            "data": sel.fields(),
        }
    )


def ensemble_results(
    method: str,
    plan: MergePlan,
    split: LoadedSplit,
    entries: Sequence[CachedLogits],
    runtime: Runtime,
    num_examples: int = 5,
    elapsed: float = 0.0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results.json, merge_details.json) of one voting method over the sources' logits."""
    weights = [s.weight for s in plan.sources]
    pred, _ = ensemble_predict(method, [e.logits for e in entries], [e.labels for e in entries], weights)
    sel = split.selection
    fingerprints = [e.meta.get("model_fingerprint") for e in entries]
    key = ensemble_key(method, plan, sel, fingerprints)
    sources = [
        {
            "locale": s.locale,
            "path": s.path,
            "weight": s.weight,
            "model_fingerprint": fp,
            "source_accuracy": float(e.metrics()["accuracy"]),
        }
        for s, e, fp in zip(plan.sources, entries, fingerprints)
    ]
    details = {
        "mode": f"ensemble_{method}",
        "method": "ensemble",
        "voting_method": method,
        "target": plan.target,
        "num_sources": len(plan.sources),
        "sources": sources,
        "selection_mode": plan.mode,
        "base_model": plan.base_model,
        "notes": plan.notes,
        "data": sel.fields(),
        "key": key,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": __version__,
    }
    model_info = {
        "model_path": None,
        "model_type": "ensemble",
        "voting_method": method,
        "num_labels": len(INTENT_LABELS),
        "sources": [{"locale": s["locale"], "path": s["path"], "weight": s["weight"]} for s in sources],
    }
    results = results_record(split, pred, model_info, runtime, elapsed, num_examples)
    results["merge_details"] = {
        k: details[k] for k in ("mode", "method", "voting_method", "target", "sources", "key")
    }
    return results, details


def run_ensemble(request: EnsembleRequest) -> list[tuple[Path, dict[str, Any]]]:
    """Select sources, get their logits (cache first), vote with each requested method, write results.

    Returns [(results folder, results dict)] in the order of ``request.voting_methods``.
    """
    methods = list(request.voting_methods)
    for method in methods:
        if method not in VOTING_METHODS:
            raise EnsembleError(
                f"Unknown voting method {method!r}; choose from {', '.join(VOTING_METHODS)} or all."
            )
    started = time.time()
    plan = plan_sources(request)
    out_dirs = [
        Path(request.results_root)
        / ensemble_name(m, plan.target, len(plan.sources), with_target=request.sources.include_target)
        for m in methods
    ]
    check_writable(request.results_root, "--results-root")
    if not request.overwrite:
        for out in out_dirs:
            if (out / "results.json").exists():
                raise OutputExistsError(
                    f"{out / 'results.json'} exists already. Pass --overwrite to replace it."
                )
    split = load_selection(request.data_selection())
    cache = LogitsCache(request.cache_dir) if request.cache_dir else None
    entries, computed = source_logits(plan, split, cache, request.runtime)
    computed_results = []  # every method is computed before anything is written: no partial output on error
    for method in methods:
        results, details = ensemble_results(
            method, plan, split, entries, request.runtime, request.num_examples, time.time() - started
        )
        details["forward_passes"] = computed
        details["logits_cache"] = str(cache.root) if cache else None
        computed_results.append((results, details))
    written = []
    for out, (results, details) in zip(out_dirs, computed_results):
        write_json_atomic(out / "merge_details.json", details)
        write_json_atomic(out / "results.json", results)
        written.append((out, results))
    return written


__all__ = [
    "VOTING_METHODS",
    "EnsembleError",
    "EnsembleRequest",
    "ensemble_name",
    "ensemble_predict",
    "ensemble_results",
    "plan_sources",
    "run_ensemble",
    "source_logits",
]
