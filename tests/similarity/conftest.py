"""Helpers for the similarity-source tests: hand-made NxN matrices with the config the NxN command writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


def write_nxn(folder: Path, matrix: pd.DataFrame, split: str | None = "validation") -> Path:
    """``folder/evaluation_matrix.csv`` and (unless ``split`` is None) ``nxn_config.json`` recording ``split``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "evaluation_matrix.csv"
    matrix.to_csv(path)
    if split is not None:
        (folder / "nxn_config.json").write_text(json.dumps({"data": {"split": split}}))
    return path


@pytest.fixture()
def nxn_writer(tmp_path: Path):
    def make(matrix: pd.DataFrame, split: str | None = "validation", name: str = "nxn") -> Path:
        return write_nxn(tmp_path / name, matrix, split)

    return make
