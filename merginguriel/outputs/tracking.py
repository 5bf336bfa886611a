"""Experiment tracking: a sweep, an NxN matrix or a recipe selection as one run in TensorBoard (always) and in
Weights & Biases (``--report-to wandb``), so recipes are compared in the dashboards researchers already use.

One run = one call of :func:`log_run` with a row per experiment (:data:`ROW_COLUMNS`: mode, target, sources,
weights, method, method parameters, accuracy, macro-F1, key, …) and the run's plots as images:

* TensorBoard (``torch.utils.tensorboard``), in ``log_dir`` (the run's ``tensorboard/`` folder): the table as a
  Markdown text ``experiments``, each row as JSON text ``experiment`` at step *i*, the scalars ``accuracy`` and
  ``macro_f1`` at step *i* (and ``accuracy/<mode>`` / ``macro_f1/<mode>`` over the mode's rows), ``config`` as
  JSON text, and every image (PNG) under its name. Earlier event files in ``log_dir`` are removed first: a
  resumed sweep logs all its rows again, finished ones included, as the one run of that sweep.
* wandb: ``wandb.init(project, name, dir=log_dir, config)``, the rows as a ``wandb.Table`` ``experiments``,
  the images as ``wandb.Image``, mean accuracy / macro-F1 in the run summary. ``WANDB_MODE=offline`` works
  (``wandb sync`` uploads it later); without the ``wandb`` package, :func:`check_report_to` says how to get it.

The recipe selection calls :func:`log_run` itself (``rows`` from :func:`row` or its own dicts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from merginguriel.errors import UserError

TENSORBOARD_DIR = "tensorboard"
REPORT_TARGETS = ("tensorboard", "wandb")
ROW_COLUMNS = (
    "mode", "target", "sources", "weights", "method", "method_params", "accuracy", "macro_f1", "key",
    "split", "status", "name",
)  # fmt: skip
WANDB_HINT = (
    "--report-to wandb needs the wandb package: pip install 'merginguriel[wandb]' (or pip install wandb); "
    "set WANDB_MODE=offline to log without an account."
)


class TrackingError(UserError):
    """A tracking target that cannot be used (unknown, or wandb not installed)."""


def check_report_to(targets: Iterable[str]) -> None:
    """Refuse unknown targets, and ``wandb`` when the package is not installed (before any work)."""
    targets = list(targets)
    unknown = [t for t in targets if t not in REPORT_TARGETS]
    if unknown:
        raise TrackingError(
            f"Unknown --report-to {', '.join(unknown)}; choose from {', '.join(REPORT_TARGETS)}."
        )
    if "wandb" in targets:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise TrackingError(WANDB_HINT) from None


# ------------------------------------------------------------------------------------- rows


def row(**fields: Any) -> dict[str, Any]:
    """A row with every :data:`ROW_COLUMNS` field (missing ones ``None``) plus any extra fields given."""
    return {**dict.fromkeys(ROW_COLUMNS), **fields}


def _sources_and_weights(results: Mapping[str, Any]) -> tuple[list[str], list[float]]:
    options = (results.get("experiment") or {}).get("options") or {}
    if options.get("sources"):  # a sweep key: (locale, path, fingerprint, weight)
        return [str(s[0]) for s in options["sources"]], [float(s[-1]) for s in options["sources"]]
    sources = (results.get("merge_details") or {}).get("sources") or []
    locales = [s["locale"] if isinstance(s, Mapping) else str(s) for s in sources]
    weights = [float(s.get("weight", float("nan"))) for s in sources if isinstance(s, Mapping)]
    return locales, weights


def row_from_results(
    results: Mapping[str, Any], status: str = "success", name: str | None = None
) -> dict[str, Any]:
    """The row of one experiment's ``results.json`` (a sweep's merge, ensemble or baseline)."""
    experiment = results.get("experiment") or {}
    details = results.get("merge_details") or {}
    options = experiment.get("options") or {}
    sources, weights = _sources_and_weights(results)
    perf = results.get("performance") or {}
    return row(
        mode=experiment.get("mode") or details.get("mode"),
        target=experiment.get("target") or details.get("target") or (results.get("dataset_info") or {}).get("locale"),
        sources=sources,
        weights=[round(w, 6) for w in weights],
        method=options.get("method") or details.get("method"),
        method_params=options.get("method_params") or details.get("method_params") or {},
        accuracy=perf.get("accuracy"),
        macro_f1=perf.get("macro_f1"),
        key=experiment.get("key") or details.get("key"),
        split=(results.get("dataset_info") or {}).get("split"),
        status=status,
        name=name or experiment.get("name"),
    )  # fmt: skip


def sweep_rows(outcomes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per sweep outcome: from its ``results.json`` when there is one, else the outcome (a failure)."""
    rows = []
    for outcome in outcomes:
        path = Path(outcome["results_dir"]) / "results.json" if outcome.get("results_dir") else None
        if outcome.get("status") != "failed" and path is not None and path.is_file():
            rows.append(
                row_from_results(
                    json.loads(path.read_text()), str(outcome.get("status")), outcome.get("name")
                )
            )
        else:
            rows.append(row(mode=outcome.get("mode"), target=outcome.get("target"), key=outcome.get("key"),
                            status=outcome.get("status"), name=outcome.get("name"), error=outcome.get("error")))  # fmt: skip
    return rows


