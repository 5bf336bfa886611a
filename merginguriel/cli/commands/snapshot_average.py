"""``merginguriel snapshot-avg`` / ``run_snapshot_averaging.py``: accumulative snapshot averaging (One-For-All).

Trains several runs on the source language(s) (``--seeds`` and/or ``--learning-rates``), saves snapshots
during each, averages them within runs and then cumulatively across runs in a seeded random order, and
compares every average with the best single snapshot by source dev accuracy. Example::

    python merginguriel/run_snapshot_averaging.py --source-locales en-US --target-lang de-DE \\
        --seeds 1,2,3,4 --learning-rates 2e-5,3e-5,5e-5,7e-5 --epochs 3 --snapshot-steps 200
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli import options as opts
from merginguriel.cli.commands.train import add_training_options
from merginguriel.cli.options import (
    add_renamed,
    add_runtime_args,
    add_training_run_args,
    command_parser,
    run_main,
    setup_logging,
    training_data,
    training_options,
    training_runtime,
)
from merginguriel.errors import UserError
from merginguriel.outputs.atomic import check_writable
from merginguriel.training.data import check_readable
from merginguriel.training.snapshot_averaging import SnapshotAveraging, SnapshotConfig


def _numbers(kind: type, text: str) -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{text!r} is not a comma-separated list of numbers.") from None


EXAMPLE = "example: merginguriel snapshot-avg --source-locales en-US --target-lang de-DE --epochs 2"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("run_snapshot_averaging.py", __doc__.split("\n\n")[0], EXAMPLE)
    p.add_argument(
        "--source-locales", default="en-US", help="Comma-separated training locales (default en-US)."
    )
    p.add_argument("--target-lang", required=True, help="Target locale to evaluate on.")
    add_renamed(p, "--dataset-split", "--target-split", "target_split", "Target split (default test).",
                default="test")  # fmt: skip
    p.add_argument("--seeds", default="1,2,3", help="Comma-separated seeds, one per run (default 1,2,3).")
    p.add_argument(
        "--learning-rates", default="5e-5", help="Comma-separated learning rates: one, or one per run."
    )
    p.add_argument("--snapshot-steps", type=opts.positive_int, help="Snapshot every N steps (default: every epoch).")  # fmt: skip
    add_training_run_args(p, learning_rate=False, seed=False, eval_samples=True)  # seeds, rates: per run
    p.add_argument(
        "--order-seed", type=int, default=0, help="Seed of the order in which runs are accumulated."
    )
    p.add_argument("--output-dir", default=None, help="Default snapshot_averaging/{sources}_to_{target}.")
    add_runtime_args(p, progress=True, inference=False)
    add_training_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    sources = args.source_locales.replace(",", "+")
    config = SnapshotConfig(
        base_model=args.base_model, source_locales=args.source_locales, target=args.target_lang,
        output_dir=args.output_dir or str(Path("snapshot_averaging") / f"{sources}_to_{args.target_lang}"),
        data=training_data(args), training=training_options(args), seeds=_numbers(int, args.seeds),
        learning_rates=_numbers(float, args.learning_rates), snapshot_steps=args.snapshot_steps,
        order_seed=args.order_seed, target_split=args.target_split, runtime=training_runtime(args),
    )  # fmt: skip
    from merginguriel.training.trainer import check_dataset_locales, check_model_source

    check_dataset_locales(
        config.data.dataset_name, list(dict.fromkeys([*config.source_locales, config.target]))
    )
    check_readable(config.data.dataset_name, [*((loc, s) for loc in config.source_locales for s in ("train", "validation")),
                                              (config.target, config.target_split)], config.data.text_column)  # fmt: skip
    check_model_source(config.base_model, "--base-model")
    check_writable(config.output_dir, "--output-dir")
    summary = SnapshotAveraging(config).run()
    print(f"runs accumulated in order {summary['run_order']}:")
    print(f"{'model':<36} {'source dev':>10} {'target':>8} {'macro-F1':>8}")
    for row in summary["results"]:
        print(
            f"{row['model']:<36} {row['source_dev_accuracy']:>10.4f} {row['target_accuracy']:>8.4f} "
            f"{row['target_macro_f1']:>8.4f}"
        )
    out = Path(config.output_dir)
    print(f"table: {out / 'snapshot_averaging_results.csv'}\nplot: {out / 'snapshot_averaging_results.png'}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
