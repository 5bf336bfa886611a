"""Weighted linear average ("model soup")."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method


@register_method(
    "linear", description="Weighted average of the models (plain weighted sum if not normalised)."
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
