"""Loading a classifier and the one inference loop of the toolkit (``predict_logits``): every evaluation,
NxN cell, ensemble source and statistics pass that needs logits runs through it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from merginguriel.errors import MissingInputError, UserError

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
    expert-fusion folder is checked in its own format (:func:`merginguriel.models.fusion.check_fusion_folder`)."""
    from auto_merge_llm.io import CheckpointReader

    folder = Path(model_dir)
    if not folder.is_dir():
        return
    if (folder / "fusion_config.json").is_file():
        from merginguriel.models.fusion import check_fusion_folder

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


def load_classifier(
    model_dir: str | os.PathLike, device: str = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (in eval mode, on ``device``) and tokenizer from a folder or hub id.

    An expert-fusion folder (``fusion_config.json``) is rebuilt from its components.
    A generative intent model (a decoder LM, :mod:`merginguriel.generative.classifier`) comes as a classifier whose logits
    are its 60 label scores, with a tokenizer that applies its prompt template.
    """
    model_dir = str(model_dir)
    if (Path(model_dir) / "fusion_config.json").is_file():
        from merginguriel.models.fusion import load_fusion_model

        return load_fusion_model(model_dir, device)
    if Path(model_dir).exists() and not (Path(model_dir) / "config.json").is_file():
        raise MissingInputError(f"{model_dir} is not a model folder (no config.json).")
    check_model_folder(model_dir)
    from merginguriel.generative.classifier import is_generative, load_generative

    if is_generative(model_dir):  # a decoder LM whose "logits" are its label scores
        return load_generative(model_dir, device)
    if not Path(model_dir).exists() and (model_dir.startswith((".", "/", "~")) or model_dir.count("/") > 1):
        raise MissingInputError(
            f"Model folder {model_dir} does not exist; give a model folder or a hub id org/name."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=None)
    except OSError as exc:  # a hub id that cannot be fetched (offline, private, misspelt)
        if Path(model_dir).exists():
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingInputError(
            f"Cannot load model {model_dir}: not a local folder, and the hub says: {first}"
        ) from None
    check_finite(model, model_dir)
    model.to(device).eval()
    return model, tokenizer


@torch.inference_mode()
def predict_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "predict",
) -> np.ndarray:
    """Logits (len(texts) x model.num_labels, float32), in the model's own label order.

    Texts are sorted by length so each batch pads only to its own longest text, then put back in order.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False, unit="batch"):
        idx = order[start : start + batch_size]
        enc = tokenizer(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        enc = {k: v.to(device) for k, v in enc.items()}
        out[idx] = model(**enc).logits.float().cpu().numpy()
    return out


__all__ = [
    "TOKENIZER_FILES",
    "check_finite",
    "check_finite_weights",
    "check_model_folder",
    "check_tokenizer",
    "load_classifier",
    "predict_logits",
]
