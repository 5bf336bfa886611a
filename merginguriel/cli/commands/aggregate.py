"""``merginguriel aggregate`` / ``aggregate_results.py``: results folders -> baselines, win rates, reports."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from merginguriel.cli.options import add_locales_arg, add_renamed, command_parser, run_main, setup_logging
from merginguriel.data.locales import parse_locales
from merginguriel.experiments.aggregation import aggregate

EXAMPLE = "example: merginguriel aggregate --results-root results --locales af-ZA de-DE --show-missing"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "aggregate_results.py",
        "Aggregate results/*/results.json with the NxN baselines (native, best source, best and "
        "average zero-shot) into CSV, JSON and Markdown reports.",
        EXAMPLE,
    )
    p.add_argument(
        "--results-root",
        "--results-dir",
        dest="results_root",
        default="results",
        help="Folder of result folders (default ./results).",
    )
    add_renamed(p, "--nxn-matrix", "--evaluation-matrix", "evaluation_matrix",
                "NxN evaluation_matrix.csv (default: the latest under --nxn-root).")  # fmt: skip
    p.add_argument(
        "--nxn-root", default="nxn_results", help="Where nxn_eval_* folders are (default ./nxn_results)."
    )
    p.add_argument("--output-dir", default=".", help="Where the timestamped outputs go (default .).")
    add_locales_arg(p, "--locales", "Only these target locales")
    p.add_argument("--experiment-types", nargs="+", help="Only these methods/modes (e.g. similarity ties).")
    p.add_argument("--no-baselines", action="store_true", help="Skip the NxN baselines and win rates.")
    p.add_argument("--show-missing", action="store_true", help="Print missing and failed experiments.")
    p.add_argument("--verbose", action="store_true", help="Debug logging and the per-experiment table.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    locales = parse_locales(",".join(args.locales)) if args.locales else None
    types = [t for item in args.experiment_types or [] for t in item.split(",") if t]
    result = aggregate(
        args.results_root,
        args.output_dir,
        args.evaluation_matrix,
        args.nxn_root,
        locales,
        types or None,
        baselines=not args.no_baselines,
    )
    summary = result.summary
    print(
        f"{summary['num_experiments']} experiments, {len(summary['locales'])} locales, "
        f"methods: {', '.join(summary['methods']) or 'none'}"
    )
    print(f"NxN matrix: {summary['evaluation_matrix']}")
    if args.verbose and len(result.comprehensive):
        cols = [
            c
            for c in (
                "locale",
                "method",
                "accuracy",
                "native",
                "best_source",
                "best_zero_shot",
                "avg_zero_shot",
            )
            if c in result.comprehensive
        ]
        print(result.comprehensive[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for method, by_base in result.wins.items():
        rates = "  ".join(f"{b} {v['wins']}/{v['n']}" for b, v in by_base.items() if v["n"])
        print(f"  {method:<28} wins: {rates}")
    if args.show_missing:
        missing = summary["missing"]
        print(f"missing or failed: {len(missing)}")
        for m in missing:
            print(
                f"  {m['locale']:<7} {m['method']:<28} {m['status']}"
                + (f"  {m['error']}" if m["error"] else "")
            )
    for kind, path in result.paths.items():
        print(f"{kind:<13} {path}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
