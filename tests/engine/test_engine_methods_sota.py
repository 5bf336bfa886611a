"""The state-of-the-art merge methods (tsv, iso_c, iso_cts, wudi, della, sce, karcher, multislerp) against their
published formulas, each recomputed here independently in a few lines of float64 torch / numpy (the polar
factors by eigendecomposition rather than SVD), plus invariants, seed reproducibility, parameter validation and
one end-to-end merge per method on tiny saved XLM-R folders."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from auto_merge_llm import MergeError, get_method, merge_models, merge_tensors
from engine_testutils import read_state_dict

NEW_METHODS = ["tsv", "iso_c", "iso_cts", "wudi", "della", "sce", "karcher", "multislerp"]


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _models(shape, k, seed=0, scale=0.5):
    base = _rand(*shape, seed=seed)
    return base, [base + scale * _rand(*shape, seed=seed + 1 + i) for i in range(k)]


def _scaled_tvs(base, xs, w):
    """sᵢ τᵢ in float64 with sᵢ = wᵢ / mean(w)."""
    w = torch.tensor(w, dtype=torch.float64)
    s = w / w.mean()
    return [si * (x.double() - base.double()) for si, x in zip(s, xs)]


def _polar_eigh(a):
    """a (aᵀa)^(-1/2): the orthogonal polar factor of a tall full-rank a, by eigendecomposition."""
    lam, q = torch.linalg.eigh(a.T @ a)
    return a @ q @ torch.diag(lam.rsqrt()) @ q.T


def _close(out, exp, tol=1e-5):
    exp = exp.double()
    err = (out.double() - exp).abs().max().item()
    assert err <= tol * max(1.0, exp.abs().max().item()), err


# ---------------------------------------------------------------- TSV-M


def _tsv_ref(base, xs, w, alpha=1.0):
    taus = _scaled_tvs(base, xs, w)
    r = min(base.shape)
    k = r // len(taus)
    svds = [torch.linalg.svd(t, full_matrices=False) for t in taus]
    u = torch.cat([x[0][:, :k] for x in svds], dim=1)
    s = torch.cat([x[1][:k] for x in svds])
    v = torch.cat([x[2][:k].T for x in svds], dim=1)
    return base.double() + alpha * _polar_eigh(u) @ torch.diag(s) @ _polar_eigh(v).T


@pytest.mark.parametrize(
    ("shape", "w"), [((12, 9), [0.5, 0.2, 0.3]), ((7, 16), [1, 3]), ((10, 10), [1, 1, 2, 4])]
)
def test_tsv_formula(shape, w):
    base, xs = _models(shape, len(w), seed=11)
    out = merge_tensors(
        "tsv", xs, w, base=base, method_params={"alpha": 0.8}, name="layer.0.attention.query.weight"
    )
    _close(out, _tsv_ref(base, xs, w, alpha=0.8))


def test_tsv_one_model_full_rank_is_task_arithmetic_and_zero_task_vector_is_left_out():
    base, xs = _models((9, 6), 1, seed=3)
    _close(merge_tensors("tsv", xs, [0.4], base=base, name="w"), xs[0])
    # τ₂ = 0: only τ₁'s top-⌊6/2⌋ triplets remain, already orthonormal -> the rank-3 truncation of τ₁
    out = merge_tensors("tsv", [xs[0], base.clone()], [1, 1], base=base, name="w")
    u, s, vh = torch.linalg.svd((xs[0] - base).double(), full_matrices=False)
    _close(out, base.double() + u[:, :3] @ torch.diag(s[:3]) @ vh[:3])


# ---------------------------------------------------------------- Iso-C / Iso-CTS


@pytest.mark.parametrize(("shape", "w"), [((8, 13), [0.5, 0.2, 0.3]), ((11, 6), [2, 1])])
def test_iso_c_formula_and_isotropic_spectrum(shape, w):
    base, xs = _models(shape, len(w), seed=21)
    alpha = 1.3
    out = merge_tensors(
        "iso_c", xs, w, base=base, method_params={"alpha": alpha}, name="encoder.dense.weight"
    )
    delta = sum(_scaled_tvs(base, xs, w))
    sigma = torch.linalg.svdvals(delta)
    tall = delta if shape[0] >= shape[1] else delta.T
    polar = _polar_eigh(tall) if shape[0] >= shape[1] else _polar_eigh(tall).T
    _close(out, base.double() + alpha * sigma.mean() * polar)
    # every singular value of the merged update is α · mean(spectrum of Σ sᵢτᵢ)
    got = torch.linalg.svdvals((out - base).double())
    torch.testing.assert_close(got, torch.full_like(got, alpha * sigma.mean().item()), rtol=1e-5, atol=1e-6)


def _iso_cts_ref(base, xs, w, alpha, frac):
    taus = _scaled_tvs(base, xs, w)
    t = len(taus)
    r = min(base.shape)
    k = int(r * frac)
    k = r - round((r - k) / t) * t  # as the reference: the task-specific part divisible by T
    d = (r - k) // t
    u, s, vh = torch.linalg.svd(sum(taus), full_matrices=False)
    us, ss, vs = [], [], []
    for tau in taus:  # reference order: task-specific blocks first, the common block last
        ut, st, vht = torch.linalg.svd(tau - u[:, :k] @ u[:, :k].T @ tau, full_matrices=False)
        us.append(ut[:, :d])
        ss.append(st[:d])
        vs.append(vht[:d].T)
    u_all = torch.cat([*us, u[:, :k]], dim=1)
    v_all = torch.cat([*vs, vh[:k].T], dim=1)
    sigma = torch.cat([*ss, s[:k]]).mean()
    return base.double() + alpha * sigma * _polar_eigh(u_all) @ _polar_eigh(v_all).T


@pytest.mark.parametrize(("shape", "w", "frac"), [((16, 12), [0.5, 0.2, 0.3], 0.8), ((10, 14), [1, 2], 0.5)])
def test_iso_cts_formula(shape, w, frac):
    base, xs = _models(shape, len(w), seed=31)
    params = {"alpha": 0.9, "common_space_fraction": frac}
    out = merge_tensors(
        "iso_cts", xs, w, base=base, method_params=params, name="layer.intermediate.dense.weight"
    )
    _close(out, _iso_cts_ref(base, xs, w, 0.9, frac))
    got = torch.linalg.svdvals((out - base).double())
    assert (got.max() - got.min()).item() < 1e-4 * got.max().item()  # isotropic as well


def test_iso_cts_reduces_to_iso_c():
    base, xs = _models((9, 12), 3, seed=41)
    iso_c = merge_tensors("iso_c", xs, [1, 2, 3], base=base, name="w")
    full = merge_tensors(
        "iso_cts", xs, [1, 2, 3], base=base, method_params={"common_space_fraction": 1.0}, name="w"
    )
    _close(full, iso_c)
    one_c = merge_tensors("iso_c", xs[:1], [1], base=base, name="w")
    _close(merge_tensors("iso_cts", xs[:1], [1], base=base, name="w"), one_c)


# ---------------------------------------------------------------- non-matrix rule of the SVD methods


@pytest.mark.parametrize("method", ["tsv", "iso_c", "iso_cts", "wudi"])
@pytest.mark.parametrize(
    ("shape", "name"),
    [
        ((7,), "encoder.layer.0.output.LayerNorm.weight"),
        ((20, 6), "roberta.embeddings.word_embeddings.weight"),
        ((40000, 3), "some.vocab_sized.matrix"),  # ≥ 32768 rows and ≥ 8× more rows than columns
    ],
)
def test_svd_methods_mean_rule_for_vectors_and_embeddings(method, shape, name):
    base, xs = _models(shape, 3, seed=51, scale=0.1)
    w = [0.2, 0.3, 0.5]
    alpha = {} if method == "wudi" else {"alpha": 0.7}
    out = merge_tensors(method, xs, w, base=base, method_params=alpha, name=name)
    exp = base.double() + alpha.get("alpha", 1.0) * sum(
        wi * (x.double() - base.double()) for wi, x in zip(w, xs)
    )
    _close(out, exp)
    if method == "wudi":
        kept = merge_tensors(method, xs, w, base=base, method_params={"other_tensors": "base"}, name=name)
        assert torch.equal(kept, base)


# ---------------------------------------------------------------- WUDI


def _wudi_ref(base, xs, w, steps, lr):
    """The paper's loop: autograd on the literal loss, torch.optim.Adam, init = Σ τᵢ."""
    s = torch.tensor(w, dtype=torch.float32) / torch.tensor(w, dtype=torch.float32).mean()
    taus = [si * (x - base) for si, x in zip(s, xs)]
    merged = torch.nn.Parameter(sum(taus))
    opt = torch.optim.Adam([merged], lr=lr)
    norms = [t.norm() ** 2 for t in taus]
    for _ in range(steps):
        loss = sum(((merged - t) @ t.T).square().sum() / n for t, n in zip(taus, norms))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return base + merged.detach(), lambda m: sum(
        ((m - t) @ t.T).square().sum() / n for t, n in zip(taus, norms)
    )


