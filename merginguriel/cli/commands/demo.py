"""``merginguriel demo``: the offline end-to-end demo on the built-in corpus (see :mod:`merginguriel.demo.encoder`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.demo.encoder import DemoConfig, run_demo
from merginguriel.errors import UserError
from merginguriel.generative.tiny import FAMILIES
from merginguriel.merging.catalogue import check_mode, merge_modes

EXAMPLE = "example: merginguriel demo --target-lang af-ZA --modes similarity average ties"


def quiet_libraries() -> None:
    """Keep the demo's output to its own progress lines: no load reports, no dataset progress bars."""
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.disable_progress_bar()
    logging.getLogger("merginguriel").setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "merginguriel demo",
        "Offline end-to-end demo: train small models on the built-in corpus, merge, evaluate, compare.\n"
        "merginguriel demo --generative runs the same flow with a tiny decoder LM (--task generative).",
        EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target-lang", default="af-ZA", help="Target locale (default af-ZA).")
    p.add_argument(
        "--num-languages", type=opts.positive_int, default=3, help="Sources per merge (default 3)."
    )
    p.add_argument(
        "--modes",
        nargs="+",
        default=["similarity", "average", "ties"],
        help="Merge modes (default similarity average ties).",
    )
    p.add_argument(
        "--generative",
        action="store_true",
        help="Decoder LMs instead of encoders: --task generative models fine-tuned from a tiny random decoder built "
        "offline (see docs/generative.md).",
    )
    p.add_argument(
        "--family",
        choices=FAMILIES,
        default=None,
        help="--generative: the tiny decoder's family (default llama).",
    )
    p.add_argument(
        "--base-model",
        default=None,
        help="Pretrained encoder folder (default: the packaged MiniLM-L6); with --generative a local causal-LM "
        "folder (default: a tiny decoder built in {workdir}/pretrained).",
    )
    p.add_argument(
        "--locales", default=None, help="Comma-separated locales to train (default: all built-in locales)."
    )
    p.add_argument(
        "--workdir", default=".", help="Root for haryos_model/, merged_models/, results/, plots/ (default .)."
    )
    p.add_argument("--epochs", type=opts.positive_float, help="Training epochs per locale (default 4; --generative 12).")  # fmt: skip
    p.add_argument(
        "--learning-rate", type=float, default=None, help="Learning rate (default 3e-4; --generative 3e-3)."
    )
    p.add_argument(
        "--batch-size",
        type=opts.positive_int,
        default=None,
        help="Training batch size (default 16; --generative 32).",
    )
    p.add_argument(
        "--max-train-samples", type=opts.positive_int, help="Training rows per locale (default all)."
    )
    p.add_argument("--retrain", action="store_true", help="Retrain models that exist already.")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--verbose", action="store_true", help="Show the libraries' logs and progress bars too.")
    return p


def demo_config(args: argparse.Namespace) -> DemoConfig:
    """The demo's configuration from its flags (the generative demo's own defaults for what is not given)."""
    fields = dict(
        target=args.target_lang, num_languages=args.num_languages, modes=list(args.modes), base_model=args.base_model,
        locales=args.locales.split(",") if args.locales else None, workdir=args.workdir,
        max_train_samples=args.max_train_samples, retrain=args.retrain, seed=args.seed,
    )  # fmt: skip
    fields.update(
        {
            k: v
            for k, v in (
                ("epochs", args.epochs),
                ("learning_rate", args.learning_rate),
                ("batch_size", args.batch_size),
            )
            if v is not None
        }
    )
    for mode in fields["modes"]:  # an unknown mode is an error now, not after the models are trained
        check_mode(mode, merge_modes(), "--modes")
    if not args.generative:
        if args.family:
            raise UserError("--family chooses the tiny decoder of the generative demo; add --generative.")
        return DemoConfig(**fields)
    from merginguriel.demo.generative import GenerativeDemoConfig

    return GenerativeDemoConfig(**fields, family=args.family or "llama")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if not args.verbose:
        quiet_libraries()
    config = demo_config(args)
    if args.generative:
        from merginguriel.demo.generative import run_generative_demo

        result = run_generative_demo(config)
    else:
        result = run_demo(config)
    table = result.table
    print(f"\nComparison on {config.target} test ({int(table['total'].iloc[0])} examples):")
    columns = ["model", "kind", "accuracy", "macro_f1", "sources"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\ntable: {result.csv}\nplot: {result.png}\ndone in {result.seconds:.0f} s")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
