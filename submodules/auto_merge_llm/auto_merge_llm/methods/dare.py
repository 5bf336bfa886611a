"""DARE (drop and rescale)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method
from ._common import stable_seed, weighted_sum
from .ties import ties_combine


def dare_mask(shape: torch.Size, drop_rate: float, seed: int, name: str, model_index: int) -> torch.Tensor:
    """Keep-mask with P(keep) = 1 − drop_rate, drawn on the CPU from a generator seeded by
    sha256(seed, parameter name, model index): bitwise reproducible and independent of iteration order and
    device."""
    g = torch.Generator(device="cpu")
    g.manual_seed(stable_seed("dare", seed, name, model_index))
    return torch.rand(shape, generator=g, dtype=torch.float32) >= drop_rate


def _check(params: Mapping[str, Any]) -> None:
    if not 0.0 <= params["drop_rate"] < 1.0:
        raise MergeError(f"method 'dare': drop_rate must be in [0, 1), got {params['drop_rate']}")


@register_method(
    "dare",
    description="DARE: randomly drop task-vector entries, rescale survivors, then task arithmetic or TIES.",
    needs_base=True,
    check=_check,
)
def dare(
    ctx: TensorContext,
    *,
    drop_rate: float = 0.9,
    lambda_: float = 1.0,
    dare_combine: Literal["linear", "ties"] = "linear",
    rescale: bool = True,
) -> torch.Tensor:
    """DARE (Yu et al., "Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free
    Lunch", ICML 2024).

    τ̃ᵢ = mᵢ ⊙ τᵢ / (1 − p),  mᵢ ~ Bernoulli(1 − p) entrywise (no rescaling if ``rescale`` is false), then
    ``dare_combine="linear"``: θ = θ₀ + λ Σᵢ wᵢ τ̃ᵢ (task arithmetic), or
    ``dare_combine="ties"``: θ = θ₀ + λ · TIES-elect-and-disjoint-mean(τ̃ᵢ) (DARE replaces TIES' magnitude trim).
    The mask of model i for parameter ``name`` is seeded from (seed, name, i) — see :func:`dare_mask`.
    p = 0 reduces exactly to task arithmetic (or TIES without trimming).
    """
    assert ctx.base is not None
    scale = 1.0 / (1.0 - drop_rate) if rescale else 1.0
    sparse = []
    for tv, idx in zip(ctx.task_vectors(), ctx.model_indices):
        mask = dare_mask(tv.shape, drop_rate, ctx.seed, ctx.name, idx).to(tv.device)
        sparse.append(tv * mask * scale)
    if dare_combine == "linear":
        return ctx.base + lambda_ * weighted_sum(sparse, ctx.weights)
    return ctx.base + lambda_ * ties_combine(sparse, ctx.weight_tensor())
