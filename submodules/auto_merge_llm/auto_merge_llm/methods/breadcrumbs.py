"""Model Breadcrumbs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method
from ._common import keep_count, weighted_sum


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


@register_method(
    "breadcrumbs",
    description="Model Breadcrumbs: drop the largest outliers and the small tail of each task vector, then add.",
    needs_base=True,
    ranges={"density": (0.0, 1.0), "gamma": (0.0, 1.0)},
    check=_check,
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
