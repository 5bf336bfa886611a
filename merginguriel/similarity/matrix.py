"""Language similarity from URIEL (lang2vec) and source selection for a target locale.

The matrix is built in four steps (``build_similarity``):

1. feature vectors ``x_l`` from lang2vec (default ``syntax_knn``);
2. cosine similarity mapped to [0, 1]: ``S[a, b] = (cos(x_a, x_b) + 1) / 2``, diagonal set to 0 (the *dense* matrix);
3. keep the ``k`` largest entries of each row (ties broken by locale code), zero the rest;
4. Sinkhorn normalisation: ``iterations`` rounds of "divide each row by its sum, then each column by its
   sum" (the *sparse* matrix).

``select_sources`` reads the target's row, drops the target, keeps the ``num_languages`` largest weights
(ties broken by locale code) and renormalises them to sum to 1.

Weighting schemes (``weighting=``), for a target ``t`` and its top-K sources ``s_1..s_K`` by similarity
(target excluded, unscored cells excluded, ties broken by locale code):

* ``sinkhorn`` (the default, the toolkit's original scheme): the *matrix* is sparsified first (top-k per row,
  then Sinkhorn over the whole matrix, :func:`similarity_matrix` with ``source="dense"``, or the committed
  sparse CSV as it is); the target's K largest entries are then renormalised, ``w_i = P[t, s_i] / sum_j P[t, s_j]``;
* ``softmax``: ``w_i = exp(S[t, s_i] / T) / sum_j exp(S[t, s_j] / T)`` over the dense similarities (temperature
  ``T > 0``; small ``T`` approaches the single best source, large ``T`` the uniform average);
* ``normalize``: ``w_i = S[t, s_i] / sum_j S[t, s_j]`` over the dense similarities.

``effective_num_sources(w) = (sum w)^2 / sum w^2`` (Kish's effective sample size; ``1 / sum w^2`` for weights
that sum to 1): K for uniform weights, 1 when one source takes all the weight.

The exchange format of every similarity source (lang2vec, URIEL+, empirical, overlap, learned) is a *dense*
CSV: first column and header = the same locales in the same order, ``S[target, source]`` in row ``target``,
values >= 0, zero diagonal, an empty cell (NaN) = "not scored" (the pair is left out of every ranking). Higher
means "more similar / expected to transfer better"; only the order within a row matters to the rankings,
while ``normalize``/``softmax`` weights also use the values. :func:`validate_dense` checks it,
:func:`write_matrix` writes it.

Note: zh-CN and zh-TW map to the same URIEL language (``cmn``) and so have identical feature vectors and
identical rows; their mutual similarity is 1.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from merginguriel.data.locales import iso639_3, shared_uriel_groups, validate_locale
from merginguriel.data.tables import read_csv_table
from merginguriel.errors import UserError
from merginguriel.outputs.atomic import write_text_atomic

logger = logging.getLogger(__name__)

DEFAULT_FEATURE_TYPE = "syntax_knn"
WEIGHTINGS = ("sinkhorn", "softmax", "normalize")
FLOAT_FORMAT = "%.8f"


class SimilarityError(UserError):
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


def feature_sets(feature_type: str) -> list[str]:
    """The lang2vec feature sets of a ``+``-joined spec (``syntax_knn+phonology_knn``), each checked to exist."""
    parts = [p.strip() for p in feature_type.split("+")]
    if not all(parts):
        raise SimilarityError(
            f"Feature type {feature_type!r} has an empty part; join lang2vec sets with '+', e.g. syntax_knn+geo."
        )
    known = list(_import_lang2vec().FEATURE_SETS)
    unknown = [p for p in parts if p not in known]
    if unknown:
        raise SimilarityError(
            f"Unknown lang2vec feature set(s) {', '.join(unknown)}; available: {', '.join(known)} "
            "(or several joined with '+')."
        )
    return parts


def feature_vectors(locales: Sequence[str], feature_type: str = DEFAULT_FEATURE_TYPE) -> np.ndarray:
    """lang2vec feature matrix (len(locales) x n_features); missing values ("--") become 0.

    A ``+``-joined ``feature_type`` concatenates the sets' vectors (in the order given), so the cosine is
    taken over all of their features together.
    """
    parts = feature_sets(feature_type) if "+" in feature_type else [feature_type]
    return np.hstack([_feature_vectors_one(locales, part) for part in parts])


def _feature_vectors_one(locales: Sequence[str], feature_type: str) -> np.ndarray:
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


def validate_dense(frame: pd.DataFrame, name: str = "similarity matrix") -> pd.DataFrame:
    """Check the exchange format and return the frame as floats: square with the same valid locales as rows
    and columns (same order), values finite and >= 0 or NaN ("not scored"), zero diagonal."""
    if list(frame.index) != list(frame.columns):
        raise SimilarityError(f"{name} is not a square matrix with the same locales as rows and columns.")
    for loc in frame.index:
        validate_locale(str(loc))
    if frame.index.has_duplicates:
        dupes = sorted(set(frame.index[frame.index.duplicated()]))
        raise SimilarityError(f"{name} lists {', '.join(dupes)} more than once.")
    try:
        values = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SimilarityError(f"{name} has cells that are not numbers: {exc}") from exc
    bad = [
        f"{frame.index[i]}/{frame.columns[j]}={values[i, j]:g}"
        for i, j in zip(*np.nonzero(np.isinf(values) | (values < 0)))
    ]
    if bad:
        raise SimilarityError(
            f"{name} has negative or infinite similarities ({', '.join(bad[:5])}); similarities must be >= 0 "
            "(leave a cell empty for a pair that is not scored)."
        )
    diagonal = np.diag(values)
    if np.any(diagonal != 0):
        nonzero = [str(frame.index[i]) for i in np.nonzero(diagonal != 0)[0]]
        raise SimilarityError(
            f"{name} has a non-zero diagonal ({', '.join(nonzero[:5])}); a locale is never its own source, "
            "so the diagonal must be 0."
        )
    return pd.DataFrame(values, index=[str(i) for i in frame.index], columns=[str(c) for c in frame.columns])


def write_matrix(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a dense similarity matrix (validated) as CSV, atomically; NaN ("not scored") is an empty cell."""
    frame = validate_dense(frame, str(path))
    return write_text_atomic(path, frame.to_csv(float_format=FLOAT_FORMAT))


