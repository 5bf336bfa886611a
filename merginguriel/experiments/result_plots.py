"""PNG plots of aggregated results (``merginguriel plot`` / ``plot_results.py``): per method, accuracy against the
four baselines and the improvement over three of them, plus an overview of mean improvements."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from merginguriel.data.tables import read_csv_table
from merginguriel.errors import UserError
from merginguriel.experiments.aggregation import BASELINES, NON_METHODS, method_summary, win_analysis
from merginguriel.outputs.atomic import write_text_atomic

IMPROVEMENTS = {
    "avg_zero_shot": "vs average zero-shot",
    "best_zero_shot": "vs best zero-shot",
    "best_source": "vs best source (fair)",
}


def latest_csv(folder: str | os.PathLike = ".", prefix: str = "results_comprehensive_") -> Path | None:
    files = sorted(Path(folder).glob(f"{prefix}*.csv"))
    return files[-1] if files else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_comprehensive(
    csv_file: str | os.PathLike,
    plots_dir: str | os.PathLike = "plots",
    progress: bool = True,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """Per method: pure scores vs the four baselines and three improvement bar charts; an overview of
    mean improvements; ``advanced_analysis_summary_{ts}.csv``. Returns {"plots": [...], "summary": path}."""
    import matplotlib.pyplot as plt

    from merginguriel.outputs.plotting import save_figure

    frame = read_csv_table(csv_file, "a results_comprehensive_*.csv of aggregate")
    missing_cols = [c for c in ("method", "locale", "accuracy", *BASELINES) if c not in frame.columns]
    if missing_cols:
        raise UserError(
            f"{csv_file} lacks columns {missing_cols}; plot a results_comprehensive_*.csv made "
            "with baselines (without --no-baselines)."
        )
    frame = frame[~frame["mode"].isin(NON_METHODS)] if "mode" in frame else frame
    if frame.empty:
        raise UserError(f"{csv_file} holds no method results to plot.")
    out = Path(plots_dir)
    stamp = timestamp or time.strftime("%Y%m%d_%H%M%S")
    made: list[Path] = []
    methods = sorted(frame["method"].unique())
    for method in tqdm(methods, desc="plots", unit="method", disable=not progress):
        group = frame[frame["method"] == method].sort_values("locale").set_index("locale")
        values = group[["accuracy", *BASELINES]]
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(values) + 2), 4))
        width = 0.8 / values.shape[1]
        x = np.arange(len(values))
        for j, col in enumerate(values.columns):
            ax.bar(
                x + j * width,
                values[col].to_numpy(dtype=float),
                width,
                label=col if col != "accuracy" else method,
            )
        ax.set_xticks(x + 0.4 - width / 2, labels=list(values.index), rotation=60, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{method}: accuracy vs baselines")
        ax.legend(fontsize=7)
        made.append(save_figure(fig, out / f"{_safe(method)}_scores_vs_baselines.png"))
        for base, text in IMPROVEMENTS.items():
            delta = group[f"improvement_vs_{base}"].astype(float)
            fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(delta) + 2), 3.5))
            ax.bar(
                list(delta.index),
                delta.to_numpy(),
                color=["tab:green" if v > 0 else "tab:red" for v in delta],
            )
            ax.axhline(0, color="black", linewidth=0.8)
            ax.tick_params(axis="x", rotation=60, labelsize=8)
            ax.set_ylabel("accuracy difference")
            ax.set_title(f"{method}: improvement {text} (mean {delta.mean():+.4f})")
            made.append(save_figure(fig, out / f"{_safe(method)}_improvement_vs_{base}.png"))
    wins = win_analysis(frame.assign(mode=frame.get("mode", frame["method"])))
    summary = method_summary(frame, wins)
    means = summary.set_index("method")[[f"mean_improvement_vs_{b}" for b in IMPROVEMENTS]]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(means) + 2), 4))
    width = 0.8 / len(IMPROVEMENTS)
    x = np.arange(len(means))
    for j, base in enumerate(IMPROVEMENTS):
        ax.bar(
            x + j * width, means[f"mean_improvement_vs_{base}"].to_numpy(), width, label=IMPROVEMENTS[base]
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x + 0.4 - width / 2, labels=list(means.index), rotation=45, fontsize=8)
    ax.set_ylabel("mean accuracy difference")
    ax.set_title("Mean improvement per method")
    ax.legend(fontsize=7)
    made.append(save_figure(fig, out / "methods_mean_improvement.png"))
    summary_path = out / f"advanced_analysis_summary_{stamp}.csv"
    write_text_atomic(summary_path, summary.to_csv(index=False))
    return {"plots": made, "summary": summary_path}


__all__ = ["IMPROVEMENTS", "latest_csv", "plot_comprehensive"]
