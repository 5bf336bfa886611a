"""``merginguriel copy-models`` / ``copy_models_to_haryos.py``: copy finished runs into the models layout.

Each run folder under ``--source-root`` (or each of ``--runs``) that is complete is copied to
``{models_root}/{base}_massive_k_{locale}`` (checkpoints and optimizer state left behind); incomplete runs
are refused with the reason. Examples::

    python merginguriel/copy_models_to_haryos.py --source-root results/training --dry-run
    python merginguriel/copy_models_to_haryos.py --source-root results/training --runs run_de-DE run_fr-FR --overwrite
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.errors import MissingInputError, UserError
from merginguriel.models.paths import model_dir_name
from merginguriel.training.missing_models import check_run, copy_run

EXAMPLE = "example: merginguriel copy-models --source-root results/training --dry-run"


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("copy_models_to_haryos.py", __doc__.split("\n\n")[0], EXAMPLE)
    p.add_argument("--source-root", required=True, help="Folder holding the finished run folders.")
    p.add_argument(
        "--runs",
        nargs="+",
        default=None,
        help="Run folder names (under --source-root) to copy (default: every subfolder).",
    )
    p.add_argument(
        "--models-root", default="haryos_model", help="Destination models folder (default haryos_model)."
    )
    p.add_argument(
        "--base-model",
        default=None,
        help="Base model name for the destination folder names (default: each run's training_config.json).",
    )
    p.add_argument("--dry-run", action="store_true", help="Only print what would be copied or refused.")
    p.add_argument("--overwrite", action="store_true", help="Replace destination folders that exist.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    root = Path(args.source_root)
    if not root.is_dir():
        raise MissingInputError(f"--source-root {root} is not a folder.")
    if args.runs:
        paths = [root / name for name in args.runs]
        absent = [str(p) for p in paths if not p.is_dir()]
        if absent:
            raise MissingInputError(f"--runs not found: {', '.join(absent)}")
    else:
        paths = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    copied, skipped, refused = [], [], []
    for path in paths:
        check = check_run(path, args.base_model)
        if not check.complete:
            refused.append(f"{path.name}: {check.reason}")
            print(f"refused  {path.name}: {check.reason}")
            continue
        target = Path(args.models_root) / model_dir_name(check.base, check.locale)
        if target.exists() and not args.overwrite:
            skipped.append(path)
            print(f"skipped  {path.name}: {target} exists (pass --overwrite to replace it)")
            continue
        if args.dry_run:
            print(f"would copy {path.name} ({check.locale}) -> {target}")
            continue
        copy_run(check, args.models_root, overwrite=args.overwrite)
        copied.append(path)
        print(f"copied   {path.name} ({check.locale}) -> {target}")
    print(
        f"{len(copied)} copied, {len(skipped)} skipped, {len(refused)} refused"
        + (" (dry run: nothing written)" if args.dry_run else "")
    )
    if refused and not args.dry_run:
        reasons = "; ".join(refused)
        raise UserError(
            f"{len(refused)} of {len(paths)} run(s) refused ({reasons}); fix or retrain them, or name the good runs "
            "with --runs."
        )
    return 1 if refused else 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
