"""Fixtures for the experiments-at-scale tests.

The models are tiny XLM-R classifiers whose output layer has zero weights and a bias of +10 on one intent, so
each model predicts one known intent whatever the text: every accuracy, ensemble vote and linear merge below
can be computed by hand from the intent counts of the tiny dataset (``TEST_INTENTS``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import XLMRobertaForSequenceClassification

from merginguriel.data.labels import LABEL2ID
from tests.tiny_models import save_locale_model

LOCALES = ["af-ZA", "de-DE", "nl-NL", "en-US"]
# the single intent each locale's model predicts
MODEL_INTENT = {"af-ZA": "alarm_set", "de-DE": "play_music", "nl-NL": "weather_query", "en-US": "play_music"}
BIAS = 10.0
# the gold intents of each locale's test (and dev) rows
TEST_INTENTS = {
    "af-ZA": ["alarm_set", "alarm_set", "play_music", "weather_query", "weather_query", "weather_query"],
    "de-DE": ["play_music", "play_music", "play_music", "alarm_set", "weather_query", "weather_query"],
    "nl-NL": ["weather_query"] * 4 + ["alarm_set", "play_music"],
    "en-US": ["alarm_set", "alarm_set", "play_music", "play_music", "weather_query", "weather_query"],
}
WORDS = ["wake", "me", "up", "play", "some", "music", "what", "is", "the", "weather", "today", "please"]
# similarity rows (row = target): af-ZA -> nl-NL 0.6, de-DE 0.3, en-US 0.1
SIMILARITY = np.array(
    [[0.0, 0.3, 0.6, 0.1], [0.3, 0.0, 0.5, 0.2], [0.6, 0.5, 0.0, 0.1], [0.1, 0.2, 0.1, 0.0]],
)


def accuracy_of(model_locale: str, test_locale: str) -> float:
    """Hand-computed accuracy of a constant model: the share of rows with its intent."""
    gold = TEST_INTENTS[test_locale]
    return gold.count(MODEL_INTENT[model_locale]) / len(gold)


def save_constant_model(base: Path, root: Path, locale: str, intent: str, seed: int) -> Path:
    path = save_locale_model(base, root, locale, seed=seed, scale=0.05)
    model = XLMRobertaForSequenceClassification.from_pretrained(path)
    with torch.no_grad():
        model.classifier.out_proj.weight.zero_()
        model.classifier.out_proj.bias.zero_()
        model.classifier.out_proj.bias[LABEL2ID[intent]] = BIAS
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def scale_models(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    """A models root ``{base}_massive_k_{locale}`` with one constant-intent model per locale."""
    root = tmp_path_factory.mktemp("scale") / "haryos_model"
    for i, loc in enumerate(LOCALES):
        save_constant_model(tiny_base, root, loc, MODEL_INTENT[loc], seed=100 + i)
    return root


def write_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for loc in LOCALES:
        (root / loc).mkdir(parents=True, exist_ok=True)
        for split in ("train", "dev", "test"):
            rows = [
                {
                    "id": str(i),
                    "locale": loc,
                    "partition": split,
                    "intent": intent,
                    "utt": " ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))),
                }
                for i, intent in enumerate(TEST_INTENTS[loc])
            ]
            text = "\n".join(json.dumps(r) for r in rows) + "\n"
            (root / loc / f"{split}.jsonl").write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<locale>/{train,dev,test}.jsonl`` with the intents of ``TEST_INTENTS``."""
    return write_dataset(tmp_path_factory.mktemp("data") / "massive_tiny")


@pytest.fixture(scope="session")
def similarity_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "sim.csv"
    pd.DataFrame(SIMILARITY, index=LOCALES, columns=LOCALES).to_csv(path)
    return path
