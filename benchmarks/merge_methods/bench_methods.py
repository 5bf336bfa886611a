"""Time and peak memory of the state-of-the-art merge methods, with TIES beside them.

For each model size, writes a random pretrained base and K random fine-tuned sources (base + small noise, a
60-label classification head each) as safetensors folders, then merges them with every method through
``auto_merge_llm.merge_models`` on the CPU. Each (size, method) cell runs in a fresh worker process started by
a fresh per-cell parent, which reads the worker's peak RSS with ``getrusage(RUSAGE_CHILDREN).ru_maxrss``; the
worker reports the time spent inside ``merge_models`` (the process wall time, with Python/torch start-up, is
reported too). The page cache is warmed by one discarded ``linear`` merge per size.

Sizes:
* ``minilm``: BERT architecture at MiniLM-L12-H384 width, 6 layers (hidden 384, 12 heads, FFN 1536,
  vocab 30522) — the project's MASSIVE MiniLM classifiers;
* ``xlmr``: XLM-R base (hidden 768, 12 layers, 12 heads, FFN 3072, vocab 250002, 514 positions).

Usage (from the repo root):
  PYTHONPATH=submodules/auto_merge_llm python benchmarks/merge_methods/bench_methods.py \\
      [--sizes minilm xlmr] [--sources 5] [--threads 1] [--methods ...] [--workdir DIR]

XLM-R size needs about (K + 1) × 1.1 GB of disk for the inputs plus one output, and WUDI there takes
minutes per thread (300 Adam steps per matrix; see the wudi docstring).
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

SIZES = {
    "minilm": {
        "model_type": "bert",
        "vocab_size": 30522,
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
    },
    "xlmr": {
        "model_type": "xlm-roberta",
        "vocab_size": 250002,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 514,
    },
}
NUM_LABELS = 60
METHODS = ["ties", "tsv", "iso_c", "iso_cts", "wudi", "della", "sce", "karcher", "multislerp"]
TASK_VECTOR_SCALE = 2e-3  # fine-tuned = base + N(0, scale²): about the size of real fine-tuning updates


def _config(size: str):
    from transformers import BertConfig, XLMRobertaConfig

    arch = dict(SIZES[size])
    model_type = arch.pop("model_type")
    labels = [f"intent_{i:02d}" for i in range(NUM_LABELS)]
    cls = BertConfig if model_type == "bert" else XLMRobertaConfig
    return cls(**arch, id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})


def make_models(root: Path, size: str, k: int) -> tuple[Path, list[Path]]:
    """A base (no head) and ``k`` sources with heads, random float32 tensors written directly."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForSequenceClassification

    cfg = _config(size)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(cfg)
    shapes = {n: tuple(p.shape) for n, p in model.state_dict().items()}
    base_dir, paths = root / "base", [root / f"source_{i}" for i in range(k)]
    if not (base_dir / "model.safetensors").exists():
        g = torch.Generator().manual_seed(0)
        base = {
            n: torch.randn(*s, generator=g) * 0.02
            for n, s in shapes.items()
            if not n.startswith("classifier")
        }
        base_dir.mkdir(parents=True, exist_ok=True)
        save_file(base, str(base_dir / "model.safetensors"), metadata={"format": "pt"})
        cfg.save_pretrained(base_dir)
        del base
    base = None
    for i, d in enumerate(paths):
        if (d / "model.safetensors").exists():
            continue
        if base is None:
            from safetensors.torch import load_file

            base = load_file(str(base_dir / "model.safetensors"))
        g = torch.Generator().manual_seed(1000 + i)
        sd = {}
        for n, s in shapes.items():
            noise = torch.randn(*s, generator=g)
            sd[n] = noise * 0.02 if n.startswith("classifier") else base[n] + TASK_VECTOR_SCALE * noise
        d.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
        cfg.save_pretrained(d)
        del sd
    return base_dir, paths


def worker(method: str, base: str, paths: list[str], out: str, threads: int) -> None:
    import torch
    from auto_merge_llm import get_method, merge_models

    torch.set_num_threads(threads)
    info = get_method(method)
    t0 = time.perf_counter()
    merge_models(
        paths,
        [1.0] * len(paths),
        method,
        output_dir=out,
        base_model=base if info.needs_base else None,
        seed=0,
        progress=False,
    )
    print(json.dumps({"merge_seconds": time.perf_counter() - t0}))


def measure(method: str, base: str, paths: list[str], out: str, threads: int) -> dict:
    """Run one worker in a child process; report its times and peak RSS (RUSAGE_CHILDREN)."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--base",
        base,
        "--out",
        out,
        "--threads",
        str(threads),
    ]
    t0 = time.perf_counter()
    res = subprocess.run([*cmd, *paths], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(res.returncode)
    inner = json.loads(res.stdout.strip().splitlines()[-1])
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"method": method, "process_seconds": wall, "peak_rss_mb": rss_kb / 1024, **inner}


def run_cell(method: str, base: Path, paths: list[Path], tmp: Path, threads: int) -> dict:
    out = tmp / f"out_{method}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, __file__, "--measure", method, "--base", str(base), "--out", str(out)]
    res = subprocess.run([*cmd, "--threads", str(threads), *map(str, paths)], capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    if res.returncode != 0:
        raise SystemExit(f"{method}: the measurement failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--sources", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads in each worker")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the random models go (default: a temp dir)"
    )
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    ap.add_argument("--worker")
    ap.add_argument("--measure")
    ap.add_argument("--base")
    ap.add_argument("--out")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.base, args.paths, args.out, args.threads)
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.base, args.paths, args.out, args.threads)))
        return

    load_before = os.getloadavg()[0]
    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="bench_methods_"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for size in args.sizes:
            base, paths = make_models(tmp / size, size, args.sources)
            model_mb = (paths[0] / "model.safetensors").stat().st_size / 1e6
            run_cell("linear", base, paths, tmp, args.threads)  # warm the page cache
            for method in args.methods:
                r = run_cell(method, base, paths, tmp, args.threads)
                r.update(size=size, model_mb=model_mb)
                rows.append(r)
                print(
                    f"{size:<7} {method:<11} merge {r['merge_seconds']:8.1f} s  process {r['process_seconds']:8.1f} s"
                    f"  peak RSS {r['peak_rss_mb']:8.0f} MB",
                    flush=True,
                )
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "# State-of-the-art merge methods: time and peak memory",
        "",
        f"Command: `{' '.join(['PYTHONPATH=submodules/auto_merge_llm', 'python', *sys.argv])}` (from the repo root)",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; workers "
        f"use `torch.set_num_threads({args.threads})`, device cpu, default method parameters, {args.sources} sources "
        f"with equal weights. 1-min load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after.",
        "",
        "| size | model (MB) | method | merge (s) | × ties | process (s) | peak RSS (MB) |",
        "|------|-----------:|--------|----------:|-------:|------------:|--------------:|",
    ]
    ties = {r["size"]: r["merge_seconds"] for r in rows if r["method"] == "ties"}
    for r in rows:
        ratio = f"{r['merge_seconds'] / ties[r['size']]:.1f}" if r["size"] in ties else "–"
        lines.append(
            f"| {r['size']} | {r['model_mb']:.0f} | {r['method']} | {r['merge_seconds']:.1f} | {ratio} | "
            f"{r['process_seconds']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.results.write_text(text)


if __name__ == "__main__":
    main()
