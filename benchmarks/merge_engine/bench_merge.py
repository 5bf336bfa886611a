"""Benchmark the auto_merge_llm streaming engine.

Merge time and peak RSS for K random XLM-R-architecture classifiers, each cell in a fresh subprocess whose
peak RSS is read with ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` by a per-cell parent process:

* ``engine``   — ``auto_merge_llm.merge_models(..., method="linear")`` (one tensor at a time, sharded writes);
* ``naive``    — load every state dict fully with ``safetensors.torch.load_file``, average, ``save_file``;
* ``io_floor`` — read every input file fully (one at a time) and write one model-sized output: the I/O floor.

Plus the diagonal-Fisher cost per 100 examples: ``fisher_diagonal`` vs a naive per-example loop (a fresh
forward + backward per example and class).

Usage: PYTHONPATH=submodules/auto_merge_llm python benchmarks/merge_engine/bench_merge.py [--ks 2 5 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCH = {
    "vocab_size": 32000,
    "hidden_size": 512,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "intermediate_size": 2048,
    "max_position_embeddings": 514,
    "num_labels": 60,
}
FISHER_ARCH = {
    **ARCH,
    "vocab_size": 8000,
    "num_hidden_layers": 2,
    "hidden_size": 256,
    "intermediate_size": 1024,
}


def _labels(n: int) -> list[str]:
    return [f"intent_{i:02d}" for i in range(n)]


def make_models(root: Path, k: int) -> list[Path]:
    """K random classifiers with the same architecture (random tensors written directly as safetensors)."""
    import torch
    from safetensors.torch import save_file
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    labels = _labels(ARCH["num_labels"])
    cfg = XLMRobertaConfig(
        **ARCH, id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)}
    )
    paths = []
    template_dir = root / "template"
    if not template_dir.exists():
        with torch.device("meta"):
            model = XLMRobertaForSequenceClassification(cfg)
        shapes = {n: tuple(p.shape) for n, p in model.state_dict().items()}
        template_dir.mkdir(parents=True)
        (template_dir / "shapes.json").write_text(json.dumps(shapes))
        cfg.save_pretrained(template_dir)
    shapes = json.loads((template_dir / "shapes.json").read_text())
    for i in range(k):
        d = root / f"model_{i}"
        paths.append(d)
        if (d / "model.safetensors").exists():
            continue
        d.mkdir(parents=True, exist_ok=True)
        g = torch.Generator().manual_seed(i)
        sd = {n: torch.randn(*s, generator=g) * 0.02 for n, s in shapes.items()}
        save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
        shutil.copy(template_dir / "config.json", d / "config.json")
    return paths


def worker(mode: str, paths: list[str], out: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(1)
    k = len(paths)
    if mode == "engine":
        from auto_merge_llm import merge_models

        merge_models(paths, [1.0] * k, "linear", output_dir=out, progress=False)
    elif mode == "engine_ties":
        from auto_merge_llm import merge_models

        merge_models(paths, [1.0] * k, "ties", output_dir=out, base_model=paths[0], progress=False)
    elif mode == "naive":
        sds = [load_file(p + "/model.safetensors") for p in paths]
        avg = {n: sum(sd[n] for sd in sds) / k for n in sds[0]}
        os.makedirs(out, exist_ok=True)
        save_file(avg, out + "/model.safetensors", metadata={"format": "pt"})
    elif mode == "io_floor":
        last = None
        for p in paths:
            last = load_file(p + "/model.safetensors")
        os.makedirs(out, exist_ok=True)
        save_file(last, out + "/model.safetensors", metadata={"format": "pt"})
    else:
        raise SystemExit(f"unknown mode {mode}")


def measure(mode: str, paths: list[str], out: str) -> dict:
    """Run one worker in a child process; report its wall time and peak RSS (RUSAGE_CHILDREN)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--worker", mode, "--out", out, *paths], check=True)
    wall = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"mode": mode, "k": len(paths), "seconds": wall, "peak_rss_mb": rss_kb / 1024}


