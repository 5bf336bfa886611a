import numpy as np
import pandas as pd
import pytest

from merginguriel.similarity.matrix import (
    SimilarityError,
    build_similarity,
    cosine_similarity_01,
    select_sources,
    similarity_matrix,
    sinkhorn,
    source_weights,
    top_k_per_row,
)


def test_cosine_mapped_to_unit_interval_with_zero_diagonal():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])
    sim = cosine_similarity_01(vectors)
    # hand-computed: cos(a,b)=0 -> 0.5; cos(a,c)=-1 -> 0; cos(a,d)=1/sqrt2 -> (1+0.7071)/2
    assert sim[0, 1] == pytest.approx(0.5)
    assert sim[0, 2] == pytest.approx(0.0)
    assert sim[0, 3] == pytest.approx((1 + 1 / np.sqrt(2)) / 2)
    assert np.allclose(np.diag(sim), 0.0)
    assert np.allclose(sim, sim.T)


def test_top_k_breaks_ties_by_label():
    m = np.array([[0.0, 0.5, 0.5, 0.2], [0.5, 0.0, 0.1, 0.3], [0.5, 0.1, 0.0, 0.4], [0.2, 0.3, 0.4, 0.0]])
    labels = ["d", "c", "b", "a"]  # row 0 ties between "c" (col 1) and "b" (col 2): "b" wins
    out = top_k_per_row(m, 1, labels)
    assert out[0].tolist() == [0.0, 0.0, 0.5, 0.0]
    assert out[3].tolist() == [0.0, 0.0, 0.4, 0.0]


def test_sinkhorn_one_round_by_hand_and_converges_to_doubly_stochastic():
    m = np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 1.0], [2.0, 2.0, 0.0]])
    rows = m / m.sum(axis=1, keepdims=True)
    expected = rows / rows.sum(axis=0, keepdims=True)
    assert np.allclose(sinkhorn(m, 1), expected)
    many = sinkhorn(m, 500)
    assert np.allclose(many.sum(axis=0), 1.0, atol=1e-6)
    assert np.allclose(many.sum(axis=1), 1.0, atol=1e-6)


def _frame():
    locs = ["af-ZA", "de-DE", "nl-NL", "en-US", "fr-FR"]
    m = np.array(
        [
            [0.0, 0.3, 0.4, 0.3, 0.0],
            [0.3, 0.0, 0.5, 0.2, 0.0],
            [0.4, 0.5, 0.0, 0.1, 0.0],
            [0.3, 0.2, 0.1, 0.0, 0.4],
            [0.0, 0.0, 0.0, 0.4, 0.0],
        ]
    )
    return pd.DataFrame(m, index=locs, columns=locs)


def test_select_sources_excludes_target_renormalises_and_breaks_ties_by_code():
    picked = select_sources("af-ZA", _frame(), 2)
    # nl-NL 0.4 first; de-DE and en-US tie at 0.3 -> de-DE (alphabetical)
    assert [p.locale for p in picked] == ["nl-NL", "de-DE"]
    assert [p.weight for p in picked] == pytest.approx([0.4 / 0.7, 0.3 / 0.7])


def test_select_sources_too_many_says_how_many_exist():
    with pytest.raises(SimilarityError, match="only 3 have non-zero similarity"):
        select_sources("af-ZA", _frame(), 4)


def test_select_sources_restricted_to_candidates():
    picked = select_sources("af-ZA", _frame(), 2, candidates=["de-DE", "en-US"])
    assert [p.locale for p in picked] == ["de-DE", "en-US"]
    assert [p.weight for p in picked] == pytest.approx([0.5, 0.5])


def test_source_weights_from_matrix_row():
    weights = source_weights("af-ZA", _frame(), ["de-DE", "nl-NL"])
    assert [w.weight for w in weights] == pytest.approx([0.3 / 0.7, 0.4 / 0.7])
    with pytest.raises(SimilarityError, match="zero similarity"):
        source_weights("af-ZA", _frame(), ["fr-FR"])


def test_dense_source_sparsifies_on_the_fly(tmp_path):
    frame = _frame()
    path = tmp_path / "dense.csv"
    frame.to_csv(path)
    sparse = similarity_matrix(path, "dense", top_k=1, sinkhorn_iters=0)
    # top-1 per row, no Sinkhorn: af-ZA keeps nl-NL only
    assert sparse.loc["af-ZA"].tolist() == [0.0, 0.0, 0.4, 0.0, 0.0]
    assert similarity_matrix(path, "sparse").equals(frame)


def test_build_similarity_with_lang2vec_germanic_closer_than_unrelated():
    dense, sparse = build_similarity(["de-DE", "nl-NL", "ja-JP", "zh-CN", "zh-TW"], k=2, iterations=20)
    assert dense.loc["de-DE", "nl-NL"] > dense.loc["de-DE", "ja-JP"]
    # zh-CN and zh-TW share URIEL features: identical rows apart from each other's cell, similarity 1
    assert dense.loc["zh-CN", "zh-TW"] == pytest.approx(1.0)
    assert np.allclose(
        dense.loc["zh-CN"].drop(["zh-CN", "zh-TW"]), dense.loc["zh-TW"].drop(["zh-CN", "zh-TW"])
    )
    assert ((sparse > 0).sum(axis=1) <= 2).all()
    assert np.allclose(sparse.to_numpy().sum(axis=0), 1.0, atol=1e-3)
