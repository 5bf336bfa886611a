"""A/B: the TIES merge of 5 zoo models (multilingual-e5-small, word embeddings frozen) with the cut-off of small
tensors found by ``torch.kthvalue`` (new; ``SMALL_SELECT = 2**18``) or by the radix selection for every tensor
(before; ``SMALL_SELECT = 0``), side by side in one run (alternating, so both see the same machine load).

    python benchmarks/zoo/bench_ties_selection.py --workdir /tmp/zoo [--repeats 2]

Prints seconds per merge (median), the ratio, and whether the outputs are bit-identical (they must be).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import torch
from auto_merge_llm.methods import _common
from bench_unchanged_tensors import SOURCES, run  # noqa: E402 (same folder)
from safetensors.torch import load_file


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    paths = [args.workdir / "models" / f"multilingual-e5-small_massive_k_{loc}" for loc in SOURCES]
    base = args.workdir / "encoder"
    new = _common.SMALL_SELECT
    tmp = Path(tempfile.mkdtemp(prefix="bench_ties_selection_"))
    times: dict[str, list[float]] = {"kthvalue": [], "radix": []}
    try:
        for _ in range(args.repeats):
            for mode in ("kthvalue", "radix"):
                _common.SMALL_SELECT = new if mode == "kthvalue" else 0
                out = tmp / mode
                shutil.rmtree(out, ignore_errors=True)
                times[mode].append(run(paths, base, "ties", {"density": 0.3}, out))
                print(f"{mode}: {times[mode][-1]:.1f} s", flush=True)
        a, b = (load_file(str(tmp / m / "model.safetensors")) for m in ("kthvalue", "radix"))
        same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        fast, slow = statistics.median(times["kthvalue"]), statistics.median(times["radix"])
        print(f"ties (density 0.3), 5 sources: kthvalue for small tensors {fast:.1f} s, radix for all {slow:.1f} s, "
              f"{slow / fast:.2f}x faster; outputs bit-identical: {same}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        _common.SMALL_SELECT = new
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
