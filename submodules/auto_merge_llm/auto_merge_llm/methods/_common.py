"""Shared building blocks of the task-vector methods (pure tensor math, no I/O).

Sums over models are taken in model order, one addition per model (never ``stack(...).sum(dim=0)``): torch's
dim-0 reduction changes its summation order with the tensor's length, the vector width of the CPU and the
number of threads (for K >= 5 the last < 64 entries of each thread's range are summed in a different order),
so only an explicit model-order sum gives the same bits for a whole tensor and for its row chunks. For K <= 4
both orders coincide, so results are those of the earlier ``sum(dim=0)`` code bit for bit.

:class:`MagnitudeCut` and :class:`RankWindow` compute per-model masks (TIES' top-k magnitudes, breadcrumbs'
rank window) chunk by chunk in flat order from a per-model cut-off found by an exact radix selection
(:func:`kth_largest_abs`), giving exactly the masks of :func:`magnitude_mask` and ``breadcrumbs_mask`` without
their full-size sort/selection buffers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

FLAT_CHUNK = 1 << 22  # entries per chunk of the streamed mask / histogram passes (tests make it small)
CACHE_CHUNK = 1 << 18  # entries per chunk of the cache-sized elementwise passes of the accumulators
# tensors of at most this many entries find their cut-off with ``torch.kthvalue`` on a copy of |t| (fast, O(n)
# memory, small here); the radix selection's two histogram passes cost a fixed ~10 ms per call, which dominated
# the TIES merge of a model with many small tensors (biases, norms)
SMALL_SELECT = 1 << 18


def add_task_vector(
    acc: torch.Tensor, x: torch.Tensor, base: torch.Tensor, weight: float, transform=None
) -> None:  # noqa: ANN001
    """acc += w · f(x − θ₀), cache-sized chunk by chunk in flat order, without modifying ``x`` (which may be a
    read-only memory-mapped view) and without a whole-size temporary. ``f`` (optional) modifies a chunk of
    x − θ₀ in place. Every step is elementwise, so the result is bitwise ``acc.add_(f(x − θ₀), alpha=w)``."""
    flat_acc, flat_x, flat_b = acc.view(-1), x.reshape(-1), base.view(-1)
    n = flat_acc.numel()
    buf = torch.empty(min(n, CACHE_CHUNK), dtype=acc.dtype, device=acc.device)
    for a in range(0, n, CACHE_CHUNK):
        b = min(n, a + CACHE_CHUNK)
        tau = torch.sub(flat_x[a:b], flat_b[a:b], out=buf[: b - a])
        if transform is not None:
            transform(tau)
        flat_acc[a:b].add_(tau, alpha=weight)


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


def raw_sign(trimmed: Sequence[torch.Tensor] | torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sgn(Σᵢ τ̂ᵢ · wᵢ) per entry, the products summed in model order; ``weights`` is shaped (K, 1, …, 1)."""
    acc = torch.zeros_like(trimmed[0])
    for i in range(len(trimmed)):
        acc.add_(trimmed[i] * weights[i])
    return torch.sign(acc)


def majority_of(count: float, like: torch.Tensor) -> torch.Tensor:
    """The majority sign sgn(Σ γ) as a 0-d tensor like ``like``; +1 when the count is 0."""
    return torch.tensor(-1.0 if count < 0 else 1.0, dtype=like.dtype, device=like.device)


def sign_count(sign: torch.Tensor) -> float:
    """Σ γ over a tensor of signs, exactly (float64: integers below 2⁵³)."""
    return float(sign.sum(dtype=torch.float64))


def elect_sign(trimmed: Sequence[torch.Tensor] | torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """TIES sign election over K trimmed task vectors (a list or a stack of shape (K, ...)).

    γ = sgn(Σᵢ wᵢ τ̂ᵢ) per entry. Entries whose weighted sum is exactly 0 (sign ties) get the tensor's majority
    sign sgn(Σ γ) as in the reference implementation (``resolve_zero_signs(..., "majority")``), and +1 if that
    is itself 0. Σ γ is counted exactly (the earlier float32 sum was exact below 2²⁴ entries).
    """
    sign = raw_sign(trimmed, weights)
    return torch.where(sign == 0, majority_of(sign_count(sign), sign), sign)


def disjoint_mean(
    trimmed: Sequence[torch.Tensor] | torch.Tensor, weights: torch.Tensor, sign: torch.Tensor
) -> torch.Tensor:
    """Weighted mean over the models whose (non-zero) entry agrees with the elected sign; 0 where none does.

    τ_m = Σ_{i∈Aⱼ} wᵢ τ̂ᵢⱼ / Σ_{i∈Aⱼ} wᵢ,  Aⱼ = {i : sgn(τ̂ᵢⱼ) = γⱼ}, both sums in model order.
    """
    num = torch.zeros_like(trimmed[0])
    den = torch.zeros_like(trimmed[0])
    for i in range(len(trimmed)):
        t = trimmed[i]
        agree = (torch.sign(t) == sign) & (t != 0)
        w = weights[i].expand_as(t)
        num.add_(t * w * agree)
        den.add_(w * agree)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(num.dtype).tiny), torch.zeros_like(num))


