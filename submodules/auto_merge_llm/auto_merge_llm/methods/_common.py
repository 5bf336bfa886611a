"""Shared building blocks of the task-vector methods (pure tensor math, no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch


def weighted_sum(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Σᵢ wᵢ tᵢ."""
    out = torch.zeros_like(tensors[0])
    for t, w in zip(tensors, weights):
        out.add_(t, alpha=float(w))
    return out


def keep_count(fraction: float, n: int) -> int:
    """Number of entries kept for a kept ``fraction`` of ``n`` entries: round(fraction·n), within [0, n]."""
    return max(0, min(n, int(round(fraction * n))))


def magnitude_mask(t: torch.Tensor, density: float) -> torch.Tensor:
    """Boolean mask of the k = round(density·n) largest-magnitude entries of ``t``.

    Entries of equal magnitude at the cut-off are taken in flat index order (lowest index first), so the mask
    is a deterministic function of the values — the same on every device and thread count (``torch.topk``
    breaks such ties arbitrarily, which matters for low-precision checkpoints where magnitudes collide).
    Selection is O(n) (``kthvalue``), no full sort.
    """
    flat = t.reshape(-1).abs()
    n = flat.numel()
    k = keep_count(density, n)
    if k == 0:
        return torch.zeros_like(t, dtype=torch.bool)
    if k == n:
        return torch.ones_like(t, dtype=torch.bool)
    threshold = torch.kthvalue(flat, n - k + 1).values  # k-th largest magnitude
    mask = flat > threshold
    need = k - int(mask.sum())
    if need > 0:
        at_threshold = torch.nonzero(flat == threshold).squeeze(1)[:need]  # sorted by index
        mask[at_threshold] = True
    return mask.view_as(t)


def elect_sign(trimmed: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """TIES sign election over a stack ``trimmed`` of shape (K, ...).

    γ = sgn(Σᵢ wᵢ τ̂ᵢ) per entry. Entries whose weighted sum is exactly 0 (sign ties) get the tensor's majority
    sign sgn(Σ γ) as in the reference implementation (``resolve_zero_signs(..., "majority")``), and +1 if that
    is itself 0.
    """
    sign = torch.sign((trimmed * weights).sum(dim=0))
    majority = torch.sign(sign.sum())
    if majority == 0:
        majority = torch.ones((), device=sign.device, dtype=sign.dtype)
    return torch.where(sign == 0, majority, sign)


def disjoint_mean(trimmed: torch.Tensor, weights: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """Weighted mean over the models whose (non-zero) entry agrees with the elected sign; 0 where none does.

    τ_m = Σ_{i∈Aⱼ} wᵢ τ̂ᵢⱼ / Σ_{i∈Aⱼ} wᵢ,  Aⱼ = {i : sgn(τ̂ᵢⱼ) = γⱼ}.
    """
    agree = (torch.sign(trimmed) == sign.unsqueeze(0)) & (trimmed != 0)
    w = weights.expand_as(trimmed)
    num = (trimmed * w * agree).sum(dim=0)
    den = (w * agree).sum(dim=0)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(num.dtype).tiny), torch.zeros_like(num))


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` with sha256, identical across processes and platforms."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)
