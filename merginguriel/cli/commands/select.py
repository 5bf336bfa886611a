"""``merginguriel select`` / ``run_recipe_selection.py``: choose the recipe for a target on dev data only,
under a named protocol, then evaluate it once on test against baselines chosen the same way."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.data.locales import parse_locales
from merginguriel.data.massive import DataSelection
from merginguriel.experiments.selection import (
    PROTOCOLS,
    SelectionConfig,
    SelectionContext,
    SelectionError,
    build_grid,
    read_grid,
)
from merginguriel.experiments.selection.few_shot import FewShotOptions
from merginguriel.experiments.selection.racing import Budget, RaceOptions
from merginguriel.experiments.selection.summary import write_summary
from merginguriel.models.paths import discover_models
from merginguriel.outputs.atomic import check_writable
from merginguriel.training.few_shot import few_shot_training, fine_tune

EXAMPLE = "example: merginguriel select --protocol leave-target-out --dataset-name builtin --sources lang2vec,urielplus:genetic"
TARGET_READING_SOURCES = ("empirical", "overlap")  # built from the target's own data


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "run_recipe_selection.py",
        "Choose similarity source, weighting, K, merge method (or ensemble) and parameters for each "
        "target on dev data only (protocol target-dev, leave-target-out or unlabeled-target), write recipe.json "
        "and the candidate table, then read the test split once for the recipe, the baselines and the oracle.",
        EXAMPLE,
    )
    opts.add_locales_arg(
        p, "--target-lang", "Target locales; default every locale with a model", dest="targets"
    )
    opts.add_deprecated(p, "--targets", "--target-lang", "targets", listed=True, nargs="+")
    opts.add_locales_arg(
        p, "--pool", "Locales whose models may be sources; default every locale with a model"
    )
    p.add_argument(
        "--protocol", type=protocol_list, default=["leave-target-out"], metavar="PROTOCOL[,PROTOCOL…]|all",
        help=f"How candidates are scored: {', '.join(PROTOCOLS)} (default leave-target-out); several "
        "(comma-separated, or all) run in one folder in the order target-dev, unlabeled-target, leave-target-out, "
        "sharing their work: the target-reading protocols then score every candidate on the full dev split (their "
        "scores are the other targets' dev scores leave-target-out needs), --search applies to leave-target-out, "
        "and --budget covers them all (each protocol an equal share of what is left; exhaustive scoring is never cut "
        "short, so what target-dev leaves goes to leave-target-out's race).",
    )  # fmt: skip
    p.add_argument(
        "--similarity",
        action="append",
        default=[],
        metavar="NAME=CSV",
        help="A dense similarity matrix to rank sources by (repeatable).",
    )
    p.add_argument(
        "--sources",
        default=None,
        help="Similarity sources to build for the pool, e.g. lang2vec,urielplus:genetic,learned (default lang2vec when no --similarity).",
    )
    p.add_argument(
        "--nxn-matrix",
        default=None,
        help="Dev-split evaluation_matrix.csv for the empirical / learned sources.",
    )
    p.add_argument(
        "--grid", default=None, help="A user candidate grid (YAML or JSON: similarity, weighting, k, modes)."
    )
    p.add_argument("--dev-samples", type=opts.positive_int, help="Score candidates on the first N dev rows of each locale.")  # fmt: skip
    p.add_argument(
        "--no-test", action="store_true", help="Stop after selection (write the recipes; read no test split)."
    )
    p.add_argument(
        "--no-test-candidates",
        action="store_true",
        help="On test, evaluate only the recipe, baselines and oracle.",
    )
    p.add_argument(
        "--search",
        choices=["race", "exhaustive"],
        default="race",
        help="race (default): successive halving — every candidate on a few folds (leave-target-out) or dev rows, "
        "the best 1/eta on more, the finalists on all; exhaustive: every candidate on all dev data.",
    )
    race = RaceOptions()  # the defaults are the engine's
    p.add_argument("--eta", type=opts.positive_int, default=race.eta, help=f"Racing: keep the best 1/eta per rung (>= 2; default {race.eta}).")  # fmt: skip
    p.add_argument("--rungs", type=opts.positive_int, default=race.rungs, help=f"Racing: fidelity levels, the last full (default {race.rungs}).")  # fmt: skip
    p.add_argument(
        "--race-confidence", type=float, default=race.confidence, metavar="C",
        help="Racing: also keep every candidate not clearly worse than the rung's best — a one-sided paired t bound "
        f"at confidence C on the folds (or rows) scored so far (default {race.confidence:g}; 0: only the best 1/eta).",
    )  # fmt: skip
    p.add_argument(
        "--budget",
        default=None,
        help="Stop selection work at this limit: a time (90s, 45m, 2h) or a number of evaluations (500evals); "
        "each target gets an equal share of what is left; the run reports what it used.",
    )
    p.add_argument(
        "--save-model",
        action="store_true",
        help="Save each target's chosen model, with a card naming the recipe, protocol and dev/test scores, to "
        "OUTPUT_DIR/PROTOCOL/TARGET/model (an ensemble cannot be one model: the run says how to run it).",
    )
    p.add_argument(
        "--keep-merged",
        action="store_true",
        help="Keep every merged candidate under OUTPUT_DIR/work/merged (default: removed once scored; "
        "scores and logits are kept, and a model needed again is merged again).",
    )
    p.add_argument(
        "--few-shot",
        action="store_true",
        help="target-dev: score the candidates on one half of the target's dev split and fine-tune the best "
        "single source and the chosen recipe on the other half (word embeddings frozen); the test split scores "
        "them beside the recipe — the baseline a user with those labels would otherwise use.",
    )
    p.add_argument("--few-shot-epochs", type=opts.positive_float, default=5.0, help="Few-shot fine-tuning epochs (default 5).")  # fmt: skip
    p.add_argument("--few-shot-lr", type=opts.positive_float, default=1e-4, help="Few-shot learning rate (default 1e-4).")  # fmt: skip
    p.add_argument("--output-dir", default="results/selection", help="Where recipes, tables and plots go.")
    p.add_argument(
        "--head-merge", default="linear", help="Classifier-head policy of the merges (default linear)."
    )
    opts.add_model_args(p)
    opts.add_data_args(p, split=None)
    opts.add_statistics_args(p)
    opts.add_cache_args(p, on_by_default=False)
    opts.add_runtime_args(p, progress=True)
    return p


def _matrices(args: argparse.Namespace, pool: list[str], work: Path) -> dict[str, str]:
    """NAME -> dense CSV path: the ones given, plus the ones built here for the pool."""
    from merginguriel.similarity.builders import SourceContext, build_source, parse_spec, read_dev_nxn
    from merginguriel.similarity.matrix import load_matrix, write_matrix

    matrices: dict[str, str] = {}
    for item in args.similarity:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SelectionError(
                f"--similarity {item!r} is not NAME=CSV (e.g. lang2vec=language_similarity_matrix_unified.csv)."
            )
        load_matrix(path)  # validated now, not after hours of scoring
        matrices[name] = path
    specs = args.sources.split(",") if args.sources else ([] if matrices else ["lang2vec"])
    nxn = read_dev_nxn(args.nxn_matrix) if args.nxn_matrix else None
    ctx = SourceContext(
        nxn=nxn, dataset_name=args.dataset_name, text_column=args.text_column, tokenizer=args.base_model
    )
    for spec in (parse_spec(s) for s in specs):
        other = next((p for p in args.protocol if p != "target-dev"), None)
        if other and spec.name in TARGET_READING_SOURCES:
            raise SelectionError(
                f"--sources {spec.name} is built from the target's own data, which --protocol {other} must not "
                "read before the final evaluation; use it with --protocol target-dev, or lang2vec/urielplus/learned."
            )
        matrices[spec.label] = str(
            write_matrix(
                build_source(spec, pool, ctx), work / "similarity" / f"{spec.label.replace(':', '_')}.csv"
            )
        )
    for note in ctx.notes:
        print(f"note: {note}")
    return matrices


SHARING_ORDER = (
    "target-dev",
    "unlabeled-target",
    "leave-target-out",
)  # each reuses what the ones before scored


def protocol_list(text: str) -> list[str]:
    """``--protocol``: one protocol, several (comma-separated) or ``all``, in :data:`SHARING_ORDER`."""
    names = (
        list(SHARING_ORDER) if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    )
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown protocol {', '.join(unknown) or repr(text)}; use {', '.join(PROTOCOLS)}, several "
            "comma-separated, or all"
        )
    return [n for n in SHARING_ORDER if n in names]


def config_from_args(args: argparse.Namespace) -> SelectionConfig:
    race = (
        RaceOptions(eta=args.eta, rungs=args.rungs, seed=args.seed, confidence=args.race_confidence)
        if args.search == "race" else None
    )  # fmt: skip
    budget = Budget.parse(args.budget) if args.budget else None  # both checked before any work
    found = discover_models(args.models_root, args.base_model)
    pool = parse_locales(",".join(args.pool)) if args.pool else sorted(found)
    absent = [loc for loc in pool if loc not in found]
    if absent:
        raise SelectionError(f"No model under {args.models_root} for pool locale(s) {', '.join(absent)}.")
    targets = parse_locales(",".join(args.targets)) if args.targets else list(pool)
    out = Path(args.output_dir)
    work = out / "work"
    matrices = _matrices(args, pool, work)
    grid = build_grid(list(matrices), read_grid(args.grid) if args.grid else None)
    runtime = opts.runtime(args)
    cache = opts.logits_cache(args)
    if cache is None:
        from merginguriel.models.logits_cache import LogitsCache

        cache = LogitsCache(work / "logits_cache")
    context = SelectionContext(
        args.models_root, args.base_model, matrices, pool, runtime, cache, work,
        opts.statistics_options(args, None, args.batch_size), args.seed, args.head_merge, args.keep_merged,
    )  # fmt: skip
    few_shot = None
    if args.few_shot:
        training = few_shot_training(args.few_shot_epochs, args.few_shot_lr, args.seed)
        few_shot = FewShotOptions(partial(fine_tune, options=training),
                                  {"epochs": args.few_shot_epochs, "learning_rate": args.few_shot_lr})  # fmt: skip
    dev = DataSelection(args.dataset_name, split="validation", text_column=args.text_column,
                        max_samples=args.dev_samples, max_seq_length=args.max_seq_length,
                        part="select" if few_shot else None)  # fmt: skip
    test = DataSelection(
        args.dataset_name, split="test", text_column=args.text_column, max_seq_length=args.max_seq_length
    )
    return SelectionConfig(
        targets, args.protocol[0], context, grid, dev, test, out, args.no_test, not args.no_test_candidates,
        save_model=args.save_model, race=race, budget=budget, few_shot=few_shot,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    check_writable(args.output_dir, "--output-dir")
    if args.few_shot and len(args.protocol) > 1:
        raise SelectionError(
            "--few-shot splits the target's dev rows for --protocol target-dev alone; run it without the other "
            f"protocols ({', '.join(p for p in args.protocol if p != 'target-dev')})."
        )
    base = config_from_args(args)
    total = base.budget
    for i, protocol in enumerate(args.protocol):
        config = replace(
            base, protocol=protocol, budget=total.share(len(args.protocol) - i) if total else None
        )
        if len(args.protocol) > 1 and protocol != "leave-target-out":
            config.race = None  # full-dev scores: the ones leave-target-out reuses for the other targets
        _run_protocol(config)
        if total is not None:
            total.used += config.budget.used
            total.hit |= config.budget.hit
    return 0


def _run_protocol(config: SelectionConfig) -> None:
    from merginguriel.experiments.selection import run_selection

    print(
        f"selection [{config.protocol}]: {len(config.targets)} target(s), pool of {len(config.context.pool)} models, "
        f"{len(config.grid.candidates())} grid candidates, similarity {', '.join(config.context.matrices)}"
    )
    work = config.context.work
    before = work.to_dict()
    started = time.monotonic()
    selections = run_selection(config)
    for sel in selections:
        print(f"  {sel.target}: {sel.chosen.label}  -> {sel.folder / 'recipe.json'}")
        if sel.final is not None:
            print(
                sel.final[["role", "label", "dev_score", "accuracy"]].to_string(
                    index=False, float_format=lambda v: f"{v:.4f}"
                )
            )
    done = {k: v - before[k] for k, v in work.to_dict().items()}
    search = config.race.describe() if config.race else "exhaustive"
    print(
        f"search [{config.protocol}]: {search}; {time.monotonic() - started:.0f} s; computed {done['merges']} merges, "
        f"{done['forward_passes']} forward passes, {done['evaluations']} evaluations "
        f"({done['reused_scores']} scores reused)"
        + (f"; {config.budget.describe()}" if config.budget and config.race else "")
        + ("; not limited by --budget (exhaustive scoring is never cut short; its time counts against it)"
           if config.budget and not config.race else "")
    )  # fmt: skip
    if not config.no_test:
        paths = write_summary(selections, config.out_dir / config.protocol)
        print(f"summary: {paths['csv']}\nreport: {paths['markdown']}")


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
