"""Streamed merging (accumulators, row chunks, planned shard writes) against the whole-tensor math, DARE mask
streams, out_dtype, non-finite refusal and corrupt files. Expectations come from reference code in this file
(the pre-streaming whole-tensor formulas) or from the library's whole-tensor method functions, compared bit for
bit."""

from __future__ import annotations

import json
import weakref

import pytest
import torch
from auto_merge_llm import MergeError, get_method, merge_models, merge_tensors
from auto_merge_llm import engine as engine_mod
from auto_merge_llm.io import CheckpointReader, PlannedShardWriter, SafetensorsFile
from auto_merge_llm.methods import _common
from auto_merge_llm.methods._common import MagnitudeCut, RankWindow, kth_largest_abs, magnitude_mask
from auto_merge_llm.methods.breadcrumbs import breadcrumbs_mask
from auto_merge_llm.methods.dare import DareMaskStream, dare_mask
from engine_testutils import make_classifier, read_state_dict, save_classifier, write_folder
from safetensors.torch import save_file

STREAMED = [
    ("linear", {}),
    ("task_arithmetic", {"lambda_": 0.7}),
    ("ties", {"density": 0.3, "lambda_": 1.2}),
    ("ties", {"density": 1.0}),
    ("dare", {"drop_rate": 0.4, "lambda_": 0.9}),
    ("dare", {"drop_rate": 0.3, "dare_combine": "ties", "rescale": False}),
    ("breadcrumbs", {"density": 0.6, "gamma": 0.1}),
    ("breadcrumbs", {"density": 0.9, "gamma": 0.0}),
]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int16 if t.element_size() == 2 else torch.int32)