def load_matrix(path: str | os.PathLike) -> pd.DataFrame:
    """Read a similarity CSV (first column = row locale) and check it is in the exchange format."""
    path = Path(path)
    if not path.is_file():
        raise SimilarityError(
            f"Similarity matrix {path} not found. Build it with: python merginguriel/generate_sparse_similarity_unified.py"
        )
    frame = read_csv_table(path, "a similarity matrix (index = columns = locales)", index_col=0)
    frame.index = frame.index.astype(str)
    return validate_dense(frame, str(path))


def _check_weighting(weighting: str, temperature: float) -> None:
    if weighting not in WEIGHTINGS:
        raise SimilarityError(f"--weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}.")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise SimilarityError(f"--temperature must be a positive number (got {temperature!r}).")


def similarity_matrix(
    path: str | os.PathLike,
    source: str = "sparse",
    top_k: int = 20,
    sinkhorn_iters: int = 20,
    *,
    weighting: str = "sinkhorn",
) -> pd.DataFrame:
    """The matrix to select sources from.

    ``weighting="sinkhorn"``: a sparse CSV as it is, or a dense CSV sparsified on the fly (top-k + Sinkhorn).
    ``softmax``/``normalize``: weights come from the similarities themselves, so the CSV must be a dense one
    (``source="dense"``) and is returned as it is; a Sinkhorn-normalised sparse matrix is refused.
    """
    _check_weighting(weighting, 1.0)
    if source not in ("sparse", "dense"):
        raise SimilarityError(f"--similarity-source must be 'sparse' or 'dense', not {source!r}.")
    frame = load_matrix(path)
    if weighting != "sinkhorn":
        if source != "dense":
            raise SimilarityError(
                f"--weighting {weighting} weighs sources by their similarities, not by a Sinkhorn-normalised "
                "sparse matrix: pass --similarity-source dense with a dense similarity CSV "
                "(e.g. language_similarity_matrix_unified.csv or one written by 'merginguriel similarity')."
            )
        return frame
    if source == "sparse":
        return frame
    locales = list(frame.index)
    return pd.DataFrame(
        sparsify(frame.fillna(0.0).to_numpy(), locales, top_k, sinkhorn_iters), index=locales, columns=locales
    )


def weights_from_similarities(
    similarities: Sequence[float], weighting: str = "normalize", temperature: float = 1.0
) -> np.ndarray:
    """Weights (summing to 1) for sources with these similarities.

    ``normalize`` (and ``sinkhorn``, whose matrix is already normalised): ``w = s / sum(s)``;
    ``softmax``: ``w = exp(s / T) / sum(exp(s / T))`` (computed as ``exp((s - max s) / T)`` for stability).
    """
    _check_weighting(weighting, temperature)
    values = np.asarray(similarities, dtype=np.float64)
    if values.size == 0:
        raise SimilarityError("No sources to weigh.")
    if not np.all(np.isfinite(values)):
        raise SimilarityError("Cannot weigh sources whose similarity is not scored (NaN) or infinite.")
    if weighting == "softmax":
        z = np.exp((values - values.max()) / temperature)
        return z / z.sum()
    total = values.sum()
    if total <= 0:
        raise SimilarityError(
            "All chosen sources have zero similarity, so 'normalize' weights are undefined; "
            "use --weighting softmax or other sources."
        )
    return values / total


