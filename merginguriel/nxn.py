"""NxN evaluation: every per-locale model on every requested locale, as an accuracy matrix.

``evaluation_matrix.csv``: index = model locale (the locale the model was fine-tuned on), columns = evaluated
locale, values = accuracy. Each model is loaded at most **once** per run (and not at all when every cell it
needs is cached) and run over every locale it is missing; each (model, locale) logits array goes through
:mod:`merginguriel.logits_cache`, so later runs and ensembles reuse it without a forward pass.

The matrix is rewritten (atomically) after every model row, so an interrupted run leaves a valid partial
matrix; resuming from it fills only the missing cells.
"""

from __future__ import annotations

import gc
import json
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


def new_run_dir(root: str | os.PathLike) -> Path:
    """``{root}/nxn_eval_{YYYYmmdd_HHMMSS}`` (with a numeric suffix if that second is taken)."""
    stamp = time.strftime("%Y%m%d_%H%M%S")
    path = Path(root) / f"{RUN_PREFIX}{stamp}"
    n = 1
    while path.exists():
        path = Path(root) / f"{RUN_PREFIX}{stamp}_{n}"
        n += 1
    return path


def latest_run_dir(root: str | os.PathLike) -> Path | None:
    """The most recent ``nxn_eval_*`` folder holding a matrix (by name, which sorts by time)."""
    runs = sorted(p for p in Path(root).glob(f"{RUN_PREFIX}*") if (p / MATRIX_FILE).is_file())
    return runs[-1] if runs else None


def read_matrix(path: str | os.PathLike) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col=0)
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    return frame.astype(float)


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
    accuracy = pd.DataFrame(np.nan, index=rows, columns=cols, dtype=float)
    macro_f1 = accuracy.copy()
    run = NxNRun(out, accuracy, macro_f1)
    config_path = out / CONFIG_FILE
    if resume and (out / MATRIX_FILE).is_file():
        if config_path.is_file():
            recorded = json.loads(config_path.read_text()).get("data")
            if recorded is not None and recorded != config.data_identity():
                raise NxNError(
                    f"{out} was computed with data settings {recorded}, not {config.data_identity()}; "
                    "resume it with the same --dataset-name/--split/--text-column/--max-samples/--max-seq-length, "
                    "or start a new run."
                )
        for name, frame in ((MATRIX_FILE, accuracy), (F1_FILE, macro_f1)):
            if (out / name).is_file():
                old = read_matrix(out / name)
                common_rows = [r for r in rows if r in old.index]
                common_cols = [c for c in cols if c in old.columns]
                frame.loc[common_rows, common_cols] = old.loc[common_rows, common_cols]
        run.cells_reused = int(accuracy.notna().to_numpy().sum())
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        config_path,
        {
            "data": config.data_identity(),
            "runtime": {"batch_size": config.batch_size, "device": config.device},
            "models": {loc: str(path) for loc, path in models.items()},
            "eval_locales": cols,
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
