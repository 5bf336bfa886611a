"""The zoo study: for every zoo locale as target, what `merginguriel select` chooses on dev under each protocol,
against the baselines, on the target's test split (read once).

    python benchmarks/zoo/study.py --workdir /tmp/zoo                       # select, baselines, report
    python benchmarks/zoo/study.py --workdir /tmp/zoo --steps report        # tables and plot only
    python benchmarks/zoo/study.py --workdir /tmp/zoo --protocols target-dev --budget leave-target-out=45m

Needs the zoo (``build_zoo.py``: models, data, logits cache). Steps:

1. ``select`` — ``merginguriel select`` per protocol over every zoo locale, with ``study_grid.json`` (the default
   similarity source, lang2vec syntax_knn; Sinkhorn weights; K 1 and 3; similarity-weighted and uniform linear
   merges, the soft ensemble, single sources; the old default, K = 5, is scored and reported as a baseline), the logits cache the NxN filled; leave-target-out races
   (the default search); target-dev and unlabeled-target score every candidate on the full dev split (their
   single sources are then the NxN's cached logits) and keep their merged candidates for each other.
2. ``baselines`` — per target, fixed (never selected): the uniform merge of **all** other zoo models and the soft
   ensemble of all of them (``merge --mode average`` / ``ensemble --voting-method soft`` with
   ``--num-languages`` = all), on test.
3. ``methods`` (issue 20) — ``select`` under target-dev and unlabeled-target on ``METHOD_TARGETS`` (one
   locale per family) with ``study_grid_methods.json``: the K = 3 similarity merge beside ``layer_swap``, layer
   weights (lower or upper blocks from the closest source), AdaMerging task- and layer-wise (on the target's
   validation texts) and, under target-dev only, the target's own model merged with its neighbours
   (``include_target``); every candidate is also scored on test (``--test-candidates``) so each method has a row.
   ``methods_report`` then writes ``methods_table.csv`` / ``methods_summary.csv`` (each method against the
   protocol's best single source and the study's chosen recipe, paired bootstrap) and ``methods_gain.png``.
4. ``methods_more`` (issue 20, the rest) — RegMean and RegMean++ (64 training rows per source) beside the K = 3
   similarity merge under target-dev and unlabeled-target (``study/methods_regmean``), and layer_swap and the two
   layer-weight rules under leave-target-out, raced within ``--budget leave-target-out=…`` (default 40m;
   ``study/methods_lto``); their rows join ``methods_table.csv``.
5. ``regmean_lto`` (issue 20) — RegMean and RegMean++ beside the K = 3 similarity merge under leave-target-out,
   exhaustively (every candidate on all 19 folds, then on test) on ``LTO_TARGETS``; ``regmean_lto_table.csv``,
   ``regmean_lto_summary.csv`` (against the plain merge, the best single source and the native model on test,
   and on dev against the default grid's exhaustive choice) and ``regmean_lto_gain.png``.
6. ``report`` — ``study_table.csv`` (one row per protocol and target: the chosen recipe and every baseline on
   test), ``study_summary.csv`` (per protocol and baseline: wins / ties / losses of the recipe, mean gain, paired
   bootstrap 95% interval; and per language family), ``study_gain.png`` (gain over the protocol's best single
   source per target, coloured by family). Written to ``benchmarks/zoo/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_zoo import LOCALES, trimmed  # noqa: E402

from merginguriel.merging.naming import ensemble_name, merge_name  # noqa: E402

PROTOCOLS = ("target-dev", "unlabeled-target", "leave-target-out")
FAMILY = {
    "en-US": "Germanic", "de-DE": "Germanic", "nl-NL": "Germanic", "af-ZA": "Germanic", "da-DK": "Germanic",
    "sv-SE": "Germanic", "es-ES": "Romance", "fr-FR": "Romance", "it-IT": "Romance", "pt-PT": "Romance",
    "ru-RU": "Slavic", "pl-PL": "Slavic", "hi-IN": "Indic", "bn-BD": "Indic", "ar-SA": "Semitic",
    "he-IL": "Semitic", "ja-JP": "East Asian", "zh-CN": "East Asian", "tr-TR": "other", "id-ID": "other",
}  # fmt: skip
METHOD_TARGETS = ["af-ZA", "es-ES", "pl-PL", "hi-IN", "ar-SA", "ja-JP", "tr-TR"]  # one per family
BASELINES = {  # column -> what it is
    "best_source": "the protocol's best single source (chosen on dev)",
    "uniform_all": "uniform merge of all other zoo models (fixed)",
    "ensemble_all": "soft ensemble of all other zoo models (fixed)",
    "seed_default": "the old default: similarity-weighted merge, K = 5 (fixed)",
    "oracle_best_source": "oracle: the best single source on test",
    "native": "the target's own model (reference)",
}


def cli(args: list[str], log: Path) -> float:
    started = time.time()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with open(log, "a") as out:
        out.write(f"$ merginguriel {' '.join(args)}\n")
        out.flush()
        code = subprocess.call([sys.executable, "-m", "merginguriel.cli", *args], stdout=out,
                               stderr=subprocess.STDOUT, env=env)  # fmt: skip
    if code:
        raise SystemExit(f"failed ({code}): merginguriel {' '.join(args)} (see {log})")
    return time.time() - started


def base_link(work: Path) -> Path:
    """The base model of the zoo the study runs on: the trimmed encoder (``build_zoo.py`` step ``trim``)."""
    return trimmed(work)[1]


def common(work: Path, locales: list[str], cache: bool = True) -> list[str]:
    """Flags every command of the study shares (``merge`` has no logits cache: a merged model is new)."""
    flags = ["--models-root", str(trimmed(work)[0]), "--base-model", str(base_link(work)), "--dataset-name",
             str(work / "data"), "--max-seq-length", "64", "--batch-size", "128"]  # fmt: skip
    return [*flags, "--logits-cache", str(work / "logits_cache")] if cache else flags


def select(
    work: Path, protocols: list[str], locales: list[str], budgets: dict[str, str], timings: dict
) -> None:
    for protocol in protocols:
        out = work / "study" / "select"
        if (out / protocol / "selection_summary.csv").is_file():
            continue
        print(f"select {protocol}", flush=True)
        extra = ["--budget", budgets[protocol]] if protocol in budgets else []
        merged = out / "work" / "merged"
        if protocol == "leave-target-out":  # its merges are applied to other locales: none is reused later
            shutil.rmtree(merged, ignore_errors=True)
        else:  # target-dev and unlabeled-target build the same merges: the second reuses the first's; one
            # fold, so racing would only sample rows and miss the NxN's cached logits of the full dev split
            extra += ["--keep-merged", "--search", "exhaustive"]
        timings[f"select {protocol}"] = cli(
            ["select", "--protocol", protocol, "--target-lang", *locales, "--pool", *locales,
             "--grid", str(HERE / "study_grid.json"), "--sources", "lang2vec",
             "--output-dir", str(out), "--no-test-candidates", "--no-progress", *extra, *common(work, locales)],
            work / "study.log",
        )  # fmt: skip


def baselines(work: Path, locales: list[str], timings: dict) -> None:
    """The uniform merge and the soft ensemble of all other zoo models, per target, on test."""
    sim = work / "study" / "select" / "work" / "similarity" / "lang2vec.csv"
    results = work / "study" / "baselines"
    started = time.time()
    k = str(len(locales) - 1)
    for (
        target
    ) in locales:  # the merges first; the ensembles then read the sources' test logits from the cache
        if not (results / merge_name("average", target, int(k)) / "results.json").is_file():
            cli(["merge", "--mode", "average", "--target-lang", target, "--num-languages", k, "--similarity-matrix",
                 str(sim), "--dataset-split", "test", "--merged-models-root", str(work / "study" / "merged"),
                 "--results-root", str(results), *common(work, locales, cache=False)], work / "study.log")  # fmt: skip
            shutil.rmtree(work / "study" / "merged", ignore_errors=True)  # 470 MB each; the result is kept
    for target in locales:
        if not (results / ensemble_name("soft", target, int(k)) / "results.json").is_file():
            cli(["ensemble", "--voting-method", "soft", "--target-lang", target, "--num-languages", k,
                 "--similarity-matrix", str(sim), "--dataset-split", "test", "--results-root", str(results),
                 *common(work, locales)], work / "study.log")  # fmt: skip
    timings["baselines"] = time.time() - started


def methods(work: Path, locales: list[str], timings: dict) -> None:
    """The issue-20 methods as candidates of ``select`` (see the module docstring)."""
    grid = json.loads((HERE / "study_grid_methods.json").read_text())
    for protocol in ("target-dev", "unlabeled-target"):
        out = work / "study" / "methods"
        if (out / protocol / "selection_summary.csv").is_file():
            continue
        spec = json.loads(json.dumps(grid))
        if protocol != "target-dev":  # the target's own model is trained on its labels
            spec["modes"]["similarity"] = [
                p for p in spec["modes"]["similarity"] if not p.get("include_target")
            ]
        grid_file = work / "study" / f"grid_methods_{protocol}.json"
        grid_file.write_text(json.dumps(spec))
        print(f"methods {protocol}", flush=True)
        timings[f"methods {protocol}"] = cli(
            ["select", "--protocol", protocol, "--target-lang", *METHOD_TARGETS, "--pool", *locales,
             "--grid", str(grid_file), "--sources", "lang2vec", "--output-dir", str(out), "--no-progress",
             "--keep-merged", "--search", "exhaustive", "--num-fisher-examples", "64",
             "--statistics-cache", str(work / "statistics_cache"), *common(work, locales)],
            work / "study.log",
        )  # fmt: skip
        shutil.rmtree(out / "work" / "merged", ignore_errors=True)  # scored and recorded; 470 MB each
    out = work / "study" / "few_shot"
    if not (out / "target-dev" / "selection_summary.csv").is_file():
        print("few-shot target-dev", flush=True)
        timings["few-shot target-dev"] = cli(
            ["select", "--protocol", "target-dev", "--few-shot", "--target-lang", *METHOD_TARGETS, "--pool", *locales,
             "--grid", str(HERE / "study_grid.json"), "--sources", "lang2vec", "--output-dir", str(out),
             "--no-progress", "--search", "exhaustive", "--no-test-candidates", *common(work, locales)],
            work / "study.log",
        )  # fmt: skip


# issue 20, the rest: RegMean and RegMean++ (statistics from 64 training rows per source) under target-dev and
# unlabeled-target; layer_swap and the layer-weight rules under leave-target-out (raced within a budget; RegMean and
# RegMean++ under leave-target-out: step regmean_lto)
GRID_REGMEAN = {"similarity": ["lang2vec"], "weighting": ["sinkhorn"], "k": [3],
                "modes": {"similarity": [{}], "regmean": [{}], "regmean_plusplus": [{}]}}  # fmt: skip
GRID_LTO = {"similarity": ["lang2vec"], "weighting": ["sinkhorn"], "k": [3],
            "modes": {"similarity": [{}, {"layer_weights": "lower=top1"}, {"layer_weights": "upper=top1"}],
                      "layer_swap": [{"bottom": 2, "top": 1}]}}  # fmt: skip


def methods_more(work: Path, locales: list[str], budget: str, timings: dict) -> None:
    """RegMean / RegMean++ (target-dev, then unlabeled-target on the same merges) and the layer-wise methods
    under leave-target-out (``--budget``), every candidate scored on test too."""
    for name, grid, protocols, extra in (
        ("methods_regmean", GRID_REGMEAN, ("target-dev", "unlabeled-target"),
         ["--keep-merged", "--search", "exhaustive", "--num-fisher-examples", "64", "--statistics-cache",
          str(work / "statistics_cache")]),
        ("methods_lto", GRID_LTO, ("leave-target-out",), ["--budget", budget]),
    ):  # fmt: skip
        out = work / "study" / name
        grid_file = work / "study" / f"grid_{name}.json"
        grid_file.write_text(json.dumps(grid))
        for protocol in protocols:
            if (out / protocol / "selection_summary.csv").is_file():
                continue
            print(f"{name} {protocol}", flush=True)
            timings[f"{name} {protocol}"] = cli(
                ["select", "--protocol", protocol, "--target-lang", *METHOD_TARGETS, "--pool", *locales,
                 "--grid", str(grid_file), "--sources", "lang2vec", "--output-dir", str(out), "--no-progress",
                 *extra, *common(work, locales)],
                work / "study.log",
            )  # fmt: skip
        shutil.rmtree(out / "work" / "merged", ignore_errors=True)


# issue 20: RegMean and RegMean++ under leave-target-out (their statistics come from the sources' own training rows,
# so they fit the zero-shot protocol), every candidate on every fold, on the seven targets of the exhaustive
# default-grid run (docs/zoo_study.md, "Races replayed"), beside the plain K = 3 merge of the same sources
LTO_TARGETS = ["af-ZA", "en-US", "es-ES", "hi-IN", "ja-JP", "tr-TR", "zh-CN"]


def regmean_lto(work: Path, locales: list[str], timings: dict) -> None:
    """``select --protocol leave-target-out --search exhaustive`` with :data:`GRID_REGMEAN` on
    :data:`LTO_TARGETS` (every candidate scored on test too), then :func:`regmean_lto_report`."""
    out = work / "study" / "regmean_lto"
    if not (out / "leave-target-out" / "selection_summary.csv").is_file():
        grid_file = work / "study" / "grid_regmean.json"
        grid_file.write_text(json.dumps(GRID_REGMEAN))
        print("regmean_lto leave-target-out", flush=True)
        timings["regmean_lto leave-target-out"] = cli(
            ["select", "--protocol", "leave-target-out", "--search", "exhaustive", "--target-lang", *LTO_TARGETS,
             "--pool", *locales, "--grid", str(grid_file), "--sources", "lang2vec", "--output-dir", str(out),
             "--no-progress", "--num-fisher-examples", "64", "--statistics-cache", str(work / "statistics_cache"),
             *common(work, locales)],
            work / "study.log",
        )  # fmt: skip
    regmean_lto_report(work)


def regmean_lto_report(work: Path) -> pd.DataFrame:
    """Per target: each method's mean dev accuracy over the 19 folds and its test accuracy, beside (test) the
    plain K = 3 merge of the same sources, the old default (similarity, K = 5), the oracle source (the best
    single source on test) and the native model, and the default grid's exhaustive choice where that run exists
    (``lto_exhaustive``: on dev; on test, with that run's dev-chosen best single source, once its final
    evaluation ran); ``regmean_lto_table.csv``, ``regmean_lto_summary.csv`` and ``regmean_lto_gain.png``."""
    rows = []
    for target in LTO_TARGETS:
        folder = work / "study" / "regmean_lto" / "leave-target-out" / target
        if not (folder / "final.csv").is_file():
            continue
        final = pd.read_csv(folder / "final.csv").set_index("role")["accuracy"]
        chosen = json.loads((folder / "recipe.json").read_text())["recipe_label"]
        default = work / "study" / "lto_exhaustive" / "leave-target-out" / target
        grid_choice = (
            json.loads((default / "recipe.json").read_text()) if (default / "recipe.json").is_file() else {}
        )
        grid_final = (  # that run's test evaluation: its choice and its dev-chosen best single source
            pd.read_csv(default / "final.csv").set_index("role")["accuracy"]
            if (default / "final.csv").is_file()
            else pd.Series(dtype=float)
        )
        for r in pd.read_csv(folder / "candidates.csv").to_dict("records"):
            name = method_name(str(r["label"]))
            if name is None:
                continue
            rows.append({"protocol": "leave-target-out", "target": target, "family": FAMILY[target],
                         "method": name, "dev_score": r["score"], "test_accuracy": r.get("test_accuracy"),
                         "chosen_here": r["label"] == chosen, "seed_default": final.get("seed default"),
                         "oracle_best_source": final.get("oracle best source (test)"),
                         "native": final.get("native (the target's own model)"),
                         "default_grid_choice": grid_choice.get("recipe_label"),
                         "default_grid_dev": grid_choice.get("dev_score", np.nan),
                         "default_grid_test": grid_final.get("chosen recipe", np.nan),
                         "best_source": grid_final.get("best source", np.nan)})  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        raise SystemExit("no regmean_lto run yet: run the regmean_lto step first")
    reference = table[table["method"].str.startswith("similarity")].set_index("target")["test_accuracy"]
    table["plain_k3"] = table["target"].map(reference)
    table.to_csv(HERE / "regmean_lto_table.csv", index=False, float_format="%.4f")
    summary = [
        row
        for row in method_summary(
            table, ("plain_k3", "default_grid_test", "best_source", "seed_default", "oracle_best_source", "native")
        )
        if not (row["baseline"] == "plain_k3" and row["method"].startswith("similarity"))  # itself
    ]  # fmt: skip
    dev = table.dropna(subset=["default_grid_dev"])  # on dev too: both runs select by the mean over 19 folds
    for method, part in dev.groupby("method", sort=False):
        summary.append(gain_row("leave-target-out (dev, 19 folds)", method, "default_grid_choice",
                                (part["dev_score"] - part["default_grid_dev"]).to_numpy(dtype=float), part))  # fmt: skip
    frame = pd.DataFrame(summary)
    frame.to_csv(HERE / "regmean_lto_summary.csv", index=False, float_format="%.4f")
    tested = table[table["test_accuracy"].notna() & ~table["method"].str.startswith("similarity")]
    plot_methods(
        tested, HERE / "regmean_lto_gain.png", "plain_k3", "the plain K = 3 merge of the same sources"
    )
    print(frame.to_string(index=False, float_format=lambda v: f"{v:+.4f}"))
    return table


def gain_row(
    protocol: str, method: str, baseline: str, diff: np.ndarray, part: pd.DataFrame
) -> dict[str, Any]:
    """Wins / ties / losses and the mean of ``diff`` (one paired difference a target) with its paired bootstrap
    95 % interval."""
    from merginguriel.experiments.selection.summary import paired_bootstrap

    diff = diff[~np.isnan(diff)]  # leave-target-out: a baseline its study run never reached
    low, high = paired_bootstrap(diff)
    return {"protocol": protocol, "method": method, "baseline": baseline, "targets": len(diff),
            "wins": int((diff > 1e-12).sum()), "ties": int((np.abs(diff) <= 1e-12).sum()),
            "losses": int((diff < -1e-12).sum()), "mean_gain": diff.mean(), "ci_low": low, "ci_high": high,
            "chosen_by_select": int(part["chosen_here"].sum())}  # fmt: skip


def method_summary(table: pd.DataFrame, baselines: Sequence[str]) -> list[dict[str, Any]]:
    """Per protocol, method and baseline column: the method's test accuracy minus the baseline's (:func:`gain_row`)."""
    rows = []
    for (protocol, method), part in table.groupby(["protocol", "method"], sort=False):
        for baseline in baselines:
            diff = (part["test_accuracy"] - part[baseline]).to_numpy(dtype=float)
            if np.isnan(diff).all():
                continue
            rows.append(gain_row(protocol, method, baseline, diff, part))
    return rows


def few_shot_report(work: Path) -> pd.DataFrame:
    """Per target: the recipe selected on the ``select`` half of dev, the best source, the two fine-tuned
    models (``fit`` half), the native model — all on test."""
    rows = []
    for target in METHOD_TARGETS:
        final = work / "study" / "few_shot" / "target-dev" / target / "final.csv"
        if not final.is_file():
            continue
        acc = pd.read_csv(final).set_index("role")["accuracy"]
        rows.append({"target": target, "family": FAMILY[target], "recipe (select half)": acc.get("chosen recipe"),
                     "best source": acc.get("best source"),
                     "few-shot best source": acc.get("few-shot: best source fine-tuned"),
                     "few-shot chosen recipe": acc.get("few-shot: chosen recipe fine-tuned"),
                     "native": acc.get("native (the target's own model)")})  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(HERE / "few_shot_table.csv", index=False, float_format="%.4f")
    return table


def method_name(label: str) -> str | None:
    """The issue-20 method a candidate label stands for (None for the others)."""
    if label.startswith("layer_swap"):
        return "layer_swap (bottom 2, top 1)"
    if label.startswith("adamerging"):
        return "adamerging " + ("layer-wise" if "granularity=layer" in label else "task-wise")
    if "include_target" in label:
        return "include-target (W 0.5)"
    if "layer_weights=lower=top1" in label:
        return "layer weights lower=top1"
    if "layer_weights=upper=top1" in label:
        return "layer weights upper=top1"
    if label.startswith("regmean_plusplus"):
        return "regmean_plusplus (64 rows per source)"
    if label.startswith("regmean"):
        return "regmean (64 rows per source)"
    if label.startswith("similarity K=3"):
        return "similarity K=3 (reference)"
    return None


def methods_report(work: Path) -> None:
    study = pd.read_csv(HERE / "study_table.csv").set_index(["protocol", "target"])
    rows = []
    # layer-weights rows come from methods_lw (target-dev): the first run served them the plain merge (a bug
    # in the built model's identity, fixed and re-run)
    runs = [("methods", p) for p in ("target-dev", "unlabeled-target")] + [("methods_lw", "target-dev")]
    runs += [("methods_regmean", p) for p in ("target-dev", "unlabeled-target")]
    runs += [("methods_lto", "leave-target-out")]
    for run, protocol in runs:
        for target in METHOD_TARGETS:
            folder = work / "study" / run / protocol / target
            if not (folder / "candidates.csv").is_file():
                continue
            cands = pd.read_csv(folder / "candidates.csv")
            chosen = json.loads((folder / "recipe.json").read_text())["recipe_label"]
            ref = study.loc[(protocol, target)] if (protocol, target) in study.index else None
            for r in cands.to_dict("records"):
                name = method_name(str(r["label"]))
                if name is None or pd.isna(r.get("test_accuracy")):
                    continue
                if run == "methods_lto":  # every method of that run, under its own protocol
                    pass
                elif name.startswith("layer weights") != (run == "methods_lw"):
                    continue
                elif run == "methods_regmean" and not name.startswith("regmean"):
                    continue  # its similarity K=3 rows repeat the methods run's
                rows.append({"protocol": protocol, "target": target, "family": FAMILY[target], "method": name,
                             "dev_score": r["score"], "test_accuracy": r["test_accuracy"],
                             "chosen_here": r["label"] == chosen,
                             "best_source": ref["best_source"] if ref is not None else np.nan,
                             "study_recipe": ref["recipe_accuracy"] if ref is not None else np.nan,
                             "native": ref["native"] if ref is not None else np.nan})  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        raise SystemExit("no methods run yet: run the methods step first")
    table.to_csv(HERE / "methods_table.csv", index=False, float_format="%.4f")
    frame = pd.DataFrame(method_summary(table, ("best_source", "study_recipe", "native")))
    frame.to_csv(HERE / "methods_summary.csv", index=False, float_format="%.4f")
    plot_methods(table, HERE / "methods_gain.png")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:+.4f}"))


def plot_methods(
    table: pd.DataFrame, path: Path, baseline: str = "best_source", name: str = "best single source"
) -> None:
    """Per protocol and method: test accuracy minus the ``baseline`` column per target (dots) and its mean."""
    import matplotlib.pyplot as plt

    from merginguriel.outputs.plotting import save_figure

    protocols = list(dict.fromkeys(table["protocol"]))
    fig, axes = plt.subplots(
        1, len(protocols), figsize=(6.5 * len(protocols), 4.5), sharey=True, squeeze=False
    )
    for ax, protocol in zip(axes[0], protocols):
        part = table[table["protocol"] == protocol]
        names = list(dict.fromkeys(part["method"]))
        for j, method in enumerate(names):
            rows = part[part["method"] == method]
            gain = rows["test_accuracy"] - rows[baseline]
            ax.scatter([j] * len(gain), gain, alpha=0.7, s=22)
            ax.plot([j - 0.3, j + 0.3], [gain.mean()] * 2, color="black", lw=2)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(names)), labels=names, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"{protocol}: test accuracy − {name} (dots: targets, bar: mean)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def _accuracy(path: Path) -> float:
    return float(json.loads(path.read_text())["performance"]["accuracy"])


def report(work: Path, protocols: list[str], locales: list[str]) -> None:
    from merginguriel.experiments.selection.summary import paired_bootstrap

    results = work / "study" / "baselines"
    fixed = {}
    for target in locales:
        k = len(locales) - 1
        merge = results / merge_name("average", target, k) / "results.json"
        ens = results / ensemble_name("soft", target, k) / "results.json"
        fixed[target] = {
            "uniform_all": _accuracy(merge) if merge.is_file() else np.nan,
            "ensemble_all": _accuracy(ens) if ens.is_file() else np.nan,
        }
    rows = []
    for protocol in protocols:
        summary = work / "study" / "select" / protocol / "selection_summary.csv"
        if not summary.is_file():
            continue
        for r in pd.read_csv(summary).to_dict("records"):  # "recipe": the chosen recipe's test accuracy
            recipe = json.loads(
                (work / "study" / "select" / protocol / r["target"] / "recipe.json").read_text()
            )
            search = recipe.get("search") or {}
            rows.append({"protocol": protocol, "target": r["target"], "family": FAMILY.get(r["target"], "other"),
                         "chosen": recipe["recipe_label"], "recipe_accuracy": r["recipe"],
                         **{c: r.get(c, np.nan) for c in ("best_source", "seed_default", "oracle_best_source",
                                                         "native")},
                         **fixed[r["target"]], "search": search.get("search"),
                         "evaluations": search.get("work", {}).get("evaluations")})  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        raise SystemExit("no selection summary yet: run the select step first")
    table.to_csv(HERE / "study_table.csv", index=False, float_format="%.4f")
    summary = []
    for protocol, part in table.groupby("protocol", sort=False):
        for baseline in BASELINES:
            diff = (part["recipe_accuracy"] - part[baseline]).to_numpy(dtype=float)
            diff = diff[~np.isnan(diff)]
            low, high = paired_bootstrap(diff)
            summary.append({"protocol": protocol, "group": "all", "baseline": baseline, "targets": len(diff),
                            "wins": int((diff > 1e-12).sum()), "ties": int((np.abs(diff) <= 1e-12).sum()),
                            "losses": int((diff < -1e-12).sum()), "mean_gain": diff.mean() if len(diff) else np.nan,
                            "ci_low": low, "ci_high": high})  # fmt: skip
        for family, fam in part.groupby("family"):
            diff = (fam["recipe_accuracy"] - fam["best_source"]).to_numpy(dtype=float)
            low, high = paired_bootstrap(diff)
            summary.append({"protocol": protocol, "group": family, "baseline": "best_source", "targets": len(diff),
                            "wins": int((diff > 1e-12).sum()), "ties": int((np.abs(diff) <= 1e-12).sum()),
                            "losses": int((diff < -1e-12).sum()), "mean_gain": diff.mean(), "ci_low": low,
                            "ci_high": high})  # fmt: skip
    pd.DataFrame(summary).to_csv(HERE / "study_summary.csv", index=False, float_format="%.4f")
    plot(table)
    print(pd.DataFrame(summary).to_string(index=False, float_format=lambda v: f"{v:+.4f}"))


def plot(table: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    from merginguriel.outputs.plotting import save_figure

    protocols = list(dict.fromkeys(table["protocol"]))
    families = sorted(set(FAMILY.values()))
    colours = dict(zip(families, plt.cm.tab10.colors))
    fig, axes = plt.subplots(
        1, len(protocols), figsize=(5.5 * len(protocols), 4.5), sharey=True, squeeze=False
    )
    for ax, protocol in zip(axes[0], protocols):
        part = table[table["protocol"] == protocol].sort_values(["family", "target"])
        gain = (part["recipe_accuracy"] - part["best_source"]).to_numpy(dtype=float)
        ax.bar(range(len(part)), gain, color=[colours[f] for f in part["family"]])
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(part)), labels=list(part["target"]), rotation=70, fontsize=7)
        ax.set_title(f"{protocol}: mean {np.nanmean(gain):+.3f}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("test accuracy: chosen recipe − best single source")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[f]) for f in families]
    fig.legend(handles, families, loc="upper center", ncol=len(families), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    save_figure(fig, HERE / "study_gain.png")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/zoo"))
    p.add_argument(
        "--steps",
        default="select,baselines,report",
        help="Any of select, baselines, methods, methods_more, regmean_lto, report.",
    )
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    p.add_argument("--locales", nargs="+", default=LOCALES)
    p.add_argument("--budget", nargs="*", default=[], metavar="PROTOCOL=LIMIT",
                   help="A select --budget per protocol, e.g. leave-target-out=45m.")  # fmt: skip
    args = p.parse_args()
    budgets = dict(item.split("=", 1) for item in args.budget)
    work = args.workdir
    (work / "study").mkdir(parents=True, exist_ok=True)
    timings_path = work / "study" / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    steps = args.steps.split(",")
    if "select" in steps:
        select(work, args.protocols, args.locales, budgets, timings)
        timings_path.write_text(json.dumps(timings, indent=1))
    if "baselines" in steps:
        baselines(work, args.locales, timings)
        timings_path.write_text(json.dumps(timings, indent=1))
    if "methods" in steps:
        methods(work, args.locales, timings)
        timings_path.write_text(json.dumps(timings, indent=1))
    if "methods_more" in steps:
        methods_more(work, args.locales, budgets.get("leave-target-out", "40m"), timings)
        timings_path.write_text(json.dumps(timings, indent=1))
    if "regmean_lto" in steps:
        regmean_lto(work, args.locales, timings)
        timings_path.write_text(json.dumps(timings, indent=1))
    if "report" in steps:
        report(work, args.protocols, args.locales)
        if (work / "study" / "methods").is_dir():
            methods_report(work)
        if (work / "study" / "few_shot").is_dir():
            print(few_shot_report(work).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(json.dumps(timings, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
