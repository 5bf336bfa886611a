"""A/B: one unit of `select`'s work — build a candidate for a target (merge, save) and score it on the target's
500 dev rows (load, forward) — on the zoo's full-vocabulary models against the same models trimmed to the
zoo's texts (``build_zoo.py`` step ``trim``), side by side, interleaved (so both see the same machine load).

    python benchmarks/zoo/bench_trimmed_merge.py --workdir /tmp/zoo [--repeats 2]

Prints seconds per build and per score (median over targets and repeats), the ratios, and whether the two
agree (the dev accuracy must be the same; the merged weights differ only in the dropped embedding rows).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from build_zoo import base_link, trimmed  # noqa: E402

from merginguriel.data.massive import DataSelection, load_selection  # noqa: E402
from merginguriel.experiments.selection.grid import Candidate  # noqa: E402
from merginguriel.experiments.selection.scoring import SelectionContext, build, score  # noqa: E402
from merginguriel.runtime import Runtime  # noqa: E402

POOL = "en-US de-DE nl-NL af-ZA da-DK sv-SE es-ES fr-FR it-IT pt-PT".split()
TARGETS = ["af-ZA", "es-ES", "nl-NL"]
CANDIDATES = {
    "similarity K=3 (linear)": Candidate("lang2vec", 3, "similarity", "softmax", 0.05),
    "ties(density=0.3) K=5": Candidate("lang2vec", 5, "ties", params=(("density", 0.3),)),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    work = args.workdir
    matrix = str(REPO / "language_similarity_matrix_unified.csv")
    runtime = Runtime(batch_size=128, progress=False)
    zoos = {
        "full": (work / "models", base_link(work)),
        "trimmed": trimmed(work),
    }
    scratch = work / "bench_trimmed"
    shutil.rmtree(scratch, ignore_errors=True)
    times: dict[tuple[str, str, str], list[float]] = {}
    accuracy: dict[tuple[str, str, str], set[float]] = {}
    for repeat in range(args.repeats):
        for target in TARGETS:
            split = load_selection(DataSelection(str(work / "data"), target, "validation", max_seq_length=64))
            for label, candidate in CANDIDATES.items():
                order = ("full", "trimmed") if repeat % 2 == 0 else ("trimmed", "full")
                for zoo in order:
                    models, base = zoos[zoo]
                    ctx = SelectionContext(
                        str(models), str(base), {"lang2vec": matrix}, POOL, runtime,
                        work_dir=scratch / f"{zoo}_{repeat}",
                    )  # fmt: skip
                    started = time.perf_counter()
                    built = build(candidate, target, ctx)
                    built_at = time.perf_counter()
                    result = score(built, split, ctx)
                    done = time.perf_counter()
                    times.setdefault((label, zoo, "build"), []).append(built_at - started)
                    times.setdefault((label, zoo, "score"), []).append(done - built_at)
                    accuracy.setdefault((label, target, str(repeat)), set()).add(round(result["accuracy"], 6))
                    shutil.rmtree(built.model_dir, ignore_errors=True)
    print("| candidate | step | full vocabulary (s) | trimmed (s) | ratio |")
    print("|---|---|---|---|---|")
    for label in CANDIDATES:
        for step in ("build", "score"):
            full = statistics.median(times[(label, "full", step)])
            trim = statistics.median(times[(label, "trimmed", step)])
            print(f"| {label} | {step} | {full:.2f} | {trim:.2f} | {full / trim:.2f}x |")
        total_full = sum(statistics.median(times[(label, "full", s)]) for s in ("build", "score"))
        total_trim = sum(statistics.median(times[(label, "trimmed", s)]) for s in ("build", "score"))
        print(
            f"| {label} | build + score | {total_full:.2f} | {total_trim:.2f} | {total_full / total_trim:.2f}x |"
        )
    same = all(len(v) == 1 for v in accuracy.values())
    print(f"dev accuracy identical on every (candidate, target): {same}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