def effective_num_sources(weights: Iterable[float] | Iterable[SourceWeight]) -> float:
    """``(sum w)^2 / sum w^2``: ``1 / sum w^2`` for weights that sum to 1 (Kish's effective sample size).

    K equal weights give K; one source with all the weight gives 1.
    """
    values = np.asarray([w.weight if isinstance(w, SourceWeight) else float(w) for w in weights])
    if values.size == 0 or np.any(values < 0) or values.sum() <= 0:
        raise SimilarityError(
            "The effective number of sources needs non-negative weights with a positive sum."
        )
    return float(values.sum() ** 2 / np.square(values).sum())


def describe_weights(weights: Sequence[SourceWeight]) -> str:
    """One line: ``de-DE 0.412, nl-NL 0.301, ... (effective number of sources 2.71 of 3)``."""
    pairs = ", ".join(f"{w.locale} {w.weight:.3f}" for w in weights)
    return f"{pairs} (effective number of sources {effective_num_sources(weights):.2f} of {len(weights)})"


def select_sources(
    target: str,
    matrix: pd.DataFrame,
    num_languages: int,
    candidates: Sequence[str] | None = None,
    *,
    weighting: str = "sinkhorn",
    temperature: float = 1.0,
) -> list[SourceWeight]:
    """Top ``num_languages`` sources for ``target`` by similarity, with weights that sum to 1.

    ``candidates`` restricts the sources (e.g. to locales that have a trained model). Unscored (NaN) cells
    are never chosen; with ``sinkhorn``/``normalize`` neither are zero ones (they would get weight 0).
    ``matrix`` is what :func:`similarity_matrix` returned for the same ``weighting``; see the module doc.
    """
    _check_weighting(weighting, temperature)
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
    row = row[row.notna()] if weighting == "softmax" else row[row > 0]
    if num_languages > len(row):
        which = "a scored similarity" if weighting == "softmax" else "non-zero similarity"
        raise SimilarityError(
            f"Asked for {num_languages} source languages for {target}, but only {len(row)} have {which}"
            f"{' among the available models' if candidates is not None else ''}: "
            f"{', '.join(sorted(row.index))}. Use --num-languages {len(row)} or fewer, or a larger --top-k."
        )
    labels = list(row.index)
    order = _ranked(row.to_numpy(), labels)[:num_languages]
    chosen = [(labels[j], float(row.iloc[j])) for j in order]
    if weighting == "sinkhorn":  # the original arithmetic, kept exactly
        total = sum(w for _, w in chosen)
        return [SourceWeight(loc, w / total) for loc, w in chosen]
    weights = weights_from_similarities([w for _, w in chosen], weighting, temperature)
    return [SourceWeight(loc, float(w)) for (loc, _), w in zip(chosen, weights)]


def source_weights(
    target: str,
    matrix: pd.DataFrame,
    sources: Sequence[str],
    *,
    weighting: str = "sinkhorn",
    temperature: float = 1.0,
) -> list[SourceWeight]:
    """Weights for sources the user named (mode ``uriel``), from the target's row: renormalised
    (``sinkhorn``/``normalize``) or a softmax over the named sources' similarities."""
    _check_weighting(weighting, temperature)
    target = validate_locale(target)
    values = []
    for loc in sources:
        validate_locale(loc)
        if loc == target:
            raise SimilarityError(f"Source {loc} is the target itself; name other locales.")
        if loc not in matrix.columns:
            raise SimilarityError(f"Source {loc} is not in the similarity matrix.")
        value = float(matrix.loc[target, loc])
        if math.isnan(value):
            raise SimilarityError(
                f"The similarity matrix does not score {target}-{loc} (empty cell); name other sources "
                "or give weights yourself with --mode manual."
            )
        values.append(value)
    if weighting == "softmax":
        weights = weights_from_similarities(values, weighting, temperature)
        return [SourceWeight(loc, float(w)) for loc, w in zip(sources, weights)]
    total = sum(values)
    if total <= 0:
        raise SimilarityError(
            f"All named sources have zero similarity to {target} in the matrix; use --similarity-source dense "
            "or a larger --top-k, or give weights yourself with --mode manual."
        )
    return [SourceWeight(loc, v / total) for loc, v in zip(sources, values)]
