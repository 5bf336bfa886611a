"""Large-scale sweeps: every target locale x every mode, resumable, locally or on Slurm (submitit).

Modes:

* ``baseline`` — evaluate the target's own model on the target (the native score);
* a merge mode — ``similarity``, ``average`` or any ``auto_merge_llm`` method (``ties``, ``dare``, ``fisher``,
  …): sources and weights from ``merging.plan_merge``, merged with ``execute_merge``, evaluated with
  ``evaluate_model``; ``merged_models/{mode}_merge_{target}_{N}merged`` and ``results/{same name}``;
* ``ensemble_{voting}`` — the voting ensembles of :mod:`merginguriel.ensemble` over the same sources,
  ``results/ensemble_{voting}_{target}_{N}src``.

A mode the installation does not provide (e.g. a data-aware method another version adds) is not faked: each
of its experiments fails with the error and is recorded, and the sweep goes on.

**Keys and resume.** Each experiment's key (:func:`experiment_key`) hashes every option that changes its
result: mode, target, the planned sources (locale, path, content fingerprint, weight), K, method parameters,
head merge, preset-derived options (``fisher_data``, ``preweights``), the data selection (dataset, split,
text column, max samples, max sequence length) and the seed. ``results.json`` (with the key under
``experiment``) is written atomically and *last*; an experiment is finished iff its ``results.json`` exists
and records the same key. A crash or SIGKILL therefore loses at most the experiment in flight, and rerunning
the same command completes the rest. Every outcome (success, skipped, failed + error) is appended to
``{results_root}/sweep_{name}/state.jsonl``.

**Presets** only set flags (explicit flags win): ``fairness`` = sources-only Fisher data, equal pre-weights;
``target`` = target-only Fisher data, URIEL pre-weights. ``preweights`` = ``equal`` gives every selected source
weight 1/K; ``uriel`` keeps the similarity weights. For data-aware methods (``fisher_dataset``, ``fisher``,
``regmean``) ``fisher_data`` is the data mode of ``merge_statistics.StatisticsOptions`` (with
``num_fisher_examples``, ``fisher_split``, ``fisher_estimator``); the statistics selection is part of the key.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from merginguriel import __version__
from merginguriel.ensemble import VOTING_METHODS, ensemble_name
from merginguriel.experiment_key import experiment_key
from merginguriel.logits_cache import DataSelection, LogitsCache, model_fingerprint
from merginguriel.merging import MergePlan, MergeRequest, plan_merge
from merginguriel.outputs import write_json_atomic

logger = logging.getLogger("merginguriel.sweep")

BASELINE = "baseline"
ENSEMBLE_MODES = tuple(f"ensemble_{v}" for v in VOTING_METHODS)
UNSWEEPABLE = ("uriel", "manual", "linear")  # need per-target sources/weights from the user
PRESETS: dict[str, dict[str, str]] = {
    "fairness": {"fisher_data": "sources", "preweights": "equal"},
    "target": {"fisher_data": "target", "preweights": "uriel"},
}
PRESET_HELP = {
    "fairness": "sources-only Fisher data, equal pre-weights",
    "target": "target-only Fisher data, URIEL pre-weights",
}
TEST_SLEEP_ENV = "MERGINGURIEL_SWEEP_TEST_SLEEP"  # seconds to wait before writing results.json (crash tests)


class SweepError(ValueError):
    """A sweep that cannot be set up as asked."""


def merge_modes() -> dict[str, str]:
    """Merge modes a sweep can run now: the pipeline's modes minus those needing per-target user input."""
    from merginguriel.commands.merge import available_modes

    return {m: d for m, d in available_modes().items() if m not in UNSWEEPABLE}


def available_modes() -> dict[str, str]:
    """Every sweep mode with a one-line description."""
    modes = {BASELINE: "the target's own model evaluated on the target (native score)"}
    modes.update(merge_modes())
    for voting in VOTING_METHODS:
        modes[f"ensemble_{voting}"] = f"ensemble of the selected sources, voting {voting}"
    return modes


