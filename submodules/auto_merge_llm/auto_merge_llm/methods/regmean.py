"""RegMean: regression-mean merging of linear layers."""

from __future__ import annotations

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method
from ._common import weighted_sum


def regmean_solve(
    weights: list[torch.Tensor], grams: list[torch.Tensor], coeffs: list[float], alpha: float
) -> torch.Tensor:
    """W* with W*ᵀ = (Σᵢ cᵢ Gᵢ')⁻¹ Σᵢ cᵢ Gᵢ' Wᵢᵀ, Gᵢ' = α Gᵢ + (1 − α) diag(Gᵢ), solved in float64 with
    ``torch.linalg.solve`` (``lstsq`` if the system is singular); never an explicit inverse."""
    lhs = None
    rhs = None
    for w, g, c in zip(weights, grams, coeffs):
        g = g.double()
        g = alpha * g + (1.0 - alpha) * torch.diag(torch.diagonal(g))
        term_l = c * g
        term_r = c * (g @ w.double().t())
        lhs = term_l if lhs is None else lhs + term_l
        rhs = term_r if rhs is None else rhs + term_r
    assert lhs is not None and rhs is not None
    try:
        sol = torch.linalg.solve(lhs, rhs)
    except RuntimeError:  # singular: minimum-norm least squares
        sol = torch.linalg.lstsq(lhs.cpu(), rhs.cpu(), driver="gelsd").solution.to(lhs.device)
    return sol.t().to(weights[0].dtype)


@register_method(
    "regmean",
    description="RegMean: closed-form merge of linear layers from input Gram matrices; others averaged.",
    needs_statistics=True,
    ranges={"regmean_alpha": (0.0, 1.0)},
    statistics_kind="gram",
)
def regmean(ctx: TensorContext, *, regmean_alpha: float = 0.9) -> torch.Tensor:
    """RegMean (Jin, Ren, Preotiuc-Pietro & Cheng, "Dataless Knowledge Fusion by Merging Weights of Language
    Models", ICLR 2023).

    For a linear layer y = x Wᵀ with weight W ∈ ℝ^{out×in} and per-model input Gram matrix Gᵢ = XᵢᵀXᵢ ∈ ℝ^{in×in}:
      W* = argmin Σᵢ cᵢ‖Xᵢ Wᵀ − Xᵢ Wᵢᵀ‖²  ⇒  W*ᵀ = (Σᵢ cᵢ Gᵢ')⁻¹ Σᵢ cᵢ Gᵢ' Wᵢᵀ
    where Gᵢ' = α Gᵢ + (1 − α) diag(Gᵢ) shrinks the off-diagonal entries by α = ``regmean_alpha`` (α = 1 is the
    exact least-squares solution of the concatenated regression) and cᵢ are the model weights (the paper has
    cᵢ = 1; with equal weights the result is the paper's). Statistics: one mapping per model from the linear
    layer's module name (``…query``) or parameter name (``…query.weight``) to Gᵢ, e.g. from
    :func:`auto_merge_llm.statistics.gram_matrices`. Every other parameter (biases, norms, embeddings, 2-D tensors
    without a Gram matrix) is the weighted average Σ wᵢθᵢ / Σ wᵢ, as in the paper.
    """
    total = float(sum(ctx.weights))
    coeffs = [float(w) / total for w in ctx.weights]
    stats = ctx.stats or []
    present = [s is not None for s in stats]
    x0 = ctx.tensors[0]
    if x0.dim() == 2 and stats and any(present):
        if not all(present):
            missing = [i for i, p in enumerate(present) if not p]
            raise MergeError(
                f"regmean: Gram matrix for {ctx.name!r} is missing for model(s) {missing}; give every model one"
            )
        expected = (x0.shape[1], x0.shape[1])
        for i, g in enumerate(stats):
            assert g is not None
            if tuple(g.shape) != expected:
                raise MergeError(
                    f"regmean: Gram matrix of model {i} for {ctx.name!r} has shape {list(g.shape)}, expected "
                    f"{list(expected)} (in_features × in_features)"
                )
        return regmean_solve(ctx.tensors, [g for g in stats if g is not None], coeffs, regmean_alpha)
    return weighted_sum(ctx.tensors, coeffs)
