"""``merginguriel evaluate`` / ``evaluate_specific_model.py``: accuracy and macro-F1 of one model on a locale."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import validate_locale
from merginguriel.data.metrics import performance_line
from merginguriel.merging.naming import check_output_name, evaluation_name
from merginguriel.models.evaluation import evaluate_model
from merginguriel.outputs.atomic import OutputExistsError, check_writable, write_json_atomic

EXAMPLE = (
    "example: merginguriel evaluate --model-path haryos_model/xlm-roberta-base_massive_k_de-DE --locale af-ZA"
)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "evaluate_specific_model.py",
        "Evaluate a model folder (sequence classifier or generative decoder) on one MASSIVE locale's split.",
        EXAMPLE,
    )
    p.add_argument("--model-path", dest="model_path", help="Model folder (or hub id) to evaluate (required).")
    opts.add_deprecated(p, "--base-model", "--model-path", "model_path")
    p.add_argument("--locale", dest="locale", help="Locale to evaluate on, e.g. af-ZA (required).")
    opts.add_deprecated(p, "--target-lang", "--locale", "locale")
    p.add_argument(
        "--results-root", default="results", help="Parent of the results folder (default ./results)."
    )
    p.add_argument(
        "--output-name", help="Results folder name (default eval_{model folder}_{locale}_{split})."
    )
    p.add_argument("--overwrite", action="store_true", help="Replace an existing results.json.")
    p.add_argument(
        "--decoding",
        choices=["score", "trie"],
        default="score",
        help="Generative (decoder) models: score = argmax of the 60 label scores (default); trie = constrained "
        "generation over the label trie (best-first; the same predictions, not cached).",
    )
    opts.add_data_args(p, split="test", max_samples=True)
    opts.add_cache_args(p, on_by_default=False)
    opts.add_runtime_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    opts.require(parser, args, ("model_path", "--model-path"), ("locale", "--locale"))
    setup_logging()
    locale = validate_locale(args.locale)
    name = (
        check_output_name(args.output_name)
        if args.output_name is not None
        else evaluation_name(args.model_path, locale, args.dataset_split)
    )
    out = Path(args.results_root) / name / "results.json"
    check_writable(args.results_root, "--results-root")
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out} exists already. Pass --overwrite to replace it.")
    results = evaluate_model(
        args.model_path,
        opts.data_selection(args, locale),
        opts.runtime(args, progress=True),
        opts.logits_cache(args),
        decoding=args.decoding,
    )
    write_json_atomic(out, results)
    print(f"{locale} {args.dataset_split}: {performance_line(results['performance'])}")
    print(f"results: {out}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
