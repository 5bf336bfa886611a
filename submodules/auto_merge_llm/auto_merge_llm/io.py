"""Checkpoint I/O, kept apart from the merge math.

* :class:`CheckpointReader` opens a Hugging Face model folder (``config.json`` + one ``*.safetensors`` file or
  shards with ``model.safetensors.index.json``) lazily: only the safetensors headers are parsed up front, and a
  tensor's bytes are read (``readinto`` at its offset) when :meth:`CheckpointReader.get` is called. Unlike
  ``safetensors.safe_open`` this does not memory-map the files, so pages of already-merged tensors do not stay
  in the process's resident set: with K inputs mmap made peak RSS grow with K·model size even though only one
  tensor per model is live.
* :class:`ShardedWriter` accumulates output tensors up to ``max_shard_size`` bytes and flushes them as a
  shard, so at most one shard is held in memory; :meth:`ShardedWriter.finalize` names the shards the way
  ``transformers`` does (``model.safetensors`` or ``model-0000i-of-0000N.safetensors`` + index).

Pickle checkpoints (``pytorch_model.bin``) are refused: loading them executes pickle and materialises the whole
state dict at once, which defeats the one-tensor-at-a-time memory model. Convert them first, e.g.
``AutoModel.from_pretrained(path).save_pretrained(path, safe_serialization=True)``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .errors import MergeError

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class SafetensorsFile:
    """Header of one ``.safetensors`` file and positioned reads of its tensors (no mmap)."""

    def __init__(self, path: Path, role: str) -> None:
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) != 8:
                raise MergeError(f"{role}: {str(path)!r} is not a safetensors file (truncated header)")
            hlen = int.from_bytes(raw_len, "little")
            if hlen <= 0 or 8 + hlen > size:
                raise MergeError(f"{role}: {str(path)!r} is not a valid safetensors file (bad header length)")
            try:
                header = json.loads(fh.read(hlen))
            except ValueError as exc:
                raise MergeError(f"{role}: {str(path)!r} has an unreadable safetensors header") from exc
        self.data_start = 8 + hlen
        header.pop("__metadata__", None)
        self.entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
        for name, info in header.items():
            start, end = info["data_offsets"]
            if not 0 <= start <= end or self.data_start + end > size:
                raise MergeError(
                    f"{role}: tensor {name!r} lies outside {str(path)!r}; the file is corrupt or truncated"
                )
            self.entries[name] = (info["dtype"], tuple(int(d) for d in info["shape"]), int(start), int(end))
        self._fh: Any = None

    def read(self, name: str) -> torch.Tensor:
        code, shape, start, end = self.entries[name]
        if code not in _DTYPES:
            raise MergeError(f"tensor {name!r} in {str(self.path)!r} has unsupported dtype {code}")
        if self._fh is None:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        nbytes = end - start
        if nbytes == 0:
            return torch.empty(shape, dtype=_DTYPES[code])
        raw = torch.empty(nbytes, dtype=torch.uint8)  # uninitialised: no zero-fill pass before the read
        self._fh.seek(self.data_start + start)
        if self._fh.readinto(memoryview(raw.numpy())) != nbytes:
            raise MergeError(f"short read of tensor {name!r} from {str(self.path)!r}")
        return raw.view(_DTYPES[code]).reshape(shape)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class CheckpointReader:
    """Lazy, read-only view of the tensors of one Hugging Face model folder."""

    def __init__(self, model_dir: str | os.PathLike, role: str = "model") -> None:
        self.path = Path(model_dir)
        self.role = role
        if not self.path.is_dir():
            raise MergeError(f"{role} folder {str(self.path)!r} does not exist or is not a directory")
        config_path = self.path / "config.json"
        if not config_path.is_file():
            raise MergeError(
                f"{role} folder {str(self.path)!r} has no config.json; pass a Hugging Face model folder "
                "(as written by save_pretrained)"
            )
        with open(config_path, encoding="utf-8") as fh:
            self.config: dict[str, Any] = json.load(fh)
        self._files: dict[str, SafetensorsFile] = {}
        self.file_of: dict[str, str] = self._index()

    def _index(self) -> dict[str, str]:
        index = self.path / INDEX_NAME
        if index.is_file():
            with open(index, encoding="utf-8") as fh:
                weight_map = json.load(fh).get("weight_map", {})
            missing = sorted({f for f in weight_map.values() if not (self.path / f).is_file()})
            if missing:
                raise MergeError(
                    f"{self.role} {str(self.path)!r}: shard(s) listed in {INDEX_NAME} are missing: {missing}"
                )
            for name, fname in weight_map.items():
                if name not in self._file(fname).entries:
                    raise MergeError(
                        f"{self.role} {str(self.path)!r}: {INDEX_NAME} lists {name!r} in {fname} but it is not there"
                    )
            return dict(weight_map)
        files = sorted(p.name for p in self.path.glob("*.safetensors"))
        if not files:
            pickles = sorted(
                p.name for p in self.path.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"}
            )
            if pickles:
                raise MergeError(
                    f"{self.role} {str(self.path)!r} only has pickle checkpoint(s) {pickles}; auto_merge_llm reads "
                    "safetensors only. Convert once with `AutoModel...from_pretrained(path)."
                    "save_pretrained(path, safe_serialization=True)`."
                )
            raise MergeError(f"{self.role} {str(self.path)!r} contains no *.safetensors weights")
        if SINGLE_NAME in files:
            files = [SINGLE_NAME]
        mapping: dict[str, str] = {}
        for fname in files:
            for key in self._file(fname).entries:
                mapping[key] = fname
        return mapping

    def _file(self, fname: str) -> SafetensorsFile:
        if fname not in self._files:
            self._files[fname] = SafetensorsFile(self.path / fname, self.role)
        return self._files[fname]

    @property
    def names(self) -> list[str]:
        """Parameter names in the checkpoint's order (index order or file order)."""
        return list(self.file_of)

    def __contains__(self, name: object) -> bool:
        return name in self.file_of

    def shape(self, name: str) -> tuple[int, ...]:
        return self._file(self.file_of[name]).entries[name][1]

    def dtype(self, name: str) -> torch.dtype:
        code = self._file(self.file_of[name]).entries[name][0]
        if code not in _DTYPES:
            raise MergeError(f"{self.role} {str(self.path)!r}: tensor {name!r} has unsupported dtype {code}")
        return _DTYPES[code]

    def get(self, name: str) -> torch.Tensor:
        """Read one tensor (a fresh CPU tensor in its stored dtype)."""
        return self._file(self.file_of[name]).read(name)

    def close(self) -> None:
        for f in self._files.values():
            f.close()

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(size: str | int) -> int:
    """``"2GB"`` → 2·10⁹ bytes, ``"1GiB"`` → 2³⁰ (same convention as ``transformers``); ints pass through."""
    if isinstance(size, bool):
        raise MergeError(f"max_shard_size must be an int or a string like '2GB', got {size!r}")
    if isinstance(size, int):
        if size <= 0:
            raise MergeError(f"max_shard_size must be positive, got {size}")
        return size
    m = _SIZE_RE.match(str(size))
    if not m:
        raise MergeError(
            f"cannot parse max_shard_size {size!r}; use an int (bytes) or e.g. '500MB', '2GB', '1GiB'"
        )
    value = int(float(m.group(1)) * _UNITS[(m.group(2) or "B").upper()])
    if value <= 0:
        raise MergeError(f"max_shard_size must be positive, got {size!r}")
    return value


