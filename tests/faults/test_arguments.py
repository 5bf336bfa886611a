"""Arguments that used to be accepted and then misbehave: each is one ``error:`` line naming the flag and the
value, exit status 2, before any work and with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merginguriel.cli.commands import demo as demo_cmd
from merginguriel.cli.commands import ensemble as ensemble_cmd
from merginguriel.cli.commands import evaluate as evaluate_cmd
from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.cli.commands import select as select_cmd
from merginguriel.cli.commands import similarity as similarity_cmd
from merginguriel.cli.commands import sweep as sweep_cmd
from merginguriel.cli.commands import train_multilang as multilang_cmd


def run(module, argv: list[str], capsys) -> list[str]:
    """The command's exit status must be 2; its ``error:`` lines."""
    try:
        code = module.run(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def common(models: Path, data: Path, sim: Path) -> list[str]:
    return ["--models-root", str(models), "--base-model", "tiny-xlmr", "--dataset-name", str(data),
            "--similarity-matrix", str(sim), "--device", "cpu"]  # fmt: skip


COUNTS = [
    (merge_cmd, ["--target-lang", "af-ZA"], "--num-languages", "0"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--max-samples", "-3"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--batch-size", "0"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--max-seq-length", "0"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--num-fisher-examples", "0"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--top-k", "0"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--sinkhorn-iters", "-1"),
    (merge_cmd, ["--target-lang", "af-ZA"], "--temperature", "0"),
    (ensemble_cmd, ["--target-lang", "af-ZA"], "--num-languages", "-2"),
    (evaluate_cmd, ["--model-path", "m", "--locale", "af-ZA"], "--batch-size", "0"),
    (nxn_cmd, [], "--max-samples", "0"),
    (sweep_cmd, [], "--max-workers", "0"),
    (sweep_cmd, [], "--max-locales", "0"),
    (select_cmd, [], "--dev-samples", "0"),
    (similarity_cmd, [], "--top-k", "0"),
    (multilang_cmd, ["--super-model"], "--epochs", "0"),
    (multilang_cmd, ["--super-model"], "--batch-size", "-8"),
    (demo_cmd, [], "--num-languages", "0"),
]


@pytest.mark.parametrize(
    "module, argv, flag, value", COUNTS, ids=[f"{m.__name__.split('.')[-1]}{f}={v}" for m, _, f, v in COUNTS]
)
def test_zero_or_negative_counts_are_refused_by_the_parser(module, argv, flag, value, capsys):
    (line,) = run(module, [*argv, flag, value], capsys)
    assert flag in line and repr(value) in line


def test_an_empty_output_name_is_refused(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    argv = ["--target-lang", "af-ZA", "--num-languages", "3", *common(scale_models, tiny_dataset, similarity_csv),
            "--output-name", "",
            "--merged-models-root", str(tmp_path / "m"), "--results-root", str(tmp_path / "r")]  # fmt: skip
    (line,) = run(merge_cmd, argv, capsys)
    assert "--output-name" in line and not (tmp_path / "m").exists()


def test_an_unknown_sweep_mode_is_an_error_before_any_experiment(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):  # fmt: skip
    argv = [*common(scale_models, tiny_dataset, similarity_csv), "--locales", "af-ZA", "--modes", "similarity",
            "tiess", "--results-root", str(tmp_path / "r"), "--merged-models-root", str(tmp_path / "m")]  # fmt: skip
    (line,) = run(sweep_cmd, argv, capsys)
    assert "tiess" in line and "ties" in line
    assert not (tmp_path / "r").exists() and not (tmp_path / "m").exists()


def test_an_unknown_demo_mode_is_an_error_before_any_training(tmp_path, capsys):
    (line,) = run(demo_cmd, ["--workdir", str(tmp_path / "w"), "--modes", "similarity", "averag"], capsys)
    assert "averag" in line and not (tmp_path / "w").exists()


def test_a_test_split_for_statistics_is_refused(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    argv = ["--target-lang", "af-ZA", "--mode", "fisher", "--num-languages", "3",
            *common(scale_models, tiny_dataset, similarity_csv),
            "--fisher-split", "test", "--num-fisher-examples", "2", "--merged-models-root", str(tmp_path / "m"),
            "--no-eval"]  # fmt: skip
    (line,) = run(merge_cmd, argv, capsys)
    assert "--fisher-split" in line and "test" in line and not (tmp_path / "m").exists()


def test_leave_target_out_needs_three_locales(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    """The held-out target and at least two others to score the candidates on."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"k": [1], "weighting": ["sinkhorn"], "modes": {"similarity": [{}]}}))
    argv = ["--models-root", str(scale_models), "--base-model", "tiny-xlmr", "--dataset-name", str(tiny_dataset),
            "--similarity", f"hand={similarity_csv}", "--grid", str(grid), "--output-dir", str(tmp_path / "sel"),
            "--protocol", "leave-target-out", "--target-lang", "af-ZA", "--pool", "af-ZA", "de-DE",
            "--no-progress"]  # fmt: skip
    (line,) = run(select_cmd, argv, capsys)
    assert "leave-target-out" in line and "3" in line and not (tmp_path / "sel").exists()


def test_a_grid_parameter_out_of_its_range_is_refused(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"k": [2], "weighting": ["sinkhorn"], "modes": {"ties": [{"density": 1.5}]}}))
    argv = ["--models-root", str(scale_models), "--base-model", "tiny-xlmr", "--dataset-name", str(tiny_dataset),
            "--similarity", f"hand={similarity_csv}", "--grid", str(grid), "--output-dir", str(tmp_path / "sel"),
            "--protocol", "target-dev", "--target-lang", "af-ZA", "--no-progress"]  # fmt: skip
    (line,) = run(select_cmd, argv, capsys)
    assert "density" in line and "1.5" in line and not (tmp_path / "sel").exists()
