"""``merginguriel trim-vocabulary`` / ``trim_vocabulary.py``: shrink a base model and its per-locale models to the
tokens a dataset's texts use, losslessly on those texts (:mod:`merginguriel.models.vocabulary`).

XLM-R's 250k-token embedding matrix is most of each model and of every merge's work; the texts of MASSIVE's
locales use a fraction of it. The trimmed models are ordinary Hugging Face folders laid out like the originals
(``OUTPUT_DIR/models/{base}_massive_k_{locale}`` and ``OUTPUT_DIR/base/{base}``): pass them to ``merge``,
``nxn``, ``select`` with ``--models-root OUTPUT_DIR/models --base-model OUTPUT_DIR/base/{base}``. Texts outside
the ones trimmed to (other locales, other data) may tokenize differently: trim to every text you will evaluate.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from merginguriel.cli import options as opts
from merginguriel.cli.options import command_parser, run_main, setup_logging
from merginguriel.errors import UserError

EXAMPLE = (
    "example: merginguriel trim-vocabulary --models-root haryos_model --base-model xlm-roberta-base "
    "--dataset-name AmazonScience/massive --output-dir trimmed"
)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("trim_vocabulary.py", __doc__.split("\n\n")[0], EXAMPLE)
    opts.add_model_args(p)
    opts.add_locales_arg(
        p, "--locales", "Models to trim (default every locale with a model under --models-root)"
    )
    opts.add_locales_arg(
        p, "--text-locales", "Locales whose texts the vocabulary keeps (default every locale of the dataset)"
    )
    p.add_argument(
        "--splits", default="train,validation,test",
        help="Splits whose texts the vocabulary keeps, comma-separated (default train,validation,test: every "
        "text the models will see; texts, never labels).",
    )  # fmt: skip
    opts.add_data_args(p, split=None)
    p.add_argument("--output-dir", required=True, help="Where OUTPUT_DIR/base/… and OUTPUT_DIR/models/… go.")
    p.add_argument("--overwrite", action="store_true", help="Replace trimmed folders that exist already.")
    opts.add_runtime_args(p, progress=True, inference=False)
    return p


def _local_base(base_model: str) -> Path:
    if Path(base_model).is_dir():
        return Path(base_model)
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(base_model, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])
        )
    except Exception as exc:  # offline, misspelt, private
        raise UserError(f"--base-model {base_model}: not a local folder, and the hub says: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    from merginguriel.data.locales import ALL_LOCALES, parse_locales
    from merginguriel.data.massive import DataSelection, load_selection, local_locales, resolve_dataset
    from merginguriel.models.paths import base_model_short_name, discover_models
    from merginguriel.models.vocabulary import trim_models
    from merginguriel.outputs.atomic import check_writable

    found = discover_models(args.models_root, args.base_model)
    locales = parse_locales(args.locales) if args.locales else sorted(found)
    missing = [loc for loc in locales if loc not in found]
    if missing or not locales:
        raise UserError(
            f"No model for {', '.join(missing) or 'any locale'} under {args.models_root} (base "
            f"{args.base_model}); check --models-root, --base-model and --locales."
        )
    source = resolve_dataset(args.dataset_name)
    if args.text_locales:
        text_locales = parse_locales(args.text_locales)
    elif source.kind == "local":
        text_locales = local_locales(source.location)
    else:
        text_locales = list(ALL_LOCALES)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    texts: list[str] = []
    for loc in text_locales:
        for split in splits:
            texts += load_selection(DataSelection(args.dataset_name, loc, split, args.text_column)).texts
    out = check_writable(args.output_dir, "--output-dir")
    base = _local_base(args.base_model)
    name = base_model_short_name(args.base_model)
    sources = [base, *(found[loc] for loc in locales)]
    targets = [out / "base" / name, *(out / "models" / found[loc].name for loc in locales)]
    trimmed = trim_models(
        sources, targets, texts, args.max_seq_length, args.overwrite, opts.show_progress(args)
    )
    first = trimmed[0]
    print(
        f"trimmed {len(trimmed)} models to the {first.vocab_after:,} tokens of {len(texts):,} texts "
        f"({len(text_locales)} locale(s) x {', '.join(splits)}): vocabulary {first.vocab_before:,} -> "
        f"{first.vocab_after:,}, parameters {first.parameters_before:,} -> {first.parameters_after:,} (base)\n"
        f"use: --models-root {out / 'models'} --base-model {targets[0]}"
    )
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)