@dataclass
class SweepOptions:
    """Options shared by every experiment of a sweep (picklable: sent to worker processes and Slurm jobs)."""

    name: str = "sweep"
    models_root: str = "haryos_model"
    base_model: str = "xlm-roberta-base"
    num_languages: int = 5
    similarity_matrix: str = "sparsed_language_similarity_matrix_unified.csv"
    similarity_source: str = "sparse"
    top_k: int = 20
    sinkhorn_iters: int = 20
    available_only: bool = False
    dataset_name: str = "AmazonScience/massive"
    split: str = "test"
    text_column: str = "utt"
    max_eval_samples: int | None = None
    batch_size: int = 64
    max_seq_length: int = 128
    device: str = "cpu"
    seed: int = 42
    results_root: str = "results"
    merged_models_root: str = "merged_models"
    logits_cache: str | None = "logits_cache"
    cleanup_after_eval: bool = False
    preset: str | None = None
    fisher_data: str | None = None
    preweights: str = "uriel"
    method_params: dict[str, Any] = field(default_factory=dict)
    head_merge: str = "linear"
    num_fisher_examples: int = 100
    fisher_split: str = "train"
    fisher_estimator: str = "expected"
    statistics_cache: str | None = None
    progress: bool = False

    @property
    def sweep_dir(self) -> Path:
        return Path(self.results_root) / f"sweep_{self.name}"

    @property
    def state_file(self) -> Path:
        return self.sweep_dir / "state.jsonl"

    def data(self, target: str) -> DataSelection:
        return DataSelection(
            self.dataset_name,
            target,
            self.split,
            self.text_column,
            self.max_eval_samples,
            self.max_seq_length,
        ).normalized()


def resolve_preset(preset: str | None, fisher_data: str | None, preweights: str | None) -> dict[str, Any]:
    """Options from a preset, each overridden by the explicit flag when given."""
    if preset is not None and preset not in PRESETS:
        raise SweepError(f"Unknown --preset {preset!r}; choose from {', '.join(PRESETS)}.")
    base = dict(PRESETS.get(preset or "", {}))
    if fisher_data is not None:
        base["fisher_data"] = fisher_data
    if preweights is not None:
        base["preweights"] = preweights
    base.setdefault("fisher_data", None)
    base.setdefault("preweights", "uriel")
    if base["preweights"] not in ("uriel", "equal"):
        raise SweepError(f"--preweights must be 'uriel' or 'equal', not {base['preweights']!r}.")
    return {"preset": preset, **base}


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
    memo = LogitsCache(opts.logits_cache).memo_file if opts.logits_cache else None
    return model_fingerprint(path, memo)


def statistics_options(mode: str, opts: SweepOptions) -> Any:
    """``merge_statistics.StatisticsOptions`` for data-aware methods (Fisher data from ``fisher_data``), else None."""
    from merginguriel.merging import engine_method, needs_statistics

    if not needs_statistics(engine_method(mode)):
        return None
    from merginguriel.merge_statistics import StatisticsOptions

    extra = {"cache_dir": opts.statistics_cache} if opts.statistics_cache else {}
    return StatisticsOptions(
        dataset_name=opts.dataset_name,
        text_column=opts.text_column,
        split=opts.fisher_split,
        num_examples=opts.num_fisher_examples,
        data_mode=opts.fisher_data or "sources",
        estimator=opts.fisher_estimator,
        batch_size=opts.batch_size,
        max_seq_length=opts.max_seq_length,
        seed=opts.seed,
        **extra,
    )


def _selection_request(spec: ExperimentSpec) -> MergeRequest:
    opts = spec.options
    mode = spec.mode
    return MergeRequest(
        statistics=statistics_options(mode, opts),
        mode=mode,
        target=spec.target,
        models_root=opts.models_root,
        base_model=opts.base_model,
        num_languages=opts.num_languages,
        similarity_matrix=opts.similarity_matrix,
        similarity_source=opts.similarity_source,
        top_k=opts.top_k,
        sinkhorn_iters=opts.sinkhorn_iters,
        available_only=opts.available_only,
        method_params=dict(opts.method_params),
        head_merge=opts.head_merge,
        device=opts.device,
        seed=opts.seed,
    )


def _apply_preweights(request: MergeRequest, plan: MergePlan, preweights: str) -> MergePlan:
    """Equal pre-weights: re-plan with weight 1/K for each selected source (same sources, same order)."""
    if preweights != "equal":
        return plan
    k = len(plan.sources)
    return plan_merge(replace(request, weights={s.locale: 1.0 / k for s in plan.sources}))


