"""Refusing model folders that cannot be read safely, before anything is loaded: headers of safetensors and
configuration files, tokenizer files, pickle-only checkpoints (never unpickled), expert-fusion folders, and
non-finite weights (of a loaded model, or tensor by tensor from the files)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from merginguriel.errors import MissingInputError, UserError

FUSION_CONFIG = "fusion_config.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "vocab.txt",
)


def check_model_folder(model_dir: str | os.PathLike) -> None:
    """Refuse, before anything is loaded, a local model folder that cannot be read safely: no or invalid
    ``config.json``, pickle checkpoints only (never unpickled: loading one runs its code), truncated, empty or
    corrupt safetensors files, a broken shard index, or no tokenizer. Each is one error naming the file and the
    fix (the checks read headers only, as the merge engine's reader does). A hub id (not a folder) passes; an
    expert-fusion folder is checked in its own format (:func:`check_fusion_folder`)."""
    from auto_merge_llm.io import CheckpointReader

    folder = Path(model_dir)
    if not folder.is_dir():
        return
    if (folder / FUSION_CONFIG).is_file():
        check_fusion_folder(folder)
        return
    CheckpointReader(folder, role="model")
    check_tokenizer(folder)


def check_tokenizer(folder: str | os.PathLike) -> None:
    """A model folder without tokenizer files is one error naming it and how to add them."""
    folder = Path(folder)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise MissingInputError(
            f"{folder} has no tokenizer ({', '.join(TOKENIZER_FILES[:2])}); save the base model's tokenizer into "
            f"it: AutoTokenizer.from_pretrained(BASE).save_pretrained('{folder}')."
        )


def check_finite_weights(model_dir: str | os.PathLike) -> None:
    """:func:`check_finite` on a folder's safetensors, one tensor at a time, without building the model."""
    from auto_merge_llm.io import CheckpointReader

    with CheckpointReader(model_dir, role="model") as reader:
        bad = [
            n
            for n in reader.names
            if reader.dtype(n).is_floating_point and not bool(torch.isfinite(reader.get(n)).all())
        ]
    _refuse_non_finite(bad, model_dir)


def check_finite(model: torch.nn.Module, model_dir: str | os.PathLike) -> None:
    """A model whose weights hold NaN or infinity gives meaningless scores: one error naming the parameters."""
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    _refuse_non_finite(bad, model_dir)


def _refuse_non_finite(bad: Sequence[str], model_dir: str | os.PathLike) -> None:
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise UserError(
            f"{model_dir} has non-finite weights (NaN or inf) in {shown}; retrain or re-merge it."
        )


def check_fusion_folder(folder: str | os.PathLike) -> None:
    """Refuse, before anything is loaded, an expert-fusion folder (:mod:`merginguriel.models.fusion`) that cannot be
    read: an invalid ``fusion_config.json``, no tokenizer, truncated or corrupt safetensors (headers are read),
    a damaged expert folder, or pickle weights only (never unpickled)."""
    from auto_merge_llm.io import SafetensorsFile

    folder = Path(folder)
    config = folder / FUSION_CONFIG
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("expert_names"), list):
            raise ValueError("not an object with expert_names")
    except (OSError, ValueError) as exc:
        raise UserError(
            f"{config} is not a fusion configuration ({type(exc).__name__}: {exc}); the folder is damaged: "
            "save the fusion model again (merginguriel fusion writes it)."
        ) from None
    check_tokenizer(folder)
    if (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    elif (folder / "experts").is_dir():
        files = [folder / "fusion.safetensors", folder / "head.safetensors"]
        for expert in sorted(p for p in (folder / "experts").iterdir() if p.is_dir()):
            check_model_folder(expert)
    else:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})
        found = (
            f" (only pickle weights {', '.join(pickles)}: never unpickled, they can run code)"
            if pickles
            else ""
        )
        raise MissingInputError(
            f"{folder} has neither model.safetensors nor experts/{found}: not a complete fusion model folder; "
            "save it again with merginguriel fusion."
        )
    for path in files:
        if not path.is_file():
            raise MissingInputError(
                f"{path} is missing: the fusion folder {folder} is incomplete; save it again."
            )
        SafetensorsFile(path, role="fusion model")


__all__ = [
    "FUSION_CONFIG",
    "TOKENIZER_FILES",
    "check_finite",
    "check_finite_weights",
    "check_fusion_folder",
    "check_model_folder",
    "check_tokenizer",
]
