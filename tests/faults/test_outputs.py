"""Output roots that cannot be written — under a regular file, on a read-only or a full file system — are one
``error:`` line naming the flag and the path, before any work, with nothing partial left behind."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

from merginguriel.cli.commands import aggregate as aggregate_cmd
from merginguriel.cli.commands import ensemble as ensemble_cmd
from merginguriel.cli.commands import evaluate as evaluate_cmd
from merginguriel.cli.commands import fusion as fusion_cmd
from merginguriel.cli.commands import iterative as iterative_cmd
from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.cli.commands import select as select_cmd
from merginguriel.cli.commands import similarity as similarity_cmd
from merginguriel.cli.commands import snapshot_average as snapshot_cmd
from merginguriel.cli.commands import sweep as sweep_cmd
from merginguriel.cli.commands import train as train_cmd
from merginguriel.cli.commands import train_multilang as multilang_cmd
from merginguriel.cli.commands import transfer_report as transfer_cmd
from tests.training.conftest import quick_args


def argv_for(command: str, out: Path, models: Path, data: Path, sim: Path) -> tuple:
    common = ["--models-root", str(models), "--base-model", "tiny-xlmr", "--dataset-name", str(data),
              "--device", "cpu"]  # fmt: skip
    return {
        "merge": (merge_cmd, ["--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix", str(sim),
                              "--merged-models-root", str(out / "merged"), "--results-root", str(out / "results"),
                              *common], "--merged-models-root"),
        "evaluate": (evaluate_cmd, ["--model-path", str(models / "tiny-xlmr_massive_k_nl-NL"), "--locale", "af-ZA",
                                    "--dataset-name", str(data), "--results-root", str(out / "results")],
                     "--results-root"),
        "ensemble": (ensemble_cmd, ["--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix",
                                    str(sim), "--results-root", str(out / "results"), "--no-cache", *common],
                     "--results-root"),
        "nxn": (nxn_cmd, ["--locales", "af-ZA,nl-NL", "--output-root", str(out / "nxn"), "--no-cache",
                          "--no-heatmap", *common], "--output-root"),
        "sweep": (sweep_cmd, ["--locales", "af-ZA", "--modes", "similarity", "--num-languages", "2",
                              "--similarity-matrix", str(sim), "--results-root", str(out / "results"),
                              "--merged-models-root", str(out / "merged"), *common], "--results-root"),
    }[command]  # fmt: skip


COMMANDS = ["merge", "evaluate", "ensemble", "nxn", "sweep"]


def check(module, argv, flag, capsys) -> str:
    assert module.run(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert flag in errors[0]
    return errors[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_root_under_a_regular_file(
    tmp_path, scale_models, tiny_dataset, similarity_csv, command, capsys
):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    module, argv, flag = argv_for(command, blocker, scale_models, tiny_dataset, similarity_csv)
    line = check(module, argv, flag, capsys)
    assert str(blocker) in line and "is a file" in line
    assert blocker.read_text() == "a file, not a folder\n"


def training_argv(command: str, out: Path, base: Path, models: Path, data: Path, sim: Path) -> tuple:
    return {
        "train": (train_cmd, quick_args(base, data, "af-ZA", out / "model", "--max_steps", "1"), "--output_dir"),
        "train-lolo": (multilang_cmd, ["--super-model", "--locales", "af-ZA,de-DE", "--models-root", str(out / "m"),
                                       "--base-model", str(base), "--dataset-name", str(data)], "--models-root"),
        "iterative": (iterative_cmd, ["--target-lang", "de-DE", "--locales", "af-ZA,nl-NL", "--base-model", str(base),
                                      "--dataset-name", str(data), "--similarity-matrix", str(sim), "--output-dir",
                                      str(out / "it")], "--output-dir"),
        "snapshot-avg": (snapshot_cmd, ["--source-locales", "af-ZA", "--target-lang", "de-DE", "--seeds", "1",
                                        "--base-model", str(base), "--dataset-name", str(data), "--output-dir",
                                        str(out / "snap")], "--output-dir"),
        "fusion": (fusion_cmd, ["--expert-paths", str(models / "tiny-xlmr_massive_k_af-ZA"),
                                str(models / "tiny-xlmr_massive_k_nl-NL"), "--train-locales", "af-ZA,nl-NL",
                                "--dataset-name", str(data), "--output-dir", str(out / "fusion")], "--output-dir"),
        "select": (select_cmd, ["--protocol", "target-dev", "--target-lang", "af-ZA", "--models-root", str(models),
                                "--base-model", "tiny-xlmr", "--dataset-name", str(data), "--similarity",
                                f"hand={sim}", "--output-dir", str(out / "sel")], "--output-dir"),
    }[command]  # fmt: skip


@pytest.mark.parametrize("command", ["train", "train-lolo", "iterative", "snapshot-avg", "fusion", "select"])
def test_a_training_or_selection_output_under_a_regular_file(
    tmp_path, tiny_base, scale_models, tiny_dataset, similarity_csv, command, capsys
):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    module, argv, flag = training_argv(
        command, blocker, tiny_base, scale_models, tiny_dataset, similarity_csv
    )
    line = check(module, argv, flag, capsys)
    assert str(blocker) in line and "is a file" in line


def test_aggregate_output_dir_under_a_regular_file(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    results = tmp_path / "results"
    results.mkdir()
    line = check(aggregate_cmd, ["--results-root", str(results), "--output-dir", str(blocker / "agg")],
                 "--output-dir", capsys)  # fmt: skip
    assert "is a file" in line


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A small tmpfs mounted at ``path`` (root on Linux); the test is skipped where it cannot be mounted."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_output_root(tmp_path, scale_models, tiny_dataset, similarity_csv, command, capsys):
    with tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        module, argv, flag = argv_for(command, ro, scale_models, tiny_dataset, similarity_csv)
        line = check(module, argv, flag, capsys)
        assert "not writable" in line and str(ro) in line


def test_a_full_disk_leaves_no_partial_merge(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    """The merged model does not fit: one error (the OS's 'No space left'), and no partial folder."""
    with tmpfs(tmp_path / "full", "size=64k") as full:
        module, argv, flag = argv_for("merge", full, scale_models, tiny_dataset, similarity_csv)
        assert module.run(argv) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "No space left" in errors[0] and "Traceback" not in err, err
        assert not [p for p in full.rglob("*") if p.is_file()], sorted(full.rglob("*"))


@pytest.mark.parametrize(
    "module, argv, flag",
    [
        (similarity_cmd, ["--locales", "de-DE,nl-NL", "--out-dense", "{blocker}/d.csv"], "--out-dense"),
        (transfer_cmd, ["--nxn-matrix", "m.csv", "--output-dir", "{blocker}/rep"], "--output-dir"),
    ],
    ids=["similarity", "transfer-report"],
)
def test_report_outputs_under_a_regular_file(tmp_path, module, argv, flag, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    line = check(module, [a.replace("{blocker}", str(blocker)) for a in argv], flag, capsys)
    assert "is a file" in line
