"""``merginguriel train --task generative`` on tiny random decoders (Llama, Qwen2, GPT-2) and the built-in corpus:
the saved folder, the label-token loss against a hand computation, dev accuracy and ``evaluate`` against an
independent scoring loop, constrained generation on a trained model, LoRA merged back, class weights, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from merginguriel.cli.commands import evaluate as evaluate_cmd
from merginguriel.cli.commands import train as train_cmd
from merginguriel.data.labels import INTENT_LABELS
from merginguriel.data.massive import BUILTIN_CORPUS_DIR
from merginguriel.generative.classifier import MARKER_KEY, GenerativeSpec, PromptTokenizer, generative_spec
from merginguriel.models.inference import load_classifier, predict_logits
from merginguriel.training.arguments import ModelArguments
from merginguriel.training.generative import (
    IGNORE_INDEX,
    GenerativeCollator,
    causal_features,
    weighted_label_loss,
)
from merginguriel.training.lora import parameter_count, wants_lora
from merginguriel.training.outputs import latest_checkpoint
from merginguriel.training.trainer import checkpoints_dir, resolved_model_arguments, train_classifier
from tests.generative.conftest import FAMILIES, independent_scores


def corpus_rows(locale: str, split: str, n: int) -> tuple[list[str], list[str]]:
    """(texts, intents) of the first ``n`` rows of a built-in corpus split (``dev`` is the validation split)."""
    lines = (BUILTIN_CORPUS_DIR / locale / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    rows = [json.loads(line) for line in lines]
    return [r["utt"] for r in rows], [r["intent"] for r in rows]


def independent_accuracy(model_dir: Path, texts: list[str], intents: list[str]) -> float:
    lm = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    scores = independent_scores(lm, AutoTokenizer.from_pretrained(model_dir), texts)
    return float(np.mean([INTENT_LABELS[j] == gold for j, gold in zip(scores.argmax(1), intents)]))


def train_argv(base: Path, locale: str, out: Path, *extra: str) -> list[str]:
    return [
        "--task", "generative", "--model_name_or_path", str(base), "--dataset_name", "builtin",
        "--dataset_config_name", locale, "--output_dir", str(out), "--do_train", "--do_eval",
        "--max_train_samples", "48", "--max_eval_samples", "12", "--per_device_train_batch_size", "8",
        "--num_train_epochs", "1", "--learning_rate", "3e-3", "--max_seq_length", "48", "--disable_tqdm", "true",
        "--logging_strategy", "no", "--report_to", "none", "--dataloader_pin_memory", "false", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, decoder_bases) -> dict[str, Path]:
    """family -> a de-DE generative model trained a few steps from that family's tiny base."""
    root = tmp_path_factory.mktemp("trained")
    out = {}
    for family in FAMILIES:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            assert train_cmd.run(train_argv(decoder_bases[family], "de-DE", root / family)) == 0
        finally:
            torch.set_num_threads(before)
        out[family] = root / family
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_trained_folder_is_a_generative_intent_model(trained, decoder_bases, family):
    out = trained[family]
    spec = generative_spec(out)
    assert spec == GenerativeSpec() and spec.labels == list(INTENT_LABELS)  # label order survives config.json
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"]["13"] == INTENT_LABELS[13] and config[MARKER_KEY]["scoring"] == "sum_logprob"
    meta = json.loads((out / "run_metadata.json").read_text())
    assert meta["task"] == "generative" and meta["use_lora"] is False  # tiny: under the LoRA threshold
    assert (out / "COMPLETE").is_file() and (out / "tokenizer.json").is_file()
    trained_w, base_w = (
        load_file(out / "model.safetensors"),
        load_file(decoder_bases[family] / "model.safetensors"),
    )
    assert trained_w.keys() == base_w.keys()  # tied embeddings stay tied: no separate LM head written
    assert any(not torch.equal(trained_w[k], base_w[k]) for k in base_w)


@pytest.mark.parametrize("family", FAMILIES)
def test_dev_accuracy_during_training_equals_an_independent_scoring_loop(trained, family):
    metrics = json.loads((trained[family] / "all_results.json").read_text())
    texts, intents = corpus_rows("de-DE", "dev", 12)
    assert metrics["eval_accuracy"] == pytest.approx(independent_accuracy(trained[family], texts, intents))


