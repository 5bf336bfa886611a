"""Label scoring and constrained generation of the generative classifier against independent computations: an
unbatched, uncached scoring loop, the summed (not length-normalised) rule with EOS, chunk invariance, the trie
search agreeing with the scores, gradients, and the marker and prompt tokenizer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from merginguriel.data.labels import INTENT_LABELS
from merginguriel.generative.classifier import (
    DEFAULT_PROMPT_TEMPLATE,
    MARKER_KEY,
    GenerativeClassifier,
    GenerativeSpec,
    GenerativeSpecError,
    LabelTrie,
    PromptTokenizer,
    generative_spec,
    is_generative,
    score_labels,
    trie_decode,
)
from merginguriel.generative.tiny import build_tiny_decoder, build_word_tokenizer
from merginguriel.models.inference import load_classifier, predict_logits
from tests.generative.conftest import FAMILIES, independent_scores

TEXTS = [
    "wake me up at seven",
    "what is the weather like in paris tomorrow morning please",
    "play some jazz",
    "turn off the lights in the bedroom",
]


@pytest.fixture(scope="module")
def models(decoder_bases):
    out = {}
    for family, path in decoder_bases.items():
        tok = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path).eval()
        out[family] = (lm, tok, PromptTokenizer(tok, GenerativeSpec()))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_label_scores_equal_an_independent_scoring_loop(models, family):
    lm, tok, prompts = models[family]
    with torch.no_grad():
        enc = prompts(TEXTS)
        got = score_labels(lm, enc["input_ids"], enc["attention_mask"], prompts.label_sequences).numpy()
    np.testing.assert_allclose(got, independent_scores(lm, tok, TEXTS), atol=2e-4, rtol=1e-5)
    assert enc["attention_mask"].sum(1).tolist() != [enc["input_ids"].shape[1]] * len(TEXTS)  # padded batch


@pytest.mark.parametrize("family", ["mistral", "gemma"])
def test_other_families_score_the_same_way(tmp_path, family):
    path = build_tiny_decoder(tmp_path / family, family)
    tok = AutoTokenizer.from_pretrained(path)
    lm = AutoModelForCausalLM.from_pretrained(path).eval()
    prompts = PromptTokenizer(tok, GenerativeSpec())
    with torch.no_grad():
        enc = prompts(TEXTS[:2])
        got = score_labels(lm, enc["input_ids"], enc["attention_mask"], prompts.label_sequences).numpy()
    np.testing.assert_allclose(got, independent_scores(lm, tok, TEXTS[:2]), atol=2e-4, rtol=1e-5)


def test_scores_are_sums_with_eos_and_do_not_depend_on_chunking(models):
    lm, _, prompts = models["llama"]
    seqs = prompts.label_sequences
    assert all(s[-1] == prompts.eos_id for s in seqs)
    enc = prompts(TEXTS)
    with torch.no_grad():
        whole = score_labels(lm, enc["input_ids"], enc["attention_mask"], seqs)
        chunked = score_labels(lm, enc["input_ids"], enc["attention_mask"], seqs, chunk_bytes=1)
        # one label alone, and the same label without its EOS: the difference is log p(EOS | ...) < 0
        j = 1
        one = score_labels(lm, enc["input_ids"], enc["attention_mask"], [seqs[j]])
        no_eos = score_labels(lm, enc["input_ids"], enc["attention_mask"], [seqs[j][:-1]])
    torch.testing.assert_close(whole, chunked, atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(one[:, 0], whole[:, j], atol=1e-5, rtol=1e-6)
    assert bool((no_eos[:, 0] > one[:, 0]).all())  # a sum over more (negative) log-probs, not a mean


@pytest.mark.parametrize("family", FAMILIES)
def test_constrained_generation_predicts_what_scoring_predicts(models, family):
    lm, _, prompts = models[family]
    texts = TEXTS * 2 + ["set an alarm", "how much is a euro in dollars", "tell me a joke", "order a pizza"]
    enc = prompts(texts)
    with torch.no_grad():
        scores = score_labels(lm, enc["input_ids"], enc["attention_mask"], prompts.label_sequences)
        rows = trie_decode(lm, enc["input_ids"], enc["attention_mask"], prompts.label_sequences)
    assert rows.argmax(1).tolist() == scores.argmax(1).tolist()
    torch.testing.assert_close(rows.max(1).values, scores.max(1).values, atol=1e-4, rtol=1e-5)
    # every other entry is an upper bound of that label's score (its deepest explored prefix)
    assert bool((rows >= scores - 1e-4).all())


def test_label_trie_is_prefix_free_and_shares_prefixes(models):
    _, _, prompts = models["llama"]
    trie = LabelTrie(prompts.label_sequences)
    assert len(trie.leaves) == len(INTENT_LABELS)
    # 'iot', 'play', 'qa', ... start several labels: the root has fewer children than there are labels
    assert len(trie.children[()]) < len(INTENT_LABELS)
    assert not any(seq[:d] in trie.leaves for seq in trie.sequences for d in range(len(seq)))


def test_scores_are_differentiable(models):
    lm, _, prompts = models["gpt2"]
    enc = prompts(TEXTS[:2])
    scores = score_labels(lm, enc["input_ids"], enc["attention_mask"], prompts.label_sequences)
    scores.log_softmax(-1)[:, 3].sum().backward()
    grads = [p.grad for p in lm.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    lm.zero_grad()


def test_prompt_tokenizer_applies_the_template_and_keeps_the_end(models):
    _, tok, prompts = models["llama"]
    ids = prompts.prompt_ids(["wake me up"])[0]
    assert ids == tok("Utterance: wake me up\nIntent:")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.convert_ids_to_tokens(ids[-2:]) == ["intent", ":"]
    short = prompts.prompt_ids(["wake me up"], max_length=3)[0]
    assert short == ids[-3:]
    batch = prompts(["wake me up", "play jazz now please"], max_length=32)
    assert batch["attention_mask"].tolist()[0][-1] == 0  # right padding
    assert batch["input_ids"][0, -1].item() == prompts.pad_id


def test_labels_that_tokenize_alike_are_refused():
    words = ["<pad>", "<s>", "</s>", "<unk>", "utterance", ":", "intent"]  # no label word: all are <unk>
    with pytest.raises(GenerativeSpecError, match="tokenize to the same ids"):
        PromptTokenizer(build_word_tokenizer(words), GenerativeSpec())


def test_spec_marker_round_trip_and_errors(tmp_path, decoder_bases):
    spec = GenerativeSpec(prompt_template="Q: {text} A:")
    assert GenerativeSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert spec.labels == list(INTENT_LABELS) and spec.texts[0] == " datetime query"
    with pytest.raises(GenerativeSpecError, match=r"\{text\} exactly once"):
        GenerativeSpec(prompt_template="no placeholder")
    with pytest.raises(GenerativeSpecError, match="format"):
        GenerativeSpec.from_json({"format": 99})
    assert not is_generative(decoder_bases["llama"])  # a plain LM is not a generative intent model
    assert generative_spec(tmp_path) is None


def test_load_classifier_dispatches_and_predict_logits_gives_the_scores(tmp_path, decoder_bases, models):
    from tests.generative.conftest import save_generative_model

    path = save_generative_model(decoder_bases["qwen2"], tmp_path, "de-DE", seed=1)
    config = json.loads((path / "config.json").read_text())
    assert config[MARKER_KEY]["prompt_template"] == DEFAULT_PROMPT_TEMPLATE
    assert config["id2label"]["0"] == INTENT_LABELS[0]
    model, tokenizer = load_classifier(path)
    assert isinstance(model, GenerativeClassifier) and model.config.num_labels == 60
    logits = predict_logits(model, tokenizer, TEXTS, batch_size=3, max_length=64, progress=False)
    lm = AutoModelForCausalLM.from_pretrained(path).eval()
    np.testing.assert_allclose(logits, independent_scores(lm, AutoTokenizer.from_pretrained(path), TEXTS),
                               atol=2e-4, rtol=1e-5)  # fmt: skip
    # the wrapper's parameters are the LM's own, under the checkpoint's names
    assert {n for n, _ in model.named_parameters()} == {n for n, _ in lm.named_parameters()}
