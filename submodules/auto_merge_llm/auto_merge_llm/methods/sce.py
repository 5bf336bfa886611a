"""SCE merging: select (by variance), calculate (matrix-level weights), erase (minority signs)."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from ._svd import model_sum


def top_variance_mask(variance: torch.Tensor, select_topk: float) -> torch.Tensor:
    """Mask of the k = ⌊select_topk · #{variance ≠ 0}⌋ largest-variance entries (equal variances at the
    cut-off: lowest flat index first; O(n) selection with ``kthvalue``, no full sort)."""
    flat = variance.reshape(-1)
    k = int(select_topk * int(torch.count_nonzero(flat)))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    if k > 0:
        threshold = torch.kthvalue(flat, flat.numel() - k + 1).values
        mask = flat > threshold
        need = k - int(mask.sum())
        if need > 0:
            mask[torch.nonzero(flat == threshold).squeeze(1)[:need]] = True
    return mask.view_as(variance)


@register_method(
    "sce",
    description="SCE: keep top-variance entries, matrix weights from squared magnitudes, erase minority signs.",
    needs_base=True,
    ranges={"select_topk": (0.0, 1.0)},
)
def sce(ctx: TensorContext, *, select_topk: float = 1.0, lambda_: float = 1.0) -> torch.Tensor:
    """SCE (Wan, Zhong, Yang, Chen & Quan, "FuseChat: Knowledge Fusion of Chat Models", arXiv:2408.07990,
    2024; reference code: mergekit ``merge_methods/sce.py``, which follows the FuseChat description).

    Per tensor, with task vectors τᵢ = θᵢ − θ₀ of the T models with wᵢ > 0:
      1. Select: v = Var_i(τᵢ) entrywise (population variance over the models); keep, in every τᵢ, the
         k = ⌊select_topk · #{v ≠ 0}⌋ entries of largest v (one mask shared by all models) → τ̂ᵢ.
         Skipped when select_topk = 1 (as mergekit) and when T = 1 (the variance is identically 0).
      2. Calculate: ηᵢ = wᵢ ‖τ̂ᵢ‖²_F / Σⱼ wⱼ ‖τ̂ⱼ‖²_F (ηᵢ = w̄ᵢ if every τ̂ᵢ is zero).
      3. Erase: γ = +1 where Σᵢ τ̂ᵢ ≥ 0, else −1; entry j of model i survives iff sgn(τ̂ᵢⱼ) = γⱼ (zeros
         never do).
      4. τ_m = Σᵢ ηᵢ [survives] τ̂ᵢ / Σᵢ ηᵢ [survives] (0 where nothing survives);  θ = θ₀ + λ τ_m.

    Weights: the paper and mergekit use no per-model weights (ηᵢ ∝ ‖τ̂ᵢ‖²); here ηᵢ is multiplied by wᵢ, so
    equal weights reproduce them exactly, and a model with wᵢ = 0 is left out entirely. The sign vote is the
    unweighted sum and exact ties count as +1, as in mergekit. λ (default 1, not in the paper) scales the
    merged task vector like the other task-vector methods. ``select_topk`` defaults to 1.0 (mergekit's
    default: no selection). Equal variances at the selection cut-off are taken lowest index first, so the mask
    is the same on every device (mergekit uses ``topk``, which breaks such ties arbitrarily).
    """
    assert ctx.base is not None
    kept = [(float(w), x - ctx.base) for w, x in zip(ctx.weights, ctx.tensors) if w > 0]
    stack = torch.stack([t for _, t in kept])
    if select_topk < 1.0 and len(kept) > 1:
        mean = model_sum(list(stack)).div_(len(kept))
        variance = model_sum([(t - mean).square_() for t in stack]).div_(len(kept))
        stack = stack * top_variance_mask(variance, select_topk)
    energy = [
        w * float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2 for (w, _), t in zip(kept, stack)
    ]
    total = sum(energy)
    eta = [e / total for e in energy] if total > 0 else [w / sum(w for w, _ in kept) for w, _ in kept]
    majority = torch.where(model_sum(list(stack)) >= 0, 1.0, -1.0).to(stack.dtype)
    num, den = torch.zeros_like(ctx.base), torch.zeros_like(ctx.base)
    for e, t in zip(eta, stack):  # model order (see model_sum)
        survive = (torch.sign(t) == majority).to(t.dtype) * e
        num.add_(t * survive)
        den.add_(survive)
    return ctx.base + lambda_ * torch.where(den > 0, num / den.clamp_min(torch.finfo(num.dtype).tiny), 0.0)
