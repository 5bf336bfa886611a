"""Model cards of merged, trained and fused models: parsed back with ``huggingface_hub.ModelCard`` and checked
field by field (language, base_model, library, pipeline tag, datasets, tags, model-index), no local paths."""

import json

import pytest
from huggingface_hub import ModelCard

from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.models.cards import (
    Evaluation,
    add_evaluations,
    fusion_card,
    hub_id,
    iso639_1,
    merged_card,
    pipeline_tag,
    read_evaluations,
    trained_card,
    write_card,
)


def metric_values(card):
    return {
        (r.dataset_config, r.dataset_split, r.metric_type): r.metric_value
        for r in card.data.eval_results or []
    }


def assert_no_local_paths(text, *roots):
    for root in roots:
        assert str(root) not in text


def merge_argv(tmp_path, matrix_csv, root, tiny_base, *extra):
    return [
        "--mode", "similarity", "--target-lang", "af-ZA", "--num-languages", "2",
        "--similarity-matrix", str(matrix_csv), "--models-root", str(root), "--base-model", str(tiny_base),
        "--merged-models-root", str(tmp_path / "merged"), "--results-root", str(tmp_path / "results"),
        "--dataset-name", "builtin", *extra,
    ]  # fmt: skip


def test_iso_codes_and_hub_ids(tmp_path):
    assert iso639_1("af-ZA") == "af" and iso639_1("zh-TW") == "zh" and iso639_1("sl-SL") == "sl"
    assert hub_id("FacebookAI/xlm-roberta-base") == "FacebookAI/xlm-roberta-base"
    assert hub_id("xlm-roberta-base") == "xlm-roberta-base"
    assert hub_id(str(tmp_path)) is None and hub_id("/abs/not/there") is None and hub_id("./rel") is None
    (tmp_path / "config.json").write_text(json.dumps({"merginguriel_generative": {"template": "x"}}))
    assert (
        pipeline_tag(tmp_path) == "text-generation"
        and pipeline_tag(tmp_path / "nope") == "text-classification"
    )


def test_merged_card_after_evaluation(tmp_path, matrix_csv, locale_models, tiny_base, capsys):
    root = locale_models(["de-DE", "nl-NL", "en-US"])
    assert merge_cmd.run(merge_argv(tmp_path, matrix_csv, root, tiny_base)) == 0
    out = tmp_path / "merged" / "similarity_merge_af-ZA_2merged"
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert data.language == ["af", "nl", "de"]
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert data.datasets == ["AmazonScience/massive"]
    assert {"merge", "linear", "similarity", "merginguriel"} <= set(data.tags)
    assert data.base_model is None  # every source and the base are local folders: no hub id to name
    results = json.loads((tmp_path / "results" / out.name / "results.json").read_text())
    values = metric_values(card)
    assert values[("af-ZA", "test", "accuracy")] == pytest.approx(
        results["performance"]["accuracy"], abs=1e-6
    )
    assert values[("af-ZA", "test", "f1")] == pytest.approx(results["performance"]["macro_f1"], abs=1e-6)
    assert card.data.eval_results[0].dataset_type == "builtin"
    text = (out / "README.md").read_text()
    assert_no_local_paths(text, tmp_path, root, tiny_base)
    assert f"{tiny_base.name} (local, sha256 " in text
    assert "| nl-NL |" in text and "0.750000" in text and "## Evaluation" in text


def test_merged_card_names_hub_sources_as_mergekit_does():
    details = {
        "mode": "ties", "method": "ties", "target": "zh-TW", "base_model": "FacebookAI/xlm-roberta-base",
        "sources": [{"locale": "zh-CN", "path": "org/xlmr-zh-CN", "weight": 0.7},
                    {"locale": "ja-JP", "path": "org/xlmr-ja-JP", "weight": 0.3}],
        "method_params": {"density": 0.3}, "head_merge": "linear", "key": "k", "version": "0",
    }  # fmt: skip
    card = ModelCard(str(merged_card(details)))
    assert card.data.base_model == ["org/xlmr-zh-CN", "org/xlmr-ja-JP"]
    assert card.data.base_model_relation == "merge" and card.data.language == ["zh", "ja"]
    assert {"merge", "ties"} <= set(card.data.tags) and card.data.eval_results is None


