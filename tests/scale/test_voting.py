"""Voting rules against hand-computed examples, ties included."""

import numpy as np
import pytest

from merginguriel.data.labels import INTENT_LABELS, LABEL2ID, LabelMismatchError
from merginguriel.merging.ensemble import EnsembleError, ensemble_predict

A, B, C = "alarm_set", "play_music", "weather_query"
ALL = list(INTENT_LABELS)


def onehot_logits(rows, labels=ALL, high=5.0):
    """Logits with ``high`` on the given intent of each row (0 elsewhere), in ``labels`` order."""
    z = np.zeros((len(rows), len(labels)))
    for i, name in enumerate(rows):
        z[i, labels.index(name)] = high
    return z


def ids(*names):
    return [LABEL2ID[n] for n in names]


def test_majority_counts_votes_and_breaks_ties_by_most_similar_source():
    # three sources, weights 0.5 / 0.3 / 0.2 (most similar first)
    s1 = onehot_logits([A, A, B, C])
    s2 = onehot_logits([B, B, B, A])
    s3 = onehot_logits([B, C, A, B])
    pred, scores = ensemble_predict("majority", [s1, s2, s3], [ALL] * 3, [0.5, 0.3, 0.2])
    # row0: A, B, B -> B; row1: A, B, C one each -> tie -> most similar source s1 -> A
    # row2: B, B, A -> B; row3: C, A, B -> three-way tie -> s1's C
    assert list(pred) == ids(B, A, B, C)
    assert scores[0, LABEL2ID[B]] == 2 and scores[1, LABEL2ID[C]] == 1


def test_majority_tie_follows_weight_rank_not_list_position():
    # the second source in the list is the most similar (highest weight): it wins a 1-1 tie
    s1 = onehot_logits([A])
    s2 = onehot_logits([B])
    pred, _ = ensemble_predict("majority", [s1, s2], [ALL] * 2, [0.2, 0.8])
    assert list(pred) == ids(B)
    # equal weights: position decides
    pred, _ = ensemble_predict("majority", [s1, s2], [ALL] * 2, [1.0, 1.0])
    assert list(pred) == ids(A)


def test_weighted_majority_sums_weights_and_breaks_exact_ties_by_similarity():
    s1, s2, s3 = onehot_logits([A, A]), onehot_logits([B, B]), onehot_logits([B, C])
    # row0: A 0.5 vs B 0.3+0.2=0.5 -> tie -> most similar source (s1) -> A
    # row1: A 0.5, B 0.3, C 0.2 -> A
    pred, scores = ensemble_predict("weighted_majority", [s1, s2, s3], [ALL] * 3, [5, 3, 2])
    assert list(pred) == ids(A, A)
    np.testing.assert_allclose(scores[0, ids(A, B)], [0.5, 0.5])
    # 0.4 vs 0.6: the two less similar sources outvote the first
    pred, _ = ensemble_predict("weighted_majority", [s1, s2, s3], [ALL] * 3, [4, 3, 3])
    assert list(pred)[0] == LABEL2ID[B]


def test_soft_is_weighted_mean_of_softmax():
    labels = [A, B, C]
    s1 = np.array([[2.0, 0.0, 0.0]])  # softmax (0.7870, 0.1065, 0.1065)
    s2 = np.array([[0.0, 1.0, 0.9]])  # softmax (0.1588, 0.4316, 0.3905) (rounded)
    w = [0.4, 0.6]
    pred, scores = ensemble_predict("soft", [s1, s2], [labels] * 2, w)
    e1 = np.exp([2.0, 0, 0]) / np.exp([2.0, 0, 0]).sum()
    e2 = np.exp([0, 1.0, 0.9]) / np.exp([0, 1.0, 0.9]).sum()
    expected = 0.4 * e1 + 0.6 * e2  # A 0.4101, B 0.3016, C 0.2769
    np.testing.assert_allclose(scores[0, ids(A, B, C)], expected, rtol=1e-12)
    assert list(pred) == ids(A)
    # a confident minority: soft and raw-logit voting disagree
    s3 = np.array([[10.0, 0.0, 0.0]])
    s4 = np.array([[0.0, 1.5, 0.0]])
    pred_soft, _ = ensemble_predict("soft", [s3, s4], [labels] * 2, [0.3, 0.7])
    pred_log, sc = ensemble_predict("uriel_logits", [s3, s4], [labels] * 2, [0.3, 0.7])
    # soft: A = 0.3*0.99991 + 0.7*0.1255 = 0.3878; B = 0.3*0.0000454 + 0.7*0.6903 = 0.4832 -> B
    assert list(pred_soft) == ids(B)
    # logits: A = 3.0, B = 1.05 -> A
    np.testing.assert_allclose(sc[0, ids(A, B, C)], [3.0, 1.05, 0.0])
    assert list(pred_log) == ids(A)


def test_label_order_is_matched_by_name():
    # source 2 lists its labels in another order; its logits still vote for the named class
    s1 = np.array([[0.0, 3.0, 0.0]])  # order A, B, C -> B
    s2 = np.array([[3.0, 0.0, 0.0]])  # order B, C, A -> B
    for method in ("majority", "weighted_majority", "soft", "uriel_logits"):
        pred, _ = ensemble_predict(method, [s1, s2], [[A, B, C], [B, C, A]], [0.5, 0.5])
        assert list(pred) == ids(B), method


def test_errors_are_raised_not_papered_over():
    s = onehot_logits([A])
    with pytest.raises(EnsembleError, match="Unknown voting method"):
        ensemble_predict("median", [s], [ALL], [1.0])
    with pytest.raises(EnsembleError, match="not all zero"):
        ensemble_predict("soft", [s, s], [ALL] * 2, [0.0, 0.0])
    with pytest.raises(EnsembleError, match="different numbers of rows"):
        ensemble_predict("soft", [s, onehot_logits([A, B])], [ALL] * 2, [1, 1])
    with pytest.raises(LabelMismatchError, match="same label set"):
        ensemble_predict("uriel_logits", [np.zeros((1, 2)), np.zeros((1, 3))], [[A, B], [A, B, C]], [1, 1])
