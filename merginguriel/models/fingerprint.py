"""The content fingerprint of a model folder: the one identity of "this model" used by every cache key
(logits cache, statistics cache) and every experiment key.

sha256 over the folder's config, weight files and tokenizer files, streamed in 8 MiB chunks. Hashing reads the
files once per version; the digest is memoised in memory and, with ``memo_file``, on disk (a JSON file keyed by
the (real path, size, mtime_ns) of every hashed file), so a later run re-reads nothing unless a file changed.
Trade-off: an edit that preserves size *and* mtime_ns would not be seen (practically impossible for a rewritten
checkpoint); in exchange a 50-model sweep does not re-hash tens of GB at every start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from merginguriel.errors import MissingInputError
from merginguriel.outputs.atomic import write_json_atomic

HASHED_PATTERNS = (
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


def hashed_files(model_dir: Path) -> list[Path]:
    """The files of a model folder that make up its fingerprint, by name."""
    files: set[Path] = set()
    for pattern in HASHED_PATTERNS:
        files.update(p for p in model_dir.glob(pattern) if p.is_file())
    return sorted(files, key=lambda p: p.name)


def _stat_signature(files: Sequence[Path]) -> str:
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _read_memo(memo_file: str | os.PathLike | None) -> dict[str, str]:
    if memo_file is None or not Path(memo_file).is_file():
        return {}
    with contextlib.suppress(ValueError, OSError):
        return dict(json.loads(Path(memo_file).read_text()))
    return {}


def model_fingerprint(model_dir: str | os.PathLike, memo_file: str | os.PathLike | None = None) -> str:
    """sha256 (hex) of a model folder's config, weights and tokenizer files, streamed (see the module doc)."""
    folder = Path(model_dir)
    files = hashed_files(folder)
    if not files:
        raise MissingInputError(f"{folder} holds no model files (config.json, *.safetensors) to fingerprint.")
    signature = _stat_signature(files)
    if signature in _MEMO:
        return _MEMO[signature]
    memo = _read_memo(memo_file)
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


__all__ = ["HASHED_PATTERNS", "hashed_files", "model_fingerprint"]
