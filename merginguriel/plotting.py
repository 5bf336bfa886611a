"""PNG plots shared by the commands (matplotlib, headless)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def heatmap(
    frame: pd.DataFrame, path: str | os.PathLike, title: str, fmt: str = ".2f", cmap: str = "viridis"
) -> Path:
    """Heatmap of a (row label x column label) frame, values annotated when it is small enough to read."""
    n_rows, n_cols = frame.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * n_cols + 2), max(3.5, 0.4 * n_rows + 1.5)))
    image = ax.imshow(frame.to_numpy(dtype=float), cmap=cmap, aspect="auto")
    ax.set_xticks(range(n_cols), labels=[str(c) for c in frame.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(n_rows), labels=[str(i) for i in frame.index], fontsize=7)
    if n_rows * n_cols <= 400:
        for i in range(n_rows):
            for j in range(n_cols):
                value = frame.iat[i, j]
                if pd.notna(value):
                    ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    return save_figure(fig, path)


def bar_chart(values: pd.Series, path: str | os.PathLike, title: str, ylabel: str) -> Path:
    """Horizontal bars of a labelled series (e.g. accuracy per model)."""
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(values) + 1)))
    ax.barh([str(i) for i in values.index][::-1], values.to_numpy()[::-1])
    for k, v in enumerate(values.to_numpy()[::-1]):
        ax.text(v, k, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel(ylabel)
    ax.set_title(title)
    return save_figure(fig, path)


__all__ = ["bar_chart", "heatmap", "save_figure"]
