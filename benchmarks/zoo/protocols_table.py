"""Tables of a `select --protocol all` run on the zoo, and of race-vs-exhaustive agreement.

    python benchmarks/zoo/protocols_table.py [--run /tmp/zoo/study/all_default] \
        [--compare race=/tmp/zoo/study/lto_race exhaustive=/tmp/zoo/study/lto_exhaustive [--compare-out F]]

Writes ``benchmarks/zoo/all_protocols_choices.csv`` (one row per protocol and target: the recipe, its dev score,
the rung it was decided on, the work and seconds of that target) and prints the per-protocol totals; with
``--compare`` it also writes ``benchmarks/zoo/race_vs_exhaustive.csv`` (or ``--compare-out``): per
leave-target-out target, the recipe each run chose, its work and seconds, and whether it agrees.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def recipes(run: Path, protocol: str) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((run / protocol).glob("*/recipe.json"))}


def choices(run: Path) -> pd.DataFrame:
    rows = []
    for protocol in ("target-dev", "unlabeled-target", "leave-target-out"):
        for target, r in recipes(run, protocol).items():
            work = r["search"].get("work", {})
            rows.append({
                "protocol": protocol, "target": target, "recipe": r["recipe_label"],
                "dev_score": round(r["dev_score"], 4), "criterion": r["criterion"],
                "decided_on_rung": r["search"].get("decided_on_rung"), "seconds": r["search"].get("seconds"),
                "kept_as_not_clearly_worse": r["search"].get("kept_as_not_clearly_worse"),
                **{k: work.get(k) for k in ("merges", "forward_passes", "evaluations", "reused_scores")},
            })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="a select --protocol all run (writes all_protocols_choices.csv)")
    p.add_argument("--compare", nargs="*", default=[], metavar="NAME=RUN")
    p.add_argument("--compare-out", default="race_vs_exhaustive.csv", help="file name of the --compare table")
    args = p.parse_args()
    if args.run is not None:
        table = choices(args.run)
        table.to_csv(HERE / "all_protocols_choices.csv", index=False)
        totals = table.groupby("protocol", sort=False)[["seconds", "merges", "forward_passes", "evaluations",
                                                          "reused_scores"]].sum()  # fmt: skip
        totals["targets"] = table.groupby("protocol", sort=False).size()
        print(totals.to_string())
        print("\nrecipes chosen (count per protocol):")
        for protocol, part in table.groupby("protocol", sort=False):
            print(
                f"  {protocol}: " + "; ".join(f"{k} ({v})" for k, v in part["recipe"].value_counts().items())
            )
    if args.compare:
        runs = dict(item.split("=", 1) for item in args.compare)
        chosen = {name: recipes(Path(run), "leave-target-out") for name, run in runs.items()}
        targets = sorted(set.intersection(*(set(c) for c in chosen.values())))
        rows = []
        for target in targets:
            row = {"target": target}
            for name, c in chosen.items():
                row[f"{name}_recipe"] = c[target]["recipe_label"]
                row[f"{name}_dev_score"] = round(c[target]["dev_score"], 4)
                row[f"{name}_evaluations"] = c[target]["search"].get("work", {}).get("evaluations")
                row[f"{name}_seconds"] = c[target]["search"].get("seconds")
            reference = row.get("exhaustive_recipe")
            for name in chosen:  # each run against the exhaustive one (or all alike, without one)
                if name != "exhaustive":
                    labels = (
                        {row[f"{n}_recipe"] for n in chosen}
                        if reference is None
                        else {row[f"{name}_recipe"], reference}
                    )
                    row[f"{name}_agrees"] = len(labels) == 1
            rows.append(row)
        agreement = pd.DataFrame(rows)
        agreement.to_csv(HERE / args.compare_out, index=False)
        for column in (c for c in agreement if c.endswith("_agrees")):
            print(
                f"\n{column[: -len('_agrees')]} vs exhaustive ({len(targets)} targets): {int(agreement[column].sum())} agree"
            )
        print(agreement.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