def prepare(spec: ExperimentSpec) -> Prepared:
    """Plan an experiment and compute its key (may raise: missing models, bad similarity, ...)."""
    opts = spec.options
    mode = spec.mode
    common = {
        "mode": mode,
        "target": spec.target,
        "data": asdict(opts.data(spec.target)),
        "seed": opts.seed,
    }
    suffix = f"_{opts.preset}" if opts.preset else ""
    if mode == BASELINE:
        from merginguriel.model_paths import find_model

        path = str(find_model(opts.models_root, opts.base_model, spec.target))
        key_options = {**common, "model": (path, _fingerprint(path, opts))}
        return Prepared(
            spec,
            "baseline",
            f"baseline_{spec.target}",
            experiment_key(key_options),
            key_options,
            model_path=path,
        )
    preset_part = {"preset": opts.preset, "fisher_data": opts.fisher_data, "preweights": opts.preweights}
    if mode in ENSEMBLE_MODES:
        voting = mode[len("ensemble_") :]
        request = _selection_request(replace(spec, mode="similarity"))
        plan = _apply_preweights(request, plan_merge(request), opts.preweights)
        name = ensemble_name(voting, plan.target, len(plan.sources)) + suffix
        kind = "ensemble"
    else:
        if mode in UNSWEEPABLE:
            raise SweepError(
                f"Mode {mode!r} needs per-target sources or weights from the user; a sweep cannot run it."
            )
        modes = merge_modes()
        if mode not in modes:
            raise SweepError(
                f"Mode {mode!r} is not available in this installation (merge modes: {', '.join(modes)}; "
                f"auto_merge_llm registry methods are listed by auto_merge_llm.list_methods())."
            )
        request = _selection_request(spec)
        plan = _apply_preweights(request, plan_merge(request), opts.preweights)
        name = f"{plan.name}{suffix}"
        kind = "merge"
    key_options = {
        **common,
        **preset_part,
        "kind": kind,
        "num_languages": opts.num_languages,
        "method": plan.method,
        "method_params": plan.method_params,
        "head_merge": plan.head_merge,
        "base_model": plan.base_model,
        "sources": [
            (s.locale, s.path, _fingerprint(s.path, opts), round(s.weight, 12)) for s in plan.sources
        ],
        "statistics": plan.statistics.selection() if getattr(plan, "statistics", None) else None,
        "plan_key": plan.key,
    }
    return Prepared(spec, kind, name, experiment_key(key_options), key_options, plan=plan)


def recorded_key(results_dir: str | os.PathLike) -> str | None:
    """The experiment key stored in ``results_dir/results.json`` (None when absent or unreadable)."""
    path = Path(results_dir) / "results.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("experiment", {}).get("key")
    except (ValueError, OSError):
        return None


def is_finished(prepared: Prepared) -> bool:
    return recorded_key(prepared.results_dir) == prepared.key


