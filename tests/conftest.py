"""Shared fixtures: tiny XLM-R models and a tiny tokenizer built here (never downloaded), and the location
of the real MASSIVE copy in ../shared/massive (tests that need it skip when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.tiny_models import build_tiny_base, save_locale_model  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MASSIVE = REPO_ROOT.parent / "shared" / "massive"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pretrained-encoder stand-in (XLMRobertaModel + tokenizer), saved as a local folder."""
    return build_tiny_base(tmp_path_factory.mktemp("tiny") / "tiny-xlmr")


@pytest.fixture()
def locale_models(tmp_path: Path, tiny_base: Path):
    """Factory: save randomly perturbed tiny classifiers for locales under ``tmp_path/haryos_model``."""

    def make(locales: list[str], seed: int = 0) -> Path:
        root = tmp_path / "haryos_model"
        for i, loc in enumerate(locales):
            save_locale_model(tiny_base, root, loc, seed=seed + i)
        return root

    return make


HAND_LOCALES = ["af-ZA", "de-DE", "nl-NL", "en-US"]


@pytest.fixture()
def matrix_csv(tmp_path: Path) -> Path:
    """A hand-made similarity matrix over af-ZA, de-DE, nl-NL, en-US (rows sum to 1)."""
    import numpy as np
    import pandas as pd

    m = np.array([[0.0, 0.2, 0.6, 0.2], [0.2, 0.0, 0.5, 0.3], [0.6, 0.5, 0.0, 0.1], [0.2, 0.3, 0.1, 0.0]])
    path = tmp_path / "sim.csv"
    pd.DataFrame(m, index=HAND_LOCALES, columns=HAND_LOCALES).to_csv(path)
    return path


@pytest.fixture(scope="session")
def shared_massive() -> Path:
    if not (SHARED_MASSIVE / "labels.json").is_file():
        pytest.skip("../shared/massive is not present")
    return SHARED_MASSIVE
