"""``merginguriel similarity`` / ``generate_sparse_similarity_unified.py``: build the URIEL similarity matrices.

Writes the dense CSV, the sparse (top-k + Sinkhorn) CSV, the locale → model-folder mapping CSV and a
heatmap PNG of the sparse matrix.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import pandas as pd

from merginguriel.cli_options import (
    DEFAULT_BASE_MODEL,
    DENSE_MATRIX_NAME,
    MAPPING_NAME,
    SPARSE_MATRIX_NAME,
    run_main,
    setup_logging,
)
from merginguriel.locales import ALL_LOCALES, LOCALES, parse_locales, shared_uriel_groups
from merginguriel.model_paths import model_dir_name
from merginguriel.outputs import write_text_atomic
from merginguriel.plotting import heatmap
from merginguriel.similarity import DEFAULT_FEATURE_TYPE, build_similarity

logger = logging.getLogger("merginguriel.similarity")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="generate_sparse_similarity_unified.py",
        description="Build the URIEL/lang2vec language-similarity matrices (dense and top-k + Sinkhorn sparse).",
    )
    p.add_argument(
        "--feature-type", default=DEFAULT_FEATURE_TYPE, help="lang2vec feature set (default syntax_knn)."
    )
    p.add_argument("--k", type=int, default=20, help="Entries kept per row before Sinkhorn (default 20).")
    p.add_argument(
        "--iterations", type=int, default=20, help="Sinkhorn rounds, rows then columns (default 20)."
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--locales", help="Comma-separated locales (default: all 52 MASSIVE locales).")
    src.add_argument("--locales-csv", help="CSV with a 'locale' column (e.g. model_mapping_unified.csv).")
    p.add_argument(
        "--out-dense", default=DENSE_MATRIX_NAME, help=f"Dense CSV (default ./{DENSE_MATRIX_NAME})."
    )
    p.add_argument(
        "--out-sparse", default=SPARSE_MATRIX_NAME, help=f"Sparse CSV (default ./{SPARSE_MATRIX_NAME})."
    )
    p.add_argument(
        "--out-mapping",
        default=MAPPING_NAME,
        help=f"Locale mapping CSV (default ./{MAPPING_NAME}); '' to skip.",
    )
    p.add_argument(
        "--base-model", default=DEFAULT_BASE_MODEL, help="Base model whose folder names the mapping lists."
    )
    p.add_argument(
        "--out-plot",
        default="plots/language_similarity_sparse.png",
        help="Heatmap PNG of the sparse matrix; '' to skip.",
    )
    return p


def locales_from_args(args: argparse.Namespace) -> list[str]:
    if args.locales:
        return parse_locales(args.locales)
    if args.locales_csv:
        frame = pd.read_csv(args.locales_csv)
        if "locale" not in frame.columns:
            raise ValueError(f"{args.locales_csv} has no 'locale' column (columns: {list(frame.columns)}).")
        return parse_locales(list(frame["locale"].astype(str)))
    return list(ALL_LOCALES)


def mapping_frame(locales: Sequence[str], base_model: str) -> pd.DataFrame:
    """Per locale: ISO 639-3 code, language, script and the model folder name the toolkit expects."""
    rows = [
        {
            "locale": loc,
            "iso639_3": LOCALES[loc].iso639_3,
            "language": LOCALES[loc].language,
            "script": LOCALES[loc].script,
            "model_dir": model_dir_name(base_model, loc),
        }
        for loc in locales
    ]
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    locales = locales_from_args(args)
    dense, sparse = build_similarity(locales, args.feature_type, args.k, args.iterations)
    write_text_atomic(args.out_dense, dense.to_csv(float_format="%.8f"))
    write_text_atomic(args.out_sparse, sparse.to_csv(float_format="%.8f"))
    print(f"dense matrix  ({len(locales)} locales, {args.feature_type}): {args.out_dense}")
    print(
        f"sparse matrix (top-{min(args.k, len(locales) - 1)}, {args.iterations} Sinkhorn rounds): {args.out_sparse}"
    )
    if args.out_mapping:
        write_text_atomic(args.out_mapping, mapping_frame(locales, args.base_model).to_csv(index=False))
        print(f"mapping: {args.out_mapping}")
    if args.out_plot:
        heatmap(sparse, args.out_plot, f"URIEL {args.feature_type} similarity (sparse)", fmt=".2f")
        print(f"heatmap: {args.out_plot}")
    for group in shared_uriel_groups(locales):
        print(f"note: {' and '.join(group)} share URIEL features, so their rows are identical.")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