@pytest.mark.parametrize(
    ("shape", "w", "steps", "lr"), [((6, 9), [1, 1, 1], 300, 1e-5), ((10, 5), [0.5, 0.3, 0.2], 60, 1e-2)]
)
def test_wudi_equals_adam_on_the_published_loss(shape, w, steps, lr):
    base, xs = _models(shape, len(w), seed=61)
    params = {"steps": steps, "lr": lr}
    out = merge_tensors(
        "wudi", xs, w, base=base, method_params=params, name="layer.attention.output.dense.weight"
    )
    exp, loss = _wudi_ref(base, xs, w, steps, lr)
    _close(out, exp, tol=2e-5)
    init = merge_tensors("wudi", xs, w, base=base, method_params={"steps": 0}, name="w")
    _close(init, base.double() + sum(_scaled_tvs(base, xs, w)))  # 0 steps: task arithmetic (sum)
    if lr > 1e-4:
        assert loss(out - base).item() < 0.7 * loss(init - base).item()


def test_wudi_adam_is_torch_adam_bitwise():
    from auto_merge_llm.methods.wudi import adam

    a, x0 = 0.1 * _rand(7, 7, seed=1), _rand(5, 7, seed=2)
    p = torch.nn.Parameter(x0.clone())
    opt = torch.optim.Adam([p], lr=1e-2)
    with torch.no_grad():
        for _ in range(25):
            p.grad = p @ a - 1.0
            opt.step()
    q = x0.clone()
    adam(q, lambda m: m @ a - 1.0, 25, 1e-2)
    assert torch.equal(p.detach(), q)


