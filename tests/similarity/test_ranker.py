"""The learned leave-target-out ranker: independent ridge fit, and a target never trains its own ranker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from merginguriel.similarity.builders import empirical_similarity
from merginguriel.similarity.matrix import SimilarityError
from merginguriel.similarity.transfer_ranker import fit_ridge, learned_similarity
from merginguriel.similarity.transfer_report import spearman

LOCS = ["af-ZA", "de-DE", "nl-NL", "en-US", "fr-FR", "es-ES", "it-IT", "ja-JP"]


def synthetic(seed: int = 0):
    """Two symmetric feature matrices and an NxN matrix whose transfer follows 2 f1 - f2 plus noise."""
    rng = np.random.default_rng(seed)
    n = len(LOCS)
    feats = {}
    for name in ("f1", "f2"):
        a = rng.random((n, n))
        a = (a + a.T) / 2
        np.fill_diagonal(a, 0.0)
        feats[name] = pd.DataFrame(a, index=LOCS, columns=LOCS)
    score = 2 * feats["f1"].to_numpy() - feats["f2"].to_numpy() + 0.05 * rng.standard_normal((n, n))
    accuracy = 0.5 + 0.1 * score.T  # M[s, t] = transfer to t from s
    np.fill_diagonal(accuracy, 0.95)
    return pd.DataFrame(accuracy, index=LOCS, columns=LOCS), feats


def test_fit_ridge_matches_sklearn():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    beta, intercept = fit_ridge(x, y, alpha=2.5)
    ref = Ridge(alpha=2.5).fit(x, y)
    assert beta == pytest.approx(ref.coef_)
    assert intercept == pytest.approx(ref.intercept_)


def test_ranker_learns_the_transfer_order():
    nxn, feats = synthetic()
    result = learned_similarity(empirical_similarity(nxn), feats, alpha=0.1)
    transfer = empirical_similarity(nxn)
    for t in LOCS:
        rho = spearman(result.similarity.loc[t].drop(t), transfer.loc[t].drop(t))
        assert rho > 0.8, t
    assert (result.coefficients["f1"] > 0).all() and (result.coefficients["f2"] < 0).all()
    sim = result.similarity.to_numpy()
    assert np.allclose(np.diag(sim), 0.0) and ((sim >= 0) & (sim <= 1)).all()


def test_one_target_by_hand_design_with_sklearn():
    nxn, feats = synthetic()
    transfer = empirical_similarity(nxn)
    target = "de-DE"
    result = learned_similarity(transfer, feats, alpha=1.0, targets=[target])
    xs, ys = [], []
    for t in LOCS:
        if t == target:
            continue
        sources = [s for s in LOCS if s not in (t, target)]
        values = transfer.loc[t, sources].to_numpy()
        ys.append((values - values.mean()) / values.std())
        xs.append(np.column_stack([feats[k].loc[t, sources].to_numpy() for k in ("f1", "f2")]))
    x, y = np.vstack(xs), np.concatenate(ys)
    mean, std = x.mean(axis=0), x.std(axis=0)
    ref = Ridge(alpha=1.0).fit((x - mean) / std, y)
    assert result.coefficients.loc[target, ["f1", "f2"]].to_numpy() == pytest.approx(ref.coef_)
    row = np.column_stack([feats[k].loc[target].to_numpy() for k in ("f1", "f2")])
    expected = 1 / (1 + np.exp(-ref.predict((row - mean) / std)))
    expected[LOCS.index(target)] = 0.0
    assert result.similarity.loc[target].to_numpy() == pytest.approx(expected)
    # the other rows were not asked for: not scored (diagonal 0)
    rest = result.similarity.drop(index=target)
    assert all(np.isnan(rest.loc[t, s]) for t in rest.index for s in LOCS if s != t)
    assert all(rest.loc[t, t] == 0.0 for t in rest.index)


def test_a_target_never_sees_its_own_transfer():
    nxn, feats = synthetic()
    target = "nl-NL"
    base = learned_similarity(empirical_similarity(nxn), feats)
    assert all(target not in pair for pair in base.training_pairs[target])
    perturbed = nxn.copy()
    rng = np.random.default_rng(7)
    perturbed[target] = rng.random(len(LOCS))  # its dev transfer from every source
    perturbed.loc[target] = rng.random(len(LOCS))  # and its model's accuracy on the others
    after = learned_similarity(empirical_similarity(perturbed), feats)
    assert after.similarity.loc[target].equals(base.similarity.loc[target])
    assert after.coefficients.loc[target].equals(base.coefficients.loc[target])
    others = [t for t in LOCS if t != target]
    assert not np.allclose(after.similarity.loc[others].to_numpy(), base.similarity.loc[others].to_numpy())


def test_unscored_feature_cells_are_imputed_not_fatal():
    nxn, feats = synthetic()
    feats["f2"].loc["af-ZA", "ja-JP"] = np.nan
    result = learned_similarity(empirical_similarity(nxn), feats)
    assert not np.isnan(result.similarity.loc["af-ZA", "ja-JP"])


def test_feature_matrix_missing_locales_is_a_clear_error():
    nxn, feats = synthetic()
    feats["f1"] = feats["f1"].drop(index="ja-JP", columns="ja-JP")
    with pytest.raises(SimilarityError, match="does not cover ja-JP"):
        learned_similarity(empirical_similarity(nxn), feats)