def tensor_nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class ShardedWriter:
    """Write tensors into ``output_dir`` as safetensors shards of at most ``max_shard_size`` bytes.

    A tensor larger than the limit gets a shard of its own. Only the current shard is kept in memory.
    """

    def __init__(self, output_dir: str | os.PathLike, max_shard_size: str | int = "2GB") -> None:
        self.output_dir = Path(output_dir)
        self.max_bytes = parse_size(max_shard_size)
        self._buffer: dict[str, torch.Tensor] = {}
        self._buffer_bytes = 0
        self._shards: list[tuple[str, list[str]]] = []
        self.total_bytes = 0
        self.num_tensors = 0
        self.num_parameters = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        tensor = tensor.detach().to("cpu").contiguous()
        nbytes = tensor_nbytes(tensor)
        if self._buffer and self._buffer_bytes + nbytes > self.max_bytes:
            self._flush()
        self._buffer[name] = tensor
        self._buffer_bytes += nbytes
        self.total_bytes += nbytes
        self.num_tensors += 1
        self.num_parameters += tensor.numel()

    def _flush(self) -> None:
        if not self._buffer:
            return
        tmp_name = f"model-part-{len(self._shards) + 1:05d}.safetensors.tmp"
        save_file(self._buffer, str(self.output_dir / tmp_name), metadata={"format": "pt"})
        self._shards.append((tmp_name, list(self._buffer)))
        self._buffer = {}
        self._buffer_bytes = 0

    def finalize(self) -> list[str]:
        """Flush the last shard, give the shards their final names, write the index if sharded."""
        self._flush()
        n = len(self._shards)
        if n == 0:
            raise MergeError("nothing to write: the merge produced no tensors")
        if n == 1:
            os.replace(self.output_dir / self._shards[0][0], self.output_dir / SINGLE_NAME)
            return [SINGLE_NAME]
        weight_map: dict[str, str] = {}
        files = []
        for i, (tmp_name, names) in enumerate(self._shards, start=1):
            final = f"model-{i:05d}-of-{n:05d}.safetensors"
            os.replace(self.output_dir / tmp_name, self.output_dir / final)
            files.append(final)
            for name in names:
                weight_map[name] = final
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        with open(self.output_dir / INDEX_NAME, "w", encoding="utf-8") as fh:
            json.dump(index, fh, indent=2, sort_keys=True)
            fh.write("\n")
        return files


def resolve_model_dir(path_or_id: str | os.PathLike, role: str = "base model") -> Path:
    """A local folder is returned as is; anything else is treated as a Hugging Face hub id and resolved with
    ``snapshot_download(allow_patterns=["*.safetensors", "*.json"])`` (served from the local HF cache when
    ``HF_HUB_OFFLINE=1``)."""
    p = Path(path_or_id)
    if p.is_dir():
        return p
    text = str(path_or_id)
    if p.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise MergeError(
            f"{role} {text!r} is not a model folder (and does not look like a hub id 'org/name')"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(text, allow_patterns=["*.safetensors", "*.json"]))
    except Exception as exc:  # noqa: BLE001 - every failure becomes one actionable message
        raise MergeError(
            f"{role} {text!r} is neither a local folder nor resolvable on the Hugging Face hub/cache "
            f"({type(exc).__name__}: {exc}). Download it first (huggingface-cli download {text}) or pass a local path."
        ) from exc


def iter_safetensors_files(model_dir: str | os.PathLike) -> Iterator[Path]:
    """The ``*.safetensors`` files of a folder in sorted order."""
    yield from sorted(Path(model_dir).glob("*.safetensors"))
