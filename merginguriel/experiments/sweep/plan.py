"""What a sweep runs: its options, the experiment grid, and each experiment's plan and key (computed without
reading any model weights)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from merginguriel import __version__
from merginguriel.data.massive import DataSelection
from merginguriel.errors import UserError
from merginguriel.merging.catalogue import (
    BASELINE,
    ENSEMBLE_PREFIX,
    UNSWEEPABLE,
    MethodParams,
    engine_method,
    needs_statistics,
    sweepable_merge_modes,
)
from merginguriel.merging.keys import experiment_key
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.merging.naming import baseline_name, ensemble_name
from merginguriel.merging.pipeline import MergePlan, MergeRequest, plan_merge
from merginguriel.merging.statistics import StatisticsOptions
from merginguriel.models.fingerprint import model_fingerprint
from merginguriel.models.logits_cache import DEFAULT_CACHE_DIR, LogitsCache
from merginguriel.models.paths import find_model
from merginguriel.outputs.atomic import write_json_atomic
from merginguriel.runtime import Runtime
from merginguriel.similarity.selection import SourceSelection


class SweepError(UserError):
    """A sweep that cannot be set up as asked."""


@dataclass
class SweepOptions:
    """Options shared by every experiment of a sweep (picklable: sent to worker processes and Slurm jobs).

    ``data`` is the evaluation selection (its locale is each experiment's target); ``statistics`` the template
    of the data-aware methods' statistics (its ``data_mode`` is the preset's ``fisher_data`` unless given).
    """

    name: str = "sweep"
    sources: SourceSelection = field(default_factory=SourceSelection)
    data: DataSelection = field(default_factory=DataSelection)
    runtime: Runtime = field(default_factory=lambda: Runtime(progress=False))
    statistics: StatisticsOptions = field(default_factory=StatisticsOptions)
    method_params: MethodParams = field(default_factory=MethodParams)
    head_merge: str = "linear"
    layer_weights: LayerWeights | None = None
    preset: str | None = None
    fisher_data: str | None = None
    seed: int = 42
    results_root: str = "results"
    merged_models_root: str = "merged_models"
    logits_cache: str | None = DEFAULT_CACHE_DIR
    cleanup_after_eval: bool = False

    @property
    def sweep_dir(self) -> Path:
        return Path(self.results_root) / f"sweep_{self.name}"

    @property
    def state_file(self) -> Path:
        return self.sweep_dir / "state.jsonl"

    def evaluation(self, target: str) -> DataSelection:
        return self.data.for_locale(target).normalized()

    def cache(self) -> LogitsCache | None:
        return LogitsCache(self.logits_cache) if self.logits_cache else None


@dataclass
class ExperimentSpec:
    mode: str
    target: str
    options: SweepOptions

    @property
    def label(self) -> str:
        return f"{self.mode}/{self.target}"


@dataclass
class Prepared:
    """A planned experiment: where it goes and its key (computed without reading any model weights)."""

    spec: ExperimentSpec
    kind: str  # baseline | merge | ensemble
    name: str
    key: str
    key_options: dict[str, Any]
    plan: MergePlan | None = None
    model_path: str | None = None

    @property
    def results_dir(self) -> Path:
        return Path(self.spec.options.results_root) / self.name


def _fingerprint(path: str, opts: SweepOptions) -> str:
    cache = opts.cache()
    return model_fingerprint(path, cache.memo_file if cache else None)


def statistics_options(mode: str, opts: SweepOptions) -> StatisticsOptions | None:
    """The statistics options of data-aware methods (Fisher data from the preset / ``fisher_data``), else None."""
    if not needs_statistics(engine_method(mode)):
        return None
    return replace(opts.statistics, data_mode=opts.fisher_data or "sources")


def _merge_request(mode: str, spec: ExperimentSpec) -> MergeRequest:
    opts = spec.options
    return MergeRequest(
        mode=mode,
        target=spec.target,
        sources=opts.sources,
        method_params=opts.method_params.for_mode(mode, strict=False),
        head_merge=opts.head_merge,
        statistics=statistics_options(mode, opts),
        seed=opts.seed,
        layer_weights=opts.layer_weights,
    )


def _prepare_baseline(spec: ExperimentSpec, common: dict[str, Any]) -> Prepared:
    opts = spec.options
    path = str(find_model(opts.sources.models_root, opts.sources.base_model, spec.target))
    key_options = {**common, "model": (path, _fingerprint(path, opts))}
    name = baseline_name(spec.target)
    return Prepared(spec, "baseline", name, experiment_key(key_options), key_options, model_path=path)


def _check_merge_mode(mode: str) -> None:
    if mode in UNSWEEPABLE:
        raise SweepError(
            f"Mode {mode!r} needs per-target sources or weights from the user; a sweep cannot run it."
        )
    modes = sweepable_merge_modes()
    if mode not in modes:
        raise SweepError(
            f"Mode {mode!r} is not available in this installation (merge modes: {', '.join(modes)}; "
            f"auto_merge_llm registry methods are listed by auto_merge_llm.list_methods())."
        )


def prepare(spec: ExperimentSpec) -> Prepared:
    """Plan an experiment and compute its key (may raise: missing models, bad similarity, ...)."""
    opts = spec.options
    common = {
        "mode": spec.mode,
        "target": spec.target,
        "data": opts.evaluation(spec.target).fields(),
        "seed": opts.seed,
    }
    if spec.mode == BASELINE:
        return _prepare_baseline(spec, common)
    if spec.mode.startswith(ENSEMBLE_PREFIX):
        plan = plan_merge(_merge_request("similarity", spec))
        name = ensemble_name(
            spec.mode[len(ENSEMBLE_PREFIX) :], plan.target, len(plan.sources), opts.preset,
            with_target=opts.sources.include_target,
        )  # fmt: skip
        kind = "ensemble"
    else:
        _check_merge_mode(spec.mode)
        plan = plan_merge(_merge_request(spec.mode, spec))
        name = f"{plan.name}_{opts.preset}" if opts.preset else plan.name
        kind = "merge"
    key_options = {
        **common,
        "preset": opts.preset,
        "fisher_data": opts.fisher_data,
        "preweight": opts.sources.preweight,
        "kind": kind,
        "num_languages": opts.sources.num_languages,
        "method": plan.method,
        "method_params": plan.method_params,
        "head_merge": plan.head_merge,
        "base_model": plan.base_model,
        "sources": [
            (s.locale, s.path, _fingerprint(s.path, opts), round(s.weight, 12)) for s in plan.sources
        ],
        "statistics": plan.statistics.selection() if plan.statistics else None,
        "plan_key": plan.key,
    }
    return Prepared(spec, kind, name, experiment_key(key_options), key_options, plan=plan)


def build_specs(locales: Sequence[str], modes: Sequence[str], options: SweepOptions) -> list[ExperimentSpec]:
    """Locale-major grid: every mode of the first locale, then the next locale, ..."""
    return [ExperimentSpec(mode, loc, options) for loc in locales for mode in modes]


def select_locales(
    available: Sequence[str],
    locales: Sequence[str] | None = None,
    start_from: str | None = None,
    max_locales: int | None = None,
) -> list[str]:
    """The sweep's targets: ``locales`` (or all available, sorted), from ``start_from``, at most ``max_locales``."""
    chosen = list(locales) if locales else sorted(available)
    if start_from:
        if start_from not in chosen:
            raise SweepError(
                f"--start-from {start_from} is not among the sweep's locales ({', '.join(chosen)})."
            )
        chosen = chosen[chosen.index(start_from) :]
    if max_locales is not None:
        chosen = chosen[:max_locales]
    return chosen


def write_sweep_plan(specs: Sequence[ExperimentSpec], modes: Sequence[str], locales: Sequence[str]) -> Path:
    """Record what the sweep is meant to produce (read by ``aggregate_results.py --show-missing``)."""
    opts = specs[0].options if specs else SweepOptions()
    path = opts.sweep_dir / "plan.json"
    write_json_atomic(
        path,
        {
            "name": opts.name,
            "modes": list(modes),
            "locales": list(locales),
            "experiments": [{"mode": s.mode, "target": s.target} for s in specs],
            "options": asdict(opts),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "version": __version__,
        },
    )
    return path


__all__ = [
    "ExperimentSpec",
    "Prepared",
    "SweepError",
    "SweepOptions",
    "build_specs",
    "prepare",
    "select_locales",
    "statistics_options",
    "write_sweep_plan",
]
