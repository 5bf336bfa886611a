"""DARE (drop and rescale)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import torch

from ..errors import MergeError
from ..registry import Accumulator, RowMerger, StreamContext, TensorContext, register_method
from ._common import DeferredMajority, add_task_vector, stable_seed, weighted_sum
from .ties import ties_combine


def _mask_generator(seed: int, name: str, model_index: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(stable_seed("dare", seed, name, model_index))
    return g


def dare_mask(shape: torch.Size, drop_rate: float, seed: int, name: str, model_index: int) -> torch.Tensor:
    """Keep-mask with P(keep) = 1 − drop_rate, drawn on the CPU from a generator seeded by
    sha256(seed, parameter name, model index): bitwise reproducible and independent of iteration order and
    device."""
    g = _mask_generator(seed, name, model_index)
    return torch.rand(shape, generator=g, dtype=torch.float32) >= drop_rate


class DareMaskStream:
    """:func:`dare_mask` in consecutive pieces: ``torch.rand`` on the CPU draws one number per entry in flat
    order, so pieces drawn in order from the same generator are exactly the slices of the whole mask (the
    tests check it)."""

    def __init__(self, drop_rate: float, seed: int, name: str, model_index: int) -> None:
        self.drop_rate = drop_rate
        self.g = _mask_generator(seed, name, model_index)

    def next(self, shape: tuple[int, ...] | torch.Size, device: torch.device) -> torch.Tensor:
        return (torch.rand(shape, generator=self.g, dtype=torch.float32) >= self.drop_rate).to(device)


def _scale(drop_rate: float, rescale: bool) -> float:
    return 1.0 / (1.0 - drop_rate) if rescale else 1.0


class DareSum(Accumulator):
    """DARE + task arithmetic one model at a time: τᵢ formed, masked and rescaled cache-chunk by chunk from
    the model's (read-only, memory-mapped) tensor with the mask drawn in pieces (:class:`DareMaskStream`),
    added in model order (:func:`add_task_vector`), then θ₀ + λ·Σ."""

    propagates_nonfinite = True  # a dropped NaN/Inf entry is still NaN (NaN·0, Inf·0)

    def __init__(self, ctx: StreamContext, *, drop_rate: float, lambda_: float, rescale: bool) -> None:
        assert ctx.base is not None
        self.ctx, self.drop_rate, self.lambda_ = ctx, drop_rate, lambda_
        self.scale = _scale(drop_rate, rescale)
        self.acc = torch.zeros(ctx.shape, dtype=torch.float32, device=ctx.device)

    def add(self, i: int, x: torch.Tensor) -> None:
        ctx = self.ctx
        assert ctx.base is not None
        masks = DareMaskStream(self.drop_rate, ctx.seed, ctx.name, ctx.model_indices[i])
        add_task_vector(
            self.acc, x, ctx.base, float(ctx.weights[i]),
            lambda c: c.mul_(masks.next(c.shape, c.device)).mul_(self.scale),
        )  # fmt: skip

    def result(self) -> torch.Tensor:
        assert self.ctx.base is not None
        return self.acc.mul_(self.lambda_).add_(self.ctx.base)


class DareTiesRows(RowMerger):
    """DARE + TIES over row chunks: each model's mask drawn in pieces in row order, then the TIES election
    and disjoint mean chunk by chunk (:class:`DeferredMajority`)."""

    def __init__(self, ctx: StreamContext, *, drop_rate: float, lambda_: float, rescale: bool) -> None:
        self.device, self.scale = ctx.device, _scale(drop_rate, rescale)
        self.masks = [DareMaskStream(drop_rate, ctx.seed, ctx.name, idx) for idx in ctx.model_indices]
        row_numel = math.prod(ctx.shape[1:]) if ctx.shape else 1
        self.election = DeferredMajority(ctx.weight_tensor(len(ctx.shape)), lambda_, row_numel)

    def rows(self, start: int, stop: int, xs: list[torch.Tensor], base: torch.Tensor | None) -> torch.Tensor:
        assert base is not None
        sparse = []
        for x, masks in zip(xs, self.masks):
            tau = x.sub_(base)
            sparse.append(tau.mul_(masks.next(tau.shape, self.device)).mul_(self.scale))
        return self.election.rows(start, sparse, base)

    def finish(self, out: torch.Tensor) -> torch.Tensor:
        return self.election.finish(out)


def _streamed(
    ctx: StreamContext,
    *,
    drop_rate: float = 0.9,
    lambda_: float = 1.0,
    dare_combine: str = "linear",
    rescale: bool = True,
) -> Accumulator | RowMerger:
    kind = DareSum if dare_combine == "linear" else DareTiesRows
    return kind(ctx, drop_rate=drop_rate, lambda_=lambda_, rescale=rescale)


def _check(params: Mapping[str, Any]) -> None:
    if not 0.0 <= params["drop_rate"] < 1.0:
        raise MergeError(f"method 'dare': drop_rate must be in [0, 1), got {params['drop_rate']}")


@register_method(
    "dare",
    description="DARE: randomly drop task-vector entries, rescale survivors, then task arithmetic or TIES.",
    needs_base=True,
    check=_check,
    streamed=_streamed,
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
