"""Across targets: how the chosen recipes compare with the baselines chosen by the same protocol.

Per target: native (reference), best single source (protocol), uniform top-K (protocol), the seed default,
the oracle best single source on test (labelled oracle) and the chosen recipe (``recipe``: its test accuracy;
``recipe_label``: what it is), all on the target's test split.
Then the win rate of the recipe over the protocol's best source (wins / targets; a win is a test-accuracy
difference > 1e-12), the mean gain, and a paired bootstrap 95% interval of the mean gain (targets resampled
with replacement, ``n_boot`` times, seeded).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merginguriel.outputs.atomic import write_text_atomic

ROLES = {
    "chosen recipe": "recipe",
    "best source": "best_source",
    "uniform top k": "uniform_top_k",
    "seed default": "seed_default",
    "oracle best source (test)": "oracle_best_source",
    "native (the target's own model)": "native",
}


def per_target(finals: dict[str, pd.DataFrame], recipes: dict[str, str], protocol: str) -> pd.DataFrame:
    rows = []
    for target, final in sorted(finals.items()):
        row: dict[str, Any] = {"target": target, "protocol": protocol, "recipe_label": recipes.get(target)}
        for role, column in ROLES.items():
            match = final[final["role"] == role]
            row[column] = float(match["accuracy"].iloc[0]) if len(match) else np.nan
        row["gain_vs_best_source"] = row["recipe"] - row["best_source"]
        rows.append(row)
    return pd.DataFrame(rows)


def paired_bootstrap(
    diff: np.ndarray, n_boot: int = 10000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of paired differences, resampling targets with replacement."""
    diff = np.asarray(diff, dtype=np.float64)
    diff = diff[~np.isnan(diff)]
    if len(diff) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def win_summary(table: pd.DataFrame, n_boot: int = 10000, seed: int = 0) -> dict[str, Any]:
    diff = table["gain_vs_best_source"].to_numpy(dtype=float)
    valid = diff[~np.isnan(diff)]
    low, high = paired_bootstrap(valid, n_boot, seed)
    return {
        "targets": int(len(valid)),
        "wins": int((valid > 1e-12).sum()),
        "ties": int((np.abs(valid) <= 1e-12).sum()),
        "losses": int((valid < -1e-12).sum()),
        "mean_gain": float(valid.mean()) if len(valid) else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "n_boot": n_boot,
    }


def _markdown(table: pd.DataFrame, wins: dict[str, Any], protocol: str) -> str:
    from merginguriel.experiments.aggregation import markdown_table

    lines = [
        f"# Recipe selection: {protocol}",
        "",
        f"Test accuracy per target. Recipe and baselines chosen on dev data only ({protocol}); the oracle row picks the "
        "best single source *on test* and is shown for reference only.",
        "",
        f"- recipe beats the protocol's best single source on {wins['wins']} of {wins['targets']} targets "
        f"({wins['ties']} ties, {wins['losses']} losses)",
        f"- mean gain {wins['mean_gain']:+.4f}, paired bootstrap 95% interval [{wins['ci_low']:+.4f}, {wins['ci_high']:+.4f}] "
        f"({wins['n_boot']} resamples of the targets)",
        "",
        markdown_table(table, index=False),
        "",
    ]
    return "\n".join(lines)


def plot_summary(table: pd.DataFrame, path: str | os.PathLike, protocol: str) -> Path:
    import matplotlib.pyplot as plt

    from merginguriel.outputs.plotting import save_figure

    columns = ["native", "oracle_best_source", "best_source", "uniform_top_k", "seed_default", "recipe"]
    columns = [c for c in columns if c in table and table[c].notna().any()]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(table) + 3), 4))
    width = 0.8 / len(columns)
    x = np.arange(len(table))
    for j, column in enumerate(columns):
        ax.bar(x + j * width, table[column].to_numpy(dtype=float), width, label=column.replace("_", " "))
    ax.set_xticks(x + 0.4 - width / 2, labels=list(table["target"]), rotation=45, fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Chosen recipe vs baselines ({protocol}; oracle = best source on test)")
    ax.legend(fontsize=7, ncol=3)
    return save_figure(fig, path)


def write_summary(
    selections: Sequence[Any], folder: str | os.PathLike, n_boot: int = 10000
) -> dict[str, Path]:
    """``selection_summary.csv``, ``selection_report.md``, ``selection_summary.png`` and the win block as JSON."""
    folder = Path(folder)
    finals = {s.target: s.final for s in selections if s.final is not None}
    protocol = selections[0].protocol if selections else ""
    table = per_target(finals, {s.target: s.chosen.label for s in selections}, protocol)
    wins = win_summary(table, n_boot)
    paths = {
        "csv": write_text_atomic(folder / "selection_summary.csv", table.to_csv(index=False)),
        "markdown": write_text_atomic(folder / "selection_report.md", _markdown(table, wins, protocol)),
        "json": write_text_atomic(folder / "selection_wins.json", json.dumps(wins, indent=2) + "\n"),
    }
    if len(table):
        paths["png"] = plot_summary(table, folder / "selection_summary.png", protocol)
    return paths


__all__ = ["paired_bootstrap", "per_target", "win_summary", "write_summary"]