def append_state(opts: SweepOptions, record: dict[str, Any]) -> None:
    """Append one JSON line to the sweep's state file (one ``write`` call, O_APPEND)."""
    opts.sweep_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(opts.state_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_state(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a state file (a torn last line from a kill is ignored)."""
    records = []
    p = Path(path)
    if not p.is_file():
        return records
    for line in p.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _experiment_block(prepared: Prepared) -> dict[str, Any]:
    opts = prepared.spec.options
    return {
        "key": prepared.key,
        "name": prepared.name,
        "mode": prepared.spec.mode,
        "kind": prepared.kind,
        "target": prepared.spec.target,
        "sweep": opts.name,
        "preset": opts.preset,
        "options": prepared.key_options,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": __version__,
    }


def _test_sleep() -> None:
    delay = os.environ.get(TEST_SLEEP_ENV)
    if delay:
        time.sleep(float(delay))


def _remove_weights(merged_dir: Path) -> list[str]:
    removed = []
    for pattern in ("*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin"):
        for f in merged_dir.glob(pattern):
            f.unlink()
            removed.append(f.name)
    return removed


def _evaluate(prepared: Prepared, model_dir: str | Path) -> dict[str, Any]:
    """``results.json`` of ``model_dir`` on the experiment's target data selection."""
    from merginguriel.evaluation import evaluate_model

    opts = prepared.spec.options
    sel = opts.data(prepared.spec.target)
    return evaluate_model(
        model_dir,
        sel.dataset_name,
        sel.locale,
        sel.split,
        sel.text_column,
        opts.batch_size,
        sel.max_seq_length,
        opts.device,
        sel.max_samples,
        progress=opts.progress,
    )


def _run_baseline(prepared: Prepared) -> dict[str, Any]:
    results = _evaluate(prepared, prepared.model_path)
    results["merge_details"] = {
        "mode": BASELINE,
        "target": results["dataset_info"]["locale"],
        "sources": [],
        "model_path": prepared.model_path,
    }
    return results


def _run_merge(prepared: Prepared) -> dict[str, Any]:
    from merginguriel.merging import execute_merge

    opts = prepared.spec.options
    plan = prepared.plan
    merged_root = Path(opts.merged_models_root)
    merged_dir = merged_root / prepared.name
    for stale in merged_root.glob(f".{prepared.name}.partial-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    merge_options = {
        **asdict(opts),
        "mode": prepared.spec.mode,
        "target": prepared.spec.target,
        "experiment_key": prepared.key,
    }
    details = execute_merge(
        plan,
        merged_dir,
        merge_options,
        overwrite=True,
        device=opts.device,
        seed=opts.seed,
        progress=opts.progress,
    )
    results = _evaluate(prepared, merged_dir)
    results["merge_details"] = {
        k: details[k] for k in ("mode", "method", "target", "sources", "key", "head_merge")
    }
    write_json_atomic(prepared.results_dir / "merge_details.json", details)
    if opts.cleanup_after_eval:
        results["merge_details"]["weights_removed"] = _remove_weights(merged_dir)
    return results


def _run_ensemble(prepared: Prepared) -> dict[str, Any]:
    """Source logits (cache first), the vote, ``merge_details.json``; results.json is written by the caller."""
    from merginguriel.ensemble import ensemble_results, source_logits
    from merginguriel.logits_cache import load_selection

    opts = prepared.spec.options
    voting = prepared.spec.mode[len("ensemble_") :]
    cache = LogitsCache(opts.logits_cache) if opts.logits_cache else None
    started = time.time()
    split = load_selection(opts.data(prepared.spec.target))
    entries, computed = source_logits(
        prepared.plan, split, cache, opts.batch_size, opts.device, opts.progress
    )
    results, details = ensemble_results(
        voting, prepared.plan, split, entries, 5, time.time() - started, opts.device, opts.batch_size
    )
    details["forward_passes"] = computed
    write_json_atomic(prepared.results_dir / "merge_details.json", details)
    return results


RUNNERS = {"baseline": _run_baseline, "merge": _run_merge, "ensemble": _run_ensemble}


def execute_experiment(spec: ExperimentSpec) -> dict[str, Any]:
    """Run one experiment unless finished; never raises for the experiment's own errors.

    Returns (and appends to the state file) ``{status: success|skipped|failed, name, key, error, ...}``.
    This is the function worker processes and Slurm jobs run.
    """
    opts = spec.options
    started = time.time()
    record: dict[str, Any] = {
        "mode": spec.mode,
        "target": spec.target,
        "name": f"{spec.mode}_{spec.target}",
        "key": None,
        "pid": os.getpid(),
    }
    try:
        prepared = prepare(spec)
        record.update(name=prepared.name, key=prepared.key, results_dir=str(prepared.results_dir))
        if is_finished(prepared):
            record["status"] = "skipped"
        else:
            stale = prepared.results_dir / "results.json"
            if stale.exists():  # a result for other options: replaced, never reused
                stale.unlink()
            results = RUNNERS[prepared.kind](prepared)
            results["experiment"] = _experiment_block(prepared)
            _test_sleep()
            write_json_atomic(prepared.results_dir / "results.json", results)
            record["status"] = "success"
            record["accuracy"] = results["performance"]["accuracy"]
    except Exception as exc:  # one failing experiment must not stop the sweep
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=8)
        logger.error("%s failed: %s", spec.label, record["error"])
    record["elapsed_s"] = round(time.time() - started, 3)
    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    append_state(opts, record)
    return record


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus: int = 1
    time: str = "04:00:00"
    mem: str = "32G"
    cpus: int = 4
    array_parallelism: int = 64
    cluster: str | None = None  # None/"slurm" = Slurm; "local"/"debug" = submitit's local executors (tests)


def parse_slurm_time(text: str) -> int:
    """Minutes from ``MM``, ``HH:MM:SS``, ``D-HH:MM:SS`` or ``HH:MM``."""
    text = str(text).strip()
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        minutes = parts[0]
    elif len(parts) == 2:
        minutes = parts[0] * 60 + parts[1]
    elif len(parts) == 3:
        minutes = parts[0] * 60 + parts[1] + (1 if parts[2] else 0)
    else:
        raise SweepError(f"--slurm-time {text!r} is not MINUTES, HH:MM:SS or D-HH:MM:SS.")
    return days * 24 * 60 + minutes


def parse_mem_gb(text: str) -> float:
    """GB from ``32G``, ``32GB``, ``500M``, ``1T`` or a plain number of GB."""
    value = str(text).strip().upper().removesuffix("B")
    scale = {"K": 1 / (1024 * 1024), "M": 1 / 1024, "G": 1.0, "T": 1024.0}
    if value and value[-1] in scale:
        return float(value[:-1]) * scale[value[-1]]
    return float(value)


def run_local(
    specs: Sequence[ExperimentSpec], max_workers: int = 1, progress: bool = True
) -> list[dict[str, Any]]:
    """Run experiments in this process (``max_workers`` 1) or in a pool of spawned processes."""
    if max_workers <= 1:
        return [execute_experiment(s) for s in tqdm(specs, desc="sweep", unit="exp", disable=not progress)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=ctx) as pool:
        futures = {pool.submit(execute_experiment, s): s for s in specs}
        for fut in tqdm(
            as_completed(futures), total=len(futures), desc="sweep", unit="exp", disable=not progress
        ):
            spec = futures[fut]
            try:
                outcomes.append(fut.result())
            except Exception as exc:  # the worker process itself died
                record = {
                    "mode": spec.mode,
                    "target": spec.target,
                    "name": f"{spec.mode}_{spec.target}",
                    "status": "failed",
                    "error": f"worker crashed: {type(exc).__name__}: {exc}",
                }
                append_state(spec.options, record)
                outcomes.append(record)
    return outcomes


def run_slurm(
    specs: Sequence[ExperimentSpec], slurm: SlurmOptions, progress: bool = True
) -> list[dict[str, Any]]:
    """Submit one array job (one task per experiment) through submitit and wait for the outcomes.

    Logs go to ``{results_root}/sweep_{name}/slurm_logs``. With ``slurm.cluster`` = ``local`` or ``debug``
    submitit runs the same job function on this machine (used by the tests).
    """
    import submitit

    if not specs:
        return []
    folder = specs[0].options.sweep_dir / "slurm_logs"
    cluster = None if slurm.cluster in (None, "slurm") else slurm.cluster
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    params: dict[str, Any] = {
        "name": f"merginguriel_{specs[0].options.name}",
        "timeout_min": parse_slurm_time(slurm.time),
        "mem_gb": parse_mem_gb(slurm.mem),
        "gpus_per_node": slurm.gpus,
        "cpus_per_task": slurm.cpus,
        "slurm_array_parallelism": slurm.array_parallelism,
    }
    if slurm.partition:
        params["slurm_partition"] = slurm.partition
    if cluster in ("local", "debug"):
        params.pop("gpus_per_node")
    executor.update_parameters(**params)
    jobs = executor.map_array(execute_experiment, list(specs))
    print(f"submitted {len(jobs)} jobs ({jobs[0].job_id.split('_')[0]}); logs in {folder}")
    outcomes = []
    for spec, job in tqdm(list(zip(specs, jobs)), desc="sweep jobs", unit="exp", disable=not progress):
        try:
            outcomes.append(job.result())
        except Exception as exc:  # job killed, timed out, or failed outside execute_experiment
            record = {
                "mode": spec.mode,
                "target": spec.target,
                "name": f"{spec.mode}_{spec.target}",
                "status": "failed",
                "error": f"job {job.job_id} failed: {type(exc).__name__}: {exc}",
            }
            append_state(spec.options, record)
            outcomes.append(record)
    return outcomes


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


def summarize(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts = {s: sum(1 for o in outcomes if o.get("status") == s) for s in ("success", "skipped", "failed")}
    failures = [
        {"name": o.get("name"), "error": o.get("error")} for o in outcomes if o.get("status") == "failed"
    ]
    return {"total": len(outcomes), **counts, "failures": failures}


__all__ = [
    "BASELINE",
    "ENSEMBLE_MODES",
    "PRESETS",
    "ExperimentSpec",
    "Prepared",
    "SlurmOptions",
    "SweepError",
    "SweepOptions",
    "available_modes",
    "build_specs",
    "execute_experiment",
    "is_finished",
    "prepare",
    "read_state",
    "recorded_key",
    "resolve_preset",
    "run_local",
    "run_slurm",
    "select_locales",
    "summarize",
    "write_sweep_plan",
]
