"""Spherical linear interpolation (SLERP)."""

from __future__ import annotations

import math

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method


def slerp_pair(v0: torch.Tensor, v1: torch.Tensor, t: float, eps: float = 5e-4) -> torch.Tensor:
    """slerp(v0, v1; t) = sin((1−t)Ω)/sin Ω · v0 + sin(tΩ)/sin Ω · v1, cos Ω = ⟨v0, v1⟩/(‖v0‖‖v1‖), on the flattened
    tensors. Falls back to (1−t)v0 + t v1 when |cos Ω| > 1 − eps (near-(anti)parallel) or a norm is zero."""
    a = v0.reshape(-1).double()
    b = v1.reshape(-1).double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return ((1 - t) * v0 + t * v1).to(v0.dtype)
    cos = float(torch.dot(a / na, b / nb).clamp(-1.0, 1.0))
    if abs(cos) > 1.0 - eps:
        return ((1 - t) * v0 + t * v1).to(v0.dtype)
    omega = math.acos(cos)
    so = math.sin(omega)
    out = (math.sin((1 - t) * omega) / so) * a + (math.sin(t * omega) / so) * b
    return out.view_as(v0).to(v0.dtype)


@register_method(
    "slerp",
    description="Spherical interpolation (two models with t, or iterative pairwise slerp by weight).",
    ranges={"t": (0.0, 1.0), "eps": (0.0, 1.0)},
    default_head_merge="highest_weight",
)
def slerp(ctx: TensorContext, *, t: float | None = None, eps: float = 5e-4) -> torch.Tensor:
    """SLERP (Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985; as used for LLM merging by
    mergekit, Goddard et al. 2024).

    Two models with explicit ``t``: θ = slerp(θ₀, θ₁; t) in the given order (t = 0 → first model, t = 1 →
    second). Otherwise (any K, ``t=None``): models are visited in descending weight order (ties by position);
    acc ← θ_(1), W ← w_(1); for each next model i: acc ← slerp(acc, θᵢ; wᵢ / (W + wᵢ)), W ← W + wᵢ. For two
    models this is t = w_low / (w_high + w_low), i.e. the result leans toward the higher-weight model, and on
    (near-)parallel vectors it reduces to the weighted average.

    Classification head: unless ``head_merge`` is set to something other than ``"linear"``, the head is kept
    from the highest-weight model (interpolating two independently initialised heads is meaningless).
    """
    k = len(ctx.tensors)
    if t is not None:
        if k != 2:
            raise MergeError(
                f"method 'slerp': an explicit t needs exactly 2 models, got {k}; drop t to use weights"
            )
        return slerp_pair(ctx.tensors[0], ctx.tensors[1], t, eps)
    order = sorted(range(k), key=lambda i: (-ctx.weights[i], i))
    acc = ctx.tensors[order[0]]
    total = float(ctx.weights[order[0]])
    for i in order[1:]:
        w = float(ctx.weights[i])
        if w == 0:
            continue
        acc = slerp_pair(acc, ctx.tensors[i], w / (total + w), eps)
        total += w
    return acc.clone()
