"""Applying a candidate recipe to a target and scoring what it builds on one data selection.

Every candidate is turned into the target's sources and weights by the same source selection as ``merge``
(:func:`merginguriel.similarity.selection.select_source_models`), then

* ``single`` — the top-1 (or the named) source model, scored from its logits;
* an ensemble — the sources' logits voted with the rule (:func:`merginguriel.merging.ensemble.ensemble_predict`);
* a merge — merged once into the work folder (statistics first, by the one experiment program) and scored
  from the merged model's logits.

All logits go through the logits cache, so candidates that share sources share forward passes, a merged model
is evaluated once per data selection, and a rerun computes nothing it already has. Two candidates that build
the same model (same method, parameters, sources and weights) share it.

Scores: ``accuracy`` (labelled dev data) or ``neg_entropy`` — minus the mean entropy of the predicted label
distribution (the ``unlabeled-target`` criterion; it reads the texts' logits, never their labels).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from merginguriel.data.labels import INTENT_LABELS
from merginguriel.data.massive import LoadedSplit
from merginguriel.data.metrics import canonical_predictions, classification_metrics
from merginguriel.experiments.selection.grid import SINGLE, Candidate
from merginguriel.merging.catalogue import engine_method, needs_statistics
from merginguriel.merging.ensemble import ensemble_predict, softmax, source_logits
from merginguriel.merging.experiment import MergeOutputs, run_merge_experiment
from merginguriel.merging.keys import experiment_key
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.merging.pipeline import MergePlan, MergeRequest, plan_merge
from merginguriel.merging.statistics import StatisticsOptions
from merginguriel.models.logits_cache import LogitsCache, compute_logits
from merginguriel.outputs.atomic import is_complete
from merginguriel.runtime import Runtime
from merginguriel.similarity.selection import SimilarityOptions, SourceModel, SourceSelection

logger = logging.getLogger("merginguriel.selection")


@dataclass
class Work:
    """What a selection run computed (reused work is not counted): merges built, forward passes run, and
    evaluations (a candidate scored on one locale's dev selection without the score store's answer)."""

    merges: int = 0
    forward_passes: int = 0
    evaluations: int = 0
    reused: int = 0  # scores answered by the score store

    def to_dict(self) -> dict[str, int]:
        return {"merges": self.merges, "forward_passes": self.forward_passes, "evaluations": self.evaluations,
                "reused_scores": self.reused}  # fmt: skip


@dataclass
class SelectionContext:
    """What every candidate is built from: the models, the named similarity matrices (dense CSVs), the pool
    of locales sources may come from, runtime, caches and the work folder of merged candidates."""

    models_root: str
    base_model: str
    matrices: Mapping[str, str]
    pool: list[str]
    runtime: Runtime = field(default_factory=Runtime)
    cache: LogitsCache | None = None
    work_dir: Path = Path("selection_work")
    statistics: StatisticsOptions | None = None
    seed: int = 42
    head_merge: str = "linear"
    keep_merged: bool = (
        True  # False: a merged candidate is removed once its scores are stored (rebuilt if needed)
    )
    work: Work = field(default_factory=Work)


@dataclass
class Built:
    """A candidate applied to one target: its plan (sources, weights, method) and where its model is."""

    candidate: Candidate
    target: str
    plan: MergePlan
    model_dir: str | None = None  # the single source or the merged model; None for ensembles
    identity: str = ""  # what is built (same identity = same predictions on the same data)

    @property
    def sources(self) -> list[SourceModel]:
        return self.plan.sources


def candidate_request(candidate: Candidate, target: str, ctx: SelectionContext) -> MergeRequest:
    """The merge request that applies ``candidate`` to ``target`` (sources among ``ctx.pool`` minus the target)."""
    if candidate.fixed_source:
        selection = SourceSelection(ctx.models_root, ctx.base_model, 1, weights={candidate.fixed_source: 1.0})
        return MergeRequest("manual", target, selection, seed=ctx.seed)
    if candidate.similarity not in ctx.matrices:
        raise KeyError(f"No similarity matrix named {candidate.similarity!r}")
    similarity = SimilarityOptions(
        ctx.matrices[candidate.similarity],
        "dense",
        weighting=candidate.weighting,
        temperature=candidate.temperature,
    )
    others = tuple(loc for loc in ctx.pool if loc != target)
    extra = candidate.request_params
    selection = SourceSelection(
        ctx.models_root, ctx.base_model, candidate.k, similarity=similarity, pool=others,
        include_target=bool(extra.get("include_target", False)), target_weight=float(extra.get("target_weight", 0.5)),
    )  # fmt: skip
    mode = "similarity" if candidate.mode == SINGLE or candidate.is_ensemble else candidate.mode
    statistics = ctx.statistics if needs_statistics(engine_method(mode)) else None
    return MergeRequest(
        mode, target, selection, candidate.method_params, ctx.head_merge, statistics, ctx.seed,
        layer_weights=LayerWeights.parse(extra.get("layer_weights")),
    )  # fmt: skip


def plan_candidate(candidate: Candidate, target: str, ctx: SelectionContext) -> MergePlan:
    """The target's sources, weights and method under ``candidate`` (no model is read)."""
    return plan_merge(candidate_request(candidate, target, ctx))


