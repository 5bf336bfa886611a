"""``benchmarks/gpu_check.sh`` and its timings script on a machine without CUDA: the shell script says there is
nothing to check and exits 0; the script's steps run at toy sizes on CPU (``--smoke``) and write their table between
the README's markers, replacing the previous one; the packing table is read as bench_packing.py prints it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks" / "gpu"))
from gpu_check import BEGIN, END, packing_rows  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the check would run in full")
def test_without_cuda_the_shell_script_has_nothing_to_check() -> None:
    out = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                         env={**os.environ, "PY": sys.executable}, timeout=120)  # fmt: skip
    assert out.returncode == 0 and "no CUDA device here" in out.stdout


def test_smoke_run_writes_its_table_between_the_markers(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nbefore\n\n{BEGIN}\nold table\n{END}\n\nafter\n")
    cmd = [sys.executable, str(REPO / "benchmarks" / "gpu" / "gpu_check.py"), "--device", "cpu", "--smoke",
           "--workdir", str(tmp_path / "work"), "--readme", str(readme), "--steps", "merge,fisher,nxn,attention"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    text = readme.read_text()
    assert (
        text.startswith("# Benchmarks\n\nbefore\n\n")
        and text.endswith("\n\nafter\n")
        and "old table" not in text
    )
    block = text[text.index(BEGIN) : text.index(END)]
    assert "Smoke run (toy sizes)" in block
    assert "largest output difference 0.00e+00" in block  # the same merge math on the same device
    assert "of predictions agree with fp32" in block
    for check in ("merge K=5 TIES", "expected Fisher, 8 examples", "NxN 10 × 10, bf16 autocast",
                  "flash_attention_2 resolves to | sdpa (flash_attention_2 needs a CUDA device)"):  # fmt: skip
        assert check in block, check


def test_packing_table_is_read_as_bench_packing_prints_it() -> None:
    printed = "\n".join([
        "| configuration | examples/s (median) | × padded | real tokens / computed |", "|---|---|---|---|",
        "| padded | 285.2 | 1.00 | 0.69 |", "| packed 128 | 332.7 | 1.17 | 0.88 |",
    ])  # fmt: skip
    assert packing_rows(printed, "gen") == [
        ("gen: padded", "285.2 examples/s (1.00× padded; real tokens 0.69)"),
        ("gen: packed 128", "332.7 examples/s (1.17× padded; real tokens 0.88)"),
    ]
