"""Vocabulary trimming: the trimmed model computes the same logits on the texts it was trimmed to, for WordLevel
and Unigram (SentencePiece) tokenizers; merging commutes with trimming; what cannot be trimmed is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    XLMRobertaForSequenceClassification,
)

from merginguriel.cli import main as cli_main
from merginguriel.data.massive import DataSelection, load_selection
from merginguriel.models.vocabulary import VocabularyError, trim_models, trim_vocabulary, used_token_ids
from tests.tiny_models import SPECIALS, tiny_config


def _texts(locales: list[str], split: str = "train") -> list[str]:
    return [t for loc in locales for t in load_selection(DataSelection("builtin", loc, split)).texts]


def _logits(folder: Path, texts: list[str]) -> np.ndarray:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        return model(**batch).logits.numpy()


def _unigram_classifier(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A tiny classifier whose tokenizer is a SentencePiece-style Unigram model trained on ``texts``."""
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=SPECIALS, unk_token="<unk>")
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=64,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = XLMRobertaForSequenceClassification(tiny_config(len(fast), num_labels=5))
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_unigram_trim_keeps_logits_and_segmentation(tmp_path: Path) -> None:
    corpus = _texts(["en-US", "de-DE", "fr-FR", "es-ES"])
    source = _unigram_classifier(tmp_path / "full", corpus)
    texts = _texts(["de-DE", "fr-FR"], "test")
    tokenizer = AutoTokenizer.from_pretrained(source)
    keep = used_token_ids(tokenizer, texts, 64)
    result = trim_vocabulary(source, tmp_path / "trimmed", keep, texts, 64)

    vocab = len(tokenizer)
    assert result.vocab_before == vocab and result.vocab_after == len(keep | {0, 1, 2, 3, 4}) < vocab
    hidden = 32
    assert result.parameters_before - result.parameters_after == (vocab - result.vocab_after) * hidden
    # the same rows, renumbered in their old order
    old = load_file(str(source / "model.safetensors"))
    new = load_file(str(tmp_path / "trimmed" / "model.safetensors"))
    key = next(k for k in old if k.endswith("word_embeddings.weight"))
    order = sorted(keep | {int(i) for i in tokenizer.all_special_ids})
    assert torch.equal(new[key], old[key][order])
    assert all(torch.equal(new[k], old[k]) for k in old if k != key)
    # the same segmentation (renumbered) and the same logits on the texts trimmed to
    trimmed_tok = AutoTokenizer.from_pretrained(tmp_path / "trimmed")
    new_id = {o: n for n, o in enumerate(order)}
    for text in texts[:50]:
        assert trimmed_tok(text)["input_ids"] == [new_id[i] for i in tokenizer(text)["input_ids"]]
    np.testing.assert_array_equal(_logits(tmp_path / "trimmed", texts), _logits(source, texts))
    config = json.loads((tmp_path / "trimmed" / "config.json").read_text())
    assert config["vocab_size"] == len(order) and config["pad_token_id"] == new_id[1]


def test_models_of_one_base_trim_to_the_same_ids_and_merging_commutes(tmp_path: Path, tiny_base: Path, locale_models) -> None:  # fmt: skip
    """A linear merge of trimmed models equals the trimmed linear merge of the full models, tensor by tensor."""
    from auto_merge_llm import merge_models

    root = locale_models(["de-DE", "nl-NL", "af-ZA"])
    sources = sorted(root.iterdir())
    texts = _texts(["de-DE", "nl-NL", "af-ZA"], "validation")
    outs = [tmp_path / "trim" / p.name for p in sources]
    done = trim_models(sources, outs, texts, 64)
    assert len({d.vocab_after for d in done}) == 1
    weights = [0.5, 0.3, 0.2]
    merge_models(sources, weights, "linear", output_dir=tmp_path / "full_merge", base_model=tiny_base)
    merge_models(outs, weights, "linear", output_dir=tmp_path / "trim_merge", base_model=outs[0])
    full = load_file(str(tmp_path / "full_merge" / "model.safetensors"))
    trimmed = load_file(str(tmp_path / "trim_merge" / "model.safetensors"))
    keep = sorted(used_token_ids(AutoTokenizer.from_pretrained(sources[0]), texts, 64))
    for key, tensor in full.items():
        expected = tensor[keep] if key.endswith("word_embeddings.weight") else tensor
        torch.testing.assert_close(trimmed[key], expected, rtol=0, atol=0)
    np.testing.assert_allclose(
        _logits(tmp_path / "trim_merge", texts), _logits(tmp_path / "full_merge", texts), rtol=0, atol=1e-6
    )


