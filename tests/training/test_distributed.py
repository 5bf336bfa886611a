"""Data-parallel training on CPU: two processes over gloo (``torchrun``), as on a multi-GPU node — the global
batch is both ranks' batches, the model is written once (by rank 0, renamed when every rank is done)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import quick_args, read_json


def test_two_processes_over_gloo(tiny_base, tiny_data, tmp_path) -> None:
    out = tmp_path / "ddp"
    argv = quick_args(tiny_base, tiny_data, "de-DE", out, "--num_train_epochs", "1", "--use_cpu", "true",
                      "--ddp_backend", "gloo")  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         str(Path(__file__).resolve().parents[2] / "merginguriel" / "training_bert.py"), *argv],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    if done.returncode and "Address already in use" in done.stderr:
        pytest.skip("the rendezvous port is taken on this machine")
    assert done.returncode == 0, done.stderr[-3000:]
    meta = read_json(out / "run_metadata.json")
    assert meta["world_size"] == 2
    # 16 rows, batch 4 per process, 2 processes: one epoch is 16 / (4 × 2) = 2 steps
    assert meta["max_steps"] == 2
    assert (out / "COMPLETE").is_file() and (out / "model.safetensors").is_file()
    assert not (tmp_path / ".ddp.partial-dist").exists()