def test_wudi_is_bitwise_reproducible_and_seed_free():
    base, xs = _models((12, 8), 3, seed=71)
    p = {"steps": 50, "lr": 1e-3}
    a = merge_tensors("wudi", xs, [1, 2, 3], base=base, method_params=p, name="w", seed=1)
    b = merge_tensors("wudi", xs, [1, 2, 3], base=base, method_params=p, name="w", seed=1)
    c = merge_tensors("wudi", xs, [1, 2, 3], base=base, method_params=p, name="w", seed=99)
    assert torch.equal(a, b) and torch.equal(a, c)
    # one model: the gradient at τ_m = τ₁ is exactly zero -> the model itself, bitwise
    assert torch.equal(merge_tensors("wudi", xs[:1], [1], base=base, name="w") - base, xs[0] - base)


# ---------------------------------------------------------------- DELLA


def _sha_seed(*parts):
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def _della_keep_ref(t, density, window):
    """Row by row: rank by |τ| ascending (stable), drop p = (1 − density) + ε/2 − ε·rank/(n−1), q = 1 − p."""
    rows = t.reshape(t.shape[0], -1).numpy() if t.dim() > 1 else t.reshape(1, -1).numpy()
    q = np.zeros_like(rows, dtype=np.float64)
    n = rows.shape[1]
    for i, row in enumerate(rows):
        for rank, j in enumerate(np.argsort(np.abs(row), kind="stable")):
            q[i, j] = 1.0 - ((1.0 - density) + window / 2 - window * rank / (n - 1))
    return q.reshape(t.shape)


