"""Tensors that merging cannot change are copied, not merged: a tensor equal (bit for bit) in every source and,
for a method on task vectors, in the base (frozen word embeddings). Expectations are computed here from the
methods' formulas on the saved tensors."""

from __future__ import annotations

import pytest
import torch
from auto_merge_llm import MergeError, merge_models
from engine_testutils import make_classifier, read_state_dict, save_classifier
from safetensors.torch import load_file, save_file

FROZEN = "roberta.embeddings.word_embeddings.weight"
BASE_FROZEN = "embeddings.word_embeddings.weight"


@pytest.fixture(scope="module")
def frozen(tmp_path_factory, base_dir):
    """Three fine-tuned classifiers whose word embeddings are the base's (frozen during training)."""
    root = tmp_path_factory.mktemp("frozen")
    embedding = load_file(str(base_dir / "model.safetensors"))[BASE_FROZEN]
    paths = []
    for i in range(3):
        path = save_classifier(make_classifier(seed=200 + i), root / f"m{i}")
        state = load_file(str(path / "model.safetensors"))
        state[FROZEN] = embedding.clone()
        save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
        paths.append(path)
    return paths, embedding


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("task_arithmetic", {"lambda_": 0.7}),
        ("ties", {"density": 0.3}),
        ("dare", {"drop_rate": 0.5}),
        ("model_stock", {}),
        ("linear", {}),
        ("slerp", {"t": 0.3}),
    ],
)
def test_a_frozen_tensor_is_copied_and_the_rest_is_merged(frozen, base_dir, tmp_path, method, params):
    paths, embedding = frozen
    paths = paths[:2] if method == "slerp" else paths
    weights = [0.5, 0.5] if method == "slerp" else [0.2, 0.3, 0.5]
    result = merge_models(paths, weights, method, output_dir=tmp_path / "o", base_model=base_dir,
                          method_params=params, progress=False)  # fmt: skip
    out = read_state_dict(tmp_path / "o")
    assert torch.equal(
        out[FROZEN], embedding
    )  # bit for bit, for every method (model_stock's angle is 0/0 there)
    assert result.unchanged_tensors == 1
    if method == "task_arithmetic":  # every other tensor is still merged: base + λ Σ w τ
        base = read_state_dict(base_dir)
        sds = [read_state_dict(p) for p in paths]
        name = "roberta.encoder.layer.0.attention.self.query.weight"
        b = base[name.split(".", 1)[1]]
        expected = b + 0.7 * sum(w * (sd[name] - b) for w, sd in zip(weights, sds))
        torch.testing.assert_close(out[name], expected, atol=1e-6, rtol=1e-5)


def test_equal_sources_that_differ_from_the_base_are_merged(frozen, base_dir, tmp_path):
    """Equal task vectors are not zero task vectors: task arithmetic scales them."""
    paths, embedding = frozen
    shifted = []
    for i, path in enumerate(paths[:2]):
        state = load_file(str(path / "model.safetensors"))
        state[FROZEN] = embedding + 0.25
        folder = tmp_path / f"s{i}"
        folder.mkdir()
        for f in path.iterdir():
            if f.name != "model.safetensors":
                (folder / f.name).write_bytes(f.read_bytes())
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        shifted.append(folder)
    result = merge_models(shifted, [0.5, 0.5], "task_arithmetic", output_dir=tmp_path / "o", base_model=base_dir,
                          method_params={"lambda_": 2.0}, progress=False)  # fmt: skip
    out = read_state_dict(tmp_path / "o")
    torch.testing.assert_close(out[FROZEN], embedding + 2.0 * 0.25)
    assert result.unchanged_tensors == 0


def test_unnormalised_linear_weights_are_not_a_mean(frozen, tmp_path):
    """Weights summing to 2 (normalize off) double an equal tensor: no copy."""
    paths, embedding = frozen
    result = merge_models(paths[:2], [1.0, 1.0], "linear", output_dir=tmp_path / "o", normalize_weights=False,
                          progress=False)  # fmt: skip
    torch.testing.assert_close(read_state_dict(tmp_path / "o")[FROZEN], 2 * embedding)
    assert result.unchanged_tensors == 0


def test_an_equal_non_finite_tensor_is_still_refused(frozen, base_dir, tmp_path):
    paths, embedding = frozen
    broken = embedding.clone()
    broken[3, 1] = float("nan")
    folders = []
    for i, path in enumerate(paths[:2]):
        folder = tmp_path / f"n{i}"
        folder.mkdir()
        for f in path.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        state = load_file(str(folder / "model.safetensors"))
        state[FROZEN] = broken
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        folders.append(folder)
    with pytest.raises(MergeError, match="NaN/Inf"):
        merge_models(folders, [0.5, 0.5], "linear", output_dir=tmp_path / "o", progress=False)
    assert not list((tmp_path / "o").glob("*"))  # nothing written
