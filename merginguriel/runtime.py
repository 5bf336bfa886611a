"""Where and how the math runs: the device (``auto`` = CUDA when there is one, ``cpu``, ``cuda``), the
inference batch size and whether progress bars are shown — the runtime options every command shares."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from merginguriel.errors import UserError

T = TypeVar("T")

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """``cuda`` or ``cpu`` for ``auto``; ``cuda`` without a CUDA device is an error naming the fix."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "--device cuda was asked for but no CUDA device is available; use --device cpu or auto."
        )
    if name not in DEVICE_CHOICES and not str(name).startswith("cuda:"):
        raise UserError(f"Unknown --device {name!r}; use one of {', '.join(DEVICE_CHOICES)}.")
    return name


@dataclass(frozen=True)
class Runtime:
    """Runtime options that never change a result: device, inference batch size, progress bars."""

    device: str = "cpu"
    batch_size: int = 64
    progress: bool = True


def steps(
    items: Iterable[T], desc: str, progress: bool, unit: str = "it", total: int | None = None
) -> Iterator[T]:
    """An outer loop of long work: a tqdm bar when ``progress`` (a terminal), otherwise one INFO line per step
    on the ``merginguriel.progress`` logger (``desc: 3/10 unit (12 s)``), so a log file or a Slurm output
    says how far the work got without a stream of carriage returns."""
    if progress:
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=desc, unit=unit, total=total)
        return
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    log = logging.getLogger("merginguriel.progress")
    started = time.time()
    for i, item in enumerate(items, 1):
        yield item
        of = f"/{total}" if total is not None else ""
        log.info("%s: %d%s %s (%.0f s)", desc, i, of, unit, time.time() - started)


__all__ = ["DEVICE_CHOICES", "Runtime", "resolve_device", "steps"]
