"""``merginguriel fusion`` / ``train_fusion_model.py``: train an expert-fusion model, or evaluate a saved one.

Examples::

    python merginguriel/train_fusion_model.py --experts de-DE,nl-NL,en-US --fusion-type TransformerBase \\
        --base_lr 2e-5 --head_lr 1e-3 --epochs 3 --save-every 1 --eval-locales af-ZA
    merginguriel fusion --experts de-DE,nl-NL,en-US --fusion-type all --launcher slurm --slurm-partition gpu \\
        --slurm-gpus 1 --slurm-time 02:00:00 --eval-locales af-ZA     # the four types, one Slurm job each
    python merginguriel/train_fusion_model.py --load fusion_models/TransformerBase_de-DE+nl-NL/complete \\
        --eval-locales af-ZA,de-DE
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from merginguriel.cli import options as opts
from merginguriel.cli.options import (
    add_data_args,
    add_hub_args,
    add_model_args,
    add_renamed,
    add_runtime_args,
    add_training_run_args,
    check_hub,
    command_parser,
    push_to_hub,
    resolve_device,
    run_main,
    setup_logging,
    show_progress,
    training_data,
    training_options,
    training_runtime,
)
from merginguriel.data.locales import parse_locales
from merginguriel.data.massive import DataSelection
from merginguriel.errors import UserError
from merginguriel.models.cards import Evaluation, add_evaluations
from merginguriel.models.evaluation import evaluate_model
from merginguriel.models.fusion import FUSION_TYPES, load_fusion_model
from merginguriel.models.paths import find_model
from merginguriel.outputs.atomic import check_writable, write_json_atomic, write_text_atomic
from merginguriel.outputs.plotting import bar_chart
from merginguriel.runtime import Runtime
from merginguriel.training.data import check_readable
from merginguriel.training.fusion import FusionTrainConfig, train_fusion

EXAMPLE = (
    "example: merginguriel fusion --experts de-DE,nl-NL,en-US --fusion-type TransformerBase --epochs 3 "
    "--eval-locales af-ZA"
)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("train_fusion_model.py", __doc__.split("\n\n")[0], EXAMPLE)
    p.add_argument(
        "--experts", default=None, help="Comma-separated expert locales, found under --models-root."
    )
    p.add_argument(
        "--expert-paths", nargs="+", default=None, help="Expert model folders (instead of --experts)."
    )
    p.add_argument(
        "--load", default=None, help="Evaluate this saved fusion model (complete or components folder)."
    )
    p.add_argument(
        "--fusion-type",
        choices=[*FUSION_TYPES, "all"],
        default="TransformerBase",
        help="Fusion module; all: the four, each in OUT/{type} (locally one after the other, or one Slurm job each "
        "with --launcher slurm), compared in OUT/fusion_comparison.csv/.png.",
    )
    p.add_argument("--train-locales", default=None, help="Training locales (default: the experts' locales).")
    p.add_argument(
        "--base_lr",
        "--base-lr",
        dest="learning_rate",
        type=float,
        default=2e-5,
        help="Learning rate of the experts.",
    )
    p.add_argument(
        "--head_lr",
        "--head-lr",
        dest="head_lr",
        type=float,
        default=1e-3,
        help="Learning rate of the fusion module and the head.",
    )
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    add_training_run_args(p, learning_rate=False, eval_samples=True)  # the experts' rate is --base-lr
    p.add_argument(
        "--save-every",
        type=opts.positive_int,
        default=1,
        help="Save experts/fusion/head every N epochs (default 1).",
    )
    p.add_argument(
        "--output-dir",
        default=None,
        help="Default fusion_models/{fusion type}_{experts} (with --fusion-type all: fusion_models/all_{experts}).",
    )
    p.add_argument(
        "--eval-locales", default=None, help="Comma-separated locales to evaluate the final model on."
    )
    add_renamed(p, "--dataset-split", "--eval-split", "eval_split", "Split for --eval-locales (default test).",
                default="test")  # fmt: skip
    add_runtime_args(p, progress=True, inference=False)
    add_model_args(p)
    add_data_args(p, split=None)
    add_hub_args(p)
    opts.add_launcher_args(p)
    opts.add_tracking_args(p)
    return p


def evaluate_fused(
    folder: str | Path, locales: Sequence[str], args: argparse.Namespace, device: str
) -> pd.DataFrame:
    """Evaluate a saved fusion model on each locale with ``evaluate_model``; writes CSV, JSON and PNG next to it."""
    loaded = load_fusion_model(folder, device)
    rows, results = [], {}
    for loc in locales:
        selection = DataSelection(
            args.dataset_name,
            loc,
            args.eval_split,
            args.text_column,
            args.max_eval_samples,
            args.max_seq_length,
        )
        result = evaluate_model(
            folder, selection, Runtime(device, progress=show_progress(args)), loaded=loaded
        )
        results[loc] = result
        perf = result["performance"]
        rows.append(
            {
                "locale": loc,
                "accuracy": perf["accuracy"],
                "macro_f1": perf["macro_f1"],
                "total": perf["total"],
            }
        )
    table = pd.DataFrame(rows)
    folder = Path(folder)
    add_evaluations(folder, [Evaluation.from_results(r) for r in results.values()])  # the card's model-index
    write_json_atomic(folder.parent / f"eval_{folder.name}_{args.eval_split}.json", results)
    write_text_atomic(folder.parent / f"eval_{folder.name}_{args.eval_split}.csv", table.to_csv(index=False))
    bar_chart(table.set_index("locale")["accuracy"], folder.parent / f"eval_{folder.name}_{args.eval_split}.png",
              f"Fusion model ({folder.name}) on {args.eval_split}", "accuracy")  # fmt: skip
    return table


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.fusion_type == "all" and getattr(args, "push_to_hub_repo", None):
        raise UserError(
            "--push-to-hub uploads one model: give one --fusion-type (not all), or push afterwards."
        )
    check_hub(args)  # offline / not logged in: fail now, not after training
    device = resolve_device(args.device)
    eval_locales = parse_locales(args.eval_locales) if args.eval_locales else []
    from merginguriel.training.trainer import check_dataset_locales

    if args.load:
        if not eval_locales:
            raise UserError("--load evaluates a saved model: give --eval-locales.")
        check_dataset_locales(args.dataset_name, eval_locales)
        table = evaluate_fused(args.load, eval_locales, args, device)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        push_to_hub(args, args.load)
        return 0
    if args.expert_paths:
        paths = [str(p) for p in args.expert_paths]
        names = [Path(p).name.rsplit("_massive_k_", 1)[-1] for p in paths]
    elif args.experts:
        names = parse_locales(args.experts)
        paths = [str(find_model(args.models_root, args.base_model, loc)) for loc in names]
    else:
        raise UserError(
            "Give the experts: --experts de-DE,nl-NL (under --models-root) or --expert-paths DIR DIR …"
        )
    if args.train_locales:
        train_locales = parse_locales(args.train_locales)
    else:
        try:
            train_locales = parse_locales(names)
        except ValueError:
            raise UserError(
                f"Cannot tell the training locales from the expert names ({', '.join(names)}); "
                "pass --train-locales."
            ) from None
    check_dataset_locales(args.dataset_name, list(dict.fromkeys(train_locales + eval_locales)))
    check_readable(args.dataset_name, [*((loc, s) for loc in train_locales for s in ("train", "validation")),
                                       *((loc, args.eval_split) for loc in eval_locales)], args.text_column)  # fmt: skip
    all_types = args.fusion_type == "all"
    default = f"{'all' if all_types else args.fusion_type}_{'+'.join(names)}"
    root = Path(args.output_dir or Path("fusion_models") / default)
    check_writable(root, "--output-dir")
    report = opts.report_to(args)  # wandb importable, before any training
    configs = [
        FusionTrainConfig(
            expert_paths=paths,
            expert_names=names,
            train_locales=train_locales,
            output_dir=str(root / fusion_type if all_types else root),
            data=training_data(args),
            training=training_options(args),
            fusion_type=fusion_type,
            head_lr=args.head_lr,
            weight_decay=args.weight_decay,
            warmup_ratio=args.warmup_ratio,
            dropout=args.dropout,
            save_every=args.save_every,
            runtime=replace(training_runtime(args), device=device),
            base_model=args.base_model,
            report_to=tuple(report),
            wandb_project=args.wandb_project,
        )  # fmt: skip
        for fusion_type in (FUSION_TYPES if all_types else [args.fusion_type])
    ]
    summaries, failures = _train_all(configs, args, root, "+".join(names))
    evaluations = {}
    for summary in summaries:
        for row in summary["epochs"]:
            print(f"{summary['config']['fusion_type']} epoch {row['epoch']}: loss {row['train_loss']:.4f}  "
                  f"dev accuracy {row['dev_accuracy']:.4f}")  # fmt: skip
        print(f"complete model: {summary['complete']}\ncomponents: {', '.join(summary['components'])}")
        if eval_locales:
            table = evaluate_fused(summary["complete"], eval_locales, args, device)
            evaluations[summary["config"]["fusion_type"]] = table
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if all_types and summaries:
        comparison = fusion_comparison(summaries, evaluations, root)
        print(comparison.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for fusion_type, error in failures:
        print(f"FAILED {fusion_type}: {error}")
    if not all_types and summaries:
        push_to_hub(args, summaries[0]["complete"])
    return 1 if failures else 0


def _train_all(
    configs: Sequence[FusionTrainConfig], args: argparse.Namespace, root: Path, experts: str
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Each config trained here, one after the other, or (``--launcher slurm``) as the tasks of one submitit
    array job; (summaries, [(fusion type, error)] of the jobs that failed)."""
    if args.launcher != "slurm":
        return [train_fusion(config) for config in configs], []
    from merginguriel.experiments.sweep import submit_array

    done = submit_array(train_fusion, configs, opts.slurm_options(args), root / "slurm_logs", f"fusion_{experts}",
                        show_progress(args), "fusion type")  # fmt: skip
    summaries, failures = [], []
    for config, (job_id, result) in zip(configs, done):
        if isinstance(result, BaseException):
            failures.append((config.fusion_type, f"job {job_id}: {type(result).__name__}: {result}"))
        else:
            summaries.append(result)
    return summaries, failures


