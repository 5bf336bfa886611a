"""Sequence packing (``train --task generative --packing``): the first-fit-decreasing rows, attention kept within
each example (the packed logits equal each example's own forward pass), the same label-token loss and gradients as
padding (class-weighted too), a packed training run ending where the padded one does, and the encoder error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from merginguriel.cli.commands import train as train_cmd
from merginguriel.generative.classifier import GenerativeSpec, PromptTokenizer
from merginguriel.generative.tiny import build_tiny_decoder
from merginguriel.training.generative import (
    IGNORE_INDEX,
    GenerativeCollator,
    causal_features,
    pack_rows,
    weighted_label_loss,
)
from tests.generative.test_training import corpus_rows, train_argv

PACKING_FAMILIES = ("llama", "qwen2", "mistral", "gemma", "gpt2")


def test_pack_rows_is_first_fit_decreasing() -> None:
    # by hand: sorted 9, 7, 5, 4, 3, 2 (indices 2, 0, 4, 1, 5, 3); capacity 10:
    # 9 -> row A (room 1); 7 -> row B (3); 5 -> row C (5); 4 -> C (1); 3 -> B (0); 2 -> new row D
    assert pack_rows([7, 4, 9, 2, 5, 3], 10) == [[2], [0, 5], [4, 1], [3]]
    assert pack_rows([12, 3], 10) == [[0], [1]]  # longer than a row: a row of its own, nothing joins it
    lengths = [5, 17, 3, 8, 8, 1, 30, 2, 9, 11]
    rows = pack_rows(lengths, 20)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 20 for row in rows if len(row) > 1)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("packing_bases")
    return {f: build_tiny_decoder(root / f, f, seed=3) for f in PACKING_FAMILIES}


def training_rows(base: Path, n: int = 10) -> tuple[PromptTokenizer, list[dict]]:
    tok = PromptTokenizer(AutoTokenizer.from_pretrained(base), GenerativeSpec())
    texts, intents = corpus_rows("de-DE", "train", n)
    rows = causal_features(Dataset.from_dict({"text": texts, "intent": intents}), tok, max_length=48)
    return tok, list(rows)


def test_a_packed_batch_holds_every_example_once_with_its_own_positions(bases) -> None:
    tok, rows = training_rows(bases["llama"])
    batch = GenerativeCollator(tok.pad_id, pack_length=64)(rows)
    assert "attention_mask" not in batch and batch["use_cache"] is False
    lengths = [len(r["input_ids"]) for r in rows]
    assert batch["input_ids"].shape[0] == len(pack_rows(lengths, 64)) < len(rows)
    starts = (batch["position_ids"] == 0).sum().item()
    tail = (
        (batch["input_ids"] == tok.pad_id).any(dim=1).sum().item()
    )  # rows with a pad tail (its own sequence)
    assert starts == len(rows) + tail
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == sum(
        sum(v != IGNORE_INDEX for v in r["labels"]) for r in rows
    )


@pytest.mark.parametrize("family", PACKING_FAMILIES)
def test_packed_logits_equal_each_examples_own_forward_pass(bases, family) -> None:
    """Attention stays within each example: every packed token's logits equal those of the example run alone."""
    tok, rows = training_rows(bases[family])
    lm = AutoModelForCausalLM.from_pretrained(bases[family], attn_implementation="sdpa").eval()
    batch = GenerativeCollator(tok.pad_id, pack_length=64)(rows)
    order = pack_rows([len(r["input_ids"]) for r in rows], 64)
    with torch.no_grad():
        packed = lm(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        for r, row in enumerate(order):
            offset = 0
            for i in row:
                ids = torch.tensor([rows[i]["input_ids"]])
                alone = lm(input_ids=ids).logits[0]
                torch.testing.assert_close(
                    packed[r, offset : offset + ids.shape[1]], alone, atol=2e-5, rtol=1e-4
                )
                offset += ids.shape[1]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_packed_loss_and_gradients_equal_the_padded_ones(bases, family) -> None:
    tok, rows = training_rows(bases[family])
    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(bases[family], attn_implementation="eager")
    grads = []
    for collator in (GenerativeCollator(tok.pad_id), GenerativeCollator(tok.pad_id, pack_length=64)):
        lm.zero_grad()
        batch = collator(rows)
        batch.pop("intent_id", None), batch.pop("token_intent", None)
        loss = lm(**batch).loss
        loss.backward()
        grads.append(
            (loss.item(), {n: p.grad.clone() for n, p in lm.named_parameters() if p.grad is not None})
        )
    (padded_loss, padded), (packed_loss, packed) = grads
    assert packed_loss == pytest.approx(padded_loss, rel=1e-5)
    for name in padded:
        torch.testing.assert_close(packed[name], padded[name], atol=1e-6, rtol=1e-4, msg=name)


def test_class_weighted_loss_is_the_same_packed_and_padded(bases) -> None:
    tok, rows = training_rows(bases["qwen2"])
    lm = AutoModelForCausalLM.from_pretrained(bases["qwen2"]).eval()
    class_weights = torch.linspace(0.2, 3.0, 60)
    padded = GenerativeCollator(tok.pad_id)(rows)
    packed = GenerativeCollator(tok.pad_id, pack_length=64)(rows)
    with torch.no_grad():
        a = lm(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits
        b = lm(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits
    by_row = weighted_label_loss(a, padded["labels"], class_weights[padded["intent_id"]])
    by_token = weighted_label_loss(b, packed["labels"], class_weights[packed["token_intent"]])
    assert float(by_token) == pytest.approx(float(by_row), rel=1e-5)


def test_a_packed_training_run_ends_where_the_padded_one_does(bases, tmp_path) -> None:
    base = bases["llama"]
    common = (
        "--max_steps",
        "3",
        "--seed",
        "5",
        "--attn_implementation",
        "sdpa",
        "--optim",
        "sgd",
        "--learning_rate",
        "0.5",
    )
    padded, packed = tmp_path / "padded", tmp_path / "packed"
    assert train_cmd.run([*train_argv(base, "de-DE", padded), *common]) == 0
    assert (
        train_cmd.run([*train_argv(base, "de-DE", packed), *common, "--packing", "--packing_length", "96"])
        == 0
    )
    assert json.loads((packed / "run_metadata.json").read_text())["packing_length"] == 96
    assert json.loads((padded / "run_metadata.json").read_text())["packing_length"] is None
    a, b = load_file(padded / "model.safetensors"), load_file(packed / "model.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=2e-5, rtol=1e-4, msg=key)


def test_packing_an_encoder_is_one_clear_error(tmp_path, capsys) -> None:
    out = tmp_path / "enc"
    argv = ["--model_name_or_path", str(tmp_path), "--dataset_name", "builtin", "--dataset_config_name", "de-DE",
            "--output_dir", str(out), "--do_train", "--packing"]  # fmt: skip
    assert train_cmd.run(argv) == 2
    err = capsys.readouterr().err
    assert "--packing" in err and "--task generative" in err and "Traceback" not in err
    assert not out.exists()
