"""TIES-merging."""

from __future__ import annotations

import math

import torch

from ..registry import RowMerger, StreamContext, TensorContext, register_method
from ._common import DeferredMajority, MagnitudeCut, disjoint_mean, elect_sign, magnitude_mask


def ties_combine(task_vectors: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Sign election + weighted disjoint mean of already-sparsified task vectors (shared with DARE-TIES)."""
    sign = elect_sign(task_vectors, weights)
    return disjoint_mean(task_vectors, weights, sign)


class TiesRows(RowMerger):
    """TIES over row chunks: :meth:`prepare` finds each model's magnitude cut-off on its whole task vector
    (one model at a time); :meth:`rows` trims the chunk's task vectors with it and elects signs / takes the
    disjoint mean chunk by chunk (:class:`DeferredMajority` resolves sign ties once the whole tensor is
    seen). Bitwise equal to :func:`ties`."""

    prepares = True

    def __init__(self, ctx: StreamContext, *, density: float = 0.2, lambda_: float = 1.0) -> None:
        assert ctx.base is not None
        self.base, self.density = ctx.base, density
        self.cuts: list[MagnitudeCut | None] = [None] * len(ctx.weights)
        row_numel = math.prod(ctx.shape[1:]) if ctx.shape else 1
        self.election = DeferredMajority(ctx.weight_tensor(len(ctx.shape)), lambda_, row_numel)

    def prepare(self, i: int, x: torch.Tensor) -> None:
        self.cuts[i] = MagnitudeCut(x.sub_(self.base), self.density)

    def rows(self, start: int, stop: int, xs: list[torch.Tensor], base: torch.Tensor | None) -> torch.Tensor:
        assert base is not None
        trimmed = []
        for x, cut in zip(xs, self.cuts):
            assert cut is not None
            tau = x.sub_(base)
            trimmed.append(tau.mul_(cut.mask(tau)))
        return self.election.rows(start, trimmed, base)

    def finish(self, out: torch.Tensor) -> torch.Tensor:
        return self.election.finish(out)


@register_method(
    "ties",
    description="TIES: trim task vectors to top-density magnitudes, elect signs, disjoint mean.",
    needs_base=True,
    ranges={"density": (0.0, 1.0)},
    streamed=TiesRows,
)
def ties(ctx: TensorContext, *, density: float = 0.2, lambda_: float = 1.0) -> torch.Tensor:
    """TIES-merging (Yadav et al., "TIES-Merging: Resolving Interference When Merging Models", NeurIPS 2023).

    1. Trim: τ̂ᵢ keeps the k = round(density·n) largest-|·| entries of τᵢ = θᵢ − θ₀ (per tensor), zeros the rest
       (equal magnitudes at the cut-off are taken lowest index first, the same on every device).
    2. Elect: γ = sgn(Σᵢ wᵢ τ̂ᵢ) per entry; exact ties take the tensor's majority sign (reference code).
    3. Disjoint mean: τ_m = Σ_{i∈A} wᵢ τ̂ᵢ / Σ_{i∈A} wᵢ over A = {i : sgn(τ̂ᵢ) = γ, τ̂ᵢ ≠ 0} (0 if A is empty).
       Sums over models run in model order (see :mod:`._common`).
    4. θ = θ₀ + λ τ_m.

    With equal weights this is exactly the paper's algorithm; weights generalise the sum and the mean.
    Trimming is per tensor (as in mergekit), not over the whole flattened model.
    """
    assert ctx.base is not None
    trimmed = [tv * magnitude_mask(tv, density) for tv in ctx.task_vectors()]
    return ctx.base + lambda_ * ties_combine(trimmed, ctx.weight_tensor())
