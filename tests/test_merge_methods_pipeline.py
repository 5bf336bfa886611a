"""Engine methods reached through the pipeline: flags become method parameters, task vectors are taken from
the real base, data-aware statistics are computed from the dataset, cached, and used as the formula says."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.models.paths import model_dir_name


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


def test_list_modes_names_every_engine_method_with_its_description(capsys):
    from auto_merge_llm import list_methods

    assert merge_cmd.run(["--list-modes"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for info in list_methods():
        if info.name == "linear":  # the pipeline's linear mode is the manual-weights mode
            continue
        assert info.name in lines and info.description in lines[info.name], info.name
    for mode in ("similarity", "average", "uriel", "manual", "linear", "fisher_dataset"):
        assert mode in lines and len(lines[mode].split()) > 3, mode


def _slerp(a, b, t):
    va, vb = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    omega = np.arccos(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))
    return ((np.sin((1 - t) * omega) * va + np.sin(t * omega) * vb) / np.sin(omega)).reshape(a.shape)


def test_every_method_mode_runs_with_its_flags(tmp_path, matrix_csv, locale_models, tiny_base):
    """Each engine method as a --mode, its dedicated flags reaching the method (recorded in merge_details)."""
    root = locale_models(["de-DE", "nl-NL"])
    cases = {
        "linear_": (["--mode", "linear", "--weights", "de-DE=1,nl-NL=3"], "linear", {}),
        "breadcrumbs": (
            ["--density", "0.5", "--gamma", "0.1"],
            "breadcrumbs",
            {"density": 0.5, "gamma": 0.1},
        ),
        "dare_ties": (
            ["--drop-rate", "0.3", "--dare-combine", "ties", "--lambda", "0.9"],
            "dare",
            {"drop_rate": 0.3, "dare_combine": "ties", "lambda_": 0.9},
        ),
        "slerp": (["--t", "0.3"], "slerp", {"t": 0.3}),
        "model_stock": ([], "model_stock", {}),
        "widen": (
            ["--method-param", "score_calibration_value=0.8"],
            "widen",
            {"score_calibration_value": 0.8},
        ),
        "fisher_simple": (["--fisher-floor", "1e-5"], "fisher_simple", {"fisher_floor": 1e-5}),
    }
    for name, (flags, method, params) in cases.items():
        mode = [] if "--mode" in flags else ["--mode", method, "--num-languages", "2"]
        assert (
            run_merge(
                tmp_path, root, tiny_base, matrix_csv, *mode, *flags, "--output-name", name, "--no-eval"
            )
            == 0
        )
        details = json.loads((tmp_path / "merged" / name / "merge_details.json").read_text())
        assert details["method"] == method, name
        for key, value in params.items():
            assert details["method_params"][key] == pytest.approx(value), (name, key)
        assert details["engine"]["base_model"] == (
            str(tiny_base) if method not in ("linear", "slerp", "fisher_simple") else None
        )
    # SLERP: the formula on a body tensor, the head kept from the higher-weight source
    details = json.loads((tmp_path / "merged" / "slerp" / "merge_details.json").read_text())
    src = [load_file(str(Path(s["path"]) / "model.safetensors")) for s in details["sources"]]
    merged = load_file(str(tmp_path / "merged" / "slerp" / "model.safetensors"))
    name = "roberta.encoder.layer.0.attention.self.query.weight"
    np.testing.assert_allclose(merged[name], _slerp(src[0][name], src[1][name], 0.3), rtol=1e-4, atol=1e-6)
    heavy = max(range(2), key=lambda i: details["sources"][i]["weight"])
    assert details["engine"]["head_merge"] == "highest_weight"
    assert details["head_merge"] == "highest_weight" and details["head_merge_requested"] == "linear"
    np.testing.assert_array_equal(
        merged["classifier.out_proj.weight"], src[heavy]["classifier.out_proj.weight"]
    )


def test_regmean_mode_caches_gram_matrices_independently_of_the_fisher_estimator(
    tmp_path, matrix_csv, locale_models, tiny_base, caplog
):
    root = locale_models(["de-DE", "nl-NL"])
    common = [
        "--mode",
        "regmean",
        "--num-languages",
        "2",
        "--num-fisher-examples",
        "4",
        "--regmean-alpha",
        "0.5",
    ]
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *common, "--output-name", "a", "--no-eval") == 0
    details = json.loads((tmp_path / "merged" / "a" / "merge_details.json").read_text())
    assert details["method"] == "regmean" and details["method_params"] == {"regmean_alpha": 0.5}
    assert len(list((tmp_path / "cache" / "statistics").glob("*.safetensors"))) == 2
    caplog.set_level(logging.INFO, logger="merginguriel.statistics")
    args = [*common, "--fisher-estimator", "empirical", "--output-name", "b", "--no-eval"]
    assert run_merge(tmp_path, root, tiny_base, matrix_csv, *args) == 0
    assert len(list((tmp_path / "cache" / "statistics").glob("*.safetensors"))) == 2
    assert caplog.text.count("cached") == 2


def test_statistics_examples_are_an_exact_seeded_sample():
    from merginguriel.data.massive import DataSelection, load_split
    from merginguriel.merging.statistics import (
        StatisticsDataError,
        StatisticsOptions,
        data_parts,
        sample_examples,
    )

    def options(num_examples=100, seed=42, **kw):
        return StatisticsOptions(
            DataSelection("builtin", split="train", max_samples=num_examples, sample_seed=seed), **kw
        )

    opts = options(num_examples=7, seed=3)
    texts, labels = sample_examples("de-DE", 7, opts)
    assert len(texts) == len(labels) == 7
    assert (texts, labels) == sample_examples("de-DE", 7, opts)  # same seed, same sample
    other, _ = sample_examples("de-DE", 7, options(seed=4))
    assert other != texts
    rows = load_split("builtin", "de-DE", "train")
    index = sorted(np.random.default_rng(3).choice(len(rows), size=7, replace=False).tolist())
    assert texts == [rows[i]["text"] for i in index] and labels == [rows[i]["label"] for i in index]
    assert data_parts("de-DE", "af-ZA", opts) == [("de-DE", 7)]
    both = options(num_examples=7, data_mode="both")
    assert data_parts("de-DE", "af-ZA", both) == [("de-DE", 3), ("af-ZA", 4)]
    with pytest.raises(StatisticsDataError, match="has only"):
        sample_examples("de-DE", len(rows) + 1, opts)
