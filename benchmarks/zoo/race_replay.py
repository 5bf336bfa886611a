"""Replay leave-target-out races over the scores of exhaustive runs: how often does a race choose what the
exhaustive search chooses, and what does it cost?

    python benchmarks/zoo/race_replay.py /tmp/zoo/study/lto_exhaustive [--orders 200]

An exhaustive ``select --protocol leave-target-out --search exhaustive`` run has scored every candidate on every
fold (``PROTOCOL/TARGET/candidates.csv``). A race only reads a subset of those cells, so racing can be replayed
exactly — the project's own :func:`successive_halving`, :func:`rung_plan` and :func:`fold_order`, with the same
baseline keeping as ``select`` — for many fold orders (``select --seed``) without a merge or a forward pass. Per
setting it reports, over targets × orders: how often the race's choice *is* the exhaustive choice, how often it
is one the full data cannot tell from it (the mean over the folds within ``--tie`` of the best), the worst and
mean shortfall in mean dev accuracy, how often the leader after rung 1 or 2 is the exhaustive choice (what a race
that ``--budget`` stops there would choose), and the candidate × fold cells scored (exhaustive: all of them).
Writes ``benchmarks/zoo/race_replay.csv`` and ``race_replay.png``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from merginguriel.experiments.selection.racing import (
    RaceOptions,
    Rung,
    fold_order,
    rung_plan,
    successive_halving,
)
from merginguriel.experiments.selection.runner import FAMILIES, best, kept_baselines

HERE = Path(__file__).resolve().parent

SETTINGS = {  # name -> RaceOptions fields (what select's --eta, --rungs, --race-confidence set)
    "plain halving (eta 3, 3 rungs)": {"eta": 3, "rungs": 3, "confidence": 0.0},
    "plain halving (eta 2, 3 rungs)": {"eta": 2, "rungs": 3, "confidence": 0.0},
    "bound 0.95 (eta 3, 3 rungs)": {"eta": 3, "rungs": 3, "confidence": 0.95},
    "bound 0.95 (eta 3, 2 rungs)": {"eta": 3, "rungs": 2, "confidence": 0.95},
    "bound 0.95 (eta 2, 3 rungs)": {"eta": 2, "rungs": 3, "confidence": 0.95},
    "bound 0.99 (eta 3, 3 rungs)": {"eta": 3, "rungs": 3, "confidence": 0.99},
}


def load(run: Path) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """Per target: the candidate table (grid order) and the pool (the target and its folds)."""
    out = {}
    for path in sorted((run / "leave-target-out").glob("*/candidates.csv")):
        table = pd.read_csv(path)
        target = path.parent.name
        folds = [c.removeprefix("dev_") for c in table.columns if c.startswith("dev_")]
        if table[[f"dev_{f}" for f in folds]].isna().any().any():
            continue  # not an exhaustive run
        out[target] = (table, [target, *folds])
    return out


@dataclass(frozen=True)
class Row:
    """A candidate as the race and the baseline keeping see it."""

    key: str
    mode: str


def replay(
    table: pd.DataFrame, pool: list[str], target: str, options: RaceOptions
) -> tuple[str, set[tuple[str, str]], list[str]]:
    """The race's choice (candidate key), the candidate x fold cells it scored, and its leader after each rung."""
    folds = [loc for loc in fold_order(pool, options.seed) if loc != target]
    rows = [Row(k, m) for k, m in zip(table["key"], table["mode"], strict=True)]
    cells = {row: table.loc[i, [f"dev_{f}" for f in folds]].to_numpy(float) for i, row in enumerate(rows)}
    position = {f: j for j, f in enumerate(folds)}
    default = next(r for r, role in zip(rows, table["role"], strict=True) if role == "seed_default")
    seen: set[tuple[str, str]] = set()

    def score(row: Row, rung: Rung) -> tuple[float, np.ndarray]:
        seen.update((row.key, f) for f in rung.locales)
        values = cells[row][[position[f] for f in rung.locales]]
        return float(values.mean()), values

    result = successive_halving(
        rows, rung_plan(folds, 0, options), score, lambda alive, done: kept_baselines(alive, done, default),
        options.eta, confidence=options.confidence, population=len(folds),
    )  # fmt: skip
    leaders = [  # the choice a race stopped (by --budget) after each rung would make
        best(rows, pd.Series({r.key: v for r, v in done.items()}, dtype=float), FAMILIES["chosen"]).key
        for done in result.scores
    ]
    return leaders[-1], seen, leaders


