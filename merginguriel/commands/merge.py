"""``merginguriel merge`` / ``run_merging_pipeline_refactored.py``: select sources for a target, merge, evaluate."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli_options import (
    add_data_args,
    add_model_args,
    add_output_args,
    add_runtime_args,
    add_similarity_args,
    resolve_device,
    run_main,
    setup_logging,
    similarity_matrix_path,
)
from merginguriel.evaluation import evaluate_model
from merginguriel.merging import (
    LINEAR_MODES,
    MergeConfigError,
    MergeRequest,
    execute_merge,
    parse_weights,
    plan_merge,
)
from merginguriel.outputs import OutputExistsError, write_json_atomic

MODE_HELP = {
    "similarity": "top-K sources by URIEL similarity, similarity weights, linear merge",
    "average": "the same sources, equal weights, linear merge",
    "uriel": "sources named by --source-locales, weights from the similarity matrix, linear merge",
    "manual": "sources and weights from --weights LOCALE=W,..., linear merge",
    "linear": "alias of manual",
}


def available_modes() -> dict[str, str]:
    """Pipeline modes and one-line descriptions: the linear modes plus every auto_merge_llm method."""
    from auto_merge_llm import list_methods

    modes = dict(MODE_HELP)
    for info in list_methods():
        if info.name not in modes:
            modes[info.name] = f"auto_merge_llm method: {info.description}"
    return modes


def parse_method_params(items: Sequence[str]) -> dict:
    params = {}
    for item in items:
        if "=" not in item:
            raise MergeConfigError(f"--method-param {item!r} is not KEY=VALUE.")
        key, value = item.split("=", 1)
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_merging_pipeline_refactored.py",
        description="Merge models fine-tuned on source locales into a model for a target locale, then evaluate it.",
    )
    p.add_argument("--mode", default="similarity", help="Merge mode (see --list-modes).")
    p.add_argument("--target-lang", "--target", dest="target", help="Target locale, e.g. af-ZA.")
    p.add_argument(
        "--list-modes", action="store_true", help="List merge modes with one-line descriptions and exit."
    )
    p.add_argument("--source-locales", help="Comma-separated source locales (modes uriel/average/methods).")
    p.add_argument("--weights", help="LOCALE=WEIGHT pairs for manual/linear, e.g. de-DE=0.5,nl-NL=0.5.")
    p.add_argument(
        "--available-only",
        action="store_true",
        help="Select similarity sources only among locales that have a model under --models-root.",
    )
    p.add_argument(
        "--head-merge", default="linear", help="How classifier heads are combined (default linear average)."
    )
    p.add_argument(
        "--method-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Extra merge-method parameter.",
    )
    p.add_argument(
        "--output-name", help="Merged model folder name (default {mode}_merge_{target}_{N}merged)."
    )
    p.add_argument("--no-eval", action="store_true", help="Only merge; skip the evaluation on the target.")
    p.add_argument("--max-eval-samples", type=int, default=None, help="Evaluate on the first N rows only.")
    add_similarity_args(p, num_languages=5)
    add_model_args(p)
    add_data_args(p, split="test")
    add_output_args(p, merged=True, results=True)
    add_runtime_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    if args.list_modes:
        for name, text in available_modes().items():
            print(f"{name:<16} {text}")
        return 0
    if not args.target:
        parser.error("--target-lang is required (e.g. --target-lang af-ZA)")
    modes = available_modes()
    if args.mode not in modes:
        import difflib

        close = difflib.get_close_matches(args.mode, list(modes), n=1)
        raise MergeConfigError(
            f"Unknown --mode {args.mode!r}.{f' Did you mean {close[0]!r}?' if close else ''} "
            f"Modes: {', '.join(modes)} (see --list-modes)."
        )
    device = resolve_device(args.device)
    request = MergeRequest(
        mode=args.mode,
        target=args.target,
        models_root=args.models_root,
        base_model=args.base_model,
        num_languages=args.num_languages,
        source_locales=args.source_locales.split(",") if args.source_locales else None,
        weights=parse_weights(args.weights) if args.weights else None,
        similarity_matrix=similarity_matrix_path(args),
        similarity_source=args.similarity_source,
        top_k=args.top_k,
        sinkhorn_iters=args.sinkhorn_iters,
        available_only=args.available_only,
        method_params=parse_method_params(args.method_param),
        head_merge=args.head_merge,
        device=device,
        seed=args.seed,
    )
    plan = plan_merge(request)
    name = args.output_name or plan.name
    merged_dir = Path(args.merged_models_root) / name
    results_dir = Path(args.results_root) / name
    if not args.overwrite:
        for path in (merged_dir, results_dir):
            if path.exists():
                raise OutputExistsError(f"{path} exists already. Pass --overwrite to replace it.")
    print(f"Target {plan.target}: {plan.mode} merge (method {plan.method}) of {len(plan.sources)} sources")
    for s in plan.sources:
        print(f"  {s.locale:<7} weight {s.weight:.4f}  {s.path}")
    for note in plan.notes:
        print(f"  note: {note}")
    details = execute_merge(
        plan, merged_dir, vars(args), overwrite=args.overwrite, device=device, seed=args.seed
    )
    print(f"merged model: {merged_dir}")
    if args.no_eval:
        return 0
    results = evaluate_model(
        merged_dir,
        args.dataset_name,
        plan.target,
        args.dataset_split,
        args.text_column,
        args.batch_size,
        args.max_seq_length,
        device,
        args.max_eval_samples,
    )
    results["merge_details"] = {
        k: details[k] for k in ("mode", "method", "target", "sources", "key", "head_merge")
    }
    write_json_atomic(results_dir / "merge_details.json", details)
    write_json_atomic(results_dir / "results.json", results)
    perf = results["performance"]
    print(
        f"{plan.target} {args.dataset_split}: accuracy {perf['accuracy']:.4f}  macro-F1 {perf['macro_f1']:.4f} "
        f"({perf['correct']}/{perf['total']})"
    )
    print(f"results: {results_dir / 'results.json'}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


__all__ = ["LINEAR_MODES", "available_modes", "build_parser", "main", "run"]

if __name__ == "__main__":
    raise SystemExit(run())
