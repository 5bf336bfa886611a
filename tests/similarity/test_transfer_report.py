"""The transfer report's metrics against scipy / hand computation, its files and its errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from merginguriel.similarity.builders import empirical_similarity
from merginguriel.similarity.matrix import write_matrix
from merginguriel.similarity.transfer_report import (
    REPORT_COLUMNS,
    SUMMARY_COLUMNS,
    TransferReportError,
    bootstrap_ci,
    kendall_tau_b,
    ndcg_at_k,
    spearman,
    summarise,
    top1_hit,
    transfer_report,
)

LOCS = ["af-ZA", "de-DE", "nl-NL", "en-US", "fr-FR"]
# rows = model locale, columns = evaluated locale (accuracy)
NXN = pd.DataFrame(
    [
        [0.90, 0.70, 0.80, 0.50, 0.40],
        [0.75, 0.92, 0.78, 0.60, 0.45],
        [0.85, 0.72, 0.91, 0.55, 0.42],
        [0.55, 0.62, 0.58, 0.95, 0.65],
        [0.45, 0.50, 0.47, 0.66, 0.93],
    ],
    index=LOCS,
    columns=LOCS,
)


def sim_frame(values) -> pd.DataFrame:
    array = np.array(values, dtype=float)
    np.fill_diagonal(array, 0.0)
    return pd.DataFrame(array, index=LOCS, columns=LOCS)


GOOD = empirical_similarity(NXN)  # ranks every target's sources exactly as observed
RANDOM = sim_frame(np.random.default_rng(3).random((5, 5)))


@pytest.mark.parametrize("seed", range(5))
def test_rank_correlations_match_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=9).astype(float)  # many ties
    y = rng.integers(0, 5, size=9).astype(float)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_constant_rows_give_nan():
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau_b([1, 2, 3], [2, 2, 2]))


def test_ndcg_by_hand():
    labels = ["a", "b", "c", "d"]
    observed = [0.9, 0.5, 0.7, 0.1]  # gains (min-max): 1, 0.5, 0.75, 0
    scores = [0.1, 0.9, 0.5, 0.3]  # order by score: b, c, d, a
    dcg = 0.5 / math.log2(2) + 0.75 / math.log2(3)
    ideal = 1.0 / math.log2(2) + 0.75 / math.log2(3)
    assert ndcg_at_k(scores, observed, labels, 2) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(observed, observed, labels, 3) == pytest.approx(1.0)
    # a tie in the scores is broken by label: a before b
    assert ndcg_at_k([0.5, 0.5, 0.1, 0.0], observed, labels, 1) == pytest.approx(1.0)
    assert top1_hit(scores, observed, labels) is False
    assert top1_hit(observed, observed, labels) is True


def test_report_per_target_against_scipy():
    report = transfer_report(NXN, {"good": GOOD, "random": RANDOM}, k=2)
    assert list(report.columns) == REPORT_COLUMNS
    assert len(report) == 10
    good = report[report.source == "good"]
    assert np.allclose(good.spearman, 1.0) and np.allclose(good.ndcg_at_k, 1.0) and good.top1_hit.all()
    for t in LOCS:
        sources = [s for s in LOCS if s != t]
        obs = NXN.loc[sources, t].to_numpy()  # target's own model excluded
        sim = RANDOM.loc[t, sources].to_numpy()
        row = report[(report.source == "random") & (report.target == t)].iloc[0]
        assert row.spearman == pytest.approx(stats.spearmanr(sim, obs).statistic)
        assert row.kendall == pytest.approx(stats.kendalltau(sim, obs).statistic)


def test_bootstrap_is_deterministic_with_a_seed_and_is_the_percentile_interval():
    values = [0.1, 0.4, 0.35, 0.8, 0.6, float("nan")]
    assert bootstrap_ci(values, 500, seed=11) == bootstrap_ci(values, 500, seed=11)
    assert bootstrap_ci(values, 500, seed=11) != bootstrap_ci(values, 500, seed=12)
    data = np.array(values[:-1])
    rng = np.random.default_rng(11)
    means = data[rng.integers(0, 5, size=(500, 5))].mean(axis=1)
    assert bootstrap_ci(values, 500, seed=11) == pytest.approx(
        (np.quantile(means, 0.025), np.quantile(means, 0.975))
    )
    low, high = bootstrap_ci(values, 2000, seed=0)
    assert low <= np.mean(data) <= high


def test_summary_means_and_rates():
    report = transfer_report(NXN, {"good": GOOD, "random": RANDOM}, k=2)
    summary = summarise(report, n_boot=200, seed=0)
    assert list(summary.columns) == SUMMARY_COLUMNS
    rnd = summary.set_index("source").loc["random"]
    part = report[report.source == "random"]
    assert rnd.mean_spearman == pytest.approx(part.spearman.mean())
    assert rnd.top1_rate == pytest.approx(part.top1_hit.mean())
    assert rnd.n_targets == 5
    assert summary.set_index("source").loc["good", "ci_low"] == pytest.approx(1.0)


def test_non_overlapping_locales_are_refused():
    other = ["ja-JP", "ko-KR", "zh-CN", "th-TH"]
    array = np.full((4, 4), 0.5)
    np.fill_diagonal(array, 0.0)
    frame = pd.DataFrame(array, index=other, columns=other)
    with pytest.raises(TransferReportError, match="do not overlap"):
        transfer_report(NXN, {"asian": frame})


def test_fewer_than_three_sources_is_refused():
    sparse = RANDOM.copy()
    sparse.loc["de-DE", ["nl-NL", "en-US"]] = np.nan  # de-DE keeps 2 scored sources
    with pytest.raises(TransferReportError, match=r"Fewer than 3 sources.*sparse: de-DE \(2\)"):
        transfer_report(NXN, {"sparse": sparse})
    small = NXN.iloc[:3, :3]
    with pytest.raises(TransferReportError, match="do not overlap|Fewer than 3"):
        transfer_report(small, {"random": RANDOM})


def test_command_writes_every_output(nxn_writer, tmp_path, capsys):
    from merginguriel.cli.commands.transfer_report import main

    good, rnd = write_matrix(GOOD, tmp_path / "good.csv"), write_matrix(RANDOM, tmp_path / "random.csv")
    out = tmp_path / "report"
    argv = ["--nxn-matrix", str(nxn_writer(NXN)), f"good={good}", f"random={rnd}", "--k", "2"]
    argv += ["--bootstrap", "100", "--out-dir", str(out), "--scatter-target", "de-DE"]
    assert main(argv) == 0
    report = pd.read_csv(out / "transfer_report.csv")
    summary = pd.read_csv(out / "transfer_report_summary.csv")
    assert list(report.columns) == REPORT_COLUMNS and list(summary.columns) == SUMMARY_COLUMNS
    md = (out / "transfer_report.md").read_text()
    assert "| source | mean Spearman | 95% CI |" in md and "| good | 1.000 |" in md
    for png in ("transfer_report_spearman.png", "transfer_report_scatter_de-DE.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "good" in capsys.readouterr().out


def test_command_builds_sources_including_the_learned_ranker(nxn_writer, tmp_path):
    from merginguriel.cli.commands.transfer_report import main

    out = tmp_path / "report"
    argv = ["--nxn-matrix", str(nxn_writer(NXN)), "--sources", "urielplus:genetic,learned"]
    argv += [
        "--features",
        "urielplus:genetic,urielplus:geographic",
        "--out-dir",
        str(out),
        "--bootstrap",
        "50",
    ]
    assert main(argv) == 0
    summary = pd.read_csv(out / "transfer_report_summary.csv")
    assert list(summary.source) == ["urielplus:genetic", "learned"]
    assert (summary.n_targets == 5).all()


@pytest.mark.parametrize(
    ("extra", "split", "message"),
    [
        ([], "test", "leaks the test set"),
        (["--sources", "wals"], "validation", "Unknown similarity source 'wals'"),
        (["--sources", "empirical"], "validation", "rho = 1 by construction"),
        (["good"], "validation", "is not NAME=CSV"),
        ([], "validation", "No similarity matrices"),
    ],
)
def test_command_errors_are_one_line(nxn_writer, capsys, extra, split, message):
    from merginguriel.cli.commands.transfer_report import run

    assert run(["--nxn-matrix", str(nxn_writer(NXN, split)), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
