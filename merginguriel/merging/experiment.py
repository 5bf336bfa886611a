"""The one program that runs a merge experiment, used by ``merge``, the sweep, iterative training, the demo
and recipe selection:

    statistics (data-aware methods only, cached) → merge (engine, streamed) → save (atomic folder)
    → evaluate (the one evaluation path) → record (``merge_details.json``, then ``results.json`` last)

``results.json`` is written last and atomically, so "finished" means "``results.json`` is there". A merged model
is evaluated without the logits cache by default: it is new, and its logits would rarely be read again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from merginguriel.data.massive import DataSelection, load_selection
from merginguriel.merging.catalogue import statistic_of
from merginguriel.merging.pipeline import MergePlan, execute_merge
from merginguriel.merging.statistics import learned_coefficients, progressive_grams, source_statistics
from merginguriel.models.cards import Evaluation, add_evaluations
from merginguriel.models.evaluation import evaluate_model
from merginguriel.models.logits_cache import LogitsCache
from merginguriel.outputs.atomic import OutputExistsError, check_writable, is_complete, write_json_atomic
from merginguriel.runtime import Runtime, steps

logger = logging.getLogger("merginguriel.merging")

SUMMARY_KEYS = ("mode", "method", "target", "sources", "key", "head_merge")


@dataclass(frozen=True)
class MergeOutputs:
    """Where an experiment writes: the merged model folder and (optionally) its results folder."""

    merged_dir: Path
    results_dir: Path | None = None

    @classmethod
    def under(
        cls, merged_root: str | os.PathLike, results_root: str | os.PathLike | None, name: str
    ) -> MergeOutputs:
        return cls(Path(merged_root) / name, Path(results_root) / name if results_root is not None else None)

    def check_free(self, overwrite: bool, key: str | None = None) -> None:
        """Refuse, before any work, outputs that cannot be written, and (unless ``overwrite``) a finished
        experiment's outputs. A run killed after its merged model was complete but before its results were
        recorded is not finished: with the same experiment ``key`` the rerun completes it."""
        check_writable(self.merged_dir.parent, "--merged-models-root")
        if self.results_dir is not None:
            check_writable(self.results_dir.parent, "--results-root")
        if overwrite:
            return
        if self.results_dir is not None and (self.results_dir / "results.json").exists():
            raise OutputExistsError(
                f"{self.results_dir / 'results.json'} exists already. Pass --overwrite to replace it."
            )
        if self.merged_dir.exists() and (self.results_dir is None or self.finished_merge(key) is None):
            raise OutputExistsError(
                f"{self.merged_dir} exists already"
                + (" (a merge of other settings)" if is_complete(self.merged_dir) and key else "")
                + ". Pass --overwrite to replace it."
            )

    def finished_merge(self, key: str | None) -> dict[str, Any] | None:
        """The ``merge_details.json`` of a complete merged folder of this experiment (same ``key``), if any."""
        if key is None or not is_complete(self.merged_dir):
            return None
        try:
            details = json.loads((self.merged_dir / "merge_details.json").read_text())
        except (OSError, ValueError):
            return None
        return details if isinstance(details, dict) and details.get("key") == key else None


@dataclass
class MergeOutcome:
    details: dict[str, Any]
    results: dict[str, Any] | None
    outputs: MergeOutputs


@dataclass
class MergeStatistics:
    """The statistics a data-aware merge needs: one mapping per source (Fisher diagonals, Gram matrices or
    learned coefficients) and, for learned coefficients, what ``merge_details.json`` records about them."""

    per_source: list[dict[str, torch.Tensor]]
    record: dict[str, Any] | None = None


def compute_statistics(plan: MergePlan, device: str = "cpu", progress: bool = True) -> MergeStatistics | None:
    """The statistics step of an experiment: every source's statistics for the plan's method, one model at a
    time (cached); AdaMerging's coefficients, learned for all sources together (cached); or None when the
    method needs none."""
    statistic = statistic_of(plan.method)
    if plan.statistics is None or statistic is None:
        return None
    if statistic == "coefficients":
        learned = learned_coefficients(
            [(s.locale, s.path, s.weight) for s in plan.sources], plan.base_model, plan.target,
            plan.method_params, plan.statistics, device, plan.request.seed if plan.request else 42, progress,
        )  # fmt: skip
        return MergeStatistics(
            learned.statistics(), coefficients_record(learned, [s.locale for s in plan.sources])
        )
    if statistic == "progressive_gram":
        triples = [(s.locale, s.path, s.weight) for s in plan.sources]
        return MergeStatistics(
            progressive_grams(triples, plan.target, plan.method_params, plan.statistics, device)
        )
    sources = steps(plan.sources, f"{statistic} statistics", progress, unit="model")
    return MergeStatistics(
        [
            source_statistics(statistic, s.path, s.locale, plan.target, plan.statistics, device)
            for s in sources
        ]
    )


def coefficients_record(learned: Any, locales: list[str]) -> dict[str, Any]:
    """``merge_details.json``'s ``learned_coefficients``: the summary (mean λ per source, entropy first and
    last) and every λ by source (task-wise: one number; layer-wise: one per tensor)."""
    summary = learned.summary()
    c = learned.coefficients
    if learned.granularity == "task":
        values: dict[str, Any] = {loc: round(float(c[i, 0]), 6) for i, loc in enumerate(locales)}
    else:
        values = {
            loc: {n: round(float(c[i, g]), 6) for n, g in learned.groups.items()}
            for i, loc in enumerate(locales)
        }
    return {
        **summary,
        "sources": locales,
        "entropy": [round(x, 6) for x in learned.entropy],
        "lambda": values,
    }


def experiment_options(
    plan: MergePlan,
    evaluation: DataSelection | None,
    runtime: Runtime,
    seed: int,
    command: str,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``options`` of ``merge_details.json``, one shape whichever command made the merge: the command, the
    request's value objects (mode, target, every :class:`~merginguriel.similarity.selection.SourceSelection`
    field, method parameters, head merge, layer weights), the statistics and evaluation data, the runtime, the seed, and
    ``context``: what only that command knows (a sweep's experiment key, a selection candidate, a cycle)."""
    request = plan.request
    sources = asdict(request.sources) if request is not None else {"base_model": plan.base_model}
    return {
        "command": command,
        "mode": plan.mode,
        "target": plan.target,
        **sources,
        "method_params": dict(request.method_params if request is not None else plan.method_params),
        "head_merge": plan.head_merge,
        "layer_weights": request.layer_weights.text()
        if request is not None and request.layer_weights
        else None,
        "statistics": plan.statistics.selection() if plan.statistics else None,
        "evaluation": evaluation.for_locale(plan.target).fields() if evaluation is not None else None,
        "runtime": asdict(runtime),
        "seed": seed,
        "context": dict(context or {}),
    }


