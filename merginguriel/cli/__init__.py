"""The command-line layer, and the ``merginguriel`` console command: ``merginguriel <command> [options]`` runs the
same ``main`` as the matching script (``merginguriel merge …`` ≡ ``python
merginguriel/run_merging_pipeline_refactored.py …``; ``python -m merginguriel.cli …`` too).

``options`` declares every flag group once and turns parsed flags into the core's value objects; ``commands/``
holds one module per command (its parser and ``main``). May import every other layer; nothing imports it but
the script fronts.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

# bitsandbytes (imported by peft whenever it is installed, so before any command sets up logging) tries at import
# to fetch an optional CPU kernel from the hub and warns when it cannot: its own fallback runs, nothing to act on
for _noisy in ("bitsandbytes", "kernels"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

# command -> (module under merginguriel.cli.commands, script name, one-line description)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("demo", "run_demo.py", "Offline end-to-end demo on the built-in corpus."),
    "similarity": ("similarity", "generate_sparse_similarity_unified.py", "Build URIEL similarity matrices."),
    "train": ("train", "training_bert.py", "Fine-tune an intent classifier on one or more locales."),
    "train-lolo": ("train_multilang", "run_multilang_training.py", "Train leave-one-language-out / all-language models."),
    "fill-missing": ("train_missing", "train_missing_models.py", "Train the per-locale models missing from the models folder."),
    "copy-models": ("copy_models", "copy_models_to_haryos.py", "Copy finished training runs into the models folder."),
    "iterative": ("iterative", "run_iterative_training.py", "Train sources with periodic merging for a target."),
    "snapshot-avg": ("snapshot_average", "run_snapshot_averaging.py", "Accumulative snapshot averaging (One-For-All)."),
    "fusion": ("fusion", "train_fusion_model.py", "Train / evaluate an expert-fusion model."),
    "merge": ("merge", "run_merging_pipeline_refactored.py", "Merge source models for a target and evaluate."),
    "evaluate": ("evaluate", "evaluate_specific_model.py", "Evaluate one model on a locale."),
    "ensemble": ("ensemble", "uriel_ensemble_inference.py", "Ensemble source models' predictions for a target."),
    "trim-vocabulary": ("trim_vocabulary", "trim_vocabulary.py", "Shrink models to the tokens a dataset's texts use (lossless on them)."),
    "nxn": ("nxn", "run_nxn_evaluation.py", "Evaluate every model on every locale (NxN matrix)."),
    "transfer-report": ("transfer_report", "run_transfer_report.py", "Score similarity sources by how well they predict dev transfer."),
    "select": ("select", "run_recipe_selection.py", "Choose the recipe per target on dev data only, then test once."),
    "sweep": ("sweep", "run_large_scale_experiment.py", "Sweep locales x modes with resume."),
    "aggregate": ("aggregate", "aggregate_results.py", "Aggregate results, baselines and win rates."),
    "plot": ("plot", "../plot_results.py", "Plot aggregated results."),
}  # fmt: skip


def usage() -> str:
    lines = [
        "usage: merginguriel <command> [options]   (merginguriel <command> --help for its options)",
        "",
        "commands:",
    ]
    for name, (_, script, desc) in COMMANDS.items():
        path = script[3:] if script.startswith("../") else f"merginguriel/{script}"
        lines.append(f"  {name:<13} {desc}  [python {path}]")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("--version", "-V"):
        from merginguriel import __version__

        print(f"merginguriel {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(f"error: unknown command {name!r}.{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"merginguriel.cli.commands.{COMMANDS[name][0]}")
    return module.run(rest)
