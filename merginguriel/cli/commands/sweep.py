"""``merginguriel sweep`` / ``run_large_scale_experiment.py``: locales x modes, resumable, local or Slurm."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import parse_locales
from merginguriel.data.massive import load_selection
from merginguriel.errors import MissingInputError
from merginguriel.experiments.sweep import (
    ExperimentSpec,
    SweepError,
    SweepOptions,
    build_specs,
    prepare,
    run_local,
    run_slurm,
    select_locales,
    summarize,
    write_sweep_plan,
)
from merginguriel.merging.catalogue import CatalogueError, MethodParams, resolve_preset, sweep_modes
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.models.paths import discover_models
from merginguriel.outputs.atomic import check_writable, write_json_atomic
from merginguriel.similarity.selection import describe_sources

EXAMPLE = (
    "example: merginguriel sweep --dataset-name builtin --num-languages 3 "
    "--modes baseline similarity ties ensemble_soft --method-param ties.density=0.3"
)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "run_large_scale_experiment.py",
        "Run every mode for every target locale. Finished experiments (same key) are skipped, so "
        "rerunning the same command after a crash completes the rest.",
        EXAMPLE,
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
    opts.add_locales_arg(p, "--locales", "Target locales; default all with a model")
    p.add_argument("--start-from", help="Skip the locales before this one (in sweep order).")
    p.add_argument("--max-locales", type=opts.positive_int, help="Run at most this many locales.")
    p.add_argument(
        "--sweep-name", default="sweep", help="Names the state folder {results_root}/sweep_{name}."
    )
    p.add_argument("--dry-run", action="store_true", help="Print the experiments and exit.")
    opts.add_preset_args(p)
    p.add_argument(
        "--cleanup-after-eval",
        action="store_true",
        help="Delete merged weights once evaluated (merge details and results are kept).",
    )
    opts.add_launcher_args(p, workers=True)
    opts.add_source_args(p)
    opts.add_similarity_args(p, num_languages=5)
    opts.add_model_args(p)
    opts.add_data_args(p, split="test", max_samples=True)
    opts.add_statistics_args(p, cache_default=None)
    opts.add_cache_args(p)
    opts.add_output_args(p, merged=True, results=True)
    opts.add_runtime_args(p, progress=True)
    opts.add_method_args(p)
    opts.add_tracking_args(p)
    return p


def track_sweep(
    options: SweepOptions, outcomes: Sequence[dict], report_to: Sequence[str], project: str
) -> None:
    """The sweep as one tracking run: a row per experiment and the comparison plots (TensorBoard under
    ``{sweep_dir}/tensorboard``, wandb with ``--report-to wandb``)."""
    from merginguriel.outputs.tracking import TENSORBOARD_DIR, comparison_plots, log_run, sweep_rows

    rows = sweep_rows(outcomes)
    plots = comparison_plots(rows, options.sweep_dir / "plots")
    config = {"sweep": options.name, "preset": options.preset, "seed": options.seed,
              "num_languages": options.sources.num_languages, "dataset": str(options.data.dataset_name),
              "split": options.data.split}  # fmt: skip
    log_dir = log_run(options.sweep_dir / TENSORBOARD_DIR, f"sweep_{options.name}", rows, plots, config,
                      report_to, project)  # fmt: skip
    print(
        f"tensorboard: tensorboard --logdir {log_dir}"
        + ("  (and a wandb run)" if "wandb" in report_to else "")
    )


def _check_modes(modes: Sequence[str]) -> list[str]:
    """Known modes pass; an unknown one that looks like a typo is an error; any other unknown mode is kept
    (its experiments will fail with a recorded error) with a warning."""
    known = sweep_modes()
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


def _planned_sources(spec: ExperimentSpec) -> str:
    """The sources and weights an experiment would use, with the effective number (or why it cannot run)."""
    try:
        prepared = prepare(spec)
    except (ValueError, FileNotFoundError) as exc:
        return f"(cannot plan: {exc})"
    return describe_sources(prepared.plan.sources) if prepared.plan else "(the target's own model)"


def options_from_args(args: argparse.Namespace, modes: Sequence[str]) -> SweepOptions:
    """The sweep options of the parsed flags (preset applied, method parameters checked against the modes)."""
    preset = resolve_preset(args.preset, args.fisher_data, args.preweight)
    params: MethodParams = opts.method_params(args)
    params.check_sweep(modes)
    return SweepOptions(
        name=args.sweep_name,
        sources=opts.source_selection(args, preset["preweight"]),
        data=opts.data_selection(args),
        runtime=opts.runtime(args, progress=False),
        statistics=opts.statistics_options(args, preset["fisher_data"], args.batch_size),
        method_params=params,
        head_merge=args.head_merge,
        layer_weights=LayerWeights.parse(args.layer_weights),
        preset=args.preset,
        fisher_data=preset["fisher_data"],
        seed=args.seed,
        results_root=args.results_root,
        merged_models_root=args.merged_models_root,
        logits_cache=None if args.no_cache else args.logits_cache,
        cleanup_after_eval=args.cleanup_after_eval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.list_modes:
        for name, text in sweep_modes().items():
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
        raise MissingInputError(
            f"No models under {args.models_root} for base {args.base_model}; nothing to sweep."
        )
    targets = select_locales(available, locales, args.start_from, args.max_locales)
    try:
        options = options_from_args(args, modes)
    except CatalogueError as exc:
        raise SweepError(str(exc)) from None
    specs = build_specs(targets, modes, options)
    print(
        f"sweep {options.name}: {len(targets)} locales x {len(modes)} modes = {len(specs)} experiments "
        f"({args.launcher} launcher)"
    )
    if args.preset:
        print(
            f"preset {args.preset}: fisher_data={options.fisher_data} preweight={options.sources.preweight}"
        )
    if args.dry_run:
        for spec in specs:
            print(f"  {spec.mode:<24} {spec.target}  {_planned_sources(spec)}")
        return 0
    report_to = opts.report_to(args)  # wandb importable, before any experiment runs
    check_writable(options.results_root, "--results-root")
    check_writable(options.merged_models_root, "--merged-models-root")
    for target in targets:  # every target's evaluation data is read before the first experiment
        load_selection(options.evaluation(target))
    write_sweep_plan(specs, modes, targets)
    progress = opts.show_progress(args)
    if args.launcher == "slurm":
        outcomes = run_slurm(specs, opts.slurm_options(args), progress)
    else:
        outcomes = run_local(specs, args.max_workers, progress)
    summary = summarize(outcomes)
    write_json_atomic(options.sweep_dir / "last_summary.json", summary)
    track_sweep(options, outcomes, report_to, args.wandb_project)
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
