"""Which device the math runs on: ``auto`` (CUDA when there is one), ``cpu`` or ``cuda``."""

from __future__ import annotations

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


__all__ = ["DEVICE_CHOICES", "resolve_device"]
