"""Layer-aware merging: where a parameter sits (auto_merge_llm.layers), ``layer_swap`` (Bandarkar et al. 2025)
and layer weights. Expectations are written out here from the formulas, on the saved tensors."""

from __future__ import annotations

import pytest
import torch
from auto_merge_llm import MergeError, merge_models, merge_tensors
from auto_merge_llm.layers import count_layers, depth, layer_group, layer_index
from engine_testutils import make_classifier, read_state_dict, save_classifier

LAYERS = 6


def test_layer_index_reads_the_block_of_each_family() -> None:
    assert layer_index("roberta.encoder.layer.11.attention.self.query.weight") == 11
    assert layer_index("model.layers.3.mlp.gate_proj.weight") == 3
    assert (
        layer_index("model.layers.2.block_sparse_moe.experts.5.w1.weight") == 2
    )  # the block, not the expert
    assert layer_index("transformer.h.0.attn.c_attn.weight") == 0
    assert layer_index("roberta.embeddings.word_embeddings.weight") is None
    assert layer_index("classifier.dense.weight") is None
    assert count_layers(["a.layer.0.w", "a.layer.4.w", "emb.weight"]) == 5
    assert count_layers(["emb.weight"]) == 0


def test_layer_groups_and_depth() -> None:
    assert layer_group("roberta.embeddings.LayerNorm.weight", 12) == "embeddings"
    assert layer_group("model.embed_tokens.weight", 12) == "embeddings"
    assert layer_group("transformer.wte.weight", 12) == "embeddings"
    assert layer_group("roberta.encoder.layer.5.output.dense.weight", 12) == "lower"
    assert layer_group("roberta.encoder.layer.6.output.dense.weight", 12) == "upper"
    assert layer_group("roberta.encoder.layer.2.output.dense.weight", 5) == "lower"  # ⌈5/2⌉ = 3 lower blocks
    assert layer_group("roberta.encoder.layer.3.output.dense.weight", 5) == "upper"
    assert layer_group("model.norm.weight", 12) == "upper"
    assert layer_group("classifier.out_proj.weight", 12) == "head"
    assert [depth(n, 4) for n in ("model.embed_tokens.weight", "model.layers.2.x", "model.norm.weight")] == [
        -1,
        2,
        4,
    ]
    assert depth("score.weight", 4) is None


def expert_share(d: int, bottom: int, top: int, transition: int, layers: int = LAYERS) -> float:
    """α written out for each depth: 1 in the expert's zones, ½ in the transition zones, 0 in the middle."""
    if d == -1:
        return float(bottom > 0)
    if d == layers:
        return float(top > 0)
    if d < bottom or d >= layers - top:
        return 1.0
    if (bottom > 0 and d < bottom + transition) or (top > 0 and d >= layers - top - transition):
        return 0.5
    return 0.0


@pytest.mark.parametrize(("bottom", "top", "transition"), [(2, 1, 1), (1, 0, 1), (0, 2, 0), (0, 0, 0)])
def test_layer_swap_is_the_expert_outside_and_the_average_inside(bottom, top, transition) -> None:
    torch.manual_seed(0)
    weights = [0.5, 0.3, 0.2]
    names = ["roberta.embeddings.word_embeddings.weight"]
    names += [f"roberta.encoder.layer.{i}.output.dense.weight" for i in range(LAYERS)]
    names += ["roberta.pooler.dense.weight"]
    for name in names:
        xs = [torch.randn(4, 3) for _ in weights]
        alpha = expert_share(depth(name, LAYERS), bottom, top, transition)
        average = sum(w * x for w, x in zip(weights, xs))
        expected = alpha * xs[0] + (1 - alpha) * average
        got = merge_tensors(
            "layer_swap", xs, weights, name=name, num_layers=LAYERS,
            method_params={"bottom": bottom, "top": top, "transition": transition},
        )  # fmt: skip
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_layer_swap_refuses_zones_larger_than_the_model_and_models_without_blocks() -> None:
    xs = [torch.ones(2), torch.zeros(2)]
    with pytest.raises(MergeError, match="exceed the models' 6 layers"):
        merge_tensors(
            "layer_swap", xs, name="encoder.layer.0.w", num_layers=LAYERS,
            method_params={"bottom": 3, "top": 2, "transition": 1},
        )  # fmt: skip
    with pytest.raises(MergeError, match="no transformer block"):
        merge_tensors("layer_swap", xs, name="fc.weight", num_layers=0)
    with pytest.raises(MergeError, match="bottom"):
        merge_tensors("layer_swap", xs, name="encoder.layer.0.w", num_layers=6, method_params={"bottom": -1})


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    """Three tiny classifiers with 6 transformer blocks."""
    root = tmp_path_factory.mktemp("deep")
    return [save_classifier(make_classifier(seed=300 + i, layers=LAYERS), root / f"m{i}") for i in range(3)]


