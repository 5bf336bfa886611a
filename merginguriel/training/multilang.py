"""Multi-language training: leave-one-language-out (LOLO) models and the all-languages "super model".

A LOLO model for ``af-ZA`` is trained on every other locale of the pool and saved as
``{models_root}/{base}_massive_LOLO_without_af_ZA``; the super model on all of them as
``{models_root}/{base}_massive_LOLO_all_languages``. Training goes through
:func:`merginguriel.training.trainer.training_arguments`, so every trainer option (``use_lora``, ``class_weights``,
``mixture_rates`` …) can be passed through as ``trainer_overrides``.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from merginguriel.data.locales import ALL_LOCALES, parse_locales, validate_locale
from merginguriel.data.massive import DataSelection, local_locales, resolve_dataset
from merginguriel.errors import UserError
from merginguriel.models.paths import base_model_short_name
from merginguriel.training.arguments import TrainingOptions
from merginguriel.training.callbacks import metrics_line
from merginguriel.training.trainer import TrainArguments, train_classifier

logger = logging.getLogger("merginguriel.multilang_training")

LOLO_INFIX = "_massive_LOLO_"
ALL_LANGUAGES_SUFFIX = "all_languages"


def lolo_dir_name(base_model: str | os.PathLike, excluded: str | None) -> str:
    """``{base}_massive_LOLO_without_{ll_CC}`` (``excluded`` given) or ``{base}_massive_LOLO_all_languages``."""
    short = base_model_short_name(base_model)
    if excluded is None:
        return f"{short}{LOLO_INFIX}{ALL_LANGUAGES_SUFFIX}"
    return f"{short}{LOLO_INFIX}without_{validate_locale(excluded).replace('-', '_')}"


def locale_pool(dataset_name: str | os.PathLike, locales: str | Sequence[str] | None = None) -> list[str]:
    """The locales to train on: ``locales`` if given, else every locale of a local dataset folder (built-in
    corpus included), else all MASSIVE locales (hub)."""
    if locales:
        return parse_locales(locales)
    source = resolve_dataset(dataset_name)
    if source.kind == "local":
        return [loc for loc in local_locales(source.location) if loc in ALL_LOCALES]
    return list(ALL_LOCALES)


def training_locales(pool: Sequence[str], excluded: str | None) -> list[str]:
    """``pool`` without ``excluded`` (which must be in the pool)."""
    if excluded is None:
        return list(pool)
    excluded = validate_locale(excluded)
    if excluded not in pool:
        raise UserError(f"--exclude {excluded} is not among the training locales ({', '.join(pool)}).")
    rest = [loc for loc in pool if loc != excluded]
    if not rest:
        raise UserError(f"Leaving {excluded} out leaves no locale to train on.")
    return rest


@dataclass
class MultilangJob:
    """One multi-language model: ``pool`` minus ``excluded`` (all of it for ``excluded=None``), trained from
    ``base_model`` with the shared :class:`TrainingOptions` on ``data`` (dataset, text column, max length)."""

    base_model: str
    models_root: str
    pool: list[str]
    excluded: str | None
    data: DataSelection
    training: TrainingOptions = field(default_factory=TrainingOptions)
    overwrite: bool = False
    progress: bool = True

    @property
    def output_dir(self) -> Path:
        return Path(self.models_root) / lolo_dir_name(self.base_model, self.excluded)

    @property
    def locales(self) -> list[str]:
        return training_locales(self.pool, self.excluded)

    def train_arguments(self) -> TrainArguments:
        """The trainer arguments of this job; ``training.overrides`` win."""
        return self.training.arguments(
            self.base_model, self.locales, self.data, self.output_dir, do_train=True, overwrite=self.overwrite,
            **({} if self.progress else {"disable_tqdm": True}),
        )  # fmt: skip


def run_job(job: MultilangJob) -> dict:
    """Train one multi-language model; returns ``{"excluded", "output_dir", "locales", "status", ...}``."""
    started = time.time()
    logger.info("training %s on %d locales", job.output_dir.name, len(job.locales))
    metrics = train_classifier(job.train_arguments())
    logger.info("metrics: %s", metrics_line(metrics))
    return {
        "excluded": job.excluded,
        "output_dir": str(job.output_dir),
        "locales": job.locales,
        "status": "ok",
        "seconds": round(time.time() - started, 1),
    }


def run_all_lolo(jobs: Sequence[MultilangJob], progress: bool = True) -> dict:
    """Train every job in turn; a failure is recorded (with its error) and the next job runs."""
    results = []
    bar = tqdm(jobs, desc="LOLO models", unit="model", disable=not progress)
    for job in bar:
        bar.set_postfix_str(f"without {job.excluded}")
        try:
            results.append(run_job(job))
        except Exception as exc:  # one failed locale must not stop the others
            logger.error("LOLO without %s failed: %s", job.excluded, exc)
            results.append(
                {
                    "excluded": job.excluded,
                    "output_dir": str(job.output_dir),
                    "locales": job.locales,
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=5),
                }
            )
    ok = [r["excluded"] for r in results if r["status"] == "ok"]
    failed = [r["excluded"] for r in results if r["status"] != "ok"]
    return {"succeeded": ok, "failed": failed, "runs": results, "jobs": [asdict(j) for j in jobs]}
