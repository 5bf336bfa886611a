"""Flag groups shared by every command, defined once so ``--dataset-name`` means the same thing everywhere,
and ``run_main`` which turns user errors into one clear message and a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from merginguriel.defaults import (  # noqa: F401  (re-exported for the commands)
    DEFAULT_BASE_MODEL,
    DENSE_MATRIX_NAME,
    MAPPING_NAME,
    REPO_ROOT,
    SPARSE_MATRIX_NAME,
    default_repo_file,
)
from merginguriel.devices import resolve_device  # noqa: F401
from merginguriel.massive_data import HUB_DATASET


def add_data_args(parser: argparse.ArgumentParser, split: str | None = "test") -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset-name",
        "--dataset_name",
        dest="dataset_name",
        default=HUB_DATASET,
        help=f"Hub id ({HUB_DATASET}), a local folder laid out as <locale>/{{train,dev,test}}.jsonl[.gz], "
        "or 'builtin' for the small corpus shipped with the package.",
    )
    group.add_argument(
        "--text-column",
        "--text_column",
        dest="text_column",
        default="utt",
        help="Column holding the utterance.",
    )
    if split is not None:
        group.add_argument(
            "--dataset-split",
            "--dataset_split",
            "--split",
            dest="dataset_split",
            default=split,
            help=f"Split to use: train, validation (alias dev) or test (default {split}).",
        )


def add_model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models")
    group.add_argument(
        "--models-root",
        dest="models_root",
        default="haryos_model",
        help="Folder holding the per-locale models {base}_massive_k_{locale} (default ./haryos_model).",
    )
    group.add_argument(
        "--base-model",
        dest="base_model",
        default=DEFAULT_BASE_MODEL,
        help="Pretrained encoder the per-locale models were fine-tuned from (hub id or local folder); "
        "names the model folders and is the base of task vectors.",
    )


def add_similarity_args(parser: argparse.ArgumentParser, num_languages: int | None = 5) -> None:
    group = parser.add_argument_group("similarity")
    group.add_argument(
        "--similarity-matrix",
        dest="similarity_matrix",
        default=None,
        help=f"Similarity CSV (default ./{SPARSE_MATRIX_NAME}, or ./{DENSE_MATRIX_NAME} with "
        "--similarity-source dense; the repository's copy when absent here).",
    )
    group.add_argument(
        "--similarity-source",
        dest="similarity_source",
        choices=["sparse", "dense"],
        default="sparse",
        help="sparse: use the precomputed top-k + Sinkhorn matrix; dense: sparsify the dense matrix on the fly.",
    )
    group.add_argument(
        "--top-k", dest="top_k", type=int, default=20, help="Top-k per row (dense source only)."
    )
    group.add_argument(
        "--sinkhorn-iters",
        dest="sinkhorn_iters",
        type=int,
        default=20,
        help="Sinkhorn rounds (dense source only).",
    )
    if num_languages is not None:
        group.add_argument(
            "--num-languages",
            dest="num_languages",
            type=int,
            default=num_languages,
            help=f"Number of source languages to select (default {num_languages}).",
        )


def add_source_args(parser: argparse.ArgumentParser) -> None:
    """How sources are named instead of selected by similarity (merge and ensemble share these)."""
    group = parser.add_argument_group("sources")
    group.add_argument(
        "--source-locales", help="Comma-separated source locales; weights come from the similarity matrix."
    )
    group.add_argument(
        "--weights", help="LOCALE=WEIGHT pairs naming sources and weights, e.g. de-DE=0.5,nl-NL=0.5."
    )
    group.add_argument(
        "--available-only",
        action="store_true",
        help="Select similarity sources only among locales that have a model under --models-root.",
    )


def source_selection(args: argparse.Namespace) -> dict:
    """The source-selection fields shared by ``MergeRequest`` and ``EnsembleRequest``, from the parsed flags."""
    from merginguriel.merging import parse_weights

    return {
        "models_root": args.models_root,
        "base_model": args.base_model,
        "num_languages": args.num_languages,
        "source_locales": args.source_locales.split(",") if args.source_locales else None,
        "weights": parse_weights(args.weights) if args.weights else None,
        "similarity_matrix": similarity_matrix_path(args),
        "similarity_source": args.similarity_source,
        "top_k": args.top_k,
        "sinkhorn_iters": args.sinkhorn_iters,
        "available_only": args.available_only,
    }


def similarity_matrix_path(args: argparse.Namespace) -> str:
    if args.similarity_matrix:
        return args.similarity_matrix
    return default_repo_file(DENSE_MATRIX_NAME if args.similarity_source == "dense" else SPARSE_MATRIX_NAME)


def add_output_args(
    parser: argparse.ArgumentParser, merged: bool = False, results: bool = True, plots: bool = False
) -> None:
    group = parser.add_argument_group("outputs")
    if merged:
        group.add_argument(
            "--merged-models-root",
            dest="merged_models_root",
            default="merged_models",
            help="Where merged models go.",
        )
    if results:
        group.add_argument("--results-root", dest="results_root", default="results", help="Where results go.")
    if plots:
        group.add_argument("--plots-root", dest="plots_root", default="plots", help="Where plots go.")
    group.add_argument("--overwrite", action="store_true", help="Replace outputs that exist already.")


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runtime")
    group.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="Device for the math."
    )
    group.add_argument("--seed", type=int, default=42, help="Random seed.")
    group.add_argument("--batch-size", dest="batch_size", type=int, default=64, help="Inference batch size.")
    group.add_argument(
        "--max-seq-length", dest="max_seq_length", type=int, default=128, help="Max tokens per text."
    )


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "urllib3", "datasets", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main``; user errors become ``error: <message>`` on stderr and exit status 2.

    Set ``MERGINGURIEL_DEBUG=1`` to see the traceback instead.
    """
    try:
        return int(main(argv) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        if os.environ.get("MERGINGURIEL_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
