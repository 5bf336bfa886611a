"""Fixtures of the training tests: a small dataset folder cut from the built-in corpus (fast), and helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merginguriel.data.massive import BUILTIN_CORPUS_DIR

TINY_LOCALES = ("de-DE", "nl-NL", "af-ZA", "en-US")
ROWS = {"train": 16, "dev": 8, "test": 8}


def write_tiny_dataset(folder: Path, locales=TINY_LOCALES, rows=ROWS) -> Path:
    """``folder/<locale>/{train,dev,test}.jsonl`` holding the first rows of the built-in corpus."""
    for loc in locales:
        for split, n in rows.items():
            lines = (BUILTIN_CORPUS_DIR / loc / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
            (folder / loc).mkdir(parents=True, exist_ok=True)
            (folder / loc / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train several times faster on one thread (no thread spinning on a busy, small machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "massive_tiny")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def quick_args(base: Path, data: Path, locale: str, out: Path, *extra: str) -> list[str]:
    """training_bert.py arguments for a few quick CPU steps."""
    return [
        "--model_name_or_path", str(base), "--dataset_config_name", locale, "--dataset_name", str(data),
        "--output_dir", str(out), "--do_train", "--per_device_train_batch_size", "4", "--max_seq_length", "32",
        "--disable_tqdm", "true", "--logging_strategy", "no", "--report_to", "none", "--dataloader_pin_memory", "false",
        "--learning_rate", "1e-3", *extra,
    ]  # fmt: skip