def test_evaluate_command_scores_like_the_independent_loop_and_trie_predicts_the_same(trained, tmp_path):
    model = trained["llama"]
    argv = [
        "--model-path",
        str(model),
        "--locale",
        "de-DE",
        "--dataset-name",
        "builtin",
        "--max-samples",
        "16",
    ]
    cache = ["--logits-cache", str(tmp_path / "lc")]
    assert evaluate_cmd.run([*argv, "--results-root", str(tmp_path / "score"), *cache]) == 0
    assert evaluate_cmd.run([*argv, "--results-root", str(tmp_path / "trie"), "--decoding", "trie"]) == 0
    results = {
        d: json.loads(next((tmp_path / d).glob("*/results.json")).read_text()) for d in ("score", "trie")
    }
    texts, intents = corpus_rows("de-DE", "test", 16)
    assert results["score"]["performance"]["accuracy"] == pytest.approx(
        independent_accuracy(model, texts, intents)
    )
    assert results["score"]["model_info"]["task"] == "generative"
    assert results["score"]["evaluation_info"]["logits_cache"] == str(
        tmp_path / "lc"
    )  # the scores are cached
    assert len(list((tmp_path / "lc" / "de-DE" / "test").glob("*.npz"))) == 1
    assert results["trie"]["model_info"]["decoding"] == "trie"
    assert results["trie"]["performance"] == results["score"]["performance"]
    # per example: constrained generation picks the argmax of the label scores
    classifier, tokenizer = load_classifier(model)
    scores = predict_logits(classifier, tokenizer, texts, batch_size=8, progress=False)
    classifier.decoding = "trie"
    rows = predict_logits(classifier, tokenizer, texts, batch_size=8, progress=False)
    assert rows.argmax(1).tolist() == scores.argmax(1).tolist()


def test_decoding_trie_on_an_encoder_or_with_a_cache_is_one_clear_error(
    trained, locale_models, tmp_path, capsys
):
    encoder = next(locale_models(["de-DE"]).iterdir())
    argv = [
        "--locale",
        "de-DE",
        "--dataset-name",
        "builtin",
        "--decoding",
        "trie",
        "--results-root",
        str(tmp_path),
    ]
    assert evaluate_cmd.run(["--model-path", str(encoder), *argv]) == 2
    assert "is not one. Leave --decoding at score" in capsys.readouterr().err
    assert (
        evaluate_cmd.run(["--model-path", str(trained["llama"]), *argv, "--logits-cache", str(tmp_path)]) == 2
    )
    assert "not cached; drop --logits-cache" in capsys.readouterr().err


def test_loss_is_on_the_label_tokens_only(decoder_bases, gen_data):
    from datasets import Dataset

    base = decoder_bases["llama"]
    tok = PromptTokenizer(AutoTokenizer.from_pretrained(base), GenerativeSpec())
    split = Dataset.from_dict(
        {"text": ["wake me up at seven", "play jazz"], "intent": ["alarm_set", "play_music"]}
    )
    rows = causal_features(split, tok, max_length=48)
    for row, text, intent in zip(rows, split["text"], split["intent"]):
        prompt = tok.prompt_ids([text])[0]
        target = tok.label_sequences[INTENT_LABELS.index(intent)]
        assert row["input_ids"] == prompt + target and target[-1] == tok.eos_id
        assert row["labels"] == [IGNORE_INDEX] * len(prompt) + target
    batch = GenerativeCollator(tok.pad_id)(list(rows))
    assert batch["input_ids"].shape[1] == max(len(r["input_ids"]) for r in rows)  # dynamic padding
    lm = AutoModelForCausalLM.from_pretrained(base)
    with torch.no_grad():
        out = lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        logp = out.logits.double().log_softmax(-1)
    # hand: mean over label tokens of -log p(token | everything before it); the prompt is not scored
    terms = [
        -float(logp[i, t - 1, int(batch["input_ids"][i, t])])
        for i, r in enumerate(rows)
        for t in range(len(r["input_ids"]))
        if r["labels"][t] != IGNORE_INDEX
    ]
    assert float(out.loss) == pytest.approx(np.mean(terms), rel=1e-5)
    ones = weighted_label_loss(out.logits, batch["labels"], torch.ones(2))
    assert float(ones) == pytest.approx(np.mean(terms), rel=1e-5)
    # class weights: each row's label tokens weighted by its weight, normalised by the weighted token count
    weights = torch.tensor([3.0, 0.5])
    counts = [sum(1 for v in r["labels"] if v != IGNORE_INDEX) for r in rows]
    per_row = np.split(np.array(terms), np.cumsum(counts)[:-1])
    hand = sum(w * p.sum() for w, p in zip(weights.tolist(), per_row)) / sum(
        w * c for w, c in zip(weights.tolist(), counts)
    )
    assert float(weighted_label_loss(out.logits, batch["labels"], weights)) == pytest.approx(hand, rel=1e-5)


