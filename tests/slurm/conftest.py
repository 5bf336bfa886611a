"""A reachable single-node Slurm cluster (started by ``.ci/slurm_setup.sh``) and the constant-intent models and
tiny dataset of ``tests/scale`` (their fixtures, imported here, not copied).

Every test here skips, with the reason, where no Slurm cluster runs on this machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scale.conftest import scale_models, similarity_csv, tiny_dataset  # noqa: F401 (fixtures)

STATE_DIR = Path(os.environ.get("MERGINGURIEL_SLURM_STATE", "/var/tmp/merginguriel-slurm"))
SLURM_TOOLS = ("sinfo", "squeue", "sbatch", "scancel", "scontrol")


@dataclass(frozen=True)
class SlurmCluster:
    node: str
    kill_wait_s: int  # SIGTERM -> SIGKILL delay of scancel
    accounting: str | None  # why sacct does not work, None when it does


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def _setup_note() -> str:
    """What .ci/slurm_setup.sh recorded, for the skip reason."""
    status = STATE_DIR / "status"
    if status.is_file():
        return f" (.ci/slurm_setup.sh: {status.read_text().strip()})"
    return " (run `bash .ci/slurm_setup.sh` as root on Debian to start a single-node cluster)"


def _sacct_problem() -> str | None:
    try:
        out = _run("sacct", "-n", "-X", "-P", "-o", "JobID")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sacct failed: {exc}"
    text = (out.stdout + out.stderr).strip()
    if out.returncode != 0 or "disabled" in text.lower():
        return f"sacct does not work ({text.splitlines()[-1] if text else f'exit {out.returncode}'})"
    return None


def _kill_wait() -> int:
    out = _run("scontrol", "show", "config")
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "KillWait":
            return int(value.split()[0])
    return 30


def cluster_or_reason() -> SlurmCluster | str:
    """The cluster on this machine, or why there is none."""
    missing = [t for t in SLURM_TOOLS if shutil.which(t) is None]
    if missing:
        return f"Slurm is not installed here ({', '.join(missing)} not on PATH){_setup_note()}"
    try:
        out = _run("sinfo", "-h", "-N", "-o", "%N %T")
    except subprocess.TimeoutExpired:
        return f"sinfo did not answer within 30 s{_setup_note()}"
    if out.returncode != 0:
        return f"sinfo failed: {(out.stderr or out.stdout).strip()}{_setup_note()}"
    states = dict(line.split()[:2] for line in out.stdout.splitlines() if len(line.split()) >= 2)
    host = socket.gethostname().split(".")[0]
    if host not in states:
        # the jobs read and write the test's temporary folders: they must run on this machine
        return f"this machine ({host}) is not a Slurm node (nodes: {states or 'none'}){_setup_note()}"
    if states[host].rstrip("*~#") not in ("idle", "mixed"):
        return f"Slurm node {host} is {states[host]!r}, not idle (sinfo -R: {_run('sinfo', '-h', '-R').stdout.strip()})"
    return SlurmCluster(node=host, kill_wait_s=_kill_wait(), accounting=_sacct_problem())


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    found = cluster_or_reason()
    if isinstance(found, str):
        pytest.skip(found)
    return found
