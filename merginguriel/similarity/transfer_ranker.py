"""A learned similarity source: a ridge regression from pair features to observed transfer, fit
leave-target-out (after LANGRANK, Lin et al., "Choosing Transfer Languages for Cross-Lingual Learning", ACL
2019, which ranks transfer languages from such features; here a plain regularised linear model).

Inputs: the observed dev transfer ``T[t, s]`` (accuracy on ``t``'s dev split of the model trained on ``s``,
:func:`merginguriel.similarity.builders.empirical_similarity`) and feature matrices ``F_1..F_m`` (any
similarity sources, e.g. lang2vec, URIEL+ types, lexical overlap), each ``F_k[t, s]``.

For each target ``t`` (leave-target-out):

1. the training pairs are ``(t', s)`` with ``t' != t``, ``s != t``, ``s != t'`` and ``T[t', s]`` observed:
   neither ``t``'s dev transfer (column ``t`` of the NxN matrix) nor the accuracy of ``t``'s model on other
   locales (row ``t``) enters ``t``'s ranker;
2. the response is the within-target z-score ``y = (T[t', s] - mean_s T[t', s]) / std_s T[t', s]`` over
   those pairs (only the order within a target matters; a target whose sources all transfer equally is left
   out);
3. features are standardised with the training pairs' mean and standard deviation (a missing feature value,
   e.g. an unscored URIEL+ pair, is set to the training mean, i.e. 0 after standardising);
4. ridge: ``beta = (X^T X + alpha I)^{-1} X^T y`` on the centred data, intercept ``mean(y)``;
5. the learned similarity is ``S[t, s] = sigmoid(x_{t,s} . beta + intercept)`` for every ``s != t``: in
   (0, 1), ordered as the predicted transfer, zero diagonal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from merginguriel.similarity.matrix import SimilarityError

DEFAULT_ALPHA = 1.0


@dataclass
class RankerResult:
    """The learned similarity matrix and, per target, the coefficients of its (leave-target-out) ranker."""

    similarity: pd.DataFrame
    coefficients: pd.DataFrame  # index = target, columns = feature names (+ "intercept")
    training_pairs: dict[str, list[tuple[str, str]]]  # per target, the (target', source) pairs it was fit on


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float = DEFAULT_ALPHA) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept: ``min ||y - X b - c||^2 + alpha ||b||^2``."""
    if alpha < 0:
        raise SimilarityError(f"--ridge-alpha must be >= 0 (got {alpha}).")
    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    xc, yc = x - x_mean, y - y_mean
    beta = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)
    return beta, y_mean - float(x_mean @ beta)


def _common_locales(transfer: pd.DataFrame, features: Mapping[str, pd.DataFrame]) -> list[str]:
    locales = [loc for loc in transfer.index if loc in transfer.columns]
    for name, frame in features.items():
        missing = [loc for loc in locales if loc not in frame.index]
        if missing:
            raise SimilarityError(
                f"Feature matrix {name!r} does not cover {', '.join(missing)}, which the NxN matrix has; build "
                "it for the same locales."
            )
    return locales


def learned_similarity(
    transfer: pd.DataFrame,
    features: Mapping[str, pd.DataFrame],
    alpha: float = DEFAULT_ALPHA,
    targets: Sequence[str] | None = None,
) -> RankerResult:
    """Leave-target-out ridge rankers (module doc); ``transfer[t, s]`` is observed dev transfer (NaN = none)."""
    if not features:
        raise SimilarityError("The learned ranker needs at least one feature matrix.")
    names = list(features)
    locales = _common_locales(transfer, features)
    targets = list(targets) if targets is not None else locales
    n = len(locales)
    obs = transfer.loc[locales, locales].to_numpy(dtype=np.float64).copy()
    np.fill_diagonal(obs, np.nan)
    feats = np.stack(
        [features[k].loc[locales, locales].to_numpy(dtype=np.float64) for k in names], axis=-1
    )  # n x n x m
    blank = np.full((n, n), np.nan)  # rows of targets not asked for: not scored
    np.fill_diagonal(blank, 0.0)
    similarity = pd.DataFrame(blank, index=locales, columns=locales)
    coefficients = pd.DataFrame(np.nan, index=targets, columns=[*names, "intercept"])
    pairs_used: dict[str, list[tuple[str, str]]] = {}
    for target in targets:
        if target not in locales:
            raise SimilarityError(f"Target {target} is not in the NxN matrix's locales.")
        held = locales.index(target)
        rows_x, rows_y, used = [], [], []
        for i in range(n):
            if i == held:
                continue
            cols = [j for j in range(n) if j not in (i, held) and not np.isnan(obs[i, j])]
            if len(cols) < 2:
                continue
            values = obs[i, cols]
            std = values.std()
            if std == 0:
                continue
            rows_y.append((values - values.mean()) / std)
            rows_x.append(feats[i, cols])
            used.extend((locales[i], locales[j]) for j in cols)
        if not rows_y:
            raise SimilarityError(
                f"No other target has two or more sources with different observed transfer, so the ranker for "
                f"{target} has nothing to learn from; the NxN matrix needs more rows and columns."
            )
        x, y = np.vstack(rows_x), np.concatenate(rows_y)
        mean = np.nanmean(x, axis=0)
        mean = np.where(np.isnan(mean), 0.0, mean)
        std = np.nanstd(x, axis=0)
        std = np.where((std > 0) & np.isfinite(std), std, 1.0)
        x = np.where(np.isnan(x), mean, x)
        beta, intercept = fit_ridge((x - mean) / std, y, alpha)
        row = feats[held]
        row = np.where(np.isnan(row), mean, row)
        scores = 1.0 / (1.0 + np.exp(-(((row - mean) / std) @ beta + intercept)))
        scores[held] = 0.0
        similarity.loc[target] = scores
        coefficients.loc[target] = [*beta, intercept]
        pairs_used[target] = used
    return RankerResult(similarity, coefficients, pairs_used)


__all__ = ["DEFAULT_ALPHA", "RankerResult", "fit_ridge", "learned_similarity"]