def test_add_evaluations_replaces_the_same_split(tmp_path):
    details = {"mode": "average", "method": "linear", "target": "af-ZA", "base_model": "xlm-roberta-base",
               "sources": [{"locale": "nl-NL", "path": "org/m", "weight": 1.0}], "key": "k"}  # fmt: skip
    write_card(tmp_path, merged_card(details))
    add_evaluations(tmp_path, [Evaluation("af-ZA", "test", 0.5, 0.4)])
    add_evaluations(
        tmp_path, [Evaluation("af-ZA", "test", 0.6, 0.5), Evaluation("af-ZA", "validation", 0.7, 0.6)]
    )
    card = ModelCard.load(tmp_path / "README.md")
    assert sorted((e.split, e.accuracy) for e in read_evaluations(card)) == [
        ("test", 0.6),
        ("validation", 0.7),
    ]
    assert card.data.base_model == "org/m" and card.text.count("## Evaluation") == 1
    assert add_evaluations(tmp_path / "none", [Evaluation("af-ZA", "test", 0.5, 0.4)]) is None


def test_trained_card_fields(tmp_path):
    metrics = {"eval_accuracy": 0.8, "eval_macro_f1": 0.7, "predict_accuracy": 0.75, "predict_macro_f1": 0.65}
    card = ModelCard(str(trained_card("FacebookAI/xlm-roberta-base", ["de-DE", "nl-NL"], "AmazonScience/massive",
                                      metrics, settings={"learning_rate": 2e-5})))  # fmt: skip
    assert card.data.base_model == "FacebookAI/xlm-roberta-base" and card.data.language == ["de", "nl"]
    assert metric_values(card)[("de-DE+nl-NL", "test", "accuracy")] == 0.75
    assert metric_values(card)[("de-DE+nl-NL", "validation", "f1")] == 0.7
    assert card.data.pipeline_tag == "text-classification" and "merge" not in card.data.tags


def test_fusion_card_fields(tmp_path):
    expert = tmp_path / "xlm-roberta-base_massive_k_de-DE"
    expert.mkdir()
    card = ModelCard(str(fusion_card([str(expert)], ["de-DE"], "TransformerBase", ["de-DE"], "xlm-roberta-base",
                                     [Evaluation("af-ZA", "test", 0.5, 0.25)])))  # fmt: skip
    assert card.data.base_model == "xlm-roberta-base" and card.data.language == ["de"]
    assert {"fusion", "TransformerBase"} <= set(card.data.tags)
    assert metric_values(card)[("af-ZA", "test", "f1")] == 0.25
    assert_no_local_paths(str(card), tmp_path)
    assert "xlm-roberta-base_massive_k_de-DE (local)" in str(card)


def test_merge_pushes_the_evaluated_folder(
    tmp_path, matrix_csv, locale_models, tiny_base, monkeypatch, capsys
):
    from merginguriel.outputs import hub
    from tests.training.test_hub_push import FakeApi

    FakeApi.calls = []
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: "hf_test")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    root = locale_models(["de-DE", "nl-NL"])
    argv = merge_argv(tmp_path, matrix_csv, root, tiny_base, "--push-to-hub", "me/merged", "--hub-private")
    assert merge_cmd.run(argv) == 0
    out = tmp_path / "merged" / "similarity_merge_af-ZA_2merged"
    assert FakeApi.calls[0] == ("create_repo", "me/merged", True, True)
    assert FakeApi.calls[1][2] == str(out) and {"README.md", "COMPLETE"} <= set(FakeApi.calls[1][3])
    assert ModelCard.load(out / "README.md").data.eval_results  # pushed after the evaluation was recorded
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert merge_cmd.run([*argv, "--overwrite"]) == 2
    assert "the hub is offline" in capsys.readouterr().err
