"""On-disk cache of per-(model, data selection) logits, shared by evaluation, NxN matrices, ensembles, sweeps
and recipe selection: the toolkit's one cache of forward passes.

One entry is one ``.npz`` file (written atomically) holding

* ``logits`` — float16, ``n_rows x model.num_labels``, in the model's *own* output order;
* ``labels`` — the model's label names in that order (so predictions are mapped to canonical ids by name);
* ``gold`` — the canonical gold label ids of the rows;
* ``meta`` — a JSON string with the key's fields (model path and fingerprint, dataset, locale, ...).

The cache key (:func:`cache_key`) is a hash of everything that changes the logits: the model's content
(:func:`merginguriel.models.fingerprint.model_fingerprint`) and the data selection (dataset, locale, split, text
column, ``max_samples``, ``max_seq_length``, sample seed) plus a sha256 of the selected rows' texts and gold
labels (so an edited local dataset is a new entry).

Accuracy read back from an entry is always computed from the stored float16 logits, so the first run and
every later run report the same numbers (float16 rounding can flip a near-tie argmax compared with float32).
Without a cache (``cache=None``) the float32 logits are used as computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merginguriel.data.massive import DataSelection, LoadedSplit, data_fingerprint, load_selection
from merginguriel.data.metrics import canonical_predictions, classification_metrics
from merginguriel.errors import UserError
from merginguriel.models.fingerprint import model_fingerprint

CACHE_FORMAT = 1
DEFAULT_CACHE_DIR = "logits_cache"


def cache_key(model_fp: str, selection: DataSelection, data_fp: str) -> str:
    """sha256 (first 24 hex digits) of the model fingerprint, the data selection and the rows' digest."""
    fields = {"format": CACHE_FORMAT, "model": model_fp, **selection.fields(), "data": data_fp}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


@dataclass
class CachedLogits:
    """Logits of one model on one data selection, with what is needed to score them by label name."""

    logits: np.ndarray  # float32 values (float16-rounded when they come from the cache), model's label order
    labels: list[str]  # model label names, in output order
    gold: np.ndarray  # canonical gold ids
    meta: dict[str, Any]

    def predictions(self) -> np.ndarray:
        """Canonical ids of the argmax of each row (mapped by label name)."""
        return canonical_predictions(self.logits, self.labels)

    def metrics(self) -> dict[str, float | int]:
        return classification_metrics(self.gold, self.predictions())


class LogitsCache:
    """A folder of logits entries: ``{root}/{locale}/{split}/{key}.npz``."""

    def __init__(self, root: str | os.PathLike = DEFAULT_CACHE_DIR) -> None:
        self.root = Path(root)

    @property
    def memo_file(self) -> Path:
        return self.root / "fingerprints.json"

    def fingerprint(self, model_dir: str | os.PathLike) -> str:
        return model_fingerprint(model_dir, self.memo_file)

    def path(self, selection: DataSelection, key: str) -> Path:
        sel = selection.normalized()
        return self.root / str(sel.locale) / sel.split / f"{key}.npz"

    def load(self, selection: DataSelection, key: str) -> CachedLogits | None:
        """The entry, or None when absent (an unreadable entry is treated as absent)."""
        path = self.path(selection, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return CachedLogits(
                    logits=data["logits"].astype(np.float32),
                    labels=[str(x) for x in data["labels"]],
                    gold=data["gold"].astype(np.int64),
                    meta=json.loads(str(data["meta"])),
                )
        except (OSError, ValueError, KeyError):
            return None

    def store(
        self,
        selection: DataSelection,
        key: str,
        logits: np.ndarray,
        labels: Sequence[str],
        gold: Sequence[int],
        meta: dict[str, Any],
    ) -> CachedLogits:
        """Write an entry atomically (float16 logits) and return what a later :meth:`load` will give."""
        path = self.path(selection, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        half = np.asarray(logits, dtype=np.float16)
        if not np.isfinite(half).all():
            raise UserError(f"Logits for {meta.get('model_path')} on {selection.locale} overflow float16.")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle,
                    logits=half,
                    labels=np.asarray(list(labels), dtype=str),
                    gold=np.asarray(gold, dtype=np.int16),
                    meta=np.asarray(json.dumps(meta, sort_keys=True, default=str)),
                )
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return CachedLogits(
            half.astype(np.float32), list(labels), np.asarray(gold, dtype=np.int64), dict(meta)
        )


def _entry_meta(model_dir: str | os.PathLike, model_fp: str | None, split: LoadedSplit) -> dict[str, Any]:
    return {
        "model_path": str(model_dir),
        "model_fingerprint": model_fp,
        **split.selection.fields(),
        "data_fingerprint": split.digest,
        "num_rows": len(split.texts),
    }


def compute_logits(
    cache: LogitsCache | None,
    model_dir: str | os.PathLike,
    split: LoadedSplit,
    get_model: Callable[[], Any],
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[CachedLogits, bool]:
    """Logits of ``model_dir`` on ``split``: from the cache when it has them, else ``get_model()`` ->
    (model, tokenizer) runs the forward pass (and the cache, if any, stores the result).

    Returns (entry, computed) where ``computed`` says whether a forward pass ran.
    """
    from merginguriel.data.labels import check_labels_cover, model_label_names
    from merginguriel.models.inference import predict_logits

    key = None
    model_fp = None
    if cache is not None:
        model_fp = cache.fingerprint(model_dir)
        key = cache_key(model_fp, split.selection, split.digest)
        hit = cache.load(split.selection, key)
        if hit is not None:
            return hit, False
    model, tokenizer = get_model()
    labels = model_label_names(model.config)
    check_labels_cover(labels, sorted(set(split.intents)), str(model_dir))
    sel = split.selection
    logits = predict_logits(
        model,
        tokenizer,
        split.texts,
        batch_size,
        sel.max_seq_length,
        device,
        progress,
        desc=f"{Path(str(model_dir)).name} on {sel.locale}",
    )
    meta = _entry_meta(model_dir, model_fp, split)
    if cache is None:
        return CachedLogits(logits, labels, split.gold.copy(), meta), True
    return cache.store(sel, key, logits, labels, split.gold, meta), True


__all__ = [
    "DEFAULT_CACHE_DIR",
    "CachedLogits",
    "DataSelection",
    "LoadedSplit",
    "LogitsCache",
    "cache_key",
    "compute_logits",
    "data_fingerprint",
    "load_selection",
    "model_fingerprint",
]
