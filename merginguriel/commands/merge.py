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
    add_source_args,
    resolve_device,
    run_main,
    setup_logging,
    source_selection,
)
from merginguriel.evaluation import evaluate_model, performance_line
from merginguriel.merge_statistics import DATA_MODES, DEFAULT_CACHE_DIR, StatisticsOptions
from merginguriel.merging import (
    LINEAR_MODES,
    MODE_ALIASES,
    MergeConfigError,
    MergeRequest,
    engine_method,
    execute_merge,
    needs_statistics,
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
            params = ", ".join(f"{p.name}={p.default}" for p in info.parameters)
            modes[info.name] = f"{info.description}" + (f" [{params}]" if params else "")
    for alias, method in MODE_ALIASES.items():
        modes[alias] = f"alias of {method} (Fisher statistics from --dataset-name)"
    return modes


# flag dest -> auto_merge_llm parameter name
METHOD_FLAGS = {
    "lambda_": "lambda_",
    "density": "density",
    "drop_rate": "drop_rate",
    "dare_combine": "dare_combine",
    "gamma": "gamma",
    "t": "t",
    "regmean_alpha": "regmean_alpha",
    "fisher_floor": "fisher_floor",
    "normalize_fisher": "normalize_fisher",
}

# --preset: defaults for several flags at once; flags given explicitly win.
PRESETS = {
    "fairness": {"fisher_data_mode": "sources", "preweight": "equal"},
    "target": {"fisher_data_mode": "target", "preweight": "uriel"},
}


def method_params_from_args(args: argparse.Namespace, method: str) -> dict:
    """Method parameters from the dedicated flags and --method-param, checked against the method's schema."""
    from auto_merge_llm import get_method

    params = parse_method_params(args.method_param)
    if args.trim_ratio is not None:
        if args.density is not None and abs(args.density - (1 - args.trim_ratio)) > 1e-12:
            raise MergeConfigError(
                "--density and --trim-ratio disagree; give one (density = 1 - trim ratio)."
            )
        args.density = 1.0 - args.trim_ratio
    for dest, name in METHOD_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            params[name] = value
    accepted = {p.name for p in get_method(method).parameters}
    unknown = sorted(set(params) - accepted)
    if unknown:
        flags = ", ".join(unknown)
        raise MergeConfigError(
            f"Method {method} does not take {flags}; it takes: {', '.join(sorted(accepted)) or 'no parameters'}."
        )
    return params


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
    add_source_args(p)
    p.add_argument(
        "--head-merge",
        default="linear",
        help="Classifier heads (no pretrained value): linear (weighted average, default), first, highest_weight, method.",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="fairness: sources-only Fisher data, equal preweights; target: target-only Fisher data, URIEL "
        "preweights. Explicit flags override.",
    )
    p.add_argument(
        "--preweight",
        choices=["uriel", "equal"],
        default=None,
        help="Source weights: uriel (similarity, default) or equal (1/K); for fisher these are the c_i.",
    )
    m = p.add_argument_group("method parameters (see --list-modes for which method takes which)")
    m.add_argument(
        "--lambda",
        dest="lambda_",
        type=float,
        help="Task-vector scale (task_arithmetic, ties, dare, breadcrumbs).",
    )
    m.add_argument("--density", type=float, help="Fraction of task-vector entries kept (ties, breadcrumbs).")
    m.add_argument(
        "--trim-ratio", dest="trim_ratio", type=float, help="Fraction of entries trimmed (= 1 - density)."
    )
    m.add_argument("--drop-rate", dest="drop_rate", type=float, help="DARE drop probability p.")
    m.add_argument(
        "--dare-combine", dest="dare_combine", choices=["linear", "ties"], help="DARE combination step."
    )
    m.add_argument("--gamma", type=float, help="Breadcrumbs: fraction of largest-magnitude entries removed.")
    m.add_argument("--t", dest="t", type=float, help="SLERP factor for two models (0 = first, 1 = second).")
    m.add_argument(
        "--regmean-alpha", dest="regmean_alpha", type=float, help="RegMean off-diagonal scale alpha."
    )
    m.add_argument("--fisher-floor", dest="fisher_floor", type=float, help="Lower bound on Fisher values.")
    m.add_argument(
        "--normalize-fisher",
        dest="normalize_fisher",
        action="store_true",
        default=None,
        help="Divide each model's Fisher by its norm before merging.",
    )
    m.add_argument(
        "--method-param", action="append", default=[], metavar="KEY=VALUE", help="Any other method parameter."
    )
    d = p.add_argument_group("data-aware methods (fisher, fisher_dataset, regmean)")
    d.add_argument(
        "--num-fisher-examples",
        "--num-examples",
        dest="num_fisher_examples",
        type=int,
        default=100,
        help="Examples per source model for its statistics (default 100).",
    )
    d.add_argument(
        "--fisher-data-mode",
        dest="fisher_data_mode",
        choices=list(DATA_MODES),
        default=None,
        help="Whose data: sources (default; each source's own), target, or both (half each).",
    )
    d.add_argument(
        "--fisher-estimator",
        dest="fisher_estimator",
        choices=["expected", "sampled", "empirical"],
        default="expected",
        help="Fisher: expectation over the model's p(y|x) (default), one sampled label, or the true label.",
    )
    d.add_argument(
        "--fisher-split",
        dest="fisher_split",
        default="train",
        help="Split the statistics examples come from (default train; never the evaluation split).",
    )
    d.add_argument(
        "--statistics-cache",
        dest="statistics_cache",
        default=DEFAULT_CACHE_DIR,
        help="Cache folder for Fisher/Gram statistics (default ~/.cache/merginguriel or $MERGINGURIEL_CACHE).",
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
    for key, value in PRESETS.get(args.preset, {}).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.preweight = args.preweight or "uriel"
    args.fisher_data_mode = args.fisher_data_mode or "sources"
    method = engine_method(args.mode)
    statistics = None
    if needs_statistics(method):
        statistics = StatisticsOptions(
            dataset_name=args.dataset_name,
            text_column=args.text_column,
            split=args.fisher_split,
            num_examples=args.num_fisher_examples,
            data_mode=args.fisher_data_mode,
            estimator=args.fisher_estimator,
            batch_size=args.batch_size,
            max_seq_length=args.max_seq_length,
            seed=args.seed,
            cache_dir=args.statistics_cache,
        )
    request = MergeRequest(
        mode=args.mode,
        target=args.target,
        **source_selection(args),
        method_params=method_params_from_args(args, method),
        head_merge=args.head_merge,
        preweight=args.preweight,
        statistics=statistics,
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
    print(f"{plan.target} {args.dataset_split}: {performance_line(results['performance'])}")
    print(f"results: {results_dir / 'results.json'}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


__all__ = ["LINEAR_MODES", "available_modes", "build_parser", "main", "run"]

if __name__ == "__main__":
    raise SystemExit(run())
