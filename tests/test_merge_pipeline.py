"""The merge pipeline end to end on tiny random models: sources, weights, the merged tensors (against a
hand-computed weighted average), the recorded details, and clear errors."""

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.merging.pipeline import MergeConfigError, MergeRequest, parse_weights, plan_merge
from merginguriel.models.paths import MissingModelError, model_dir_name
from merginguriel.similarity.selection import SimilarityOptions, SourceSelection

# merge_details.json's "options": one shape whichever command made the merge (merginguriel.merging.experiment)
OPTION_KEYS = {
    "command", "mode", "target", "models_root", "base_model", "num_languages", "source_locales", "weights",
    "similarity", "available_only", "preweight", "pool", "include_target", "target_weight", "method_params", "head_merge",
    "layer_weights", "statistics",
    "evaluation", "runtime", "seed", "context",
}  # fmt: skip


def request(mode, target, models_root, base_model, similarity_matrix, **sources):
    """A merge request whose sources are chosen from ``similarity_matrix`` (``sources``: SourceSelection fields)."""
    if "source_locales" in sources:
        sources["source_locales"] = tuple(sources["source_locales"])
    selection = SourceSelection(
        models_root=models_root,
        base_model=base_model,
        similarity=SimilarityOptions(similarity_matrix),
        **sources,
    )
    return MergeRequest(mode=mode, target=target, sources=selection)


def tensors(folder):
    return load_file(str(folder / "model.safetensors"))


def test_parse_weights_rejects_bad_input():
    assert parse_weights("de-DE=1,nl-NL=3") == {"de-DE": 1.0, "nl-NL": 3.0}
    with pytest.raises(MergeConfigError, match="negative"):
        parse_weights("de-DE=-1,nl-NL=2")
    with pytest.raises(MergeConfigError, match="all zero"):
        parse_weights("de-DE=0,nl-NL=0")
    with pytest.raises(MergeConfigError, match="LOCALE=WEIGHT"):
        parse_weights("de-DE")


def test_plan_modes(tmp_path, matrix_csv, locale_models, tiny_base):
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    common = dict(
        target="af-ZA", models_root=str(root), base_model=str(tiny_base), similarity_matrix=str(matrix_csv)
    )
    sim = plan_merge(request("similarity", num_languages=2, **common))
    assert [(s.locale, round(s.weight, 6)) for s in sim.sources] == [("nl-NL", 0.75), ("de-DE", 0.25)]
    assert sim.method == "linear" and sim.name == "similarity_merge_af-ZA_2merged"
    avg = plan_merge(request("average", num_languages=2, **common))
    assert [(s.locale, s.weight) for s in avg.sources] == [("nl-NL", 0.5), ("de-DE", 0.5)]
    uriel = plan_merge(request("uriel", source_locales=["en-US", "nl-NL"], **common))
    assert [(s.locale, round(s.weight, 6)) for s in uriel.sources] == [("en-US", 0.25), ("nl-NL", 0.75)]
    manual = plan_merge(request("manual", weights={"de-DE": 1.0, "en-US": 3.0}, **common))
    assert [(s.locale, s.weight) for s in manual.sources] == [("de-DE", 0.25), ("en-US", 0.75)]
    assert manual.notes == ["weights summed to 4; normalised to sum to 1"]
    assert sim.key != avg.key
    with pytest.raises(MergeConfigError, match="needs --weights"):
        plan_merge(request("manual", **common))
    with pytest.raises(MergeConfigError, match="needs --source-locales"):
        plan_merge(request("uriel", **common))


def test_missing_source_model_names_path_and_training_command(tmp_path, matrix_csv, locale_models, tiny_base):
    root = locale_models(["de-DE"])
    with pytest.raises(MissingModelError) as err:
        plan_merge(
            request(
                "similarity",
                target="af-ZA",
                num_languages=2,
                models_root=str(root),
                base_model=str(tiny_base),
                similarity_matrix=str(matrix_csv),
            )
        )
    message = str(err.value)
    assert str(root / model_dir_name(tiny_base, "nl-NL")) in message
    assert "training_bert.py" in message and "--dataset_config_name nl-NL" in message


