"""WUDI merging ("Whoever started the interference should end it")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method
from ._svd import is_matrix_param, mean_task_vector_of, model_sum, scaled_task_vectors


def _check(params: Mapping[str, Any]) -> None:
    if not params["lr"] > 0:
        raise MergeError(f"method 'wudi': lr must be > 0, got {params['lr']}")


def adam(param: torch.Tensor, grad_fn, steps: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
    """``steps`` in-place Adam updates of ``param`` (no weight decay, no AMSGrad): the arithmetic of
    ``torch.optim.Adam``'s single-tensor path, without its per-step bookkeeping.

    m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)."""
    beta1, beta2 = betas
    exp_avg = torch.zeros_like(param)
    exp_avg_sq = torch.zeros_like(param)
    denom = torch.empty_like(param)
    for step in range(1, steps + 1):
        grad = grad_fn(param)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** float(step)
        bias_correction2 = 1 - beta2 ** float(step)
        torch.sqrt(exp_avg_sq, out=denom).div_(bias_correction2**0.5).add_(eps)
        param.addcdiv_(exp_avg, denom, value=-(lr / bias_correction1))


def wudi_solve(taus: list[torch.Tensor], steps: int, lr: float) -> torch.Tensor:
    """Minimise L(τ_m) = Σᵢ ‖(τ_m − τᵢ) τᵢᵀ‖²_F / ‖τᵢ‖²_F with ``steps`` Adam steps from τ_m = Σᵢ τᵢ.

    ∇L = 2 (τ_m A − B) with A = Σᵢ τᵢᵀ τᵢ / ‖τᵢ‖² (in × in) and B = Σᵢ τᵢ τᵢᵀ τᵢ / ‖τᵢ‖² (out × in), both
    computed once; each step then costs one (out × in) · (in × in) product instead of the 2T products of
    (out × in) · (in × out) of differentiating the loss by autograd (same gradient, exact arithmetic). Task
    vectors that are exactly zero contribute nothing to L and are skipped (their 0/0 term is undefined).
    """
    merged = model_sum(taus)
    nonzero = [(t, float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2) for t in taus]
    nonzero = [(t, n2) for t, n2 in nonzero if n2 > 0]
    if len(nonzero) <= 1 or steps == 0:
        # At most one non-zero task vector: τ_m = Σᵢ τᵢ = τ₁ is the exact minimiser (L = 0). Running Adam from
        # there would only amplify the rounding noise of τ₁ A − B ≈ 0 into steps of size lr.
        return merged
    a = torch.zeros(merged.shape[1], merged.shape[1], dtype=merged.dtype, device=merged.device)
    b = torch.zeros_like(merged)
    for t, n2 in nonzero:
        g = (t.T @ t).div_(n2)
        a.add_(g)
        b.add_(t @ g)
    grad = torch.empty_like(merged)
    adam(merged, lambda m: torch.addmm(b, m, a, beta=-1.0, out=grad).mul_(2.0), steps, lr)
    return merged


@register_method(
    "wudi",
    description="WUDI: per linear layer, Adam on the interference measured through the task vectors.",
    needs_base=True,
    ranges={"steps": (0, None)},
    check=_check,
)
def wudi(
    ctx: TensorContext,
    *,
    steps: int = 300,
    lr: float = 1e-5,
    other_tensors: Literal["mean", "base"] = "mean",
) -> torch.Tensor:
    """WUDI-Merging (Cheng, Xiong, Wei, Zhu & Yuan, "Whoever Started the Interference Should End It: Guiding
    Data-Free Model Merging via Task Vectors", ICML 2025, arXiv:2503.08099; reference code
    github.com/nathanielyvo/WUDI-Merging ``wudi_main.py``, and fusion_bench ``method/wudi``).

    Per linear-layer matrix (``nn.Linear`` layout, out × in), with task vectors τᵢ (scaled by
    sᵢ = wᵢ / mean(w), i.e. unscaled for equal weights): the rows of τᵢ approximately span that layer's inputs
    for task i, so the interference of a merged update τ_m on task i is measured as ‖(τ_m − τᵢ) τᵢᵀ‖², and
      τ_m = argmin Σᵢ ‖(τ_m − τᵢ) τᵢᵀ‖²_F / ‖τᵢ‖²_F,
    found as the paper does: ``steps`` = 300 steps of Adam (β = (0.9, 0.999), ε = 1e-8, no weight decay) with
    learning rate ``lr`` = 1e-5 (the authors' ViT script and fusion_bench; their RoBERTa script uses 2e-5),
    initialised with τ_m = Σᵢ τᵢ (task arithmetic, sum). θ = θ₀ + τ_m (no scaling
    coefficient, as published). The loss is never formed: see :func:`wudi_solve` for the exact gradient used.
    Other tensors (1-D, embeddings — see :mod:`._svd` —, ≥3-D): ``other_tensors="mean"`` gives θ₀ + Σᵢ w̄ᵢ τᵢ
    (fusion_bench's rule); ``"base"`` keeps θ₀, which is what the authors' ViT script does (its merged task
    vector holds only the attention and MLP matrices, so every other tensor stays pretrained).

    Deterministic: there is no randomness (``seed`` is not used), and on the CPU the result is bitwise
    reproducible for a given torch build and thread count. One model returns itself exactly (the gradient at
    τ_m = τ₁ is exactly zero). Cost per matrix: T products for A and B (T · out · in² multiply-adds), then
    ``steps`` × out · in² multiply-adds: 300 steps are ≈ 2.5·10¹² multiply-adds for a whole MiniLM-size
    encoder (6 layers, hidden 384; 2–3 min on one core of a loaded 2-core machine) and ≈ 3.9·10¹³ for XLM-R base
    (12 layers, hidden 768; the FFN output matrix alone 300 × 768 · 3072² ≈ 2.2·10¹²), i.e. minutes to tens
    of minutes per CPU core (on a GPU, ``device="cuda"``, a few TFLOP: seconds; not measured here).
    Memory: in² + 4 · out · in floats.
    """
    assert ctx.base is not None
    if not is_matrix_param(ctx.name, ctx.base):
        if other_tensors == "base":
            return ctx.base.clone()
        return ctx.base + mean_task_vector_of(ctx)
    return ctx.base + wudi_solve(scaled_task_vectors(ctx), steps, lr)
