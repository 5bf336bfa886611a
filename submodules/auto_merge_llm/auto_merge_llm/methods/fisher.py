"""Fisher-weighted averaging."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method


def fisher_average(
    tensors: Sequence[torch.Tensor], fishers: Sequence[torch.Tensor], coeffs: Sequence[float], floor: float
) -> torch.Tensor:
    """θ = Σᵢ cᵢ F̃ᵢ θᵢ / Σᵢ cᵢ F̃ᵢ with F̃ᵢ = max(Fᵢ, floor); entries where the denominator is 0 (floor = 0)
    fall back to Σ cᵢθᵢ / Σ cᵢ."""
    num = torch.zeros_like(tensors[0])
    den = torch.zeros_like(tensors[0])
    plain = torch.zeros_like(tensors[0])
    total = float(sum(coeffs))
    for x, f, c in zip(tensors, fishers, coeffs):
        f = f.clamp_min(floor)
        num.add_(f * x, alpha=float(c))
        den.add_(f, alpha=float(c))
        plain.add_(x, alpha=float(c) / total)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), plain)


def _global_norms(ctx: TensorContext) -> list[float]:
    """Per-model ‖Fᵢ‖₂ over all parameters of the model's statistics mapping (cached per run)."""
    if ctx.statistics is None:
        return [float(s.double().norm()) if s is not None else 1.0 for s in (ctx.stats or [])]
    if "fisher_norms" not in ctx.run_cache:
        norms = []
        for sm in ctx.statistics:
            sq = sum(float(v.double().pow(2).sum()) for v in sm.values())
            norms.append(math.sqrt(sq))
        ctx.run_cache["fisher_norms"] = norms
    return ctx.run_cache["fisher_norms"]


@register_method(
    "fisher",
    description="Fisher merging: per-entry average weighted by each model's diagonal Fisher.",
    needs_statistics=True,
    ranges={"fisher_floor": (0.0, None)},
)
def fisher(ctx: TensorContext, *, fisher_floor: float = 1e-6, normalize_fisher: bool = False) -> torch.Tensor:
    """Fisher merging (Matena & Raffel, "Merging Models with Fisher-Weighted Averaging", NeurIPS 2022).

    θ = Σᵢ cᵢ F̃ᵢ ⊙ θᵢ / Σᵢ cᵢ F̃ᵢ,  F̃ᵢ = max(Fᵢ / nᵢ, ``fisher_floor``), cᵢ = the model weights,
    nᵢ = ‖Fᵢ‖₂ over *all* parameters of model i when ``normalize_fisher`` (as in the reference code), else 1.
    Fᵢ is the diagonal Fisher of model i for this parameter (``statistics[i][name]``, e.g. from
    :func:`auto_merge_llm.statistics.fisher_diagonal`). With equal Fishers this is the linear average.
    """
    stats = ctx.stats or []
    missing = [i for i, s in enumerate(stats) if s is None] if stats else list(range(len(ctx.tensors)))
    if missing:
        raise MergeError(
            f"fisher: no Fisher diagonal for parameter {ctx.name!r} in the statistics of model(s) {missing}; "
            "compute it with auto_merge_llm.statistics.fisher_diagonal on the same model"
        )
    fishers = []
    for i, (s, x) in enumerate(zip(stats, ctx.tensors)):
        assert s is not None
        if tuple(s.shape) != tuple(x.shape):
            raise MergeError(
                f"fisher: Fisher of model {i} for {ctx.name!r} has shape {list(s.shape)}, expected {list(x.shape)}"
            )
        fishers.append(s)
    if normalize_fisher:
        norms = _global_norms(ctx)
        fishers = [f / n if n > 0 else f for f, n in zip(fishers, norms)]
    return fisher_average(ctx.tensors, fishers, ctx.weights, fisher_floor)