def remove_weights(merged_dir: Path) -> list[str]:
    """Delete a merged model's weight files (details and config stay); the names removed."""
    removed = []
    for pattern in ("*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin"):
        for f in merged_dir.glob(pattern):
            f.unlink()
            removed.append(f.name)
    return removed


def run_merge_experiment(
    plan: MergePlan,
    outputs: MergeOutputs,
    evaluation: DataSelection | None,
    runtime: Runtime,
    command: str,
    context: Mapping[str, Any] | None = None,
    *,
    seed: int = 42,
    overwrite: bool = False,
    cache: LogitsCache | None = None,
    experiment: Mapping[str, Any] | None = None,
    cleanup_weights: bool = False,
) -> MergeOutcome:
    """Statistics → merge → save → evaluate on the target's ``evaluation`` selection → record.

    ``command`` and ``context`` are recorded with the request in ``merge_details.json``'s ``options``
    (:func:`experiment_options`). ``evaluation=None`` only merges. ``experiment`` (a sweep's key block) is stored in ``results.json``;
    ``cleanup_weights`` deletes the merged weights once evaluated.
    """
    outputs.check_free(overwrite, plan.key)
    if evaluation is not None:  # a broken evaluation file is an error before the merge, not after it
        load_selection(evaluation.for_locale(plan.target))
    for stale in outputs.merged_dir.parent.glob(f".{outputs.merged_dir.name}.partial-*"):  # a killed run's
        shutil.rmtree(stale, ignore_errors=True)
    details = None if overwrite or outputs.results_dir is None else outputs.finished_merge(plan.key)
    if details is not None:
        logger.info(
            "%s: the merged model of an interrupted run is complete; evaluating it", outputs.merged_dir
        )
    else:
        statistics = compute_statistics(plan, runtime.device, runtime.progress)
        details = execute_merge(
            plan,
            outputs.merged_dir,
            experiment_options(plan, evaluation, runtime, seed, command, context),
            overwrite=overwrite,
            device=runtime.device,
            seed=seed,
            statistics=statistics.per_source if statistics else None,
            progress=runtime.progress,
            learned=statistics.record if statistics else None,
        )
    if evaluation is None:
        return MergeOutcome(details, None, outputs)
    results = evaluate_model(outputs.merged_dir, evaluation.for_locale(plan.target), runtime, cache)
    results["merge_details"] = {k: details[k] for k in SUMMARY_KEYS}
    add_evaluations(outputs.merged_dir, [Evaluation.from_results(results)])  # the card's model-index
    if outputs.results_dir is not None:
        write_json_atomic(outputs.results_dir / "merge_details.json", details)
        if cleanup_weights:
            results["merge_details"]["weights_removed"] = remove_weights(outputs.merged_dir)
        if experiment is not None:
            results["experiment"] = dict(experiment)
        write_json_atomic(outputs.results_dir / "results.json", results)
    return MergeOutcome(details, results, outputs)


__all__ = [
    "MergeOutcome",
    "MergeStatistics",
    "MergeOutputs",
    "compute_statistics",
    "experiment_options",
    "remove_weights",
    "run_merge_experiment",
]
