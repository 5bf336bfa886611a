"""Large-scale sweeps: every target locale x every mode, resumable, locally or on Slurm (submitit).

Modes (see :func:`merginguriel.merging.catalogue.sweep_modes`):

* ``baseline`` — evaluate the target's own model on the target (the native score), through the logits cache
  (an NxN run that already evaluated it leaves nothing to compute);
* a merge mode — ``similarity``, ``average`` or any ``auto_merge_llm`` method (``ties``, ``dare``, ``fisher``,
  …): run by the one experiment program (:func:`merginguriel.merging.experiment.run_merge_experiment`);
  ``merged_models/{mode}_merge_{target}_{N}merged`` and ``results/{same name}``;
* ``ensemble_{voting}`` — the voting ensembles of :mod:`merginguriel.merging.ensemble` over the same sources,
  ``results/ensemble_{voting}_{target}_{N}src``.

A mode the installation does not provide (e.g. a data-aware method another version adds) is not faked: each
of its experiments fails with the error and is recorded, and the sweep goes on.

**Keys and resume.** Each experiment's key (:func:`experiment_key`) hashes every option that changes its
result: mode, target, the planned sources (locale, path, content fingerprint, weight), K, method parameters,
head merge, preset-derived options (``fisher_data``, ``preweight``), the data selection (dataset, split,
text column, max samples, max sequence length) and the seed. ``results.json`` (with the key under
``experiment``) is written atomically and *last*; an experiment is finished iff its ``results.json`` exists
and records the same key. A crash or SIGKILL therefore loses at most the experiment in flight, and rerunning
the same command completes the rest. Every outcome (success, skipped, failed + error) is appended to
``{results_root}/sweep_{name}/state.jsonl``.

**Presets** only set options (explicit options win): ``fairness`` = sources-only Fisher data, equal pre-weights;
``target`` = target-only Fisher data, URIEL pre-weights (:data:`merginguriel.merging.catalogue.PRESETS`).

The package: ``plan`` (options, experiment specs, keys), ``state`` (the state file, finished experiments),
``runners`` (one experiment of each kind), ``launchers`` (in-process, worker processes, submitit/Slurm).
"""

from merginguriel.experiments.sweep.launchers import (
    SlurmOptions,
    parse_mem_gb,
    parse_slurm_time,
    run_local,
    run_slurm,
    submit_array,
)
from merginguriel.experiments.sweep.plan import (
    ExperimentSpec,
    Prepared,
    SweepError,
    SweepOptions,
    build_specs,
    prepare,
    select_locales,
    write_sweep_plan,
)
from merginguriel.experiments.sweep.runners import execute_experiment
from merginguriel.experiments.sweep.state import (
    append_state,
    is_finished,
    read_state,
    recorded_key,
    summarize,
)
from merginguriel.merging.catalogue import BASELINE, PRESETS, resolve_preset
from merginguriel.merging.catalogue import sweep_modes as available_modes

__all__ = [
    "BASELINE",
    "PRESETS",
    "ExperimentSpec",
    "Prepared",
    "SlurmOptions",
    "SweepError",
    "SweepOptions",
    "append_state",
    "available_modes",
    "build_specs",
    "execute_experiment",
    "is_finished",
    "parse_mem_gb",
    "parse_slurm_time",
    "prepare",
    "read_state",
    "recorded_key",
    "resolve_preset",
    "run_local",
    "run_slurm",
    "submit_array",
    "select_locales",
    "summarize",
    "write_sweep_plan",
]
