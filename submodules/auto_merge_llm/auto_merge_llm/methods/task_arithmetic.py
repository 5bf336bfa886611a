"""Task arithmetic."""

from __future__ import annotations

import torch

from ..registry import Accumulator, StreamContext, TensorContext, register_method
from ._common import add_task_vector, weighted_sum


class TaskArithmeticSum(Accumulator):
    """θ₀ + λ Σᵢ wᵢ (θᵢ − θ₀), one model at a time: τᵢ is formed cache-chunk by chunk from the model's
    (read-only, memory-mapped) tensor (:func:`add_task_vector`), the sum runs in model order and θ₀ + λ·Σ is
    formed in the accumulator (the same operations as :func:`task_arithmetic`, so the same bits); only θ₀, the
    sum and one model's mapped tensor are alive."""

    propagates_nonfinite = True

    def __init__(self, ctx: StreamContext, *, lambda_: float = 1.0) -> None:
        assert ctx.base is not None
        self.base, self.weights, self.lambda_ = ctx.base, ctx.weights, lambda_
        self.acc = torch.zeros(ctx.shape, dtype=torch.float32, device=ctx.device)

    def add(self, i: int, x: torch.Tensor) -> None:
        add_task_vector(self.acc, x, self.base, float(self.weights[i]))

    def result(self) -> torch.Tensor:
        return self.acc.mul_(self.lambda_).add_(self.base)


@register_method(
    "task_arithmetic",
    description="Base plus the scaled weighted sum of task vectors.",
    needs_base=True,
    streamed=TaskArithmeticSum,
)
def task_arithmetic(ctx: TensorContext, *, lambda_: float = 1.0) -> torch.Tensor:
    """θ = θ₀ + λ Σᵢ wᵢ τᵢ,  τᵢ = θᵢ − θ₀.

    With normalised weights and λ = 1 this equals the linear average. Reference: Ilharco et al., "Editing
    models with task arithmetic", ICLR 2023.
    """
    assert ctx.base is not None
    return ctx.base + lambda_ * weighted_sum(ctx.task_vectors(), ctx.weights)