def build(candidate: Candidate, target: str, ctx: SelectionContext, merge: bool = True) -> Built:
    """Apply ``candidate`` to ``target``: plan, and (``merge``) merge into the work folder when it is a merge."""
    plan = plan_candidate(candidate, target, ctx)
    sources = [(s.locale, s.path, round(s.weight, 12)) for s in plan.sources]
    if candidate.mode == SINGLE or candidate.fixed_source:
        path = plan.sources[0].path
        return Built(candidate, target, plan, path, experiment_key({"model": path}))
    if candidate.is_ensemble:
        return Built(
            candidate, target, plan, None, experiment_key({"ensemble": candidate.mode, "sources": sources})
        )
    layers = (
        {"layer_weights": plan.layer_weights} if plan.layer_weights else {}
    )  # (older keys stay as they were)
    identity = experiment_key(
        {
            "method": plan.method,
            "params": plan.method_params,
            "sources": sources,
            "head_merge": plan.head_merge,
            "statistics": plan.statistics.selection() if plan.statistics else None,
            "base": plan.base_model,
            "seed": ctx.seed,
            **layers,
        }
    )
    merged = ctx.work_dir / "merged" / f"{plan.mode}_{target}_{identity}"
    if merge and not is_complete(merged):
        ctx.work.merges += 1
        quiet = replace(ctx.runtime, progress=False)
        run_merge_experiment(
            plan,
            MergeOutputs(merged),
            None,
            quiet,
            "select",
            {"candidate": candidate.to_dict()},
            seed=ctx.seed,
            overwrite=True,
        )
    return Built(candidate, target, plan, str(merged), identity)


def _model_logits(path: str, split: LoadedSplit, ctx: SelectionContext) -> Any:
    from merginguriel.models.inference import load_classifier

    entry, ran = compute_logits(
        ctx.cache, path, split, lambda: load_classifier(path, ctx.runtime.device), ctx.runtime.batch_size,
        ctx.runtime.device, False,
    )  # fmt: skip
    ctx.work.forward_passes += int(ran)
    return entry


def predictions(built: Built, split: LoadedSplit, ctx: SelectionContext) -> tuple[np.ndarray, np.ndarray]:
    """(canonical predictions, canonical class probabilities n x 60) of a built candidate on ``split``."""
    if built.model_dir is not None:
        entry = _model_logits(built.model_dir, split, ctx)
        return entry.predictions(), _canonical_probs(entry.logits, entry.labels)
    entries, ran = source_logits(built.plan, split, ctx.cache, replace(ctx.runtime, progress=False))
    ctx.work.forward_passes += ran
    voting = built.candidate.mode[len("ensemble_") :]
    weights = [s.weight for s in built.plan.sources]
    pred, scores = ensemble_predict(voting, [e.logits for e in entries], [e.labels for e in entries], weights)
    probs = sum(
        w * _canonical_probs(e.logits, e.labels) for w, e in zip(np.asarray(weights) / sum(weights), entries)
    )
    return pred, probs


def release(built: Built, ctx: SelectionContext) -> None:
    """Remove a merged candidate's folder (its scores and logits are stored) unless ``ctx.keep_merged``; a
    later :func:`build` merges it again, bit for bit, if the final evaluation needs it."""
    if ctx.keep_merged or built.model_dir is None:
        return
    folder = Path(built.model_dir)
    if folder.parent == ctx.work_dir / "merged" and folder.is_dir():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _canonical_probs(logits: np.ndarray, labels: list[str]) -> np.ndarray:
    from merginguriel.data.labels import align_label_ids

    out = np.zeros((logits.shape[0], len(INTENT_LABELS)))
    out[:, align_label_ids(labels)] = softmax(np.asarray(logits, dtype=np.float64))
    return out


def score(
    built: Built, split: LoadedSplit, ctx: SelectionContext, criterion: str = "accuracy"
) -> dict[str, Any]:
    """The candidate's score on ``split``: ``accuracy`` (with macro-F1) or ``neg_entropy`` (label-free), and
    ``per_row`` (criterion -> its value on each row, in the split's order: what a race pairs candidates on)."""
    pred, probs = predictions(built, split, ctx)
    row_neg_entropy = (probs * np.log(np.clip(probs, 1e-12, None))).sum(axis=1)
    out: dict[str, Any] = {"neg_entropy": float(row_neg_entropy.mean())}
    out["per_row"] = {"neg_entropy": [round(float(v), 5) for v in row_neg_entropy]}
    if criterion == "accuracy":
        metrics = classification_metrics(split.gold, pred)
        out.update(accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"])
        out["per_row"]["accuracy"] = (np.asarray(pred) == np.asarray(split.gold)).astype(int).tolist()
        out["score"] = metrics["accuracy"]
    else:
        out["score"] = out["neg_entropy"]
    return out


def canonical_predictions_of(
    path: str | os.PathLike, split: LoadedSplit, ctx: SelectionContext
) -> np.ndarray:
    entry = _model_logits(str(path), split, ctx)
    return canonical_predictions(entry.logits, entry.labels)


__all__ = ["Built", "SelectionContext", "Work", "build", "plan_candidate", "predictions", "release", "score"]
