"""``merge --mode adamerging``: coefficients learned on the target's validation texts (never its labels),
recorded in merge_details.json, applied as θ₀ + Σ λᵢ τᵢ (checked here from the recorded λ), cached, and
reproducible from the seed bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from merginguriel.data import massive as massive_data
from merginguriel.models.paths import model_dir_name
from tests.test_merge_methods_pipeline import base_tensors, run_merge

ARGS = ["--mode", "adamerging", "--num-languages", "2", "--num-fisher-examples", "8", "--steps", "6",
        "--adamerging-lr", "0.05", "--no-eval"]  # fmt: skip


def test_adamerging_learns_on_target_texts_and_merges_by_the_recorded_coefficients(
    tmp_path, matrix_csv, locale_models, tiny_base, monkeypatch
):
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    reads = []
    real = massive_data.load_split

    def spy(source, locale, split, *a, **kw):
        reads.append((locale, split))
        return real(source, locale, split, *a, **kw)

    monkeypatch.setattr(massive_data, "load_split", spy)
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *ARGS, "--granularity", "task") == 0
    assert set(reads) == {("af-ZA", "validation")}  # the target's dev texts, nothing else
    out = tmp_path / "merged" / "adamerging_merge_af-ZA_2merged"
    details = json.loads((out / "merge_details.json").read_text())
    learned = details["learned_coefficients"]
    assert learned["granularity"] == "task" and learned["steps"] == 6 and len(learned["entropy"]) == 6
    assert learned["sources"] == [s["locale"] for s in details["sources"]] == ["nl-NL", "de-DE"]
    lam = learned["lambda"]
    base = base_tensors(tiny_base)
    sources = {
        loc: load_file(str(root / model_dir_name(tiny_base, loc) / "model.safetensors")) for loc in lam
    }
    merged = load_file(str(out / "model.safetensors"))
    for name, value in merged.items():
        if name in base:
            expected = base[name] + sum(lam[loc] * (sources[loc][name] - base[name]) for loc in lam)
        else:  # the head: the sources' weighted average (similarity weights 0.75 / 0.25)
            expected = 0.75 * sources["nl-NL"][name] + 0.25 * sources["de-DE"][name]
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=name)
    assert "Learned coefficients (task-wise" in (out / "merge_details.txt").read_text()


def test_adamerging_is_cached_and_reproducible(tmp_path, matrix_csv, locale_models, tiny_base) -> None:
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    blobs = []
    for name, cache in (("a", "cache1"), ("b", "cache1"), ("c", "cache2")):  # b: from the cache; c: afresh
        assert run_merge(tmp_path, root, tiny_base, matrix_csv, *ARGS, "--output-name", name,
                         "--statistics-cache", str(tmp_path / cache)) == 0  # fmt: skip
        blobs.append((tmp_path / "merged" / name / "model.safetensors").read_bytes())
    assert blobs[0] == blobs[1] == blobs[2]
    assert len(list((tmp_path / "cache1" / "statistics").glob("*.safetensors"))) == 1


@pytest.mark.parametrize(
    ("extra", "message"), [(["--init-lambda", "2"], "init_lambda"), (["--steps", "0"], "steps")]
)
def test_bad_adamerging_settings_exit_2(
    tmp_path, matrix_csv, locale_models, tiny_base, capsys, extra, message
):
    root = locale_models(["de-DE", "nl-NL"])
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *ARGS, *extra) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and message in err


def test_regmean_plusplus_mode_merges_by_the_closed_form_on_its_cached_grams(
    tmp_path, matrix_csv, locale_models, tiny_base
) -> None:
    """``merge --mode regmean_plusplus``: one cached Gram set per source (computed through the merge model),
    and every linear weight of the backbone is the RegMean closed form on them, computed here in numpy."""
    from safetensors import safe_open

    root = locale_models(["de-DE", "nl-NL", "en-US"])
    args = ["--mode", "regmean_plusplus", "--num-languages", "2", "--num-fisher-examples", "4", "--regmean-alpha",
            "0.5", "--no-eval"]  # fmt: skip
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *args) == 0
    out = tmp_path / "merged" / "regmean_plusplus_merge_af-ZA_2merged"
    details = json.loads((out / "merge_details.json").read_text())
    weights = {s["locale"]: s["weight"] for s in details["sources"]}
    cached = sorted((tmp_path / "cache" / "statistics").glob("*.safetensors"))
    assert len(cached) == 2
    grams = {}
    for path in cached:
        with safe_open(str(path), framework="numpy") as handle:
            folder = handle.metadata()["model"]
        grams[next(loc for loc in weights if folder.endswith(loc))] = load_file(str(path))
    merged = load_file(str(out / "model.safetensors"))
    name = "roberta.encoder.layer.1.intermediate.dense"
    lhs = rhs = 0.0
    for loc, w in weights.items():
        g = grams[loc][name].astype(np.float64)
        g = 0.5 * g + 0.5 * np.diag(np.diag(g))
        theta = load_file(str(root / model_dir_name(tiny_base, loc) / "model.safetensors"))[f"{name}.weight"]
        lhs = lhs + w * g
        rhs = rhs + w * g @ theta.astype(np.float64).T
    np.testing.assert_allclose(merged[f"{name}.weight"], np.linalg.solve(lhs, rhs).T, rtol=1e-4, atol=1e-5)
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *args, "--output-name", "again") == 0
    assert (tmp_path / "merged" / "again" / "model.safetensors").read_bytes() == (
        out / "model.safetensors"
    ).read_bytes()
