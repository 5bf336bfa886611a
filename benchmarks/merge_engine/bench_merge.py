"""Benchmark the auto_merge_llm merge engine against the I/O floor, a naive script and mergekit.

K random classifiers of XLM-R-base size (vocab 250002, hidden 768, 12 layers, 60 labels: 278M parameters,
1.11 GB float32 each, one ``model.safetensors``) plus a random base are generated once into ``--workdir`` and
reused. Every cell runs in a fresh subprocess whose wall time and peak RSS (``getrusage(RUSAGE_CHILDREN)``
in a per-cell parent; the parent also kills a cell whose RSS passes ``--rss-cap-gb``) are recorded:

* ``io_floor`` — read every input file once (``readinto`` a reused 64 MB buffer) and write one output-sized
  file: the bytes any merge has to move;
* ``engine``   — ``auto_merge_llm.merge_models(paths, [1]*K, method, base_model=...)``;
* ``naive``    — load every state dict with ``safetensors.torch.load_file``, run the method's whole-tensor
  function (``merge_tensors``) per parameter, ``save_file``: the same math without streaming, so its output
  must be byte-identical to the engine's (checked by sha256);
* ``mergekit`` — ``mergekit-yaml`` (its own venv, ``--mergekit``) on the same folders (linear and TIES).

Cells are interleaved (for each repetition, every mode of a cell in rotating order) and the tables report
medians and ratios within a run; the 1-min load average is recorded. Workers use one math thread
(``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``); the engine adds its writer thread.

Usage (from the repo root)::

    python benchmarks/merge_engine/bench_merge.py --workdir /tmp/bench_merge_work \\
        --mergekit /tmp/mergekit_venv/bin/mergekit-yaml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARCH = {
    "vocab_size": 250002,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "num_labels": 60,
}
PARAMS = {
    "linear": {},
    "task_arithmetic": {"lambda_": 1.0},
    "ties": {"density": 0.2},
    "dare": {"drop_rate": 0.9},
    "breadcrumbs": {"density": 0.9, "gamma": 0.01},
}
NEEDS_BASE = {"task_arithmetic", "ties", "dare", "breadcrumbs"}
ROOT = Path(__file__).resolve().parents[2]


def make_models(root: Path, k: int) -> tuple[list[Path], Path]:
    """K random classifiers and a random base (same names and shapes), generated once."""
    import torch
    from safetensors.torch import save_file
    from transformers import RobertaConfig, RobertaForSequenceClassification

    labels = [f"intent_{i:02d}" for i in range(ARCH["num_labels"])]
    cfg = RobertaConfig(
        **ARCH, id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)}
    )
    cfg.architectures = [
        "RobertaForSequenceClassification"
    ]  # mergekit knows RoBERTa; XLM-R has the same names
    with torch.device("meta"):
        shapes = {n: tuple(p.shape) for n, p in RobertaForSequenceClassification(cfg).state_dict().items()}
    dirs = [root / f"model_{i}" for i in range(k)] + [root / "base"]
    for i, d in enumerate(dirs):
        if (d / "model.safetensors").exists():
            continue
        d.mkdir(parents=True, exist_ok=True)
        g = torch.Generator().manual_seed(1000 + i)
        sd = {n: torch.randn(*s, generator=g) * 0.02 for n, s in shapes.items() if "position_ids" not in n}
        save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
        cfg.save_pretrained(d)
    return dirs[:k], dirs[k]


# ---------------------------------------------------------------- workers (run in a fresh process)


def worker(mode: str, method: str, paths: list[str], base: str, out: str) -> dict:
    t0 = time.perf_counter()
    if mode == "io_floor":
        buf = bytearray(64 << 20)
        view = memoryview(buf)
        for p in paths:
            with open(Path(p) / "model.safetensors", "rb", buffering=0) as fh:
                while fh.readinto(view):
                    pass
        size = (Path(paths[0]) / "model.safetensors").stat().st_size
        os.makedirs(out, exist_ok=True)
        with open(Path(out) / "model.safetensors", "wb", buffering=0) as fh:
            left = size
            while left:
                left -= fh.write(view[: min(left, len(buf))])
        return {"seconds_in_process": time.perf_counter() - t0}
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base_model = base if method in NEEDS_BASE else None
    if mode == "engine":
        from auto_merge_llm import merge_models

        merge_models(paths, [1.0] * len(paths), method, output_dir=out, base_model=base_model,
                     method_params=PARAMS[method], seed=0, progress=False)  # fmt: skip
    elif mode == "naive":
        from auto_merge_llm import merge_tensors
        from auto_merge_llm.heads import is_head_param
        from safetensors.torch import load_file, save_file

        sds = [load_file(str(Path(p) / "model.safetensors")) for p in paths]
        bsd = load_file(str(Path(base_model) / "model.safetensors")) if base_model else {}
        merged = {}
        for n in sds[0]:
            xs = [sd[n] for sd in sds]
            if base_model and is_head_param(n):  # the engine's default head policy: the weighted average
                merged[n] = merge_tensors("linear", xs, [1.0] * len(xs), name=n)
            else:
                merged[n] = merge_tensors(method, xs, [1.0] * len(xs), base=bsd.get(n) if base_model else None,
                                          method_params=PARAMS[method], name=n, seed=0)  # fmt: skip
        os.makedirs(out, exist_ok=True)
        save_file(merged, str(Path(out) / "model.safetensors"), metadata={"format": "pt"})
    else:
        raise SystemExit(f"unknown mode {mode}")
    return {"seconds_in_process": time.perf_counter() - t0}


def mergekit_config(method: str, paths: list[str], base: str) -> str:
    lines = [f"merge_method: {method}", "dtype: float32", "models:"]
    for p in paths:
        extra = ", density: 0.2" if method == "ties" else ""
        lines += [f"  - model: {p}", f"    parameters: {{weight: 1.0{extra}}}"]
    if method == "ties":
        lines += [f"base_model: {base}", "parameters: {normalize: true}"]
    return "\n".join(lines) + "\n"


def _tree_rss_kb(pid: int) -> int:
    """Resident set of a process and its children (kB), from /proc."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(x.split()[1]) for x in fh if x.startswith("VmRSS:")), 0)
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            pass
    return total