def _assert_bitwise(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(_bits(a[k]), _bits(b[k])), k


@pytest.fixture()
def tiny_chunks(monkeypatch):
    """Force many row chunks and flat chunks on tiny models (chunk boundaries inside every tensor)."""
    monkeypatch.setattr(engine_mod, "ROW_CHUNK_BYTES", 700)
    monkeypatch.setattr(_common, "FLAT_CHUNK", 37)
    monkeypatch.setattr(_common, "CACHE_CHUNK", 29)
    monkeypatch.setattr(_common, "SMALL_SELECT", 0)  # the radix selection, chunk by chunk, for every tensor


@pytest.fixture(scope="module")
def five_models(tmp_path_factory):
    """Five bf16-rounded classifiers (many equal magnitudes, exact sign ties) stored as float32."""
    root = tmp_path_factory.mktemp("five")
    paths = []
    for i in range(5):
        m = make_classifier(seed=300 + i)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(p.to(torch.bfloat16).float())
        paths.append(save_classifier(m, root / f"m{i}"))
    return paths


@pytest.mark.parametrize(("method", "params"), STREAMED)
@pytest.mark.parametrize("k", [3, 5])
def test_streamed_equals_whole_tensor_function(
    method, params, k, five_models, base_dir, tmp_path, tiny_chunks
):
    info = get_method(method)
    paths, weights = five_models[:k], [0.1, 0.3, 0.2, 0.25, 0.15][:k]
    base = base_dir if info.needs_base else None
    merge_models(paths, weights, method, output_dir=tmp_path / "s", base_model=base, method_params=params,
                 seed=7, progress=False)  # fmt: skip
    factory = info.streamed
    try:
        object.__setattr__(info, "streamed", None)
        merge_models(paths, weights, method, output_dir=tmp_path / "w", base_model=base, method_params=params,
                     seed=7, progress=False)  # fmt: skip
    finally:
        object.__setattr__(info, "streamed", factory)
    _assert_bitwise(read_state_dict(tmp_path / "s"), read_state_dict(tmp_path / "w"))


# ---------------------------------------------------------------- independent reference (old whole-tensor code)


def _old_magnitude_mask(t, density):
    flat = t.reshape(-1).abs()
    n = flat.numel()
    k = max(0, min(n, int(round(density * n))))
    if k in (0, n):
        return torch.full_like(t, k == n, dtype=torch.bool)
    threshold = torch.kthvalue(flat, n - k + 1).values
    mask = flat > threshold
    need = k - int(mask.sum())
    if need > 0:
        mask[torch.nonzero(flat == threshold).squeeze(1)[:need]] = True
    return mask.view_as(t)


def _old_ties(base, xs, w, density, lam):
    """The pre-streaming TIES code: stack + sum(dim=0). For K <= 4 torch sums in model order."""
    trimmed = torch.stack([(x - base) * _old_magnitude_mask(x - base, density) for x in xs])
    wt = torch.tensor(w).view(-1, *([1] * base.dim()))
    sign = torch.sign((trimmed * wt).sum(dim=0))
    majority = torch.sign(sign.sum())
    majority = torch.ones(()) if majority == 0 else majority
    sign = torch.where(sign == 0, majority, sign)
    agree = (torch.sign(trimmed) == sign.unsqueeze(0)) & (trimmed != 0)
    ww = wt.expand_as(trimmed)
    num = (trimmed * ww * agree).sum(dim=0)
    den = (ww * agree).sum(dim=0)
    return base + lam * torch.where(
        den > 0, num / den.clamp_min(torch.finfo(num.dtype).tiny), torch.zeros_like(num)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_ties_equals_old_whole_tensor_code(seed, tmp_path, tiny_chunks):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(41, 13, generator=g).bfloat16().float()
    xs = [(base + torch.randn(41, 13, generator=g)).bfloat16().float() for _ in range(3)]
    xs[1][:5] = 2 * base[:5] - xs[0][:5]  # opposite task vectors: exact sign ties
    w = [1 / 3, 1 / 3, 1 / 3]
    cfg = {"model_type": "bert", "id2label": {"0": "a"}}
    paths = [
        write_folder(tmp_path / f"m{i}", {"enc.w": x, "classifier.bias": torch.zeros(1)}, cfg)
        for i, x in enumerate(xs)
    ]
    bdir = write_folder(tmp_path / "base", {"enc.w": base}, {"model_type": "bert"})
    merge_models(paths, [1, 1, 1], "ties", output_dir=tmp_path / "o", base_model=bdir,
                 method_params={"density": 0.4, "lambda_": 1.0}, progress=False)  # fmt: skip
    got = read_state_dict(tmp_path / "o")["enc.w"]
    assert torch.equal(_bits(got), _bits(_old_ties(base, xs, w, 0.4, 1.0)))


def test_majority_minus_one_patch_matches_whole_tensor(tmp_path, tiny_chunks):
    """Most elected signs negative and exact ties in the first chunk: the deferred majority must be −1."""
    base = torch.zeros(30, 4)
    a = -torch.rand(30, 4, generator=torch.Generator().manual_seed(3)) - 0.5
    b = a.clone()
    a[0], b[0] = 1.0, -1.0  # row 0: weighted sum 0, non-zero entries: resolved by the majority (−1)
    out = merge_tensors("ties", [a, b], [1, 1], base=base, method_params={"density": 1.0})
    assert torch.all(out[0] == -1.0)
    cfg = {"model_type": "bert", "id2label": {"0": "a"}}
    paths = [write_folder(tmp_path / f"m{i}", {"enc.w": x}, cfg) for i, x in enumerate((a, b))]
    bdir = write_folder(tmp_path / "base", {"enc.w": base}, {"model_type": "bert"})
    merge_models(paths, [1, 1], "ties", output_dir=tmp_path / "o", base_model=bdir,
                 method_params={"density": 1.0}, progress=False)  # fmt: skip
    assert torch.equal(_bits(read_state_dict(tmp_path / "o")["enc.w"]), _bits(out))


@pytest.mark.parametrize("small_select", [0, 1 << 18], ids=["radix", "kthvalue"])
def test_selection_and_masks_match_sorting(monkeypatch, small_select):
    monkeypatch.setattr(_common, "FLAT_CHUNK", 53)
    monkeypatch.setattr(_common, "SMALL_SELECT", small_select)
    t = torch.randn(3001, generator=torch.Generator().manual_seed(1)).bfloat16().float()
    t[:40] = 0.0
    t[40:50] = -0.0
    srt = t.abs().sort(descending=True).values
    for k in (1, 2, 17, 1500, 2960, 3001):
        ((v, above),) = kth_largest_abs(t, [k])
        assert float(v) == float(srt[k - 1]) and above == int((t.abs() > v).sum())
    for density in (0.0, 0.013, 0.37, 0.5, 0.99, 1.0):
        cut = MagnitudeCut(t, density)
        streamed = torch.cat([cut.mask(c) for c in t.split(97)])
        assert torch.equal(streamed, magnitude_mask(t, density)) and torch.equal(
            streamed, _old_magnitude_mask(t, density)
        )
    for density, gamma in ((0.9, 0.01), (0.5, 0.1), (0.2, 0.0), (0.0, 0.3), (0.7, 0.3), (1.0, 0.0)):
        window = RankWindow(t, density, gamma)
        streamed = torch.cat([window.mask(c) for c in t.split(89)])
        assert torch.equal(streamed, breadcrumbs_mask(t, density, gamma)), (density, gamma)


def test_dare_mask_stream_is_bitwise_the_whole_mask():
    for shape, pieces in (
        ((1000, 37), [1, 7, 500, 492]),
        ((100003,), [15, 16, 17, 4096, 95859]),
        ((9, 3), [9]),
    ):
        full = dare_mask(torch.Size(shape), 0.6, 11, "enc.w", 2)
        stream = DareMaskStream(0.6, 11, "enc.w", 2)
        got = torch.cat([stream.next((p, *shape[1:]), torch.device("cpu")) for p in pieces])
        assert torch.equal(got, full)


# ---------------------------------------------------------------- memory behaviour


def test_streamed_reads_hold_one_whole_tensor(five_models, base_dir, tmp_path, monkeypatch):
    """Accumulators see one model at a time through one mapped view or one shared buffer; TIES holds only
    row chunks of the K models; no read allocates a fresh whole tensor for a streamed parameter."""
    live = {"mapped": 0, "max_mapped": 0, "fresh": []}
    orig_mapped, orig_read = SafetensorsFile.mapped, SafetensorsFile.read

    def mapped(self, name):
        from contextlib import contextmanager

        @contextmanager
        def ctx():
            live["mapped"] += 1
            live["max_mapped"] = max(live["max_mapped"], live["mapped"])
            with orig_mapped(self, name) as t:
                yield t
            live["mapped"] -= 1

        return ctx()

    def read(self, name, out=None):
        if out is None:
            live["fresh"].append(name)
        return orig_read(self, name, out)

    monkeypatch.setattr(SafetensorsFile, "mapped", mapped)
    monkeypatch.setattr(SafetensorsFile, "read", read)
    monkeypatch.setattr(engine_mod, "ROW_CHUNK_BYTES", 4096)
    streamers = []
    orig_init = engine_mod._Streamer.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        streamers.append(self)

    monkeypatch.setattr(engine_mod._Streamer, "__init__", init)
    big = "roberta.embeddings.word_embeddings.weight"
    for method in ("linear", "task_arithmetic", "ties"):
        live["fresh"].clear()
        merge_models(five_models, [1] * 5, method, output_dir=tmp_path / method, progress=False,
                     base_model=base_dir if method != "linear" else None)  # fmt: skip
        assert big not in live["fresh"], method
        scratch = streamers[-1]._scratch
        nbytes = 100 * 16 * 4
        assert scratch[0].numel() <= nbytes  # one shared whole-tensor buffer, whatever K
        assert sum(s.numel() for s in scratch[1:-1]) <= max(4096, 5 * 16 * 4)  # row chunks of all K models
    assert live["max_mapped"] == 1


# ---------------------------------------------------------------- out_dtype


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", torch.float32])
def test_out_dtype(models_dir, base_dir, tmp_path, dtype):
    paths = [models_dir / "m0", models_dir / "m1"]
    res = merge_models(paths, [1, 3], "task_arithmetic", output_dir=tmp_path / "o", base_model=base_dir,
                       out_dtype=dtype, progress=False)  # fmt: skip
    ref = merge_models(paths, [1, 3], "task_arithmetic", output_dir=tmp_path / "r", base_model=base_dir,
                       progress=False)  # fmt: skip
    want = dtype if isinstance(dtype, torch.dtype) else getattr(torch, dtype)
    out, f32 = read_state_dict(tmp_path / "o"), read_state_dict(tmp_path / "r")
    for k in out:
        assert out[k].dtype == want
        assert torch.equal(_bits(out[k]), _bits(f32[k].to(want)))
    assert res.out_dtype == str(want).removeprefix("torch.") and ref.out_dtype is None
    with pytest.raises(MergeError, match="unknown out_dtype"):
        merge_models(paths, [1, 1], output_dir=tmp_path / "x", out_dtype="int8", progress=False)


# ---------------------------------------------------------------- non-finite values


def _with_nan(src, dst, name, value=float("nan")):
    sd = read_state_dict(src)
    sd[name] = sd[name].clone()
    sd[name].view(-1)[3] = value
    return write_folder(dst, sd, json.loads((src / "config.json").read_text()))


@pytest.mark.parametrize(
    ("method", "name", "head_merge"),
    [
        ("linear", "roberta.encoder.layer.0.attention.self.query.weight", "linear"),
        ("task_arithmetic", "roberta.embeddings.word_embeddings.weight", "linear"),
        ("ties", "roberta.encoder.layer.1.output.dense.weight", "linear"),
        ("breadcrumbs", "roberta.embeddings.LayerNorm.weight", "linear"),
        ("dare", "roberta.encoder.layer.0.output.dense.bias", "linear"),
        ("slerp", "roberta.encoder.layer.0.output.dense.bias", "linear"),
        ("linear", "classifier.out_proj.weight", "first"),
    ],
)
def test_nonfinite_source_is_refused_naming_the_tensor(
    models_dir, base_dir, tmp_path, method, name, head_merge
):
    bad = _with_nan(
        models_dir / "m1", tmp_path / "bad", name, float("inf") if method == "ties" else float("nan")
    )
    paths = [models_dir / "m0", bad, models_dir / "m2"]
    kw = {
        "base_model": base_dir if get_method(method).needs_base else None,
        "head_merge": head_merge,
        "progress": False,
    }
    with pytest.raises(MergeError, match=rf"model 1 .*tensor '{name}' has 1 NaN/Inf.*allow_nonfinite"):
        merge_models(paths, [1, 1, 1], method, output_dir=tmp_path / "o", **kw)
    assert not (tmp_path / "o" / "config.json").exists() and not list((tmp_path / "o").glob("*"))
    res = merge_models(paths, [1, 1, 1], method, output_dir=tmp_path / "ok", allow_nonfinite=True, **kw)
    assert res.allow_nonfinite and (tmp_path / "ok" / "config.json").is_file()


def test_nonfinite_base_and_allowed_merge_equals_whole_tensor_math(models_dir, base_dir, tmp_path):
    sd = read_state_dict(base_dir)
    name = "encoder.layer.0.output.dense.weight"
    sd[name] = sd[name].clone()
    sd[name][0, 0] = float("nan")
    bad_base = write_folder(tmp_path / "b", sd, json.loads((base_dir / "config.json").read_text()))
    paths = [models_dir / "m0", models_dir / "m1"]
    with pytest.raises(MergeError, match=rf"base model .*tensor '{name}' has 1 NaN/Inf"):
        merge_models(paths, [1, 1], "ties", output_dir=tmp_path / "o", base_model=bad_base, progress=False)
    merge_models(paths, [1, 1], "ties", output_dir=tmp_path / "ok", base_model=bad_base, allow_nonfinite=True,
                 method_params={"density": 0.5}, progress=False)  # fmt: skip
    got = read_state_dict(tmp_path / "ok")["roberta." + name]
    xs = [read_state_dict(p)["roberta." + name] for p in paths]
    exp = merge_tensors(
        "ties", xs, [1, 1], base=sd[name], method_params={"density": 0.5}, name="roberta." + name
    )
    assert torch.equal(_bits(got), _bits(exp))


def test_nonfinite_merge_result_is_refused_before_completion(tmp_path):
    cfg = {"model_type": "bert", "id2label": {"0": "a"}}
    paths = [write_folder(tmp_path / f"m{i}", {"enc.w": torch.full((4,), 6e4)}, cfg) for i in range(2)]
    with pytest.raises(MergeError, match=r"'enc.w' .* produced 4 NaN/Inf value\(s\) from finite inputs"):
        merge_models(paths, [1, 1], normalize_weights=False, output_dir=tmp_path / "o", out_dtype="float16",
                     progress=False)  # fmt: skip
    assert not list((tmp_path / "o").iterdir())  # no shard, no .tmp, no config.json


# ---------------------------------------------------------------- corrupt inputs and the writer


def test_corrupt_inputs_give_one_merge_error_naming_the_file(models_dir, tmp_path):
    good = models_dir / "m0"
    sd = read_state_dict(good)
    cfg = json.loads((good / "config.json").read_text())
    broken = write_folder(tmp_path / "cfg", sd, cfg)
    (broken / "config.json").write_text('{"model_type": "xlm-roberta", ')
    with pytest.raises(MergeError, match=r"config.json' is not valid JSON"):
        merge_models([good, broken], [1, 1], output_dir=tmp_path / "o", progress=False)
    trunc = write_folder(tmp_path / "trunc", sd, cfg)
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MergeError, match=r"model.safetensors'; the file is corrupt or truncated"):
        merge_models([good, trunc], [1, 1], output_dir=tmp_path / "o", progress=False)
    # a header whose byte range does not fit the shape
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps(cfg))
    header = json.dumps({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}).encode()
    (bad / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(
        MergeError, match=r"tensor 'w' in .* has 8 bytes but its shape \[3\] and dtype F32 need 12"
    ):
        CheckpointReader(bad)
    (bad / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(MergeError, match=r"model.safetensors.index.json' is not valid JSON"):
        CheckpointReader(bad)


def test_planned_writer_files_equal_save_file(tmp_path):
    tensors = {
        "b": torch.randn(3), "a": torch.arange(2), "c": torch.randn(7).bfloat16(), "d": torch.randn(5).half(),
        "e": torch.zeros(0, 4), "f": torch.tensor(3.0), "g": torch.tensor([True, False]),
        "h": torch.tensor([1, -2], dtype=torch.int8), "j": torch.randn(1, dtype=torch.float64),
        "Z": torch.randn(1), "roberta.x.weight": torch.randn(33, 3),
    }  # fmt: skip
    save_file(tensors, str(tmp_path / "ref.safetensors"), metadata={"format": "pt"})
    for background in (True, False):
        out = tmp_path / f"o{background}"
        out.mkdir()
        w = PlannedShardWriter(out, [(k, v.dtype, v.shape) for k, v in tensors.items()], "1GB", background)
        for k in reversed(list(tensors)):
            w.write(k, tensors[k])
        assert w.finalize() == ["model.safetensors"]
        assert (out / "model.safetensors").read_bytes() == (tmp_path / "ref.safetensors").read_bytes()
    w = PlannedShardWriter(tmp_path, [("x", torch.float32, (2,))], "1GB")
    w.abort()
    assert not list(tmp_path.glob("*.tmp"))


def test_row_reads_and_mapped_views(tmp_path):
    save_file(
        {"w": torch.arange(60.0).view(12, 5), "s": torch.tensor(2.0)}, str(tmp_path / "model.safetensors")
    )
    (tmp_path / "config.json").write_text("{}")
    with CheckpointReader(tmp_path) as r:
        assert torch.equal(r.get_rows("w", 3, 5), torch.arange(15.0, 25.0).view(2, 5))
        assert torch.equal(r.get_rows("s", 0, 1), torch.tensor(2.0))
        with r.mapped("w") as view:
            assert torch.equal(view, torch.arange(60.0).view(12, 5))
            ref = weakref.ref(view)
        buf = torch.empty(r.nbytes("w"), dtype=torch.uint8)
        assert r.get("w", out=buf).data_ptr() == buf.data_ptr()
        r.prefetch("w")
    del view
    assert ref() is None