class DeferredMajority:
    """TIES sign election + disjoint mean over row chunks of one tensor, θ = θ₀ + λ τ_m.

    The majority sign that resolves sign ties needs Σ γ over the *whole* tensor, known only after the last
    chunk. Each chunk is therefore finished with the majority +1; where a chunk has sign ties with some
    non-zero τ̂, the result for majority −1 is computed too (same chunk layout, so the same bits) and kept for
    :meth:`finish`, which applies it if Σ γ < 0. Equal to :func:`elect_sign` + :func:`disjoint_mean` on the
    whole tensor, bit for bit.
    """

    def __init__(self, weights: torch.Tensor, lambda_: float, row_numel: int) -> None:
        self.weights = weights
        self.lambda_ = lambda_
        self.row_numel = row_numel
        self.count = 0.0
        self.patches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def rows(self, start: int, trimmed: Sequence[torch.Tensor], base: torch.Tensor) -> torch.Tensor:
        sign = raw_sign(trimmed, self.weights)
        self.count += sign_count(sign)
        plus = torch.ones((), dtype=sign.dtype, device=sign.device)
        tie = sign == 0
        out = base + self.lambda_ * disjoint_mean(trimmed, self.weights, torch.where(tie, plus, sign))
        if bool(tie.any()):
            nonzero = torch.zeros_like(tie)
            for t in trimmed:
                nonzero |= t != 0
            tie &= nonzero
        if bool(tie.any()):
            alt = base + self.lambda_ * disjoint_mean(trimmed, self.weights, torch.where(tie, -plus, sign))
            idx = torch.nonzero(tie.reshape(-1)).squeeze(1)
            self.patches.append((idx + start * self.row_numel, alt.reshape(-1)[idx]))
        return out

    def finish(self, out: torch.Tensor) -> torch.Tensor:
        if self.count < 0:
            flat = out.view(-1)
            for idx, values in self.patches:
                flat[idx] = values
        return out


def _abs_bits(flat: torch.Tensor) -> torch.Tensor:
    """The IEEE bits of |x| as int32 (monotone in |x| for every non-NaN float32, ±0 both 0)."""
    return flat.view(torch.int32) & 0x7FFFFFFF


