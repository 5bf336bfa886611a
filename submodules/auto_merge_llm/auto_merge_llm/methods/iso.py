"""Isotropic merging: Iso-C (common subspace) and Iso-CTS (common and task-specific subspaces)."""

from __future__ import annotations

import torch

from ..registry import TensorContext, register_method
from ._svd import is_matrix_param, mean_task_vector_of, model_sum, polar, scaled_task_vectors


@register_method(
    "iso_c",
    description="Iso-C: sum of task vectors per matrix with its singular spectrum flattened to the mean.",
    needs_base=True,
    ranges={"alpha": (0.0, None)},
)
def iso_c(ctx: TensorContext, *, alpha: float = 1.0) -> torch.Tensor:
    """Iso-C (Marczak et al., "No Task Left Behind: Isotropic Model Merging with Common and Task-Specific
    Subspaces", ICML 2025, arXiv:2502.04959; reference code github.com/danielm1405/iso-merging, as integrated in
    fusion_bench ``isotropic_merging/iso_utils.py``).

    Per linear-layer matrix: Δ = Σᵢ sᵢ τᵢ (task arithmetic: the *sum*, sᵢ = wᵢ / mean(w) = 1 for equal
    weights), Δ = U Σ Vᵀ (thin SVD, float32), σ̄ = (1/r) Σⱼ σⱼ over all r = min(m, n) singular values, and
      θ = θ₀ + α σ̄ U Vᵀ,
    so every singular value of the merged update is α σ̄ (an isotropic spectrum on the common subspace).
    1-D tensors, embeddings (see :mod:`._svd`) and ≥3-D tensors: θ = θ₀ + α Σᵢ w̄ᵢ τᵢ (the mean task vector,
    as the reference code), no SVD.

    α: the authors' code selects it on validation splits (a grid of 31 values; there is no fixed published
    value); the default 1.0 is fusion_bench's. (The Iso-C copy in the TSV repository averages instead of summing, which divides σ̄ by T;
    the paper and the authors' code sum.) U Vᵀ is the polar factor of Δ, so the result does not depend on the
    SVD's sign convention; it is unique when Δ has full rank (with a rank-deficient Δ the directions given σ̄
    in its null space are those LAPACK returns). One model (T = 1) is *not* returned unchanged: its spectrum is
    flattened too. Cost: one thin SVD per matrix.
    """
    assert ctx.base is not None
    if not is_matrix_param(ctx.name, ctx.base):
        return ctx.base + alpha * mean_task_vector_of(ctx)
    taus = scaled_task_vectors(ctx)
    u, s, vh = torch.linalg.svd(model_sum(taus), full_matrices=False)
    return ctx.base + (alpha * s.mean()) * (u @ vh)


def cts_split(r: int, num_tasks: int, common_space_fraction: float) -> tuple[int, int]:
    """(k, d): the common-subspace size k and the per-task size d with k + T·d = r.

    As the reference: k₀ = ⌊r · fraction⌋, d = round((r − k₀) / T) (Python rounding), k = r − T·d. Where that
    would make k negative (possible only for small r·fraction, e.g. r = 11, T = 2, fraction = 0), d = ⌊r/T⌋.
    """
    k0 = int(r * common_space_fraction)
    d = round((r - k0) / num_tasks)
    if d * num_tasks > r:
        d = r // num_tasks
    return r - d * num_tasks, d


@register_method(
    "iso_cts",
    description="Iso-CTS: common subspace of the summed task vectors plus task-specific subspaces, isotropic.",
    needs_base=True,
    ranges={"alpha": (0.0, None), "common_space_fraction": (0.0, 1.0)},
)
def iso_cts(ctx: TensorContext, *, alpha: float = 1.0, common_space_fraction: float = 0.8) -> torch.Tensor:
    """Iso-CTS (Marczak et al., "No Task Left Behind: Isotropic Model Merging with Common and Task-Specific
    Subspaces", ICML 2025, arXiv:2502.04959; reference code github.com/danielm1405/iso-merging / fusion_bench
    ``iso_cts``).

    Per linear-layer matrix (r = min(m, n), T models, sᵢ τᵢ as in ``iso_c``):
      1. Common subspace: Δ = Σᵢ sᵢ τᵢ = U Σ Vᵀ; keep the top k triplets (U_k, Σ_k, V_k), with k and the
         per-task size d from :func:`cts_split` (k ≈ fraction · r, k + T·d = r).
      2. Task-specific subspaces: τ̄ᵢ = sᵢ τᵢ − U_k U_kᵀ sᵢ τᵢ (projected off the common left subspace);
         τ̄ᵢ = Ūᵢ Σ̄ᵢ V̄ᵢᵀ; keep the top d triplets of each task.
      3. U* = [U_k, Ū₁,d … Ū_T,d], V* likewise (m × r, n × r); orthogonalise: U⊥ = polar(U*), V⊥ = polar(V*).
      4. σ̄ = mean of the r kept singular values (Σ_k and every Σ̄ᵢ,d together);  θ = θ₀ + α σ̄ U⊥ V⊥ᵀ.
    1-D tensors, embeddings (see :mod:`._svd`) and ≥3-D tensors: θ = θ₀ + α Σᵢ w̄ᵢ τᵢ, no SVD.

    Defaults: ``common_space_fraction`` = 0.8 as in the authors' config and README; α = 1.0
    (fusion_bench's default — the authors select α on validation data). The reference concatenates the task
    blocks first and the common block last; the order does not matter (a common column permutation of U* and
    V* cancels in U⊥ V⊥ᵀ, and σ̄ is one number). ``common_space_fraction`` = 1 gives k = r, d = 0: Iso-C. With
    one model, U* holds all r singular vectors of τ and the result is Iso-C of that model.
    Cost per matrix: T + 1 thin SVDs of m × n plus two of m × r and n × r.
    """
    assert ctx.base is not None
    if not is_matrix_param(ctx.name, ctx.base):
        return ctx.base + alpha * mean_task_vector_of(ctx)
    taus = scaled_task_vectors(ctx)
    r = min(ctx.base.shape)
    k, d = cts_split(r, len(taus), common_space_fraction)
    u, s, vh = torch.linalg.svd(model_sum(taus), full_matrices=False)
    u_k = u[:, :k]
    us, ss, vhs = [u_k], [s[:k]], [vh[:k]]
    if d > 0:
        for tau in taus:
            ut, st, vht = torch.linalg.svd(tau - u_k @ (u_k.T @ tau), full_matrices=False)
            us.append(ut[:, :d])
            ss.append(st[:d])
            vhs.append(vht[:d])
    sigma = torch.cat(ss).mean()
    return ctx.base + (alpha * sigma) * (polar(torch.cat(us, dim=1)) @ polar(torch.cat(vhs, dim=0)))
