"""``merginguriel sweep`` / ``run_large_scale_experiment.py``: locales x modes, resumable, local or Slurm."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

from merginguriel.cli_options import (
    add_data_args,
    add_model_args,
    add_output_args,
    add_runtime_args,
    add_similarity_args,
    resolve_device,
    run_main,
    setup_logging,
    similarity_matrix_path,
)
from merginguriel.locales import parse_locales
from merginguriel.logits_cache import DEFAULT_CACHE_DIR
from merginguriel.model_paths import discover_models
from merginguriel.sweep import (
    PRESET_HELP,
    PRESETS,
    SlurmOptions,
    SweepError,
    SweepOptions,
    available_modes,
    build_specs,
    resolve_preset,
    run_local,
    run_slurm,
    select_locales,
    summarize,
    write_sweep_plan,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_large_scale_experiment.py",
        description="Run every mode for every target locale. Finished experiments (same key) are skipped, so "
        "rerunning the same command after a crash completes the rest.",
    )
    p.add_argument(
        "--modes",
        nargs="+",
        default=["baseline", "similarity", "average"],
        help="Modes to run (see --list-modes), e.g. baseline similarity average ties ensemble_soft.",
    )
    p.add_argument("--list-modes", action="store_true", help="List the modes and exit.")
    p.add_argument(
        "--list-locales", action="store_true", help="List the locales the sweep can target, and exit."
    )
    p.add_argument(
        "--locales", nargs="+", help="Target locales (space- or comma-separated); default all with a model."
    )
    p.add_argument("--start-from", help="Skip the locales before this one (in sweep order).")
    p.add_argument("--max-locales", type=int, help="Run at most this many locales.")
    p.add_argument(
        "--sweep-name", default="sweep", help="Names the state folder {results_root}/sweep_{name}."
    )
    p.add_argument("--dry-run", action="store_true", help="Print the experiments and exit.")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items()) + " (explicit flags override).",
    )
    p.add_argument(
        "--fisher-data",
        choices=["sources", "target", "both"],
        default=None,
        help="Data the Fisher statistics of data-aware methods come from.",
    )
    p.add_argument(
        "--preweights",
        choices=["uriel", "equal"],
        default=None,
        help="Source weights handed to the method: URIEL similarity (default) or equal 1/K.",
    )
    p.add_argument(
        "--num-fisher-examples",
        type=int,
        default=100,
        help="Data-aware methods: examples per source model for its statistics (default 100).",
    )
    p.add_argument(
        "--fisher-split", default="train", help="Split the statistics examples come from (default train)."
    )
    p.add_argument(
        "--fisher-estimator",
        choices=["expected", "sampled", "empirical"],
        default="expected",
        help="Fisher estimator (default expected).",
    )
    p.add_argument(
        "--statistics-cache", default=None, help="Statistics cache folder (default: the merge pipeline's)."
    )
    p.add_argument(
        "--method-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Merge-method parameter (JSON value), applied to every merge mode.",
    )
    p.add_argument(
        "--head-merge", default="linear", help="How classifier heads are combined (default linear)."
    )
    p.add_argument(
        "--available-only",
        action="store_true",
        help="Select sources only among locales that have a model under --models-root.",
    )
    p.add_argument("--max-eval-samples", type=int, default=None, help="Evaluate on the first N rows only.")
    p.add_argument(
        "--cleanup-after-eval",
        action="store_true",
        help="Delete merged weights once evaluated (merge details and results are kept).",
    )
    p.add_argument(
        "--logits-cache", default=DEFAULT_CACHE_DIR, help="Logits cache folder (ensembles, fingerprints)."
    )
    p.add_argument("--no-cache", action="store_true", help="Do not use the logits cache.")
    p.add_argument("--no-progress", action="store_true", help="No progress bars.")
    launch = p.add_argument_group("launcher")
    launch.add_argument(
        "--launcher",
        choices=["local", "slurm"],
        default="local",
        help="local: in this process (or --max-workers processes); slurm: one submitit array job.",
    )
    launch.add_argument("--max-workers", type=int, default=1, help="Local worker processes (default 1).")
    launch.add_argument("--slurm-partition", help="Slurm partition.")
    launch.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per job (default 1).")
    launch.add_argument("--slurm-time", default="04:00:00", help="Time limit per job (HH:MM:SS or minutes).")
    launch.add_argument("--slurm-mem", default="32G", help="Memory per job (e.g. 32G).")
    launch.add_argument("--slurm-cpus", type=int, default=4, help="CPUs per job.")
    launch.add_argument(
        "--slurm-array-parallelism", type=int, default=64, help="Array tasks running at once."
    )
    launch.add_argument(
        "--slurm-cluster", choices=["slurm", "local", "debug"], default="slurm", help=argparse.SUPPRESS
    )  # submitit's local/debug executors, for tests
    add_similarity_args(p, num_languages=5)
    add_model_args(p)
    add_data_args(p, split="test")
    add_output_args(p, merged=True, results=True)
    add_runtime_args(p)
    return p


def _check_modes(modes: Sequence[str]) -> list[str]:
    """Known modes pass; an unknown one that looks like a typo is an error; any other unknown mode is kept
    (its experiments will fail with a recorded error) with a warning."""
    known = available_modes()
    for mode in modes:
        if mode in known:
            continue
        close = difflib.get_close_matches(mode, list(known), n=1, cutoff=0.85)
        if close:
            raise SweepError(f"Unknown mode {mode!r}. Did you mean {close[0]!r}? (see --list-modes)")
        print(
            f"warning: mode {mode!r} is not available in this installation; its experiments will fail "
            "and be recorded (see --list-modes)."
        )
    return list(dict.fromkeys(modes))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.list_modes:
        for name, text in available_modes().items():
            print(f"{name:<28} {text}")
        return 0
    available = sorted(discover_models(args.models_root, args.base_model))
    if args.list_locales:
        if not available:
            print(f"No models under {args.models_root} for base {args.base_model}.")
        for loc in available:
            print(loc)
        return 0
    modes = _check_modes(args.modes)
    locales = parse_locales(",".join(args.locales)) if args.locales else None
    if not locales and not available:
        raise FileNotFoundError(
            f"No models under {args.models_root} for base {args.base_model}; nothing to sweep."
        )
    targets = select_locales(available, locales, args.start_from, args.max_locales)
    from merginguriel.commands.merge import parse_method_params

    preset = resolve_preset(args.preset, args.fisher_data, args.preweights)
    options = SweepOptions(
        name=args.sweep_name,
        models_root=args.models_root,
        base_model=args.base_model,
        num_languages=args.num_languages,
        similarity_matrix=similarity_matrix_path(args),
        similarity_source=args.similarity_source,
        top_k=args.top_k,
        sinkhorn_iters=args.sinkhorn_iters,
        available_only=args.available_only,
        dataset_name=args.dataset_name,
        split=args.dataset_split,
        text_column=args.text_column,
        max_eval_samples=args.max_eval_samples,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        device=resolve_device(args.device),
        seed=args.seed,
        results_root=args.results_root,
        merged_models_root=args.merged_models_root,
        logits_cache=None if args.no_cache else args.logits_cache,
        cleanup_after_eval=args.cleanup_after_eval,
        method_params=parse_method_params(args.method_param),
        head_merge=args.head_merge,
        num_fisher_examples=args.num_fisher_examples,
        fisher_split=args.fisher_split,
        fisher_estimator=args.fisher_estimator,
        statistics_cache=args.statistics_cache,
        **preset,
    )
    specs = build_specs(targets, modes, options)
    print(
        f"sweep {options.name}: {len(targets)} locales x {len(modes)} modes = {len(specs)} experiments "
        f"({args.launcher} launcher)"
    )
    if args.preset:
        print(f"preset {args.preset}: fisher_data={options.fisher_data} preweights={options.preweights}")
    if args.dry_run:
        for spec in specs:
            print(f"  {spec.mode:<24} {spec.target}")
        return 0
    write_sweep_plan(specs, modes, targets)
    progress = not args.no_progress
    if args.launcher == "slurm":
        slurm = SlurmOptions(
            args.slurm_partition,
            args.slurm_gpus,
            args.slurm_time,
            args.slurm_mem,
            args.slurm_cpus,
            args.slurm_array_parallelism,
            args.slurm_cluster,
        )
        outcomes = run_slurm(specs, slurm, progress)
    else:
        outcomes = run_local(specs, args.max_workers, progress)
    summary = summarize(outcomes)
    from merginguriel.outputs import write_json_atomic

    write_json_atomic(options.sweep_dir / "last_summary.json", summary)
    print(
        f"\nsweep {options.name}: {summary['success']} succeeded, {summary['skipped']} skipped (finished before), "
        f"{summary['failed']} failed, of {summary['total']}"
    )
    for failure in summary["failures"]:
        print(f"  FAILED {failure['name']}: {failure['error']}")
    print(f"state: {options.state_file}")
    return 1 if summary["failed"] else 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
