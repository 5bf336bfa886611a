"""Garbage where a command keeps its state — an iterative run's state file, an NxN run's configuration or
matrix, a sweep's state.jsonl — is named (with the way out), never a traceback."""

from __future__ import annotations

import json

import pytest

from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.data.massive import DataSelection
from merginguriel.experiments.sweep.state import read_state
from merginguriel.similarity.selection import SimilarityOptions
from merginguriel.training import iterative as it

GARBAGE = {"not json": "{'config': ", "a list": "[1, 2, 3]", "no config": '{"status": "running"}'}


@pytest.mark.parametrize("content", list(GARBAGE), ids=list(GARBAGE))
def test_a_garbage_iterative_state_is_named(tmp_path, tiny_dataset, matrix_csv, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / it.STATE_FILE).write_text(GARBAGE[content])
    config = it.IterativeConfig(
        target="af-ZA", locales=["de-DE"], output_dir=str(out), base_model="unused",
        data=DataSelection(str(tiny_dataset), split="train"), similarity=SimilarityOptions(str(matrix_csv)),
    )  # fmt: skip
    with pytest.raises(ValueError, match=rf"{out / it.STATE_FILE}.*--overwrite"):
        it.IterativeTrainer(config)
    assert it.IterativeTrainer(config, overwrite=True).state["epochs_done"] == 0  # the way out works


@pytest.mark.parametrize("broken", ["nxn_config.json", "evaluation_matrix.csv"])
def test_resuming_a_garbage_nxn_run_is_one_error(tmp_path, scale_models, tiny_dataset, broken, capsys):
    argv = ["--models-root", str(scale_models), "--dataset-name", str(tiny_dataset), "--locales", "af-ZA,nl-NL",
            "--output-root", str(tmp_path / "nxn"), "--no-cache", "--no-heatmap", "--device", "cpu"]  # fmt: skip
    assert nxn_cmd.run(argv) == 0
    (run_dir,) = (tmp_path / "nxn").iterdir()
    (run_dir / broken).write_text("\x00garbage,,\n1,2,3\n")
    capsys.readouterr()
    assert nxn_cmd.run([*argv, "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(run_dir / broken) in errors[0] and "Traceback" not in err


def test_a_torn_or_garbage_sweep_state_line_is_skipped(tmp_path):
    state = tmp_path / "state.jsonl"
    good = {"name": "similarity_af-ZA", "status": "success"}
    state.write_text(json.dumps(good) + "\n" + "garbage {\n" + '{"name": "ties_af-ZA", "stat')
    assert read_state(state) == [good]  # a kill tears at most the last line; the rest is kept


@pytest.mark.parametrize("how", ["path", "latest"])
def test_a_garbage_trainer_state_on_resume_is_named(tmp_path, tiny_base, tiny_dataset, how, capsys):
    from merginguriel.cli.commands import train as train_cmd
    from merginguriel.training.outputs import checkpoints_dir
    from tests.training.conftest import quick_args

    out = tmp_path / "model"
    ckpt = checkpoints_dir(out) / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text('{"global_st')  # a kill while Trainer wrote it
    resume = str(ckpt) if how == "path" else "latest"
    argv = quick_args(
        tiny_base, tiny_dataset, "af-ZA", out, "--max_steps", "1", "--resume_from_checkpoint", resume
    )
    assert train_cmd.run(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(ckpt / "trainer_state.json") in errors[0] and "Traceback" not in err
    assert not out.exists()
