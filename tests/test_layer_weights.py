"""``--layer-weights``: separate source weights per layer group, from a rule or explicit locale weights; the
merged tensors against the per-group weighted averages written out here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from auto_merge_llm.layers import layer_group
from safetensors.numpy import load_file

from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.merging.layer_weights import LayerWeights, LayerWeightsError
from merginguriel.models.paths import model_dir_name


def test_rules_resolve_against_the_merges_sources() -> None:
    spec = LayerWeights.parse("embeddings=top1,lower=uniform,head=similarity")
    assert spec.text() == "embeddings=top1,head=similarity,lower=uniform"
    got = spec.resolve(["nl-NL", "de-DE", "en-US"], [0.6, 0.3, 0.1])
    assert got == {"embeddings": [1.0, 0.0, 0.0], "head": [0.6, 0.3, 0.1], "lower": [1 / 3] * 3}


def test_a_file_may_give_locale_weights(tmp_path) -> None:
    path = tmp_path / "layers.json"
    path.write_text(json.dumps({"upper": {"de-DE": 2, "en-US": 1}, "head": "top1"}))
    spec = LayerWeights.parse(str(path))
    assert spec.resolve(["nl-NL", "de-DE", "en-US"], [0.6, 0.3, 0.1]) == {
        "head": [1.0, 0.0, 0.0],
        "upper": [0.0, 2.0, 1.0],  # the engine normalises them like every weight vector
    }
    with pytest.raises(LayerWeightsError, match=r"names \['fr-FR'\], which are not among"):
        LayerWeights.parse({"upper": {"fr-FR": 1}}).resolve(["nl-NL"], [1.0])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("middle=top1", "unknown layer group 'middle'"),
        ("lower=best", "the rule must be one of similarity, uniform, top1"),
        ("lower", "is not GROUP=RULE"),
        ("lower=top1,lower=uniform", "names the group 'lower' twice"),
        ("missing.json", "file missing.json not found"),
        ({"lower": {"de-DE": -1}}, "must be a finite number >= 0"),
        ({"lower": {}}, "non-empty mapping"),
    ],
)
def test_bad_specifications_name_the_problem(spec, message) -> None:
    with pytest.raises(LayerWeightsError, match=message):
        LayerWeights.parse(spec)


def test_merge_with_layer_weights(tmp_path, matrix_csv, locale_models, tiny_base, capsys) -> None:
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    code = merge_cmd.run(
        ["--mode", "similarity", "--target-lang", "af-ZA", "--num-languages", "3", "--similarity-matrix",
         str(matrix_csv), "--models-root", str(root), "--base-model", str(tiny_base), "--merged-models-root",
         str(tmp_path / "merged"), "--no-eval", "--layer-weights", "embeddings=top1,lower=top1,head=uniform"]
    )  # fmt: skip
    assert code == 0
    out_dir = tmp_path / "merged" / "similarity_merge_af-ZA_3merged"
    merged = load_file(str(out_dir / "model.safetensors"))
    order = ["nl-NL", "de-DE", "en-US"]  # by similarity to af-ZA: 0.6, 0.2, 0.2
    sources = {
        loc: load_file(str(root / model_dir_name(tiny_base, loc) / "model.safetensors")) for loc in order
    }
    by_group = {"embeddings": [1, 0, 0], "lower": [1, 0, 0], "upper": [0.6, 0.2, 0.2], "head": [1 / 3] * 3}
    layers = 1 + max(int(n.split("layer.")[1].split(".")[0]) for n in merged if "layer." in n)
    for name, value in merged.items():
        weights = by_group[layer_group(name, layers)]
        expected = sum(w * sources[loc][name].astype(np.float64) for w, loc in zip(weights, order))
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=name)
    details = json.loads((out_dir / "merge_details.json").read_text())
    assert details["layer_weights"]["spec"] == "embeddings=top1,head=uniform,lower=top1"
    assert details["layer_weights"]["weights"]["lower"] == {"nl-NL": 1.0, "de-DE": 0.0, "en-US": 0.0}
    assert details["options"]["layer_weights"] == "embeddings=top1,head=uniform,lower=top1"
    assert "Layer weights" in (out_dir / "merge_details.txt").read_text()
    assert "lower weights: nl-NL 1.0000, de-DE 0.0000, en-US 0.0000" in capsys.readouterr().out


def test_bad_layer_weights_exit_2_before_any_merge(
    tmp_path, matrix_csv, locale_models, tiny_base, capsys
) -> None:
    root = locale_models(["de-DE", "nl-NL"])
    code = merge_cmd.run(
        ["--mode", "similarity", "--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix",
         str(matrix_csv), "--models-root", str(root), "--base-model", str(tiny_base), "--merged-models-root",
         str(tmp_path / "merged"), "--no-eval", "--layer-weights", "lower=best"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "the rule must be one of" in err
    assert not (tmp_path / "merged").exists() or not any((tmp_path / "merged").iterdir())
