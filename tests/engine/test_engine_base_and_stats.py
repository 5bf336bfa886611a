"""Task-vector methods on disk (base-name matching, head policy), statistics helpers, the cache."""

from __future__ import annotations

import json

import pytest
import torch
from auto_merge_llm import MergeError, list_methods, merge_models
from auto_merge_llm.statistics import StatisticsCache, fisher_diagonal, gram_matrices
from engine_testutils import (
    LABELS,
    make_classifier,
    read_state_dict,
    save_classifier,
    tiny_config,
    write_folder,
)


def _batches(n_batches=2, bsz=3, seq=9, seed=0, pad=True):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(3, 100, (bsz, seq), generator=g)
        ids[:, 0] = 0
        mask = torch.ones(bsz, seq, dtype=torch.long)
        if pad:
            for r in range(bsz):
                length = int(torch.randint(4, seq + 1, (1,), generator=g))
                ids[r, length:] = 1  # XLM-R pad id
                mask[r, length:] = 0
        out.append(
            {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 4, (bsz,), generator=g)}
        )
    return out


def test_task_arithmetic_with_prefixless_base(models_dir, base_dir, tmp_path):
    paths = [models_dir / "m0", models_dir / "m1"]
    res = merge_models(
        paths,
        [0.4, 0.6],
        "task_arithmetic",
        output_dir=tmp_path / "o",
        base_model=base_dir,
        method_params={"lambda_": 0.5},
        progress=False,
    )
    base = read_state_dict(base_dir)
    sds = [read_state_dict(p) for p in paths]
    out = read_state_dict(tmp_path / "o")
    for k, v in out.items():
        if k.startswith("classifier."):
            exp = 0.4 * sds[0][k] + 0.6 * sds[1][k]
        else:
            b = base[k.split(".", 1)[1]]  # roberta.X in the classifier is X in XLMRobertaModel
            exp = b + 0.5 * (0.4 * (sds[0][k] - b) + 0.6 * (sds[1][k] - b))
        torch.testing.assert_close(v, exp, atol=1e-6, rtol=1e-5, msg=k)
    assert res.params_without_base == []
    assert res.base_model == str(base_dir) and res.method_params == {"lambda_": 0.5}
    assert set(res.head_param_names) == {k for k in out if k.startswith("classifier.")}


def test_base_with_prefix_and_errors(models_dir, tmp_path):
    from transformers import XLMRobertaForMaskedLM

    torch.manual_seed(3)
    mlm = XLMRobertaForMaskedLM(tiny_config()).eval()
    mlm.save_pretrained(tmp_path / "mlm")
    res = merge_models(
        [models_dir / "m0"],
        [1],
        "task_arithmetic",
        output_dir=tmp_path / "o",
        base_model=tmp_path / "mlm",
        progress=False,
    )
    torch.testing.assert_close(read_state_dict(tmp_path / "o"), read_state_dict(models_dir / "m0"))
    assert res.params_without_base == []
    paths = [models_dir / "m0", models_dir / "m1"]
    with pytest.raises(MergeError, match="needs base_model"):
        merge_models(paths, [1, 1], "ties", output_dir=tmp_path / "a", progress=False)
    with pytest.raises(MergeError, match="head_merge='method' is impossible"):
        merge_models(
            paths, [1, 1], "ties", output_dir=tmp_path / "a", base_model=tmp_path / "mlm", head_merge="method"
        )
    with pytest.raises(MergeError, match="neither a local folder nor resolvable"):
        merge_models(
            paths, [1, 1], "ties", output_dir=tmp_path / "a", base_model="no-such-org/no-such-model-xyz"
        )
    big = save_classifier(make_classifier(0, hidden=8), tmp_path / "big")
    with pytest.raises(MergeError, match="no parameter of the models matches|in base model"):
        merge_models(paths, [1, 1], "ties", output_dir=tmp_path / "a", base_model=big, progress=False)


def _stats_for(paths, kind):
    from transformers import AutoModelForSequenceClassification

    stats = []
    for p in paths:
        model = AutoModelForSequenceClassification.from_pretrained(p)
        if kind == "fisher":
            stats.append(fisher_diagonal(model, _batches(1, 2), estimator="expected"))
        else:
            stats.append(gram_matrices(model, _batches(2, 3)))
    return stats


