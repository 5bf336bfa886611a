"""Model Breadcrumbs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import MergeError
from ..registry import Accumulator, StreamContext, TensorContext, register_method
from ._common import RankWindow, apply_in_chunks, keep_count, weighted_sum


def breadcrumbs_mask(t: torch.Tensor, density: float, gamma: float) -> torch.Tensor:
    """Mask keeping, by descending |t|, the entries ranked after the top n_top = round(γ·n) and within the next
    n_keep = round(density·n) (capped to what remains)."""
    flat = t.reshape(-1).abs()
    n = flat.numel()
    n_top = keep_count(gamma, n)
    n_keep = min(keep_count(density, n), n - n_top)
    order = torch.argsort(flat, descending=True, stable=True)
    mask = torch.zeros(n, dtype=torch.bool, device=t.device)
    mask[order[n_top : n_top + n_keep]] = True
    return mask.view_as(t)


def _check(params: Mapping[str, Any]) -> None:
    if params["density"] + params["gamma"] > 1.0 + 1e-12:
        raise MergeError(
            f"method 'breadcrumbs': density + gamma must be <= 1 (got {params['density']} + {params['gamma']})"
        )


class BreadcrumbsSum(Accumulator):
    """Breadcrumbs one model at a time: τᵢ in place, its rank window (:class:`RankWindow`, the same mask as
    :func:`breadcrumbs_mask`) applied chunk by chunk, then the weighted sum in model order and θ₀ + λ·Σ, as in
    :func:`breadcrumbs`."""

    owned = True

    def __init__(
        self, ctx: StreamContext, *, density: float = 0.9, gamma: float = 0.01, lambda_: float = 1.0
    ) -> None:
        assert ctx.base is not None
        self.base, self.weights = ctx.base, ctx.weights
        self.density, self.gamma, self.lambda_ = density, gamma, lambda_
        self.acc = torch.zeros(ctx.shape, dtype=torch.float32, device=ctx.device)

    def add(self, i: int, x: torch.Tensor) -> None:
        tau = x.sub_(self.base)
        window = RankWindow(tau, self.density, self.gamma)
        apply_in_chunks(tau, lambda c: c.mul_(window.mask(c)))
        self.acc.add_(tau, alpha=float(self.weights[i]))

    def result(self) -> torch.Tensor:
        return self.acc.mul_(self.lambda_).add_(self.base)


@register_method(
    "breadcrumbs",
    description="Model Breadcrumbs: drop the largest outliers and the small tail of each task vector, then add.",
    needs_base=True,
    ranges={"density": (0.0, 1.0), "gamma": (0.0, 1.0)},
    check=_check,
    streamed=BreadcrumbsSum,
)
def breadcrumbs(
    ctx: TensorContext, *, density: float = 0.9, gamma: float = 0.01, lambda_: float = 1.0
) -> torch.Tensor:
    """Model Breadcrumbs (Davari & Belilovsky, "Model Breadcrumbs: Scaling Multi-Task Model Merging with Sparse
    Masks", ECCV 2024).

    Per task vector τᵢ (per tensor): rank entries by |τᵢ|, remove the top γ fraction (outliers) and keep the next
    ``density`` fraction; everything smaller is dropped (the paper's β = 1 − density − γ bottom fraction).
    θ = θ₀ + λ Σᵢ wᵢ (mᵢ ⊙ τᵢ). No rescaling (as in the paper).
    """
    assert ctx.base is not None
    masked = [tv * breadcrumbs_mask(tv, density, gamma) for tv in ctx.task_vectors()]
    return ctx.base + lambda_ * weighted_sum(masked, ctx.weights)
