"""NxN evaluation: every per-locale model on every requested locale, as an accuracy matrix.

``evaluation_matrix.csv``: index = model locale (the locale the model was fine-tuned on), columns = evaluated
locale, values = accuracy. Each model is loaded at most **once** per run (and not at all when every cell it
needs is cached) and run over every locale it is missing; each (model, locale) logits array goes through
:mod:`merginguriel.models.logits_cache`, so later runs and ensembles reuse it without a forward pass.

The matrix is rewritten (atomically) after every model row, so an interrupted run leaves a valid partial
matrix; resuming from it fills only the missing cells. A resumed run keeps the rows and columns it was not asked
for, and recomputes the row of a model that changed since (another path, or with a logits cache another content
fingerprint, than ``nxn_config.json`` records).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merginguriel import __version__
from merginguriel.data.locales import validate_locale
from merginguriel.data.massive import DataSelection, LoadedSplit, canonical_split, load_selection
from merginguriel.data.tables import read_csv_table
from merginguriel.errors import UserError
from merginguriel.models.logits_cache import LogitsCache, compute_logits
from merginguriel.outputs.atomic import write_json_atomic, write_text_atomic
from merginguriel.runtime import Runtime, steps

MATRIX_FILE = "evaluation_matrix.csv"
F1_FILE = "evaluation_matrix_macro_f1.csv"
CONFIG_FILE = "nxn_config.json"
HEATMAP_FILE = "evaluation_matrix.png"
logger = logging.getLogger("merginguriel.nxn")
RUN_PREFIX = "nxn_eval_"


class NxNError(UserError):
    """An NxN run that cannot be done as asked (e.g. resuming a matrix computed on other data)."""


@dataclass(frozen=True)
class NxNConfig:
    """The data (a :class:`DataSelection` template; each cell fills in the evaluated locale) and runtime of a
    matrix; the data part must match to resume a matrix."""

    data: DataSelection = field(default_factory=DataSelection)
    runtime: Runtime = field(default_factory=Runtime)

    def selection(self, locale: str) -> DataSelection:
        return self.data.for_locale(locale).normalized()

    def data_identity(self) -> dict[str, Any]:
        return self.data.identity()


@dataclass
class NxNRun:
    """What a run produced and did: the matrices, how many models were loaded and forward passes run."""

    output_dir: Path
    accuracy: pd.DataFrame
    macro_f1: pd.DataFrame
    models_loaded: list[str] = field(default_factory=list)
    forward_passes: int = 0
    cells_from_cache: int = 0
    cells_reused: int = 0
    rows_invalidated: list[str] = field(default_factory=list)


def stale_rows(
    models: Mapping[str, str | os.PathLike], fingerprints: Mapping[str, str], recorded: Mapping[str, Any]
) -> list[str]:
    """Model locales whose model is not the one an earlier run recorded (so its matrix row is stale).

    Content fingerprints decide when both runs have one (a moved but identical model is not stale); otherwise
    a different resolved path is stale. A row the earlier run did not record is kept (nothing to compare).
    """
    old_paths = recorded.get("models") or {}
    old_fps = recorded.get("model_fingerprints") or {}
    stale = []
    for loc, path in models.items():
        if loc in old_fps and loc in fingerprints:
            if old_fps[loc] != fingerprints[loc]:
                stale.append(loc)
        elif loc in old_paths and os.path.realpath(str(old_paths[loc])) != os.path.realpath(str(path)):
            stale.append(loc)
    return stale


def new_run_dir(root: str | os.PathLike) -> Path:
    """``{root}/nxn_eval_{YYYYmmdd_HHMMSS}`` (with a numeric suffix if that second is taken)."""
    stamp = time.strftime("%Y%m%d_%H%M%S")
    path = Path(root) / f"{RUN_PREFIX}{stamp}"
    n = 1
    while path.exists():
        path = Path(root) / f"{RUN_PREFIX}{stamp}_{n}"
        n += 1
    return path


def latest_run_dir(root: str | os.PathLike, data: Mapping[str, Any] | None = None) -> Path | None:
    """The most recent ``nxn_eval_*`` folder holding a matrix (by name, which sorts by time).

    With ``data`` (an :meth:`NxNConfig.data_identity`), the most recent one computed on that data (a folder
    without ``nxn_config.json`` counts as unknown and is skipped).
    """
    runs = sorted(p for p in Path(root).glob(f"{RUN_PREFIX}*") if (p / MATRIX_FILE).is_file())
    if data is not None:
        runs = [p for p in runs if _recorded_data(p) == dict(data)]
    return runs[-1] if runs else None


def _recorded_data(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / CONFIG_FILE).read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None


def read_matrix(path: str | os.PathLike) -> pd.DataFrame:
    frame = read_csv_table(
        path, "an NxN accuracy matrix (rows: model locales, columns: evaluated locales)", index_col=0
    )
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    try:
        for label in [*frame.index, *frame.columns]:
            validate_locale(label)
        return frame.astype(float)
    except ValueError as exc:
        raise NxNError(f"{path} is not an NxN accuracy matrix: {exc}") from None


def _union_order(requested: Sequence[str], existing: Sequence[str]) -> list[str]:
    """The requested order when it names every existing label, else the existing order plus the new labels."""
    if set(existing) <= set(requested):
        return list(requested)
    return [*existing, *(x for x in requested if x not in existing)]


def _write_matrix(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, frame.to_csv())


def _previous_run(out: Path, config: NxNConfig) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """What an earlier run in ``out`` recorded (its config) and its matrices; refuses other data settings."""
    recorded: dict[str, Any] = {}
    config_path = out / CONFIG_FILE
    if config_path.is_file():
        try:
            recorded = json.loads(config_path.read_text())
        except (OSError, ValueError):
            recorded = None
        if not isinstance(recorded, dict):
            raise NxNError(
                f"{config_path} is not an NxN run's configuration (unreadable or of another shape); start a new "
                "run (without --resume), or delete the file to resume the matrix without checking its data."
            )
        data = recorded.get("data")
        if data is not None and data != config.data_identity():
            raise NxNError(
                f"{out} was computed with data settings {data}, not {config.data_identity()}; "
                "resume it with the same --dataset-name/--split/--text-column/--max-samples/--max-seq-length, "
                "or start a new run."
            )
    previous = {name: read_matrix(out / name) for name in (MATRIX_FILE, F1_FILE) if (out / name).is_file()}
    return recorded, previous


def _invalidate_stale(
    run: NxNRun, models: Mapping[str, str | os.PathLike], fingerprints: Mapping[str, str], recorded: Mapping
) -> None:
    for loc in stale_rows(models, fingerprints, recorded):
        if loc in run.accuracy.index and run.accuracy.loc[loc].notna().any():
            logger.warning(
                "%s: the model for %s is not the one the earlier run evaluated; its row is recomputed.",
                run.output_dir,
                loc,
            )
            run.accuracy.loc[loc] = np.nan
            run.macro_f1.loc[loc] = np.nan
            run.rows_invalidated.append(loc)


def _config_record(
    config: NxNConfig,
    models: Mapping[str, str | os.PathLike],
    fingerprints: Mapping[str, str],
    recorded: Mapping[str, Any],
    rows: Sequence[str],
    cols: Sequence[str],
    cache: LogitsCache | None,
) -> dict[str, Any]:
    """``nxn_config.json``: data, runtime, every row's model path and fingerprint (kept ones included)."""
    old_fps = recorded.get("model_fingerprints") or {}
    return {
        "data": config.data_identity(),
        "runtime": {"batch_size": config.runtime.batch_size, "device": config.runtime.device},
        "models": {
            **{k: v for k, v in (recorded.get("models") or {}).items() if k in rows},
            **{loc: str(path) for loc, path in models.items()},
        },
        "model_fingerprints": {
            **{k: v for k, v in old_fps.items() if k in rows and k not in models},
            **fingerprints,
        },
        "eval_locales": list(cols),
        "logits_cache": str(cache.root) if cache else None,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": __version__,
    }


