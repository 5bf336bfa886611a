"""Fixtures of the generative (decoder LM) tests: tiny random decoders of several families with a word-level
tokenizer, built here (never downloaded), "fine-tuned" locale models (the base plus seeded noise, marked as
generative intent models) and a small dataset cut from the built-in corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from merginguriel.data.labels import INTENT_LABELS
from merginguriel.generative.classifier import DEFAULT_PROMPT_TEMPLATE, GenerativeSpec, default_label_text
from merginguriel.generative.tiny import build_tiny_decoder
from merginguriel.models.paths import model_dir_name
from tests.training.conftest import write_tiny_dataset

FAMILIES = ("llama", "qwen2", "gpt2")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run several times faster on one thread on a small, busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def decoder_bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family -> a saved tiny random decoder (the "pretrained" base) with its tokenizer."""
    root = tmp_path_factory.mktemp("decoders")
    return {f: build_tiny_decoder(root / f"tiny-{f}", f, seed=i) for i, f in enumerate(FAMILIES)}


@pytest.fixture(scope="session")
def gen_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("gen_data") / "massive_tiny")


def save_generative_model(
    base: Path, root: Path, locale: str, seed: int, scale: float = 0.05, spec: GenerativeSpec | None = None
) -> Path:
    """A "fine-tuned" generative intent model for ``locale``: the base plus seeded noise, with the marker."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * scale)
    (spec or GenerativeSpec()).apply(model.config)
    out = root / model_dir_name(base, locale)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


@pytest.fixture()
def generative_models(tmp_path: Path, decoder_bases: dict[str, Path]):
    """Factory: (models root, paths) of perturbed generative models of one family for the locales."""

    def make(locales: list[str], family: str = "llama", seed: int = 0) -> tuple[Path, dict[str, Path]]:
        root = tmp_path / "haryos_model"
        paths = {
            loc: save_generative_model(decoder_bases[family], root, loc, seed + i)
            for i, loc in enumerate(locales)
        }
        return root, paths

    return make


def independent_scores(lm, tokenizer, texts, template=DEFAULT_PROMPT_TEMPLATE) -> np.ndarray:
    """Σ_t log p(label token t | prompt, earlier label tokens), EOS included: one unpadded forward per
    (text, label), float64 log-softmax, no cache."""
    out = np.zeros((len(texts), len(INTENT_LABELS)))
    for i, text in enumerate(texts):
        prompt = tokenizer(template.replace("{text}", text))["input_ids"]
        for j, name in enumerate(INTENT_LABELS):
            label = tokenizer(default_label_text(name), add_special_tokens=False)["input_ids"]
            label = [*label, tokenizer.eos_token_id]
            with torch.no_grad():
                logits = lm(input_ids=torch.tensor([prompt + label])).logits[0].double()
            logp = logits.log_softmax(-1)
            out[i, j] = sum(float(logp[len(prompt) - 1 + t, tok]) for t, tok in enumerate(label))
    return out
