"""PNG plots shared by the commands (matplotlib, headless)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402


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
                    shade = image.norm(value)
                    color = "black" if shade > 0.6 else "white"
                    ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    return save_figure(fig, path)


def bar_chart(
    values: pd.Series,
    path: str | os.PathLike,
    title: str,
    ylabel: str,
    groups: pd.Series | None = None,
) -> Path:
    """Horizontal bars of a labelled series (e.g. accuracy per model); ``groups`` colours bars by kind."""
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(values) + 1)))
    labels = [str(i) for i in values.index][::-1]
    colors = None
    if groups is not None:
        kinds = list(dict.fromkeys(groups.tolist()))
        palette = {kind: plt.get_cmap("tab10")(k) for k, kind in enumerate(kinds)}
        colors = [palette[g] for g in groups.tolist()][::-1]
        handles = [Patch(color=palette[kind], label=str(kind)) for kind in kinds]
        ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.barh(labels, values.to_numpy()[::-1], color=colors)
    for k, v in enumerate(values.to_numpy()[::-1]):
        ax.text(v, k, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel(ylabel)
    ax.set_title(title)
    return save_figure(fig, path)


__all__ = ["bar_chart", "heatmap", "save_figure"]
