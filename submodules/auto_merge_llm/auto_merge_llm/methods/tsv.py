"""Task Singular Vectors merging (TSV-M)."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from ._svd import is_matrix_param, mean_task_vector_of, polar, scaled_task_vectors


@register_method(
    "tsv",
    description="TSV-M: per matrix, top-r/T singular vectors of every task, orthogonalised, recombined.",
    needs_base=True,
    ranges={"alpha": (0.0, None)},
)
def tsv(ctx: TensorContext, *, alpha: float = 1.0) -> torch.Tensor:
    """TSV-Merge (Gargiulo, Crisostomi, Bucarelli, Scardapane, Silvestri & Rodolà, "Task Singular Vectors:
    Reducing Task Interference in Model Merging", CVPR 2025, arXiv:2412.00081; reference code
    github.com/AntoAndGar/task_singular_vectors, ``compute_and_sum_svd_mem_reduction``).

    Per linear-layer matrix (m × n, r = min(m, n)), with T models and task vectors τᵢ = θᵢ − θ₀ (scaled by
    sᵢ = wᵢ / mean(w), i.e. unscaled for equal weights):
      1. τᵢ = Uᵢ Σᵢ Vᵢᵀ (thin SVD, float32); keep the top k = ⌊r / T⌋ triplets of every task.
      2. Û = [U₁,ₖ … U_T,ₖ] (m × Tk), Σ̂ = diag(Σ₁,ₖ … Σ_T,ₖ), V̂ = [V₁,ₖ … V_T,ₖ] (n × Tk).
      3. Orthogonalise (Procrustes): Û⊥ = P Qᵀ from Û = P S Qᵀ, likewise V̂⊥ — see :func:`polar`.
      4. θ = θ₀ + α Û⊥ Σ̂ V̂⊥ᵀ.
    1-D tensors, embeddings (see :mod:`._svd`) and ≥3-D tensors: θ = θ₀ + α Σᵢ w̄ᵢ τᵢ (the mean task vector,
    as the reference code does for every non-matrix tensor), no SVD.

    Conventions: rank per task k = ⌊r/T⌋ (the reference's ``int(r · 1/T)``, identical for all r, T); α = 1.0
    (fusion_bench's default; TSV-M is meant to need no coefficient search). The reference writes the blocks into
    r-column buffers whose last r − Tk columns stay zero; dropping those columns gives the same product (the
    zero columns only meet zero singular values) and is what is computed here. Triplets whose singular value is
    exactly 0 (a task vector that is zero on this matrix) are left out, because their singular vectors are
    arbitrary and would otherwise perturb the orthogonalisation of the others (the reference keeps them).
    The result does not depend on the sign convention of the SVD (a flipped pair (u, v) flips the matching
    column of Û and of V̂ and cancels in the product). T = 1 with full rank returns task arithmetic exactly
    up to float error (U Σ Vᵀ = τ). Cost per matrix: T thin SVDs of m × n plus two of m × Tk and n × Tk.
    """
    assert ctx.base is not None
    if not is_matrix_param(ctx.name, ctx.base):
        return ctx.base + alpha * mean_task_vector_of(ctx)
    taus = scaled_task_vectors(ctx)
    r = min(ctx.base.shape)
    k = r // len(taus)
    us, ss, vhs = [], [], []
    for tau in taus:
        u, s, vh = torch.linalg.svd(tau, full_matrices=False)
        u, s, vh = u[:, :k], s[:k], vh[:k]
        nonzero = s > 0
        us.append(u[:, nonzero])
        ss.append(s[nonzero])
        vhs.append(vh[nonzero])
    s_hat = torch.cat(ss)
    if s_hat.numel() == 0:
        return ctx.base.clone()
    u_perp = polar(torch.cat(us, dim=1))
    vh_perp = polar(torch.cat(vhs, dim=0))
    return ctx.base + alpha * ((u_perp * s_hat) @ vh_perp)