def test_class_weighted_training_runs_the_weighted_loss(decoder_bases, tmp_path):
    out = tmp_path / "weighted"
    assert train_cmd.run([*train_argv(decoder_bases["gpt2"], "nl-NL", out), "--class_weights", "true"]) == 0
    assert json.loads((out / "run_metadata.json").read_text())["class_weights"] is True
    assert np.isfinite(json.loads((out / "all_results.json").read_text())["train_loss"])


def test_lora_is_merged_back_into_full_weights(decoder_bases, tmp_path):
    base = decoder_bases["llama"]
    out = tmp_path / "lora"
    argv = [*train_argv(base, "de-DE", out), "--use_lora", "--lora_target_modules", "q_proj,v_proj"]
    assert train_cmd.run(argv) == 0
    assert not list(out.glob("adapter_*"))
    trained_w, base_w = load_file(out / "model.safetensors"), load_file(base / "model.safetensors")
    assert trained_w.keys() == base_w.keys()  # full weights under the base's names, no lora_ tensors
    changed = {k for k in base_w if not torch.equal(trained_w[k], base_w[k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)
    assert json.loads((out / "run_metadata.json").read_text())["use_lora"] is True
    assert generative_spec(out) == GenerativeSpec()


def test_lora_default_follows_the_parameter_threshold(decoder_bases):
    base = str(decoder_bases["llama"])
    lm = AutoModelForCausalLM.from_pretrained(base)
    assert parameter_count(base) == sum(p.numel() for p in lm.parameters())
    assert wants_lora(None, base) is False and wants_lora(True, base) is True
    resolved = resolved_model_arguments(ModelArguments(model_name_or_path=base, task="generative"))
    assert resolved.use_lora is False and resolved.lora_target_modules == "all-linear"
    encoder = resolved_model_arguments(ModelArguments(model_name_or_path=base))
    assert encoder.use_lora is False and encoder.lora_target_modules == "query,value"


def test_bad_template_and_task_are_clear_errors(decoder_bases, tmp_path, capsys):
    argv = train_argv(decoder_bases["llama"], "de-DE", tmp_path / "bad")
    assert train_cmd.run([*argv, "--prompt_template", "no placeholder"]) == 2
    assert r"{text} exactly once" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def parse(argv: list[str]):
    return train_cmd.parse_command_line(argv)[0]


class CrashAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_equals_an_uninterrupted_run(decoder_bases, tmp_path):
    base = decoder_bases["llama"]
    common = ("--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--seed", "3")
    ref, out = tmp_path / "ref", tmp_path / "crashy"
    assert train_cmd.run([*train_argv(base, "de-DE", ref), *common]) == 0
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_classifier(parse([*train_argv(base, "de-DE", out), *common]), callbacks=[CrashAfterSave()])
    assert not out.exists() and latest_checkpoint(checkpoints_dir(out)).name == "checkpoint-2"
    assert (
        train_cmd.run([*train_argv(base, "de-DE", out), *common, "--resume_from_checkpoint", "latest"]) == 0
    )
    resumed, reference = load_file(out / "model.safetensors"), load_file(ref / "model.safetensors")
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], atol=1e-5, rtol=1e-5, msg=key)
    assert generative_spec(out) == GenerativeSpec()


def test_early_stopping_on_dev_accuracy(decoder_bases, tmp_path):
    # learning rate 0: dev accuracy never improves, so with patience 1 training stops after the 2nd epoch
    out = tmp_path / "early"
    argv = [*train_argv(decoder_bases["gpt2"], "de-DE", out), "--num_train_epochs", "5", "--learning_rate", "0",
            "--early_stopping_patience", "1", "--max_train_samples", "16", "--keep_checkpoints"]  # fmt: skip
    assert train_cmd.run(argv) == 0
    assert json.loads((out / "all_results.json").read_text())["global_step"] == 2 * (16 // 8)


def test_mixture_and_gradient_checkpointing(decoder_bases, tmp_path):
    out = tmp_path / "mix"
    argv = train_argv(decoder_bases["qwen2"], "de-DE,nl-NL", out)
    argv[argv.index("--max_train_samples") + 1] = "24"
    from transformers import TrainingArguments

    # transformers 5 renamed it (the old name still works, with a FutureWarning): the name this version knows
    fields = TrainingArguments.__dataclass_fields__
    flag = (
        "--activation_checkpointing" if "activation_checkpointing" in fields else "--gradient_checkpointing"
    )
    assert train_cmd.run([*argv, "--mixture_rates", "0.75,0.25", flag, "true"]) == 0
    meta = json.loads((out / "run_metadata.json").read_text())
    assert meta["data_composition"] and meta["mixture_rates"] == "0.75,0.25"
    assert json.loads((out / "training_config.json").read_text())["training_arguments"][
        "gradient_checkpointing"
    ]
