"""``merginguriel iterative`` / ``run_iterative_training.py``: training interleaved with merging.

Examples::

    python merginguriel/run_iterative_training.py --target-lang af-ZA --locales de-DE,nl-NL,en-US \\
        --merge-frequency 1 --max-epochs 3 --mode similarity
    python merginguriel/run_iterative_training.py --target-lang af-ZA --num-languages 3 --mode ties \\
        --performance-merge-trigger --convergence-threshold 0.005 --max-epochs 6
    # after a crash: run the same command again; it resumes from state_summary.json
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli import options as opts
from merginguriel.cli.commands.train import add_trainer_overrides, explicit_fields
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import parse_locales, validate_locale
from merginguriel.errors import UserError
from merginguriel.merging.catalogue import check_mode, merge_modes
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.outputs.atomic import check_writable
from merginguriel.similarity.selection import parse_weights
from merginguriel.training.data import check_readable
from merginguriel.training.iterative import IterativeConfig, IterativeTrainer, select_source_locales
from merginguriel.training.multilang import locale_pool

EXAMPLE = "example: merginguriel iterative --target-lang af-ZA --locales de-DE,nl-NL,en-US --mode ties --max-epochs 3"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("run_iterative_training.py", __doc__.split("\n\n")[0], EXAMPLE)
    p.add_argument("--target-lang", required=True, help="Target locale the sources are merged for.")
    p.add_argument(
        "--locales",
        default=None,
        help="Comma-separated source locales (default: the --num-languages "
        "most similar to the target among the dataset's locales).",
    )
    p.add_argument(
        "--mode",
        default="similarity",
        help="Merge mode: similarity, average, uriel, manual or any auto_merge_llm method (ties, dare, …).",
    )
    p.add_argument("--weights", default=None, help="Manual weights LOCALE=W,… (mode manual).")
    p.add_argument(
        "--num-fisher-examples",
        type=opts.positive_int,
        default=100,
        help="Training examples per source for the statistics of fisher / regmean merges (default 100).",
    )
    p.add_argument(
        "--merge-frequency",
        type=opts.positive_int,
        default=1,
        help="Epochs of training between merges (default 1).",
    )
    p.add_argument(
        "--checkpoint-before-merge",
        action="store_true",
        help="Keep every source model as it was before each merge ({locale}/checkpoints/).",
    )
    p.add_argument(
        "--adaptive-merge-frequency",
        action="store_true",
        help="Double the epochs between merges when the target accuracy plateaus, halve back when it improves.",
    )
    p.add_argument(
        "--performance-merge-trigger",
        action="store_true",
        help="Train one epoch at a time and merge when the sources' mean dev accuracy plateaus.",
    )
    p.add_argument(
        "--convergence-threshold",
        type=float,
        default=0.001,
        help="Improvement below which the metric counts as a plateau (default 0.001).",
    )
    opts.add_renamed(p, "--dataset-split", "--eval-split", "eval_split",
                     "Target split evaluated every cycle (default validation).", default="validation")  # fmt: skip
    p.add_argument(
        "--output-dir", default=None, help="Run folder (default iterative_results/{mode}_{target})."
    )
    opts.add_training_run_args(p, eval_samples=True, epochs_alias="--max-epochs")  # epochs: total per source
    opts.add_runtime_args(p, progress=True, inference=False)
    p.add_argument(
        "--overwrite", action="store_true", help="Discard an existing run in --output-dir and start again."
    )
    opts.add_model_args(p)
    opts.add_data_args(p, split=None)
    opts.add_similarity_args(p, num_languages=3)
    opts.add_method_args(p)
    add_trainer_overrides(p)
    return p


def check_merge_mode(mode: str, has_weights: bool) -> None:
    """An unknown ``--mode`` (or ``manual`` without ``--weights``) is an error before any training."""
    check_mode(mode, merge_modes())
    if mode in ("manual", "linear") and not has_weights:
        raise UserError(f"--mode {mode} needs --weights LOCALE=WEIGHT,... (e.g. de-DE=0.5,nl-NL=0.5).")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    target = validate_locale(args.target_lang)
    check_merge_mode(args.mode, bool(args.weights))
    similarity = opts.similarity_options(args)
    weights = parse_weights(args.weights) if args.weights else None
    if weights:
        locales = list(weights)
    elif args.locales:
        locales = parse_locales(args.locales)
        from merginguriel.similarity.matrix import source_weights

        # the target's similarity weights, now rather than after the first cycle's training
        source_weights(target, similarity.load(), locales)
    else:
        pool = locale_pool(args.dataset_name)
        locales = select_source_locales(target, args.num_languages, similarity, candidates=pool)
        print(f"sources for {target} (top {args.num_languages} by similarity): {', '.join(locales)}")
    method_params = opts.method_params(args).for_mode(args.mode, strict=True)
    config = IterativeConfig(
        target=target, locales=locales,
        output_dir=args.output_dir or str(Path("iterative_results") / f"{args.mode}_{target}"),
        base_model=args.base_model, data=opts.training_data(args), training=opts.training_options(args),
        mode=args.mode, similarity=similarity, weights=weights, method_params=method_params,
        head_merge=args.head_merge, layer_weights=LayerWeights.parse(args.layer_weights),
        num_fisher_examples=args.num_fisher_examples,
        merge_frequency=args.merge_frequency, checkpoint_before_merge=args.checkpoint_before_merge,
        adaptive_merge_frequency=args.adaptive_merge_frequency, performance_merge_trigger=args.performance_merge_trigger,
        convergence_threshold=args.convergence_threshold, eval_split=args.eval_split,
        runtime=opts.training_runtime(args),
    )  # fmt: skip
    # user errors before anything is written: every locale in the dataset, a loadable base model
    from merginguriel.training.trainer import check_dataset_locales, check_model_source

    check_dataset_locales(args.dataset_name, [*config.locales, config.target])
    check_readable(args.dataset_name, [*((loc, "train") for loc in config.locales), (config.target, config.eval_split)],
                   args.text_column)  # fmt: skip
    check_model_source(config.base_model, "--base-model")
    check_writable(config.output_dir, "--output-dir")
    trainer = IterativeTrainer(config, overwrite=args.overwrite, parse_trainer_flags=explicit_fields)
    state = trainer.run()
    print(
        f"{state['cycles_completed']} cycles, {state['epochs_done']} epochs; per cycle on {target} {args.eval_split}:"
    )
    for record in trainer.history:
        print(
            f"  cycle {record['cycle']}: accuracy {record['target_accuracy']:.4f}  macro-F1 "
            f"{record['target_macro_f1']:.4f}  ({record['merge_trigger']})"
        )
    print(f"final model: {Path(config.output_dir) / 'final_merged_model'}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
