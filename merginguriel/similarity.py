"""Language similarity from URIEL (lang2vec) and source selection for a target locale.

The matrix is built in four steps (``build_similarity``):

1. feature vectors ``x_l`` from lang2vec (default ``syntax_knn``);
2. cosine similarity mapped to [0, 1]: ``S[a, b] = (cos(x_a, x_b) + 1) / 2``, diagonal set to 0 (the *dense* matrix);
3. keep the ``k`` largest entries of each row (ties broken by locale code), zero the rest;
4. Sinkhorn normalisation: ``iterations`` rounds of "divide each row by its sum, then each column by its
   sum" (the *sparse* matrix).

``select_sources`` reads the target's row, drops the target, keeps the ``num_languages`` largest weights
(ties broken by locale code) and renormalises them to sum to 1.

Note: zh-CN and zh-TW map to the same URIEL language (``cmn``) and so have identical feature vectors and
identical rows; their mutual similarity is 1.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from merginguriel.locales import iso639_3, shared_uriel_groups, validate_locale

logger = logging.getLogger(__name__)

DEFAULT_FEATURE_TYPE = "syntax_knn"


class SimilarityError(ValueError):
    """A similarity matrix or source selection that cannot be used."""


@dataclass(frozen=True)
class SourceWeight:
    locale: str
    weight: float


def _import_lang2vec() -> ModuleType:
    """Import ``lang2vec.lang2vec``, not the ``lang2vec.py`` script that pip puts in the venv's ``bin/``.

    A console script runs with ``bin/`` first on ``sys.path``, where that script shadows the package.
    """
    shadow = sys.modules.get("lang2vec")
    if shadow is not None and not hasattr(shadow, "__path__"):
        del sys.modules["lang2vec"]
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if not (Path(p or ".") / "lang2vec.py").is_file()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lang2vec imports pkg_resources
            return importlib.import_module("lang2vec.lang2vec")
    finally:
        sys.path[:] = saved


def feature_vectors(locales: Sequence[str], feature_type: str = DEFAULT_FEATURE_TYPE) -> np.ndarray:
    """lang2vec feature matrix (len(locales) x n_features); missing values ("--") become 0."""
    l2v = _import_lang2vec()
    codes = [iso639_3(loc) for loc in locales]
    try:
        feats = l2v.get_features(sorted(set(codes)), feature_type)
    except Exception as exc:  # lang2vec raises bare Exceptions for unknown feature sets
        raise SimilarityError(f"lang2vec could not give {feature_type!r} features: {exc}") from exc
    rows = [[0.0 if v == "--" else float(v) for v in feats[c]] for c in codes]
    return np.asarray(rows, dtype=np.float64)


def cosine_similarity_01(vectors: np.ndarray) -> np.ndarray:
    """``(cos + 1) / 2`` between all rows, diagonal zeroed. A zero vector has similarity 0.5 to all."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors, dtype=np.float64), where=norms > 0)
    sim = (unit @ unit.T + 1.0) / 2.0
    np.fill_diagonal(sim, 0.0)
    return sim


def _ranked(row: np.ndarray, labels: Sequence[str]) -> list[int]:
    """Indices of ``row`` by decreasing value, ties broken by label (ascending)."""
    return sorted(range(len(row)), key=lambda j: (-row[j], labels[j]))


def top_k_per_row(matrix: np.ndarray, k: int, labels: Sequence[str]) -> np.ndarray:
    """Keep the ``k`` largest positive entries of each row (ties by label), zero the rest."""
    if k < 1:
        raise SimilarityError(f"top-k must be at least 1 (got {k}).")
    out = np.zeros_like(matrix)
    for i, row in enumerate(matrix):
        keep = [j for j in _ranked(row, labels) if row[j] > 0][:k]
        out[i, keep] = row[keep]
    return out


