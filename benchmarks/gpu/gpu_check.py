"""The GPU check's timings (``benchmarks/gpu_check.sh`` runs it where CUDA is present), each side by side in one run:

1. **merge K = 5 at XLM-R-base size** (vocab 250002, hidden 768, 12 layers, 60 labels; 278M parameters each,
   random, generated once into ``--workdir``): the engine's TIES (density 0.2) with the math on the CPU and on
   the GPU, and the largest difference between the two outputs;
2. **expected Fisher on 1,000 examples** (``fisher_diagonal``, batched per-example gradients, 60 classes) of a
   12-layer hidden-384 XLM-R (multilingual-e5-small's shape, random) on the GPU;
3. **NxN 10 × 10**: ten classifiers of that shape (with the packaged MiniLM's tokenizer and vocabulary), each
   scoring ten locales' 100 dev rows, in fp32 and under bf16 autocast; the time of each and the share of
   predictions that agree (the toolkit's NxN runs fp32: this measures what bf16 would give);
4. **a packed generative training step**: ``train --task generative`` steps of a Llama decoder (hidden 512, 4
   blocks) packed vs padded, examples/s;
5. **flash-attention resolution**: what ``--attn_implementation flash_attention_2`` resolves to on this machine.

It writes its table between the ``gpu_check`` markers of ``--readme`` (``benchmarks/README.md``). ``--smoke`` runs
the same steps at toy sizes (a check of the script itself, on CPU too: ``--device cpu``; used by the tests).

    python benchmarks/gpu/gpu_check.py --device cuda --workdir /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- gpu_check:begin -->", "<!-- gpu_check:end -->"


def xlmr_config(smoke: bool, base_size: bool) -> Any:
    from transformers import XLMRobertaConfig

    if smoke:
        return XLMRobertaConfig(vocab_size=500, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=80, num_labels=60)  # fmt: skip
    if base_size:
        return XLMRobertaConfig(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                intermediate_size=3072, max_position_embeddings=514, num_labels=60)  # fmt: skip
    return XLMRobertaConfig(vocab_size=250002, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                            intermediate_size=1536, max_position_embeddings=514, num_labels=60)  # fmt: skip


def random_models(folder: Path, config: Any, count: int, prefix: str) -> list[Path]:
    """``count`` random classifiers of ``config`` (and the first one's twin as base), saved once."""
    import torch
    from transformers import XLMRobertaForSequenceClassification

    paths = []
    for i in range(count):
        path = folder / f"{prefix}_{i}"
        if not (path / "config.json").is_file():
            torch.manual_seed(i)
            XLMRobertaForSequenceClassification(config).save_pretrained(path)
        paths.append(path)
    return paths


@contextlib.contextmanager
def timed(out: dict[str, float], key: str, device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    yield
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    out[key] = time.perf_counter() - started


def check_merge(work: Path, device: str, smoke: bool) -> list[tuple[str, str]]:
    from auto_merge_llm import merge_models
    from safetensors.torch import load_file

    sources = random_models(work / "merge", xlmr_config(smoke, base_size=True), 6, "xlmr")
    base, models = sources[0], sources[1:]
    import shutil

    times: dict[str, float] = {}
    outputs = {}
    for i, where in enumerate(("cpu", device)):
        out = work / f"merged_{i}"
        shutil.rmtree(out, ignore_errors=True)
        with timed(times, where, where):
            merge_models([str(p) for p in models], [1.0] * 5, method="ties", output_dir=str(out),
                         base_model=str(base), method_params={"density": 0.2}, device=where, progress=False)  # fmt: skip
        outputs[i] = load_file(str(out / "model.safetensors"))
        shutil.rmtree(out)
    diff = max(float((outputs[0][k] - outputs[1][k]).abs().max()) for k in outputs[0])
    ratio = times["cpu"] / times[device] if times[device] else float("nan")
    return [("merge K=5 TIES, XLM-R-base size: CPU math", f"{times['cpu']:.1f} s"),
            (f"merge K=5 TIES, XLM-R-base size: {device} math", f"{times[device]:.1f} s (speed-up {ratio:.2f}×; "
             f"largest output difference {diff:.2e})")]  # fmt: skip


def check_fisher(work: Path, device: str, smoke: bool) -> list[tuple[str, str]]:
    import torch
    from auto_merge_llm.statistics import fisher_diagonal
    from transformers import XLMRobertaForSequenceClassification

    config = xlmr_config(smoke, base_size=False)
    model = XLMRobertaForSequenceClassification(config)
    n = 8 if smoke else 1000
    generator = torch.Generator().manual_seed(0)
    batches = []
    for start in range(0, n, 32):
        size = min(32, n - start)
        ids = torch.randint(5, config.vocab_size, (size, 24), generator=generator)
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    times: dict[str, float] = {}
    with timed(times, "fisher", device):
        fisher_diagonal(model, batches, estimator="expected", num_examples=n, device=device, method="batched")
    return [(f"expected Fisher, {n} examples, 60 classes, 12-layer hidden-384 XLM-R ({device})",
             f"{times['fisher']:.1f} s ({n / times['fisher']:.1f} examples/s)")]  # fmt: skip


def check_nxn(work: Path, device: str, smoke: bool) -> list[tuple[str, str]]:
    import numpy as np
    import torch
    from transformers import AutoTokenizer, XLMRobertaForSequenceClassification

    from merginguriel.data.massive import load_split
    from merginguriel.models.inference import predict_logits

    shared = REPO.parent / "shared" / "massive"
    dataset = str(shared) if shared.is_dir() else "builtin"
    locales = ["en-US", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL", "pl-PL", "ru-RU", "ja-JP", "ar-SA"]
    rows = 4 if smoke else 100
    texts = [load_split(dataset, loc, "validation", max_samples=rows)["text"] for loc in locales]
    from merginguriel.demo.encoder import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())  # the packaged MiniLM's tokenizer: offline
    config = xlmr_config(smoke, base_size=False)
    config.vocab_size = len(tokenizer)
    times: dict[str, float] = {"fp32": 0.0, "bf16": 0.0}
    agree = []
    for m in range(2 if smoke else 10):
        torch.manual_seed(m)
        model = XLMRobertaForSequenceClassification(config).to(device).eval()
        for batch in texts:
            with torch.no_grad(), timed(times, "_", device):
                full = predict_logits(model, tokenizer, batch, device=device, progress=False, max_length=64)
            times["fp32"] += times.pop("_")
            with (
                torch.no_grad(),
                torch.autocast(device.split(":")[0], dtype=torch.bfloat16),
                timed(times, "_", device),
            ):
                half = predict_logits(model, tokenizer, batch, device=device, progress=False, max_length=64)
            times["bf16"] += times.pop("_")
            agree.append(float(np.mean(full.argmax(1) == half.argmax(1))))
    return [("NxN 10 × 10 (100 dev rows each), fp32", f"{times['fp32']:.1f} s"),
            ("NxN 10 × 10, bf16 autocast", f"{times['bf16']:.1f} s (speed-up {times['fp32'] / times['bf16']:.2f}×; "
             f"{np.mean(agree):.1%} of predictions agree with fp32)")]  # fmt: skip


def check_packing(work: Path, device: str, smoke: bool) -> list[tuple[str, str]]:
    import subprocess

    cmd = [sys.executable, str(REPO / "benchmarks" / "packing" / "bench_packing.py"), "--repeats", "1",
           "--hidden", "32" if smoke else "512", "--rows", "64" if smoke else "2048"]  # fmt: skip
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return packing_rows(text, f"generative training ({device}), Llama hidden {'32' if smoke else '512'}")


def packing_rows(text: str, label: str) -> list[tuple[str, str]]:
    """The rows of ``bench_packing.py``'s table as (check, result) pairs."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"\| (padded|packed \d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", line)
        if match:
            rows.append(
                (
                    f"{label}: {match[1]}",
                    f"{match[2]} examples/s ({match[3]}× padded; real tokens {match[4]})",
                )
            )
    return rows


def check_attention(device: str) -> list[tuple[str, str]]:
    from transformers import LlamaForCausalLM

    from merginguriel.training.attention import resolve_attention

    choice = resolve_attention("flash_attention_2", LlamaForCausalLM, device.startswith("cuda"))
    reason = f" ({choice.reason})" if choice.reason else ""
    return [("--attn_implementation flash_attention_2 resolves to", f"{choice.used}{reason}")]


def write_readme(readme: Path, rows: list[tuple[str, str]], header: str) -> None:
    table = "\n".join(["| check | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
    block = f"{BEGIN}\n{header}\n\n{table}\n{END}"
    text = readme.read_text() if readme.is_file() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n## GPU check (`gpu_check.sh`)\n\n" + block + "\n"
    readme.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/gpu_check"))
    p.add_argument("--readme", type=Path, default=REPO / "benchmarks" / "README.md")
    p.add_argument("--smoke", action="store_true", help="Toy sizes: a check of the script itself.")
    p.add_argument("--steps", default="merge,fisher,nxn,packing,attention")
    args = p.parse_args()
    import torch

    args.workdir.mkdir(parents=True, exist_ok=True)
    steps = args.steps.split(",")
    rows: list[tuple[str, str]] = []
    for name, fn in (
        ("merge", check_merge),
        ("fisher", check_fisher),
        ("nxn", check_nxn),
        ("packing", check_packing),
    ):
        if name in steps:
            rows += fn(args.workdir, args.device, args.smoke)
            print(json.dumps(rows[-1]), flush=True)
    if "attention" in steps:
        rows += check_attention(args.device)
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "CPU"
    header = (f"{'Smoke run (toy sizes)' if args.smoke else 'Measured'} on {gpu}, torch {torch.__version__}, "
              f"{time.strftime('%Y-%m-%d')} (`benchmarks/gpu_check.sh`):")  # fmt: skip
    write_readme(args.readme, rows, header)
    print(f"wrote {len(rows)} rows into {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
