"""Task arithmetic."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from ._common import weighted_sum


@register_method(
    "task_arithmetic",
    description="Base plus the scaled weighted sum of task vectors.",
    needs_base=True,
)
def task_arithmetic(ctx: TensorContext, *, lambda_: float = 1.0) -> torch.Tensor:
    """θ = θ₀ + λ Σᵢ wᵢ τᵢ,  τᵢ = θᵢ − θ₀.

    With normalised weights and λ = 1 this equals the linear average. Reference: Ilharco et al., "Editing
    models with task arithmetic", ICLR 2023.
    """
    assert ctx.base is not None
    return ctx.base + lambda_ * weighted_sum(ctx.task_vectors(), ctx.weights)
