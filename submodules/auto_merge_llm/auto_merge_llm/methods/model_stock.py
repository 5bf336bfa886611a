"""Model Stock."""

from __future__ import annotations

import itertools

import torch

from ..registry import TensorContext, register_method


def average_pairwise_cosine(vectors: list[torch.Tensor]) -> float:
    """Mean of cos(τᵢ, τⱼ) over all pairs i < j (a pair with a zero vector counts as cos = 0)."""
    flat = [v.reshape(-1).double() for v in vectors]
    norms = [f.norm() for f in flat]
    cos = []
    for i, j in itertools.combinations(range(len(flat)), 2):
        if norms[i] == 0 or norms[j] == 0:
            cos.append(0.0)
        else:
            cos.append(float(torch.dot(flat[i], flat[j]) / (norms[i] * norms[j])))
    return sum(cos) / len(cos) if cos else 1.0


@register_method(
    "model_stock",
    description="Model Stock: interpolate the average toward the base by the task vectors' mean cosine.",
    needs_base=True,
)
def model_stock(ctx: TensorContext) -> torch.Tensor:
    """Model Stock (Jang, Yun & Han, "Model Stock: All we need is just a few fine-tuned models", ECCV 2024).

    Per tensor ("layer"): cos θ = mean over pairs i<j of cos(τᵢ, τⱼ), clamped to [0, 1];
    t = k·cos θ / (1 + (k − 1)·cos θ);  θ = t · θ̄ + (1 − t) · θ₀, with θ̄ = Σ wᵢθᵢ / Σ wᵢ (the plain mean for equal
    weights, as in the paper). k = 1 gives t = 1 (the model itself). The clamp (negative mean cosine → t = 0, the
    base) is a safety this library adds; the paper assumes positively correlated fine-tunings.
    """
    assert ctx.base is not None
    k = len(ctx.tensors)
    cos = min(max(average_pairwise_cosine(ctx.task_vectors()), 0.0), 1.0)
    t = 1.0 if k == 1 else (k * cos) / (1.0 + (k - 1) * cos)
    total = float(sum(ctx.weights))
    mean = torch.zeros_like(ctx.base)
    for x, w in zip(ctx.tensors, ctx.weights):
        mean.add_(x, alpha=float(w) / total)
    return t * mean + (1.0 - t) * ctx.base
