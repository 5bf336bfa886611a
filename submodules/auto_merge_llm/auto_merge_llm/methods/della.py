"""DELLA-Merging: drop and rescale via sampling with magnitude (MagPrune), then TIES elect and fuse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method
from ._common import disjoint_mean, elect_sign, stable_seed, weighted_sum


def magprune_keep_probability(tv: torch.Tensor, density: float, window_size: float) -> torch.Tensor:
    """Keep probability of every entry: within each row (dim 0 indexes rows; a 1-D tensor is one row; a
    ≥3-D tensor is reshaped to (shape[0], −1)), entries are ranked by |τ| ascending (equal magnitudes: lower
    index first) and q = (density − ε/2) + ε · rank / (n − 1) with ε = ``window_size``, i.e. linear from
    density − ε/2 (smallest) to density + ε/2 (largest), mean exactly ``density``. Rows of one entry get
    q = density."""
    rows = tv.reshape(tv.shape[0], -1) if tv.dim() >= 2 else tv.reshape(1, -1)
    n = rows.shape[1]
    if n == 1 or window_size == 0:
        return torch.full_like(tv, density)
    order = torch.argsort(rows.abs(), dim=1, stable=True)
    positions = torch.arange(n, device=tv.device, dtype=tv.dtype).expand_as(rows)
    ranks = torch.empty_like(rows).scatter_(1, order, positions)
    return ((density - window_size / 2) + (window_size / (n - 1)) * ranks).view_as(tv)


def della_mask(keep: torch.Tensor, seed: int, name: str, model_index: int) -> torch.Tensor:
    """Bernoulli(keep) mask, drawn on the CPU from a generator seeded by sha256("della", seed, parameter
    name, model index): bitwise reproducible and independent of iteration order and device."""
    g = torch.Generator(device="cpu")
    g.manual_seed(stable_seed("della", seed, name, model_index))
    u = torch.rand(keep.shape, generator=g, dtype=torch.float32)
    return u.to(keep.device) < keep


def _check(params: Mapping[str, Any]) -> None:
    d, h = params["density"], params["window_size"] / 2
    if not (d - h > 0.0 and d + h <= 1.0):
        raise MergeError(
            f"method 'della': keep probabilities density ± window_size/2 must lie in (0, 1], got density={d}, "
            f"window_size={2 * h} (range [{d - h:g}, {d + h:g}]); lower window_size or move density away "
            "from 0 and 1"
        )


@register_method(
    "della",
    description="DELLA: magnitude-ranked drop probabilities per row (MagPrune), rescale, TIES elect + fuse.",
    needs_base=True,
    ranges={"density": (0.0, 1.0), "window_size": (0.0, 1.0)},
    check=_check,
)
def della(
    ctx: TensorContext,
    *,
    density: float = 0.7,
    window_size: float = 0.2,
    lambda_: float = 1.0,
    della_combine: Literal["ties", "linear"] = "ties",
) -> torch.Tensor:
    """DELLA-Merging (Deep, Bhardwaj & Poria, "DELLA-Merging: Reducing Interference in Model Merging through
    Magnitude-Based Sampling", arXiv:2406.11617, 2024; reference code: the authors' mergekit fork
    github.com/declare-lab/della ``sparsify.rank_magnitude``, upstream mergekit ``della_magprune``).

    1. Drop (MagPrune): per row of τᵢ = θᵢ − θ₀ (n entries), rank the entries by magnitude, rank 0 the
       smallest, and drop each with probability pᵢⱼ = (p + ε/2) − ε · rankᵢⱼ/(n − 1), p = 1 − density,
       ε = ``window_size``: the smallest entry is dropped with probability p + ε/2, the largest with
       p − ε/2, the mean is p (:func:`magprune_keep_probability` returns qᵢⱼ = 1 − pᵢⱼ); mᵢⱼ ~ Bernoulli(qᵢⱼ)
       (:func:`della_mask`); rescale the survivors: τ̃ᵢ = mᵢ ⊙ τᵢ / (1 − pᵢ), so E[τ̃ᵢ] = τᵢ.
    2. Elect: γ = sgn(Σᵢ wᵢ τ̃ᵢ) per entry (exact ties: the tensor's majority sign, as ``ties``).
    3. Fuse: τ_m = Σ_{i∈A} wᵢ τ̃ᵢ / Σ_{i∈A} wᵢ over A = {i : sgn(τ̃ᵢ) = γ, τ̃ᵢ ≠ 0} (0 if A is empty).
    4. θ = θ₀ + λ τ_m.  ``della_combine="linear"`` skips 2–3: θ = θ₀ + λ Σᵢ wᵢ τ̃ᵢ (mergekit's della_linear).

    ``window_size`` is the full width ε of the probability range, as the authors' code parametrises it (its
    config's ``window_size``; its sampler receives epsilon = window_size / 2). mergekit's ``epsilon`` is that
    half-width: mergekit ``epsilon=0.1`` = ``window_size=0.2`` here. Defaults density = 0.7, ε = 0.2, λ = 1:
    the paper tunes drop rate, ε and λ per experiment, so these are illustrative, not published optima. The mask of model i for parameter ``name`` is seeded from
    (seed, name, i) — bitwise reproducible, the same on every device. density = 1 with ε = 0 drops nothing
    (TIES without trimming). Weights enter the sign election and the disjoint mean as in ``ties``/``dare``
    (equal weights = the paper; the authors' code weights them the same way, but resolves exact sign ties
    to +1 where ``ties`` here takes the tensor's majority sign). Each tensor is ranked row by row, embeddings included (a row = one token).
    """
    assert ctx.base is not None
    sparse = []
    for tv, idx in zip(ctx.task_vectors(), ctx.model_indices):
        keep = magprune_keep_probability(tv, density, window_size)
        mask = della_mask(keep, ctx.seed, ctx.name, idx)
        sparse.append(torch.where(mask, tv / keep, torch.zeros_like(tv)))
    if della_combine == "linear":
        return ctx.base + lambda_ * weighted_sum(sparse, ctx.weights)
    stack = torch.stack(sparse)
    weights = ctx.weight_tensor()
    return ctx.base + lambda_ * disjoint_mean(stack, weights, elect_sign(stack, weights))
