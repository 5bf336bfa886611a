"""Ensemble inference end to end on constant-intent models: hand-computed accuracies per voting method,
provenance, no forward pass over cached sources, and loud failures."""

import json

import pytest

from merginguriel.cli.commands import ensemble as ensemble_cmd
from merginguriel.data.massive import DataSelection
from merginguriel.experiments.nxn import NxNConfig, run_nxn
from merginguriel.models import inference
from merginguriel.models.logits_cache import LogitsCache
from merginguriel.models.paths import discover_models
from tests.scale.conftest import LOCALES


def args(tmp_path, models, data, sim, *extra):
    return [
        "--target-lang",
        "af-ZA",
        "--models-root",
        str(models),
        "--base-model",
        "tiny-xlmr",
        "--dataset-name",
        str(data),
        "--similarity-matrix",
        str(sim),
        "--results-root",
        str(tmp_path / "results"),
        "--logits-cache",
        str(tmp_path / "cache"),
        *extra,
    ]


def accuracy(tmp_path, name):
    return json.loads((tmp_path / "results" / name / "results.json").read_text())["performance"]["accuracy"]


def test_all_voting_methods_hand_computed(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    # af-ZA sources: nl-NL 0.6 (weather), de-DE 0.3 (play_music), en-US 0.1 (play_music);
    # af-ZA test gold: 2 alarm_set, 1 play_music, 3 weather_query
    code = ensemble_cmd.run(
        args(
            tmp_path,
            scale_models,
            tiny_dataset,
            similarity_csv,
            "--num-languages",
            "3",
            "--voting-method",
            "all",
        )
    )
    assert code == 0, capsys.readouterr().err
    assert accuracy(tmp_path, "ensemble_majority_af-ZA_3src") == pytest.approx(1 / 6)  # 2 votes play_music
    assert accuracy(tmp_path, "ensemble_weighted_majority_af-ZA_3src") == pytest.approx(3 / 6)  # .6 vs .4
    assert accuracy(tmp_path, "ensemble_soft_af-ZA_3src") == pytest.approx(3 / 6)
    assert accuracy(tmp_path, "ensemble_uriel_logits_af-ZA_3src") == pytest.approx(3 / 6)  # 6 vs 4
    details = json.loads(
        (tmp_path / "results" / "ensemble_soft_af-ZA_3src" / "merge_details.json").read_text()
    )
    assert [(s["locale"], round(s["weight"], 6)) for s in details["sources"]] == [
        ("nl-NL", 0.6),
        ("de-DE", 0.3),
        ("en-US", 0.1),
    ]
    assert details["voting_method"] == "soft" and details["forward_passes"] == 3 and details["key"]
    assert details["sources"][0]["source_accuracy"] == pytest.approx(3 / 6)
    # K=2: nl-NL vs de-DE is a 1-1 tie -> the most similar source (nl-NL, weather) wins
    assert (
        ensemble_cmd.run(
            args(
                tmp_path,
                scale_models,
                tiny_dataset,
                similarity_csv,
                "--num-languages",
                "2",
                "--voting-method",
                "majority",
            )
        )
        == 0
    )
    assert accuracy(tmp_path, "ensemble_majority_af-ZA_2src") == pytest.approx(3 / 6)
    # existing results are not overwritten silently
    assert (
        ensemble_cmd.run(
            args(
                tmp_path,
                scale_models,
                tiny_dataset,
                similarity_csv,
                "--num-languages",
                "2",
                "--voting-method",
                "majority",
            )
        )
        == 2
    )
    assert "--overwrite" in capsys.readouterr().err


def test_ensemble_over_nxn_cache_needs_no_forward_pass(
    tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch
):
    run_nxn(
        discover_models(scale_models),
        LOCALES,
        NxNConfig(DataSelection(str(tiny_dataset))),
        tmp_path / "nxn",
        LogitsCache(tmp_path / "cache"),
        progress=False,
        heatmap=False,
    )

    def no_load(*a, **k):
        raise AssertionError("a model was loaded although every source is cached")

    monkeypatch.setattr(inference, "load_classifier", no_load)
    assert (
        ensemble_cmd.run(
            args(
                tmp_path,
                scale_models,
                tiny_dataset,
                similarity_csv,
                "--num-languages",
                "3",
                "--voting-method",
                "weighted_majority",
            )
        )
        == 0
    )
    details = json.loads(
        (tmp_path / "results" / "ensemble_weighted_majority_af-ZA_3src" / "merge_details.json").read_text()
    )
    assert details["forward_passes"] == 0
    assert accuracy(tmp_path, "ensemble_weighted_majority_af-ZA_3src") == pytest.approx(3 / 6)


def test_missing_source_fails_loudly_and_writes_nothing(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(scale_models, models)
    shutil.rmtree(next(models.glob("*_massive_k_de-DE")))
    code = ensemble_cmd.run(args(tmp_path, models, tiny_dataset, similarity_csv, "--num-languages", "3"))
    assert code == 2
    assert "No model for de-DE" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_sources_run_one_after_another(tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch):
    """No source model is alive when the next one is loaded, and every voting rule shares one pass per source."""
    import gc
    import weakref

    real = inference.load_classifier
    live: list[weakref.ref] = []
    alive_at_load: list[int] = []

    def tracking(path, device="cpu"):
        gc.collect()
        alive_at_load.append(sum(r() is not None for r in live))
        model, tokenizer = real(path, device)
        live.append(weakref.ref(model))
        return model, tokenizer

    monkeypatch.setattr(inference, "load_classifier", tracking)
    argv = args(tmp_path, scale_models, tiny_dataset, similarity_csv, "--num-languages", "3")
    assert ensemble_cmd.run([*argv, "--voting-method", "all", "--no-cache"]) == 0
    assert alive_at_load == [0, 0, 0]
    gc.collect()
    assert not any(r() is not None for r in live)  # nothing kept after the run either


def test_an_error_in_one_voting_rule_writes_no_result_at_all(
    tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch
):
    from merginguriel.merging import ensemble

    real = ensemble.ensemble_predict

    def failing(method, *a, **k):
        if method == "uriel_logits":
            raise ensemble.EnsembleError("bad logits")
        return real(method, *a, **k)

    monkeypatch.setattr(ensemble, "ensemble_predict", failing)
    argv = args(tmp_path, scale_models, tiny_dataset, similarity_csv, "--num-languages", "3")
    assert ensemble_cmd.run([*argv, "--voting-method", "all"]) == 2
    assert not list((tmp_path / "results").glob("*/results.json"))
