"""Where and how the math runs: the device (``auto`` = CUDA when there is one, ``cpu``, ``cuda``), the
inference batch size and whether progress bars are shown — the runtime options every command shares."""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """``cuda`` or ``cpu`` for ``auto``; ``cuda`` without a CUDA device is an error naming the fix."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda was asked for but no CUDA device is available; use --device cpu or auto."
        )
    if name not in DEVICE_CHOICES and not str(name).startswith("cuda:"):
        raise ValueError(f"Unknown --device {name!r}; use one of {', '.join(DEVICE_CHOICES)}.")
    return name


@dataclass(frozen=True)
class Runtime:
    """Runtime options that never change a result: device, inference batch size, progress bars."""

    device: str = "cpu"
    batch_size: int = 64
    progress: bool = True


__all__ = ["DEVICE_CHOICES", "Runtime", "resolve_device"]