def _fill_row(
    run: NxNRun,
    model_locale: str,
    path: str,
    missing: Sequence[str],
    split_for: Callable[[str], LoadedSplit],
    config: NxNConfig,
    cache: LogitsCache | None,
    loader: Callable[[str, str], Any],
    progress: bool,
) -> None:
    """The missing cells of one model's row; the model is loaded at most once, and not at all from cache."""
    holder: list[Any] = []

    def get_model() -> Any:
        if not holder:
            holder.append(loader(path, config.runtime.device))
            run.models_loaded.append(model_locale)
        return holder[0]

    rt = config.runtime
    for locale in missing:
        entry, computed = compute_logits(
            cache, path, split_for(locale), get_model, rt.batch_size, rt.device, progress
        )
        run.forward_passes += int(computed)
        run.cells_from_cache += int(not computed)
        metrics = entry.metrics()
        run.accuracy.at[model_locale, locale] = metrics["accuracy"]
        run.macro_f1.at[model_locale, locale] = metrics["macro_f1"]
    holder.clear()  # free the model before the next one is loaded
    if str(rt.device).startswith("cuda"):
        import torch

        gc.collect()
        torch.cuda.empty_cache()


def run_nxn(
    models: Mapping[str, str | os.PathLike],
    eval_locales: Sequence[str],
    config: NxNConfig,
    output_dir: str | os.PathLike,
    cache: LogitsCache | None = None,
    resume: bool = False,
    loader: Callable[[str, str], Any] | None = None,
    progress: bool = True,
    heatmap: bool = True,
) -> NxNRun:
    """Fill ``output_dir/evaluation_matrix.csv`` for ``models`` (locale -> folder) x ``eval_locales``.

    Cost: each model is loaded at most once (N loads) and run on each locale it is missing (N x M forward
    passes at most, 0 when the cache holds them). With ``resume`` the cells already in ``output_dir``'s matrix
    are kept (the data settings must match those recorded in its ``nxn_config.json``); only missing cells are
    computed. ``loader(path, device)`` returns (model, tokenizer) (default ``inference.load_classifier``).
    """
    from merginguriel.models.inference import load_classifier

    loader = loader or load_classifier
    out = Path(output_dir)
    rows, cols = list(models), list(eval_locales)
    recorded, previous = _previous_run(out, config) if resume and (out / MATRIX_FILE).is_file() else ({}, {})
    old = previous.get(MATRIX_FILE)  # a resumed matrix keeps its rows/columns, asked for or not
    all_rows = _union_order(rows, list(old.index)) if old is not None else rows
    all_cols = _union_order(cols, list(old.columns)) if old is not None else cols
    accuracy = pd.DataFrame(np.nan, index=all_rows, columns=all_cols, dtype=float)
    run = NxNRun(out, accuracy, accuracy.copy())
    fingerprints = {loc: cache.fingerprint(path) for loc, path in models.items()} if cache else {}
    for name, frame in ((MATRIX_FILE, run.accuracy), (F1_FILE, run.macro_f1)):
        if name in previous:
            frame.loc[list(previous[name].index), list(previous[name].columns)] = previous[name]
    if previous:
        _invalidate_stale(run, models, fingerprints, recorded)
        run.cells_reused = int(run.accuracy.loc[rows, cols].notna().to_numpy().sum())
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        out / CONFIG_FILE, _config_record(config, models, fingerprints, recorded, all_rows, all_cols, cache)
    )
    splits: dict[str, LoadedSplit] = {}

    def split_for(locale: str) -> LoadedSplit:
        if locale not in splits:
            splits[locale] = load_selection(config.selection(locale))
        return splits[locale]

    for model_locale in steps(rows, "NxN models", progress, unit="model"):
        missing = [c for c in cols if np.isnan(run.accuracy.at[model_locale, c])]
        if missing:
            path = str(models[model_locale])
            _fill_row(run, model_locale, path, missing, split_for, config, cache, loader, progress)
            _write_matrix(run.accuracy, out / MATRIX_FILE)
            _write_matrix(run.macro_f1, out / F1_FILE)
    _write_matrix(run.accuracy, out / MATRIX_FILE)
    _write_matrix(run.macro_f1, out / F1_FILE)
    if heatmap:
        from merginguriel.outputs.plotting import heatmap as draw

        split = config.selection(cols[0]).split if cols else ""
        draw(
            run.accuracy,
            out / HEATMAP_FILE,
            f"NxN accuracy ({split}): rows = model locale, columns = test locale",
        )
    return run


