"""Aggregation of results folders into fair comparisons, and the plots made from them.

Every ``results/<name>/results.json`` (+ ``merge_details.json``) becomes one row: the method (the mode, plus
``_{preset}`` for preset sweeps), the target locale, the sources actually used, accuracy and macro-F1.
Baselines per row come from the NxN matrix ``M`` (rows = model locale, columns = evaluated locale):

* ``native`` = ``M[target, target]`` (the target's own model; when the matrix lacks it, the ``baseline``
  experiment's accuracy for that target);
* ``best_source`` = ``max_{s in sources} M[s, target]`` — the best zero-shot model *among the sources the
  experiment actually used* (the fair comparison for a merge/ensemble);
* ``best_zero_shot`` = ``max_{l != target} M[l, target]`` over every other locale in the matrix;
* ``avg_zero_shot`` = ``mean_{l != target} M[l, target]`` (NaN cells ignored).

``improvement_vs_X = accuracy - X``. A method *wins* against a baseline on a target when its accuracy is
higher by more than 1e-12, *ties* within 1e-12, and loses otherwise; ``win_rate = wins / n`` over the targets
where both numbers exist. The ``baseline`` mode itself is listed but left out of win rates and plots.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from merginguriel.errors import MissingInputError, UserError
from merginguriel.experiments.nxn import data_identity, find_latest_matrix, matrix_data, read_matrix
from merginguriel.outputs.atomic import check_writable, write_json_atomic, write_text_atomic

logger = logging.getLogger("merginguriel.aggregation")

BASELINES = ("native", "best_source", "best_zero_shot", "avg_zero_shot")
NON_METHODS = ("baseline",)
TIE_EPS = 1e-12


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_result(folder: Path) -> dict[str, Any] | None:
    """One aggregated row from a results folder (None when it is not an experiment's result)."""
    results = _read_json(folder / "results.json")
    if results is None or "performance" not in results:
        return None
    details = _read_json(folder / "merge_details.json") or results.get("merge_details") or {}
    exp = results.get("experiment") or {}
    mode = exp.get("mode") or details.get("mode")
    target = exp.get("target") or details.get("target") or results.get("dataset_info", {}).get("locale")
    if not mode or not target:
        return None
    preset = exp.get("preset")
    sources = [s["locale"] for s in details.get("sources", []) if isinstance(s, Mapping) and "locale" in s]
    perf = results["performance"]
    data = results.get("dataset_info", {})
    return {
        "name": folder.name,
        "method": f"{mode}_{preset}" if preset else mode,
        "mode": mode,
        "preset": preset,
        "locale": target,
        "num_sources": len(sources),
        "sources": ",".join(sources),
        "accuracy": float(perf["accuracy"]),
        "macro_f1": float(perf.get("macro_f1", np.nan)),
        "correct": perf.get("correct"),
        "total": perf.get("total"),
        "dataset": data.get("dataset_name"),
        "split": data.get("split"),
        "max_samples": data.get("max_samples"),
        "key": exp.get("key") or details.get("key"),
        "timestamp": results.get("evaluation_info", {}).get("timestamp"),
        "mtime": (folder / "results.json").stat().st_mtime,
    }


def scan_results(results_root: str | os.PathLike, progress: bool = True) -> pd.DataFrame:
    """Rows for every experiment result under ``results_root`` (one level of folders). A ``results.json`` that
    cannot be read is named in a warning (one bad file does not stop a report over a thousand); a root that
    does not exist, or holds no experiment result at all, is an error naming it."""
    root = Path(results_root)
    if not root.is_dir():
        raise MissingInputError(
            f"--results-root {root} is not a folder; point it at the results/ of merge or sweep runs."
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    rows, unreadable = [], []
    for folder in tqdm(folders, desc="reading results", unit="dir", disable=not progress):
        if (folder / "results.json").is_file() and _read_json(folder / "results.json") is None:
            unreadable.append(str(folder / "results.json"))
            continue
        row = read_result(folder)
        if row is None:
            logger.debug("skipping %s (not an experiment result)", folder)
            continue
        rows.append(row)
    for path in unreadable:
        logger.warning("skipping %s: not readable JSON (a run killed while writing it?)", path)
    if not rows:
        found = f"; unreadable: {', '.join(unreadable[:3])}" if unreadable else ""
        raise UserError(
            f"No experiment results (*/results.json with a performance block) under {root}{found}: nothing to "
            "aggregate. Run merge or sweep first, or point --results-root at their results folder."
        )
    columns = [
        "name",
        "method",
        "mode",
        "preset",
        "locale",
        "num_sources",
        "sources",
        "accuracy",
        "macro_f1",
        "correct",
        "total",
        "dataset",
        "split",
        "max_samples",
        "key",
        "timestamp",
        "mtime",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return disambiguate_methods(frame)


def disambiguate_methods(frame: pd.DataFrame) -> pd.DataFrame:
    """Methods run with several K get ``_{K}src`` labels; remaining (locale, method) duplicates keep the
    newest result."""
    if frame.empty:
        return frame
    frame = frame.copy()
    for method, group in frame.groupby("method"):
        if group["num_sources"].nunique() > 1:
            idx = group.index
            frame.loc[idx, "method"] = [f"{method}_{int(n)}src" for n in group["num_sources"]]
    frame = frame.sort_values("mtime")
    dup = frame.duplicated(["locale", "method"], keep="last")
    for _, row in frame[dup].iterrows():
        logger.warning(
            "%s: older duplicate result for %s/%s ignored", row["name"], row["method"], row["locale"]
        )
    return frame[~dup].sort_values(["locale", "method"]).reset_index(drop=True)


def results_data(frame: pd.DataFrame) -> tuple[dict[str, Any] | None, int]:
    """The data selection most results were evaluated on, and how many rows used another one."""
    known = frame.dropna(subset=["dataset", "split"]) if len(frame) else frame
    if not len(known):
        return None, 0
    ids = [
        json.dumps(data_identity(r.dataset, r.split, r.max_samples), sort_keys=True)
        for r in known.itertuples()
    ]
    counts = pd.Series(ids).value_counts()
    return json.loads(counts.index[0]), int(len(ids) - counts.iloc[0])


def baselines_for(
    target: str, sources: Sequence[str], matrix: pd.DataFrame | None, native_fallback: float | None = None
) -> dict[str, Any]:
    """The four baselines of one experiment (see the module doc), with the locales they come from."""
    out: dict[str, Any] = {b: np.nan for b in BASELINES}
    out.update(best_source_locale=None, best_zero_shot_locale=None)
    if matrix is not None and target in matrix.columns:
        column = matrix[target]
        if target in column.index and pd.notna(column.get(target)):
            out["native"] = float(column[target])
        zero_shot = column.drop(labels=[target], errors="ignore").dropna()
        if len(zero_shot):
            out["best_zero_shot"] = float(zero_shot.max())
            out["best_zero_shot_locale"] = str(zero_shot.idxmax())
            out["avg_zero_shot"] = float(zero_shot.mean())
        used = zero_shot[[s for s in sources if s in zero_shot.index]]
        if len(used):
            out["best_source"] = float(used.max())
            out["best_source_locale"] = str(used.idxmax())
    if np.isnan(out["native"]) and native_fallback is not None:
        out["native"] = float(native_fallback)
    return out


def add_baselines(frame: pd.DataFrame, matrix: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` plus the baseline columns and ``improvement_vs_*`` columns."""
    frame = frame.copy()
    native_runs = frame[frame["mode"] == "baseline"].set_index("locale")["accuracy"].to_dict()
    rows = [
        baselines_for(
            r.locale, [s for s in str(r.sources).split(",") if s], matrix, native_runs.get(r.locale)
        )
        for r in frame.itertuples()
    ]
    extra = pd.DataFrame(rows, index=frame.index)
    frame = pd.concat([frame, extra], axis=1)
    for b in BASELINES:
        frame[f"improvement_vs_{b}"] = frame["accuracy"] - frame[b]
    return frame


def win_analysis(frame: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """``{method: {baseline: {wins, ties, losses, n, win_rate}}}`` (methods other than ``baseline``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for method, group in frame[~frame["mode"].isin(NON_METHODS)].groupby("method"):
        out[method] = {}
        for b in BASELINES:
            if b not in group:
                continue
            diff = (group["accuracy"] - group[b]).dropna()
            wins = int((diff > TIE_EPS).sum())
            ties = int((diff.abs() <= TIE_EPS).sum())
            n = int(len(diff))
            out[method][b] = {
                "wins": wins,
                "ties": ties,
                "losses": n - wins - ties,
                "n": n,
                "win_rate": wins / n if n else None,
            }
    return out


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Locales x methods accuracy, plus the per-locale baselines (native, best/avg zero-shot)."""
    table = frame.pivot(index="locale", columns="method", values="accuracy")
    for b in ("native", "best_zero_shot", "avg_zero_shot"):
        if b in frame:
            table[f"baseline_{b}"] = frame.groupby("locale")[b].first()
    table.columns.name = None
    return table


def sweep_records(
    results_root: str | os.PathLike,
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], dict]]:
    """Planned (locale, method) pairs of every sweep under ``results_root`` and each pair's latest record."""
    from merginguriel.experiments.sweep import read_state

    planned: list[tuple[str, str]] = []
    latest: dict[tuple[str, str], dict] = {}
    for sweep_dir in sorted(Path(results_root).glob("sweep_*")):
        plan = _read_json(sweep_dir / "plan.json") or {}
        preset = (plan.get("options") or {}).get("preset")
        suffix = f"_{preset}" if preset else ""
        for item in plan.get("experiments", []):
            label = item["mode"] if item["mode"] in NON_METHODS else item["mode"] + suffix
            planned.append((item["target"], label))
        for record in read_state(sweep_dir / "state.jsonl"):
            mode = record.get("mode")
            label = mode if mode in NON_METHODS else f"{mode}{suffix}"
            latest[(record.get("target"), label)] = record
    return planned, latest


def missing_experiments(
    frame: pd.DataFrame,
    results_root: str | os.PathLike,
    locales: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
) -> list[dict]:
    """Expected but absent experiments: the locale x method grid of the results found, plus every experiment a
    sweep planned (``plan.json``) or recorded as failed, each marked ``failed`` (with the recorded error) or
    ``missing``."""
    planned, latest = sweep_records(results_root)
    present = set(zip(frame["locale"], frame["method"]))
    wanted_locales = set(locales) if locales else None
    wanted_methods = set(methods) if methods else None

    def keep(pair: tuple[str, str]) -> bool:
        return (wanted_locales is None or pair[0] in wanted_locales) and (
            wanted_methods is None or pair[1] in wanted_methods
        )

    # the grid of what was found, plus what each sweep planned (as planned: not crossed with other locales)
    expected = {(loc, m) for loc in set(frame["locale"]) for m in set(frame["method"])}
    expected |= {pair for pair in planned if keep(pair)}
    expected |= {pair for pair, r in latest.items() if r.get("status") == "failed" and keep(pair)}
    expected = {pair for pair in expected if keep(pair)}
    out = []
    for loc, method in sorted(expected - present):
        record = latest.get((loc, method))
        status = "failed" if record and record.get("status") == "failed" else "missing"
        out.append(
            {
                "locale": loc,
                "method": method,
                "status": status,
                "error": record.get("error") if status == "failed" else None,
            }
        )
    return out


def method_summary(frame: pd.DataFrame, wins: Mapping[str, Any]) -> pd.DataFrame:
    """Per method: targets, mean accuracy, mean of each baseline and improvement, win rates."""
    rows = []
    for method, group in frame.groupby("method"):
        row: dict[str, Any] = {
            "method": method,
            "n_locales": int(group["locale"].nunique()),
            "mean_accuracy": float(group["accuracy"].mean()),
        }
        for b in BASELINES:
            if b in group:
                row[f"mean_{b}"] = float(group[b].mean())
                row[f"mean_improvement_vs_{b}"] = float(group[f"improvement_vs_{b}"].mean())
                rate = wins.get(method, {}).get(b, {}).get("win_rate")
                row[f"win_rate_vs_{b}"] = rate
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, index: bool = True) -> str:
    data = frame.reset_index() if index else frame
    header = "| " + " | ".join(str(c) for c in data.columns) + " |"
    rule = "|" + "|".join("---" for _ in data.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in data.itertuples(index=False)]
    return "\n".join([header, rule, *body])


@dataclass
class AggregateOutputs:
    paths: dict[str, Path]
    comprehensive: pd.DataFrame
    wins: dict[str, Any]
    summary: dict[str, Any]


def _baseline_matrix(
    evaluation_matrix: str | os.PathLike | None,
    nxn_root: str | os.PathLike,
    want: Mapping[str, Any] | None,
    warnings: list[str],
) -> tuple[Path | None, pd.DataFrame | None]:
    """The NxN matrix the baselines come from: the one given, else the newest on the results' data."""
    if evaluation_matrix:
        matrix_path = Path(evaluation_matrix)
        if not matrix_path.is_file():
            raise MissingInputError(f"Evaluation matrix {matrix_path} not found.")
        recorded = matrix_data(matrix_path)
        if want is not None and recorded is not None and recorded != want:
            warnings.append(
                f"--evaluation-matrix {matrix_path} was computed on {recorded}, but the results on {want}: "
                "its baselines are not on the same rows."
            )
    else:
        matrix_path = find_latest_matrix(nxn_root, want)
    if matrix_path is None:
        warnings.append(
            f"No NxN evaluation matrix on the results' data under {nxn_root}: baselines other than native "
            "runs are empty. Run run_nxn_evaluation.py (same --dataset-name/--split/--max-samples) or pass "
            "--evaluation-matrix."
        )
        return None, None
    return matrix_path, read_matrix(matrix_path)


def _filtered(
    frame: pd.DataFrame, locales: Sequence[str] | None, types: Sequence[str] | None
) -> pd.DataFrame:
    if locales:
        frame = frame[frame["locale"].isin(locales)]
    if types:
        frame = frame[frame["method"].isin(set(types)) | frame["mode"].isin(set(types))]
    return frame.reset_index(drop=True)


def _output_paths(output_dir: str | os.PathLike, stamp: str) -> dict[str, Path]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = {
        "aggregated": "results_aggregated_{}.csv",
        "comparison": "results_comparison_{}.csv",
        "comprehensive": "results_comprehensive_{}.csv",
        "summary": "results_summary_{}.json",
        "win_analysis": "results_win_analysis_{}.json",
        "report": "results_report_{}.md",
    }
    return {kind: out / name.format(stamp) for kind, name in names.items()}


def aggregate(
    results_root: str | os.PathLike = "results",
    output_dir: str | os.PathLike = ".",
    evaluation_matrix: str | os.PathLike | None = None,
    nxn_root: str | os.PathLike = "nxn_results",
    locales: Sequence[str] | None = None,
    experiment_types: Sequence[str] | None = None,
    baselines: bool = True,
    progress: bool = True,
    timestamp: str | None = None,
) -> AggregateOutputs:
    """Scan, join baselines, and write the six timestamped outputs; returns them and their paths."""
    check_writable(output_dir, "--output-dir")
    frame = _filtered(scan_results(results_root, progress), locales, experiment_types)
    warnings: list[str] = []
    want, others = results_data(frame)
    if others:
        warnings.append(
            f"{others} result(s) were evaluated on other data than the rest ({want}); their baselines come "
            "from a matrix on that data, which does not match them. Filter with --locales/--experiment-types "
            "or aggregate them separately."
        )
    matrix_path, matrix = (
        _baseline_matrix(evaluation_matrix, nxn_root, want, warnings) if baselines else (None, None)
    )
    for text in warnings:
        logger.warning("%s", text)
    comprehensive = add_baselines(frame, matrix) if baselines else frame.copy()
    wins = win_analysis(comprehensive) if baselines else {}
    missing = missing_experiments(frame, results_root, locales, experiment_types)
    if baselines:
        per_method = method_summary(comprehensive, wins)
    else:
        per_method = frame.groupby("method")["accuracy"].agg(["count", "mean"]).reset_index()
    stamp = timestamp or time.strftime("%Y%m%d_%H%M%S")
    paths = _output_paths(output_dir, stamp)
    write_text_atomic(paths["aggregated"], frame.drop(columns=["mtime"]).to_csv(index=False))
    comparison = comparison_table(comprehensive) if len(comprehensive) else pd.DataFrame()
    write_text_atomic(paths["comparison"], comparison.to_csv())
    write_text_atomic(paths["comprehensive"], comprehensive.drop(columns=["mtime"]).to_csv(index=False))
    summary = {
        "created": stamp,
        "results_root": str(results_root),
        "evaluation_matrix": str(matrix_path) if matrix_path else None,
        "evaluation_matrix_data": matrix_data(matrix_path) if matrix_path else None,
        "results_data": want,
        "warnings": warnings,
        "baselines": baselines,
        "filters": {"locales": list(locales or []), "experiment_types": list(experiment_types or [])},
        "num_experiments": int(len(frame)),
        "locales": sorted(set(frame["locale"])),
        "methods": sorted(set(frame["method"])),
        "splits": sorted({str(s) for s in frame["split"].dropna()}),
        "per_method": json.loads(per_method.to_json(orient="records")),
        "missing": missing,
    }
    write_json_atomic(paths["summary"], summary)
    write_json_atomic(paths["win_analysis"], wins)
    write_text_atomic(paths["report"], report_markdown(summary, per_method, wins, comparison, missing))
    return AggregateOutputs(paths, comprehensive, wins, summary)


def report_markdown(
    summary: Mapping[str, Any],
    per_method: pd.DataFrame,
    wins: Mapping[str, Any],
    comparison: pd.DataFrame,
    missing: Sequence[Mapping[str, Any]],
) -> str:
    lines = [
        "# MergingUriel results report",
        "",
        f"- created: {summary['created']}",
        f"- results: `{summary['results_root']}` ({summary['num_experiments']} experiments, "
        f"{len(summary['locales'])} locales, {len(summary['methods'])} methods, split(s) {', '.join(summary['splits'])})",
        f"- NxN matrix: `{summary['evaluation_matrix']}`",
        *[f"- **warning**: {w}" for w in summary.get("warnings", [])],
        "",
        "Baselines: native = the target's own model; best source = best zero-shot model among the sources the "
        "experiment used (the fair comparison); best zero-shot = best other locale's model; avg zero-shot = "
        "mean over other locales' models.",
        "",
        "## Per method",
        "",
        markdown_table(per_method, index=False) if len(per_method) else "(no results)",
        "",
    ]
    if wins:
        lines += ["## Win rates (wins / targets; ties not counted as wins)", ""]
        rows = []
        for method, by_base in wins.items():
            rows.append(
                {
                    "method": method,
                    **{
                        b: f"{v['wins']}/{v['n']} ({v['win_rate']:.0%})" if v["n"] else "–"
                        for b, v in by_base.items()
                    },
                }
            )
        lines += [markdown_table(pd.DataFrame(rows), index=False), ""]
    if len(comparison):
        lines += ["## Accuracy per locale", "", markdown_table(comparison), ""]
    lines += ["## Missing or failed experiments", ""]
    if missing:
        lines += [
            f"- {m['locale']} {m['method']}: {m['status']}" + (f" — {m['error']}" if m.get("error") else "")
            for m in missing
        ]
    else:
        lines.append("none")
    return "\n".join(lines) + "\n"


__all__ = [
    "BASELINES",
    "AggregateOutputs",
    "add_baselines",
    "aggregate",
    "baselines_for",
    "comparison_table",
    "data_identity",
    "missing_experiments",
    "read_result",
    "scan_results",
    "win_analysis",
]
