"""Broken data files, for every command that reads them (evaluate, merge's evaluation, ensemble, nxn, select,
train): exit status 2, exactly one ``error:`` line naming the file (and the line where there is one), no
traceback, and nothing written — the data is read before any expensive work."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

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

TARGET = "af-ZA"


def rows_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


# each fault breaks af-ZA's file of ``split`` and returns (the file the error names, the text it must contain)
def broken_json_line(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    lines = rows_of(path)
    lines[2] = '{"utt": "wake me", "intent": \n'
    path.write_text("".join(lines))
    return path, f"{path}:3"


def bad_gzip(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    path.unlink()
    gz = folder / f"{split}.jsonl.gz"
    gz.write_bytes(b"this is not gzip at all")
    return gz, str(gz)


def truncated_gzip(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    data = gzip.compress(path.read_bytes())
    path.unlink()
    gz = folder / f"{split}.jsonl.gz"
    gz.write_bytes(data[: len(data) // 2])
    return gz, str(gz)


def non_utf8(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    lines = rows_of(path)
    path.write_bytes("".join(lines[:1]).encode() + b'{"utt": "caf\xe9", "intent": "alarm_set"}\n')
    return path, f"{path}:2"


def empty_split(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    path.write_text("")
    return path, str(path)


def row_not_an_object(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    lines = rows_of(path)
    lines[1] = '["wake me", "alarm_set"]\n'
    path.write_text("".join(lines))
    return path, f"{path}:2"


def null_text(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    lines = rows_of(path)
    lines[3] = json.dumps({"utt": None, "intent": "alarm_set"}) + "\n"
    path.write_text("".join(lines))
    return path, f"{path}:4"


def missing_text(folder: Path, split: str) -> tuple[Path, str]:
    path = folder / f"{split}.jsonl"
    lines = rows_of(path)
    lines[0] = json.dumps({"intent": "alarm_set"}) + "\n"
    path.write_text("".join(lines))
    return path, f"{path}:1"


FAULTS = [broken_json_line, bad_gzip, truncated_gzip, non_utf8, empty_split, row_not_an_object, null_text,
          missing_text]  # fmt: skip


def commands(tmp: Path, models: Path, data: Path, sim: Path, tiny_base: Path) -> dict:
    """command -> (module, argv, the split of the target it reads first, the output roots)."""
    grid = tmp / "grid.json"
    grid.write_text(json.dumps({"k": [1], "weighting": ["sinkhorn"], "modes": {"similarity": [{}]}}))
    common = ["--models-root", str(models), "--base-model", "tiny-xlmr", "--dataset-name", str(data),
              "--device", "cpu"]  # fmt: skip
    out = tmp / "out"
    locales = ["af-ZA", "de-DE", "nl-NL"]
    nxn_csv = tmp / "nxn" / "evaluation_matrix.csv"  # observed dev transfer for transfer-report (an input)
    nxn_csv.parent.mkdir(exist_ok=True)
    (nxn_csv.parent / "nxn_config.json").write_text(json.dumps({"data": {"split": "validation"}}))
    nxn_csv.write_text(",".join(["", *locales]) + "\n" + "".join(
        f"{a}," + ",".join("0.9" if a == b else f"0.{i + j + 2}" for j, b in enumerate(locales)) + "\n"
        for i, a in enumerate(locales)))  # fmt: skip
    overlap = ["--dataset-name", str(data), "--tokenizer", str(tiny_base)]
    return {
        # lexical overlap reads every locale's train utterances
        "similarity": (similarity_cmd, ["--source", "overlap", "--locales", ",".join(locales), *overlap,
                                        "--out-dense", str(out / "dense.csv"), "--out-sparse", str(out / "sparse.csv"),
                                        "--out-mapping", str(out / "mapping.csv"), "--out-plot", str(out / "sim.png")],
                       "train"),
        "transfer-report": (transfer_cmd, ["--nxn-matrix", str(nxn_csv), "--sources", "overlap", *overlap,
                                           "--output-dir", str(out / "report")], "train"),
        "evaluate": (evaluate_cmd, ["--model-path", str(models / "tiny-xlmr_massive_k_nl-NL"), "--locale", TARGET,
                                    "--dataset-name", str(data), "--results-root", str(out)], "test"),
        "merge": (merge_cmd, ["--target-lang", TARGET, "--num-languages", "2", "--similarity-matrix", str(sim),
                              "--merged-models-root", str(out / "merged"), "--results-root", str(out / "results"),
                              *common], "test"),
        "ensemble": (ensemble_cmd, ["--target-lang", TARGET, "--num-languages", "2", "--similarity-matrix",
                                    str(sim), "--results-root", str(out), "--no-cache", *common], "test"),
        "nxn": (nxn_cmd, ["--locales", "af-ZA,nl-NL", "--output-root", str(out), "--no-cache", "--no-heatmap",
                          *common], "test"),
        "select": (select_cmd, ["--protocol", "target-dev", "--target-lang", TARGET, "--similarity", f"hand={sim}",
                                "--grid", str(grid), "--output-dir", str(out), "--no-progress", *common],
                   "dev"),
        "train": (train_cmd, quick_args(tiny_base, data, TARGET, out / "model", "--max_steps", "1"), "train"),
        "train-lolo": (multilang_cmd, ["--super-model", "--locales", "af-ZA,de-DE", "--models-root", str(out / "m"),
                                       "--base-model", str(tiny_base), "--dataset-name", str(data), "--no-progress"],
                       "train"),
        "iterative": (iterative_cmd, ["--target-lang", "de-DE", "--locales", "af-ZA,nl-NL", "--base-model",
                                      str(tiny_base), "--dataset-name", str(data), "--similarity-matrix", str(sim),
                                      "--output-dir", str(out / "it"), "--no-progress"], "train"),
        "snapshot-avg": (snapshot_cmd, ["--source-locales", "af-ZA", "--target-lang", "de-DE", "--seeds", "1",
                                        "--base-model", str(tiny_base), "--dataset-name", str(data),
                                        "--output-dir", str(out / "snap"), "--no-progress"], "train"),
        "fusion": (fusion_cmd, ["--expert-paths", str(models / "tiny-xlmr_massive_k_af-ZA"),
                                str(models / "tiny-xlmr_massive_k_nl-NL"), "--train-locales", "af-ZA,nl-NL",
                                "--dataset-name", str(data), "--output-dir", str(out / "fusion"), "--no-progress"],
                   "train"),
        "sweep": (sweep_cmd, ["--locales", TARGET, "--modes", "baseline", "similarity", "--num-languages", "2",
                              "--similarity-matrix", str(sim), "--results-root", str(out / "results"),
                              "--merged-models-root", str(out / "merged"), *common], "test"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "command",
    ["evaluate", "merge", "ensemble", "nxn", "select", "train", "sweep", "train-lolo", "iterative", "snapshot-avg",
     "fusion", "similarity", "transfer-report"],
)  # fmt: skip
@pytest.mark.parametrize("fault", FAULTS, ids=[f.__name__ for f in FAULTS])
def test_a_broken_data_file_is_one_clear_error_before_any_work(
    tmp_path, scale_models, tiny_dataset, similarity_csv, tiny_base, command, fault, capsys
):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    module, argv, split = commands(tmp_path, scale_models, data, similarity_csv, tiny_base)[command]
    _, named = fault(data / TARGET, split)
    assert module.run(argv) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in captured.err, captured.err
    assert named in errors[0], errors[0]
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()], sorted(out.rglob("*"))


@pytest.mark.parametrize("command", ["evaluate", "merge", "ensemble", "nxn"])
def test_an_unknown_split_name_is_one_clear_error(tmp_path, scale_models, tiny_dataset, similarity_csv, tiny_base,
                                                  command, capsys):  # fmt: skip
    module, argv, _ = commands(tmp_path, scale_models, tiny_dataset, similarity_csv, tiny_base)[command]
    assert module.run([*argv, "--dataset-split", "tset"]) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: Unknown split 'tset'; use one of train, validation (alias dev), test."
    ]
    assert not (tmp_path / "out").exists()
