"""Mixture-of-experts decoders (tiny Mixtral and Qwen-MoE): trained as generative intent classifiers with the
router's load-balancing loss, evaluated, and merged expert by expert (checked here slice by slice against the
method on each expert alone); models with different expert counts are refused with one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from auto_merge_llm import MergeError, merge_models, merge_tensors
from safetensors.torch import load_file

from merginguriel.cli.commands import train as train_cmd
from merginguriel.generative.tiny import MOE_FAMILIES, build_tiny_decoder
from merginguriel.training.generative import GenerativeTrainer, weighted_label_loss
from tests.generative.conftest import save_generative_model
from tests.generative.test_training import train_argv


@pytest.fixture(scope="module")
def moe_bases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("moe")
    return {f: build_tiny_decoder(root / f"tiny-{f}", f, seed=7) for f in MOE_FAMILIES}


def tensors(folder: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


@pytest.mark.parametrize("family", MOE_FAMILIES)
def test_moe_decoders_train_with_the_router_loss_and_evaluate(moe_bases, tmp_path, family) -> None:
    out = tmp_path / family
    assert train_cmd.run(train_argv(moe_bases[family], "de-DE", out, "--max_train_samples", "16")) == 0
    meta = json.loads((out / "run_metadata.json").read_text())
    assert meta["num_experts"] == 4 and meta["experts_per_token"] == 2 and meta["router_aux_loss_coef"] > 0
    results = json.loads((out / "all_results.json").read_text())
    assert 0.0 <= results["eval_accuracy"] <= 1.0  # dev accuracy by label scoring of the MoE model
    assert (
        json.loads((out / "config.json").read_text())["output_router_logits"] is False
    )  # a training setting


def test_the_weighted_loss_adds_the_router_loss(moe_bases) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(moe_bases["mixtral"])
    model.config.output_router_logits = True
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 50, (3, 9), generator=g)
    labels = ids.clone()
    labels[:, :5] = -100
    stub = type("Stub", (), {"class_weights": torch.tensor([1.0, 2.0, 0.5])})()
    loss = GenerativeTrainer.compute_loss(stub, model, {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                                                        "labels": labels, "intent_id": torch.tensor([0, 1, 2])})  # fmt: skip
    outputs = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    expected = weighted_label_loss(outputs.logits, labels, torch.tensor([1.0, 2.0, 0.5]))
    expected = expected + model.config.router_aux_loss_coef * outputs.aux_loss
    torch.testing.assert_close(loss, expected)
    assert float(outputs.aux_loss.detach()) > 0


@pytest.mark.parametrize("family", MOE_FAMILIES)
def test_experts_are_merged_expert_by_expert(moe_bases, tmp_path, family) -> None:
    paths = [save_generative_model(moe_bases[family], tmp_path / "m", loc, seed) for seed, loc in
             enumerate(["de-DE", "nl-NL", "en-US"])]  # fmt: skip
    base = moe_bases[family]
    merge_models(paths, [0.5, 0.3, 0.2], method="ties", output_dir=tmp_path / "ties", base_model=base,
                 method_params={"density": 0.4}, progress=False)  # fmt: skip
    merged, sds, base_sd = tensors(tmp_path / "ties"), [tensors(p) for p in paths], tensors(base)
    experts = [n for n in merged if ".experts." in n]
    assert len({n.split(".experts.")[1].split(".")[0] for n in experts}) == 4  # saved one tensor per expert
    for n in experts:  # each expert merged on its own: TIES trims each expert's task vector separately
        expected = merge_tensors("ties", [sd[n] for sd in sds], [0.5, 0.3, 0.2], base=base_sd[n],
                                 method_params={"density": 0.4})  # fmt: skip
        torch.testing.assert_close(merged[n], expected, msg=n)
    router = next(n for n in merged if n.endswith(".gate.weight"))  # a linear layer like any other
    expected = merge_tensors("ties", [sd[router] for sd in sds], [0.5, 0.3, 0.2], base=base_sd[router],
                             method_params={"density": 0.4})  # fmt: skip
    torch.testing.assert_close(merged[router], expected)


def test_different_expert_counts_are_refused(moe_bases, tmp_path) -> None:
    eight = build_tiny_decoder(tmp_path / "eight", "mixtral", seed=7, experts=8)
    with pytest.raises(MergeError, match="has 8 experts per layer but model 0 .* has 4"):
        merge_models([moe_bases["mixtral"], eight], [1, 1], output_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