def measure(
    mode: str, method: str, paths: list[str], base: str, out: str, mergekit: str, cap_kb: int
) -> dict:
    """Run one cell as a child; wall time, peak RSS of the children, in-process time; kill past the cap."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT / "submodules/auto_merge_llm"),
    }
    if mode == "mergekit":
        cfg = Path(out + ".yaml")
        cfg.write_text(mergekit_config(method, paths, base))
        cmd = [mergekit, str(cfg), out, "--no-copy-tokenizer", "--quiet", "-j", "1"]
        env.pop("PYTHONPATH")
    else:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            mode,
            "--method",
            method,
            "--base",
            base,
            "--out",
            out,
            *paths,
        ]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    while child.poll() is None:
        if _tree_rss_kb(child.pid) > cap_kb:
            child.kill()
            killed = True
        time.sleep(0.1)
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - t0
    res = {"mode": mode, "method": method, "k": len(paths), "seconds": wall,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "ok": child.returncode == 0}  # fmt: skip
    if killed:
        res["error"] = f"killed at the {cap_kb / 2**20:.0f} GB RSS cap"
    elif child.returncode != 0:
        res["error"] = (stderr.strip().splitlines() or ["?"])[-1][:200]
    else:
        if mode != "mergekit":
            res.update(json.loads(stdout.strip().splitlines()[-1]))
        f = Path(out) / "model.safetensors"
        if mode in ("engine", "naive") and f.exists():
            res["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return res


def run_cell(
    mode: str, method: str, paths: list[Path], base: Path, tmp: Path, args: argparse.Namespace
) -> dict:
    out = tmp / f"out_{mode}_{method}_{len(paths)}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, __file__, "--measure", mode, "--method", method, "--base", str(base), "--out", str(out),
           "--mergekit", args.mergekit or "", "--rss-cap-gb", str(args.rss_cap_gb), *map(str, paths)]  # fmt: skip
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get("ok") and key in r]
    return statistics.median(vals) if vals else None


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def report(rows: list[dict], args: argparse.Namespace, loads: list[float], model_mb: float) -> str:
    cells = sorted({(r["method"], r["k"]) for r in rows}, key=lambda c: (list(PARAMS).index(c[0]), c[1]))
    lines = [
        "# auto_merge_llm merge-engine benchmark",
        "",
        f"Command: `python {' '.join(sys.argv)}` (from the repo root)",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores (shared with other work), Python "
        f"{platform.python_version()}; one math thread per worker. 1-min load average during the run: "
        f"{min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f}). Repetitions: {args.reps} "
        "(linear, task_arithmetic), 1 (ties, dare, breadcrumbs); medians, interleaved.",
        "",
        f"Models: random XLM-R-base-size classifiers ({', '.join(f'{k}={v}' for k, v in ARCH.items())}), float32, "
        f"{model_mb:.0f} MB each, one `model.safetensors`; a random base of the same shape. Parameters: "
        + "; ".join(f"{m} {p or '{}'}" for m, p in PARAMS.items())
        + ".",
        "",
        "Time = whole process (Python start-up and imports included; the I/O floor imports nothing); "
        "in-process = the merge call alone. Ratios are engine / other.",
        "",
        "| method | K | I/O floor s (in-proc) | engine s (in-proc) | naive s (in-proc) | mergekit s | engine/floor (in-proc) "
        "| engine/naive (in-proc) | engine/mergekit | RSS MB floor / engine / naive / mergekit | engine == naive |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, k in cells:
        by = {m: [r for r in rows if r["method"] == method and r["k"] == k and r["mode"] == m]
              for m in ("io_floor", "engine", "naive", "mergekit")}  # fmt: skip
        t = {m: _median(v, "seconds") for m, v in by.items()}
        tin = {m: _median(v, "seconds_in_process") for m, v in by.items()}
        rss = {m: _median(v, "peak_rss_mb") for m, v in by.items()}
        errs = {
            m: v[0]["error"]
            for m, v in by.items()
            if v and not any(r.get("ok") for r in v) and "error" in v[0]
        }
        hashes = {m: {r.get("sha256") for r in v if r.get("ok")} for m, v in by.items()}
        same = (
            "–"
            if not hashes["naive"] or not hashes["engine"]
            else ("yes" if hashes["naive"] == hashes["engine"] else "NO")
        )
        nk = "failed: " + errs["naive"] if "naive" in errs else f"{_fmt(t['naive'])} ({_fmt(tin['naive'])})"
        mk = "failed: " + errs["mergekit"] if "mergekit" in errs else _fmt(t["mergekit"])
        lines.append(
            f"| {method} | {k} | {_fmt(t['io_floor'])} ({_fmt(tin['io_floor'])}) | {_fmt(t['engine'])} "
            f"({_fmt(tin['engine'])}) | {nk} | {mk} | {_ratio(t['engine'], t['io_floor'])} "
            f"({_ratio(tin['engine'], tin['io_floor'])}) | {_ratio(t['engine'], t['naive'])} "
            f"({_ratio(tin['engine'], tin['naive'])}) | "
            f"{_ratio(t['engine'], t['mergekit'])} | {_fmt(rss['io_floor'], '.0f')} / {_fmt(rss['engine'], '.0f')} / "
            f"{_fmt(rss['naive'], '.0f')} / {_fmt(rss['mergekit'], '.0f')} | {same} |"
        )
    lines += ["", "Raw rows (JSON lines):", "", "```"] + [json.dumps(r) for r in rows] + ["```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_merge_work"))
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--linear-methods", nargs="+", default=["linear", "task_arithmetic"])
    ap.add_argument("--k5-methods", nargs="+", default=["ties", "dare", "breadcrumbs"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--mergekit", default=None, help="path to mergekit-yaml (own venv); omit to skip mergekit"
    )
    ap.add_argument("--rss-cap-gb", type=float, default=16.0, help="kill a cell whose RSS passes this")
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    ap.add_argument("--worker")
    ap.add_argument("--measure")
    ap.add_argument("--method", default="linear")
    ap.add_argument("--base", default="")
    ap.add_argument("--out")
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--smoke", action="store_true", help="tiny models (a quick check of the script itself)")
    args = ap.parse_args()
    if args.smoke:
        ARCH.update(
            vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128
        )
    if args.worker:
        print(json.dumps(worker(args.worker, args.method, args.paths, args.base, args.out)))
        return
    if args.measure:
        cap = int(args.rss_cap_gb * 2**20)
        print(
            json.dumps(
                measure(args.measure, args.method, args.paths, args.base, args.out, args.mergekit, cap)
            )
        )
        return
    tmp = args.workdir
    tmp.mkdir(parents=True, exist_ok=True)
    paths, base = make_models(tmp / "models", max(args.ks))
    model_mb = (paths[0] / "model.safetensors").stat().st_size / 1e6
    run_cell("io_floor", "linear", paths, base, tmp, args)  # warm the page cache
    plan = [(m, k, args.reps) for k in args.ks for m in args.linear_methods]
    plan += [(m, 5, 1) for m in args.k5_methods]
    rows, loads = [], []
    for rep in range(args.reps):
        for c, (method, k, reps) in enumerate(plan):
            if rep >= reps:
                continue
            modes = ["io_floor", "engine", "naive"] + (
                ["mergekit"] if args.mergekit and method in ("linear", "ties") else []
            )
            shift = (rep + c) % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                loads.append(os.getloadavg()[0])
                r = run_cell(mode, method, paths[:k], base, tmp, args)
                rows.append(r)
                print(f"{method:<15} K={k:>2} {mode:<9} {r['seconds']:7.1f} s {r['peak_rss_mb']:8.0f} MB "
                      f"{r.get('error', '')}", flush=True)  # fmt: skip
    text = report(rows, args, loads, model_mb)
    print(text)
    args.results.write_text(text)


if __name__ == "__main__":
    main()