def _disjoint_ref(taus, w):
    flat = [t.ravel() for t in taus]
    total = sum(wi * t for wi, t in zip(w, flat))
    sign = np.sign(total)
    sign[sign == 0] = np.sign(sign.sum()) or 1.0
    out = np.zeros_like(flat[0])
    for j in range(out.size):
        num = sum(wi * t[j] for wi, t in zip(w, flat) if t[j] != 0 and np.sign(t[j]) == sign[j])
        den = sum(wi for wi, t in zip(w, flat) if t[j] != 0 and np.sign(t[j]) == sign[j])
        out[j] = num / den if den else 0.0
    return out.reshape(taus[0].shape)


@pytest.mark.parametrize(("shape", "combine"), [((6, 10), "ties"), ((15,), "ties"), ((5, 8), "linear")])
def test_della_formula(shape, combine):
    base, xs = _models(shape, 3, seed=81)
    w = [0.5, 0.3, 0.2]
    p = {"density": 0.6, "window_size": 0.4, "lambda_": 1.1, "della_combine": combine}
    out = merge_tensors("della", xs, w, base=base, method_params=p, name="layer.dense.weight", seed=5)
    sparse = []
    for i, x in enumerate(xs):
        tau = x - base
        q = _della_keep_ref(tau, 0.6, 0.4)
        g = torch.Generator().manual_seed(_sha_seed("della", 5, "layer.dense.weight", i))
        keep = torch.rand(shape, generator=g).numpy() < q.astype(np.float32)
        sparse.append(np.where(keep, tau.double().numpy() / q, 0.0))
    merged = _disjoint_ref(sparse, w) if combine == "ties" else sum(wi * t for wi, t in zip(w, sparse))
    np.testing.assert_allclose(
        out.double().numpy(), base.double().numpy() + 1.1 * merged, rtol=1e-5, atol=1e-5
    )


def test_della_keep_rate_follows_magnitude_rank_and_reproducibility():
    base = torch.zeros(400, 50)
    x = _rand(400, 50, seed=3)
    p = {"density": 0.5, "window_size": 0.8}
    out = merge_tensors("della", [x], [1], base=base, method_params=p, name="w", seed=2)
    ranks = torch.argsort(torch.argsort(x.abs(), dim=1, stable=True), dim=1)
    kept = out != 0
    low, high = kept[ranks < 10].float().mean().item(), kept[ranks >= 40].float().mean().item()
    assert 0.10 < low < 0.20 and 0.80 < high < 0.90  # q from 0.1 (smallest) to 0.9 (largest)
    torch.testing.assert_close(out[kept] * _torch_keep(x, 0.5, 0.8)[kept], x[kept])  # rescaled by 1/q
    again = merge_tensors("della", [x], [1], base=base, method_params=p, name="w", seed=2)
    assert torch.equal(out, again)
    assert not torch.equal(
        out, merge_tensors("della", [x], [1], base=base, method_params=p, name="w", seed=3)
    )
    assert not torch.equal(
        out, merge_tensors("della", [x], [1], base=base, method_params=p, name="v", seed=2)
    )
    # masks depend on (seed, name, model index), not on the position in the call
    base3, xs = _models((8, 8), 3, seed=9)
    a = merge_tensors("della", xs, [1, 2, 3], base=base3, name="w", seed=4)
    b = merge_tensors("della", xs[::-1], [3, 2, 1], base=base3, name="w", seed=4, model_indices=[2, 1, 0])
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # nothing dropped (density 1, ε 0): TIES without trimming
    full = merge_tensors(
        "della", xs, [1, 2, 3], base=base3, method_params={"density": 1.0, "window_size": 0.0}
    )
    torch.testing.assert_close(
        full, merge_tensors("ties", xs, [1, 2, 3], base=base3, method_params={"density": 1.0})
    )


