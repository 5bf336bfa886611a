"""An evaluation killed (SIGKILL) at any point and run again ends as an uninterrupted run: ``evaluate``,
``ensemble`` and ``nxn`` killed during the forward pass, just after a logits-cache entry is written, between an
atomic write's temporary file and its rename, and (nxn) after the first model row; the rerun gives the same
results (same predictions, same performance, same matrix bytes) and no visible partial file is ever left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

KILL_AT = Path(__file__).with_name("kill_at")


def cli(command: str, argv: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(KILL_AT), *sys.path])}
    env.pop("MERGINGURIEL_TEST_KILL_AT", None)
    if kill_at:
        env["MERGINGURIEL_TEST_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "merginguriel.cli", command, *argv], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def visible_files(out: Path) -> list[str]:
    """Every file a reader could take as output (hidden temporary files of a killed atomic write excluded)."""
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)
    )


def argv_of(command: str, out: Path, models: Path, data: Path, sim: Path) -> list[str]:
    common = ["--dataset-name", str(data), "--device", "cpu", "--logits-cache", str(out / "cache")]
    if command == "evaluate":
        return ["--model-path", str(models / "tiny-xlmr_massive_k_nl-NL"), "--locale", "af-ZA",
                "--results-root", str(out / "results"), *common]  # fmt: skip
    if command == "ensemble":
        return ["--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix", str(sim), "--models-root",
                str(models), "--base-model", "tiny-xlmr", "--voting-method", "soft", "--results-root",
                str(out / "results"), *common]  # fmt: skip
    return ["--models-root", str(models), "--base-model", "tiny-xlmr", "--locales", "af-ZA,de-DE,nl-NL",
            "--output-root", str(out / "nxn"), "--no-heatmap", "--no-progress", *common]  # fmt: skip


def outcome(command: str, out: Path) -> dict[str, object]:
    """What a finished run leaves that must not depend on having been interrupted."""
    if command == "nxn":
        (run,) = [p for p in (out / "nxn").iterdir() if (p / "evaluation_matrix.csv").is_file()]
        return {
            name: (run / name).read_bytes()
            for name in ("evaluation_matrix.csv", "evaluation_matrix_macro_f1.csv")
        }
    (results,) = (out / "results").glob("*/results.json")
    record = json.loads(results.read_text())
    return {
        "folder": results.parent.name,
        "performance": record["performance"],
        "examples": record.get("examples"),
        "files": [f for f in visible_files(out) if not f.startswith("cache")],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, scale_models, tiny_dataset, similarity_csv):
    done = {}
    for command in ("evaluate", "ensemble", "nxn"):
        out = tmp_path_factory.mktemp(f"clean_{command}")
        result = cli(command, argv_of(command, out, scale_models, tiny_dataset, similarity_csv))
        assert result.returncode == 0, result.stderr
        done[command] = outcome(command, out)
    return done


CASES = [
    ("evaluate", "forward"),
    ("evaluate", "cached"),
    ("evaluate", "renaming:results.json"),
    ("ensemble", "forward"),
    ("ensemble", "cached"),
    ("ensemble", "renaming:results.json"),
    ("nxn", "forward"),
    ("nxn", "cached"),
    ("nxn", "row"),
    ("nxn", "renaming:evaluation_matrix.csv"),
]


@pytest.mark.parametrize(("command", "point"), CASES, ids=[f"{c}-{p}" for c, p in CASES])
def test_a_killed_evaluation_rerun_ends_as_an_uninterrupted_one(
    tmp_path, scale_models, tiny_dataset, similarity_csv, uninterrupted, command, point
):
    argv = argv_of(command, tmp_path, scale_models, tiny_dataset, similarity_csv)
    killed = cli(command, argv, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = [f for f in visible_files(tmp_path) if f.endswith(("results.json", "evaluation_matrix.csv"))]
    if command == "nxn" and point == "row":  # the first row is recorded: a valid partial matrix to resume
        assert finished and "nan" not in (tmp_path / finished[0]).read_text().splitlines()[1].lower()
    else:
        assert finished == []  # nothing a reader could take as a finished result
    if command == "nxn":
        resumed = cli(command, [*argv, "--resume", "latest"])
        if point == "row":
            assert resumed.returncode == 0, resumed.stderr
        else:  # killed before its first row: nothing to resume, and the error says what to do
            assert resumed.returncode == 2
            assert "run the same command without --resume" in resumed.stderr
            rerun = cli(command, argv)
            assert rerun.returncode == 0, rerun.stderr
    else:
        rerun = cli(command, argv)
        assert rerun.returncode == 0, rerun.stderr
    assert outcome(command, tmp_path) == uninterrupted[command]
