"""How well does each similarity source predict zero-shot transfer?

For an NxN accuracy matrix ``M`` computed on the **dev** split (rows = model locale, columns = evaluated
locale) the observed transfer to target ``t`` from source ``s`` is ``T[t, s] = M[s, t]``. For every similarity
source ``S`` and target ``t``, over the candidate sources ``s != t`` that both ``S`` scores and ``M`` observes
(at least 3):

* ``spearman``: Spearman's rho between ``S[t, .]`` and ``T[t, .]`` (Pearson correlation of average ranks);
* ``kendall``: Kendall's tau-b, ``(C - D) / sqrt((n0 - n1) (n0 - n2))`` with ``C``/``D`` concordant/discordant
  pairs, ``n0 = n (n - 1) / 2`` and ``n1``/``n2`` the pairs tied in ``S``/``T`` (as ``scipy.stats.kendalltau``);
* ``ndcg_at_k``: sources ranked by ``S`` (ties by locale code, as source selection breaks them), gain = the
  observed transfer min-max scaled within the target (best source 1, worst 0),
  ``DCG@K = sum_{i<=K} gain_i / log2(i + 1)``, divided by the DCG@K of the order by observed transfer
  (Jarvelin & Kekalainen, 2002);
* ``top1_hit``: whether the source ranked first by ``S`` is a best observed source.

A correlation or NDCG that is undefined (a constant row) is NaN and left out of the means. Per source, the
mean Spearman has a percentile bootstrap interval: targets resampled with replacement ``n_boot`` times
(``numpy.random.default_rng(seed)``), the 2.5 and 97.5 percentiles of the resampled means (Efron &
Tibshirani, 1993).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from merginguriel.errors import UserError
from merginguriel.outputs.atomic import write_text_atomic
from merginguriel.similarity.builders import empirical_similarity

REPORT_FILE = "transfer_report.csv"
SUMMARY_FILE = "transfer_report_summary.csv"
MARKDOWN_FILE = "transfer_report.md"
SPEARMAN_PLOT = "transfer_report_spearman.png"
REPORT_COLUMNS = ["source", "target", "spearman", "kendall", "ndcg_at_k", "top1_hit"]
SUMMARY_COLUMNS = [
    "source",
    "mean_spearman",
    "ci_low",
    "ci_high",
    "mean_ndcg_at_k",
    "top1_rate",
    "n_targets",
]
MIN_SOURCES = 3


class TransferReportError(UserError):
    """Inputs a transfer report cannot be computed from."""


def _average_ranks(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank(method="average").to_numpy(dtype=np.float64)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks; NaN if either is constant."""
    rx, ry = _average_ranks(np.asarray(x, dtype=float)), _average_ranks(np.asarray(y, dtype=float))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else math.nan


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (module doc); NaN if either is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    i, j = np.triu_indices(n, k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    n0 = n * (n - 1) / 2
    n1, n2 = float(np.sum(dx == 0)), float(np.sum(dy == 0))
    denom = math.sqrt((n0 - n1) * (n0 - n2))
    return float(np.sum(dx * dy) / denom) if denom > 0 else math.nan


def ranked_by(scores: Sequence[float], labels: Sequence[str]) -> list[int]:
    """Indices by decreasing score, ties broken by label (the order source selection uses)."""
    return sorted(range(len(labels)), key=lambda k: (-float(scores[k]), labels[k]))


def ndcg_at_k(scores: Sequence[float], observed: Sequence[float], labels: Sequence[str], k: int) -> float:
    """NDCG@K of the order by ``scores`` with gains = ``observed`` min-max scaled (module doc)."""
    if k < 1:
        raise TransferReportError(f"--k must be at least 1 (got {k}).")
    obs = np.asarray(observed, dtype=float)
    span = obs.max() - obs.min()
    if span <= 0:
        return math.nan
    gain = (obs - obs.min()) / span
    discount = 1.0 / np.log2(np.arange(2, min(k, len(obs)) + 2))
    dcg = float(gain[ranked_by(scores, labels)[:k]] @ discount)
    ideal = float(np.sort(gain)[::-1][:k] @ discount)
    return dcg / ideal


def top1_hit(scores: Sequence[float], observed: Sequence[float], labels: Sequence[str]) -> bool:
    obs = np.asarray(observed, dtype=float)
    return bool(obs[ranked_by(scores, labels)[0]] == obs.max())


def target_metrics(similarity: pd.Series, observed: pd.Series, k: int) -> dict[str, float | bool]:
    """The four metrics for one target, over sources both series score (NaN dropped), target excluded."""
    both = pd.concat([similarity.rename("s"), observed.rename("t")], axis=1).dropna()
    labels = [str(x) for x in both.index]
    s, t = both["s"].to_numpy(), both["t"].to_numpy()
    return {
        "spearman": spearman(s, t),
        "kendall": kendall_tau_b(s, t),
        "ndcg_at_k": ndcg_at_k(s, t, labels, k),
        "top1_hit": top1_hit(s, t, labels),
    }


@dataclass
class ReportInputs:
    """The observed transfer and the similarity rows the report compares, aligned per target."""

    transfer: pd.DataFrame  # T[t, s]
    similarities: dict[str, pd.DataFrame]
    targets: list[str]
    notes: list[str] = field(default_factory=list)


def align(
    nxn: pd.DataFrame, similarities: Mapping[str, pd.DataFrame], targets: Sequence[str] | None = None
) -> ReportInputs:
    """Check the inputs fit together and find the targets every source can be judged on.

    Raises when a similarity matrix shares no target or fewer than 3 sources with the NxN matrix, or when a
    target has fewer than 3 sources that both a similarity matrix scores and the NxN matrix observes.
    """
    if not similarities:
        raise TransferReportError(
            "No similarity matrices to judge: give NAME=CSV arguments or --sources (e.g. --sources lang2vec,urielplus)."
        )
    transfer = empirical_similarity(nxn)
    t_values = transfer.to_numpy(copy=True)
    np.fill_diagonal(t_values, np.nan)
    transfer = pd.DataFrame(t_values, index=transfer.index, columns=transfer.columns)
    nxn_targets = [loc for loc in nxn.columns if transfer.loc[loc].notna().any()]
    nxn_sources = list(nxn.index)
    common = list(nxn_targets)
    notes: list[str] = []
    for name, sim in similarities.items():
        shared_targets = [t for t in nxn_targets if t in sim.index]
        shared_sources = [s for s in nxn_sources if s in sim.columns]
        if not shared_targets or len(shared_sources) < MIN_SOURCES:
            raise TransferReportError(
                f"Similarity matrix {name!r} and the NxN matrix do not overlap: {name!r} covers "
                f"{', '.join(map(str, sim.index))}; the NxN matrix evaluates {', '.join(nxn_targets)} with models "
                f"of {', '.join(nxn_sources)}. Build the similarity matrix for the NxN matrix's locales."
            )
        common = [t for t in common if t in sim.index]
    if targets is not None:
        unknown = [t for t in targets if t not in common]
        if unknown:
            raise TransferReportError(
                f"Target(s) {', '.join(unknown)} are not evaluated in the NxN matrix or not in every similarity "
                f"matrix; the targets all inputs share are: {', '.join(common)}."
            )
        common = list(targets)
    dropped = [t for t in nxn_targets if t not in common]
    if dropped and targets is None:
        notes.append(f"targets not in every similarity matrix, left out: {', '.join(dropped)}")
    if not common:
        raise TransferReportError(
            "No target is both evaluated in the NxN matrix and in every similarity matrix."
        )
    short: dict[str, list[str]] = {}
    for name, sim in similarities.items():
        for t in common:
            row = sim.loc[t].drop(labels=[t], errors="ignore").reindex(transfer.columns)
            n = int((row.notna() & transfer.loc[t].notna()).sum())
            if n < MIN_SOURCES:
                short.setdefault(name, []).append(f"{t} ({n})")
    if short:
        detail = "; ".join(f"{name}: {', '.join(items)}" for name, items in short.items())
        raise TransferReportError(
            f"Fewer than {MIN_SOURCES} sources that are both scored by the similarity matrix and observed in the "
            f"NxN matrix, for: {detail}. Rank correlations need at least {MIN_SOURCES}: evaluate more models, "
            "score more pairs (URIEL+: --unscored fallback), or leave these targets out with --targets."
        )
    return ReportInputs(transfer, dict(similarities), common, notes)


def transfer_report(
    nxn: pd.DataFrame,
    similarities: Mapping[str, pd.DataFrame],
    k: int = 5,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (similarity source, target): ``source,target,spearman,kendall,ndcg_at_k,top1_hit``."""
    inputs = align(nxn, similarities, targets)
    rows = []
    for name, sim in inputs.similarities.items():
        for t in inputs.targets:
            row = sim.loc[t].drop(labels=[t], errors="ignore").reindex(inputs.transfer.columns)
            rows.append({"source": name, "target": t, **target_metrics(row, inputs.transfer.loc[t], k)})
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaN values dropped; NaN interval if none is left)."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    if n_boot < 1:
        raise TransferReportError(f"--bootstrap must be at least 1 (got {n_boot}).")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def summarise(report: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per source: mean Spearman with its bootstrap interval, mean NDCG@K, top-1 rate, number of targets."""
    rows = []
    for name, part in report.groupby("source", sort=False):
        rho = part["spearman"].to_numpy(dtype=float)
        low, high = bootstrap_ci(rho, n_boot, seed, level)
        rows.append(
            {
                "source": name,
                "mean_spearman": float(np.nanmean(rho)) if np.any(~np.isnan(rho)) else math.nan,
                "ci_low": low,
                "ci_high": high,
                "mean_ndcg_at_k": float(part["ndcg_at_k"].mean()),
                "top1_rate": float(part["top1_hit"].astype(float).mean()),
                "n_targets": int(np.sum(~np.isnan(rho))),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def markdown(summary: pd.DataFrame, report: pd.DataFrame, k: int, n_boot: int) -> str:
    """The summary table and the per-target Spearman table, in Markdown."""
    lines = [
        "# Transfer report",
        "",
        f"How well each similarity source ranks the observed dev-split transfer (NDCG@{k}; "
        f"95% bootstrap interval over targets, {n_boot} resamples).",
        "",
        f"| source | mean Spearman | 95% CI | mean NDCG@{k} | top-1 rate | targets |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary.itertuples(index=False):
        lines.append(
            f"| {r.source} | {r.mean_spearman:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
            f"{r.mean_ndcg_at_k:.3f} | {r.top1_rate:.2f} | {r.n_targets} |"
        )
    pivot = report.pivot(index="target", columns="source", values="spearman")[list(summary["source"])]
    lines += ["", "## Spearman per target", "", "| target | " + " | ".join(pivot.columns) + " |"]
    lines.append("| --- |" + " ---: |" * len(pivot.columns))
    for target, values in pivot.iterrows():
        cells = " | ".join("" if math.isnan(v) else f"{v:.3f}" for v in values)
        lines.append(f"| {target} | {cells} |")
    return "\n".join(lines) + "\n"


def plot_mean_spearman(summary: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Bars of mean Spearman per source with the bootstrap interval as error bars."""
    from merginguriel.outputs.plotting import plt, save_figure

    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.45 * len(summary) + 1)))
    labels = list(summary["source"])[::-1]
    means = summary["mean_spearman"].to_numpy(dtype=float)[::-1]
    low = np.nan_to_num(means - summary["ci_low"].to_numpy(dtype=float)[::-1])
    high = np.nan_to_num(summary["ci_high"].to_numpy(dtype=float)[::-1] - means)
    ax.barh(labels, means, xerr=[low, high], capsize=4, color=plt.get_cmap("tab10")(0))
    for k, (v, h) in enumerate(zip(means, high)):
        if not math.isnan(v):
            ax.text(max(v + h, 0.0), k, f"  {v:.3f}", va="center", fontsize=8)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("mean Spearman rho over targets (95% bootstrap interval)")
    ax.set_title("How well each similarity source predicts dev transfer")
    return save_figure(fig, path)


def plot_scatter(
    target: str, similarities: Mapping[str, pd.DataFrame], transfer: pd.DataFrame, path: str | os.PathLike
) -> Path:
    """For one target, one panel per source: similarity (x) against observed transfer accuracy (y)."""
    from merginguriel.outputs.plotting import plt, save_figure

    names = list(similarities)
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes.flat, names):
        row = similarities[name].loc[target].drop(labels=[target], errors="ignore").reindex(transfer.columns)
        both = pd.concat([row.rename("s"), transfer.loc[target].rename("t")], axis=1).dropna()
        ax.scatter(both["s"], both["t"], s=18)
        for loc, r in both.iterrows():
            ax.annotate(str(loc), (r["s"], r["t"]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_title(f"{name} (rho {spearman(both['s'], both['t']):.2f})", fontsize=9)
        ax.set_xlabel("similarity")
        ax.set_ylabel(f"accuracy on {target} (dev)")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"Similarity vs observed transfer to {target}")
    return save_figure(fig, path)


def scatter_file(target: str) -> str:
    return f"transfer_report_scatter_{target}.png"


def write_report(
    report: pd.DataFrame,
    summary: pd.DataFrame,
    out_dir: str | os.PathLike,
    k: int,
    n_boot: int,
) -> list[Path]:
    """``transfer_report.csv``, ``transfer_report_summary.csv`` and ``transfer_report.md`` (atomically)."""
    out = Path(out_dir)
    return [
        write_text_atomic(out / REPORT_FILE, report.to_csv(index=False, float_format="%.6f")),
        write_text_atomic(out / SUMMARY_FILE, summary.to_csv(index=False, float_format="%.6f")),
        write_text_atomic(out / MARKDOWN_FILE, markdown(summary, report, k, n_boot)),
    ]


__all__ = [
    "MIN_SOURCES",
    "REPORT_COLUMNS",
    "SUMMARY_COLUMNS",
    "ReportInputs",
    "TransferReportError",
    "align",
    "bootstrap_ci",
    "kendall_tau_b",
    "markdown",
    "ndcg_at_k",
    "plot_mean_spearman",
    "plot_scatter",
    "ranked_by",
    "spearman",
    "summarise",
    "target_metrics",
    "top1_hit",
    "transfer_report",
    "write_report",
]