def _torch_keep(x, density, window):
    return torch.from_numpy(_della_keep_ref(x, density, window)).float()


# ---------------------------------------------------------------- SCE


def _sce_ref(base, xs, w, topk, lam):
    b = base.double().numpy()
    taus = np.stack([x.double().numpy() - b for x in xs])
    if topk < 1:
        var = taus.var(axis=0).ravel()
        k = int(topk * np.count_nonzero(var))
        keep = np.zeros(var.size, bool)
        keep[np.argsort(-var, kind="stable")[:k]] = True
        taus = taus * keep.reshape(b.shape)
    energy = np.array([wi * (t**2).sum() for wi, t in zip(w, taus)])
    eta = energy / energy.sum()
    sign = np.where(taus.sum(axis=0) >= 0, 1.0, -1.0)
    agree = np.sign(taus) == sign
    num = sum(e * a * t for e, a, t in zip(eta, agree, taus))
    den = sum(e * a for e, a in zip(eta, agree))
    return b + lam * np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


@pytest.mark.parametrize(
    ("shape", "w", "topk"), [((7, 9), [1, 1, 1], 1.0), ((7, 9), [0.5, 0.3, 0.2], 0.3), ((20,), [2, 1], 0.5)]
)
def test_sce_formula(shape, w, topk):
    base, xs = _models(shape, len(w), seed=91)
    out = merge_tensors(
        "sce", xs, w, base=base, method_params={"select_topk": topk, "lambda_": 0.9}, name="w"
    )
    np.testing.assert_allclose(out.double().numpy(), _sce_ref(base, xs, w, topk, 0.9), rtol=1e-5, atol=1e-6)


def test_sce_one_model_and_zero_weight():
    base, xs = _models((5, 4), 3, seed=93)
    _close(merge_tensors("sce", xs[:1], [1], base=base, method_params={"select_topk": 0.5}), xs[0])
    # a model with weight 0 is left out entirely (it does not vote in the selection or the sign erase)
    with_zero = merge_tensors("sce", xs, [1, 0, 1], base=base, method_params={"select_topk": 0.5})
    _close(
        with_zero, merge_tensors("sce", [xs[0], xs[2]], [1, 1], base=base, method_params={"select_topk": 0.5})
    )


# ---------------------------------------------------------------- Karcher


def _karcher_ref(xs, w, max_iter=10, tol=1e-5):
    """mergekit's loop, materialising the unit vectors, in float64."""
    flat = [x.double().ravel() for x in xs]
    norms = [f.norm() for f in flat]
    a = torch.tensor(w, dtype=torch.float64) / sum(w)
    units = [f / n for f, n in zip(flat, norms)]
    u = sum(ai * ui for ai, ui in zip(a, units))
    u = u / u.norm()
    for _ in range(max_iter):
        tangent = torch.zeros_like(u)
        for ai, ui in zip(a, units):
            cos = torch.clamp(u @ ui, -1, 1)
            theta = torch.arccos(cos)
            if theta > tol:
                tangent += ai * theta / torch.sin(theta) * (ui - cos * u)
        if tangent.norm() < tol:
            break
        u = torch.cos(tangent.norm()) * u + torch.sin(tangent.norm()) * tangent / tangent.norm()
        u = u / u.norm()
    return (sum(wi * n for wi, n in zip(w, norms)) * u).reshape(xs[0].shape)


