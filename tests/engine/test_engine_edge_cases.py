"""Edge cases the issue lists, for every method (one model = identity, zero task vectors = base, ties in
magnitude), the base-is-a-source guard, Gram statistics on a square output layer, and the sampled Fisher
against a brute-force loop. Expectations are computed here (numpy / explicit loops), not by the library."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from auto_merge_llm import MergeError, list_methods, merge_models, merge_tensors
from auto_merge_llm.statistics import fisher_diagonal
from engine_testutils import make_classifier, read_state_dict, save_classifier, write_folder


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _np(t):
    return t.detach().double().numpy()


# Parameters that make each method's single-model result the model itself (λ = 1, nothing trimmed/dropped).
IDENTITY_PARAMS = {
    "task_arithmetic": {"lambda_": 1.0},
    "ties": {"density": 1.0, "lambda_": 1.0},
    "dare": {"drop_rate": 0.0},
    "breadcrumbs": {"density": 1.0, "gamma": 0.0},
    "della": {"density": 1.0, "window_size": 0.0},
    "layer_swap": {"bottom": 0, "top": 0},  # the name has no block number: no expert zone to place
}
# Methods whose one-model result is not the model by design: Iso-C and Iso-CTS flatten the spectrum of the
# update (with one model and r = 4, Iso-CTS keeps the top 3 common and 1 task-specific direction, which are
# the task vector's own singular vectors), so θ = θ₀ + σ̄ U Vᵀ with σ̄ the mean singular value of τ.
ISOTROPIC = {"iso_c", "iso_cts"}


def _stats_for(method, xs):
    if method == "fisher":
        return [
            torch.rand(x.shape, generator=torch.Generator().manual_seed(i)) + 0.1 for i, x in enumerate(xs)
        ]
    if method == "adamerging":  # λ = 1 for every model: plain task arithmetic
        return [torch.tensor(1.0) for _ in xs]
    if method in ("regmean", "regmean_plusplus"):
        grams = []
        for i, x in enumerate(xs):
            inputs = _rand(20, x.shape[1], seed=90 + i)
            grams.append(inputs.T @ inputs)  # full rank: 20 rows, 5 columns
        return grams
    return None


@pytest.mark.parametrize("method", [m.name for m in list_methods()])
def test_one_model_is_identity(method):
    info = next(m for m in list_methods() if m.name == method)
    base = _rand(4, 5, seed=1)
    x = base + _rand(4, 5, seed=2)
    out = merge_tensors(
        method,
        [x],
        [0.7],
        base=base if info.needs_base else None,
        stats=_stats_for(method, [x]),
        method_params=IDENTITY_PARAMS.get(method),
        name="layer.dense.weight",
    )
    expected = _np(x)
    if method in ISOTROPIC:
        u, s, vh = np.linalg.svd(_np(x - base), full_matrices=False)
        expected = _np(base) + s.mean() * (u @ vh)
    np.testing.assert_allclose(_np(out), expected, rtol=1e-5, atol=1e-5, err_msg=method)


ZERO_CASES = [(m.name, None) for m in list_methods() if m.needs_base] + [
    ("dare", {"drop_rate": 0.6}),
    ("dare", {"drop_rate": 0.6, "dare_combine": "ties"}),
]


@pytest.mark.parametrize(("method", "params"), ZERO_CASES)
def test_zero_task_vectors_give_the_base(method, params):
    base = _rand(6, 5, seed=3)
    xs = [base.clone() for _ in range(3)]
    out = merge_tensors(method, xs, [0.2, 0.3, 0.5], base=base, method_params=params, name="w",
                        stats=_stats_for(method, xs))  # fmt: skip
    np.testing.assert_allclose(_np(out), _np(base), rtol=0, atol=1e-6, err_msg=method)


def test_ties_trim_breaks_magnitude_ties_by_index():
    # magnitudes collide as in low-precision checkpoints: 12 entries, 4 distinct magnitudes
    base = torch.zeros(12)
    tau = torch.tensor([0.5, -1.0, 0.25, 1.0, -0.5, 0.75, -0.25, 1.0, 0.5, -0.75, 0.25, -1.0])
    other = torch.tensor([-0.5, 1.0, 0.25, 0.25, 0.5, -0.75, 0.25, 0.5, -1.0, 0.75, -0.25, 1.0])
    density = 5 / 12  # 5 kept: the three 1.0's, then the first two of the four 0.75/0.5 … by index
    out = merge_tensors("ties", [tau, other], [1, 1], base=base, method_params={"density": density})
    trimmed = []
    for t in (_np(tau), _np(other)):
        keep = np.zeros(12, bool)
        keep[np.argsort(-np.abs(t), kind="stable")[:5]] = True  # stable: lowest index first among equals
        trimmed.append(np.where(keep, t, 0.0))
    sign = np.sign(trimmed[0] + trimmed[1])
    sign[sign == 0] = np.sign(sign.sum()) or 1.0
    exp = np.zeros(12)
    for j in range(12):
        vals = [t[j] for t in trimmed if t[j] != 0 and np.sign(t[j]) == sign[j]]
        exp[j] = np.mean(vals) if vals else 0.0
    np.testing.assert_allclose(_np(out), exp, rtol=0, atol=1e-7)
    # bf16-rounded task vectors: many equal magnitudes; the mask is the stable top-k of |τ|
    from auto_merge_llm.methods._common import magnitude_mask

    t = _rand(5000, seed=5).to(torch.bfloat16).float()
    for dens in (0.1, 0.37, 0.9):
        k = int(round(dens * t.numel()))
        exp_mask = np.zeros(t.numel(), bool)
        exp_mask[np.argsort(-np.abs(_np(t)), kind="stable")[:k]] = True
        assert np.array_equal(magnitude_mask(t, dens).numpy(), exp_mask), dens


# ---------------------------------------------------------------- base model guard


def test_base_model_that_is_a_source_is_refused(models_dir, tmp_path):
    paths = [models_dir / "m0", models_dir / "m1"]
    with pytest.raises(MergeError, match=r"is model 1 .* itself"):
        merge_models(paths, [1, 1], "ties", output_dir=tmp_path / "a", base_model=paths[1], progress=False)
    copy = write_folder(
        tmp_path / "copy", read_state_dict(paths[0]), json.loads((paths[0] / "config.json").read_text())
    )
    with pytest.raises(MergeError, match=r"same classification head as model 0"):
        merge_models(
            paths, [1, 1], "task_arithmetic", output_dir=tmp_path / "b", base_model=copy, progress=False
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ---------------------------------------------------------------- RegMean on a square output layer


def test_regmean_gram_is_not_permuted_with_label_rows(tmp_path):
    """hidden_size == num_labels: the output layer's weight and its input Gram matrix have the same shape,
    but only the weight's rows are label-indexed. Shuffling a model's label order must not change the merge."""
    labels = [f"label_{i}" for i in range(16)]
    m0 = save_classifier(make_classifier(21, labels=labels), tmp_path / "m0")
    m1 = save_classifier(make_classifier(22, labels=labels), tmp_path / "m1")
    order = list(np.random.default_rng(0).permutation(16))
    sd = read_state_dict(m1)
    cfg = json.loads((m1 / "config.json").read_text())
    idx = torch.tensor(order)
    for k in ("classifier.out_proj.weight", "classifier.out_proj.bias"):
        sd[k] = sd[k].index_select(0, idx)
    cfg["id2label"] = {str(i): labels[o] for i, o in enumerate(order)}
    cfg["label2id"] = {labels[o]: i for i, o in enumerate(order)}
    shuffled = write_folder(tmp_path / "m1s", sd, cfg)
    grams = []
    for i in range(2):
        x = _rand(40, 16, seed=70 + i)
        grams.append({"classifier.out_proj": x.T @ x})
    kw = {"method": "regmean", "head_merge": "method", "statistics": grams, "progress": False}
    kw["method_params"] = {"regmean_alpha": 0.7}
    merge_models([m0, m1], [0.3, 0.7], output_dir=tmp_path / "ref", **kw)
    merge_models([m0, shuffled], [0.3, 0.7], output_dir=tmp_path / "got", **kw)
    ref, got = read_state_dict(tmp_path / "ref"), read_state_dict(tmp_path / "got")
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)
    # and the reference is the RegMean formula for the output layer
    w = [_np(read_state_dict(p)["classifier.out_proj.weight"]) for p in (m0, m1)]
    gp = [
        0.7 * _np(g["classifier.out_proj"]) + 0.3 * np.diag(np.diag(_np(g["classifier.out_proj"])))
        for g in grams
    ]
    lhs = 0.3 * gp[0] + 0.7 * gp[1]
    rhs = 0.3 * gp[0] @ w[0].T + 0.7 * gp[1] @ w[1].T
    np.testing.assert_allclose(
        _np(ref["classifier.out_proj.weight"]), np.linalg.solve(lhs, rhs).T, rtol=1e-4, atol=1e-5
    )


# ---------------------------------------------------------------- sampled Fisher


def test_sampled_fisher_matches_brute_force():
    """y ~ p(·|x) drawn in example order from a generator seeded with ``seed``; F = mean of (∂ log p(y|x)/∂θ)²."""
    model = make_classifier(14)
    g = torch.Generator().manual_seed(3)
    batches = []
    for _ in range(2):
        ids = torch.randint(3, 100, (3, 8), generator=g)
        ids[:, 0] = 0
        mask = torch.ones(3, 8, dtype=torch.long)
        ids[1, 5:], mask[1, 5:] = 1, 0
        batches.append({"input_ids": ids, "attention_mask": mask})
    got = fisher_diagonal(model, batches, estimator="sampled", seed=9)
    params = dict(model.named_parameters())
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    draw = torch.Generator().manual_seed(9)
    count = 0
    for batch in batches:
        for r in range(3):
            ids = batch["input_ids"][r, : int(batch["attention_mask"][r].sum())].unsqueeze(0)
            model.zero_grad()
            logp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
            y = int(torch.multinomial(logp.detach().exp(), 1, generator=draw))
            logp[y].backward()
            for n, p in params.items():
                acc[n] += p.grad.detach() ** 2
            count += 1
    for n in acc:
        torch.testing.assert_close(got[n], acc[n] / count, rtol=1e-5, atol=1e-12, msg=n)
