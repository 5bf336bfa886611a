"""``--include-target``: a locale that has its own model merged with its neighbours — the target first with
weight W, the neighbours sharing 1 − W; checked against the weighted average written out here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.merging.pipeline import MergeConfigError, MergeRequest, plan_merge
from merginguriel.models.paths import model_dir_name
from merginguriel.similarity.selection import SimilarityOptions, SourceSelection


def selection(root, base, matrix, **fields) -> SourceSelection:
    return SourceSelection(models_root=str(root), base_model=str(base), similarity=SimilarityOptions(str(matrix)),
                           **fields)  # fmt: skip


def test_the_target_comes_first_and_the_neighbours_share_the_rest(
    matrix_csv, locale_models, tiny_base
) -> None:
    root = locale_models(["af-ZA", "de-DE", "nl-NL", "en-US"])
    sel = selection(root, tiny_base, matrix_csv, num_languages=2, include_target=True, target_weight=0.4)
    plan = plan_merge(MergeRequest("similarity", "af-ZA", sel))
    # af-ZA's neighbours: nl-NL 0.6, then de-DE/en-US 0.2 each (ties by locale code) -> renormalised 0.75 / 0.25
    assert [(s.locale, round(s.weight, 6)) for s in plan.sources] == [
        ("af-ZA", 0.4), ("nl-NL", 0.45), ("de-DE", 0.15),
    ]  # fmt: skip
    assert plan.name == "similarity_merge_af-ZA_3merged_with_target"
    assert any("own model (af-ZA) is included first with weight 0.4" in n for n in plan.notes)
    plain = plan_merge(
        MergeRequest("similarity", "af-ZA", selection(root, tiny_base, matrix_csv, num_languages=2))
    )
    assert plain.key != plan.key and plain.name == "similarity_merge_af-ZA_2merged"


@pytest.mark.parametrize("weight", [0.0, 1.0, -0.2, float("nan")])
def test_a_target_weight_outside_0_1_is_refused(matrix_csv, locale_models, tiny_base, weight) -> None:
    root = locale_models(["af-ZA", "de-DE"])
    sel = selection(root, tiny_base, matrix_csv, num_languages=1, include_target=True, target_weight=weight)
    with pytest.raises(MergeConfigError, match="--target-weight must be between 0 and 1"):
        plan_merge(MergeRequest("similarity", "af-ZA", sel))


def run_merge(root, tiny_base, matrix_csv, out, *extra) -> int:
    return merge_cmd.run(
        ["--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix", str(matrix_csv),
         "--models-root", str(root), "--base-model", str(tiny_base), "--merged-models-root", str(out), "--no-eval",
         *extra]
    )  # fmt: skip


def test_merge_includes_the_target_model(tmp_path, matrix_csv, locale_models, tiny_base) -> None:
    root = locale_models(["af-ZA", "de-DE", "nl-NL", "en-US"])
    code = run_merge(root, tiny_base, matrix_csv, tmp_path / "merged", "--mode", "similarity", "--include-target",
                     "--target-weight", "0.4")  # fmt: skip
    assert code == 0
    out_dir = tmp_path / "merged" / "similarity_merge_af-ZA_3merged_with_target"
    weights = {"af-ZA": 0.4, "nl-NL": 0.45, "de-DE": 0.15}
    sources = {
        loc: load_file(str(root / model_dir_name(tiny_base, loc) / "model.safetensors")) for loc in weights
    }
    for name, value in load_file(str(out_dir / "model.safetensors")).items():
        expected = sum(w * sources[loc][name].astype(np.float64) for loc, w in weights.items())
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=name)
    details = json.loads((out_dir / "merge_details.json").read_text())
    assert details["options"]["include_target"] is True and details["options"]["target_weight"] == 0.4
    assert details["sources"][0]["locale"] == "af-ZA"


def test_layer_swap_with_the_target_as_the_expert(tmp_path, matrix_csv, locale_models, tiny_base) -> None:
    """The target's own model is the first source, so layer_swap takes its outer layers from it."""
    root = locale_models(["af-ZA", "de-DE", "nl-NL", "en-US"])
    code = run_merge(root, tiny_base, matrix_csv, tmp_path / "merged", "--mode", "layer_swap", "--include-target",
                     "--method-param", "bottom=1", "--method-param", "top=0")  # fmt: skip
    assert code == 0
    merged = load_file(
        str(tmp_path / "merged" / "layer_swap_merge_af-ZA_3merged_with_target" / "model.safetensors")
    )
    own = load_file(str(root / model_dir_name(tiny_base, "af-ZA") / "model.safetensors"))
    for name in merged:
        if "embeddings" in name or ".layer.0." in name:  # the bottom zone: the target's tensors, bit for bit
            assert np.array_equal(merged[name], own[name]), name
    weights = {"af-ZA": 0.5, "nl-NL": 0.375, "de-DE": 0.125}
    sources = {
        loc: load_file(str(root / model_dir_name(tiny_base, loc) / "model.safetensors")) for loc in weights
    }
    name = next(n for n in merged if ".layer.1." in n)  # above the bottom zone: the weighted average
    expected = sum(w * sources[loc][name].astype(np.float64) for loc, w in weights.items())
    np.testing.assert_allclose(merged[name], expected, rtol=1e-5, atol=1e-6)


def test_target_flags_are_checked(tmp_path, matrix_csv, locale_models, tiny_base, capsys) -> None:
    root = locale_models(["de-DE", "nl-NL"])  # no af-ZA model
    assert (
        run_merge(
            root, tiny_base, matrix_csv, tmp_path / "m", "--mode", "similarity", "--target-weight", "0.3"
        )
        == 2
    )
    assert "give it with --include-target" in capsys.readouterr().err
    assert (
        run_merge(root, tiny_base, matrix_csv, tmp_path / "m", "--mode", "similarity", "--include-target")
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "af-ZA" in err
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())
