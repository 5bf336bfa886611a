"""NxN evaluation: every per-locale model on every requested locale, as an accuracy matrix.

``evaluation_matrix.csv``: index = model locale (the locale the model was fine-tuned on), columns = evaluated
locale, values = accuracy. Each model is loaded at most **once** per run (and not at all when every cell it
needs is cached) and run over every locale it is missing; each (model, locale) logits array goes through
:mod:`merginguriel.logits_cache`, so later runs and ensembles reuse it without a forward pass.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from merginguriel import __version__
from merginguriel.logits_cache import DataSelection, LoadedSplit, LogitsCache, compute_logits, load_selection
from merginguriel.outputs import write_json_atomic, write_text_atomic

MATRIX_FILE = "evaluation_matrix.csv"
F1_FILE = "evaluation_matrix_macro_f1.csv"
CONFIG_FILE = "nxn_config.json"
HEATMAP_FILE = "evaluation_matrix.png"
logger = logging.getLogger("merginguriel.nxn")
RUN_PREFIX = "nxn_eval_"


class NxNError(ValueError):
    """An NxN run that cannot be done as asked (e.g. resuming a matrix computed on other data)."""


@dataclass
class NxNConfig:
    """The data and runtime settings of a matrix; the data part must match to resume a matrix."""

    dataset_name: str = "AmazonScience/massive"
    split: str = "test"
    text_column: str = "utt"
    max_samples: int | None = None
    max_seq_length: int = 128
    batch_size: int = 64
    device: str = "cpu"

    def selection(self, locale: str) -> DataSelection:
        return DataSelection(
            self.dataset_name, locale, self.split, self.text_column, self.max_samples, self.max_seq_length
        ).normalized()

    def data_identity(self) -> dict[str, Any]:
        sel = self.selection("en-US")
        return {k: v for k, v in asdict(sel).items() if k != "locale"}


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
    frame = pd.read_csv(path, index_col=0)
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    return frame.astype(float)


def _union_order(requested: Sequence[str], existing: Sequence[str]) -> list[str]:
    """The requested order when it names every existing label, else the existing order plus the new labels."""
    if set(existing) <= set(requested):
        return list(requested)
    return [*existing, *(x for x in requested if x not in existing)]


def _write_matrix(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, frame.to_csv())


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

    With ``resume`` the cells already in ``output_dir``'s matrix are kept (the data settings must match
    those recorded in its ``nxn_config.json``); only missing cells are computed. ``loader(path, device)``
    returns (model, tokenizer) (default ``evaluation.load_classifier``).
    """
    from merginguriel.evaluation import load_classifier

    loader = loader or load_classifier
    out = Path(output_dir)
    rows = list(models)
    cols = list(eval_locales)
    config_path = out / CONFIG_FILE
    recorded: dict[str, Any] = {}
    previous: dict[str, pd.DataFrame] = {}
    if resume and (out / MATRIX_FILE).is_file():
        if config_path.is_file():
            recorded = json.loads(config_path.read_text())
            data = recorded.get("data")
            if data is not None and data != config.data_identity():
                raise NxNError(
                    f"{out} was computed with data settings {data}, not {config.data_identity()}; "
                    "resume it with the same --dataset-name/--split/--text-column/--max-samples/--max-seq-length, "
                    "or start a new run."
                )
        previous = {
            name: read_matrix(out / name) for name in (MATRIX_FILE, F1_FILE) if (out / name).is_file()
        }
    # a resumed matrix keeps its rows/columns, asked for or not
    old = previous.get(MATRIX_FILE)
    all_rows = _union_order(rows, list(old.index)) if old is not None else rows
    all_cols = _union_order(cols, list(old.columns)) if old is not None else cols
    accuracy = pd.DataFrame(np.nan, index=all_rows, columns=all_cols, dtype=float)
    macro_f1 = accuracy.copy()
    run = NxNRun(out, accuracy, macro_f1)
    fingerprints = {loc: cache.fingerprint(path) for loc, path in models.items()} if cache else {}
    for name, frame in ((MATRIX_FILE, accuracy), (F1_FILE, macro_f1)):
        if name in previous:
            frame.loc[list(previous[name].index), list(previous[name].columns)] = previous[name]
    if previous:
        for loc in stale_rows(models, fingerprints, recorded):
            if loc in accuracy.index and accuracy.loc[loc].notna().any():
                logger.warning(
                    "%s: the model for %s is not the one the earlier run evaluated; its row is recomputed.",
                    out,
                    loc,
                )
                accuracy.loc[loc] = np.nan
                macro_f1.loc[loc] = np.nan
                run.rows_invalidated.append(loc)
        run.cells_reused = int(accuracy.loc[rows, cols].notna().to_numpy().sum())
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        config_path,
        {
            "data": config.data_identity(),
            "runtime": {"batch_size": config.batch_size, "device": config.device},
            "models": {
                **{k: v for k, v in (recorded.get("models") or {}).items() if k in all_rows},
                **{loc: str(path) for loc, path in models.items()},
            },
            "model_fingerprints": {
                **{
                    k: v
                    for k, v in (recorded.get("model_fingerprints") or {}).items()
                    if k in all_rows and k not in models
                },
                **fingerprints,
            },
            "eval_locales": all_cols,
            "logits_cache": str(cache.root) if cache else None,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "version": __version__,
        },
    )
    splits: dict[str, LoadedSplit] = {}

    def split_for(locale: str) -> LoadedSplit:
        if locale not in splits:
            splits[locale] = load_selection(config.selection(locale))
        return splits[locale]

    for model_locale in tqdm(rows, desc="NxN models", disable=not progress, unit="model"):
        missing = [c for c in cols if np.isnan(accuracy.at[model_locale, c])]
        if not missing:
            continue
        path = str(models[model_locale])
        holder: list[Any] = []

        def get_model(path: str = path, model_locale: str = model_locale, holder: list[Any] = holder) -> Any:
            if not holder:
                holder.append(loader(path, config.device))
                run.models_loaded.append(model_locale)
            return holder[0]

        for locale in missing:
            entry, computed = compute_logits(
                cache, path, split_for(locale), get_model, config.batch_size, config.device, progress
            )
            run.forward_passes += int(computed)
            run.cells_from_cache += int(not computed)
            metrics = entry.metrics()
            accuracy.at[model_locale, locale] = metrics["accuracy"]
            macro_f1.at[model_locale, locale] = metrics["macro_f1"]
        holder.clear()  # free the model before the next one is loaded
        if str(config.device).startswith("cuda"):
            import torch

            gc.collect()
            torch.cuda.empty_cache()
        _write_matrix(accuracy, out / MATRIX_FILE)
        _write_matrix(macro_f1, out / F1_FILE)
    _write_matrix(accuracy, out / MATRIX_FILE)
    _write_matrix(macro_f1, out / F1_FILE)
    if heatmap:
        from merginguriel.plotting import heatmap as draw

        sel = config.selection(cols[0]) if cols else None
        title = f"NxN accuracy ({sel.split if sel else ''}): rows = model locale, columns = test locale"
        draw(accuracy, out / HEATMAP_FILE, title)
    return run


__all__ = [
    "CONFIG_FILE",
    "MATRIX_FILE",
    "NxNConfig",
    "NxNError",
    "NxNRun",
    "latest_run_dir",
    "new_run_dir",
    "read_matrix",
    "run_nxn",
]