def test_cli_similarity_merge_equals_weighted_average(tmp_path, matrix_csv, locale_models, tiny_base, capsys):
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    code = merge_cmd.run(
        [
            "--mode",
            "similarity",
            "--target-lang",
            "af-ZA",
            "--num-languages",
            "3",
            "--similarity-matrix",
            str(matrix_csv),
            "--models-root",
            str(root),
            "--base-model",
            str(tiny_base),
            "--merged-models-root",
            str(tmp_path / "merged"),
            "--results-root",
            str(tmp_path / "results"),
            "--no-eval",
        ]
    )
    assert code == 0
    out_dir = tmp_path / "merged" / "similarity_merge_af-ZA_3merged"
    merged = tensors(out_dir)
    weights = {"nl-NL": 0.6, "de-DE": 0.2, "en-US": 0.2}
    sources = {loc: tensors(root / model_dir_name(tiny_base, loc)) for loc in weights}
    for name, value in merged.items():
        expected = sum(w * sources[loc][name].astype(np.float64) for loc, w in weights.items())
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=name)
    details = json.loads((out_dir / "merge_details.json").read_text())
    assert details["mode"] == "similarity" and details["target"] == "af-ZA"
    assert {s["locale"]: round(s["weight"], 6) for s in details["sources"]} == weights
    assert details["base_model"] == str(tiny_base) and details["head_merge"] == "linear"
    assert details["options"]["num_languages"] == 3 and details["version"]
    assert set(details["options"]) == OPTION_KEYS and details["options"]["command"] == "merge"
    assert "nl-NL" in (out_dir / "merge_details.txt").read_text()
    assert (out_dir / "tokenizer.json").is_file() and (out_dir / "COMPLETE").is_file()
    assert "weight 0.6000" in capsys.readouterr().out


def test_cli_errors_exit_2_and_write_nothing(tmp_path, matrix_csv, locale_models, tiny_base, capsys):
    root = locale_models(["de-DE", "nl-NL"])
    base = [
        "--models-root",
        str(root),
        "--base-model",
        str(tiny_base),
        "--similarity-matrix",
        str(matrix_csv),
        "--merged-models-root",
        str(tmp_path / "merged"),
        "--results-root",
        str(tmp_path / "results"),
        "--no-eval",
    ]
    assert merge_cmd.run(["--mode", "similarity", "--target-lang", "af_ZA", *base]) == 2
    assert "Did you mean 'af-ZA'" in capsys.readouterr().err
    assert (
        merge_cmd.run(["--mode", "manual", "--target-lang", "af-ZA", "--weights", "de-DE=-1,nl-NL=1", *base])
        == 2
    )
    assert "negative" in capsys.readouterr().err
    assert merge_cmd.run(["--mode", "similarty", "--target-lang", "af-ZA", *base]) == 2
    assert "Did you mean 'similarity'" in capsys.readouterr().err
    assert not (tmp_path / "merged").exists() or not any((tmp_path / "merged").iterdir())


def test_plan_notes_sources_sharing_uriel_features(tmp_path, locale_models, tiny_base):
    locs = ["zh-CN", "zh-TW", "ja-JP"]
    matrix = pd.DataFrame(
        [[0, 0.7, 0.3], [0.7, 0, 0.3], [0.5, 0.5, 0]], index=locs, columns=locs, dtype=float
    )
    matrix.to_csv(tmp_path / "zh.csv")
    root = locale_models(["zh-TW", "ja-JP"])
    plan = plan_merge(
        request(
            "similarity",
            target="zh-CN",
            num_languages=2,
            models_root=str(root),
            base_model=str(tiny_base),
            similarity_matrix=str(tmp_path / "zh.csv"),
        )
    )
    assert [s.locale for s in plan.sources] == ["zh-TW", "ja-JP"]
    assert any("zh-TW shares URIEL features with zh-CN" in note for note in plan.notes)


def test_weighting_schemes_reach_the_plan(tmp_path, matrix_csv, locale_models, tiny_base, capsys):
    """--weighting softmax/normalize on a dense matrix: the plan's weights are the hand-computed ones."""
    import math

    root = locale_models(["de-DE", "nl-NL", "en-US"])

    def weights(**similarity):
        selection = SourceSelection(
            models_root=str(root),
            base_model=str(tiny_base),
            num_languages=2,
            similarity=SimilarityOptions(str(matrix_csv), **similarity),
        )
        plan = plan_merge(MergeRequest(mode="similarity", target="af-ZA", sources=selection))
        return [(s.locale, s.weight) for s in plan.sources]

    # af-ZA row: nl-NL 0.6, de-DE 0.2, en-US 0.2 (the tie goes to de-DE by code)
    soft = weights(source="dense", weighting="softmax", temperature=0.1)
    z = math.exp(6.0) + math.exp(2.0)
    assert [loc for loc, _ in soft] == ["nl-NL", "de-DE"]
    assert [w for _, w in soft] == pytest.approx([math.exp(6.0) / z, math.exp(2.0) / z])
    assert weights(source="dense", weighting="normalize") == [
        ("nl-NL", pytest.approx(0.75)),
        ("de-DE", pytest.approx(0.25)),
    ]
    with pytest.raises(ValueError, match="--similarity-source dense"):
        weights(source="sparse", weighting="softmax")
    argv = ["--mode", "similarity", "--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix", str(matrix_csv),
            "--similarity-source", "dense", "--weighting", "normalize", "--models-root", str(root),
            "--base-model", str(tiny_base), "--no-eval", "--merged-models-root", str(tmp_path / "m")]  # fmt: skip
    assert merge_cmd.run(argv) == 0
    assert "effective number of sources 1.60 of 2" in capsys.readouterr().out  # 1 / (0.75² + 0.25²)
