"""Time and peak memory of one merge per method on the zoo (issue 20): af-ZA from its 3 closest sources by
lang2vec, each merge a fresh ``merginguriel merge --no-eval`` process under ``/usr/bin/time`` (wall seconds,
peak resident MB), the same sources and machine for all, run one after the other.

    python benchmarks/zoo/bench_methods.py --workdir /tmp/zoo      # writes benchmarks/zoo/methods_cost.csv

AdaMerging's time includes learning its coefficients on 64 of the target's validation texts, RegMean's and
RegMean++'s computing their Gram matrices on 64 training rows of each source (no statistics cache: a fresh
folder each run); the others need no data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from study import base_link, trimmed  # noqa: E402

RUNS = {  # label -> merge flags
    "similarity (linear)": ["--mode", "similarity"],
    "ties (density 0.3)": ["--mode", "ties", "--density", "0.3"],
    "layer_swap (bottom 2, top 1)": ["--mode", "layer_swap", "--bottom", "2", "--top", "1"],
    "layer weights lower=top1": ["--mode", "similarity", "--layer-weights", "lower=top1"],
    "include-target (W 0.5)": ["--mode", "similarity", "--include-target"],
    "regmean (64 rows per source)": ["--mode", "regmean", "--num-fisher-examples", "64"],
    "regmean_plusplus (64 rows per source)": ["--mode", "regmean_plusplus", "--num-fisher-examples", "64"],
    "adamerging task-wise (100 steps)": ["--mode", "adamerging", "--granularity", "task", "--steps", "100",
                                         "--adamerging-lr", "0.005", "--num-fisher-examples", "64"],
    "adamerging layer-wise (100 steps)": ["--mode", "adamerging", "--granularity", "layer", "--steps", "100",
                                          "--adamerging-lr", "0.005", "--num-fisher-examples", "64"],
}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--target", default="af-ZA")
    args = p.parse_args()
    work = args.workdir
    sim = work / "study" / "select" / "work" / "similarity" / "lang2vec.csv"
    rows = []
    for label, flags in RUNS.items():
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            cmd = ["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", "merginguriel.cli", "merge",
                   "--target-lang", args.target, "--num-languages", "3", "--similarity-matrix", str(sim),
                   "--models-root", str(trimmed(work)[0]), "--base-model", str(base_link(work)),
                   "--dataset-name", str(work / "data"), "--max-seq-length", "64", "--no-eval",
                   "--merged-models-root", tmp, "--statistics-cache", str(Path(tmp) / "cache"), *flags]  # fmt: skip
            done = subprocess.run(
                cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
            )
            line = next((x for x in done.stderr.splitlines() if x.startswith("TIME ")), None)
            if done.returncode or line is None:
                raise SystemExit(f"{label} failed:\n{done.stderr[-2000:]}")
            _, seconds, kb = line.split()
            rows.append({"method": label, "seconds": float(seconds), "peak_rss_mb": round(int(kb) / 1024)})
            print(rows[-1], flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
    pd.DataFrame(rows).to_csv(HERE / "methods_cost.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
