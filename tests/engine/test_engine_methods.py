"""Each merge method against its formula, computed independently (numpy / explicit loops) on small tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from auto_merge_llm import MergeError, get_method, merge_tensors


def _rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def _np(t):
    return t.detach().double().numpy()


# ---------------------------------------------------------------- linear / task arithmetic


def test_linear_formula_and_identity():
    xs = [_rand(5, 3, seed=i) for i in range(3)]
    out = merge_tensors("linear", xs, [1.0, 2.0, 1.0])
    exp = 0.25 * _np(xs[0]) + 0.5 * _np(xs[1]) + 0.25 * _np(xs[2])
    np.testing.assert_allclose(_np(out), exp, rtol=1e-6, atol=1e-6)
    out = merge_tensors("linear", xs, [1.0, 2.0, 1.0], normalize_weights=False)
    np.testing.assert_allclose(_np(out), _np(xs[0]) + 2 * _np(xs[1]) + _np(xs[2]), rtol=1e-6, atol=1e-6)
    assert torch.equal(merge_tensors("linear", [xs[0]], [0.3]), xs[0])


def test_task_arithmetic_formula():
    base = _rand(4, 4, seed=9)
    xs = [_rand(4, 4, seed=i) for i in range(3)]
    w = [0.2, 0.3, 0.5]
    out = merge_tensors("task_arithmetic", xs, w, base=base, method_params={"lambda_": 0.7})
    exp = _np(base) + 0.7 * sum(wi * (_np(x) - _np(base)) for wi, x in zip(w, xs))
    np.testing.assert_allclose(_np(out), exp, rtol=1e-6, atol=1e-6)
    # zero task vectors -> base
    assert torch.allclose(merge_tensors("task_arithmetic", [base, base], [1, 1], base=base), base)


# ---------------------------------------------------------------- TIES


def _ties_reference(base, xs, w, density, lam):
    b = _np(base).ravel()
    taus = [(_np(x).ravel() - b) for x in xs]
    n = b.size
    k = int(round(density * n))
    trimmed = []
    for t in taus:
        keep = np.zeros(n, bool)
        if k:
            keep[np.argsort(-np.abs(t), kind="stable")[:k]] = True
        trimmed.append(np.where(keep, t, 0.0))
    total = sum(wi * t for wi, t in zip(w, trimmed))
    sign = np.sign(total)
    majority = np.sign(sign.sum()) or 1.0
    sign[sign == 0] = majority
    merged = np.zeros(n)
    for j in range(n):
        num = den = 0.0
        for wi, t in zip(w, trimmed):
            if t[j] != 0 and np.sign(t[j]) == sign[j]:
                num += wi * t[j]
                den += wi
        merged[j] = num / den if den > 0 else 0.0
    return (b + lam * merged).reshape(base.shape)


@pytest.mark.parametrize("density", [0.2, 0.5, 1.0])
def test_ties_formula(density):
    base = _rand(6, 5, seed=10)
    xs = [base + _rand(6, 5, seed=i) for i in range(3)]
    w = [0.5, 0.2, 0.3]
    out = merge_tensors("ties", xs, w, base=base, method_params={"density": density, "lambda_": 1.3})
    np.testing.assert_allclose(_np(out), _ties_reference(base, xs, w, density, 1.3), rtol=1e-5, atol=1e-6)


def test_ties_sign_ties_take_majority_sign():
    base = torch.zeros(3)
    # weighted sums [0, -3, -3] -> entry 0 is a tie, tensor majority sign is negative -> only -1 survives
    xs = [torch.tensor([1.0, -2.0, -2.0]), torch.tensor([-1.0, -1.0, -1.0])]
    out = merge_tensors("ties", xs, [1, 1], base=base, method_params={"density": 1.0})
    torch.testing.assert_close(out, torch.tensor([-1.0, -1.5, -1.5]))
    # weighted sums [0, 3, -2]: elected signs sum to 0 -> ties resolve to +1
    xs = [torch.tensor([1.0, 2.0, -3.0]), torch.tensor([-1.0, 1.0, 1.0])]
    out = merge_tensors("ties", xs, [1, 1], base=base, method_params={"density": 1.0})
    torch.testing.assert_close(out, torch.tensor([1.0, 1.5, -3.0]))


def test_ties_edge_cases():
    base = _rand(4, 4, seed=3)
    assert torch.equal(merge_tensors("ties", [base.clone(), base.clone()], [1, 2], base=base), base)
    x = base + _rand(4, 4, seed=4)
    torch.testing.assert_close(merge_tensors("ties", [x], [1], base=base, method_params={"density": 1.0}), x)
    with pytest.raises(MergeError, match="above the maximum"):
        merge_tensors("ties", [x], [1], base=base, method_params={"density": 1.5})
    with pytest.raises(MergeError, match="needs a base"):
        merge_tensors("ties", [x], [1])


# ---------------------------------------------------------------- DARE


def test_dare_p0_equals_task_arithmetic():
    base = _rand(8, 3, seed=1)
    xs = [base + _rand(8, 3, seed=i + 2) for i in range(3)]
    w = [0.1, 0.6, 0.3]
    ta = merge_tensors("task_arithmetic", xs, w, base=base, method_params={"lambda_": 0.8})
    dare = merge_tensors("dare", xs, w, base=base, method_params={"drop_rate": 0.0, "lambda_": 0.8})
    torch.testing.assert_close(dare, ta, rtol=0, atol=1e-7)
    dt = merge_tensors("dare", xs, w, base=base, method_params={"drop_rate": 0.0, "dare_combine": "ties"})
    ties = merge_tensors("ties", xs, w, base=base, method_params={"density": 1.0})
    torch.testing.assert_close(dt, ties, rtol=0, atol=1e-7)


def test_dare_drop_and_rescale():
    base = torch.zeros(200, 50)
    x = _rand(200, 50, seed=5)
    out = merge_tensors("dare", [x], [1.0], base=base, method_params={"drop_rate": 0.7}, name="w", seed=3)
    kept = out != 0
    assert 0.27 < kept.float().mean().item() < 0.33
    torch.testing.assert_close(out[kept], x[kept] / 0.3)
    out_nr = merge_tensors(
        "dare", [x], [1.0], base=base, method_params={"drop_rate": 0.7, "rescale": False}, name="w", seed=3
    )
    assert torch.equal(out_nr != 0, kept)
    torch.testing.assert_close(out_nr[kept], x[kept])


def test_dare_determinism_and_order_independence():
    base = _rand(30, 30, seed=0)
    xs = [base + _rand(30, 30, seed=i + 1) for i in range(3)]
    p = {"drop_rate": 0.5}
    a = merge_tensors("dare", xs, [1, 1, 1], base=base, method_params=p, name="layer.w", seed=11)
    b = merge_tensors("dare", xs, [1, 1, 1], base=base, method_params=p, name="layer.w", seed=11)
    assert torch.equal(a, b)
    assert not torch.equal(
        a, merge_tensors("dare", xs, [1, 1, 1], base=base, method_params=p, name="layer.w", seed=12)
    )
    assert not torch.equal(
        a, merge_tensors("dare", xs, [1, 1, 1], base=base, method_params=p, name="layer.v", seed=11)
    )
    # the mask of a model depends only on (seed, name, model index), not on the position in the call
    rev = merge_tensors(
        "dare",
        xs[::-1],
        [1, 1, 1],
        base=base,
        method_params=p,
        name="layer.w",
        seed=11,
        model_indices=[2, 1, 0],
    )
    torch.testing.assert_close(rev, a, rtol=0, atol=1e-6)
    with pytest.raises(MergeError, match=r"drop_rate must be in \[0, 1\)"):
        merge_tensors("dare", xs, [1, 1, 1], base=base, method_params={"drop_rate": 1.0})


# ---------------------------------------------------------------- breadcrumbs


def test_breadcrumbs_formula():
    base = _rand(10, 10, seed=20)
    xs = [base + _rand(10, 10, seed=i + 21) for i in range(2)]
    w = [0.25, 0.75]
    density, gamma = 0.5, 0.1
    out = merge_tensors("breadcrumbs", xs, w, base=base, method_params={"density": density, "gamma": gamma})
    b = _np(base).ravel()
    merged = np.zeros_like(b)
    for wi, x in zip(w, xs):
        t = _np(x).ravel() - b
        order = np.argsort(-np.abs(t))
        keep = np.zeros(t.size, bool)
        keep[order[10:60]] = True  # skip the top 10 (gamma), keep the next 50 (density)
        merged += wi * np.where(keep, t, 0)
    np.testing.assert_allclose(_np(out), (b + merged).reshape(10, 10), rtol=1e-5, atol=1e-6)
    with pytest.raises(MergeError, match="density \\+ gamma"):
        merge_tensors("breadcrumbs", xs, w, base=base, method_params={"density": 0.95, "gamma": 0.1})


# ---------------------------------------------------------------- SLERP


def test_slerp_endpoints_and_orthogonal_midpoint():
    a, b = _rand(7, seed=1), _rand(7, seed=2)
    torch.testing.assert_close(merge_tensors("slerp", [a, b], [1, 1], method_params={"t": 0.0}), a)
    torch.testing.assert_close(merge_tensors("slerp", [a, b], [1, 1], method_params={"t": 1.0}), b)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = merge_tensors("slerp", [e1, e2], [1, 1], method_params={"t": 0.5})
    torch.testing.assert_close(mid, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    third = merge_tensors("slerp", [e1, e2], [1, 1], method_params={"t": 1 / 3})
    torch.testing.assert_close(third, torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]))


def test_slerp_general_formula():
    a, b = _rand(3, 4, seed=5), _rand(3, 4, seed=6)
    t = 0.3
    va, vb = _np(a).ravel(), _np(b).ravel()
    omega = math.acos(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))
    exp = (math.sin((1 - t) * omega) * va + math.sin(t * omega) * vb) / math.sin(omega)
    out = merge_tensors("slerp", [a, b], [1, 1], method_params={"t": t})
    np.testing.assert_allclose(_np(out).ravel(), exp, rtol=1e-5, atol=1e-6)


def test_slerp_near_parallel_falls_back_to_lerp():
    a = _rand(50, seed=3)
    b = 2.0 * a + 1e-6 * _rand(50, seed=4)
    out = merge_tensors("slerp", [a, b], [1, 1], method_params={"t": 0.25})
    torch.testing.assert_close(out, 0.75 * a + 0.25 * b)
    out = merge_tensors("slerp", [a, -a], [1, 1], method_params={"t": 0.5})  # anti-parallel: lerp too
    torch.testing.assert_close(out, torch.zeros_like(a))


def test_slerp_weights_lean_to_heavier_model_and_identity():
    a, b = _rand(6, seed=7), _rand(6, seed=8)
    out = merge_tensors("slerp", [a, b], [0.25, 0.75])
    # visited by descending weight: slerp(b, a; t = 0.25 / 1.0)
    exp = merge_tensors("slerp", [b, a], [1, 1], method_params={"t": 0.25})
    torch.testing.assert_close(out, exp)
    assert (out - b).norm() < (out - a).norm()
    assert torch.equal(merge_tensors("slerp", [a], [1.0]), a)
    with pytest.raises(MergeError, match="exactly 2 models"):
        merge_tensors("slerp", [a, b, a], [1, 1, 1], method_params={"t": 0.5})


def test_slerp_three_models_is_iterative():
    xs = [_rand(5, seed=i + 30) for i in range(3)]
    w = [0.2, 0.5, 0.3]
    out = merge_tensors("slerp", xs, w)
    step1 = merge_tensors("slerp", [xs[1], xs[2]], [1, 1], method_params={"t": 0.3 / 0.8})
    exp = merge_tensors("slerp", [step1, xs[0]], [1, 1], method_params={"t": 0.2 / 1.0})
    torch.testing.assert_close(out, exp)


# ---------------------------------------------------------------- Model Stock


def test_model_stock_hand_made_vectors():
    base = torch.tensor([1.0, 1.0])
    x1 = base + torch.tensor([1.0, 0.0])
    x2 = base + torch.tensor([1.0, 1.0])
    cos = 1 / math.sqrt(2)
    t = 2 * cos / (1 + cos)
    exp = t * (x1 + x2) / 2 + (1 - t) * base
    torch.testing.assert_close(merge_tensors("model_stock", [x1, x2], [1, 1], base=base), exp)
    # three models: average pairwise cosine
    x3 = base + torch.tensor([0.0, 2.0])
    cos3 = (cos + 0.0 + cos) / 3
    t3 = 3 * cos3 / (1 + 2 * cos3)
    exp3 = t3 * (x1 + x2 + x3) / 3 + (1 - t3) * base
    torch.testing.assert_close(merge_tensors("model_stock", [x1, x2, x3], [1, 1, 1], base=base), exp3)
    # one model: identity; opposite task vectors: clamp -> base
    torch.testing.assert_close(merge_tensors("model_stock", [x1], [1], base=base), x1)
    torch.testing.assert_close(merge_tensors("model_stock", [base + 1, base - 1], [1, 1], base=base), base)


# ---------------------------------------------------------------- WIDEN


def _widen_reference(base, xs, ratio=1.0, calib=1.0):
    """Column-by-column re-implementation of the published algorithm (equal weights)."""
    b = _np(base)
    ws = [_np(x) for x in xs]
    k = len(ws)

    def scores_of(sig):  # sig: (K, n)
        e = np.exp(sig - sig.max(axis=0, keepdims=True))
        s = e / e.sum(axis=0, keepdims=True)
        for i in range(k):
            avg = sig[i].mean()
            for j in range(sig.shape[1]):
                if sig[i, j] > avg * ratio:
                    s[i, j] = calib
        return s

    def ranks(d):  # j-th smallest (stable) -> j / n
        r = np.zeros_like(d)
        for i in range(d.shape[0]):
            for pos, idx in enumerate(np.argsort(d[i], kind="stable")):
                r[i, idx] = pos / d.shape[1]
        return r

    if b.ndim == 2:
        n_in = b.shape[1]
        dm = np.zeros((k, n_in))
        dd = np.zeros((k, n_in))
        for i, w in enumerate(ws):
            for c in range(n_in):
                dm[i, c] = abs(np.linalg.norm(w[:, c]) - np.linalg.norm(b[:, c]))
                cos = w[:, c] @ b[:, c] / (np.linalg.norm(w[:, c]) * np.linalg.norm(b[:, c]))
                dd[i, c] = 1 - cos
        s = 0.5 * (scores_of(ranks(dm)) + scores_of(ranks(dd)))
        return b + sum((w - b) * s[i][None, :] for i, w in enumerate(ws))
    sig = np.stack([np.abs(w - b) for w in ws])
    s = scores_of(sig)
    return b + sum((w - b) * s[i] for i, w in enumerate(ws))


@pytest.mark.parametrize(("ratio", "calib"), [(1.0, 1.0), (1.2, 0.8)])
def test_widen_matrix_and_vector(ratio, calib):
    base = _rand(6, 9, seed=40)
    xs = [base + 0.3 * _rand(6, 9, seed=41 + i) for i in range(3)]
    p = {"above_average_value_ratio": ratio, "score_calibration_value": calib}
    out = merge_tensors("widen", xs, [1, 1, 1], base=base, method_params=p, name="layer.dense.weight")
    np.testing.assert_allclose(_np(out), _widen_reference(base, xs, ratio, calib), rtol=1e-5, atol=1e-6)
    vb = _rand(11, seed=50)
    vs = [vb + 0.2 * _rand(11, seed=51 + i) for i in range(3)]
    out = merge_tensors("widen", vs, [2, 2, 2], base=vb, method_params=p, name="layer.norm.weight")
    np.testing.assert_allclose(_np(out), _widen_reference(vb, vs, ratio, calib), rtol=1e-5, atol=1e-6)


def test_widen_embedding_is_transposed_and_weights_scale():
    base = _rand(12, 4, seed=60)  # (vocab, hidden): columns are tokens after transposition
    xs = [base + 0.3 * _rand(12, 4, seed=61 + i) for i in range(2)]
    out = merge_tensors("widen", xs, [1, 1], base=base, name="embeddings.word_embeddings.weight")
    exp = _widen_reference(base.t(), [x.t() for x in xs]).T
    np.testing.assert_allclose(_np(out), exp, rtol=1e-5, atol=1e-6)
    one = merge_tensors("widen", [xs[0]], [1], base=base, name="w")
    torch.testing.assert_close(one, xs[0])
    # unequal weights: task vectors scaled by w_i / mean(w); use_weights=False ignores them
    plain = merge_tensors("widen", xs, [1, 1], base=base, name="w")
    assert torch.allclose(
        merge_tensors("widen", xs, [1, 3], base=base, name="w", method_params={"use_weights": False}), plain
    )
    assert not torch.allclose(merge_tensors("widen", xs, [1, 3], base=base, name="w"), plain)


# ---------------------------------------------------------------- RegMean


def test_regmean_alpha1_is_concatenated_least_squares():
    g = torch.Generator().manual_seed(0)
    d_in, d_out = 6, 4
    xs_in = [torch.randn(n, d_in, generator=g, dtype=torch.float64) for n in (20, 30, 25)]
    ws = [torch.randn(d_out, d_in, generator=g, dtype=torch.float64) for _ in range(3)]
    grams = [x.T @ x for x in xs_in]
    out = merge_tensors(
        "regmean",
        [w.float() for w in ws],
        [1, 1, 1],
        stats=[gm.float() for gm in grams],
        method_params={"regmean_alpha": 1.0},
        name="layer.query.weight",
    )
    x_cat = torch.cat(xs_in)
    y_cat = torch.cat([x @ w.T for x, w in zip(xs_in, ws)])
    w_star = torch.linalg.lstsq(x_cat, y_cat).solution.T
    torch.testing.assert_close(out.double(), w_star, rtol=1e-4, atol=1e-5)


def test_regmean_alpha_and_non_linear_params():
    g = torch.Generator().manual_seed(1)
    ws = [torch.randn(3, 5, generator=g) for _ in range(2)]
    grams = []
    for _ in range(2):
        x = torch.randn(12, 5, generator=g)
        grams.append(x.T @ x)
    alpha, c = 0.5, [0.25, 0.75]
    out = merge_tensors("regmean", ws, [1, 3], stats=grams, method_params={"regmean_alpha": alpha})
    gp = [alpha * _np(gm) + (1 - alpha) * np.diag(np.diag(_np(gm))) for gm in grams]
    lhs = sum(ci * gi for ci, gi in zip(c, gp))
    rhs = sum(ci * gi @ _np(w).T for ci, gi, w in zip(c, gp, ws))
    np.testing.assert_allclose(_np(out), (np.linalg.inv(lhs) @ rhs).T, rtol=1e-4, atol=1e-5)
    bias = [torch.randn(3, generator=g) for _ in range(2)]
    out = merge_tensors("regmean", bias, [1, 3], stats=[None, None])
    torch.testing.assert_close(out, 0.25 * bias[0] + 0.75 * bias[1])
    with pytest.raises(MergeError, match="missing for model"):
        merge_tensors("regmean", ws, [1, 1], stats=[grams[0], None])
    with pytest.raises(MergeError, match="needs per-model statistics"):
        merge_tensors("regmean", ws, [1, 1])


# ---------------------------------------------------------------- Fisher


def test_fisher_equal_fishers_is_linear_and_formula():
    xs = [_rand(4, 3, seed=i) for i in range(3)]
    w = [0.5, 0.3, 0.2]
    same = torch.rand(4, 3) + 0.1
    out = merge_tensors("fisher", xs, w, stats=[same, same, same])
    torch.testing.assert_close(out, merge_tensors("linear", xs, w))
    fs = [torch.rand(4, 3, generator=torch.Generator().manual_seed(10 + i)) for i in range(3)]
    fs[0][0, 0] = 0.0  # below the floor
    floor = 1e-3
    out = merge_tensors("fisher", xs, w, stats=fs, method_params={"fisher_floor": floor})
    ff = [np.maximum(_np(f), floor) for f in fs]
    exp = sum(wi * f * _np(x) for wi, f, x in zip(w, ff, xs)) / sum(wi * f for wi, f in zip(w, ff))
    np.testing.assert_allclose(_np(out), exp, rtol=1e-5, atol=1e-6)
    # all-zero Fishers -> floor everywhere -> linear average
    zeros = [torch.zeros(4, 3)] * 3
    torch.testing.assert_close(merge_tensors("fisher", xs, w, stats=zeros), merge_tensors("linear", xs, w))


def test_fisher_normalisation_and_errors():
    xs = [_rand(5, seed=i) for i in range(2)]
    f1, f2 = torch.rand(5) + 0.1, torch.rand(5) + 0.1
    out = merge_tensors("fisher", xs, [1, 1], stats=[f1, 100 * f2], method_params={"normalize_fisher": True})
    ref = merge_tensors("fisher", xs, [1, 1], stats=[f1 / f1.norm(), f2 / f2.norm()])
    torch.testing.assert_close(out, ref)
    with pytest.raises(MergeError, match="no Fisher diagonal"):
        merge_tensors("fisher", xs, [1, 1], stats=[f1, None])
    with pytest.raises(MergeError, match="has shape"):
        merge_tensors("fisher", xs, [1, 1], stats=[f1, torch.rand(4)])


def test_fisher_simple_is_magnitude_proxy():
    xs = [_rand(6, seed=i) for i in range(2)]
    w = [0.4, 0.6]
    out = merge_tensors("fisher_simple", xs, w)
    f = [np.maximum(_np(x) ** 2, 1e-6) for x in xs]
    exp = (w[0] * f[0] * _np(xs[0]) + w[1] * f[1] * _np(xs[1])) / (w[0] * f[0] + w[1] * f[1])
    np.testing.assert_allclose(_np(out), exp, rtol=1e-5, atol=1e-6)
    assert not get_method("fisher_simple").needs_statistics


def test_method_infos_document_formula_and_reference():
    for name in [
        "linear",
        "task_arithmetic",
        "ties",
        "dare",
        "breadcrumbs",
        "slerp",
        "model_stock",
        "widen",
        "regmean",
        "fisher",
    ]:
        info = get_method(name)
        doc = info.fn.__doc__ or ""
        assert "θ" in doc and any(str(y) in doc for y in range(1985, 2026)), name
        assert info.to_dict()["name"] == name
    assert get_method("ties").needs_base and get_method("regmean").needs_statistics
