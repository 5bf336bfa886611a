"""Loading a classifier and the one inference loop of the toolkit (``predict_logits``): every evaluation,
NxN cell, ensemble source and statistics pass that needs logits runs through it."""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
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

from merginguriel.errors import MissingInputError
from merginguriel.models.checks import check_finite, check_model_folder

# the files a Hugging Face tokenizer is read from (whichever of them a folder has)
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "vocab.txt", "vocab.json", "merges.txt",
)  # fmt: skip
_TOKENIZERS: OrderedDict[str, PreTrainedTokenizerBase] = OrderedDict()  # content fingerprint -> tokenizer
_MAX_TOKENIZERS = 8


def tokenizer_fingerprint(folder: str | os.PathLike) -> str:
    """SHA-1 over a folder's tokenizer files (names and bytes) and its config's ``model_type`` (which picks the
    tokenizer class when ``tokenizer_config.json`` does not): two folders with the same fingerprint load the
    same tokenizer."""
    digest = hashlib.sha1()
    for name in TOKENIZER_FILES:
        path = Path(folder) / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    config = Path(folder) / "config.json"
    if config.is_file():
        digest.update(str(json.loads(config.read_text(encoding="utf-8")).get("model_type")).encode())
    return digest.hexdigest()


def load_tokenizer(model_dir: str | os.PathLike) -> PreTrainedTokenizerBase:
    """The tokenizer of a folder or hub id. Folders whose tokenizer files are byte-identical share one loaded
    tokenizer (the last eight fingerprints are kept): a merged model carries a copy of its first source's
    tokenizer, so scoring many merges of the same sources loads it once, not once a merge (≈ 0.5 s each for
    XLM-R's). Encoding sets a fast tokenizer's truncation and padding per call, and ``save_pretrained`` would
    write the last call's settings: never save a shared tokenizer, copy the folder's files
    (:func:`merginguriel.merging.pipeline.copy_tokenizer`)."""
    if not Path(model_dir).is_dir():
        return AutoTokenizer.from_pretrained(str(model_dir))
    key = tokenizer_fingerprint(model_dir)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = AutoTokenizer.from_pretrained(str(model_dir))
        if len(_TOKENIZERS) > _MAX_TOKENIZERS:
            _TOKENIZERS.popitem(last=False)
    _TOKENIZERS.move_to_end(key)
    return _TOKENIZERS[key]


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
        tokenizer = load_tokenizer(model_dir)
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


__all__ = ["TOKENIZER_FILES", "load_classifier", "load_tokenizer", "predict_logits", "tokenizer_fingerprint"]