@pytest.mark.parametrize("method", [m.name for m in list_methods()])
def test_every_method_end_to_end_loads(method, models_dir, base_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    paths = [models_dir / f"m{i}" for i in range(3)]
    info = next(m for m in list_methods() if m.name == method)
    stats = (
        _stats_for(paths, "fisher" if method == "fisher" else "gram")
        if method in ("fisher", "regmean")
        else None
    )
    if method == "regmean_plusplus":
        from auto_merge_llm.regmean_plusplus import progressive_gram_matrices

        model = AutoModelForSequenceClassification.from_pretrained(paths[0])
        stats = progressive_gram_matrices(model, paths, [list(_batches(2, 3, seed=i)) for i in range(3)])
    if method == "adamerging":
        from auto_merge_llm.adamerging import learn_coefficients

        model = AutoModelForSequenceClassification.from_pretrained(paths[0])
        stats = learn_coefficients(model, paths, base_dir, list(_batches(2, 3)), steps=2).statistics()
    res = merge_models(
        paths,
        [0.2, 0.5, 0.3],
        method,
        output_dir=tmp_path / "o",
        base_model=base_dir if info.needs_base else None,
        statistics=stats,
        max_shard_size="30KB",
        progress=False,
    )
    json.dumps(res.to_dict())
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "o")
    assert model.config.id2label == dict(enumerate(LABELS))
    out = read_state_dict(tmp_path / "o")
    assert all(torch.isfinite(v).all() for v in out.values())
    if method == "slerp":
        assert res.head_merge == "highest_weight"
        src = read_state_dict(paths[1])
        assert all(torch.equal(out[k], src[k]) for k in out if k.startswith("classifier."))


def test_dare_end_to_end_is_bitwise_reproducible(models_dir, base_dir, tmp_path):
    paths = [models_dir / "m0", models_dir / "m1"]
    kw = {"method": "dare", "base_model": base_dir, "method_params": {"drop_rate": 0.5}, "progress": False}
    merge_models(paths, [1, 1], output_dir=tmp_path / "a", seed=5, **kw)
    merge_models(paths, [1, 1], output_dir=tmp_path / "b", seed=5, **kw)
    merge_models(paths, [1, 1], output_dir=tmp_path / "c", seed=6, **kw)
    a, b, c = (tmp_path / x / "model.safetensors" for x in "abc")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_fisher_merge_aligns_statistics_with_labels(models_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    paths = [models_dir / "m0", models_dir / "m1"]
    stats = _stats_for(paths, "fisher")
    merge_models(
        paths,
        [1, 1],
        "fisher",
        output_dir=tmp_path / "ref",
        statistics=stats,
        head_merge="method",
        progress=False,
    )
    # shuffle model 1's labels (rows of the output layer and of its Fisher)
    order = [1, 3, 0, 2]
    sd = read_state_dict(paths[1])
    cfg = json.loads((paths[1] / "config.json").read_text())
    idx = torch.tensor(order)
    f1 = dict(stats[1])
    for k in ("classifier.out_proj.weight", "classifier.out_proj.bias"):
        sd[k] = sd[k].index_select(0, idx)
        f1[k] = f1[k].index_select(0, idx)
    cfg["id2label"] = {str(i): LABELS[o] for i, o in enumerate(order)}
    cfg["label2id"] = {LABELS[o]: i for i, o in enumerate(order)}
    shuffled = write_folder(tmp_path / "s", sd, cfg)
    AutoModelForSequenceClassification.from_pretrained(shuffled)
    merge_models(
        [paths[0], shuffled],
        [1, 1],
        "fisher",
        output_dir=tmp_path / "got",
        statistics=[stats[0], f1],
        head_merge="method",
        progress=False,
    )
    ref, got = read_state_dict(tmp_path / "ref"), read_state_dict(tmp_path / "got")
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], atol=1e-6, rtol=1e-5, msg=k)


def test_statistics_required_and_counted(models_dir, tmp_path):
    paths = [models_dir / "m0", models_dir / "m1"]
    with pytest.raises(MergeError, match="needs statistics"):
        merge_models(paths, [1, 1], "fisher", output_dir=tmp_path / "o", progress=False)
    with pytest.raises(MergeError, match="one per model"):
        merge_models(paths, [1, 1], "fisher", output_dir=tmp_path / "o", statistics=[{}], progress=False)


# ---------------------------------------------------------------- statistics


def _brute_force_fisher(model, batches, estimator):
    """Per example, per class: a fresh forward and backward, with the padding cut off by hand."""
    params = dict(model.named_parameters())
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for batch in batches:
        for r in range(batch["input_ids"].shape[0]):
            length = int(batch["attention_mask"][r].sum())
            ids = batch["input_ids"][r, :length].unsqueeze(0)
            with torch.no_grad():
                probs = torch.softmax(model(input_ids=ids).logits[0], -1)
            classes = range(probs.numel()) if estimator == "expected" else [int(batch["labels"][r])]
            for y in classes:
                model.zero_grad()
                torch.log_softmax(model(input_ids=ids).logits[0], -1)[y].backward()
                q = float(probs[y]) if estimator == "expected" else 1.0
                for n, p in params.items():
                    acc[n] += q * p.grad.detach() ** 2
            count += 1
    return {n: a / count for n, a in acc.items()}