def sinkhorn(matrix: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Alternately normalise rows then columns to sum 1, ``iterations`` times. All-zero lines stay zero."""
    out = np.array(matrix, dtype=np.float64, copy=True)
    for _ in range(iterations):
        rows = out.sum(axis=1, keepdims=True)
        out = np.divide(out, rows, out=np.zeros_like(out), where=rows > 0)
        cols = out.sum(axis=0, keepdims=True)
        out = np.divide(out, cols, out=np.zeros_like(out), where=cols > 0)
    return out


def build_similarity(
    locales: Sequence[str],
    feature_type: str = DEFAULT_FEATURE_TYPE,
    k: int = 20,
    iterations: int = 20,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dense ([0,1] cosine, zero diagonal) and sparse (top-k + Sinkhorn) matrices, indexed by locale."""
    locales = [validate_locale(loc) for loc in locales]
    if len(locales) < 2:
        raise SimilarityError("A similarity matrix needs at least two locales.")
    for group in shared_uriel_groups(locales):
        logger.warning(
            "%s share URIEL language %s: their feature vectors and similarity rows are identical.",
            " and ".join(group),
            iso639_3(group[0]),
        )
    dense = cosine_similarity_01(feature_vectors(locales, feature_type))
    sparse = sparsify(dense, locales, k, iterations)
    return (
        pd.DataFrame(dense, index=locales, columns=locales),
        pd.DataFrame(sparse, index=locales, columns=locales),
    )


def sparsify(dense: np.ndarray, locales: Sequence[str], k: int, iterations: int) -> np.ndarray:
    """Top-k per row, then Sinkhorn."""
    return sinkhorn(top_k_per_row(dense, min(k, len(locales) - 1), locales), iterations)


def load_matrix(path: str | os.PathLike) -> pd.DataFrame:
    """Read a similarity CSV (first column = row locale) and check it is square with matching labels."""
    path = Path(path)
    if not path.is_file():
        raise SimilarityError(
            f"Similarity matrix {path} not found. Build it with: python merginguriel/generate_sparse_similarity_unified.py"
        )
    frame = pd.read_csv(path, index_col=0)
    if list(frame.index) != list(frame.columns):
        raise SimilarityError(f"{path} is not a square matrix with the same locales as rows and columns.")
    for loc in frame.index:
        validate_locale(loc)
    return frame.astype(float)


def similarity_matrix(
    path: str | os.PathLike,
    source: str = "sparse",
    top_k: int = 20,
    sinkhorn_iters: int = 20,
) -> pd.DataFrame:
    """The matrix to select sources from: a sparse CSV as it is, or a dense CSV sparsified on the fly."""
    frame = load_matrix(path)
    if source == "sparse":
        return frame
    if source == "dense":
        locales = list(frame.index)
        return pd.DataFrame(
            sparsify(frame.to_numpy(), locales, top_k, sinkhorn_iters), index=locales, columns=locales
        )
    raise SimilarityError(f"--similarity-source must be 'sparse' or 'dense', not {source!r}.")


def select_sources(
    target: str,
    matrix: pd.DataFrame,
    num_languages: int,
    candidates: Sequence[str] | None = None,
) -> list[SourceWeight]:
    """Top ``num_languages`` sources for ``target`` by similarity, weights renormalised to sum to 1.

    ``candidates`` restricts the sources (e.g. to locales that have a trained model).
    """
    target = validate_locale(target)
    if target not in matrix.index:
        raise SimilarityError(
            f"Target {target} is not in the similarity matrix (it covers {len(matrix)} locales)."
        )
    if num_languages < 1:
        raise SimilarityError(f"--num-languages must be at least 1 (got {num_languages}).")
    row = matrix.loc[target].drop(labels=[target])
    if candidates is not None:
        allowed = set(candidates)
        row = row[[loc for loc in row.index if loc in allowed]]
    row = row[row > 0]
    if num_languages > len(row):
        raise SimilarityError(
            f"Asked for {num_languages} source languages for {target}, but only {len(row)} have non-zero "
            f"similarity{' among the available models' if candidates is not None else ''}: "
            f"{', '.join(sorted(row.index))}. Use --num-languages {len(row)} or fewer, or a larger --top-k."
        )
    labels = list(row.index)
    order = _ranked(row.to_numpy(), labels)[:num_languages]
    chosen = [(labels[j], float(row.iloc[j])) for j in order]
    total = sum(w for _, w in chosen)
    return [SourceWeight(loc, w / total) for loc, w in chosen]


def source_weights(target: str, matrix: pd.DataFrame, sources: Sequence[str]) -> list[SourceWeight]:
    """Weights for sources the user named (mode ``uriel``), from the target's row, renormalised."""
    target = validate_locale(target)
    values = []
    for loc in sources:
        validate_locale(loc)
        if loc == target:
            raise SimilarityError(f"Source {loc} is the target itself; name other locales.")
        if loc not in matrix.columns:
            raise SimilarityError(f"Source {loc} is not in the similarity matrix.")
        values.append(float(matrix.loc[target, loc]))
    total = sum(values)
    if total <= 0:
        raise SimilarityError(
            f"All named sources have zero similarity to {target} in the matrix; use --similarity-source dense "
            "or a larger --top-k, or give weights yourself with --mode manual."
        )
    return [SourceWeight(loc, v / total) for loc, v in zip(sources, values)]
