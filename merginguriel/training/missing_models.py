"""Filling the models folder: find the locales that have no model yet and train them
(:class:`MissingModelTraining`, :func:`train_missing`), or copy finished runs from another folder into the
``{models_root}/{base}_massive_k_{locale}`` layout.

A run folder is *complete* when it holds a model (``config.json`` + weights), a tokenizer, and either the
``COMPLETE`` marker of an atomic write or the ``all_results.json`` a finished ``Trainer`` run leaves; runs
that are not are refused with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from merginguriel.data.locales import ALL_LOCALES, parse_locales
from merginguriel.data.massive import DataSelection
from merginguriel.errors import UserError
from merginguriel.models.checks import TOKENIZER_FILES
from merginguriel.models.paths import (
    MODEL_INFIX,
    TRAINER_STATE,
    discover_models,
    is_model_dir,
    model_dir_name,
)
from merginguriel.outputs.atomic import COMPLETE_MARKER, atomic_output_dir
from merginguriel.runtime import steps
from merginguriel.training.arguments import TrainingOptions

logger = logging.getLogger("merginguriel.missing_models")

# Trainer state that is not part of a model folder
_LOCALE_IN_NAME = re.compile(r"(?<![A-Za-z])([a-z]{2})[-_]([A-Z]{2})(?![A-Za-z])")


def mapping_locales(mapping_csv: str | os.PathLike) -> list[str]:
    """Locales listed in a model-mapping CSV (its ``locale`` column), validated, in file order."""
    frame = pd.read_csv(mapping_csv)
    if "locale" not in frame.columns:
        raise UserError(f"{mapping_csv} has no 'locale' column (columns: {list(frame.columns)}).")
    return parse_locales([str(v) for v in frame["locale"].dropna()])


def missing_locales(
    models_root: str | os.PathLike, base_model: str, wanted: Sequence[str] | None = None
) -> list[str]:
    """The locales of ``wanted`` (default: all MASSIVE locales) with no model under ``models_root``."""
    have = discover_models(models_root, base_model)
    return [loc for loc in (wanted if wanted is not None else ALL_LOCALES) if loc not in have]


@dataclass
class MissingModelTraining:
    """How each missing locale's model is trained (``fill-missing``): ``training`` (epochs, learning rate,
    training batch size, ``overrides``) on ``data`` (dataset, text column), evaluated with ``eval_batch_size``."""

    base_model: str
    models_root: str
    data: DataSelection
    training: TrainingOptions = field(default_factory=TrainingOptions)
    eval_batch_size: int = 64
    fp16: bool = False

    def fields(self, locale: str) -> dict[str, Any]:
        """The trainer fields by name that train ``locale``'s model into its expected folder."""
        from merginguriel.training.arguments import training_fields

        t = self.training
        return training_fields(
            self.base_model, locale, self.data.dataset_name,
            Path(self.models_root) / model_dir_name(self.base_model, locale),
            overrides=t.overrides, do_train=True, do_eval=True, num_train_epochs=t.epochs,
            learning_rate=t.learning_rate, per_device_train_batch_size=t.batch_size,
            per_device_eval_batch_size=self.eval_batch_size, **({"fp16": True} if self.fp16 else {}),
            text_column=self.data.text_column,
        )  # fmt: skip


def train_missing(training: MissingModelTraining, locales: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Train each locale's model in turn; returns (trained locales, locale -> error). A failure is recorded and
    the next locale runs."""
    from merginguriel.training.callbacks import metrics_line
    from merginguriel.training.trainer import TrainArguments, train_classifier

    done, failed = [], {}
    for loc in steps(locales, "missing models", sys.stderr.isatty(), unit="model"):
        try:
            metrics = train_classifier(TrainArguments.from_fields(training.fields(loc)))
            logger.info("%s: %s", loc, metrics_line(metrics))
            done.append(loc)
        except Exception as exc:  # record and go on with the next locale
            failed[loc] = f"{type(exc).__name__}: {exc}"
    return done, failed


@dataclass
class RunCheck:
    path: Path
    locale: str | None
    base: str | None
    complete: bool
    reason: str


def _training_config(path: Path) -> dict:
    config = path / "training_config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def run_locale(path: Path) -> str | None:
    """The locale a run was trained on: its ``training_config.json`` (one locale), else a locale code in its name."""
    config = _training_config(path)
    spec = config.get("data_arguments", {}).get("dataset_config_name")
    if spec:
        locales = parse_locales(spec)
        return locales[0] if len(locales) == 1 else None
    if MODEL_INFIX in path.name:
        tail = path.name.rsplit(MODEL_INFIX, 1)[1]
        if tail in ALL_LOCALES:
            return tail
    for match in _LOCALE_IN_NAME.finditer(path.name):
        code = f"{match.group(1)}-{match.group(2)}"
        if code in ALL_LOCALES:
            return code
    return None


def check_run(path: Path, base_model: str | None = None) -> RunCheck:
    """Whether ``path`` is a finished run that can be copied, and why not."""
    config = _training_config(path)
    base = base_model or config.get("model_arguments", {}).get("model_name_or_path")
    locale = run_locale(path)
    if ".partial-" in path.name:
        reason = "an unfinished atomic write (.partial- folder)"
    elif not (path / "config.json").is_file():
        reason = "no config.json"
    elif not is_model_dir(path):
        reason = "no model weights (model.safetensors / pytorch_model.bin)"
    elif not any((path / name).is_file() for name in TOKENIZER_FILES):
        reason = "no tokenizer files"
    elif not ((path / COMPLETE_MARKER).is_file() or (path / "all_results.json").is_file()):
        reason = f"not marked finished (neither {COMPLETE_MARKER} nor all_results.json)"
    elif locale is None:
        reason = "cannot tell its locale (no single-locale training_config.json, no locale code in the name)"
    elif base is None:
        reason = "cannot tell its base model (no training_config.json); pass --base-model"
    else:
        reason = _unreadable(path)
        if reason is None:
            return RunCheck(path, locale, base, True, "complete")
    return RunCheck(path, locale, base, False, reason)


def _unreadable(path: Path) -> str | None:
    """Why the weights or config of a run folder cannot be read (headers, then every tensor finite), or None."""
    from auto_merge_llm.errors import MergeError

    from merginguriel.models.checks import check_finite_weights, check_model_folder

    try:
        check_model_folder(path)
        check_finite_weights(path)
    except (UserError, MergeError) as exc:
        return str(exc)
    return None


def copy_run(check: RunCheck, models_root: str | os.PathLike, overwrite: bool = False) -> Path:
    """Copy a complete run into ``{models_root}/{base}_massive_k_{locale}`` atomically (no Trainer state)."""
    if not check.complete:
        raise UserError(f"Refusing to copy {check.path}: {check.reason}.")
    target = Path(models_root) / model_dir_name(check.base, check.locale)
    with atomic_output_dir(target, overwrite=overwrite) as tmp:
        for item in sorted(check.path.iterdir()):
            if item.name in TRAINER_STATE or item.name == COMPLETE_MARKER:
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copy2(item, tmp / item.name)
    return target
