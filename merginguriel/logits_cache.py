"""On-disk cache of per-(model, locale, split) logits, shared by NxN evaluation, ensembles and sweeps.

One entry is one ``.npz`` file (written atomically) holding

* ``logits`` — float16, ``n_rows x model.num_labels``, in the model's *own* output order;
* ``labels`` — the model's label names in that order (so predictions are mapped to canonical ids by name);
* ``gold`` — the canonical gold label ids of the rows;
* ``meta`` — a JSON string with the key's fields (model path and fingerprint, dataset, locale, ...).

The cache key (:func:`cache_key`) is a hash of everything that changes the logits:

* the model's **content**: sha256 over its config, weight files and tokenizer files, streamed in 8 MiB
  chunks (:func:`model_fingerprint`). Hashing reads the files once per version; the digest is memoised on
  disk under ``fingerprints.json`` keyed by (real path, size, mtime_ns) of every hashed file, so a later
  run re-reads nothing unless a file changed. Trade-off: an edit that preserves size *and* mtime_ns would
  not be seen (practically impossible for a rewritten checkpoint); in exchange a 50-model sweep does not
  re-hash tens of GB at every start;
* the data selection: dataset name, locale, split, text column, ``max_samples``, ``max_seq_length``, and a
  sha256 of the selected rows' texts and gold labels (so an edited local dataset is a new entry).

Accuracy read back from an entry is always computed from the stored float16 logits, so the first run and
every later run report the same numbers (float16 rounding can flip a near-tie argmax compared with float32;
the cache is self-consistent, not bit-identical to an uncached float32 evaluation).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merginguriel.evaluation import canonical_predictions, classification_metrics
from merginguriel.massive_data import canonical_split
from merginguriel.outputs import write_json_atomic

CACHE_FORMAT = 1
DEFAULT_CACHE_DIR = "logits_cache"
_HASHED_PATTERNS = (
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
)
_MEMO: dict[str, str] = {}


def _hashed_files(model_dir: Path) -> list[Path]:
    files: set[Path] = set()
    for pattern in _HASHED_PATTERNS:
        files.update(p for p in model_dir.glob(pattern) if p.is_file())
    return sorted(files, key=lambda p: p.name)


def _stat_signature(files: Sequence[Path]) -> str:
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def model_fingerprint(model_dir: str | os.PathLike, memo_file: str | os.PathLike | None = None) -> str:
    """sha256 (hex) of a model folder's config, weights and tokenizer files, streamed.

    ``memo_file`` (a JSON file) remembers digests by the files' (path, size, mtime_ns) signature.
    """
    folder = Path(model_dir)
    files = _hashed_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder} holds no model files (config.json, *.safetensors) to fingerprint.")
    signature = _stat_signature(files)
    if signature in _MEMO:
        return _MEMO[signature]
    memo: dict[str, str] = {}
    if memo_file is not None and Path(memo_file).is_file():
        with contextlib.suppress(ValueError, OSError):
            memo = json.loads(Path(memo_file).read_text())
        if signature in memo:
            _MEMO[signature] = memo[signature]
            return memo[signature]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as handle:
            for chunk in iter(lambda h=handle: h.read(8 << 20), b""):
                digest.update(chunk)
    value = digest.hexdigest()
    _MEMO[signature] = value
    if memo_file is not None:
        memo[signature] = value
        with contextlib.suppress(OSError):
            write_json_atomic(memo_file, memo)
    return value


def data_fingerprint(texts: Sequence[str], gold: Sequence[int]) -> str:
    """sha256 of the selected rows (texts and canonical gold ids, in order)."""
    digest = hashlib.sha256()
    for text, label in zip(texts, gold):
        digest.update(f"{int(label)}\t{text}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DataSelection:
    """Which rows are evaluated: the part of the cache key that does not depend on the model."""

    dataset_name: str
    locale: str
    split: str
    text_column: str = "utt"
    max_samples: int | None = None
    max_seq_length: int = 128

    def normalized(self) -> DataSelection:
        return DataSelection(
            str(self.dataset_name),
            self.locale,
            canonical_split(self.split),
            self.text_column,
            self.max_samples,
            int(self.max_seq_length),
        )


def cache_key(model_fp: str, selection: DataSelection, data_fp: str) -> str:
    """sha256 (first 24 hex digits) of the model fingerprint, the data selection and the rows' digest."""
    sel = selection.normalized()
    blob = json.dumps(
        {
            "format": CACHE_FORMAT,
            "model": model_fp,
            "dataset_name": sel.dataset_name,
            "locale": sel.locale,
            "split": sel.split,
            "text_column": sel.text_column,
            "max_samples": sel.max_samples,
            "max_seq_length": sel.max_seq_length,
            "data": data_fp,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass
class CachedLogits:
    """Logits of one model on one locale's split, with what is needed to score them by label name."""

    logits: np.ndarray  # float32 view of the stored float16 values, model's own label order
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
        return self.root / sel.locale / sel.split / f"{key}.npz"

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
            raise ValueError(f"Logits for {meta.get('model_path')} on {selection.locale} overflow float16.")
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


@dataclass
class LoadedSplit:
    """A split's texts and canonical gold ids, with its digest (loaded once, reused for many models)."""

    selection: DataSelection
    texts: list[str]
    gold: np.ndarray
    intents: list[str]
    digest: str


def load_selection(selection: DataSelection) -> LoadedSplit:
    """Read the rows of a data selection (``massive_data.load_split``)."""
    from merginguriel.massive_data import load_split

    sel = selection.normalized()
    data = load_split(sel.dataset_name, sel.locale, sel.split, sel.text_column, sel.max_samples)
    texts = list(data["text"])
    gold = np.asarray(data["label"], dtype=np.int64)
    return LoadedSplit(sel, texts, gold, list(data["intent"]), data_fingerprint(texts, gold))


def compute_logits(
    cache: LogitsCache | None,
    model_dir: str | os.PathLike,
    split: LoadedSplit,
    get_model: Any,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[CachedLogits, bool]:
    """Cached logits of ``model_dir`` on ``split``; on a miss run ``get_model()`` -> (model, tokenizer).

    Returns (entry, computed) where ``computed`` says whether a forward pass ran. With ``cache=None`` the
    logits are always computed (and still rounded to float16, so numbers match cached runs).
    """
    from merginguriel.evaluation import predict_logits
    from merginguriel.labels import check_labels_cover, model_label_names

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
    check_labels_cover(labels, sorted(set(split.intents)))
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
    meta = {
        "model_path": str(model_dir),
        "model_fingerprint": model_fp,
        "dataset_name": sel.dataset_name,
        "locale": sel.locale,
        "split": sel.split,
        "text_column": sel.text_column,
        "max_samples": sel.max_samples,
        "max_seq_length": sel.max_seq_length,
        "data_fingerprint": split.digest,
        "num_rows": len(split.texts),
    }
    if cache is None:
        half = logits.astype(np.float16).astype(np.float32)
        return CachedLogits(half, labels, split.gold.copy(), meta), True
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
