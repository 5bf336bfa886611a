"""WIDEN: merging by weight disentanglement (magnitude / direction)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import TensorContext, register_method


def rank_significance(diff: torch.Tensor) -> torch.Tensor:
    """Within-model rank significance: for a (K, n) tensor, the entry with the j-th smallest value of its row
    (stable order) gets j / n."""
    k, n = diff.shape
    order = torch.argsort(diff, dim=1, descending=False, stable=True)
    ranks = (torch.arange(n, device=diff.device, dtype=torch.float32) / n).expand(k, n).contiguous()
    return torch.zeros_like(ranks).scatter(1, order, ranks)


def importance_scores(
    significance: torch.Tensor, above_average_value_ratio: float, score_calibration_value: float
) -> torch.Tensor:
    """Scores s = softmax over models (dim 0) of the significance; entries whose significance exceeds
    ratio × (the model's mean significance over the row) are set to ``score_calibration_value``."""
    scores = torch.softmax(significance, dim=0)
    mask = significance > significance.mean(dim=1, keepdim=True) * above_average_value_ratio
    return torch.where(mask, torch.full_like(scores, score_calibration_value), scores)


@register_method(
    "widen",
    description="WIDEN: weight disentanglement into magnitude/direction, rank-based importance per column.",
    needs_base=True,
)
def widen(
    ctx: TensorContext,
    *,
    above_average_value_ratio: float = 1.0,
    score_calibration_value: float = 1.0,
    use_weights: bool = True,
) -> torch.Tensor:
    """WIDEN (Yu, Yu, Li, Yin & Fang, "Extend Model Merging from Fine-Tuned to Pre-Trained Large Language Models
    via Weight Disentanglement", arXiv:2408.03092, 2024), following the authors' reference implementation.

    2-D weights W ∈ ℝ^{out×in} (embedding matrices, recognised by ``embed`` in the name, are transposed first so
    that a column is one token): per column c, magnitude m_c = ‖W[:, c]‖₂ and direction D[:, c] = W[:, c]/m_c.
      Δmᵢ = |mᵢ − m₀|,  Δdᵢ = 1 − cos(Dᵢ[:, c], D₀[:, c])            (vectors over the in-dim)
      Rᵢ = rank-significance(Δmᵢ) (j-th smallest → j/in), likewise for Δdᵢ   (within each model)
      Sᵢ = softmax_i(Rᵢ) (over models), set to ``score_calibration_value`` where Rᵢ > ratio · mean(Rᵢ)
      θ = θ₀ + Σᵢ τᵢ ⊙ ½(S^m_i + S^d_i) (scores broadcast over rows)
    Other tensors (1-D norms/biases; ≥3-D tensors flattened): significance = |θᵢ − θ₀| (no ranking) and
    θ = θ₀ + Σᵢ τᵢ ⊙ Sᵢ, as in the reference code.

    Deviations, stated explicitly: (1) the reference code has no per-model weights; with ``use_weights`` the task
    vectors are scaled by wᵢ / mean(w), which is 1 for equal weights (then the result is the published
    algorithm); set ``use_weights=False`` to ignore the weights. (2) The paper targets LLMs where only the
    token embedding is transposed; here any 2-D tensor whose name contains ``embed`` (word/position/
    token-type embeddings) is. (3) Zero columns get a zero direction instead of NaN.
    """
    assert ctx.base is not None
    k = len(ctx.tensors)
    scale = [1.0] * k
    if use_weights:
        mean_w = sum(ctx.weights) / k
        scale = [float(w) / mean_w for w in ctx.weights]
    base = ctx.base
    tvs = [s * tv for s, tv in zip(scale, ctx.task_vectors())]
    if base.dim() == 2:
        transpose = "embed" in ctx.name
        w0 = base.t() if transpose else base
        ws = [x.t() if transpose else x for x in ctx.tensors]
        m0 = w0.norm(dim=0)
        dm = torch.stack([(w.norm(dim=0) - m0).abs() for w in ws])
        dd = torch.stack([1.0 - F.cosine_similarity(w, w0, dim=0, eps=1e-12) for w in ws])
        s_m = importance_scores(rank_significance(dm), above_average_value_ratio, score_calibration_value)
        s_d = importance_scores(rank_significance(dd), above_average_value_ratio, score_calibration_value)
        scores = 0.5 * (s_m + s_d)  # (K, in)
        delta = torch.zeros_like(w0)
        for i, tv in enumerate(tvs):
            delta.add_((tv.t() if transpose else tv) * scores[i].unsqueeze(0))
        return base + (delta.t() if transpose else delta)
    sig = torch.stack([(x - base).abs().reshape(-1) for x in ctx.tensors])
    scores = importance_scores(sig, above_average_value_ratio, score_calibration_value)
    delta = torch.zeros_like(base)
    for i, tv in enumerate(tvs):
        delta.add_(tv * scores[i].view_as(base))
    return base + delta