@pytest.mark.parametrize("estimator", ["expected", "empirical"])
def test_fisher_diagonal_matches_brute_force(estimator):
    model = make_classifier(11)
    batches = _batches(2, 3, seed=4)
    got = fisher_diagonal(model, batches, estimator=estimator)
    exp = _brute_force_fisher(model, batches, estimator)
    assert set(got) == set(exp)
    for n in exp:
        torch.testing.assert_close(got[n], exp[n], rtol=1e-5, atol=1e-12, msg=n)
    assert not model.training  # make_classifier returns eval; state is restored
    if estimator == "expected":
        batched = fisher_diagonal(model, batches, estimator="expected", class_backward="batched")
        for n in exp:
            torch.testing.assert_close(batched[n], exp[n], rtol=1e-5, atol=1e-12, msg=n)


def test_fisher_diagonal_sampled_and_num_examples():
    model = make_classifier(12).train()
    batches = _batches(2, 3, seed=5)
    a = fisher_diagonal(model, batches, estimator="sampled", seed=1)
    b = fisher_diagonal(model, batches, estimator="sampled", seed=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert model.training
    first4 = fisher_diagonal(model, batches, estimator="empirical", num_examples=4)
    manual = _brute_force_fisher(
        model.eval(), [batches[0], {k: v[:1] for k, v in batches[1].items()}], "empirical"
    )
    for n in manual:
        torch.testing.assert_close(first4[n], manual[n], rtol=1e-5, atol=1e-12)
    with pytest.raises(MergeError, match="labels"):
        fisher_diagonal(
            model, [{k: v for k, v in batches[0].items() if k != "labels"}], estimator="empirical"
        )
    with pytest.raises(MergeError, match="unknown estimator"):
        fisher_diagonal(model, batches, estimator="true")  # type: ignore[arg-type]


def test_gram_matrices_exclude_padding():
    model = make_classifier(13)
    batches = _batches(2, 4, seed=6)
    grams = gram_matrices(model, batches)
    linear_names = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert set(grams) == linear_names
    # manual: the input of layer-0 query is the embedding output, of layer-1 query the layer-0 output
    manual0 = torch.zeros(16, 16, dtype=torch.float64)
    manual1 = torch.zeros(16, 16, dtype=torch.float64)
    singles = {n: torch.zeros_like(g, dtype=torch.float64) for n, g in grams.items()}
    for batch in batches:
        with torch.no_grad():
            hs = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                output_hidden_states=True,
            ).hidden_states
        keep = batch["attention_mask"].bool()
        manual0 += hs[0][keep].double().T @ hs[0][keep].double()
        manual1 += hs[1][keep].double().T @ hs[1][keep].double()
        for r in range(batch["input_ids"].shape[0]):
            length = int(batch["attention_mask"][r].sum())
            g1 = gram_matrices(model, [{"input_ids": batch["input_ids"][r : r + 1, :length]}])
            for n in singles:
                singles[n] += g1[n].double()
    torch.testing.assert_close(
        grams["roberta.encoder.layer.0.attention.self.query"].double(), manual0, rtol=1e-5, atol=1e-4
    )
    torch.testing.assert_close(
        grams["roberta.encoder.layer.1.attention.self.query"].double(), manual1, rtol=1e-5, atol=1e-4
    )
    for n in singles:  # padded batches == unpadded single examples, for every layer incl. the head
        torch.testing.assert_close(grams[n].double(), singles[n], rtol=1e-4, atol=1e-4, msg=n)
    avg = gram_matrices(model, batches, average=True, num_examples=3)
    assert avg["classifier.out_proj"].shape == (16, 16)


def test_statistics_cache(tmp_path):
    cache = StatisticsCache(tmp_path / "cache")
    key = StatisticsCache.make_key("modelhash", {"split": "train", "n": 100}, "expected", 100)
    assert key == StatisticsCache.make_key("modelhash", {"n": 100, "split": "train"}, "expected", 100)
    assert cache.get(key) is None and key not in cache
    t = {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(2)}
    cache.put(key, t)
    assert key in cache
    got = cache.get(key)
    assert set(got) == {"a", "b"} and torch.equal(got["a"], t["a"])
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{key}.safetensors"]
    with pytest.raises(MergeError, match="invalid cache key"):
        cache.path("../x")
