"""Engine methods reached through the pipeline: flags become method parameters, task vectors are taken from
the real base, data-aware statistics are computed from the dataset, cached, and used as the formula says."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from merginguriel.commands import merge as merge_cmd
from merginguriel.model_paths import model_dir_name


def run_merge(tmp_path, root, base, sim, *extra):
    return merge_cmd.run(
        [
            "--target-lang",
            "af-ZA",
            "--similarity-matrix",
            str(sim),
            "--models-root",
            str(root),
            "--base-model",
            str(base),
            "--merged-models-root",
            str(tmp_path / "merged"),
            "--results-root",
            str(tmp_path / "results"),
            "--dataset-name",
            "builtin",
            "--statistics-cache",
            str(tmp_path / "cache"),
            "--max-seq-length",
            "32",
            *extra,
        ]
    )


def base_tensors(base):
    return {f"roberta.{k}": v for k, v in load_file(str(base / "model.safetensors")).items()}


def test_task_arithmetic_uses_the_pretrained_base(tmp_path, matrix_csv, locale_models, tiny_base):
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    assert (
        run_merge(
            tmp_path,
            root,
            tiny_base,
            matrix_csv,
            "--mode",
            "task_arithmetic",
            "--num-languages",
            "2",
            "--lambda",
            "0.5",
            "--no-eval",
        )
        == 0
    )
    out = tmp_path / "merged" / "task_arithmetic_merge_af-ZA_2merged"
    merged = load_file(str(out / "model.safetensors"))
    base = base_tensors(tiny_base)
    weights = {"nl-NL": 0.75, "de-DE": 0.25}
    src = {
        loc: load_file(str(root / model_dir_name(tiny_base, loc) / "model.safetensors")) for loc in weights
    }
    name = "roberta.encoder.layer.0.attention.self.query.weight"
    expected = base[name] + 0.5 * sum(w * (src[loc][name] - base[name]) for loc, w in weights.items())
    np.testing.assert_allclose(merged[name], expected, rtol=1e-5, atol=1e-6)
    head = "classifier.out_proj.weight"  # no pretrained value: linear average of heads (the default policy)
    np.testing.assert_allclose(
        merged[head], sum(w * src[loc][head] for loc, w in weights.items()), rtol=1e-5, atol=1e-6
    )
    details = json.loads((out / "merge_details.json").read_text())
    assert details["method"] == "task_arithmetic" and details["method_params"] == {"lambda_": 0.5}
    assert details["head_merge"] == "linear"


def test_flags_a_method_does_not_take_are_an_error(tmp_path, matrix_csv, locale_models, tiny_base, capsys):
    root = locale_models(["de-DE", "nl-NL"])
    code = run_merge(
        tmp_path,
        root,
        tiny_base,
        matrix_csv,
        "--mode",
        "similarity",
        "--num-languages",
        "2",
        "--density",
        "0.3",
        "--no-eval",
    )
    assert code == 2 and "does not take density" in capsys.readouterr().err
    code = run_merge(
        tmp_path,
        root,
        tiny_base,
        matrix_csv,
        "--mode",
        "ties",
        "--num-languages",
        "2",
        "--density",
        "0.3",
        "--trim-ratio",
        "0.5",
        "--no-eval",
    )
    assert code == 2 and "disagree" in capsys.readouterr().err


def test_ties_trim_ratio_and_dare_seed_reproducible(tmp_path, matrix_csv, locale_models, tiny_base):
    root = locale_models(["de-DE", "nl-NL"])
    assert (
        run_merge(
            tmp_path,
            root,
            tiny_base,
            matrix_csv,
            "--mode",
            "ties",
            "--num-languages",
            "2",
            "--trim-ratio",
            "0.75",
            "--no-eval",
        )
        == 0
    )
    details = json.loads(
        (tmp_path / "merged" / "ties_merge_af-ZA_2merged" / "merge_details.json").read_text()
    )
    assert details["method_params"]["density"] == pytest.approx(0.25)
    blobs = []
    for name in ("a", "b"):
        assert (
            run_merge(
                tmp_path,
                root,
                tiny_base,
                matrix_csv,
                "--mode",
                "dare",
                "--num-languages",
                "2",
                "--drop-rate",
                "0.5",
                "--seed",
                "7",
                "--output-name",
                name,
                "--no-eval",
            )
            == 0
        )
        blobs.append((tmp_path / "merged" / name / "model.safetensors").read_bytes())
    assert blobs[0] == blobs[1]


def test_fisher_dataset_statistics_cached_and_merged_by_formula(
    tmp_path, matrix_csv, locale_models, tiny_base, caplog
):
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    args = [
        "--mode",
        "fisher_dataset",
        "--num-languages",
        "2",
        "--num-fisher-examples",
        "6",
        "--preset",
        "fairness",
        "--no-eval",
    ]
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *args) == 0
    out = tmp_path / "merged" / "fisher_dataset_merge_af-ZA_2merged"
    details = json.loads((out / "merge_details.json").read_text())
    assert details["method"] == "fisher"
    assert details["data"]["data_mode"] == "sources" and details["data"]["num_examples"] == 6
    assert [s["weight"] for s in details["sources"]] == [0.5, 0.5]  # fairness preset: equal preweights
    cached = sorted((tmp_path / "cache" / "statistics").glob("*.safetensors"))
    assert len(cached) == 2
    # the merged tensor is sum c_i F_i theta_i / sum c_i F_i with the cached Fisher diagonals
    fisher_of = {}
    for path in cached:
        with safe_open(str(path), framework="numpy") as handle:
            fisher_of[Path(handle.metadata()["model"]).name] = load_file(str(path))
    merged = load_file(str(out / "model.safetensors"))
    name = "roberta.encoder.layer.1.output.dense.weight"
    num = den = 0.0
    for s in details["sources"]:
        folder = model_dir_name(tiny_base, s["locale"])
        f = np.maximum(fisher_of[folder][name], 1e-6)
        num = num + 0.5 * f * load_file(str(root / folder / "model.safetensors"))[name]
        den = den + 0.5 * f
    np.testing.assert_allclose(merged[name], num / den, rtol=1e-4, atol=1e-6)
    # another target that uses de-DE as a source reuses its cached Fisher (sources mode: same data)
    caplog.set_level(logging.INFO, logger="merginguriel.statistics")
    assert (
        merge_cmd.run(
            [
                "--target-lang",
                "en-US",
                "--mode",
                "fisher",
                "--source-locales",
                "de-DE,nl-NL",
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
                "--dataset-name",
                "builtin",
                "--statistics-cache",
                str(tmp_path / "cache"),
                "--num-fisher-examples",
                "6",
                "--no-eval",
                "--max-seq-length",
                "32",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "cache" / "statistics").glob("*.safetensors"))) == 2
    assert caplog.text.count("cached") == 2
