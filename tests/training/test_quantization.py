"""QLoRA (``train --quantization 4bit|8bit``) on tiny models, on bitsandbytes' CPU backend: the adapters merged into
the full-precision base equal ``W + (alpha / r) B A`` computed by hand, a 4-bit and an 8-bit run train on a
quantised base and save a full-precision model that evaluates, an encoder too, and the errors come before any work."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, TrainerCallback

from merginguriel.cli.commands import train as train_cmd
from merginguriel.generative.tiny import build_tiny_decoder
from merginguriel.training.lora import quiet_deprecations
from merginguriel.training.quantization import (
    merge_into_full_precision,
    prepare_quantised,
    quantization_config,
)
from tests.generative.test_training import train_argv
from tests.training.conftest import quick_args, read_json
from tests.training.test_trainer import train

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None, reason="bitsandbytes not installed (the qlora extra)"
)


@pytest.fixture(scope="module")
def decoder(tmp_path_factory) -> Path:
    return build_tiny_decoder(tmp_path_factory.mktemp("qlora") / "llama", "llama", seed=4, hidden=64)


def test_adapters_merge_into_the_full_precision_base_as_w_plus_scaled_ba(decoder) -> None:
    from peft import LoraConfig, get_peft_model

    quantised = AutoModelForCausalLM.from_pretrained(
        decoder, quantization_config=quantization_config("4bit", torch.float32)
    )
    assert type(quantised.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    config = LoraConfig(r=4, lora_alpha=12, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    with quiet_deprecations():  # peft calls a transformers method v5 deprecated
        peft = get_peft_model(prepare_quantised(quantised, False), config)
    torch.manual_seed(0)
    for name, param in peft.named_parameters():
        if "lora_B" in name:  # peft starts B at 0 (no update): give it one
            param.data.normal_()
    full = AutoModelForCausalLM.from_pretrained(decoder)
    reference = {k: v.clone() for k, v in full.state_dict().items()}
    adapters = {n: p.detach().clone() for n, p in peft.named_parameters() if "lora_" in n}
    merged = merge_into_full_precision(peft, full).state_dict()
    for layer in range(2):
        for proj in ("q_proj", "v_proj", "k_proj"):
            key = f"model.layers.{layer}.self_attn.{proj}.weight"
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            if proj == "k_proj":  # not adapted: the full-precision base, untouched
                assert torch.equal(merged[key], reference[key])
                continue
            a, b = adapters[f"{prefix}.lora_A.default.weight"], adapters[f"{prefix}.lora_B.default.weight"]
            hand = reference[key] + (12 / 4) * b @ a
            assert merged[key].dtype == torch.float32
            torch.testing.assert_close(merged[key], hand, atol=1e-5, rtol=1e-5)


class LinearKinds(TrainerCallback):
    def __init__(self) -> None:
        self.kinds: set[str] = set()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.kinds = {type(m).__name__ for m in model.modules()}


@pytest.mark.parametrize(("kind", "layer"), [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_a_quantised_run_trains_adapters_and_saves_a_full_precision_model(
    decoder, tmp_path, kind, layer
) -> None:
    out = tmp_path / kind
    seen = LinearKinds()
    train(train_argv(decoder, "de-DE", out, "--max_steps", "2", "--quantization", kind), callbacks=[seen])
    assert layer in seen.kinds  # it trained on the quantised base
    saved, base = load_file(out / "model.safetensors"), load_file(decoder / "model.safetensors")
    assert saved.keys() == base.keys() and all(t.dtype == torch.float32 for t in saved.values())
    changed = {k for k in base if not torch.equal(saved[k], base[k])}
    assert changed and all(
        k.endswith("proj.weight") for k in changed
    )  # only the adapted (all-linear) matrices
    meta = read_json(out / "run_metadata.json")
    assert meta["quantization"] == kind and meta["use_lora"] is True
    card = (out / "README.md").read_text()
    assert f"{kind} (QLoRA)" in card and "full-precision base with the LoRA update merged in" in card
    assert json.loads((out / "all_results.json").read_text())["eval_accuracy"] >= 0.0


def test_a_quantised_encoder_keeps_its_head_in_full_precision(tiny_base, tiny_data, tmp_path) -> None:
    out = tmp_path / "enc"
    seen = LinearKinds()
    train(quick_args(tiny_base, tiny_data, "de-DE", out, "--max_steps", "2", "--quantization", "8bit"),
          callbacks=[seen])  # fmt: skip
    assert "Linear8bitLt" in seen.kinds
    saved = load_file(out / "model.safetensors")
    assert saved["classifier.out_proj.weight"].shape[0] == 60
    assert all(t.dtype == torch.float32 for t in saved.values())
    assert read_json(out / "run_metadata.json")["quantization"] == "8bit"


def test_quantisation_errors_come_before_any_work(decoder, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "bad"
    assert (
        train_cmd.run([*train_argv(decoder, "de-DE", out), "--quantization", "4bit", "--use_lora", "false"])
        == 2
    )
    assert "QLoRA" in capsys.readouterr().err and not out.exists()
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a)
    )
    assert train_cmd.run([*train_argv(decoder, "de-DE", out), "--quantization", "8bit"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'merginguriel[qlora]'" in err and "Traceback" not in err and not out.exists()


def test_a_merge_says_which_sources_were_qlora_trained(matrix_csv, locale_models, tiny_base) -> None:
    from merginguriel.merging.pipeline import plan_merge
    from merginguriel.models.paths import model_dir_name
    from tests.test_merge_pipeline import request

    root = locale_models(["de-DE", "nl-NL"])
    (root / model_dir_name(tiny_base, "nl-NL") / "run_metadata.json").write_text(
        json.dumps({"quantization": "4bit"})
    )
    (root / model_dir_name(tiny_base, "de-DE") / "run_metadata.json").write_text(
        json.dumps({"quantization": "none"})
    )
    plan = plan_merge(
        request("similarity", "af-ZA", str(root), str(tiny_base), str(matrix_csv), num_languages=2)
    )
    assert plan.notes == [
        "nl-NL was trained with --quantization 4bit (QLoRA): merged are its saved weights, the full-precision base "
        "with its LoRA update merged in"
    ]
