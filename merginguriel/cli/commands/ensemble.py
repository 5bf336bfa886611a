"""``merginguriel ensemble`` / ``uriel_ensemble_inference.py``: vote over the source models chosen for a target."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.metrics import performance_line
from merginguriel.merging.ensemble import VOTING_METHODS, EnsembleRequest, run_ensemble
from merginguriel.similarity.selection import SourceModel, describe_sources

VOTING_HELP = (
    "majority: most votes, ties to the most similar source; weighted_majority: sum of source weights per "
    "predicted class; soft: weighted mean of softmax; uriel_logits: weighted sum of raw logits; all: every one."
)
EXAMPLE = "example: merginguriel ensemble --target-lang af-ZA --num-languages 3 --voting-method all --dataset-name builtin"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "uriel_ensemble_inference.py",
        "Ensemble the predictions of the source models selected for a target locale (no merging).",
        EXAMPLE,
    )
    p.add_argument("--target-lang", dest="target", help="Target locale, e.g. af-ZA (required).")
    opts.add_deprecated(p, "--target", "--target-lang", "target")
    p.add_argument(
        "--voting-method",
        dest="voting_methods",
        nargs="+",
        default=["majority"],
        choices=[*VOTING_METHODS, "all"],
        help=VOTING_HELP,
    )
    opts.add_source_args(p)
    opts.add_similarity_args(p, num_languages=5)
    opts.add_model_args(p)
    opts.add_data_args(p, split="test", max_samples=True)
    opts.add_cache_args(p)
    opts.add_output_args(p, results=True)
    opts.add_runtime_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    opts.require(parser, args, ("target", "--target-lang"))
    setup_logging()
    methods = (
        list(VOTING_METHODS) if "all" in args.voting_methods else list(dict.fromkeys(args.voting_methods))
    )
    request = EnsembleRequest(
        target=args.target,
        voting_methods=methods,
        sources=opts.source_selection(args),
        data=opts.data_selection(args),
        runtime=opts.runtime(args, progress=True),
        cache_dir=None if args.no_cache else args.logits_cache,
        results_root=args.results_root,
        overwrite=args.overwrite,
    )
    written = run_ensemble(request)
    first = written[0][1]["merge_details"]
    print(f"Target {first['target']}: ensemble of {len(first['sources'])} sources")
    for s in first["sources"]:
        print(f"  {s['locale']:<7} weight {s['weight']:.4f}  {s['path']}")
    print(
        f"  weights: {describe_sources([SourceModel(s['locale'], s['path'], s['weight']) for s in first['sources']])}"
    )
    for out, results in written:
        method = results["merge_details"]["voting_method"]
        print(f"{method:<18} {performance_line(results['performance'])}  -> {out / 'results.json'}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
