"""Weighting schemes, the effective number of sources, the exchange format and lang2vec concatenation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from merginguriel.similarity.matrix import (
    SimilarityError,
    SourceWeight,
    describe_weights,
    effective_num_sources,
    feature_vectors,
    load_matrix,
    select_sources,
    similarity_matrix,
    source_weights,
    sparsify,
    validate_dense,
    weights_from_similarities,
    write_matrix,
)

REPO = Path(__file__).resolve().parents[2]
LOCS = ["af-ZA", "de-DE", "nl-NL", "en-US", "fr-FR"]


def dense_frame() -> pd.DataFrame:
    m = np.array(
        [
            [0.0, 0.8, 0.9, 0.8, 0.2],
            [0.8, 0.0, 0.7, 0.6, 0.5],
            [0.9, 0.7, 0.0, 0.4, 0.3],
            [0.8, 0.6, 0.4, 0.0, 0.6],
            [0.2, 0.5, 0.3, 0.6, 0.0],
        ]
    )
    return pd.DataFrame(m, index=LOCS, columns=LOCS)


def test_softmax_weights_by_hand_and_ties_by_locale_code():
    picked = select_sources("af-ZA", dense_frame(), 3, weighting="softmax", temperature=0.5)
    # nl-NL 0.9 first; de-DE and en-US tie at 0.8 -> de-DE before en-US (alphabetical)
    assert [p.locale for p in picked] == ["nl-NL", "de-DE", "en-US"]
    z = np.exp(np.array([0.9, 0.8, 0.8]) / 0.5)
    assert [p.weight for p in picked] == pytest.approx(list(z / z.sum()))


def test_softmax_temperature_limits():
    cold = select_sources("af-ZA", dense_frame(), 3, weighting="softmax", temperature=1e-3)
    assert cold[0].weight == pytest.approx(1.0, abs=1e-12)
    hot = select_sources("af-ZA", dense_frame(), 3, weighting="softmax", temperature=1e6)
    assert [p.weight for p in hot] == pytest.approx([1 / 3] * 3, abs=1e-6)


def test_normalize_weights_by_hand():
    picked = select_sources("fr-FR", dense_frame(), 2, weighting="normalize")
    assert [p.locale for p in picked] == ["en-US", "de-DE"]
    assert [p.weight for p in picked] == pytest.approx([0.6 / 1.1, 0.5 / 1.1])


def test_sinkhorn_weighting_is_the_original_pipeline(tmp_path):
    path = tmp_path / "dense.csv"
    dense_frame().to_csv(path)
    matrix = similarity_matrix(path, "dense", top_k=2, sinkhorn_iters=5)  # weighting sinkhorn by default
    sparse = sparsify(dense_frame().to_numpy(), LOCS, 2, 5)
    assert np.allclose(matrix.to_numpy(), sparse)
    picked = select_sources("af-ZA", matrix, 2)
    row = pd.Series(sparse[0], index=LOCS).drop("af-ZA")
    top = row.sort_values(ascending=False).iloc[:2]
    assert [p.locale for p in picked] == list(top.index)
    assert [p.weight for p in picked] == pytest.approx(list(top / top.sum()))
    assert select_sources("af-ZA", matrix, 2, weighting="sinkhorn") == picked


def test_softmax_on_a_sparse_matrix_is_refused(tmp_path):
    path = tmp_path / "sparse.csv"
    dense_frame().to_csv(path)
    with pytest.raises(SimilarityError, match="--similarity-source dense"):
        similarity_matrix(path, "sparse", weighting="softmax")
    assert similarity_matrix(path, "dense", weighting="softmax").equals(load_matrix(path))


@pytest.mark.parametrize(
    ("weighting", "temperature", "message"),
    [
        ("uniform", 1.0, "--weighting must be one of"),
        ("softmax", 0.0, "positive"),
        ("softmax", -1, "positive"),
    ],
)
def test_bad_weighting_arguments(weighting, temperature, message):
    with pytest.raises(SimilarityError, match=message):
        select_sources("af-ZA", dense_frame(), 2, weighting=weighting, temperature=temperature)


def test_unscored_cells_are_never_chosen():
    frame = dense_frame()
    frame.loc["af-ZA", "nl-NL"] = np.nan
    for weighting in ("softmax", "normalize", "sinkhorn"):
        picked = select_sources("af-ZA", frame, 2, weighting=weighting)
        assert "nl-NL" not in [p.locale for p in picked]
    with pytest.raises(SimilarityError, match="only 3 have a scored similarity"):
        select_sources("af-ZA", frame, 4, weighting="softmax")
    with pytest.raises(SimilarityError, match="does not score af-ZA-nl-NL"):
        source_weights("af-ZA", frame, ["nl-NL", "de-DE"])


def test_softmax_can_weigh_a_zero_similarity_source():
    frame = dense_frame()
    frame.loc["fr-FR", "af-ZA"] = 0.0
    picked = select_sources("fr-FR", frame, 4, weighting="softmax", temperature=1.0)
    assert picked[-1].locale == "af-ZA"
    z = np.exp(np.array([0.6, 0.5, 0.3, 0.0]))
    assert [p.weight for p in picked] == pytest.approx(list(z / z.sum()))


def test_source_weights_softmax_over_named_sources():
    weights = source_weights("af-ZA", dense_frame(), ["fr-FR", "nl-NL"], weighting="softmax", temperature=0.1)
    z = np.exp(np.array([0.2, 0.9]) / 0.1)
    assert [w.weight for w in weights] == pytest.approx(list(z / z.sum()))
    assert [w.locale for w in weights] == ["fr-FR", "nl-NL"]


def test_effective_number_of_sources():
    assert effective_num_sources([0.25] * 4) == pytest.approx(4.0)
    assert effective_num_sources([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert effective_num_sources([0.5, 0.3, 0.2]) == pytest.approx(1 / (0.25 + 0.09 + 0.04))
    assert effective_num_sources([2.0, 2.0]) == pytest.approx(2.0)  # scale-free: (sum w)^2 / sum w^2
    weights = [SourceWeight("de-DE", 0.5), SourceWeight("nl-NL", 0.5)]
    assert effective_num_sources(weights) == pytest.approx(2.0)
    assert describe_weights(weights) == "de-DE 0.500, nl-NL 0.500 (effective number of sources 2.00 of 2)"
    with pytest.raises(SimilarityError):
        effective_num_sources([])


def test_weights_from_similarities_by_hand():
    assert weights_from_similarities([1.0, 3.0], "normalize") == pytest.approx([0.25, 0.75])
    assert weights_from_similarities([0.0, math.log(3.0)], "softmax") == pytest.approx([0.25, 0.75])
    with pytest.raises(SimilarityError, match="zero similarity"):
        weights_from_similarities([0.0, 0.0], "normalize")


def test_exchange_format_round_trip_keeps_unscored_cells(tmp_path):
    frame = dense_frame()
    frame.loc["de-DE", "fr-FR"] = np.nan
    path = write_matrix(frame, tmp_path / "m.csv")
    de_line = next(line for line in path.read_text().splitlines() if line.startswith("de-DE,"))
    assert de_line.endswith(",")  # fr-FR is the last column: the unscored cell is empty
    back = load_matrix(path)
    assert np.isnan(back.loc["de-DE", "fr-FR"])
    assert np.allclose(back.fillna(-1).to_numpy(), frame.fillna(-1).to_numpy())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.__setitem__("de-DE", -0.1), "negative or infinite"),
        (lambda f: f.iloc.__setitem__((0, 0), 0.5), "non-zero diagonal"),
        (lambda f: f.iloc.__setitem__((1, 2), np.inf), "negative or infinite"),
    ],
)
def test_validate_dense_rejects_bad_values(edit, message):
    frame = dense_frame()
    edit(frame)
    with pytest.raises(SimilarityError, match=message):
        validate_dense(frame)


def test_validate_dense_rejects_a_non_square_frame():
    with pytest.raises(SimilarityError, match="square"):
        validate_dense(dense_frame().iloc[:, :4])


def test_lang2vec_concatenation_is_the_parts_side_by_side():
    from merginguriel.similarity.matrix import _import_lang2vec

    l2v = _import_lang2vec()
    locs = ["de-DE", "ja-JP", "fi-FI"]
    codes = ["deu", "jpn", "fin"]
    both = feature_vectors(locs, "syntax_knn+geo")
    direct = []
    for fs in ("syntax_knn", "geo"):
        feats = l2v.get_features(codes, fs)
        direct.append(np.array([[0.0 if v == "--" else float(v) for v in feats[c]] for c in codes]))
    assert np.array_equal(both, np.hstack(direct))
    with pytest.raises(SimilarityError, match="Unknown lang2vec feature set"):
        feature_vectors(locs, "syntax_knn+nonsense")


def test_default_command_reproduces_the_committed_matrices(tmp_path):
    from merginguriel.cli.commands.similarity import main

    dense, sparse, mapping = tmp_path / "d.csv", tmp_path / "s.csv", tmp_path / "m.csv"
    argv = [
        "--out-dense",
        str(dense),
        "--out-sparse",
        str(sparse),
        "--out-mapping",
        str(mapping),
        "--out-plot",
        "",
    ]
    assert main(argv) == 0
    assert dense.read_bytes() == (REPO / "language_similarity_matrix_unified.csv").read_bytes()
    assert sparse.read_bytes() == (REPO / "sparsed_language_similarity_matrix_unified.csv").read_bytes()
    assert mapping.read_bytes() == (REPO / "model_mapping_unified.csv").read_bytes()
