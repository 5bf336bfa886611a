"""Public API and the ``linear`` method, end to end on tiny XLM-R classifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from auto_merge_llm import MergeError, MergeResult, get_method, list_methods, merge_models
from engine_testutils import (
    LABELS,
    make_classifier,
    read_state_dict,
    save_classifier,
    tiny_config,
    write_folder,
)


def _expected_linear(paths, weights, normalize=True):
    sds = [read_state_dict(p) for p in paths]
    w = torch.tensor(weights, dtype=torch.float64)
    if normalize:
        w = w / w.sum()
    return {k: sum(float(wi) * sd[k].double() for wi, sd in zip(w, sds)).float() for k in sds[0]}


def _assert_sd_close(actual, expected, atol=1e-6):
    assert set(actual) == set(expected)
    for k in expected:
        torch.testing.assert_close(actual[k], expected[k], atol=atol, rtol=1e-5, msg=k)


def test_list_and_get_methods():
    names = [m.name for m in list_methods()]
    assert "linear" in names
    info = get_method("linear")
    assert not info.needs_base and not info.needs_statistics
    with pytest.raises(MergeError, match="Did you mean 'linear'"):
        get_method("linaer")


def test_linear_matches_weighted_average(models_dir, tmp_path):
    paths = [models_dir / f"m{i}" for i in range(3)]
    weights = [0.5, 0.3, 0.2]
    res = merge_models(paths, weights, "linear", output_dir=tmp_path / "out", progress=False)
    assert isinstance(res, MergeResult)
    _assert_sd_close(read_state_dict(tmp_path / "out"), _expected_linear(paths, weights))
    d = res.to_dict()
    json.dumps(d)
    assert d["weights_normalized"] is True and d["method"] == "linear"
    assert d["label_names"] == LABELS and d["label_permutations"] == [None, None, None]
    assert "classifier.out_proj.weight" in d["head_param_names"]
    assert res.num_tensors == len(read_state_dict(paths[0]))
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert not (tmp_path / "out" / "tokenizer.json").exists()


def test_linear_normalisation_on_off(models_dir, tmp_path):
    paths = [models_dir / "m0", models_dir / "m1"]
    r1 = merge_models(paths, [2.0, 6.0], output_dir=tmp_path / "a", progress=False)
    _assert_sd_close(read_state_dict(tmp_path / "a"), _expected_linear(paths, [0.25, 0.75], normalize=False))
    assert r1.weights_used == [0.25, 0.75] and r1.weights_given == [2.0, 6.0]
    r2 = merge_models(paths, [0.5, 0.25], output_dir=tmp_path / "b", normalize_weights=False, progress=False)
    _assert_sd_close(read_state_dict(tmp_path / "b"), _expected_linear(paths, [0.5, 0.25], normalize=False))
    assert r2.weights_normalized is False and r2.weights_used == [0.5, 0.25]


def test_single_model_is_identity(models_dir, tmp_path):
    merge_models([models_dir / "m1"], [3.0], output_dir=tmp_path / "o", progress=False)
    src, out = read_state_dict(models_dir / "m1"), read_state_dict(tmp_path / "o")
    for k in src:
        assert torch.equal(src[k], out[k]), k


def _shuffled_copy(src: Path, dst: Path, order: list[int]) -> Path:
    """Same model, labels stored in ``order`` (new id j = old id order[j]), head rows permuted to match."""
    sd = read_state_dict(src)
    cfg = json.loads((src / "config.json").read_text())
    labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    new_labels = [labels[o] for o in order]
    idx = torch.tensor(order)
    for k in ("classifier.out_proj.weight", "classifier.out_proj.bias"):
        sd[k] = sd[k].index_select(0, idx)
    cfg["id2label"] = {str(i): lab for i, lab in enumerate(new_labels)}
    cfg["label2id"] = {lab: i for i, lab in enumerate(new_labels)}
    return write_folder(dst, sd, cfg)


def test_label_permutation_aligns_by_name(models_dir, tmp_path):
    order = [2, 0, 3, 1]
    shuffled = _shuffled_copy(models_dir / "m1", tmp_path / "m1_shuffled", order)
    ref = merge_models(
        [models_dir / "m0", models_dir / "m1"], [0.6, 0.4], output_dir=tmp_path / "ref", progress=False
    )
    got = merge_models([models_dir / "m0", shuffled], [0.6, 0.4], output_dir=tmp_path / "got", progress=False)
    _assert_sd_close(read_state_dict(tmp_path / "got"), read_state_dict(tmp_path / "ref"))
    assert ref.label_permutations == [None, None]
    # out[j] = model[perm[j]]: label j of the output sits at row perm[j] of the shuffled model
    assert got.label_permutations[1] == [order.index(j) for j in range(4)]
    # shuffled model first: output follows its label order unless label_names is given
    got2 = merge_models(
        [shuffled, models_dir / "m0"],
        [0.4, 0.6],
        output_dir=tmp_path / "got2",
        label_names=LABELS,
        progress=False,
    )
    _assert_sd_close(read_state_dict(tmp_path / "got2"), read_state_dict(tmp_path / "ref"))
    assert got2.label_names == LABELS
    cfg = json.loads((tmp_path / "got2" / "config.json").read_text())
    assert cfg["id2label"] == {str(i): lab for i, lab in enumerate(LABELS)}


def test_output_label_order_follows_first_model(models_dir, tmp_path):
    order = [3, 2, 1, 0]
    shuffled = _shuffled_copy(models_dir / "m0", tmp_path / "s", order)
    merge_models([shuffled, models_dir / "m1"], [1, 1], output_dir=tmp_path / "o", progress=False)
    cfg = json.loads((tmp_path / "o" / "config.json").read_text())
    assert [cfg["id2label"][str(i)] for i in range(4)] == [LABELS[o] for o in order]
    assert cfg["label2id"] == {LABELS[o]: i for i, o in enumerate(order)}


def test_mismatched_label_sets_raise(models_dir, tmp_path):
    other = save_classifier(
        make_classifier(5, labels=["alarm_set", "weather_query", "play_music", "cooking_recipe"]),
        tmp_path / "x",
    )
    with pytest.raises(MergeError, match=r"missing \['news_query'\].*extra \['cooking_recipe'\]"):
        merge_models([models_dir / "m0", other], [1, 1], output_dir=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_mismatched_shapes_raise(models_dir, tmp_path):
    other = save_classifier(make_classifier(5, hidden=8), tmp_path / "x")
    with pytest.raises(MergeError, match=r"parameter '.*' has shape .* in model 0 .* in model 1"):
        merge_models([models_dir / "m0", other], [1, 1], output_dir=tmp_path / "o", progress=False)


def test_mismatched_architecture_and_names_raise(models_dir, tmp_path):
    sd = read_state_dict(models_dir / "m0")
    cfg = json.loads((models_dir / "m0" / "config.json").read_text())
    bert = write_folder(tmp_path / "bert", sd, {**cfg, "model_type": "bert"})
    with pytest.raises(MergeError, match="model_type 'bert'"):
        merge_models([models_dir / "m0", bert], [1, 1], output_dir=tmp_path / "o1", progress=False)
    sd.pop("classifier.dense.bias")
    fewer = write_folder(tmp_path / "fewer", sd, cfg)
    with pytest.raises(MergeError, match="'classifier.dense.bias' is not present"):
        merge_models([models_dir / "m0", fewer], [1, 1], output_dir=tmp_path / "o2", progress=False)


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ([1.0, -1.0], ">= 0"),
        ([0.0, 0.0], "all zero"),
        ([1.0], "one weight per model"),
        ([1.0, float("nan")], "finite"),
    ],
)
def test_bad_weights_raise(models_dir, tmp_path, weights, pattern):
    with pytest.raises(MergeError, match=pattern):
        merge_models(
            [models_dir / "m0", models_dir / "m1"], weights, output_dir=tmp_path / "o", progress=False
        )


def test_other_user_errors(models_dir, tmp_path):
    paths = [models_dir / "m0", models_dir / "m1"]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(MergeError, match="not empty"):
        merge_models(paths, [1, 1], output_dir=tmp_path / "full", progress=False)
    with pytest.raises(MergeError, match="unknown merge method"):
        merge_models(paths, [1, 1], method="tie", output_dir=tmp_path / "o", progress=False)
    with pytest.raises(MergeError, match="unknown parameter"):
        merge_models(paths, [1, 1], method_params={"density": 0.2}, output_dir=tmp_path / "o", progress=False)
    with pytest.raises(MergeError, match="head_merge"):
        merge_models(paths, [1, 1], head_merge="avg", output_dir=tmp_path / "o", progress=False)
    with pytest.raises(MergeError, match="does not exist"):
        merge_models([tmp_path / "nope", paths[0]], [1, 1], output_dir=tmp_path / "o", progress=False)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps(tiny_config().to_dict()))
    torch.save({"w": torch.zeros(1)}, pickled / "pytorch_model.bin")
    with pytest.raises(MergeError, match="safetensors"):
        merge_models([pickled, paths[0]], [1, 1], output_dir=tmp_path / "o", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(MergeError, match="CUDA is not available"):
            merge_models(paths, [1, 1], device="cuda", output_dir=tmp_path / "o", progress=False)


def test_empty_existing_output_dir_is_accepted(models_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    merge_models([models_dir / "m0"], [1], output_dir=tmp_path / "empty", progress=False)
    assert (tmp_path / "empty" / "model.safetensors").is_file()


def test_sharded_input_and_output_roundtrip(tmp_path):
    from transformers import AutoModelForSequenceClassification

    a = save_classifier(make_classifier(1), tmp_path / "a", max_shard_size="20KB")
    b = save_classifier(make_classifier(2), tmp_path / "b", max_shard_size="20KB")
    assert (a / "model.safetensors.index.json").is_file()
    res = merge_models([a, b], [0.7, 0.3], output_dir=tmp_path / "out", max_shard_size="20KB", progress=False)
    out = tmp_path / "out"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 1 and set(index["weight_map"].values()) == set(shards)
    assert res.output_files == shards
    expected = _expected_linear([a, b], [0.7, 0.3])
    _assert_sd_close(read_state_dict(out), expected)
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.id2label == dict(enumerate(LABELS))
    loaded = model.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(loaded[k], v, atol=1e-6, rtol=1e-5)


def test_merged_folder_loads_and_predicts(models_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    merge_models([models_dir / "m0", models_dir / "m2"], [1, 1], output_dir=tmp_path / "o", progress=False)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "o").eval()
    assert model.config.label2id == {lab: i for i, lab in enumerate(LABELS)}
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[0, 5, 6, 2]])).logits
    assert logits.shape == (1, 4)


def test_bf16_input_written_in_input_dtype(tmp_path):
    m = make_classifier(3).to(torch.bfloat16)
    a = save_classifier(m, tmp_path / "a")
    b = save_classifier(make_classifier(4).to(torch.bfloat16), tmp_path / "b")
    merge_models([a, b], [1, 3], output_dir=tmp_path / "o", progress=False)
    out = read_state_dict(tmp_path / "o")
    sa, sb = read_state_dict(a), read_state_dict(b)
    for k in out:
        assert out[k].dtype == torch.bfloat16
        exp = (0.25 * sa[k].float() + 0.75 * sb[k].float()).to(torch.bfloat16)
        torch.testing.assert_close(out[k], exp, atol=0, rtol=0)


@pytest.mark.parametrize("policy", ["first", "keep_first", "highest_weight"])
def test_head_policies(models_dir, tmp_path, policy):
    paths = [models_dir / "m0", models_dir / "m1"]
    res = merge_models(paths, [0.3, 0.7], head_merge=policy, output_dir=tmp_path / "o", progress=False)
    out = read_state_dict(tmp_path / "o")
    src = read_state_dict(paths[1] if policy == "highest_weight" else paths[0])
    exp = _expected_linear(paths, [0.3, 0.7])
    for k in out:
        if k.startswith("classifier."):
            assert torch.equal(out[k], src[k]), k
        else:
            torch.testing.assert_close(out[k], exp[k], atol=1e-6, rtol=1e-5)
    assert res.head_merge == policy
