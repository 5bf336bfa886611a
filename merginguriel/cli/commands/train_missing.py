"""``merginguriel fill-missing`` / ``train_missing_models.py``: train the per-locale models that are missing.

Examples::

    python merginguriel/train_missing_models.py --dry-run                       # list what would be trained
    python merginguriel/train_missing_models.py --mapping-csv model_mapping_unified.csv --max 5 --fp16
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from merginguriel.cli import options as opts
from merginguriel.cli.commands.train import add_training_options, command_line
from merginguriel.data.locales import ALL_LOCALES, parse_locales
from merginguriel.errors import UserError
from merginguriel.outputs.atomic import write_json_atomic
from merginguriel.training.missing_models import (
    MissingModelTraining,
    mapping_locales,
    missing_locales,
    train_missing,
)

EXAMPLE = "example: merginguriel fill-missing --dry-run --max 5"


def build_parser() -> argparse.ArgumentParser:
    p = opts.command_parser(
        "train_missing_models.py",
        "Find the locales without a model under the models root and train them, one after the other.",
        EXAMPLE,
    )
    p.add_argument(
        "--mapping-csv",
        default=None,
        help="Model-mapping CSV whose 'locale' column lists the wanted "
        "locales (default: all 52 MASSIVE locales).",
    )
    p.add_argument(
        "--locales", default=None, help="Comma-separated locales to consider (within the mapping)."
    )
    p.add_argument("--dry-run", action="store_true", help="Only print what would be trained.")
    p.add_argument("--max", type=opts.positive_int, default=None, metavar="N", help="Train at most N models.")
    opts.add_training_run_args(p, seed=False, train_samples=False, batch_size_alias="--train-bs")
    p.add_argument(
        "--eval-bs", type=opts.positive_int, default=64, help="Per-device evaluation batch size (default 64)."
    )
    p.add_argument("--fp16", action="store_true", help="Train in fp16 (CUDA only).")
    p.add_argument("--summary", default=None, help="Write a JSON summary here.")
    add_training_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opts.setup_logging()
    wanted = mapping_locales(args.mapping_csv) if args.mapping_csv else list(ALL_LOCALES)
    if args.locales:
        chosen = parse_locales(args.locales)
        outside = [loc for loc in chosen if loc not in wanted]
        if outside:
            raise UserError(f"--locales {', '.join(outside)} not in the mapping {args.mapping_csv}.")
        wanted = chosen
    from merginguriel.data.massive import local_locales, resolve_dataset
    from merginguriel.training.trainer import check_model_source

    check_model_source(args.base_model, "--base-model", hub=not args.dry_run)  # a dry run needs no network
    missing = missing_locales(args.models_root, args.base_model, wanted)
    print(
        f"{len(wanted) - len(missing)} of {len(wanted)} locales have a model under {args.models_root}; "
        f"{len(missing)} missing: {', '.join(missing) or '-'}"
    )
    source = resolve_dataset(args.dataset_name)
    no_data: list[str] = []
    if source.kind == "local":  # a local folder (or the built-in corpus) may hold only some locales
        have = set(local_locales(source.location))
        no_data = [loc for loc in missing if loc not in have]
        if no_data:
            print(f"not in dataset {args.dataset_name}, so not trained: {', '.join(no_data)}")
    trainable = [loc for loc in missing if loc not in no_data]
    todo = trainable[: args.max] if args.max is not None else trainable
    training = MissingModelTraining(
        base_model=args.base_model, models_root=args.models_root, data=opts.training_data(args),
        training=opts.training_options(args), eval_batch_size=args.eval_bs, fp16=args.fp16,
    )  # fmt: skip
    if args.dry_run:
        for loc in todo:
            print(f"would train {loc}: {command_line(training.fields(loc))}")
        return 0
    done, failed = train_missing(training, todo)
    print(f"trained {len(done)}: {', '.join(done) or '-'}; failed {len(failed)}")
    for loc, err in failed.items():
        print(f"  {loc}: {err}")
    if args.summary:
        write_json_atomic(
            args.summary,
            {"wanted": wanted, "missing": missing, "no_data": no_data, "trained": done, "failed": failed},
        )
    return 1 if failed else 0


def run(argv: Sequence[str] | None = None) -> int:
    return opts.run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