@pytest.mark.parametrize("w", [[1, 1, 1], [0.6, 0.3, 0.1], [0.25, 0.75]])
def test_karcher_formula_and_stationarity(w):
    xs = [_rand(6, 5, seed=101 + i) for i in range(len(w))]
    out = merge_tensors("karcher", xs, w, name="w")
    exp = _karcher_ref(xs, [x / sum(w) for x in w])
    _close(out, exp, tol=1e-6)
    # at convergence the weighted mean of the log maps vanishes: u is the Fréchet mean of the directions
    converged = merge_tensors("karcher", xs, w, method_params={"max_iter": 200, "tol": 1e-12})
    u = converged.double().ravel() / converged.double().norm()
    grad = torch.zeros_like(u)
    for wi, x in zip(w, xs):
        ui = x.double().ravel() / x.double().norm()
        theta = torch.arccos(torch.clamp(u @ ui, -1, 1))
        grad += (wi / sum(w)) * theta / torch.sin(theta) * (ui - torch.cos(theta) * u)
    assert grad.norm().item() < 1e-6


def test_karcher_identical_inputs_and_orthogonal_midpoint():
    x = _rand(4, 3, seed=7)
    torch.testing.assert_close(merge_tensors("karcher", [x, x.clone(), x.clone()], [1, 2, 3]), x)
    torch.testing.assert_close(merge_tensors("karcher", [x], [1]), x)
    e1, e2 = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0])
    out = merge_tensors("karcher", [e1, e2], [1, 1])
    torch.testing.assert_close(out, torch.tensor([math.sqrt(2), math.sqrt(2)]))


# ---------------------------------------------------------------- Multi-SLERP


def _multislerp_ref(xs, w, eps=1e-8):
    """mergekit's steps literally (tangent projection, exponential map), in float64."""
    t = torch.stack([x.double().ravel() for x in xs])
    w = torch.tensor(w, dtype=torch.float64)
    norms = t.norm(dim=1, keepdim=True)
    units = t / (norms + eps)
    mean = (units * w[:, None]).sum(0)
    mean = mean / mean.norm()
    tangent = ((units - (units @ mean)[:, None] * mean) * w[:, None]).sum(0)
    tn = tangent.norm() + eps
    res = mean * torch.cos(tn) + tangent * torch.sin(tn) / tn
    return (res * (norms.squeeze(1) * w).sum()).reshape(xs[0].shape)


@pytest.mark.parametrize("w", [[1, 1, 1], [0.5, 0.3, 0.2], [0.1, 0.9], [0.2, 0.2, 0.3, 0.3]])
def test_multislerp_formula(w):
    xs = [_rand(5, 7, seed=111 + i) for i in range(len(w))]
    out = merge_tensors("multislerp", xs, w, name="w")
    _close(out, _multislerp_ref(xs, [x / sum(w) for x in w]), tol=1e-6)


def test_multislerp_one_hot_antipodal_and_error():
    xs = [_rand(3, 4, seed=121 + i) for i in range(3)]
    torch.testing.assert_close(merge_tensors("multislerp", xs, [0, 1, 0]), xs[1])
    a = _rand(6, seed=5)
    torch.testing.assert_close(merge_tensors("multislerp", [a, -a], [1, 1]), torch.zeros_like(a))  # linear
    b = _rand(6, seed=6)
    with pytest.raises(MergeError, match="weighted sum of the unit-normalised models is zero"):
        merge_tensors("multislerp", [a, -a, b, -b], [1, 1, 1, 1], name="x")


# ---------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("method", NEW_METHODS)
def test_bitwise_reproducible_from_seed(method):
    base, xs = _models((9, 7), 3, seed=131)
    kw = {
        "base": base if get_method(method).needs_base else None,
        "name": "layer.w",
        "seed": 13,
        "method_params": {"steps": 30, "lr": 1e-3} if method == "wudi" else None,
    }
    a = merge_tensors(method, xs, [0.2, 0.5, 0.3], **kw)
    b = merge_tensors(method, [x.clone() for x in xs], [0.2, 0.5, 0.3], **kw)
    assert torch.equal(a, b) and torch.isfinite(a).all()


