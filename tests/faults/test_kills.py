"""A merge killed (SIGKILL) at any point and run again ends with the same bytes as an uninterrupted run: the
rerun finishes the job — it evaluates a complete merged model of the same experiment instead of refusing it,
and removes the partial folder a killed merge left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

KILL_AT = Path(__file__).with_name("kill_at")


def merge(
    out: Path, models: Path, data: Path, sim: Path, kill_at: str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(KILL_AT), *sys.path])}
    env.pop("MERGINGURIEL_TEST_KILL_AT", None)
    if kill_at:
        env["MERGINGURIEL_TEST_KILL_AT"] = kill_at
    argv = ["--target-lang", "af-ZA", "--num-languages", "2", "--similarity-matrix", str(sim), "--models-root",
            str(models), "--base-model", "tiny-xlmr", "--dataset-name", str(data), "--device", "cpu",
            "--merged-models-root", str(out / "merged"), "--results-root", str(out / "results")]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "merginguriel.cli", "merge", *argv], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def outputs(out: Path) -> dict[str, object]:
    """What a finished merge leaves: the weights' bytes, the details, the performance; every file's name."""
    name = "similarity_merge_af-ZA_2merged"
    merged, results = out / "merged" / name, out / "results" / name
    details = json.loads((merged / "merge_details.json").read_text())
    perf = json.loads((results / "results.json").read_text())["performance"]
    return {
        "weights": (merged / "model.safetensors").read_bytes(),
        "key": details["key"],
        "sources": details["sources"],
        "performance": perf,
        "files": sorted(
            str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "README" not in p.name
        ),
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, scale_models, tiny_dataset, similarity_csv):
    out = tmp_path_factory.mktemp("clean")
    done = merge(out, scale_models, tiny_dataset, similarity_csv)
    assert done.returncode == 0, done.stderr
    return outputs(out)


@pytest.mark.parametrize("point", ["merged", "evaluated", "recorded"])
def test_a_killed_merge_rerun_ends_as_an_uninterrupted_one(
    tmp_path, scale_models, tiny_dataset, similarity_csv, uninterrupted, point
):
    killed = merge(tmp_path, scale_models, tiny_dataset, similarity_csv, kill_at=point)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "results" / "similarity_merge_af-ZA_2merged" / "results.json").exists()
    rerun = merge(tmp_path, scale_models, tiny_dataset, similarity_csv)
    assert rerun.returncode == 0, rerun.stderr
    assert outputs(tmp_path) == uninterrupted
    assert not list((tmp_path / "merged").glob(".*partial*"))


def test_a_finished_merge_is_not_redone_without_overwrite(
    tmp_path, scale_models, tiny_dataset, similarity_csv
):
    assert merge(tmp_path, scale_models, tiny_dataset, similarity_csv).returncode == 0
    again = merge(tmp_path, scale_models, tiny_dataset, similarity_csv)
    assert again.returncode == 2 and "results.json exists already. Pass --overwrite" in again.stderr