def run_cell(mode: str, paths: list[Path], tmp: Path) -> dict:
    out = tmp / f"out_{mode}_{len(paths)}"
    shutil.rmtree(out, ignore_errors=True)
    res = subprocess.run(
        [sys.executable, __file__, "--measure", mode, "--out", str(out), *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    )
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def fisher_bench(n_examples: int, seq_len: int) -> dict:
    import torch
    from auto_merge_llm.statistics import fisher_diagonal
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(XLMRobertaConfig(**FISHER_ARCH)).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, FISHER_ARCH["vocab_size"], (n_examples, seq_len), generator=g)
    batches = [
        {"input_ids": ids[i : i + 16], "attention_mask": torch.ones_like(ids[i : i + 16])}
        for i in range(0, n_examples, 16)
    ]
    results = {}
    warm = [
        {
            "input_ids": ids[:2],
            "attention_mask": torch.ones_like(ids[:2]),
            "labels": torch.zeros(2, dtype=torch.long),
        }
    ]
    fisher_diagonal(model, warm, estimator="empirical")  # warm-up (allocator, first-call overheads)
    for est in ("expected", "empirical"):
        for b in batches:
            b["labels"] = torch.randint(0, FISHER_ARCH["num_labels"], (b["input_ids"].shape[0],), generator=g)
        t0 = time.perf_counter()
        fisher_diagonal(model, batches, estimator=est)
        results[f"library_{est}"] = (time.perf_counter() - t0) * 100 / n_examples
        params = list(model.parameters())
        t0 = time.perf_counter()
        for b in batches:  # naive: per example, per class, a fresh forward and backward
            for r in range(b["input_ids"].shape[0]):
                x = b["input_ids"][r : r + 1]
                with torch.no_grad():
                    probs = torch.softmax(model(input_ids=x).logits[0], -1)
                classes = range(probs.numel()) if est == "expected" else [int(b["labels"][r])]
                acc = [torch.zeros_like(p) for p in params] if r == 0 else acc  # noqa: F821
                for y in classes:
                    lp = torch.log_softmax(model(input_ids=x).logits[0], -1)[y]
                    grads = torch.autograd.grad(lp, params)
                    q = float(probs[y]) if est == "expected" else 1.0
                    for a, gr in zip(acc, grads):
                        a.add_(gr.pow(2), alpha=q)
        results[f"naive_loop_{est}"] = (time.perf_counter() - t0) * 100 / n_examples
    results["params"] = sum(p.numel() for p in model.parameters())
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--modes", nargs="+", default=["io_floor", "engine", "naive"])
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the random models are written (default: a temp dir)"
    )
    ap.add_argument("--fisher-examples", type=int, default=20)
    ap.add_argument("--fisher-seq-len", type=int, default=32)
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    ap.add_argument("--worker")
    ap.add_argument("--measure")
    ap.add_argument("--out")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.paths, args.out)
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.paths, args.out)))
        return

    load_before = os.getloadavg()[0]
    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="bench_merge_"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        paths = make_models(tmp / "models", max(args.ks))
        model_mb = (paths[0] / "model.safetensors").stat().st_size / 1e6
        run_cell("io_floor", paths, tmp)  # warm the page cache so every mode reads from memory
        rows = []
        for k in args.ks:
            for mode in args.modes:
                r = run_cell(mode, paths[:k], tmp)
                rows.append(r)
                print(f"K={k:>2} {mode:<9} {r['seconds']:7.1f} s  {r['peak_rss_mb']:8.0f} MB", flush=True)
        fisher = fisher_bench(args.fisher_examples, args.fisher_seq_len)
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    arch = ", ".join(f"{k}={v}" for k, v in ARCH.items())
    lines = [
        "# auto_merge_llm merge-engine benchmark",
        "",
        f"Command: `{' '.join(['PYTHONPATH=submodules/auto_merge_llm', 'python', *sys.argv])}` (from the repo root)",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        "workers use `torch.set_num_threads(1)`; the page cache is warmed by one discarded I/O-floor run. "
        f"1-min load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run: on a shared "
        "machine the wall times are noisy (compare modes within one K), peak RSS is not.",
        "",
        f"Models: random XLM-R classifiers ({arch}), float32, {model_mb:.0f} MB each "
        f"(~{model_mb / 4:.0f}M parameters), one `model.safetensors` each. Method: `linear`.",
        "",
        "| K | mode | time (s) | peak RSS (MB) |",
        "|---|------|---------:|--------------:|",
    ]
    lines += [f"| {r['k']} | {r['mode']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |" for r in rows]
    farch = ", ".join(f"{k}={v}" for k, v in FISHER_ARCH.items())
    lines += [
        "",
        f"Diagonal Fisher, seconds per 100 examples (XLM-R {farch}; {fisher['params'] / 1e6:.1f}M parameters; "
        f"sequence length {args.fisher_seq_len}; measured on {args.fisher_examples} examples and scaled to 100):",
        "",
        "| estimator | fisher_diagonal | naive per-example loop | speed-up |",
        "|-----------|----------------:|-----------------------:|---------:|",
    ]
    for est in ("expected", "empirical"):
        lib, naive = fisher[f"library_{est}"], fisher[f"naive_loop_{est}"]
        lines.append(f"| {est} | {lib:.1f} | {naive:.1f} | {naive / lib:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.results.write_text(text)


if __name__ == "__main__":
    main()