def test_layer_swap_merges_folders_block_by_block(deep, tmp_path) -> None:
    weights = [0.2, 0.5, 0.3]
    result = merge_models(
        deep, weights, method="layer_swap", output_dir=tmp_path / "out",
        method_params={"bottom": 2, "top": 1, "transition": 1}, progress=False,
    )  # fmt: skip
    assert result.num_layers == LAYERS
    sds = [read_state_dict(p) for p in deep]
    merged = read_state_dict(tmp_path / "out")
    for name, value in merged.items():
        if name.startswith("classifier."):  # the head follows head_merge="linear"
            expected = sum(w * sd[name].float() for w, sd in zip(weights, sds))
        else:
            alpha = expert_share(depth(name, LAYERS), 2, 1, 1)
            average = sum(w * sd[name].float() for w, sd in zip(weights, sds))
            expected = alpha * sds[0][name].float() + (1 - alpha) * average
        torch.testing.assert_close(value.float(), expected, rtol=1e-6, atol=1e-6, msg=name)
    # the expert's own blocks are its tensors bit for bit
    assert torch.equal(
        merged["roberta.encoder.layer.0.output.dense.weight"],
        sds[0]["roberta.encoder.layer.0.output.dense.weight"],
    )


def test_layer_weights_replace_the_model_weights_per_group(deep, tmp_path) -> None:
    weights = [1.0, 1.0, 1.0]
    groups = {"embeddings": [1, 0, 0], "lower": [0, 2, 2], "head": [0, 0, 5]}
    result = merge_models(
        deep, weights, method="linear", output_dir=tmp_path / "out", layer_weights=groups, progress=False
    )
    assert result.layer_weights_used == {"embeddings": [1.0, 0.0, 0.0], "lower": [0.0, 0.5, 0.5],
                                         "head": [0.0, 0.0, 1.0]}  # fmt: skip
    sds = [read_state_dict(p) for p in deep]
    used = {"embeddings": [1, 0, 0], "lower": [0, 0.5, 0.5], "upper": [1 / 3] * 3, "head": [0, 0, 1]}
    for name, value in read_state_dict(tmp_path / "out").items():
        w = used[layer_group(name, LAYERS)]
        expected = sum(wi * sd[name].float() for wi, sd in zip(w, sds))
        torch.testing.assert_close(value.float(), expected, rtol=1e-6, atol=1e-6, msg=name)


def test_layer_weights_apply_to_task_vector_methods_too(deep, tmp_path) -> None:
    """TIES with the lower blocks from model 1 only: there it is θ₀ + λ·trim(τ₁) (one model: no sign conflict)."""
    deep_base = save_classifier(make_classifier(seed=399, layers=LAYERS), tmp_path / "base")
    merge_models(
        deep, [1, 1, 1], method="ties", output_dir=tmp_path / "out", base_model=deep_base,
        method_params={"density": 1.0}, layer_weights={"lower": [0, 1, 0]}, progress=False,
    )  # fmt: skip
    m1 = read_state_dict(deep[1])
    merged = read_state_dict(tmp_path / "out")
    name = "roberta.encoder.layer.1.attention.self.query.weight"
    torch.testing.assert_close(merged[name], m1[name], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(
        merged[name.replace("layer.1", "layer.4")], m1[name.replace("layer.1", "layer.4")]
    )


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"middle": [1, 1, 1]}, "unknown layer group 'middle'"),
        ({"lower": [1, 1]}, "weights of group 'lower'"),
        ({"head": [0, 0, 0]}, "weights of group 'head'"),
    ],
)
def test_bad_layer_weights_are_refused_before_any_file_is_written(deep, tmp_path, groups, message) -> None:
    with pytest.raises(MergeError, match=message):
        merge_models(deep, [1, 1, 1], output_dir=tmp_path / "out", layer_weights=groups, progress=False)
    assert not (tmp_path / "out").exists()


def test_fused_expert_stacks_are_merged_expert_by_expert(tmp_path) -> None:
    """A checkpoint that stores a layer's experts as one (E, out, in) tensor: each expert is merged as its own
    tensor (TIES trims each expert's task vector by its own magnitudes), the results stacked."""
    from engine_testutils import write_folder

    torch.manual_seed(1)
    name = "model.layers.0.mlp.experts.gate_up_proj"
    config = {"model_type": "mixtral", "num_local_experts": 3}
    base = {name: torch.randn(3, 4, 5), "model.layers.0.mlp.gate.weight": torch.randn(3, 5)}
    write_folder(tmp_path / "base", base, config)
    paths = []
    for i in range(2):
        state = {k: v + torch.randn_like(v) * (1 + 3 * (k == name)) for k, v in base.items()}
        state[name][1] *= 10  # one expert with much larger updates: a joint trim would keep only its entries
        paths.append(write_folder(tmp_path / f"m{i}", state, config))
    merge_models(paths, [0.6, 0.4], method="ties", output_dir=tmp_path / "out", base_model=tmp_path / "base",
                 method_params={"density": 0.3}, progress=False)  # fmt: skip
    merged, sds = read_state_dict(tmp_path / "out"), [read_state_dict(p) for p in paths]
    for e in range(3):
        expected = merge_tensors("ties", [sd[name][e] for sd in sds], [0.6, 0.4], base=base[name][e],
                                 method_params={"density": 0.3})  # fmt: skip
        torch.testing.assert_close(merged[name][e], expected, msg=f"expert {e}")
    assert not torch.equal(merged[name][0], base[name][0])  # expert 0 kept its own top entries
