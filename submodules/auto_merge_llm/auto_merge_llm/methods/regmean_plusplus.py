"""RegMean++: RegMean with the Gram matrices of the merge model's own intermediate inputs."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from .regmean import regmean


@register_method(
    "regmean_plusplus",
    description="RegMean++: RegMean whose linear-layer inputs pass through the already-merged blocks below.",
    needs_statistics=True,
    ranges={"regmean_alpha": (0.0, 1.0)},
    statistics_kind="progressive_gram",
)
def regmean_plusplus(ctx: TensorContext, *, regmean_alpha: float = 0.9) -> torch.Tensor:
    """The RegMean formula (:func:`auto_merge_llm.methods.regmean.regmean`) on Gram matrices computed block by
    block through the merge model: Gᵢ^(l) = Xᵢ^(l)ᵀXᵢ^(l) with Xᵢ^(l) = f_M^(l−1)(Xᵢ^(l−1)), the inputs model i's
    data reach block l through the merged blocks 0 … l−1 (within block l, through model i's own block), from
    :func:`auto_merge_llm.regmean_plusplus.progressive_gram_matrices`. Other tensors: the weighted average.

    Reference: Nguyen, Dang, Suzuki & Nguyen, "RegMean++: Enhancing Effectiveness and Generalization of
    Regression Mean for Model Merging", arXiv:2508.03121 (2025).
    """
    return regmean(ctx, regmean_alpha=regmean_alpha)
