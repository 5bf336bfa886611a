"""Checkpoint I/O, kept apart from the merge math.

* :class:`CheckpointReader` opens a Hugging Face model folder (``config.json`` + one ``*.safetensors`` file or
  shards with ``model.safetensors.index.json``) lazily: only the safetensors headers are parsed (and checked:
  a truncated or corrupt file is refused when it is opened, naming the file) up front. A tensor's bytes are
  read on demand, three ways:

  - :meth:`CheckpointReader.get` — a fresh tensor, or into a caller's reusable buffer (``out=``), with one
    positioned ``readinto``;
  - :meth:`CheckpointReader.get_rows` — a range of rows (the first dimension). safetensors stores tensors
    row-major and contiguous, so rows ``[a, b)`` are one contiguous byte range;
  - :meth:`CheckpointReader.mapped` — a read-only, zero-copy view over a memory map of just that tensor's
    bytes, unmapped when the ``with`` block ends, so pages of already-merged tensors leave the process's
    resident set (mapping whole files, as ``safetensors.safe_open`` does, made peak RSS grow with K · model
    size).

  :meth:`CheckpointReader.prefetch` asks the kernel to read a tensor's bytes ahead
  (``posix_fadvise(WILLNEED)``): the read-ahead lands in the page cache, not in this process's memory.
* :class:`PlannedShardWriter` writes the output while merging: the shard layout and every safetensors header
  are computed up front from the output plan (names, dtypes, shapes), so each merged tensor is written to its
  final offset (``pwrite``, from a writer thread that overlaps the write with the next tensor's math) and no
  shard is ever held in memory. Its files are byte-identical to ``safetensors.torch.save_file`` of the same
  tensors (same header layout, order and padding).

Pickle checkpoints (``pytorch_model.bin``) are refused: loading them executes pickle and materialises the whole
state dict at once, which defeats the one-tensor-at-a-time memory model. Convert them first, e.g.
``AutoModel.from_pretrained(path).save_pretrained(path, safe_serialization=True)``.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import queue
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

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
_CODES = {v: k for k, v in _DTYPES.items()}
# The order in which safetensors lays tensors out in a file: by dtype (this order), then by name.
_FILE_ORDER = ("I64", "F64", "F32", "I32", "BF16", "F16", "I16", "I8", "U8", "BOOL")


def read_json(path: Path, role: str) -> Any:
    """Parse a JSON file; an unreadable or invalid file is one :class:`MergeError` naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MergeError(
            f"{role}: {str(path)!r} is not valid JSON ({type(exc).__name__}: {exc}); the file is corrupt or "
            "truncated: re-save or re-download the model"
        ) from exc


def _bytes_view(t: torch.Tensor) -> memoryview:
    """The raw bytes of a contiguous CPU tensor (any dtype, bfloat16 included)."""
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())