def nxn_rows(accuracy: Any, macro_f1: Any | None = None) -> list[dict[str, Any]]:
    """One row per filled NxN cell (``model`` locale → ``target`` locale), from the matrices (DataFrames)."""
    rows = []
    for model_locale in accuracy.index:
        for target in accuracy.columns:
            value = accuracy.at[model_locale, target]
            if value != value:  # NaN: not computed
                continue
            f1 = macro_f1.at[model_locale, target] if macro_f1 is not None else None
            rows.append(row(mode="nxn", target=target, sources=[model_locale], weights=[1.0], accuracy=float(value),
                            macro_f1=None if f1 is None or f1 != f1 else float(f1), status="success",
                            name=f"{model_locale}->{target}"))  # fmt: skip
    return rows


def comparison_plots(rows: Sequence[Mapping[str, Any]], folder: str | os.PathLike) -> dict[str, Path]:
    """The sweep's comparison plots (PNG in ``folder``): mean accuracy per mode, and target x mode accuracy."""
    import pandas as pd

    from merginguriel.outputs.plotting import bar_chart, heatmap

    frame = pd.DataFrame([r for r in rows if _finite([r.get("accuracy")])])
    if frame.empty:
        return {}
    folder = Path(folder)
    by_mode = frame.groupby("mode")["accuracy"].mean().sort_values(ascending=False)
    plots = {"plots/mean_accuracy_by_mode": bar_chart(by_mode, folder / "mean_accuracy_by_mode.png",
                                                      "Mean accuracy per mode", "accuracy")}  # fmt: skip
    grid = frame.pivot_table(index="target", columns="mode", values="accuracy", aggfunc="mean")
    plots["plots/accuracy_target_x_mode"] = heatmap(
        grid, folder / "accuracy_target_x_mode.png", "Accuracy: rows = target, columns = mode"
    )
    return plots


# ------------------------------------------------------------------------------------- writers


