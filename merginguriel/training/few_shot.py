"""Fine-tuning for the few-shot baseline of recipe selection (``select --few-shot``): a model folder trained on
rows written as a MASSIVE-layout dataset, with the project's own trainer. Selection (``experiments``) never
imports training: the command line hands it this function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from merginguriel.data.massive import DataSelection
from merginguriel.training.arguments import TrainingOptions


def few_shot_training(epochs: float, learning_rate: float, seed: int) -> TrainingOptions:
    """The few-shot recipe: batch 16, word embeddings frozen (as the study's zoo was trained)."""
    return TrainingOptions(epochs=epochs, learning_rate=learning_rate, batch_size=16, seed=seed,
                           overrides={"freeze_embeddings": True})  # fmt: skip


def fine_tune(
    start: str, target: str, scratch: Path, max_seq_length: int, out: Path, options: TrainingOptions
) -> dict[str, Any]:
    """Fine-tune the model folder ``start`` on ``scratch/TARGET/train.jsonl`` into ``out`` (atomic)."""
    from merginguriel.training.trainer import train_classifier

    data = DataSelection(str(scratch), text_column="utt", max_seq_length=max_seq_length)
    args = options.arguments(
        start, target, data, out, overwrite=True, do_train=True, do_eval=False, do_predict=False,
        disable_tqdm=True, logging_strategy="epoch",
    )  # fmt: skip
    return train_classifier(args)


__all__ = ["few_shot_training", "fine_tune"]
