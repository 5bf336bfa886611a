"""Helpers for the auto_merge_llm engine tests: tiny XLM-R classifiers saved as safetensors folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABELS = ["alarm_set", "weather_query", "play_music", "news_query"]


def tiny_config(num_labels: int = 4, labels: list[str] | None = None, hidden: int = 16, layers: int = 2):
    from transformers import XLMRobertaConfig

    labels = labels or LABELS[:num_labels]
    return XLMRobertaConfig(
        vocab_size=100,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )


def make_classifier(seed: int, labels: list[str] | None = None, hidden: int = 16, layers: int = 2):
    from transformers import XLMRobertaForSequenceClassification

    torch.manual_seed(seed)
    model = XLMRobertaForSequenceClassification(tiny_config(labels=labels, hidden=hidden, layers=layers))
    # perturb every parameter so LayerNorm weights/biases differ between models too
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def save_classifier(model, path: Path, max_shard_size: str | None = None) -> Path:
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(path, **kwargs)
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a folder directly with safetensors (independent of the library under test)."""
    sd: dict[str, torch.Tensor] = {}
    for f in sorted(Path(path).glob("*.safetensors")):
        sd.update(load_file(str(f)))
    return sd


def write_folder(path: Path, state_dict: dict[str, torch.Tensor], config: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in state_dict.items()},
        str(path / "model.safetensors"),
        metadata={"format": "pt"},
    )
    (path / "config.json").write_text(json.dumps(config))
    return path
