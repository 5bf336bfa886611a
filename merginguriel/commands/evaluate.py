"""``merginguriel evaluate`` / ``evaluate_specific_model.py``: accuracy and macro-F1 of one model on a locale."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli_options import add_data_args, add_runtime_args, resolve_device, run_main, setup_logging
from merginguriel.evaluation import evaluate_model, performance_line
from merginguriel.locales import validate_locale
from merginguriel.outputs import OutputExistsError, write_json_atomic


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate_specific_model.py",
        description="Evaluate a sequence-classification model folder on one MASSIVE locale's split.",
    )
    p.add_argument(
        "--model-path", "--base-model", dest="model_path", required=True, help="Model folder (or hub id)."
    )
    p.add_argument(
        "--locale", "--target-lang", dest="locale", required=True, help="Locale to evaluate on, e.g. af-ZA."
    )
    p.add_argument(
        "--results-root", default="results", help="Parent of the results folder (default ./results)."
    )
    p.add_argument(
        "--output-name", help="Results folder name (default eval_{model folder}_{locale}_{split})."
    )
    p.add_argument("--max-samples", type=int, default=None, help="Evaluate on the first N rows only.")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing results.json.")
    add_data_args(p, split="test")
    add_runtime_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    locale = validate_locale(args.locale)
    name = (
        args.output_name
        or f"eval_{Path(str(args.model_path).rstrip('/')).name}_{locale}_{args.dataset_split}"
    )
    out = Path(args.results_root) / name / "results.json"
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out} exists already. Pass --overwrite to replace it.")
    device = resolve_device(args.device)
    results = evaluate_model(
        args.model_path,
        args.dataset_name,
        locale,
        args.dataset_split,
        args.text_column,
        args.batch_size,
        args.max_seq_length,
        device,
        args.max_samples,
    )
    write_json_atomic(out, results)
    print(f"{locale} {args.dataset_split}: {performance_line(results['performance'])}")
    print(f"results: {out}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
