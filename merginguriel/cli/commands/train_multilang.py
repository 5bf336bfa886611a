"""``merginguriel train-lolo`` / ``run_multilang_training.py``: leave-one-language-out and all-language models.

Examples::

    python merginguriel/run_multilang_training.py --exclude af-ZA            # -> {base}_massive_LOLO_without_af_ZA
    python merginguriel/run_multilang_training.py --super-model              # -> {base}_massive_LOLO_all_languages
    python merginguriel/run_multilang_training.py --all-lolo --additional-args --use_lora --num_train_epochs 2
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli.commands.train import add_training_options
from merginguriel.cli.options import (
    add_training_run_args,
    command_parser,
    run_main,
    setup_logging,
    show_progress,
    training_data,
    training_options,
)
from merginguriel.outputs.atomic import check_writable, is_complete, write_json_atomic
from merginguriel.training.data import check_readable
from merginguriel.training.multilang import MultilangJob, locale_pool, run_all_lolo, run_job, training_locales

EXAMPLE = "example: merginguriel train-lolo --exclude af-ZA --epochs 2"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "run_multilang_training.py",
        "Train multi-language intent classifiers: leave one language out (LOLO) or all languages.",
        EXAMPLE,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--exclude", metavar="LOCALE", help="Train on every locale but this one (LOLO).")
    what.add_argument("--super-model", action="store_true", help="Train one model on all locales.")
    what.add_argument("--all-lolo", action="store_true", help="Train one LOLO model per locale, in sequence.")
    p.add_argument(
        "--locales",
        default=None,
        help="Comma-separated locale pool (default: every locale of a local dataset, or all 52 MASSIVE locales).",
    )
    add_training_run_args(p)
    p.add_argument("--overwrite", action="store_true", help="Retrain models that exist already.")
    p.add_argument(
        "--summary",
        default=None,
        help="Where --all-lolo writes its JSON summary (default {models-root}/lolo_summary.json).",
    )
    p.add_argument("--no-progress", action="store_true", help="No progress bars.")
    add_training_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    pool = locale_pool(args.dataset_name, args.locales)
    # user errors before any training: the locales must be in the dataset, the base model must load
    from merginguriel.training.trainer import check_dataset_locales, check_model_source

    check_dataset_locales(args.dataset_name, training_locales(pool, args.exclude))
    if (
        not args.all_lolo
    ):  # one job: its data is read before training (--all-lolo records a failing job and goes on)
        check_readable(args.dataset_name, [(loc, "train") for loc in training_locales(pool, args.exclude)],
                       args.text_column)  # fmt: skip
    check_model_source(args.base_model, "--base-model")
    check_writable(args.models_root, "--models-root")
    common = dict(
        base_model=args.base_model, models_root=args.models_root, pool=pool, data=training_data(args),
        training=training_options(args), overwrite=args.overwrite, progress=show_progress(args),
    )  # fmt: skip
    if not args.all_lolo:
        job = MultilangJob(excluded=args.exclude, **common)
        result = run_job(job)
        print(
            f"trained on {len(result['locales'])} locales ({', '.join(result['locales'])}): {result['output_dir']}"
        )
        return 0
    started = time.time()
    jobs, skipped = [], []
    for loc in pool:
        job = MultilangJob(excluded=loc, **common)
        if is_complete(job.output_dir) and not args.overwrite:
            skipped.append(loc)
        else:
            jobs.append(job)
    summary = run_all_lolo(jobs, progress=show_progress(args))
    summary["skipped_existing"] = skipped
    summary["pool"] = pool
    summary["seconds"] = round(time.time() - started, 1)
    path = Path(args.summary) if args.summary else Path(args.models_root) / "lolo_summary.json"
    write_json_atomic(path, summary)
    print(
        f"LOLO: {len(summary['succeeded'])} succeeded, {len(summary['failed'])} failed, "
        f"{len(skipped)} skipped (exist already) of {len(pool)} locales"
    )
    for run in summary["runs"]:
        if run["status"] != "ok":
            print(f"  failed without {run['excluded']}: {run['error']}")
    print(f"summary: {path}")
    print(json.dumps({"succeeded": summary["succeeded"], "failed": summary["failed"]}))
    return 1 if summary["failed"] else 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
