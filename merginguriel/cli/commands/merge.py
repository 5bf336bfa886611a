"""``merginguriel merge`` / ``run_merging_pipeline_refactored.py``: select sources for a target, merge, evaluate."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.metrics import performance_line
from merginguriel.experiments.selection.recipe import read_recipe, recipe_request
from merginguriel.merging.catalogue import (
    check_mode,
    engine_method,
    merge_modes,
    needs_statistics,
    resolve_preset,
)
from merginguriel.merging.experiment import MergeOutputs, run_merge_experiment
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.merging.naming import check_output_name
from merginguriel.merging.pipeline import MergeRequest, plan_merge
from merginguriel.similarity.selection import describe_sources

EXAMPLE = (
    "example: merginguriel merge --mode ties --target-lang af-ZA --num-languages 5 "
    "--dataset-name ../shared/massive --density 0.3"
)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "run_merging_pipeline_refactored.py",
        "Merge models fine-tuned on source locales into a model for a target locale, then evaluate it.",
        EXAMPLE,
    )
    p.add_argument("--mode", default="similarity", help="Merge mode (see --list-modes).")
    p.add_argument("--target-lang", dest="target", help="Target locale, e.g. af-ZA.")
    opts.add_deprecated(p, "--target", "--target-lang", "target")
    p.add_argument(
        "--list-modes", action="store_true", help="List merge modes with one-line descriptions and exit."
    )
    opts.add_source_args(p)
    opts.add_preset_args(p)
    p.add_argument(
        "--recipe",
        help="A recipe.json written by `merginguriel select`: its mode, sources, weights and parameters replace "
        "--mode/--num-languages/--weights/method flags (chosen on dev data; see docs/selection.md).",
    )
    p.add_argument(
        "--output-name", help="Merged model folder name (default {mode}_merge_{target}_{N}merged)."
    )
    p.add_argument("--no-eval", action="store_true", help="Only merge; skip the evaluation on the target.")
    opts.add_similarity_args(p, num_languages=5)
    opts.add_model_args(p)
    opts.add_data_args(p, split="test", max_samples=True)
    opts.add_statistics_args(p)
    opts.add_output_args(p, merged=True, results=True)
    opts.add_runtime_args(p)
    opts.add_method_args(p)
    opts.add_hub_args(p)
    return p


def request_from_args(args: argparse.Namespace) -> MergeRequest:
    """The merge request of the parsed flags (mode checked, preset applied, parameters validated)."""
    preset = resolve_preset(args.preset, args.fisher_data, args.preweight)
    if args.recipe:
        statistics = opts.statistics_options(args, preset["fisher_data"], args.batch_size)
        return recipe_request(
            read_recipe(args.recipe), args.target, args.models_root, args.base_model, statistics, args.seed
        )
    check_mode(args.mode, merge_modes())
    method = engine_method(args.mode)
    return MergeRequest(
        mode=args.mode,
        target=args.target,
        sources=opts.source_selection(args, preset["preweight"]),
        method_params=opts.method_params(args).for_mode(args.mode, strict=True),
        head_merge=args.head_merge,
        statistics=opts.statistics_options(args, preset["fisher_data"], args.batch_size)
        if needs_statistics(method)
        else None,
        seed=args.seed,
        layer_weights=LayerWeights.parse(args.layer_weights),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    if args.list_modes:
        for name, text in merge_modes().items():
            print(f"{name:<16} {text}")
        return 0
    if not args.target:
        parser.error("--target-lang is required (e.g. --target-lang af-ZA)")
    if args.output_name is not None:  # a bad name is an error before the sources are even chosen
        check_output_name(args.output_name)
    opts.check_hub(args)  # offline / not logged in: fail now, not after the merge
    run = opts.runtime(args, progress=True)
    plan = plan_merge(request_from_args(args))
    name = args.output_name if args.output_name is not None else plan.name
    outputs = MergeOutputs.under(args.merged_models_root, None if args.no_eval else args.results_root, name)
    outputs.check_free(args.overwrite, plan.key)
    print(f"Target {plan.target}: {plan.mode} merge (method {plan.method}) of {len(plan.sources)} sources")
    for s in plan.sources:
        print(f"  {s.locale:<7} weight {s.weight:.4f}  {s.path}")
    print(f"  weights: {describe_sources(plan.sources)}")
    for group, weights in plan.layer_weights.items():
        print(
            f"  {group} weights: " + ", ".join(f"{s.locale} {w:.4f}" for s, w in zip(plan.sources, weights))
        )
    for note in plan.notes:
        print(f"  note: {note}")
    evaluation = None if args.no_eval else opts.data_selection(args)
    outcome = run_merge_experiment(
        plan,
        outputs,
        evaluation,
        run,
        "merge",
        {"preset": args.preset, "recipe": args.recipe, "output_name": args.output_name},
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"merged model: {outputs.merged_dir}")
    if outcome.results is not None:
        print(f"{plan.target} {args.dataset_split}: {performance_line(outcome.results['performance'])}")
        print(f"results: {outputs.results_dir / 'results.json'}")
    opts.push_to_hub(args, outputs.merged_dir)  # complete, with its card (and the evaluation, if it ran)
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


__all__ = ["build_parser", "main", "request_from_args", "run"]

if __name__ == "__main__":
    raise SystemExit(run())
