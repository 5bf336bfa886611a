"""Sequence packing vs padding for generative training on CPU: examples per second of ``merginguriel train --task
generative`` with and without ``--packing``, side by side in one run (interleaved repetitions), on real MASSIVE
utterances, and the share of computed tokens that are real (not padding) in the same batches.

    python benchmarks/packing/bench_packing.py                       # ../shared/massive en-US, 1,024 rows
    python benchmarks/packing/bench_packing.py --locale de-DE --repeats 3

The model is a randomly initialised Llama decoder (``build_tiny_decoder``: hidden ``--hidden``, ``--layers``
blocks, the word-level tokenizer of the built-in corpus: a MASSIVE utterance is about as many tokens as words)
— throughput, not accuracy, is measured. Each configuration trains one epoch of ``--rows`` rows, batch 32,
``--max_seq_length 64``, in its own process; ``train_samples_per_second`` is transformers' own figure for the
training loop. Without ``../shared/massive`` the built-in corpus is used (60 rows a locale: too few to time well).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "massive"
CONFIGS = {"padded": [], "packed 128": ["--packing", "--packing_length", "128"],
           "packed 256": ["--packing", "--packing_length", "256"]}  # fmt: skip


def token_shares(base: Path, dataset: str, locale: str, rows: int, batch: int) -> dict[str, float]:
    """Per configuration: real tokens / computed tokens (rows × padded width) over the epoch's batches."""
    from transformers import AutoTokenizer

    from merginguriel.data.massive import load_split
    from merginguriel.generative.classifier import GenerativeSpec, PromptTokenizer
    from merginguriel.training.generative import GenerativeCollator, causal_features

    tok = PromptTokenizer(AutoTokenizer.from_pretrained(base), GenerativeSpec())
    split = load_split(dataset, locale, "train", max_samples=rows)
    encoded = list(causal_features(split, tok, 64))
    shares = {}
    for name, extra in CONFIGS.items():
        length = int(extra[-1]) if extra else None
        collator = GenerativeCollator(tok.pad_id, pack_length=length)
        real = computed = 0
        for start in range(0, len(encoded), batch):
            ids = collator(encoded[start : start + batch])["input_ids"]
            real += int((ids != tok.pad_id).sum())
            computed += ids.numel()
        shares[name] = real / computed
    return shares


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--locale", default="en-US")
    p.add_argument("--rows", type=int, default=1024)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    dataset = str(SHARED) if (SHARED / args.locale).is_dir() else "builtin"
    from merginguriel.generative.tiny import build_tiny_decoder

    work = Path(tempfile.mkdtemp(prefix="bench_packing_"))
    base = build_tiny_decoder(work / "base", "llama", seed=0, hidden=args.hidden, layers=args.layers)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    speed: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for rep in range(args.repeats):
        for name, extra in CONFIGS.items():
            out = work / f"{name.replace(' ', '_')}_{rep}"
            cmd = [sys.executable, "-m", "merginguriel.cli", "train", "--task", "generative", "--model_name_or_path",
                   str(base), "--dataset_name", dataset, "--dataset_config_name", args.locale, "--output_dir",
                   str(out), "--do_train", "--max_train_samples", str(args.rows), "--num_train_epochs", "1",
                   "--per_device_train_batch_size", "32", "--max_seq_length", "64", "--report_to", "none",
                   "--disable_tqdm", "true", "--logging_strategy", "no", "--attn_implementation", "sdpa", *extra]  # fmt: skip
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            speed[name].append(json.loads((out / "all_results.json").read_text())["train_samples_per_second"])
            print(f"rep {rep} {name}: {speed[name][-1]:.1f} examples/s", flush=True)
    shares = token_shares(base, dataset, args.locale, args.rows, 32)
    load = os.getloadavg()[0]
    padded = float(np.median(speed["padded"]))
    print(
        f"\n{args.locale}, {args.rows} rows, llama hidden {args.hidden} × {args.layers} layers, load {load:.1f}"
    )
    print("| configuration | examples/s (median) | × padded | real tokens / computed |")
    print("|---|---|---|---|")
    for name in CONFIGS:
        median = float(np.median(speed[name]))
        print(f"| {name} | {median:.1f} | {median / padded:.2f} | {shares[name]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
