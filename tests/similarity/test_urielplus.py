"""URIEL+ similarities against direct ``urielplus`` calls (``URIELPlus.new_distance`` on pairs)."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from merginguriel.data.locales import iso639_3
from merginguriel.similarity.uriel_plus import (
    DISTANCE_TYPES,
    URIELPlusError,
    load_knowledge_base,
    urielplus_distances,
    urielplus_similarity,
)

# az-AZ has no syntactic data; eng-deu has no shared morphological feature
LOCS = ["en-US", "de-DE", "ja-JP", "az-AZ"]


def direct(kb, dist: str, a: str, b: str, metric: str) -> float:
    """URIEL+'s own distance for one pair (NaN where it raises: no shared features)."""
    kb.set_distance_metric(metric)
    try:
        return float(kb.new_distance(dist, [iso639_3(a), iso639_3(b)]))
    except ValueError:
        return float("nan")
    finally:
        kb.set_distance_metric("angular")


@pytest.fixture(scope="module")
def kb():
    return load_knowledge_base()


@pytest.mark.parametrize("metric", ["angular", "cosine"])
def test_every_type_matches_new_distance(kb, metric):
    ours = urielplus_distances(LOCS, "composite", metric)
    for dist in DISTANCE_TYPES:
        for a, b in itertools.combinations(LOCS, 2):
            ref = direct(kb, dist, a, b, metric)
            mine = ours[dist].loc[a, b]
            if np.isnan(ref):
                assert np.isnan(mine), (dist, a, b)
            else:
                # URIEL+ rounds to 4 decimals (and computes in float32); we keep full precision
                assert mine == pytest.approx(ref, abs=1e-4), (dist, a, b)
            assert mine == ours[dist].loc[b, a] or (np.isnan(mine) and np.isnan(ours[dist].loc[b, a]))


def test_similarity_is_one_minus_distance_with_zero_diagonal(kb):
    result = urielplus_similarity(["en-US", "de-DE", "ja-JP", "zh-CN", "zh-TW"], "genetic")
    sim = result.similarity
    assert sim.loc["en-US", "de-DE"] == pytest.approx(
        1 - direct(kb, "genetic", "en-US", "de-DE", "angular"), abs=1e-4
    )
    assert np.allclose(np.diag(sim.to_numpy()), 0.0)
    assert sim.loc["zh-CN", "zh-TW"] == pytest.approx(1.0)  # one URIEL language (cmn)
    assert sim.loc["en-US", "de-DE"] > sim.loc["en-US", "ja-JP"]
    assert result.unscored == []


def test_unscoreable_pair_is_reported_by_name_and_left_out(kb):
    with pytest.raises(ValueError, match="No shared morphological features"):
        kb.new_distance("morphological", ["eng", "deu"])  # what URIEL+ itself does
    result = urielplus_similarity(["en-US", "de-DE", "ja-JP"], "morphological", unscored="exclude")
    assert ("de-DE", "en-US") in result.unscored or ("en-US", "de-DE") in result.unscored
    assert np.isnan(result.similarity.loc["en-US", "de-DE"])
    assert np.isnan(result.similarity.loc["de-DE", "en-US"])
    assert result.similarity.loc["en-US", "en-US"] == 0.0
    assert result.filled == []


def test_fallback_is_the_composite_of_the_other_types(kb):
    result = urielplus_similarity(LOCS, "syntactic", unscored="fallback")
    pair = ("en-US", "az-AZ")
    assert tuple(sorted(pair)) in [tuple(sorted(p)) for p in result.unscored]
    assert tuple(sorted(pair)) in [tuple(sorted(p)) for p in result.filled]
    others = [direct(kb, d, *pair, "angular") for d in DISTANCE_TYPES if d != "syntactic"]
    expected = 1 - np.nanmean(others)
    assert result.similarity.loc[pair] == pytest.approx(expected, abs=1e-4)
    # a scoreable pair keeps its own syntactic similarity
    assert result.similarity.loc["en-US", "de-DE"] == pytest.approx(
        1 - direct(kb, "syntactic", "en-US", "de-DE", "angular"), abs=1e-4
    )


def test_composite_is_the_mean_of_the_available_types(kb):
    result = urielplus_similarity(LOCS, "composite")
    for a, b in [("en-US", "de-DE"), ("ja-JP", "az-AZ")]:
        refs = [direct(kb, d, a, b, "angular") for d in DISTANCE_TYPES]
        assert result.similarity.loc[a, b] == pytest.approx(1 - np.nanmean(refs), abs=1e-4)
    joined = urielplus_similarity(LOCS, "genetic+geographic")
    refs = [direct(kb, d, "en-US", "ja-JP", "angular") for d in ("genetic", "geographic")]
    assert joined.similarity.loc["en-US", "ja-JP"] == pytest.approx(1 - np.mean(refs), abs=1e-4)


def test_unknown_distance_and_rule_are_clear_errors():
    with pytest.raises(URIELPlusError, match="Unknown URIEL\\+ distance 'lexical'"):
        urielplus_similarity(LOCS, "lexical")
    with pytest.raises(URIELPlusError, match="--unscored must be one of"):
        urielplus_similarity(LOCS, "genetic", unscored="zero")
    with pytest.raises(URIELPlusError, match="--metric must be one of"):
        urielplus_similarity(LOCS, "genetic", metric="euclidean")


def test_urielplus_leaves_the_root_logger_alone_and_says_nothing(caplog):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with caplog.at_level(logging.INFO):
        urielplus_similarity(LOCS, "composite")
    assert root.handlers == handlers and root.level == level
    assert not [r for r in caplog.records if "urielplus" in r.pathname]


def test_command_lists_unscored_pairs(tmp_path, capsys):
    from merginguriel.cli.commands.similarity import main

    out = tmp_path / "up.csv"
    argv = [
        "--source",
        "urielplus",
        "--distance",
        "syntactic",
        "--locales",
        ",".join(LOCS),
        "--out-dense",
        str(out),
    ]
    argv += [
        "--out-sparse",
        str(tmp_path / "sp.csv"),
        "--out-plot",
        "",
        "--target",
        "en-US",
        "--num-languages",
        "2",
    ]
    argv += ["--weighting", "normalize"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "az-AZ/en-US" in printed or "en-US/az-AZ" in printed
    assert "In new_distance" not in printed
    assert "effective number of sources" in printed
    unscored = (tmp_path / "up_unscored.csv").read_text().splitlines()
    assert unscored[0] == "locale_a,locale_b" and len(unscored) == 4  # az-AZ with each of the other three
