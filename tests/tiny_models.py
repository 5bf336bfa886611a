"""Tiny XLM-R classifiers and a word-level tokenizer, built from scratch for tests (no download)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
)

from merginguriel.data.labels import ID2LABEL, LABEL2ID
from merginguriel.data.massive import BUILTIN_CORPUS_DIR
from merginguriel.models.paths import model_dir_name

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def corpus_words(limit: int = 2000) -> list[str]:
    """Words of the built-in corpus (all locales), most frequent first."""
    import json
    from collections import Counter

    counts: Counter[str] = Counter()
    for path in sorted(BUILTIN_CORPUS_DIR.glob("*/train.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            counts.update(json.loads(line)["utt"].lower().split())
    return [w for w, _ in counts.most_common(limit)]


def build_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + [w for w in words if w not in SPECIALS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=64,
    )


def tiny_config(vocab_size: int, **extra) -> XLMRobertaConfig:
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=72,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **extra,
    )


def build_tiny_base(folder: Path, seed: int = 0) -> Path:
    """Save a randomly initialised tiny XLMRobertaModel (the 'pretrained' base) with its tokenizer."""
    words = corpus_words()
    tokenizer = build_tokenizer(words or ["hello", "world"])
    torch.manual_seed(seed)
    model = XLMRobertaModel(tiny_config(len(tokenizer)))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_locale_model(base: Path, models_root: Path, locale: str, seed: int, scale: float = 0.02) -> Path:
    """A 'fine-tuned' classifier for ``locale``: the base plus seeded noise, canonical labels, own head."""
    torch.manual_seed(seed)
    config = XLMRobertaConfig.from_pretrained(
        base, num_labels=len(ID2LABEL), id2label=dict(ID2LABEL), label2id=dict(LABEL2ID)
    )
    model = XLMRobertaForSequenceClassification.from_pretrained(base, config=config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * scale)
    out = models_root / model_dir_name(base, locale)
    model.save_pretrained(out)
    PreTrainedTokenizerFast.from_pretrained(base).save_pretrained(out)
    return out
