"""Layer swapping: the outer layers from one expert, the middle merged."""

from __future__ import annotations

import torch

from ..errors import MergeError
from ..layers import depth
from ..registry import Accumulator, StreamContext, TensorContext, register_method


def swap_share(name: str, num_layers: int, bottom: int, top: int, transition: int) -> float:
    """α, the share of the first model (the expert) in parameter ``name`` (see :func:`layer_swap`)."""
    if bottom == 0 and top == 0:  # no expert zone: the weighted average everywhere, no layer needed
        return 0.0
    if num_layers <= 0:
        raise MergeError(
            f"method 'layer_swap': no transformer block found in the parameter names (e.g. {name!r}); it needs "
            "models whose parameters sit in numbered blocks (encoder.layer.N, layers.N, h.N, block.N)"
        )
    low = transition if bottom > 0 else 0
    high = transition if top > 0 else 0
    if bottom + top + low + high > num_layers:
        raise MergeError(
            f"method 'layer_swap': bottom={bottom} + top={top} + transition zones ({low} + {high}) exceed the "
            f"models' {num_layers} layers; lower them"
        )
    d = depth(name, num_layers)
    if d is None:  # a head parameter reached the method (head_merge='method'): merged like the middle
        return 0.0
    if d < 0:
        return 1.0 if bottom > 0 else 0.0
    if d >= num_layers:
        return 1.0 if top > 0 else 0.0
    if d < bottom or d >= num_layers - top:
        return 1.0
    if d < bottom + low or d >= num_layers - top - high:
        return 0.5
    return 0.0


def swap_weights(weights: list[float], share: float) -> list[float]:
    """vᵢ = α·[i = 0] + (1 − α)·wᵢ."""
    return [(share if i == 0 else 0.0) + (1.0 - share) * float(w) for i, w in enumerate(weights)]


class LayerSwapSum(Accumulator):
    """θ = Σᵢ vᵢ θᵢ one model at a time (the additions of :func:`layer_swap`, in the same order)."""

    propagates_nonfinite = True

    def __init__(self, ctx: StreamContext, *, bottom: int = 1, top: int = 1, transition: int = 0) -> None:
        share = swap_share(ctx.name, ctx.num_layers, bottom, top, transition)
        self.weights = swap_weights(list(ctx.weights), share)
        self.out = torch.zeros(ctx.shape, dtype=torch.float32, device=ctx.device)

    def add(self, i: int, x: torch.Tensor) -> None:
        self.out.add_(x, alpha=self.weights[i])

    def result(self) -> torch.Tensor:
        return self.out


@register_method(
    "layer_swap",
    description="Outer layers from the first model (the expert), middle layers the weighted average.",
    ranges={"bottom": (0, None), "top": (0, None), "transition": (0, None)},
    streamed=LayerSwapSum,
)
def layer_swap(ctx: TensorContext, *, bottom: int = 1, top: int = 1, transition: int = 0) -> torch.Tensor:
    """θ = α θ₁ + (1 − α) Σᵢ wᵢ θᵢ, per parameter, where θ₁ is the **first** model (the expert: in merginguriel
    the source most similar to the target, or the target's own model with ``--include-target``) and α is 1 in
    the expert's zones, ½ in the transition zones and 0 in the merged middle.

    With L transformer blocks, numbered 0 … L − 1 from the input: the bottom zone is blocks [0, ``bottom``) plus
    the embeddings (when ``bottom`` > 0); the top zone is blocks [L − ``top``, L) plus the parameters above the
    last block (final norm, pooler; when ``top`` > 0); ``transition`` blocks just inside each non-empty outer
    zone are the half-and-half average of the expert and the merged middle; every other block is the weighted
    average of all K models (the expert included). The classification head follows ``head_merge`` like every
    method's. ``bottom = top = 0`` is ``linear``.

    Reference: Bandarkar et al., "Layer Swapping for Zero-Shot Cross-Lingual Transfer in Large Language
    Models", ICLR 2025 (a language expert's bottom and top layers, a task expert's middle; their default for
    32 layers is 5 bottom and 2 top layers with 1-layer transition zones; scaled to a 12-layer encoder that is
    2 bottom, 1 top; the default here, 1 and 1, fits any model of two or more blocks). Their transition layers
    average the two experts; here the expert and the merged middle.
    """
    share = swap_share(ctx.name, ctx.num_layers, bottom, top, transition)
    out = torch.zeros_like(ctx.tensors[0])
    for t, w in zip(ctx.tensors, swap_weights(list(ctx.weights), share)):
        out.add_(t, alpha=w)
    return out
