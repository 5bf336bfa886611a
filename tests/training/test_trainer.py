"""The trainer's features against hand-computed values: class weights and the weighted loss, mixture counts,
LoRA merged back into full weights, run metadata, resume after a crash, early stopping, precision choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from transformers import TrainerCallback

from merginguriel.cli.commands import train as train_cmd
from merginguriel.training.data import mixture_counts
from merginguriel.training.outputs import latest_checkpoint
from merginguriel.training.trainer import (
    WeightedLossTrainer,
    checkpoints_dir,
    choose_precision,
    inverse_frequency_weights,
    train_classifier,
)
from tests.training.conftest import quick_args, read_json


def parse(argv):
    return train_cmd.parse_command_line(argv)[0]


def train(argv, callbacks=None):
    return train_classifier(parse(argv), callbacks=callbacks)


def test_inverse_frequency_weights_by_hand():
    # N = 6 examples, K = 3 classes present (0: 3, 1: 1, 2: 2), class 3 absent
    w = inverse_frequency_weights([0, 0, 0, 1, 2, 2], 4)
    np.testing.assert_allclose(w, [6 / 9, 6 / 3, 6 / 6, 0.0])
    counts = np.array([3, 1, 2, 0])
    assert (counts * w).sum() / 6 == pytest.approx(1.0)  # frequency-weighted mean is 1


def test_weighted_loss_matches_hand_computation():
    class Head(torch.nn.Module):
        def forward(self, logits):
            return type("Out", (), {"logits": logits})()

    trainer = WeightedLossTrainer.__new__(WeightedLossTrainer)
    trainer.class_weights = torch.tensor([0.5, 2.0, 1.0])
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 0.0]])
    labels = np.array([0, 1, 2])
    loss = trainer.compute_loss(Head(), {"logits": torch.tensor(logits), "labels": torch.tensor(labels)})
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nll = -log_softmax[np.arange(3), labels]
    w = np.array([0.5, 2.0, 1.0])[labels]
    assert float(loss) == pytest.approx((w * nll).sum() / w.sum(), rel=1e-6)


def test_mixture_counts_by_hand():
    assert mixture_counts([20, 20], [0.7, 0.3]) == [28, 12]
    assert mixture_counts([10, 10, 10], [1, 1, 1], total=10) == [4, 3, 3]  # largest remainder, ties by order
    assert mixture_counts([5, 50], [0.5, 0.5], total=9) == [5, 4]
    with pytest.raises(ValueError, match="one rate per locale"):
        mixture_counts([5, 5], [1.0])


def test_mixture_lora_class_weights_end_to_end(tmp_path, tiny_base, tiny_data):
    """Mixture 0.75/0.25 of 16+16 rows -> 24 de-DE + 8 nl-NL; LoRA is merged back into full weights."""
    out = tmp_path / "mix"
    seen = {}

    class Capture(TrainerCallback):
        def on_train_end(self, args, state, control, model=None, **kwargs):
            layer = model.base_model.model.roberta.encoder.layer[0].attention.self
            q = layer.query
            seen["expected_query"] = (
                (
                    q.base_layer.weight
                    + (q.lora_B["default"].weight @ q.lora_A["default"].weight) * q.scaling["default"]
                )
                .detach()
                .numpy()
            )
            seen["key"] = layer.key.weight.detach().numpy().copy()

    argv = quick_args(tiny_base, tiny_data, "de-DE,nl-NL", out, "--mixture_rates", "0.75,0.25", "--max_steps", "3",
                      "--use_lora", "--lora_r", "4", "--lora_alpha", "8", "--class_weights")  # fmt: skip
    metrics = train(argv, callbacks=[Capture()])
    assert metrics["train_examples_per_locale"] == {"de-DE": 24, "nl-NL": 8}
    saved = load_file(str(out / "model.safetensors"))
    assert not any("lora" in k for k in saved)
    np.testing.assert_allclose(
        saved["roberta.encoder.layer.0.attention.self.query.weight"], seen["expected_query"], atol=1e-6
    )
    base = load_file(str(tiny_base / "model.safetensors"))
    base_key = next(v for k, v in base.items() if k.endswith("encoder.layer.0.attention.self.key.weight"))
    np.testing.assert_array_equal(
        saved["roberta.encoder.layer.0.attention.self.key.weight"], base_key
    )  # frozen
    meta = read_json(out / "run_metadata.json")
    assert meta["data_composition"] == {"de-DE": 24, "nl-NL": 8}
    assert meta["trainable_parameters"] < meta["total_parameters"]
    assert meta["trainable_share"] == pytest.approx(meta["trainable_parameters"] / meta["total_parameters"])
    assert meta["device"] == "cpu" and meta["precision"] == "fp32"
    # token budget: 3 steps x batch 4 = 12 of the 32 examples -> 12/32 of the tokens of one epoch
    assert meta["budget_epochs"] == pytest.approx(12 / 32)
    assert meta["token_budget"] == round(meta["train_tokens_per_epoch"] * 12 / 32)
    config = read_json(out / "training_config.json")
    assert config["training_arguments"]["output_dir"] == str(out)  # not the staging folder
    assert config["data_arguments"]["mixture_rates"] == "0.75,0.25"
    assert config["extra_training_arguments"]["class_weights"] is True
    assert config["model_arguments"]["lora_r"] == 4
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((out / "runs").glob("*")))).Reload()
    total = events.Scalars("run_metadata/total_parameters")
    assert total[0].step == 0 and total[0].value == meta["total_parameters"]


class CrashAfterSave(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("resume", ["latest", "path"])
def test_resume_from_checkpoint_continues_from_saved_step(tmp_path, tiny_base, tiny_data, resume):
    common = ("--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--seed", "3")
    ref = tmp_path / "ref"
    train(
        quick_args(
            tiny_base, tiny_data, "de-DE", ref, *common, "--save_total_limit", "1", "--keep_checkpoints"
        )
    )
    assert [p.name for p in (ref / "checkpoints").iterdir()] == ["checkpoint-4"]  # --save_total_limit 1
    out = tmp_path / "crashy"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(quick_args(tiny_base, tiny_data, "de-DE", out, *common), callbacks=[CrashAfterSave(2)])
    assert not out.exists()  # the model folder is atomic
    assert latest_checkpoint(checkpoints_dir(out)).name == "checkpoint-2"  # the checkpoint survived
    # the same command without --resume_from_checkpoint is refused: the checkpoints are not discarded silently
    assert train_cmd.run(quick_args(tiny_base, tiny_data, "de-DE", out, *common)) == 2
    assert latest_checkpoint(checkpoints_dir(out)).name == "checkpoint-2"

    steps = []

    class Steps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(state.global_step)

    where = "latest" if resume == "latest" else str(checkpoints_dir(out) / "checkpoint-2")
    argv = quick_args(tiny_base, tiny_data, "de-DE", out, *common, "--resume_from_checkpoint", where)
    metrics = train(argv, callbacks=[Steps()])
    assert steps == [3, 4] and metrics["global_step"] == 4
    resumed, reference = load_file(str(out / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    for key in reference:
        np.testing.assert_allclose(resumed[key], reference[key], atol=1e-5, err_msg=key)
    assert not checkpoints_dir(out).exists()  # cleaned up after success


def test_early_stopping_stops_after_patience(tmp_path, tiny_base, tiny_data):
    # learning rate 0: the dev metric never improves, so with patience 1 training stops after the 2nd epoch
    out = tmp_path / "early"
    argv = quick_args(tiny_base, tiny_data, "de-DE", out, "--num_train_epochs", "5", "--early_stopping_patience", "1",
                      "--learning_rate", "0", "--max_eval_samples", "4", "--keep_checkpoints",
                      "--max_train_samples", "8")  # fmt: skip
    metrics = train(argv)
    steps_per_epoch = 8 // 4
    assert metrics["global_step"] == 2 * steps_per_epoch
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_choose_precision():
    assert choose_precision("auto", "cuda", True) == "bf16"
    assert choose_precision("auto", "cuda", False) == "fp16"
    assert choose_precision("auto", "mps", False) == "fp32"
    assert choose_precision("auto", "cpu", False) == "fp32"
    assert choose_precision("fp16", "cpu", False) == "fp16"


def test_cli_flags_of_the_demo_still_parse(tmp_path, tiny_base, tiny_data):
    out = tmp_path / "demo_flags"
    rc = train_cmd.main([
        "--model_name_or_path", str(tiny_base), "--locale", "de-DE", "--dataset-name", str(tiny_data),
        "--output_dir", str(out), "--overwrite", "--do_train", "--num_train_epochs", "1", "--learning_rate", "1e-3",
        "--per_device_train_batch_size", "8", "--max_seq_length", "32", "--seed", "1", "--disable_tqdm", "true",
        "--logging_strategy", "no", "--warmup_ratio", "0.1", "--max_train_samples", "8",
        "--lr_scheduler_type", "cosine", "--gradient_accumulation_steps", "2",
    ])  # fmt: skip
    assert rc == 0
    config = read_json(out / "training_config.json")["training_arguments"]
    assert config["lr_scheduler_type"] == "cosine" and config["gradient_accumulation_steps"] == 2
    assert config.get("warmup_ratio", config.get("warmup_steps")) == 0.1
    assert read_json(out / "all_results.json")["global_step"] == 1  # 8 rows / (8 x 2 accumulation) -> 1 step


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset_config_name", "de-DE,nl-NL", "--mixture_rates", "0.7"], "1 rates for 2 locales"),
        (["--dataset_config_name", "de-DE,nl-NL", "--mixture_rates", "a,b"], "not a comma-separated list"),
        (["--dataset_config_name", "de-DE,nl-NL", "--mixture_rates", "1,-1"], "must be >= 0"),
        (["--dataset_config_name", "fr-FR"], "fr-FR not in dataset"),
        (["--model_name_or_path", "/nonexistent/model"], "no such model folder"),
        (["--resume_from_checkpoint", "/nonexistent/checkpoint-3"], "not a checkpoint folder"),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(tmp_path, tiny_base, tiny_data, capsys, extra, message):
    out = tmp_path / "never"
    assert train_cmd.run(quick_args(tiny_base, tiny_data, "de-DE", out, *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_report_to_wandb(tmp_path, tiny_base, tiny_data, monkeypatch):
    """``--report_to wandb`` logs offline with WANDB_MODE=offline (run metadata in the run config); without the
    package it is a clear error."""
    argv = quick_args(
        tiny_base, tiny_data, "de-DE", tmp_path / "wb", "--max_steps", "1", "--report_to", "wandb"
    )
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs the wandb package"):
            train(argv)
        return
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(argv)
    train([*argv, "--output_dir", str(tmp_path / "wb2")])  # a second model in the same process ...
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 2  # ... logs to a run of its own
    assert all(b"token_budget" in r.read_bytes() for r in runs)  # the run metadata is in each run's config
    assert (tmp_path / "wb" / "runs").is_dir()  # TensorBoard as well


def test_metrics_line_formats_by_hand():
    from merginguriel.training.callbacks import metrics_line

    line = metrics_line({"locales": ["de-DE", "nl-NL"], "eval_accuracy": 0.84849975, "global_step": 720,
                         "train_examples_per_locale": {"de-DE": 11514, "nl-NL": 3}, "done": True})  # fmt: skip
    assert line == (
        "locales=de-DE,nl-NL eval_accuracy=0.8485 global_step=720 train_examples_per_locale=de-DE:11514,nl-NL:3 "
        "done=True"
    )


def test_training_logs_one_line_per_step_and_no_library_noise(tmp_path, tiny_base, tiny_data, caplog, capsys):
    """With progress bars off, Trainer's raw log dicts become ``step N/M: key=value`` lines; pinned memory is
    turned off without an accelerator, so torch's pin_memory warning a user cannot act on never appears."""
    import logging
    import warnings

    argv = quick_args(tiny_base, tiny_data, "de-DE", tmp_path / "m", "--max_steps", "2", "--logging_strategy",
                      "steps", "--logging_steps", "1", "--dataloader_pin_memory", "true")  # fmt: skip
    with (
        caplog.at_level(logging.INFO, logger="merginguriel.training"),
        warnings.catch_warnings(record=True) as w,
    ):
        warnings.simplefilter("always")
        train(argv)
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [s.split(":")[0] for s in steps[:2]] == ["step 1/2", "step 2/2"]
    assert all("{" not in s and "loss=" in s for s in steps[:2])
    assert "{'loss'" not in capsys.readouterr().out
    if not torch.cuda.is_available():
        assert not [x for x in w if "pin_memory" in str(x.message)]


