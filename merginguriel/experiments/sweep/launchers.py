"""Launchers: run a sweep's experiments in this process, in a pool of spawned worker processes, or as one
submitit array job on Slurm (one task per experiment). Every launcher runs the same
:func:`merginguriel.experiments.sweep.runners.execute_experiment`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merginguriel.experiments.sweep.plan import ExperimentSpec, SweepError, prepare
from merginguriel.experiments.sweep.runners import execute_experiment
from merginguriel.experiments.sweep.state import append_state, failure_record, is_finished
from merginguriel.runtime import steps


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus: int = 1
    time: str = "04:00:00"
    mem: str = "32G"
    cpus: int = 4
    array_parallelism: int = 64
    cluster: str | None = None  # submitit executor: None/"slurm" = Slurm; "local"/"debug" run the jobs here


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
        return [execute_experiment(s) for s in steps(specs, "sweep", progress, unit="experiment")]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=ctx) as pool:
        futures = {pool.submit(execute_experiment, s): s for s in specs}
        for fut in steps(as_completed(futures), "sweep", progress, unit="experiment", total=len(futures)):
            spec = futures[fut]
            try:
                outcomes.append(fut.result())
            except Exception as exc:  # the worker process itself died
                record = failure_record(
                    spec.mode, spec.target, f"worker crashed: {type(exc).__name__}: {exc}"
                )
                append_state(spec.options, record)
                outcomes.append(record)
    return outcomes


def _finished_here(specs: Sequence[ExperimentSpec]) -> tuple[list[dict[str, Any]], list[ExperimentSpec]]:
    """Experiments already finished (same key) are recorded as skipped here instead of queueing a job that
    would only find that out; the rest are returned to submit (one whose plan fails is submitted, so its job
    records the error)."""
    skipped, todo = [], []
    for spec in specs:
        try:
            prepared = prepare(spec)
        except Exception:  # noqa: BLE001 - the job reports it
            todo.append(spec)
            continue
        if not is_finished(prepared):
            todo.append(spec)
            continue
        record = {"mode": spec.mode, "target": spec.target, "name": prepared.name, "key": prepared.key,
                  "status": "skipped", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
        append_state(spec.options, record)
        skipped.append(record)
    return skipped, todo


def submit_array(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    slurm: SlurmOptions,
    folder: Path,
    name: str,
    progress: bool = True,
    unit: str = "job",
) -> list[tuple[Any, Any]]:
    """Run ``fn(item)`` for every item as the tasks of one submitit array job and wait for them: ``(job id,
    result)`` per item, in order, the result being the exception for a task that failed, was killed or timed out.

    Logs go to ``folder``. With ``slurm.cluster`` = ``local`` or ``debug`` submitit runs the same function on this
    machine (used by the tests). ``fn`` must be importable by name (the tasks run in other processes).
    """
    import submitit

    cluster = None if slurm.cluster in (None, "slurm") else slurm.cluster
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    params: dict[str, Any] = {
        "name": f"merginguriel_{name}",
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
    jobs = executor.map_array(fn, list(items))
    print(f"submitted {len(jobs)} jobs ({jobs[0].job_id.split('_')[0]}); logs in {folder}")
    results: list[tuple[Any, Any]] = []
    for job in steps(jobs, f"{name} jobs", progress, unit=unit):
        try:
            results.append((job.job_id, job.result()))
        except Exception as exc:  # noqa: BLE001 - job killed, timed out, or the function raised: reported
            results.append((job.job_id, exc))
    return results


def run_slurm(
    specs: Sequence[ExperimentSpec], slurm: SlurmOptions, progress: bool = True
) -> list[dict[str, Any]]:
    """Submit one array job (one task per experiment, :func:`submit_array`) and wait for the outcomes; logs in
    ``{results_root}/sweep_{name}/slurm_logs``."""
    skipped, specs = _finished_here(specs)
    if not specs:
        return skipped
    folder = specs[0].options.sweep_dir / "slurm_logs"
    done = submit_array(
        execute_experiment, specs, slurm, folder, specs[0].options.name, progress, "experiment"
    )
    outcomes = list(skipped)
    for spec, (job_id, result) in zip(specs, done):
        if isinstance(result, BaseException):  # outside execute_experiment, which records its own failures
            record = failure_record(
                spec.mode, spec.target, f"job {job_id} failed: {type(result).__name__}: {result}"
            )
            append_state(spec.options, record)
            result = record
        outcomes.append(result)
    return outcomes


__all__ = ["SlurmOptions", "parse_mem_gb", "parse_slurm_time", "run_local", "run_slurm", "submit_array"]
