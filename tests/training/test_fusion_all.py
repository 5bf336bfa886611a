"""``merginguriel fusion --fusion-type all``: the four fusion types trained (locally, and as the tasks of one
submitit array job), each with its per-epoch CSV and the same values as TensorBoard scalars, compared in one
table and plot; errors before any work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from merginguriel.cli import options as opts
from merginguriel.cli.commands import fusion as fusion_cmd
from merginguriel.experiments.sweep import SlurmOptions
from merginguriel.models.fusion import FUSION_TYPES
from merginguriel.outputs.tracking import TENSORBOARD_DIR


def fusion_argv(root: Path, tiny_base: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["--experts", "de-DE,nl-NL", "--models-root", str(root), "--base-model", str(tiny_base),
            "--dataset-name", str(data), "--fusion-type", "all", "--epochs", "2", "--base_lr", "1e-3",
            "--head_lr", "1e-2", "--batch-size", "8", "--max-seq-length", "32", "--max-train-samples", "16",
            "--max-eval-samples", "4", "--output-dir", str(out), "--device", "cpu", "--no-progress", *extra]  # fmt: skip


def scalars(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def check_outputs(out: Path, eval_locale: str | None = None) -> pd.DataFrame:
    comparison = pd.read_csv(out / "fusion_comparison.csv")
    assert sorted(comparison["fusion_type"]) == sorted(FUSION_TYPES)
    assert (out / "fusion_comparison.png").is_file()
    for fusion_type in FUSION_TYPES:
        folder = out / fusion_type
        log = pd.read_csv(folder / "training_log.csv")
        assert log["epoch"].tolist() == [1, 2] and (folder / "complete").is_dir()
        row = comparison.set_index("fusion_type").loc[fusion_type]
        assert row["dev_accuracy"] == pytest.approx(log["dev_accuracy"].iloc[-1])
        assert row["best_dev_accuracy"] == pytest.approx(log["dev_accuracy"].max())
        assert row["train_seconds"] == pytest.approx(log["seconds"].sum())
        # TensorBoard holds the CSV's values, one point per epoch
        for column in ("dev_accuracy", "train_loss", "lr_experts"):
            assert scalars(folder / TENSORBOARD_DIR, f"fusion/{column}") == [
                (e, pytest.approx(v, rel=1e-6)) for e, v in zip(log["epoch"], log[column])
            ]
        if eval_locale:
            evaluated = pd.read_csv(folder / "eval_complete_test.csv").set_index("locale")
            assert row[f"accuracy_{eval_locale}"] == pytest.approx(evaluated.loc[eval_locale, "accuracy"])
    return comparison


def test_all_fusion_types_train_locally_with_a_log_per_epoch(
    tmp_path, tiny_base, tiny_data, locale_models, capsys
):
    root = locale_models(["de-DE", "nl-NL"])
    out = tmp_path / "all"
    assert fusion_cmd.main(fusion_argv(root, tiny_base, tiny_data, out, "--eval-locales", "af-ZA")) == 0
    check_outputs(out, "af-ZA")
    printed = capsys.readouterr().out
    assert all(f"{t} epoch 2:" in printed for t in FUSION_TYPES)


def test_all_fusion_types_as_the_tasks_of_one_array_job(
    tmp_path, tiny_base, tiny_data, locale_models, monkeypatch, capsys
):
    """The Slurm launcher's path with submitit's in-process executor (the real-cluster test is in tests/slurm)."""
    root = locale_models(["de-DE", "nl-NL"])
    out = tmp_path / "jobs"

    def debug_cluster(args):
        return SlurmOptions(time=args.slurm_time, mem=args.slurm_mem, cluster="debug")

    monkeypatch.setattr(opts, "slurm_options", debug_cluster)
    argv = fusion_argv(root, tiny_base, tiny_data, out, "--launcher", "slurm", "--slurm-time", "00:20:00")
    assert fusion_cmd.main(argv) == 0
    assert "submitted 4 jobs" in capsys.readouterr().out
    check_outputs(out)
    assert (out / "slurm_logs").is_dir()


def test_fusion_all_refuses_a_single_hub_repository(tmp_path, tiny_base, tiny_data, locale_models, capsys):
    root = locale_models(["de-DE", "nl-NL"])
    out = tmp_path / "hub"
    argv = fusion_argv(root, tiny_base, tiny_data, out, "--push-to-hub", "me/fusion")
    assert fusion_cmd.run(argv) == 2
    assert "one --fusion-type" in capsys.readouterr().err and not out.exists()
