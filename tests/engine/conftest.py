"""Fixtures for the auto_merge_llm engine tests (helpers live in engine_testutils.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from engine_testutils import make_classifier, save_classifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# tiny models: one intra-op thread is ~100x faster than two when the 2-core machine is shared
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for i in range(3):
        save_classifier(make_classifier(seed=100 + i), root / f"m{i}")
    return root


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory) -> Path:
    """A pretrained base saved as XLMRobertaModel (names without the ``roberta.`` prefix)."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    root = tmp_path_factory.mktemp("base")
    torch.manual_seed(7)
    cfg = XLMRobertaConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
    )
    XLMRobertaModel(cfg, add_pooling_layer=True).save_pretrained(root / "base")
    return root / "base"