def test_models_sharing_a_trimmed_tokenizer_share_its_check(
    tmp_path: Path, locale_models, monkeypatch
) -> None:
    """The lossless check tokenizes every text with the original and the trimmed tokenizer: models of one base
    get identical trimmed tokenizer files, so it runs once for all of them — and again for a model whose
    trimmed tokenizer differs (here: one more special token kept)."""
    from merginguriel.models import vocabulary

    calls = []
    check = vocabulary._check_same_ids
    monkeypatch.setattr(vocabulary, "_check_same_ids", lambda *a: (calls.append(1), check(*a))[1])
    sources = sorted(locale_models(["de-DE", "nl-NL", "af-ZA"]).iterdir())
    texts = _texts(["de-DE"], "validation")
    done = trim_models(sources, [tmp_path / p.name for p in sources], texts, 64)
    assert len(calls) == 1 and len({d.tokenizer_digest for d in done}) == 1
    keep = used_token_ids(AutoTokenizer.from_pretrained(sources[0]), texts, 64)
    unused = min(set(range(50)) - keep - set(AutoTokenizer.from_pretrained(sources[0]).all_special_ids))
    other = trim_vocabulary(sources[0], tmp_path / "other", keep | {unused}, texts, 64,
                            checked_digests={done[0].tokenizer_digest})  # fmt: skip
    assert len(calls) == 2 and other.tokenizer_digest != done[0].tokenizer_digest
    again = trim_vocabulary(sources[1], tmp_path / "again", keep, texts, 64, checked_digests={done[0].tokenizer_digest})  # fmt: skip
    assert len(calls) == 2 and again.tokenizer_digest == done[0].tokenizer_digest


def test_a_keep_set_that_changes_a_text_is_refused_and_nothing_is_written(tmp_path: Path, tiny_base: Path, locale_models) -> None:  # fmt: skip
    source = next(locale_models(["de-DE"]).iterdir())
    texts = _texts(["de-DE"], "validation")
    tokenizer = AutoTokenizer.from_pretrained(source)
    keep = used_token_ids(tokenizer, texts, 64)
    dropped = max(keep)  # a word some text uses: it would become <unk>
    with pytest.raises(VocabularyError, match="segments .* differently"):
        trim_vocabulary(source, tmp_path / "out", keep - {dropped}, texts, 64)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_bpe_tokenizers_and_mixed_tokenizers_are_refused(tmp_path: Path, tiny_base: Path) -> None:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(_texts(["en-US"]), trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    model = XLMRobertaForSequenceClassification(tiny_config(len(fast), num_labels=5))
    model.save_pretrained(tmp_path / "bpe")
    fast.save_pretrained(tmp_path / "bpe")
    with pytest.raises(VocabularyError, match="BPE"):
        trim_vocabulary(tmp_path / "bpe", tmp_path / "out", {5, 6}, [])
    with pytest.raises(VocabularyError, match="do not share one tokenizer"):
        trim_models([tiny_base, tmp_path / "bpe"], [tmp_path / "a", tmp_path / "b"], ["hello"])


def test_cli_trims_a_models_root_and_its_base(tmp_path: Path, tiny_base: Path, locale_models, capsys) -> None:
    root = locale_models(["de-DE", "nl-NL"])
    code = cli_main(
        ["trim-vocabulary", "--models-root", str(root), "--base-model", str(tiny_base), "--dataset-name",
         "builtin", "--text-locales", "de-DE,nl-NL", "--output-dir", str(tmp_path / "out"), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "trimmed 3 models" in printed and f"--models-root {tmp_path / 'out' / 'models'}" in printed
    texts = _texts(["de-DE", "nl-NL"], "test")
    for model in sorted(root.iterdir()):
        trimmed = tmp_path / "out" / "models" / model.name
        np.testing.assert_array_equal(_logits(trimmed, texts), _logits(model, texts))
    base = json.loads((tmp_path / "out" / "base" / tiny_base.name / "config.json").read_text())
    assert base["vocab_size"] < len(AutoTokenizer.from_pretrained(tiny_base))
    # a second run refuses to overwrite, one clear line
    code = cli_main(
        ["trim-vocabulary", "--models-root", str(root), "--base-model", str(tiny_base), "--dataset-name",
         "builtin", "--output-dir", str(tmp_path / "out"), "--no-progress"]
    )  # fmt: skip
    assert code == 2 and "--overwrite" in capsys.readouterr().err