def test_freeze_embeddings_keeps_the_word_embeddings_and_trains_the_rest(tmp_path, tiny_base, tiny_data):
    out = tmp_path / "frozen"
    argv = quick_args(tiny_base, tiny_data, "de-DE", out, "--num_train_epochs", "2", "--learning_rate", "1e-2",
                      "--max_train_samples", "8", "--freeze_embeddings")  # fmt: skip
    train(argv)
    base = load_file(str(tiny_base / "model.safetensors"))
    trained = load_file(str(out / "model.safetensors"))
    word = next(k for k in trained if k.endswith("word_embeddings.weight"))
    base_word = next(k for k in base if k.endswith("word_embeddings.weight"))
    np.testing.assert_array_equal(trained[word], base[base_word])  # bit for bit
    layer = next(k for k in trained if k.endswith("attention.self.query.weight"))
    assert not np.array_equal(
        trained[layer], base[next(k for k in base if k.endswith(layer.split(".", 1)[1]))]
    )


def test_a_new_head_is_one_log_line_not_the_load_report(tmp_path, tiny_base, tiny_data, caplog, capfd):
    import logging

    argv = quick_args(tiny_base, tiny_data, "de-DE", tmp_path / "m", "--max_steps", "1")
    with caplog.at_level(logging.INFO, logger="merginguriel.training"):
        train(argv)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("newly initialised")]
    assert len(lines) == 1 and "classifier.out_proj.weight" in lines[0]  # XLM-R's head, absent from the base
    captured = capfd.readouterr()
    assert "LOAD REPORT" not in captured.err + captured.out and "MISSING" not in captured.err + captured.out