class SafetensorsFile:
    """Header of one ``.safetensors`` file and positioned reads of its tensors."""

    def __init__(self, path: Path, role: str) -> None:
        self.path = path
        self.role = role
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
        if not isinstance(header, dict):
            raise MergeError(f"{role}: {str(path)!r} has an unreadable safetensors header")
        self.data_start = 8 + hlen
        header.pop("__metadata__", None)
        self.entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
        for name, info in header.items():
            self.entries[name] = self._entry(name, info, size)
        self._fh: Any = None

    def _entry(self, name: str, info: Any, size: int) -> tuple[str, tuple[int, ...], int, int]:
        where = f"{self.role}: tensor {name!r} in {str(self.path)!r}"
        try:
            code = str(info["dtype"])
            shape = tuple(int(d) for d in info["shape"])
            start, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MergeError(f"{where} has a malformed header entry; the file is corrupt") from exc
        if not 0 <= start <= end or self.data_start + end > size:
            raise MergeError(
                f"{self.role}: tensor {name!r} lies outside {str(self.path)!r}; the file is corrupt or truncated"
            )
        if code in _DTYPES:
            expected = math.prod(shape) * _DTYPES[code].itemsize
            if end - start != expected:
                raise MergeError(
                    f"{where} has {end - start} bytes but its shape {list(shape)} and dtype {code} need "
                    f"{expected}; the file is corrupt"
                )
        return code, shape, start, end

    def _handle(self) -> Any:
        if self._fh is None:
            self._fh = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        return self._fh

    def _spec(self, name: str) -> tuple[torch.dtype, tuple[int, ...], int, int]:
        code, shape, start, end = self.entries[name]
        if code not in _DTYPES:
            raise MergeError(f"tensor {name!r} in {str(self.path)!r} has unsupported dtype {code}")
        return _DTYPES[code], shape, start, end

    def _read_range(self, name: str, offset: int, nbytes: int, out: torch.Tensor | None) -> torch.Tensor:
        raw = torch.empty(nbytes, dtype=torch.uint8) if out is None else out.reshape(-1).view(torch.uint8)
        if raw.numel() != nbytes:
            raise ValueError(f"buffer of {raw.numel()} bytes for {nbytes} bytes of {name!r}")
        if nbytes == 0:
            return raw
        view = memoryview(raw.numpy())
        fh = self._handle()
        done = 0
        while done < nbytes:  # positioned reads: no shared file position, safe from any thread
            got = os.preadv(fh.fileno(), [view[done:]], self.data_start + offset + done)
            if got <= 0:
                raise MergeError(
                    f"{self.role}: short read of tensor {name!r} from {str(self.path)!r}; the file was "
                    "truncated or changed while merging"
                )
            done += got
        return raw

    def read(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """The whole tensor, in a fresh buffer or in ``out`` (contiguous, same dtype and numel)."""
        dtype, shape, start, end = self._spec(name)
        return self._read_range(name, start, end - start, out).view(dtype).reshape(shape)

    def read_rows(self, name: str, first: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Rows ``[first, stop)`` of the first dimension (a 0-d tensor has one row, itself)."""
        dtype, shape, start, _ = self._spec(name)
        if not shape:
            return self.read(name, out)
        if not 0 <= first <= stop <= shape[0]:
            raise ValueError(f"rows [{first}, {stop}) outside {name!r} with {shape[0]} rows")
        row_bytes = math.prod(shape[1:]) * dtype.itemsize
        raw = self._read_range(name, start + first * row_bytes, (stop - first) * row_bytes, out)
        return raw.view(dtype).reshape(stop - first, *shape[1:])

    @contextmanager
    def mapped(self, name: str) -> Iterator[torch.Tensor]:
        """A read-only zero-copy view of the tensor over a memory map of its bytes alone (prefaulted with
        ``MAP_POPULATE``). Do not keep the tensor (or views of it) past the ``with`` block: the map is closed
        there and its pages leave the resident set."""
        dtype, shape, start, end = self._spec(name)
        if end == start:
            yield torch.empty(shape, dtype=dtype)
            return
        offset = self.data_start + start
        aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        length = (offset - aligned) + (end - start)
        mm = mmap.mmap(self._handle().fileno(), length, flags=flags, prot=mmap.PROT_READ, offset=aligned)
        flat: torch.Tensor | None = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the buffer is read-only; callers must not write to it
                flat = torch.frombuffer(mm, dtype=dtype, count=math.prod(shape), offset=offset - aligned)
            yield flat.view(shape)
        finally:
            del flat
            try:
                mm.close()
            except BufferError:  # a caller kept a view: the map is released when that view dies
                pass

    def prefetch(self, name: str) -> None:
        """Ask the kernel to read the tensor's bytes ahead into the page cache (no memory of this process)."""
        if not hasattr(os, "posix_fadvise"):
            return
        _, _, start, end = self.entries[name]
        if end > start:
            os.posix_fadvise(
                self._handle().fileno(), self.data_start + start, end - start, os.POSIX_FADV_WILLNEED
            )

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
        config = read_json(config_path, role)
        if not isinstance(config, dict):
            raise MergeError(f"{role}: {str(config_path)!r} must hold a JSON object (a model configuration)")
        self.config: dict[str, Any] = config
        self._files: dict[str, SafetensorsFile] = {}
        self.file_of: dict[str, str] = self._index()

    def _index(self) -> dict[str, str]:
        index = self.path / INDEX_NAME
        if index.is_file():
            content = read_json(index, self.role)
            weight_map = content.get("weight_map", {}) if isinstance(content, dict) else None
            if not isinstance(weight_map, dict):
                raise MergeError(
                    f"{self.role}: {str(index)!r} has no 'weight_map' object; the index is corrupt"
                )
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

    def _file_of(self, name: str) -> SafetensorsFile:
        return self._file(self.file_of[name])

    @property
    def names(self) -> list[str]:
        """Parameter names in the checkpoint's order (index order or file order)."""
        return list(self.file_of)

    def __contains__(self, name: object) -> bool:
        return name in self.file_of

    def shape(self, name: str) -> tuple[int, ...]:
        return self._file_of(name).entries[name][1]

    def dtype(self, name: str) -> torch.dtype:
        code = self._file_of(name).entries[name][0]
        if code not in _DTYPES:
            raise MergeError(f"{self.role} {str(self.path)!r}: tensor {name!r} has unsupported dtype {code}")
        return _DTYPES[code]

    def nbytes(self, name: str) -> int:
        _, _, start, end = self._file_of(name).entries[name]
        return end - start

    def get(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """Read one tensor: a fresh CPU tensor in its stored dtype, or into ``out`` (a contiguous CPU buffer of
        exactly the tensor's byte size, any dtype), which is then returned viewed as the tensor."""
        return self._file_of(name).read(name, out)

    def get_rows(self, name: str, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Rows ``[start, stop)`` of a tensor's first dimension (one contiguous byte range)."""
        return self._file_of(name).read_rows(name, start, stop, out)

    def mapped(self, name: str) -> Any:
        """``with reader.mapped(name) as t:`` a read-only zero-copy view (see :meth:`SafetensorsFile.mapped`)."""
        return self._file_of(name).mapped(name)

    def prefetch(self, name: str) -> None:
        """Start reading a tensor's bytes into the page cache in the background (kernel read-ahead)."""
        self._file_of(name).prefetch(name)

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


def plan_shards(sizes: Sequence[tuple[str, int]], max_bytes: int) -> list[list[str]]:
    """Split tensors, in order, into shards of at most ``max_bytes`` (a larger tensor gets a shard of its
    own): a new shard starts when the next tensor would overflow a non-empty one."""
    shards: list[list[str]] = []
    current: list[str] = []
    used = 0
    for name, nbytes in sizes:
        if current and used + nbytes > max_bytes:
            shards.append(current)
            current, used = [], 0
        current.append(name)
        used += nbytes
    if current:
        shards.append(current)
    return shards


def _final_names(n: int) -> list[str]:
    return [SINGLE_NAME] if n == 1 else [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]


def _write_index(output_dir: Path, shards: Sequence[Sequence[str]], files: Sequence[str], total: int) -> None:
    weight_map = {name: f for names, f in zip(shards, files) for name in names}
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(output_dir / INDEX_NAME, "w", encoding="utf-8") as fh:
        json.dump(index, fh, indent=2, sort_keys=True)
        fh.write("\n")


def safetensors_header(
    entries: Sequence[tuple[str, torch.dtype, Sequence[int]]],
) -> tuple[bytes, dict[str, int]]:
    """The bytes ``safetensors.torch.save_file(tensors, metadata={"format": "pt"})`` writes before the data
    (8-byte little-endian length + JSON header padded with spaces to a multiple of 8), and each tensor's byte
    offset in the data section. Tensors are laid out by dtype (``_FILE_ORDER``), then by name, as safetensors
    does."""
    order = sorted(entries, key=lambda e: (_FILE_ORDER.index(_CODES[e[1]]), e[0].encode("utf-8")))
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offsets: dict[str, int] = {}
    pos = 0
    for name, dtype, shape in order:
        nbytes = math.prod(shape) * dtype.itemsize
        header[name] = {
            "dtype": _CODES[dtype],
            "shape": [int(d) for d in shape],
            "data_offsets": [pos, pos + nbytes],
        }
        offsets[name] = pos
        pos += nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, offsets


class PlannedShardWriter:
    """Write the output model while it is being merged, holding no shard in memory.

    ``plan`` lists every output tensor in merge order as ``(name, dtype, shape)``. A new shard starts when the
    next tensor would overflow ``max_shard_size`` (:func:`plan_shards`), named as transformers names shards,
    with ``model.safetensors.index.json``. Each shard is created at its full size with its header at once; :meth:`write` puts a
    tensor's bytes at its offset. With ``background=True`` the writes run in one writer thread, at most one
    tensor in flight (so at most one extra output tensor is alive); an error there is raised by the next
    :meth:`write` or by :meth:`finalize`. :meth:`abort` deletes the partial files.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        plan: Sequence[tuple[str, torch.dtype, Sequence[int]]],
        max_shard_size: str | int = "2GB",
        background: bool = True,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.max_bytes = parse_size(max_shard_size)
        self._spec = {name: (dtype, tuple(int(d) for d in shape)) for name, dtype, shape in plan}
        sizes = [(name, math.prod(shape) * dtype.itemsize) for name, dtype, shape in plan]
        self.shards = plan_shards(sizes, self.max_bytes)
        self.total_bytes = sum(s for _, s in sizes)
        self.num_tensors = 0
        self.num_parameters = 0
        self._where: dict[str, tuple[int, int]] = {}  # name -> (shard index, absolute file offset)
        self._fds: list[int] = []
        self._tmp = [
            self.output_dir / f"model-part-{i + 1:05d}.safetensors.tmp" for i in range(len(self.shards))
        ]
        self._written: set[str] = set()
        for i, names in enumerate(self.shards):
            head, offsets = safetensors_header([(n, *self._spec[n]) for n in names])
            fd = os.open(self._tmp[i], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            self._fds.append(fd)
            os.ftruncate(fd, len(head) + sum(s for n, s in sizes if n in offsets))
            _pwrite_all(fd, memoryview(head), 0)
            for n, off in offsets.items():
                self._where[n] = (i, len(head) + off)
        self._queue: queue.Queue[tuple[str, torch.Tensor] | None] | None = None
        self._error: BaseException | None = None
        self._slot = threading.Semaphore(1)
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="auto_merge_llm-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if self._error is None:
                    self._put(*item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc
            finally:
                del item
                self._slot.release()

    def _put(self, name: str, tensor: torch.Tensor) -> None:
        shard, offset = self._where[name]
        if tensor.numel():
            _pwrite_all(self._fds[shard], _bytes_view(tensor), offset)

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Write one planned tensor (any device; moved to the CPU, made contiguous)."""
        self._raise_pending()
        if name not in self._spec or name in self._written:
            raise MergeError(f"internal error: tensor {name!r} is not planned or was already written")
        dtype, shape = self._spec[name]
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.dtype != dtype or tuple(tensor.shape) != shape:
            raise MergeError(
                f"internal error: {name!r} is {tensor.dtype} {list(tensor.shape)}, planned {dtype} {list(shape)}"
            )
        self._written.add(name)
        self.num_tensors += 1
        self.num_parameters += tensor.numel()
        if self._queue is None:
            self._put(name, tensor)
            return
        self._slot.acquire()  # wait until the previous tensor is written: one in flight
        self._raise_pending()
        self._queue.put((name, tensor))

    def _drain(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def finalize(self) -> list[str]:
        """Wait for the writes, check every planned tensor was written, give the shards their final names and
        write the index when sharded."""
        self._drain()
        self._raise_pending()
        missing = [n for n in self._spec if n not in self._written]
        if missing:
            raise MergeError(f"internal error: planned tensors never written: {missing[:5]}")
        if not self.shards:
            raise MergeError("nothing to write: the merge produced no tensors")
        files = _final_names(len(self.shards))
        for tmp, final in zip(self._tmp, files):
            os.replace(tmp, self.output_dir / final)
        if len(files) > 1:
            _write_index(self.output_dir, self.shards, files, self.total_bytes)
        return files

    def abort(self) -> None:
        """Stop writing and delete the partial shard files (after an error)."""
        try:
            self._drain()
        finally:
            for tmp in self._tmp:
                tmp.unlink(missing_ok=True)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)


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