def _cell(value: Any) -> Any:
    """A table cell for wandb / Markdown: lists and dicts as compact JSON, numbers and strings as they are."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ROW_COLUMNS) -> str:
    def fmt(v: Any) -> str:
        v = _cell(v)
        return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v).replace("|", "\\|"))

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _image_array(path: str | os.PathLike) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and v == v]


def _write_tensorboard(log_dir: Path, rows: Sequence[Mapping[str, Any]], images: Mapping[str, Path],
                       config: Mapping[str, Any]) -> None:  # fmt: skip
    from torch.utils.tensorboard import SummaryWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_text("config", json.dumps(dict(config), sort_keys=True, default=str), 0)
        writer.add_text("experiments", markdown_table(rows), 0)
        per_mode: dict[str, int] = {}
        for i, r in enumerate(rows):
            writer.add_text("experiment", json.dumps(dict(r), sort_keys=True, default=str), i)
            step = per_mode[str(r.get("mode"))] = per_mode.get(str(r.get("mode")), -1) + 1
            for metric in ("accuracy", "macro_f1"):
                if _finite([r.get(metric)]):
                    writer.add_scalar(metric, float(r[metric]), i)
                    writer.add_scalar(f"{metric}/{r.get('mode')}", float(r[metric]), step)
        for tag, path in images.items():
            writer.add_image(tag, _image_array(path), 0, dataformats="HWC")
    finally:
        writer.close()


def _write_wandb(log_dir: Path, name: str, project: str, rows: Sequence[Mapping[str, Any]],
                 images: Mapping[str, Path], config: Mapping[str, Any]) -> None:  # fmt: skip
    check_report_to(["wandb"])
    import wandb

    log_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=project, name=name, dir=str(log_dir), config=dict(config), job_type="merginguriel"
    )
    try:
        columns = list(dict.fromkeys(c for r in rows for c in r)) or list(ROW_COLUMNS)
        table = wandb.Table(columns=columns, data=[[_cell(r.get(c)) for c in columns] for r in rows])
        run.log({"experiments": table, **{tag: wandb.Image(str(path)) for tag, path in images.items()}})
        for metric in ("accuracy", "macro_f1"):
            values = _finite(r.get(metric) for r in rows)
            if values:
                run.summary[f"mean_{metric}"] = sum(values) / len(values)
        run.summary["experiments"] = len(rows)
    finally:
        run.finish()


def log_run(
    log_dir: str | os.PathLike,
    name: str,
    rows: Sequence[Mapping[str, Any]],
    images: Mapping[str, str | os.PathLike] | None = None,
    config: Mapping[str, Any] | None = None,
    report_to: Sequence[str] = ("tensorboard",),
    project: str = "merginguriel",
) -> Path:
    """Log one run (``rows`` + ``images``, tag → PNG path) to TensorBoard in ``log_dir`` and, if ``report_to``
    holds ``wandb``, to a W&B run ``name`` in ``project``; returns ``log_dir``. Images that do not exist are
    left out."""
    check_report_to(report_to)
    log_dir = Path(log_dir)
    pictures = {tag: Path(p) for tag, p in (images or {}).items() if Path(p).is_file()}
    settings = {"run": name, **(config or {})}
    _write_tensorboard(log_dir, rows, pictures, settings)
    if "wandb" in report_to:
        _write_wandb(log_dir, name, project, rows, pictures, settings)
    return log_dir


def log_nxn(
    output_dir: str | os.PathLike,
    accuracy: Any,
    macro_f1: Any | None = None,
    config: Mapping[str, Any] | None = None,
    report_to: Sequence[str] = ("tensorboard",),
    project: str = "merginguriel",
) -> Path:
    """An NxN matrix as one run: a row per cell and the heatmap (``evaluation_matrix.png``) as an image;
    TensorBoard in ``{output_dir}/tensorboard``."""
    out = Path(output_dir)
    images = {"nxn/accuracy_heatmap": out / "evaluation_matrix.png"}
    return log_run(out / TENSORBOARD_DIR, f"nxn_{out.name}", nxn_rows(accuracy, macro_f1), images, config,
                   report_to, project)  # fmt: skip


class EpochTracker:
    """Per-epoch scalars of a training loop that is not ``Trainer``'s (expert fusion): TensorBoard event files in
    ``log_dir`` (always) and, with ``wandb`` in ``report_to``, a W&B run ``name`` in ``project``; each
    :meth:`log` call is one epoch. Use it as a context manager (the writers are closed at the end)."""

    def __init__(
        self,
        log_dir: str | os.PathLike,
        name: str,
        config: Mapping[str, Any] | None = None,
        report_to: Sequence[str] = ("tensorboard",),
        project: str = "merginguriel",
    ) -> None:
        from torch.utils.tensorboard import SummaryWriter

        check_report_to(report_to)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("events.out.tfevents.*"):  # a rerun into the same folder starts afresh
            old.unlink()
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        settings = {"run": name, **(config or {})}
        self.writer.add_text("config", json.dumps(settings, sort_keys=True, default=str), 0)
        self.wandb_run = None
        if "wandb" in report_to:
            import wandb

            self.wandb_run = wandb.init(project=project, name=name, dir=str(self.log_dir), config=settings,
                                        job_type="merginguriel")  # fmt: skip

    def log(self, epoch: int, values: Mapping[str, Any], prefix: str = "") -> None:
        scalars = {f"{prefix}{k}": float(v) for k, v in values.items() if _finite([v])}
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, epoch)
        self.writer.flush()
        if self.wandb_run is not None:
            self.wandb_run.log({**scalars, "epoch": epoch})

    def close(self) -> None:
        self.writer.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()

    def __enter__(self) -> EpochTracker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_tensorboard_rows(log_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The ``experiment`` rows of a TensorBoard run in ``log_dir``, in step order (for tests and notebooks)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    acc.Reload()
    events = (
        acc.Tensors("experiment/text_summary") if "experiment/text_summary" in acc.Tags()["tensors"] else []
    )
    return [json.loads(e.tensor_proto.string_val[0].decode()) for e in sorted(events, key=lambda e: e.step)]


__all__ = [
    "REPORT_TARGETS",
    "ROW_COLUMNS",
    "TENSORBOARD_DIR",
    "TrackingError",
    "check_report_to",
    "comparison_plots",
    "log_nxn",
    "log_run",
    "markdown_table",
    "nxn_rows",
    "read_tensorboard_rows",
    "row",
    "row_from_results",
    "sweep_rows",
]
