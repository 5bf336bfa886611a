"""Snapshot averaging (against a hand-computed mean of the snapshots) and expert fusion (components reload into
a model whose logits equal the complete model's; evaluation like any other model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file

from merginguriel.cli.commands import fusion as fusion_cmd
from merginguriel.cli.commands import snapshot_average as snapshot_cmd
from merginguriel.data.labels import LABEL2ID
from merginguriel.data.massive import DataSelection, load_split
from merginguriel.models.evaluation import evaluate_model, predict_logits
from merginguriel.models.fusion import (
    FUSION_TYPES,
    build_fusion_model,
    load_fusion_model,
    save_complete,
    save_components,
)
from merginguriel.runtime import Runtime
from merginguriel.training.snapshot_averaging import run_order, snapshots
from tests.training.conftest import read_json


def test_snapshot_averaging_equals_hand_computed_means(tmp_path, tiny_base, tiny_data):
    out = tmp_path / "ofa"
    rc = snapshot_cmd.main([
        "--source-locales", "de-DE", "--target-lang", "nl-NL", "--seeds", "1,2", "--learning-rates", "1e-3,2e-3",
        "--epochs", "1", "--snapshot-steps", "1", "--batch-size", "4", "--max-train-samples", "8",
        "--max-seq-length", "32", "--max-eval-samples", "4", "--order-seed", "3", "--dataset-name", str(tiny_data),
        "--base-model", str(tiny_base), "--output-dir", str(out), "--device", "cpu", "--no-progress",
        "--additional-args", "--report_to", "none",
    ])  # fmt: skip
    assert rc == 0
    summary = read_json(out / "snapshot_averaging_results.json")
    order = run_order(2, 3)
    assert summary["run_order"] == order
    per_run = [snapshots(out / "runs" / f"run_{i}") for i in range(2)]
    assert [[p.name for p in snaps] for snaps in per_run] == [["checkpoint-1", "checkpoint-2"]] * 2
    run_means = []
    for snaps in per_run:
        tensors = [load_file(str(s / "model.safetensors")) for s in snaps]
        run_means.append({k: np.mean([t[k] for t in tensors], axis=0) for k in tensors[0]})
    assert not np.allclose(
        run_means[0]["classifier.out_proj.weight"], run_means[1]["classifier.out_proj.weight"]
    )
    for k in (1, 2):
        got = load_file(str(out / "averages" / f"cumulative_{k}" / "model.safetensors"))
        for key, value in got.items():
            expected = np.mean([run_means[j][key] for j in order[:k]], axis=0)
            np.testing.assert_allclose(value, expected, atol=1e-6, err_msg=f"k={k} {key}")
    table = pd.read_csv(out / "snapshot_averaging_results.csv")
    assert table["k"].tolist()[:2] == [1, 2] and pd.isna(table["k"].iloc[2])
    assert (
        open(out / "snapshot_averaging_results.csv").read().splitlines()[1].startswith("average of 1 run,1,")
    )
    assert table["model"].tolist() == [
        "average of 1 run",
        "average of 2 runs",
        "best single snapshot (source dev)",
    ]
    best = summary["results"][-1]
    dev = summary["snapshot_source_dev"]
    assert dev[best["path"]] == max(dev.values())
    # the reported target accuracy is the model's accuracy on the target, recomputed here independently
    data = load_split(tiny_data, "nl-NL", "test", max_samples=4)
    from merginguriel.models.evaluation import load_classifier

    model, tok = load_classifier(out / "averages" / "cumulative_2")
    pred = predict_logits(model, tok, data["text"], max_length=32, progress=False).argmax(1)
    assert summary["results"][1]["target_accuracy"] == pytest.approx(
        float(np.mean(pred == np.array(data["label"])))
    )
    assert (out / "snapshot_averaging_results.png").is_file()
    # a finished run is reused when the command runs again with the same settings, trained again otherwise
    from merginguriel.training.snapshot_averaging import SnapshotAveraging, SnapshotConfig

    config = SnapshotConfig(**{**summary["config"], "runtime": {"device": "cpu", "progress": False}})
    assert SnapshotAveraging(config)._same_run(out / "runs" / "run_0", 1, 1e-3)
    assert not SnapshotAveraging(config)._same_run(out / "runs" / "run_0", 2, 1e-3)


@pytest.mark.parametrize("fusion_type", FUSION_TYPES)
def test_fusion_components_and_complete_give_the_same_logits(tmp_path, tiny_base, locale_models, fusion_type):
    root = locale_models(["de-DE", "nl-NL"])
    paths = [root / f"tiny-xlmr_massive_k_{loc}" for loc in ("de-DE", "nl-NL")]
    model, tok = build_fusion_model(paths, ["de-DE", "nl-NL"], fusion_type)
    assert model.config.hidden_size == 32 and model.config.num_labels == len(LABEL2ID)
    model.eval()
    save_components(model, tok, tmp_path / "parts")
    save_complete(model, tok, tmp_path / "complete")
    texts = ["wake me up at seven", "wie spät ist es", "speel muziek af"]
    reference = predict_logits(model, tok, texts, progress=False)
    for folder in ("parts", "complete"):
        loaded, loaded_tok = load_fusion_model(tmp_path / folder)
        np.testing.assert_allclose(
            predict_logits(loaded, loaded_tok, texts, progress=False), reference, atol=1e-5
        )


def test_fusion_training_saves_reloads_and_evaluates(tmp_path, tiny_base, tiny_data, locale_models):
    root = locale_models(["de-DE", "nl-NL"])
    out = tmp_path / "fusion"
    rc = fusion_cmd.main([
        "--experts", "de-DE,nl-NL", "--models-root", str(root), "--base-model", str(tiny_base),
        "--dataset-name", str(tiny_data), "--fusion-type", "concatenation", "--epochs", "2", "--save-every", "1",
        "--base_lr", "1e-3", "--head_lr", "1e-2", "--warmup-ratio", "0", "--batch-size", "8", "--max-seq-length", "32",
        "--max-eval-samples", "4", "--output-dir", str(out), "--eval-locales", "af-ZA", "--device", "cpu",
        "--no-progress",
    ])  # fmt: skip
    assert rc == 0
    log = pd.read_csv(out / "training_log.csv")
    assert log["epoch"].tolist() == [1, 2] and (out / "training_log.png").is_file()
    # 32 rows / batch 8 = 4 steps per epoch, 8 in all; linear decay, no warmup: step i uses lr * (1 - i/8), and
    # the log holds each epoch's mean: (8+7+6+5)/32 and (4+3+2+1)/32 of the base rate
    assert log["lr_experts"].tolist() == pytest.approx([1e-3 * 26 / 32, 1e-3 * 10 / 32])
    assert log["lr_fusion_head"].tolist() == pytest.approx([1e-2 * 26 / 32, 1e-2 * 10 / 32])  # its own rate
    assert all((out / f"epoch_{e}" / "fusion.safetensors").is_file() for e in (1, 2))
    # experts were trained (not frozen): the saved expert differs from the one it started from
    start = load_file(str(root / "tiny-xlmr_massive_k_de-DE" / "model.safetensors"))
    trained = load_file(str(out / "epoch_2" / "experts" / "00_de-DE" / "model.safetensors"))
    key = "embeddings.word_embeddings.weight"
    assert not np.allclose(trained[key], start[f"roberta.{key}"])
    complete, tok = load_fusion_model(out / "complete")
    parts, parts_tok = load_fusion_model(out / "epoch_2")
    data = load_split(tiny_data, "af-ZA", "test")
    logits = predict_logits(complete, tok, data["text"], max_length=32, progress=False)
    np.testing.assert_allclose(predict_logits(parts, parts_tok, data["text"], max_length=32, progress=False), logits,
                               atol=1e-5)  # fmt: skip
    selection = DataSelection(str(tiny_data), "af-ZA", "test", max_seq_length=32)
    result = evaluate_model(out / "complete", selection, Runtime(progress=False), loaded=(complete, tok))
    expected = float(np.mean(logits.argmax(1) == np.array(data["label"])))
    assert result["performance"]["accuracy"] == pytest.approx(expected)
    # the fused folder is also evaluable like any other model folder (load_classifier rebuilds it)
    by_path = evaluate_model(out / "complete", selection, Runtime(progress=False))
    assert by_path["performance"]["accuracy"] == pytest.approx(expected)
    table = pd.read_csv(
        out / "eval_complete_test.csv"
    )  # the command evaluated the first 4 rows (--max-eval-samples)
    first4 = float(np.mean(logits[:4].argmax(1) == np.array(data["label"][:4])))
    assert table["accuracy"].tolist() == pytest.approx([first4])
    assert torch.is_tensor(next(complete.parameters()))
