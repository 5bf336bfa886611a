"""I/O layer: lazy safetensors reader, sharded writer, size parsing."""

from __future__ import annotations

import json

import pytest
import torch
from auto_merge_llm import MergeError, merge_models
from auto_merge_llm.io import CheckpointReader, PlannedShardWriter, parse_size
from safetensors.torch import load_file, save_file


def test_parse_size():
    assert parse_size("2GB") == 2 * 10**9
    assert parse_size("1GiB") == 2**30
    assert parse_size("500kb") == 500_000
    assert parse_size(123) == 123
    for bad in ("two GB", 0, -5, True):
        with pytest.raises(MergeError):
            parse_size(bad)


def test_reader_reads_every_dtype_lazily(tmp_path):
    tensors = {
        "a": torch.randn(3, 4),
        "b": torch.randn(5).to(torch.bfloat16),
        "c": torch.arange(6, dtype=torch.int64).view(2, 3),
        "d": torch.randn(2, 2).half(),
        "e": torch.zeros(0, 3),
    }
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    with CheckpointReader(tmp_path) as r:
        assert set(r.names) == set(tensors)
        for k, v in tensors.items():
            assert r.shape(k) == tuple(v.shape) and r.dtype(k) == v.dtype
            assert torch.equal(r.get(k), v)


def test_reader_rejects_corrupt_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    save_file({"a": torch.randn(100)}, str(tmp_path / "model.safetensors"))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[:-40])
    with pytest.raises(MergeError, match="corrupt or truncated"):
        CheckpointReader(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 4)
    with pytest.raises(MergeError, match="not a safetensors file"):
        CheckpointReader(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(MergeError, match="no \\*.safetensors"):
        CheckpointReader(tmp_path)


def test_reader_index_consistency(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    save_file({"a": torch.ones(2)}, str(tmp_path / "s1.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})
    )
    with pytest.raises(MergeError, match="missing"):
        CheckpointReader(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"b": "s1.safetensors"}})
    )
    with pytest.raises(MergeError, match="it is not there"):
        CheckpointReader(tmp_path)


def test_sharded_writer(tmp_path):
    tensors = {f"t{i}": torch.full((10,), float(i)) for i in range(5)}  # 40 bytes each -> 2 per shard
    tensors["big"] = torch.zeros(100)  # 400 bytes -> its own shard
    w = PlannedShardWriter(tmp_path, [(k, v.dtype, v.shape) for k, v in tensors.items()], max_shard_size=100)
    for k, v in tensors.items():
        w.write(k, v)
    files = w.finalize()
    assert files == [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == 5 * 40 + 400
    got = {}
    for f in files:
        got.update(load_file(str(tmp_path / f)))
    assert set(got) == set(tensors) and all(torch.equal(got[k], v) for k, v in tensors.items())
    assert not list(tmp_path.glob("*.tmp"))


def test_device_auto(models_dir, tmp_path):
    res = merge_models([models_dir / "m0"], [1], output_dir=tmp_path / "o", device="auto", progress=False)
    assert res.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_head_detection_and_output_layer():
    from auto_merge_llm.heads import is_head_param, output_layer_params

    assert is_head_param("classifier.out_proj.weight") and is_head_param("score.weight")
    assert not is_head_param("roberta.encoder.layer.0.output.dense.weight")
    xlmr = {
        "roberta.pooler.dense.weight": (16, 16),
        "classifier.dense.weight": (16, 16),
        "classifier.dense.bias": (16,),
        "classifier.out_proj.weight": (4, 16),
        "classifier.out_proj.bias": (4,),
    }
    assert output_layer_params(xlmr, 4) == ["classifier.out_proj.bias", "classifier.out_proj.weight"]
    # hidden_size == num_labels: both head modules qualify; the known output name wins
    square = {**xlmr, "classifier.out_proj.weight": (16, 16), "classifier.out_proj.bias": (16,)}
    assert output_layer_params(square, 16) == ["classifier.out_proj.bias", "classifier.out_proj.weight"]
    distil = {
        "pre_classifier.weight": (8, 8),
        "pre_classifier.bias": (8,),
        "classifier.weight": (8, 8),
        "classifier.bias": (8,),
    }
    assert output_layer_params(distil, 8) == ["classifier.bias", "classifier.weight"]
    bert = {"bert.pooler.dense.weight": (8, 8), "classifier.weight": (3, 8), "classifier.bias": (3,)}
    assert output_layer_params(bert, 3) == ["classifier.bias", "classifier.weight"]
    assert output_layer_params({"classifier.a.weight": (5, 5), "classifier.b.weight": (5, 5)}, 5) == [
        "classifier.b.weight"
    ]