def kth_largest_abs(t: torch.Tensor, ks: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
    """For each k in ``ks`` (1 ≤ k ≤ n): the k-th largest |t| (the value ``torch.kthvalue(|t|, n − k + 1)``
    returns) as a 0-d float32 tensor, and the number of entries strictly larger.

    Exact radix selection on the float32 bit patterns (two histogram passes of 2¹⁵ and 2¹⁶ bins, chunk by
    chunk), O(n) time and O(chunk) memory; a tensor of at most ``SMALL_SELECT`` entries uses ``torch.kthvalue``
    on |t| instead (the same values, exactly). ``t`` is float32 without NaN.
    """
    flat = t.reshape(-1)
    n = flat.numel()
    for k in ks:
        if not 1 <= k <= n:
            raise ValueError(f"k={k} outside [1, {n}]")
    if n <= SMALL_SELECT:
        magnitudes = flat.abs()
        picked = [torch.kthvalue(magnitudes, n - k + 1).values for k in ks]
        return [(v, int((magnitudes > v).sum())) for v in picked]
    dev = flat.device
    hist = torch.zeros(1 << 15, dtype=torch.int64, device=dev)
    for a in range(0, n, FLAT_CHUNK):
        hist += torch.bincount(_abs_bits(flat[a : a + FLAT_CHUNK]) >> 16, minlength=1 << 15)
    ge = hist.flip(0).cumsum(0).flip(0)  # ge[h] = #entries whose high half is >= h
    found: dict[int, tuple[int, int]] = {}  # k -> (high half, #entries with a larger high half)
    for k in ks:
        h = int(torch.nonzero(ge >= k).max())
        found[k] = (h, int(ge[h] - hist[h]))
    lows: dict[int, torch.Tensor] = {}
    for h in {h for h, _ in found.values()}:
        low = torch.zeros(1 << 16, dtype=torch.int64, device=dev)
        for a in range(0, n, FLAT_CHUNK):
            bits = _abs_bits(flat[a : a + FLAT_CHUNK])
            low += torch.bincount(bits[(bits >> 16) == h] & 0xFFFF, minlength=1 << 16)
        lows[h] = low
    out = []
    for k in ks:
        h, above = found[k]
        low = lows[h]
        lge = low.flip(0).cumsum(0).flip(0)
        lo = int(torch.nonzero(lge >= k - above).max())
        bits = torch.tensor([(h << 16) | lo], dtype=torch.int32, device=dev)
        out.append((bits.view(torch.float32)[0], above + int(lge[lo] - low[lo])))
    return out


class MagnitudeCut:
    """:func:`magnitude_mask` of one tensor, produced chunk by chunk in flat order.

    Built from the whole tensor ``t`` (float32, no NaN): k = round(density·n), the cut-off c = the k-th largest
    |t| and ``need`` = k − #{|t| > c}. :meth:`mask` then keeps |x| > c and the first ``need`` entries with
    |x| = c in flat order — exactly the entries :func:`magnitude_mask` keeps, if the chunks are passed in order.
    """

    def __init__(self, t: torch.Tensor, density: float) -> None:
        n = t.numel()
        k = keep_count(density, n)
        self.mode = "none" if k == 0 else "all" if k == n else "cut"
        self.need = 0
        if self.mode == "cut":
            ((self.cutoff, above),) = kth_largest_abs(t, [k])
            self.need = k - above

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode != "cut":
            return torch.full_like(x, self.mode == "all", dtype=torch.bool)
        flat = x.reshape(-1).abs()
        keep = flat > self.cutoff
        if self.need > 0:
            at = torch.nonzero(flat == self.cutoff).squeeze(1)[: self.need]  # sorted by index
            keep[at] = True
            self.need -= at.numel()
        return keep.view_as(x)


class RankWindow:
    """``breadcrumbs_mask`` of one tensor, produced chunk by chunk in flat order.

    Entries are ranked by descending |t|, equal magnitudes by index (a stable sort); the mask keeps ranks
    [lo, hi) with lo = round(γ·n), hi = lo + min(round(density·n), n − lo). From the whole tensor: v_lo = the
    value at rank lo and g_lo = #{|t| > v_lo} (if lo > 0), v_hi = the value at rank hi − 1 and g_hi (if
    hi < n). An entry of magnitude a that is the p-th entry (0-based, flat order) equal to a has rank
    #{|t| > a} + p, so it is kept iff (lo = 0 or a < v_lo or (a = v_lo and p ≥ lo − g_lo)) and
    (hi = n or a > v_hi or (a = v_hi and p < hi − g_hi)).
    """

    def __init__(self, t: torch.Tensor, density: float, gamma: float) -> None:
        n = t.numel()
        self.lo = keep_count(gamma, n)
        self.hi = self.lo + min(keep_count(density, n), n - self.lo)
        self.empty = self.hi == self.lo
        ks = ([self.lo + 1] if self.lo > 0 else []) + ([self.hi] if self.hi < n else [])
        picked = kth_largest_abs(t, ks) if ks and not self.empty else []
        self.low_cut = picked.pop(0) if self.lo > 0 and picked else None
        self.high_cut = picked.pop(0) if self.hi < n and picked else None
        self.seen = [0, 0]  # entries equal to v_lo / v_hi passed so far

    def _bound(self, a: torch.Tensor, which: int) -> torch.Tensor:
        value, above = self.low_cut if which == 0 else self.high_cut  # type: ignore[misc]
        eq = a == value
        ok = (a < value) if which == 0 else (a > value)
        n_eq = int(eq.sum())
        if n_eq:
            p = torch.cumsum(eq, 0) - 1 + self.seen[which]
            ok |= eq & ((p >= self.lo - above) if which == 0 else (p < self.hi - above))
            self.seen[which] += n_eq
        return ok

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        if self.empty:
            return torch.zeros_like(x, dtype=torch.bool)
        a = x.reshape(-1).abs()
        keep = torch.ones_like(a, dtype=torch.bool)
        if self.low_cut is not None:
            keep &= self._bound(a, 0)
        if self.high_cut is not None:
            keep &= self._bound(a, 1)
        return keep.view_as(x)


def apply_in_chunks(t: torch.Tensor, fn) -> torch.Tensor:  # noqa: ANN001 - fn(chunk) modifies the chunk
    """Call ``fn`` on consecutive flat chunks of the contiguous tensor ``t`` (in order); returns ``t``."""
    flat = t.view(-1)
    for a in range(0, flat.numel(), FLAT_CHUNK):
        fn(flat[a : a + FLAT_CHUNK])
    return t


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` with sha256, identical across processes and platforms."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)
