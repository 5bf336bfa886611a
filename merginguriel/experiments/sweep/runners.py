"""One sweep experiment of each kind (baseline, merge, ensemble), and ``execute_experiment``, the function
worker processes and Slurm jobs run."""

from __future__ import annotations

import logging
import os
import time
import traceback
from typing import Any

from merginguriel import __version__
from merginguriel.data.massive import load_selection
from merginguriel.experiments.sweep.plan import ExperimentSpec, Prepared, prepare
from merginguriel.experiments.sweep.state import append_state, is_finished
from merginguriel.merging.experiment import MergeOutputs, run_merge_experiment
from merginguriel.models.evaluation import evaluate_model
from merginguriel.outputs.atomic import write_json_atomic

logger = logging.getLogger("merginguriel.sweep")


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


def _run_baseline(prepared: Prepared) -> dict[str, Any]:
    """The target's own model on the target, through the logits cache (an NxN run's cells are reused)."""
    opts = prepared.spec.options
    results = evaluate_model(
        prepared.model_path, opts.evaluation(prepared.spec.target), opts.runtime, opts.cache()
    )
    results["merge_details"] = {
        "mode": "baseline",
        "target": results["dataset_info"]["locale"],
        "sources": [],
        "model_path": prepared.model_path,
    }
    results["experiment"] = _experiment_block(prepared)
    write_json_atomic(prepared.results_dir / "results.json", results)
    return results


def _run_merge(prepared: Prepared) -> dict[str, Any]:
    opts = prepared.spec.options
    outputs = MergeOutputs.under(opts.merged_models_root, opts.results_root, prepared.name)
    outcome = run_merge_experiment(
        prepared.plan,
        outputs,
        opts.evaluation(prepared.spec.target),
        opts.runtime,
        "sweep",
        {"experiment_key": prepared.key, "preset": opts.preset, "sweep": opts.name},
        seed=opts.seed,
        overwrite=True,
        experiment=_experiment_block(prepared),
        cleanup_weights=opts.cleanup_after_eval,
    )
    return outcome.results


def _run_ensemble(prepared: Prepared) -> dict[str, Any]:
    """Source logits (cache first), the vote, ``merge_details.json``, then ``results.json``."""
    from merginguriel.merging.ensemble import ensemble_results, source_logits

    opts = prepared.spec.options
    voting = prepared.spec.mode[len("ensemble_") :]
    started = time.time()
    split = load_selection(opts.evaluation(prepared.spec.target))
    entries, computed = source_logits(prepared.plan, split, opts.cache(), opts.runtime)
    results, details = ensemble_results(
        voting, prepared.plan, split, entries, opts.runtime, 5, time.time() - started
    )
    details["forward_passes"] = computed
    write_json_atomic(prepared.results_dir / "merge_details.json", details)
    results["experiment"] = _experiment_block(prepared)
    write_json_atomic(prepared.results_dir / "results.json", results)
    return results


RUNNERS = {"baseline": _run_baseline, "merge": _run_merge, "ensemble": _run_ensemble}


def execute_experiment(spec: ExperimentSpec) -> dict[str, Any]:
    """Run one experiment unless finished; never raises for the experiment's own errors.

    Returns (and appends to the state file) ``{status: success|skipped|failed, name, key, error, ...}``.
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


__all__ = ["RUNNERS", "execute_experiment"]
