"""Multi-SLERP: barycentric interpolation of K models on the hypersphere (mergekit)."""

from __future__ import annotations

import math

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method
from .karcher import dot64


@register_method(
    "multislerp",
    description="Multi-SLERP: weighted spherical barycentre of K models (mergekit), rescaled to the mean norm.",
    ranges={"eps": (0.0, None)},
)
def multislerp(ctx: TensorContext, *, eps: float = 1e-8) -> torch.Tensor:
    """Multi-SLERP (Goddard, "Multislerp", goddard.blog/posts/multislerp-wow-what-a-cool-idea, 2025; mergekit
    ``merge_methods/multislerp.py``), on the flattened raw weights θᵢ with the weights in use wᵢ (normalised
    to sum 1 by default — mergekit's ``normalize_weights=True``; as given with ``normalize_weights=False``).

    mergekit's steps: uᵢ = θᵢ / (‖θᵢ‖ + eps); m̄ = Σ wᵢ uᵢ, m = m̄/‖m̄‖ (the weighted Euclidean mean projected to
    the sphere); tangent vectors vᵢ = uᵢ − ⟨uᵢ, m⟩ m; t = Σ wᵢ vᵢ; back to the sphere with the exponential map
    r = cos‖t‖ · m + sin‖t‖ · t/‖t‖; θ = (Σ wᵢ‖θᵢ‖) · r.
    Since Σ wᵢ ⟨uᵢ, m⟩ = ⟨m̄, m⟩ = ‖m̄‖, the tangent average t = m̄ − ‖m̄‖ m is identically zero, so r = m and
      θ = (Σᵢ wᵢ ‖θᵢ‖) · m̄ / ‖m̄‖,
    which is what is computed (mergekit's result up to its float rounding of t ≈ 0 and ‖t‖ + eps).
    When ‖m̄‖ < eps (e.g. two antipodal models with equal weights): two models fall back to the linear
    combination Σ wᵢ θᵢ, more models raise :class:`MergeError` (mergekit raises ``ValueError``). One model (or
    one-hot weights) returns that model. mergekit optionally interpolates task vectors around a base; here the
    method is base-free (the engine reads a base only for methods that declare one). Heads: by the engine's
    ``head_merge`` (default ``linear``; ``"method"`` applies multislerp to them).
    """
    k = len(ctx.tensors)
    if k == 1:
        return ctx.tensors[0].clone()
    weights = [float(w) for w in ctx.weights]
    norms = [math.sqrt(dot64(t, t)) for t in ctx.tensors]
    mean = torch.zeros_like(ctx.tensors[0])
    for t, w, n in zip(ctx.tensors, weights, norms):
        mean.add_(t, alpha=w / (n + eps))
    mean_norm = math.sqrt(dot64(mean, mean))
    if mean_norm < eps:
        if k == 2:
            return ctx.tensors[0] * weights[0] + ctx.tensors[1] * weights[1]
        raise MergeError(
            f"method 'multislerp': the weighted sum of the unit-normalised models is zero for {ctx.name!r} "
            "(antipodal models whose weights balance out); change the weights or use another method"
        )
    return mean.mul_(sum(w * n for w, n in zip(weights, norms)) / mean_norm)
