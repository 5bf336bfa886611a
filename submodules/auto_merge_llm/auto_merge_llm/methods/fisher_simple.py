"""Magnitude-proxy Fisher merging (the merginguriel seed's "fisher")."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from .fisher import fisher_average


@register_method(
    "fisher_simple",
    description="Magnitude-proxy 'Fisher' merge: F ≈ θ² (a proxy, not a Fisher; needs no data).",
    ranges={"fisher_floor": (0.0, None)},
)
def fisher_simple(ctx: TensorContext, *, fisher_floor: float = 1e-6) -> torch.Tensor:
    """Magnitude proxy of Fisher merging: θ = Σᵢ cᵢ F̃ᵢ θᵢ / Σᵢ cᵢ F̃ᵢ with F̃ᵢ = max(θᵢ², floor).

    θ² is *not* a Fisher information estimate; it is the data-free proxy the original merginguriel seed used,
    kept for comparison. Use ``fisher`` with :func:`auto_merge_llm.statistics.fisher_diagonal` for the real
    method (Matena & Raffel 2022).
    """
    return fisher_average(ctx.tensors, [x * x for x in ctx.tensors], ctx.weights, fisher_floor)
