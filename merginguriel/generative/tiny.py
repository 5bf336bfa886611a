"""Tiny randomly initialised decoder LMs with a word-level tokenizer built from the built-in corpus, offline: the
"pretrained" base of the generative demo and of the tests (Llama, Qwen2, Mistral, Gemma and GPT-2 families).

The tokenizer lower-cases, splits on white space and punctuation, and knows the words of the built-in corpus's
training splits, of the default prompt template and of every default label text (so the 60 labels tokenize
apart); it adds ``<s>`` before a text (as Llama's does) and nothing after.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from merginguriel.data.labels import INTENT_LABELS
from merginguriel.data.massive import BUILTIN_CORPUS_DIR
from merginguriel.errors import UserError
from merginguriel.generative.classifier import DEFAULT_PROMPT_TEMPLATE, default_label_text

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
FAMILIES = ("llama", "qwen2", "mistral", "gemma", "gpt2", "mixtral", "qwen2_moe")
MOE_FAMILIES = ("mixtral", "qwen2_moe")  # mixture-of-experts decoders: 4 experts, 2 per token
_WORD = re.compile(r"\w+|[^\w\s]")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def vocabulary(max_corpus_words: int = 2000) -> list[str]:
    """Specials, the template's and the label texts' words, then the corpus's most frequent training words."""
    fixed: dict[str, None] = dict.fromkeys(SPECIALS)
    for text in [DEFAULT_PROMPT_TEMPLATE.replace("{text}", " "), *map(default_label_text, INTENT_LABELS)]:
        fixed.update(dict.fromkeys(_words(text)))
    counts: Counter[str] = Counter()
    for path in sorted(BUILTIN_CORPUS_DIR.glob("*/train.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            counts.update(_words(json.loads(line)["utt"]))
    corpus = [w for w, _ in counts.most_common() if w not in fixed][:max_corpus_words]
    return [*fixed, *corpus]


def build_word_tokenizer(words: list[str] | None = None) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` over ``words`` (default :func:`vocabulary`)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(dict.fromkeys(words or vocabulary()))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", BOS_ID)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        model_max_length=256,
    )  # fmt: skip


def tiny_decoder_config(
    family: str, vocab_size: int, hidden: int = 32, layers: int = 2, experts: int = 4
) -> Any:
    """A tiny config of one decoder family (tied input/output embeddings except Mistral's; ``experts`` for the
    mixture-of-experts families)."""
    import transformers

    ids = {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID}
    if family == "gpt2":
        return transformers.GPT2Config(
            vocab_size=vocab_size, n_embd=hidden, n_layer=layers, n_head=4, n_positions=256, **ids
        )
    if family == "mixtral":
        return transformers.MixtralConfig(
            vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, num_local_experts=experts,
            num_experts_per_tok=2, tie_word_embeddings=True, **ids,
        )  # fmt: skip
    if family == "qwen2_moe":
        return transformers.Qwen2MoeConfig(
            vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, moe_intermediate_size=hidden,
            shared_expert_intermediate_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, num_experts=experts, num_experts_per_tok=2,
            tie_word_embeddings=True, **ids,
        )  # fmt: skip
    classes = {
        "llama": transformers.LlamaConfig,
        "qwen2": transformers.Qwen2Config,
        "mistral": transformers.MistralConfig,
        "gemma": transformers.GemmaConfig,
    }
    if family not in classes:
        raise UserError(f"Unknown decoder family {family!r}; choose from {', '.join(FAMILIES)}.")
    extra = {"head_dim": hidden // 4} if family == "gemma" else {}
    return classes[family](
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=family != "mistral", **ids, **extra,
    )  # fmt: skip


def build_tiny_decoder(
    folder: str | os.PathLike,
    family: str = "llama",
    seed: int = 0,
    hidden: int = 32,
    layers: int = 2,
    experts: int = 4,
) -> Path:
    """Save a randomly initialised tiny causal LM of ``family`` and its word-level tokenizer in ``folder``."""
    from transformers import AutoModelForCausalLM

    tokenizer = build_word_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(
        tiny_decoder_config(family, len(tokenizer), hidden, layers, experts)
    )
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


__all__ = [
    "FAMILIES",
    "MOE_FAMILIES",
    "build_tiny_decoder",
    "build_word_tokenizer",
    "tiny_decoder_config",
    "vocabulary",
]
