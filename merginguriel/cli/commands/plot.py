"""``merginguriel plot`` / ``plot_results.py``: plots from a results_comprehensive_*.csv."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.errors import MissingInputError
from merginguriel.experiments.result_plots import latest_csv, plot_comprehensive

EXAMPLE = "example: merginguriel plot --results-dir results --plots-dir plots"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "plot_results.py",
        "Per method: accuracy vs the four baselines, and improvement vs average zero-shot, best "
        "zero-shot and best source (the fair comparison). PNGs and advanced_analysis_summary_*.csv in --plots-dir.",
        EXAMPLE,
    )
    p.add_argument("--csv-file", help="A results_comprehensive_*.csv (default: the latest in --results-dir).")
    p.add_argument(
        "--results-dir", default=".", help="Where aggregate_results.py wrote its CSVs (default .)."
    )
    p.add_argument("--list-csv", action="store_true", help="List the comprehensive CSVs found, and exit.")
    p.add_argument("--plots-dir", default="plots", help="Output folder (default ./plots).")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.list_csv:
        files = sorted(Path(args.results_dir).glob("results_comprehensive_*.csv"))
        if not files:
            print(f"No results_comprehensive_*.csv in {args.results_dir}.")
        for f in files:
            print(f)
        return 0
    csv_file = Path(args.csv_file) if args.csv_file else latest_csv(args.results_dir)
    if csv_file is None:
        raise MissingInputError(
            f"No results_comprehensive_*.csv in {args.results_dir}; run aggregate_results.py first."
        )
    if not csv_file.is_file():
        raise MissingInputError(f"{csv_file} not found.")
    made = plot_comprehensive(csv_file, args.plots_dir)
    print(f"plotted {csv_file}: {len(made['plots'])} PNGs in {args.plots_dir}")
    print(f"summary: {made['summary']}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
