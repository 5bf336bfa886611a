"""Where the time of one merged `select` candidate goes on the zoo, and A/B: tokenizers loaded fresh each time
(before: the merge loaded and saved its source's tokenizer, the merged model loaded its own copy) or shared
between folders with byte-identical tokenizer files (now: the merge copies the files, ``load_tokenizer`` reuses
the loaded one), side by side in one run (alternating, so both see the same machine load).

One candidate evaluation = what ``select`` does for a merge it has not scored: ``execute_merge`` (merge, save
the folder, tokenizer, card) → ``load_classifier`` → ``predict_logits`` on the target's first ``--rows`` dev rows.

    python benchmarks/zoo/bench_candidate_cost.py --workdir /tmp/zoo [--rows 125 500] [--repeats 3]

Prints per setting the median seconds of each phase and of the whole, and the ratio of the wholes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from merginguriel.data.massive import DataSelection, load_selection
from merginguriel.merging import pipeline
from merginguriel.merging.pipeline import MergeRequest, execute_merge, plan_merge
from merginguriel.models import inference
from merginguriel.similarity.selection import SourceSelection

SOURCES = {"nl-NL": 0.3, "de-DE": 0.25, "sv-SE": 0.2, "da-DK": 0.15, "en-US": 0.1}  # a TIES K = 5 candidate
TARGET = "af-ZA"
COPY, LOAD = pipeline.copy_tokenizer, inference.load_tokenizer


def _load_and_save(source: str, target: Path) -> None:  # what a merge did before
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target))


def _load_fresh(folder: str) -> object:  # what load_classifier did before
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def evaluate_once(plan, out: Path, texts: list[str], reuse: bool) -> dict[str, float]:
    """One candidate evaluation, timed by phase; ``reuse=False``: the merge loads and saves the source's tokenizer
    and the merged model's is loaded from its folder (before); ``reuse=True``: the current code, whose store of
    loaded tokenizers lives across candidates as it does in ``select``."""
    shutil.rmtree(out, ignore_errors=True)
    pipeline.copy_tokenizer = COPY if reuse else _load_and_save
    inference.load_tokenizer = LOAD if reuse else _load_fresh
    t0 = time.perf_counter()
    execute_merge(plan, out, {}, progress=False)
    t1 = time.perf_counter()
    model, tokenizer = inference.load_classifier(out)
    t2 = time.perf_counter()
    inference.predict_logits(model, tokenizer, texts, batch_size=128, max_length=64, progress=False)
    t3 = time.perf_counter()
    return {"merge+save": t1 - t0, "load": t2 - t1, "forward": t3 - t2, "total": t3 - t0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--rows", type=int, nargs="+", default=[125, 500])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    models = args.workdir / "trimmed" / "models"
    base = args.workdir / "trimmed" / "base" / "multilingual-e5-small"
    selection = SourceSelection(str(models), str(base), len(SOURCES), weights=dict(SOURCES))
    plan = plan_merge(MergeRequest("ties", TARGET, selection, {"density": 0.7}))
    split = load_selection(DataSelection(str(args.workdir / "data"), TARGET, "validation", max_seq_length=64))
    tmp = Path(tempfile.mkdtemp(prefix="bench_candidate_cost_"))
    try:
        for rows in args.rows:
            texts = list(split.texts[:rows])
            times: dict[str, list[dict[str, float]]] = {"fresh": [], "shared": []}
            evaluate_once(plan, tmp / "warm", texts, True)  # imports, page cache
            for _ in range(args.repeats):
                for setting in ("fresh", "shared"):
                    times[setting].append(evaluate_once(plan, tmp / setting, texts, setting == "shared"))
            med = {s: {k: statistics.median(t[k] for t in v) for k in v[0]} for s, v in times.items()}
            for setting, phases in med.items():
                print(
                    f"{rows} rows, tokenizers {setting}: "
                    + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
                )
            ratio = med["fresh"]["total"] / med["shared"]["total"]
            print(
                f"{rows} rows: shared tokenizers {ratio:.2f}x faster a candidate; load {os.getloadavg()[0]:.1f}"
            )
    finally:
        pipeline.copy_tokenizer, inference.load_tokenizer = COPY, LOAD
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
