"""Sweeps through a real Slurm cluster (``--launcher slurm``, submitit's SlurmExecutor, sbatch array jobs).

The cluster is the single-node one ``.ci/slurm_setup.sh`` starts on this machine; without it every test skips
with the reason. The models and data are the constant-intent ones of ``tests/scale``, so each accuracy is also
known by hand. One sweep runs on Slurm and locally: same accuracies, same experiment keys. Another has one array
task cancelled with ``scancel`` while it runs: the sweep records it as failed, and rerunning the same command
runs only that experiment and ends with the local results.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from merginguriel import cli
from merginguriel.experiments.sweep import read_state
from tests.scale.test_sweep import EXPECTED, final_results, sweep_args
from tests.slurm.conftest import SlurmCluster

REPO = Path(__file__).resolve().parents[2]
SLOW_RESULTS = Path(__file__).with_name("slow_results")
LOCALES = ["af-ZA", "de-DE"]
MODES = ["similarity", "baseline"]
# the jobs: no GPU (the node has none), one CPU each, both CPUs of the CI machine busy at once
SLURM_FLAGS = [
    "--launcher",
    "slurm",
    "--slurm-gpus",
    "0",
    "--slurm-cpus",
    "1",
    "--slurm-mem",
    "1G",
    "--slurm-time",
    "00:10:00",
    "--slurm-array-parallelism",
    "2",
]
ACTIVE = {"PENDING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}
SUBMITTED = re.compile(r"submitted (\d+) jobs \((\d+)\)")


def sweep_argv(root: Path, models: Path, data: Path, sim: Path, name: str, *extra: str) -> list[str]:
    return [
        "sweep",
        *sweep_args(root, models, data, sim, "--locales", *LOCALES, "--modes", *MODES, "--device", "cpu"),
        "--sweep-name",
        name,
        *extra,
    ]


def job_id(output: str, count: int) -> str:
    match = SUBMITTED.search(output)
    assert match, f"the sweep printed no job id:\n{output}"
    assert int(match.group(1)) == count
    return match.group(2)


def sacct_states(job: str, timeout_s: float = 60) -> dict[str, str]:
    """Array task id -> final state, e.g. {'41_0': 'COMPLETED', '41_1': 'CANCELLED by 0'}.

    submitit returns once a task has written its result, a moment before the task ends: wait for the end.
    """
    deadline = time.time() + timeout_s
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", job, "-o", "JobID,State"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        states = dict(line.split("|", 1) for line in out.splitlines() if line)
        if not any(s in ACTIVE for s in states.values()) or time.time() > deadline:
            return states
        time.sleep(0.5)


def squeue_state(task: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-j", task, "-o", "%T"], capture_output=True, text=True, timeout=30, check=False
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def local_reference(
    tmp_path_factory: pytest.TempPathFactory, scale_models: Path, tiny_dataset: Path, similarity_csv: Path
) -> dict[str, tuple[float, int, str]]:
    """The sweep with ``--launcher local``: name -> (accuracy, correct, key)."""
    root = tmp_path_factory.mktemp("local")
    assert cli.main(sweep_argv(root, scale_models, tiny_dataset, similarity_csv, "reference")) == 0
    results = final_results(root)
    # the accuracies hand-computed in tests/scale/test_sweep.py
    expected = {n: acc for n, acc in EXPECTED.items() if n.startswith(("baseline_", "similarity_merge_"))}
    assert {name: acc for name, (acc, _, _) in results.items()} == pytest.approx(expected)
    return results


def test_slurm_sweep_equals_local_sweep(
    slurm_cluster: SlurmCluster,
    local_reference: dict[str, tuple[float, int, str]],
    tmp_path: Path,
    scale_models: Path,
    tiny_dataset: Path,
    similarity_csv: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = sweep_argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "onslurm", *SLURM_FLAGS)
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "4 succeeded, 0 skipped (finished before), 0 failed, of 4" in out
    job = job_id(out, 4)
    assert final_results(tmp_path) == local_reference  # same accuracies, correct counts and keys
    # the experiments ran as the tasks of one Slurm array job, in other processes, with their logs here
    assert sacct_states(job) == {f"{job}_{i}": "COMPLETED" for i in range(4)}
    state = read_state(tmp_path / "results" / "sweep_onslurm" / "state.jsonl")
    assert sorted(r["status"] for r in state) == ["success"] * 4
    assert os.getpid() not in {r["pid"] for r in state}
    logs = tmp_path / "results" / "sweep_onslurm" / "slurm_logs"
    assert sorted(p.name for p in logs.glob(f"{job}_*/*_log.out")) == [
        f"{job}_{i}_0_log.out" for i in range(4)
    ]
    # the sbatch script: this Python (the project's virtual environment) and the resources the flags asked for
    script = (logs / job / f"{job}_submission.sh").read_text()
    assert f"{shlex.quote(sys.executable)} -u -m submitit.core._submit " in script
    for option in ("array=0-3%2", "cpus-per-task=1", "gpus-per-node=0", "mem=1GB", "time=10"):
        assert f"#SBATCH --{option}\n" in script, option
    assert "#SBATCH --job-name=merginguriel_onslurm\n" in script and "--partition" not in script


def test_scancel_mid_sweep_then_rerun_completes_it(
    slurm_cluster: SlurmCluster,
    local_reference: dict[str, tuple[float, int, str]],
    tmp_path: Path,
    scale_models: Path,
    tiny_dataset: Path,
    similarity_csv: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if slurm_cluster.accounting:
        pytest.skip(
            f"{slurm_cluster.accounting}: submitit learns that a cancelled job ended only from sacct, so the "
            "sweep would wait for it forever (.ci/slurm_setup.sh starts slurmdbd for this)"
        )
    argv = sweep_argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "cancelled", *SLURM_FLAGS)
    # every experiment of this run (in its Slurm task) waits before writing its results.json (slow_results/
    # sitecustomize.py), longer than scancel's SIGTERM -> SIGKILL delay (submitit ignores SIGTERM), so the task
    # cancelled in that wait dies before it finishes
    sleep_s = slurm_cluster.kill_wait_s + 8
    env = {
        **os.environ,
        "MERGINGURIEL_TEST_RESULTS_DELAY": str(sleep_s),
        "PYTHONPATH": os.pathsep.join([str(SLOW_RESULTS), str(REPO)]),
    }
    log = tmp_path / "first_run.log"
    job = task = ""
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "merginguriel.cli", *argv],
            env=env,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + 60
            while not SUBMITTED.search(log.read_text()) and proc.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            job = job_id(log.read_text(), 4)
            # task 0 = the similarity merge of af-ZA (locale-major order); cancel it in the middle: merged and
            # evaluated (merge_details.json written), waiting before its results.json
            task = f"{job}_0"
            halfway = tmp_path / "results" / "similarity_merge_af-ZA_3merged" / "merge_details.json"
            deadline = time.time() + 120
            while not halfway.exists() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            assert halfway.exists(), f"task {task} never got to its merge:\n{log.read_text()}"
            assert squeue_state(task) == "RUNNING"
            subprocess.run(["scancel", task], check=True, timeout=30)
            assert proc.wait(timeout=120 + 4 * sleep_s) == 1  # a failed experiment: exit status 1
        finally:
            if proc.poll() is None:  # a failed assertion: leave no sweep and no job behind
                proc.kill()
                if job:
                    subprocess.run(["scancel", job], check=False, timeout=30)
    out = log.read_text()
    assert "3 succeeded, 0 skipped (finished before), 1 failed, of 4" in out, out
    assert f"FAILED similarity_af-ZA: job {task} failed" in out, out
    states = sacct_states(job)
    assert states.pop(task).startswith("CANCELLED")
    assert set(states.values()) == {"COMPLETED"}
    results = tmp_path / "results"
    assert halfway.exists() and not (results / "similarity_merge_af-ZA_3merged" / "results.json").exists()
    (record,) = [
        r for r in read_state(results / "sweep_cancelled" / "state.jsonl") if r["status"] == "failed"
    ]
    assert (record["mode"], record["target"]) == ("similarity", "af-ZA") and "CANCELLED" in record["error"]
    finished = {p.parent.name: p.read_bytes() for p in results.glob("*/results.json")}
    assert sorted(finished) == ["baseline_af-ZA", "baseline_de-DE", "similarity_merge_de-DE_3merged"]

    # resume: the same command (here, without the test's delay) runs only the cancelled experiment
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "1 succeeded, 3 skipped (finished before), 0 failed, of 4" in out
    rerun = job_id(out, 1)  # finished experiments are skipped before submitting: one task is queued
    assert list(sacct_states(rerun).values()) == [
        "COMPLETED"
    ]  # (an array of one task is reported as the job)
    assert {name: (results / name / "results.json").read_bytes() for name in finished} == finished
    assert final_results(tmp_path) == local_reference
    # the killed merge's leftovers (a partial merged folder) were cleaned by the rerun
    assert not list((tmp_path / "merged").glob(".*partial*"))
    last = read_state(results / "sweep_cancelled" / "state.jsonl")[-4:]
    assert sorted((r["name"], r["status"]) for r in last) == [
        ("baseline_af-ZA", "skipped"),
        ("baseline_de-DE", "skipped"),
        ("similarity_merge_af-ZA_3merged", "success"),
        ("similarity_merge_de-DE_3merged", "skipped"),
    ]