def fusion_comparison(
    summaries: Sequence[dict], evaluations: dict[str, pd.DataFrame], root: Path
) -> pd.DataFrame:
    """One row per fusion type: its last and best dev accuracy (and epoch), training seconds and, per
    ``--eval-locales`` locale, the final model's accuracy; ``fusion_comparison.csv`` and a bar chart of the last
    dev accuracy (``fusion_comparison.png``) in ``root``."""
    rows = []
    for summary in summaries:
        log = pd.DataFrame(summary["epochs"])
        fusion_type = summary["config"]["fusion_type"]
        best = log.loc[log["dev_accuracy"].idxmax()]
        row = {"fusion_type": fusion_type, "dev_accuracy": float(log["dev_accuracy"].iloc[-1]),
               "best_dev_accuracy": float(best["dev_accuracy"]), "best_epoch": int(best["epoch"]),
               "train_seconds": float(log["seconds"].sum())}  # fmt: skip
        if fusion_type in evaluations:
            for loc, acc in evaluations[fusion_type].set_index("locale")["accuracy"].items():
                row[f"accuracy_{loc}"] = float(acc)
        rows.append(row)
    table = pd.DataFrame(rows)
    write_text_atomic(root / "fusion_comparison.csv", table.to_csv(index=False))
    bar_chart(table.set_index("fusion_type")["dev_accuracy"], root / "fusion_comparison.png",
              "Fusion types: dev accuracy after the last epoch", "dev accuracy")  # fmt: skip
    return table


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
