"""Shared conventions of the matrix (SVD / per-linear-layer) methods ``tsv``, ``iso_c``, ``iso_cts``, ``wudi``.

Which tensors get the matrix treatment
    A 2-D tensor that is not an embedding: the weight of a linear layer in ``nn.Linear`` layout (out × in),
    e.g. attention query/key/value/output, the feed-forward matrices and the pooler of XLM-R/BERT (Hugging Face
    keeps query, key and value as three matrices, each treated on its own; the reference implementations ran on
    CLIP, whose fused ``in_proj_weight`` is one 3d × d matrix). Embedding-like tensors — a name containing
    ``embed`` or ``lm_head``, or a 2-D tensor with at least :data:`EMBEDDING_MIN_ROWS` rows and at least
    :data:`EMBEDDING_MIN_ASPECT` times more rows than columns (a vocabulary matrix under another name) — and all
    1-D (LayerNorm, biases) or ≥3-D tensors fall back to each method's documented non-matrix rule, without any
    SVD. The rows of an embedding are tokens, not the output units of a linear map, and the 250k × 768 word
    embedding of XLM-R would otherwise dominate the run time (an SVD of it takes longer than all other matrices
    together) for no benefit.

How per-model weights enter
    The papers merge T task vectors with equal weights. Model i's task vector is scaled by
    sᵢ = wᵢ / mean(w) before anything else (the mean over the models with wᵢ > 0), so equal weights give sᵢ = 1
    and reproduce the paper exactly, whether or not the engine normalised the weights. Models with wᵢ = 0 are
    left out (T counts the others). The non-matrix fallback "mean of the task vectors" is Σᵢ w̄ᵢ τᵢ with
    w̄ᵢ = wᵢ / Σⱼ wⱼ (the plain mean for equal weights).

Classification heads never reach these methods: they have no pretrained value, and the engine merges them by
its ``head_merge`` policy (default ``linear``: Σ wᵢ θᵢ) before any method is called.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..registry import TensorContext

EMBEDDING_MIN_ROWS = 32768
EMBEDDING_MIN_ASPECT = 8


def is_embedding_like(name: str, shape: Sequence[int]) -> bool:
    """True for embedding / output-vocabulary tensors (see the module docstring)."""
    lname = name.lower()
    if "embed" in lname or "lm_head" in lname:
        return True
    return len(shape) == 2 and shape[0] >= EMBEDDING_MIN_ROWS and shape[0] >= EMBEDDING_MIN_ASPECT * shape[1]


def is_matrix_param(name: str, t: torch.Tensor) -> bool:
    """True when ``t`` gets the matrix treatment: 2-D and not embedding-like."""
    return t.dim() == 2 and not is_embedding_like(name, tuple(t.shape))


def task_scales(ctx: TensorContext) -> list[tuple[float, torch.Tensor]]:
    """(sᵢ, θᵢ) for the models with wᵢ > 0, sᵢ = wᵢ / mean(w) over those models (1 for equal weights)."""
    kept = [(float(w), x) for w, x in zip(ctx.weights, ctx.tensors) if w > 0]
    mean_w = sum(w for w, _ in kept) / len(kept)
    return [(w / mean_w, x) for w, x in kept]


def scaled_task_vectors(ctx: TensorContext) -> list[torch.Tensor]:
    """sᵢ τᵢ for the models with wᵢ > 0 (see :func:`task_scales`)."""
    assert ctx.base is not None
    return [(x - ctx.base).mul_(s) for s, x in task_scales(ctx)]


def mean_task_vector_of(ctx: TensorContext) -> torch.Tensor:
    """(1/T) Σᵢ sᵢ τᵢ = Σᵢ w̄ᵢ τᵢ accumulated in model order with one task vector alive at a time (the
    non-matrix rule; for the 250k-row embedding this avoids holding T task-vector copies)."""
    assert ctx.base is not None
    scales = task_scales(ctx)
    out = torch.zeros_like(ctx.base)
    for s, x in scales:
        out.add_((x - ctx.base).mul_(s))
    return out.div_(len(scales))


def model_sum(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σᵢ tᵢ added in model order, one addition per model (``stack(...).sum(dim=0)`` changes its summation
    order with the thread count and vector width, so only this order gives the same bits everywhere)."""
    out = tensors[0].clone()
    for t in tensors[1:]:
        out.add_(t)
    return out


def polar(a: torch.Tensor) -> torch.Tensor:
    """The orthogonal polar factor P Qᵀ of a = P Σ Qᵀ (thin SVD, ``full_matrices=False``): the matrix with
    orthonormal columns (rows, if a is wide) nearest to ``a`` in Frobenius norm (orthogonal Procrustes).
    Flipping the sign of a singular pair leaves it unchanged, so no sign convention is needed; it is unique
    when ``a`` has full rank."""
    p, _, qh = torch.linalg.svd(a, full_matrices=False)
    return p @ qh
