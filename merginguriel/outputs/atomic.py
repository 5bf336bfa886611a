"""Atomic outputs: a folder or file is either complete or absent, never half-written.

Folders are built in a hidden temporary sibling and renamed into place at the end; a completion marker
(``COMPLETE``) is written last, so a reader can tell a finished output from a crashed one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from merginguriel.errors import UserError

COMPLETE_MARKER = "COMPLETE"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputExistsError(UserError, FileExistsError):
    """The output folder exists already and overwriting was not asked for."""


def check_writable(path: str | os.PathLike, flag: str = "the output folder") -> Path:
    """Fail now, not after the work, unless ``path`` (a folder to create or use) can be written: its nearest
    existing ancestor must be a folder, and writable (a read-only file system included)."""
    path = Path(path)
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{flag} {path}: {ancestor} is a file, not a folder; choose another {flag}.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {ancestor} is not writable (read-only?); choose another {flag}.")
    return path


def is_complete(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder produced by :func:`atomic_output_dir` that finished."""
    return (Path(path) / COMPLETE_MARKER).is_file()


@contextlib.contextmanager
def atomic_output_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success rename it to ``final`` (replacing it if ``overwrite``).

    On an exception the temporary folder is removed and ``final`` is left as it was.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"Output folder {final} exists already. Pass --overwrite to replace it.")
    check_writable(final.parent)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
        (tmp / COMPLETE_MARKER).write_text("complete\n")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
