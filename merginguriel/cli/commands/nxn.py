"""``merginguriel nxn`` / ``run_nxn_evaluation.py``: every model on every locale, as an accuracy matrix."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import parse_locales
from merginguriel.data.massive import load_selection
from merginguriel.errors import MissingInputError
from merginguriel.experiments.nxn import (
    MATRIX_FILE,
    NxNConfig,
    NxNError,
    latest_run_dir,
    new_run_dir,
    run_nxn,
)
from merginguriel.models.checks import check_model_folder
from merginguriel.models.paths import discover_models
from merginguriel.outputs.atomic import check_writable

EXAMPLE = "example: merginguriel nxn --locales af-ZA de-DE nl-NL --dataset-split validation"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "run_nxn_evaluation.py",
        "Evaluate every model under --models-root on every requested locale (NxN accuracy matrix). "
        "Use --split validation for matrices that choose sources or weights; keep test for reporting.",
        EXAMPLE,
    )
    p.add_argument(
        "--list-locales", action="store_true", help="List the locales that have a model, and exit."
    )
    opts.add_locales_arg(
        p, "--locales", "Locales: both the models (rows) and the evaluated locales (columns)"
    )
    opts.add_locales_arg(p, "--eval-locales", "Evaluated locales (columns), if different from --locales")
    p.add_argument("--output-root", default="nxn_results", help="Parent of the nxn_eval_{timestamp} folders.")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        help="Fill only the missing cells of an earlier run: its folder, or no value for the latest one.",
    )
    p.add_argument("--no-heatmap", action="store_true", help="Skip the heatmap PNG.")
    opts.add_model_args(p)
    p.set_defaults(base_model=None)  # NxN: every model under the root unless --base-model narrows it
    opts.add_data_args(p, split="test", max_samples=True)
    opts.add_cache_args(p)
    opts.add_runtime_args(p, progress=True)
    opts.add_tracking_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    found = discover_models(args.models_root, args.base_model)
    if args.list_locales:
        if not found:
            print(f"No models named {{base}}_massive_k_{{locale}} under {args.models_root}.")
        for loc, path in found.items():
            print(f"{loc:<7} {path}")
        return 0
    if not found:
        raise MissingInputError(f"No models named {{base}}_massive_k_{{locale}} under {args.models_root}.")
    rows = list(found)
    if args.locales:
        wanted = parse_locales(args.locales)
        absent = [loc for loc in wanted if loc not in found]
        if absent:
            raise MissingInputError(
                f"No model under {args.models_root} for {', '.join(absent)} (have: {', '.join(found)})."
            )
        rows = wanted
    cols = parse_locales(args.eval_locales) if args.eval_locales else list(rows)
    report_to = opts.report_to(args)  # wandb importable, before any model is run
    config = NxNConfig(opts.data_selection(args), opts.runtime(args))
    if args.resume:
        # "latest" = the latest run on the same data (a validation matrix is not resumed as a test one)
        if args.resume == "latest":
            out = latest_run_dir(args.output_root, config.data_identity())
        else:
            out = Path(args.resume)
        if out is None or not (out / MATRIX_FILE).is_file():
            data = ", ".join(f"{k} {v}" for k, v in config.data_identity().items() if v is not None)
            where = out or f"{args.output_root}/nxn_eval_* computed on {data}"
            raise NxNError(
                f"Nothing to resume: no {MATRIX_FILE} in {where} (a run stopped before its first model row "
                "keeps nothing to resume); run the same command without --resume."
            )
    else:
        out = new_run_dir(args.output_root)
    check_writable(out, "--output-root")
    for loc in rows:  # an unreadable model folder or data file is an error before anything is written
        check_model_folder(found[loc])
    for loc in cols:
        load_selection(config.selection(loc))
    cache = opts.logits_cache(args)
    try:
        run = run_nxn(
            {loc: found[loc] for loc in rows},
            cols,
            config,
            out,
            cache,
            resume=bool(args.resume),
            progress=opts.show_progress(args),
            heatmap=not args.no_heatmap,
        )
    except Exception as exc:  # a new run that stops on a user error leaves no partial matrix (the cache keeps
        if not args.resume and opts.is_user_error(exc):  # the rows it computed)
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(run.accuracy.to_string(float_format=lambda v: f"{v:.4f}"))
    print(
        f"models loaded: {len(run.models_loaded)}  forward passes: {run.forward_passes}  "
        f"cells from cache: {run.cells_from_cache}  cells kept from the earlier run: {run.cells_reused}"
    )
    print(f"matrix: {out / MATRIX_FILE}")
    from merginguriel.outputs.tracking import log_nxn

    log_dir = log_nxn(out, run.accuracy, run.macro_f1, config.data_identity(), report_to, args.wandb_project)
    print(f"tensorboard: tensorboard --logdir {log_dir}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