def plot(overall: pd.DataFrame, path: Path, targets: list[str], orders: int) -> None:
    """Per setting: the share of races that chose the exhaustive choice, and the share of cells they read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(overall.index)[::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    left.barh(names, overall.loc[names, "same"], color="tab:green")
    left.set_xlim(0.9, 1.0)
    left.set_xlabel("races that chose the exhaustive choice")
    right.barh(names, overall.loc[names, "cells_share"], color="tab:blue")
    right.set_xlim(0, 1)
    right.set_xlabel("share of the exhaustive run's candidate x fold cells read")
    for ax, column in ((left, "same"), (right, "cells_share")):
        for y, name in enumerate(names):
            ax.annotate(f"{overall.at[name, column]:.3f}", (overall.at[name, column], y), fontsize=8,
                        xytext=(-34, -3), textcoords="offset points", color="white")  # fmt: skip
    fig.suptitle(f"Leave-target-out races replayed over exhaustive scores: {len(targets)} targets x {orders} "
                 "fold orders", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="an exhaustive leave-target-out select run (its --output-dir)")
    p.add_argument(
        "--orders", type=int, default=200, help="fold orders (race seeds) per target (default 200)"
    )
    p.add_argument(
        "--tie", type=float, default=0.001, help="a shortfall this small counts as a tie (default 0.001)"
    )
    args = p.parse_args()
    runs = load(args.run)
    rows = []
    for name, fields in SETTINGS.items():
        for target, (table, pool) in runs.items():
            best_key = table.loc[table["score"].idxmax(), "key"]  # first of equals, as select breaks ties
            best_score = float(table["score"].max())
            by_key = dict(zip(table["key"], table["score"], strict=True))
            for seed in range(args.orders):
                chosen, seen, leaders = replay(table, pool, target, RaceOptions(**fields, seed=seed))
                rows.append({
                    "setting": name, "target": target, "seed": seed, "same": chosen == best_key,
                    "same_if_stopped_after_rung_1": leaders[0] == best_key,
                    "same_if_stopped_after_rung_2": leaders[min(1, len(leaders) - 1)] == best_key,
                    "shortfall_if_stopped_after_rung_1": best_score - by_key[leaders[0]],
                    "shortfall": best_score - by_key[chosen], "cells": len(seen), "exhaustive_cells": table.shape[0]
                    * (len(pool) - 1),
                })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["tie"] = frame["shortfall"] <= args.tie
    summary = frame.groupby(["setting", "target"], sort=False).agg(
        same=("same", "mean"), within_tie=("tie", "mean"), mean_shortfall=("shortfall", "mean"),
        worst_shortfall=("shortfall", "max"), stopped_after_rung_1=("same_if_stopped_after_rung_1", "mean"),
        stopped_after_rung_2=("same_if_stopped_after_rung_2", "mean"), cells=("cells", "mean"),
        exhaustive_cells=("exhaustive_cells", "first"),
    )  # fmt: skip
    summary.round(4).to_csv(HERE / "race_replay.csv")
    print(summary.round(4).to_string())
    overall = frame.groupby("setting", sort=False).agg(
        same=("same", "mean"), within_tie=("tie", "mean"), worst_shortfall=("shortfall", "max"),
        stopped_after_rung_1=("same_if_stopped_after_rung_1", "mean"),
        stopped_after_rung_2=("same_if_stopped_after_rung_2", "mean"),
        shortfall_after_rung_1=("shortfall_if_stopped_after_rung_1", "mean"),
        cells_share=("cells", lambda c: c.sum() / frame.loc[c.index, "exhaustive_cells"].sum()),
    )  # fmt: skip
    print("\nover all targets and orders:\n" + overall.round(4).to_string())
    plot(overall, HERE / "race_replay.png", sorted(runs), args.orders)
    print(json.dumps({"targets": sorted(runs), "orders": args.orders}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