# ---------------------------------------------------------------- parameter validation


@pytest.mark.parametrize(
    ("method", "params", "match"),
    [
        ("tsv", {"alpha": -1.0}, "below the minimum"),
        ("iso_c", {"alhpa": 1.0}, "did you mean 'alpha'"),
        ("iso_cts", {"common_space_fraction": 1.5}, "above the maximum"),
        ("wudi", {"lr": 0.0}, "lr must be > 0"),
        ("wudi", {"steps": -1}, "below the minimum"),
        ("wudi", {"other_tensors": "zero"}, "must be one of"),
        ("della", {"density": 0.05, "window_size": 0.2}, r"density ± window_size/2 must lie in \(0, 1\]"),
        ("della", {"density": 0.95, "window_size": 0.2}, r"density ± window_size/2 must lie in \(0, 1\]"),
        ("sce", {"select_topk": 2.0}, "above the maximum"),
        ("karcher", {"max_iter": 2.5}, "must be int"),
        ("multislerp", {"eps": -1.0}, "below the minimum"),
    ],
)
def test_parameter_validation(method, params, match):
    base, xs = _models((3, 3), 2)
    with pytest.raises(MergeError, match=match):
        merge_tensors(method, xs, [1, 1], base=base, method_params=params)


def test_docstrings_carry_formula_and_reference():
    for name in NEW_METHODS:
        info = get_method(name)
        doc = info.fn.__doc__ or ""
        assert "θ" in doc and "20" in doc and ("arXiv" in doc or "mergekit" in doc), name
        assert info.needs_base == (name not in ("karcher", "multislerp")) and not info.needs_statistics


# ---------------------------------------------------------------- end to end through the engine

E2E_PARAMS = {"wudi": {"steps": 40, "lr": 1e-3}, "sce": {"select_topk": 0.5}}


@pytest.mark.parametrize("method", NEW_METHODS)
def test_end_to_end_equals_merge_tensors(method, models_dir, base_dir, tmp_path):
    paths = [models_dir / f"m{i}" for i in range(3)]
    w = [0.2, 0.5, 0.3]
    info = get_method(method)
    params = E2E_PARAMS.get(method, {})
    res = merge_models(
        paths, w, method, output_dir=tmp_path / "o", base_model=base_dir if info.needs_base else None,
        method_params=params, seed=7, progress=False,
    )  # fmt: skip
    assert res.method == method and set(params.items()) <= set(res.method_params.items())
    out = read_state_dict(tmp_path / "o")
    srcs = [read_state_dict(p) for p in paths]
    base = read_state_dict(base_dir)
    names = [
        "roberta.encoder.layer.1.intermediate.dense.weight",  # matrix (32 × 16)
        "roberta.encoder.layer.0.attention.self.query.weight",  # matrix (16 × 16)
        "roberta.embeddings.word_embeddings.weight",  # embedding (mean rule for the SVD methods)
        "roberta.encoder.layer.0.output.LayerNorm.bias",  # vector
    ]
    for n in names:
        b = base[n.split(".", 1)[1]] if info.needs_base else None
        exp = merge_tensors(
            method, [sd[n] for sd in srcs], w, base=b, method_params=params, name=n, seed=7,
            model_indices=[0, 1, 2],
        )  # fmt: skip
        torch.testing.assert_close(out[n], exp, rtol=1e-6, atol=1e-7, msg=n)
    # the classification head goes through the head policy (linear), never through the method
    head = "classifier.out_proj.weight"
    torch.testing.assert_close(out[head], sum(wi * sd[head] for wi, sd in zip(w, srcs)))
    if method == "della":
        merge_models(
            paths, w, method, output_dir=tmp_path / "again", base_model=base_dir, seed=7, progress=False
        )
        again = read_state_dict(tmp_path / "again")
        assert all(torch.equal(out[k], again[k]) for k in out)
