"""AdaMerging: task arithmetic with coefficients learned on unlabeled target inputs."""

from __future__ import annotations

from typing import Literal

import torch

from ..errors import MergeError
from ..registry import TensorContext, register_method


@register_method(
    "adamerging",
    description="Task arithmetic with per-model (task-wise) or per-tensor (layer-wise) coefficients learned by "
    "minimising prediction entropy on unlabeled target inputs.",
    needs_base=True,
    needs_statistics=True,
    statistics_kind="coefficients",
    ranges={"steps": (1, None), "lr": (0.0, None), "init_lambda": (0.0, 1.0)},
)
def adamerging(
    ctx: TensorContext,
    *,
    granularity: Literal["task", "layer"] = "layer",
    steps: int = 100,
    lr: float = 1e-3,
    init_lambda: float = 0.3,
) -> torch.Tensor:
    """θ = θ₀ + Σᵢ λᵢ τᵢ, with λᵢ (per model, or per model and tensor) the statistics learned by
    :func:`auto_merge_llm.adamerging.learn_coefficients` (entropy minimisation on unlabeled inputs; ``granularity``,
    ``steps``, ``lr`` and ``init_lambda`` are its settings). The model weights are not used: λ replaces them.

    Reference: Yang et al., "AdaMerging: Adaptive Model Merging for Multi-Task Learning", ICLR 2024.
    """
    assert ctx.base is not None
    if ctx.stats is None or any(s is None for s in ctx.stats):
        raise MergeError(
            f"adamerging: no learned coefficient for {ctx.name!r}; compute them with "
            "auto_merge_llm.adamerging.learn_coefficients and pass .statistics()"
        )
    out = ctx.base.clone()
    for t, lam in zip(ctx.tensors, ctx.stats):
        out.add_(t - ctx.base, alpha=float(lam))
    return out
