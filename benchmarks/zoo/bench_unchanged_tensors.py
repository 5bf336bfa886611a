"""A/B: merging zoo models (multilingual-e5-small, word embeddings frozen) with and without the engine's copy of
tensors that merging cannot change, side by side in one run (alternating, so both see the same machine load).

    python benchmarks/zoo/bench_unchanged_tensors.py --workdir /tmp/zoo [--repeats 2]

B ("off") replaces the engine's ``_Streamer._unchanged`` check by one that never copies: the merge as before.
Prints seconds per merge (median), the ratio, and whether the outputs agree (bit for bit for TIES; for a
linear merge the mean of equal float32 tensors may differ from the tensor by rounding).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from auto_merge_llm import engine, merge_models
from safetensors.torch import load_file

SOURCES = ["nl-NL", "de-DE", "en-US", "da-DK", "sv-SE"]
CASES = {"ties": {"density": 0.3}, "linear": {}}


def run(paths: list[Path], base: Path, method: str, params: dict, out: Path) -> float:
    started = time.perf_counter()
    merge_models(paths, [0.3, 0.25, 0.2, 0.15, 0.1], method, output_dir=out, method_params=params,
                 base_model=base if method != "linear" else None, progress=False)  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    paths = [args.workdir / "models" / f"multilingual-e5-small_massive_k_{loc}" for loc in SOURCES]
    base = args.workdir / "encoder"
    original = engine._Streamer._unchanged
    tmp = Path(tempfile.mkdtemp(prefix="bench_unchanged_"))
    try:
        for method, params in CASES.items():
            times: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(args.repeats):
                for mode in ("on", "off"):
                    engine._Streamer._unchanged = original if mode == "on" else (lambda self, n: None)
                    out = tmp / f"{method}_{mode}"
                    shutil.rmtree(out, ignore_errors=True)
                    times[mode].append(run(paths, base, method, params, out))
            engine._Streamer._unchanged = original
            a = load_file(str(tmp / f"{method}_on" / "model.safetensors"))
            b = load_file(str(tmp / f"{method}_off" / "model.safetensors"))
            same = all(torch.equal(a[k], b[k]) for k in a)
            diff = max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point())
            on, off = statistics.median(times["on"]), statistics.median(times["off"])
            print(f"{method:7s} 5 sources: copy unchanged {on:6.1f} s   merge everything {off:6.1f} s   "
                  f"ratio {off / on:4.2f}x   outputs bit-identical: {same} (max |diff| {diff:.2e})")  # fmt: skip
    finally:
        engine._Streamer._unchanged = original
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
