"""Weighted linear average ("model soup")."""

from __future__ import annotations

import torch

from ..registry import Accumulator, StreamContext, TensorContext, register_method


class LinearSum(Accumulator):
    """θ = Σᵢ wᵢ θᵢ, one model at a time (the same additions, in the same order, as :func:`linear`)."""

    propagates_nonfinite = True  # NaN/Inf in any θᵢ survives a weighted sum (0·Inf is NaN)

    def __init__(self, ctx: StreamContext) -> None:
        self.weights = ctx.weights
        self.out = torch.zeros(ctx.shape, dtype=torch.float32, device=ctx.device)

    def add(self, i: int, x: torch.Tensor) -> None:
        self.out.add_(x, alpha=float(self.weights[i]))

    def result(self) -> torch.Tensor:
        return self.out


@register_method(
    "linear",
    description="Weighted average of the models (plain weighted sum if not normalised).",
    streamed=LinearSum,
)
def linear(ctx: TensorContext) -> torch.Tensor:
    """θ = Σᵢ wᵢ θᵢ, with wᵢ ← wᵢ / Σⱼ wⱼ when ``normalize_weights`` is true.

    Reference: Wortsman et al., "Model soups: averaging weights of multiple fine-tuned models improves
    accuracy without increasing inference time", ICML 2022.
    """
    out = torch.zeros_like(ctx.tensors[0])
    for t, w in zip(ctx.tensors, ctx.weights):
        out.add_(t, alpha=float(w))
    return out
