"""Generative (decoder) models through merge, NxN, ensemble and sweep: merged tensors against hand-computed
weighted averages and task arithmetic from the real base, tied embeddings merged once and kept tied, sharded
checkpoints in and out, NxN cells and ensembles against an independent scoring loop, and clear errors for an
encoder mixed with a decoder or two prompt templates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from auto_merge_llm import merge_models
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from merginguriel.cli.commands import ensemble as ensemble_cmd
from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.cli.commands import sweep as sweep_cmd
from merginguriel.data.labels import INTENT_LABELS
from merginguriel.generative.classifier import (
    GenerativeSpec,
    GenerativeSpecError,
    check_same_task,
    generative_spec,
)
from merginguriel.models.paths import model_dir_name
from tests.generative.conftest import independent_scores, save_generative_model


def tensors(folder: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        out.update(load_file(shard))
    return out


def merge_argv(tmp_path: Path, root: Path, base: Path, matrix: Path, *extra: str) -> list[str]:
    return [
        "--target-lang", "af-ZA", "--similarity-matrix", str(matrix), "--models-root", str(root),
        "--base-model", str(base), "--merged-models-root", str(tmp_path / "merged"),
        "--results-root", str(tmp_path / "results"), "--dataset-name", "builtin", "--max-samples", "8", *extra,
    ]  # fmt: skip


def corpus_rows(locale: str, n: int) -> tuple[list[str], list[str]]:
    from merginguriel.data.massive import BUILTIN_CORPUS_DIR

    lines = (BUILTIN_CORPUS_DIR / locale / "test.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    rows = [json.loads(line) for line in lines]
    return [r["utt"] for r in rows], [r["intent"] for r in rows]


def scores_of(model_dir: Path, texts: list[str]) -> np.ndarray:
    lm = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    return independent_scores(lm, AutoTokenizer.from_pretrained(model_dir), texts)


def accuracy(scores: np.ndarray, intents: list[str]) -> float:
    return float(np.mean([INTENT_LABELS[j] == gold for j, gold in zip(scores.argmax(1), intents)]))


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2"])
def test_manual_merge_is_the_weighted_average_and_keeps_embeddings_tied(
    tmp_path, generative_models, decoder_bases, matrix_csv, family
):
    root, paths = generative_models(["de-DE", "nl-NL"], family=family)
    base = decoder_bases[family]
    argv = merge_argv(tmp_path, root, base, matrix_csv, "--mode", "manual", "--weights", "de-DE=1,nl-NL=3")
    assert merge_cmd.run(argv) == 0
    out = tmp_path / "merged" / "manual_merge_af-ZA_2merged"
    merged, de, nl = tensors(out), tensors(paths["de-DE"]), tensors(paths["nl-NL"])
    assert merged.keys() == de.keys()
    for name, value in merged.items():
        expected = 0.25 * de[name].double() + 0.75 * nl[name].double()
        torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-6, msg=name)
    assert not any(k.startswith("lm_head") for k in merged)  # tied: the embedding is merged once
    config = json.loads((out / "config.json").read_text())
    assert config.get("tie_word_embeddings", True) is True
    lm = AutoModelForCausalLM.from_pretrained(out)
    assert lm.get_output_embeddings().weight.data_ptr() == lm.get_input_embeddings().weight.data_ptr()
    assert generative_spec(out) == GenerativeSpec()  # the marker travels with the merged model
    assert (out / "generation_config.json").is_file()
    results = json.loads((tmp_path / "results" / "manual_merge_af-ZA_2merged" / "results.json").read_text())
    texts, intents = corpus_rows("af-ZA", 8)
    assert results["model_info"]["task"] == "generative"
    assert results["performance"]["accuracy"] == pytest.approx(accuracy(scores_of(out, texts), intents))


def test_task_arithmetic_starts_from_the_real_base_and_untied_heads_are_merged(
    tmp_path, decoder_bases, matrix_csv
):
    from merginguriel.generative.tiny import build_tiny_decoder

    base = build_tiny_decoder(tmp_path / "tiny-mistral", "mistral")  # untied: lm_head is its own tensor
    root = tmp_path / "haryos_model"
    paths = {loc: save_generative_model(base, root, loc, seed=i) for i, loc in enumerate(["de-DE", "nl-NL"])}
    argv = merge_argv(
        tmp_path,
        root,
        base,
        matrix_csv,
        "--mode",
        "task_arithmetic",
        "--num-languages",
        "2",
        "--lambda",
        "0.5",
    )
    assert merge_cmd.run([*argv, "--no-eval"]) == 0
    merged = tensors(tmp_path / "merged" / "task_arithmetic_merge_af-ZA_2merged")
    assert "lm_head.weight" in merged
    # af-ZA row of the hand matrix: nl-NL 0.6, de-DE 0.2 -> normalised 0.75 / 0.25
    theta0, de, nl = tensors(base), tensors(paths["de-DE"]), tensors(paths["nl-NL"])
    for name, value in merged.items():
        b = theta0[name].double()
        expected = b + 0.5 * (0.25 * (de[name].double() - b) + 0.75 * (nl[name].double() - b))
        torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-6, msg=name)


def test_sharded_decoders_in_and_out(tmp_path, decoder_bases):
    base = decoder_bases["llama"]
    sources = []
    for i, loc in enumerate(["de-DE", "nl-NL"]):
        path = save_generative_model(base, tmp_path / "src", loc, seed=10 + i)
        AutoModelForCausalLM.from_pretrained(path).save_pretrained(
            tmp_path / f"sharded-{loc}", max_shard_size="60KB"
        )
        shutil.copy(path / "tokenizer.json", tmp_path / f"sharded-{loc}")
        sources.append(tmp_path / f"sharded-{loc}")
    assert (sources[0] / "model.safetensors.index.json").is_file()
    out = tmp_path / "merged"
    merge_models(sources, [0.5, 0.5], "linear", out, max_shard_size="60KB", progress=False)
    assert (out / "model.safetensors.index.json").is_file() and len(list(out.glob("*.safetensors"))) > 1
    a, b, merged = tensors(sources[0]), tensors(sources[1]), tensors(out)
    assert merged.keys() == a.keys()
    for name, value in merged.items():
        torch.testing.assert_close(value.double(), (a[name].double() + b[name].double()) / 2, msg=name)
    lm = AutoModelForCausalLM.from_pretrained(out)  # loads from the index, the embedding tied to the LM head
    assert lm.get_output_embeddings().weight.data_ptr() == lm.get_input_embeddings().weight.data_ptr()
    assert generative_spec(out) == GenerativeSpec()


def test_an_encoder_next_to_a_decoder_is_one_clear_error(
    tmp_path, generative_models, decoder_bases, locale_models, tiny_base, matrix_csv, capsys
):
    root, _ = generative_models(["de-DE"])
    base = decoder_bases["llama"]
    encoder = locale_models(["nl-NL"]) / model_dir_name(tiny_base, "nl-NL")
    shutil.copytree(encoder, root / model_dir_name(base, "nl-NL"))  # an encoder where a decoder should be
    argv = merge_argv(tmp_path, root, base, matrix_csv, "--mode", "average", "--num-languages", "2")
    assert merge_cmd.run(argv) == 2
    err = capsys.readouterr().err
    assert "Cannot combine a generative decoder with an encoder classifier" in err and "nl-NL" in err
    assert not (tmp_path / "merged").exists() or not any((tmp_path / "merged").iterdir())


def test_two_prompt_templates_are_refused(tmp_path, decoder_bases):
    base = decoder_bases["llama"]
    a = save_generative_model(base, tmp_path / "a", "de-DE", seed=1)
    b = save_generative_model(
        base, tmp_path / "b", "nl-NL", seed=2, spec=GenerativeSpec(prompt_template="Q: {text}")
    )
    assert check_same_task([a, a]) == GenerativeSpec()
    with pytest.raises(GenerativeSpecError, match="different prompt template"):
        check_same_task([a, b])


def test_nxn_and_ensemble_of_two_decoders_match_the_independent_scores(
    tmp_path, generative_models, decoder_bases, matrix_csv, capsys
):
    root, paths = generative_models(["de-DE", "nl-NL"], family="qwen2")
    base = decoder_bases["qwen2"]
    common = ["--models-root", str(root), "--base-model", str(base), "--dataset-name", "builtin"]
    common += ["--max-samples", "6", "--logits-cache", str(tmp_path / "cache")]
    argv = [*common, "--locales", "de-DE", "nl-NL", "--output-root", str(tmp_path / "nxn"), "--no-progress"]
    assert nxn_cmd.run(argv) == 0
    import pandas as pd

    matrix = pd.read_csv(next((tmp_path / "nxn").glob("*/evaluation_matrix.csv")), index_col=0)
    scores = {}
    for model_loc in ("de-DE", "nl-NL"):
        for eval_loc in ("de-DE", "nl-NL", "af-ZA"):
            texts, intents = corpus_rows(eval_loc, 6)
            scores[model_loc, eval_loc] = (scores_of(paths[model_loc], texts), intents)
            if eval_loc != "af-ZA":
                cell = matrix.loc[model_loc, eval_loc]
                assert cell == pytest.approx(accuracy(*scores[model_loc, eval_loc]), abs=1e-4)
    ens = [*common, "--target-lang", "af-ZA", "--similarity-matrix", str(matrix_csv), "--num-languages", "2"]
    ens += ["--voting-method", "soft", "uriel_logits", "--results-root", str(tmp_path / "results")]
    assert ensemble_cmd.run(ens) == 0
    (de, intents), (nl, _) = scores["de-DE", "af-ZA"], scores["nl-NL", "af-ZA"]

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    expected = {"soft": 0.25 * softmax(de) + 0.75 * softmax(nl), "uriel_logits": 0.25 * de + 0.75 * nl}
    for method, combined in expected.items():
        result = json.loads(
            (tmp_path / "results" / f"ensemble_{method}_af-ZA_2src" / "results.json").read_text()
        )
        assert result["performance"]["accuracy"] == pytest.approx(accuracy(combined, intents))


def test_sweep_runs_baseline_merges_and_ensembles_of_decoders(
    tmp_path, generative_models, decoder_bases, matrix_csv
):
    root, paths = generative_models(["af-ZA", "de-DE", "nl-NL"])
    argv = [
        "--models-root", str(root), "--base-model", str(decoder_bases["llama"]), "--dataset-name", "builtin",
        "--similarity-matrix", str(matrix_csv), "--results-root", str(tmp_path / "results"),
        "--merged-models-root", str(tmp_path / "merged"), "--logits-cache", str(tmp_path / "cache"),
        "--num-languages", "2", "--no-progress", "--max-samples", "6", "--locales", "af-ZA",
        "--modes", "baseline", "average", "ties", "ensemble_soft",
    ]  # fmt: skip
    assert sweep_cmd.run(argv) == 0
    texts, intents = corpus_rows("af-ZA", 6)
    baseline = json.loads((tmp_path / "results" / "baseline_af-ZA" / "results.json").read_text())
    assert baseline["performance"]["accuracy"] == pytest.approx(
        accuracy(scores_of(paths["af-ZA"], texts), intents)
    )
    for name in ("average_merge_af-ZA_2merged", "ties_merge_af-ZA_2merged"):
        result = json.loads((tmp_path / "results" / name / "results.json").read_text())
        assert result["model_info"]["task"] == "generative"
        assert generative_spec(tmp_path / "merged" / name) == GenerativeSpec()
    assert (tmp_path / "results" / "ensemble_soft_af-ZA_2src" / "results.json").is_file()


@pytest.mark.parametrize("mode", ["fisher", "regmean", "dare", "slerp"])
def test_data_aware_and_other_methods_merge_decoders(
    tmp_path, generative_models, decoder_bases, matrix_csv, mode
):
    root, paths = generative_models(["de-DE", "nl-NL"], family="gpt2")
    base = decoder_bases["gpt2"]
    argv = merge_argv(tmp_path, root, base, matrix_csv, "--mode", mode, "--num-languages", "2")
    assert (
        merge_cmd.run([*argv, "--num-fisher-examples", "4", "--statistics-cache", str(tmp_path / "st")]) == 0
    )
    name = f"{mode}_merge_af-ZA_2merged"
    merged, de, nl = tensors(tmp_path / "merged" / name), tensors(paths["de-DE"]), tensors(paths["nl-NL"])
    assert merged.keys() == de.keys()
    assert all(bool(torch.isfinite(v).all()) for v in merged.values())
    moved = [k for k in merged if not torch.equal(merged[k], de[k]) and not torch.equal(merged[k], nl[k])]
    assert moved  # a real combination of the two, not a copy of either
    result = json.loads((tmp_path / "results" / name / "results.json").read_text())
    assert result["model_info"]["task"] == "generative" and result["performance"]["total"] == 8