# ------------------------------------------------------------------------------------- finding matrices


def _dataset_id(name: Any) -> str:
    """A dataset name comparable across runs: a local folder by its resolved path, anything else as given."""
    text = str(name)
    path = Path(text)
    return str(path.resolve()) if text not in ("builtin",) and path.exists() else text


def _split_id(split: Any) -> str:
    try:
        return canonical_split(str(split))
    except ValueError:
        return str(split)


def _max_samples_id(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


def data_identity(dataset: Any, split: Any, max_samples: Any = None) -> dict[str, Any]:
    """The part of a data selection that must agree between results and the NxN matrix baselines (a local
    dataset by its resolved path, the split by its canonical name)."""
    return {
        "dataset_name": _dataset_id(dataset),
        "split": _split_id(split),
        "max_samples": _max_samples_id(max_samples),
    }


def matrix_data(matrix_path: str | os.PathLike) -> dict[str, Any] | None:
    """The data selection an NxN matrix was computed on (from its ``nxn_config.json``), if recorded, in the
    form of :func:`data_identity`."""
    data = _recorded_data(Path(matrix_path).parent)
    if not isinstance(data, Mapping) or "split" not in data:
        return None
    return data_identity(data.get("dataset_name"), data.get("split"), data.get("max_samples"))


def find_latest_matrix(
    nxn_root: str | os.PathLike = "nxn_results", data: Mapping[str, Any] | None = None
) -> Path | None:
    """The newest ``nxn_eval_*/evaluation_matrix.csv`` under ``nxn_root``.

    With ``data`` (see :func:`data_identity`), the newest matrix computed on that data
    selection: a matrix on another split (e.g. a validation matrix used to choose sources) or dataset is never
    taken for test baselines. A matrix that records no data selection is used only when none records this one
    (warning).
    """
    root = Path(nxn_root)
    if not root.is_dir():
        return None
    runs = sorted((p for p in root.glob(f"{RUN_PREFIX}*") if (p / MATRIX_FILE).is_file()), reverse=True)
    if data is None:
        return runs[0] / MATRIX_FILE if runs else None
    unknown = []
    for run in runs:
        recorded = matrix_data(run / MATRIX_FILE)
        if recorded is None:
            unknown.append(run)
        elif recorded == dict(data):
            return run / MATRIX_FILE
    if unknown:
        logger.warning(
            "No NxN matrix under %s records the results' data %s; using %s, which records none.",
            root,
            dict(data),
            unknown[0],
        )
        return unknown[0] / MATRIX_FILE
    if runs:
        logger.warning(
            "The NxN matrices under %s were computed on other data than the results (%s): no baselines. "
            "Run run_nxn_evaluation.py on that data, or pass --evaluation-matrix to force one.",
            root,
            dict(data),
        )
    return None


__all__ = [
    "CONFIG_FILE",
    "MATRIX_FILE",
    "NxNConfig",
    "NxNError",
    "NxNRun",
    "data_identity",
    "find_latest_matrix",
    "latest_run_dir",
    "matrix_data",
    "new_run_dir",
    "read_matrix",
    "run_nxn",
]
