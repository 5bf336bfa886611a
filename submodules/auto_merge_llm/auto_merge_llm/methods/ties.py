"""TIES-merging."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from ._common import disjoint_mean, elect_sign, magnitude_mask


def ties_combine(task_vectors: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Sign election + weighted disjoint mean of already-sparsified task vectors (shared with DARE-TIES)."""
    stack = torch.stack(task_vectors)
    sign = elect_sign(stack, weights)
    return disjoint_mean(stack, weights, sign)


@register_method(
    "ties",
    description="TIES: trim task vectors to top-density magnitudes, elect signs, disjoint mean.",
    needs_base=True,
    ranges={"density": (0.0, 1.0)},
)
def ties(ctx: TensorContext, *, density: float = 0.2, lambda_: float = 1.0) -> torch.Tensor:
    """TIES-merging (Yadav et al., "TIES-Merging: Resolving Interference When Merging Models", NeurIPS 2023).

    1. Trim: τ̂ᵢ keeps the k = round(density·n) largest-|·| entries of τᵢ = θᵢ − θ₀ (per tensor), zeros the rest
       (equal magnitudes at the cut-off are taken lowest index first, the same on every device).
    2. Elect: γ = sgn(Σᵢ wᵢ τ̂ᵢ) per entry; exact ties take the tensor's majority sign (reference code).
    3. Disjoint mean: τ_m = Σ_{i∈A} wᵢ τ̂ᵢ / Σ_{i∈A} wᵢ over A = {i : sgn(τ̂ᵢ) = γ, τ̂ᵢ ≠ 0} (0 if A is empty).
    4. θ = θ₀ + λ τ_m.

    With equal weights this is exactly the paper's algorithm; weights generalise the sum and the mean.
    Trimming is per tensor (as in mergekit), not over the whole flattened model.
    """
    assert ctx.base is not None
    trimmed = [tv * magnitude_mask(tv, density) for tv in ctx.task_vectors()]
    return ctx.base + lambda_ * ties_combine(trimmed, ctx.weight_tensor())
