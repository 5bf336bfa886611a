"""MASSIVE loading: the hub dataset (``AmazonScience/massive``) or a local folder, through ``datasets``.

Both sources yield the same columns — ``text``, ``label`` (canonical intent id, see ``labels``),
``intent`` (name) and ``locale`` — with labels always matched by *name*:

* hub: splits ``train``/``validation``/``test``, ``intent`` is a ClassLabel whose names are mapped;
* local folder (the layout of ``../shared/massive`` and of the built-in corpus):
  ``<root>/<locale>/{train,dev,test}.jsonl[.gz]`` with string intents.

``--dataset-name builtin`` names the small corpus shipped inside the package (see
``merginguriel/builtin_corpus/README.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from merginguriel.labels import LABEL2ID, LabelMismatchError
from merginguriel.locales import validate_locale

HUB_DATASET = "AmazonScience/massive"
BUILTIN_DATASET = "builtin"
BUILTIN_CORPUS_DIR = Path(__file__).resolve().parent / "builtin_corpus"
SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "dev": "validation",
    "eval": "validation",
    "test": "test",
}
_LOCAL_SPLIT_FILE = {"train": "train", "validation": "dev", "test": "test"}


class DatasetError(ValueError):
    """A dataset, split, locale or column that cannot be read."""


@dataclass(frozen=True)
class DatasetSource:
    name: str  # as the user gave it
    kind: str  # "hub" or "local"
    location: str  # hub id or absolute folder


def resolve_dataset(name: str | os.PathLike) -> DatasetSource:
    """Decide whether ``name`` is the built-in corpus, a local folder or a hub id."""
    text = str(name)
    if text == BUILTIN_DATASET:
        return DatasetSource(text, "local", str(BUILTIN_CORPUS_DIR))
    path = Path(text).expanduser()
    if path.is_dir():
        return DatasetSource(text, "local", str(path.resolve()))
    if text.startswith((".", "/", "~")) or os.sep in text.strip("/") and text.count("/") != 1:
        raise DatasetError(
            f"Dataset folder {text!r} does not exist. Give a folder laid out as <locale>/{{train,dev,test}}.jsonl[.gz], "
            f"'{BUILTIN_DATASET}' for the built-in corpus, or a hub id such as {HUB_DATASET}."
        )
    return DatasetSource(text, "hub", text)


def canonical_split(split: str) -> str:
    try:
        return _SPLIT_ALIASES[split]
    except KeyError:
        raise DatasetError(
            f"Unknown split {split!r}; use one of train, validation (alias dev), test."
        ) from None


def local_locales(folder: str | os.PathLike) -> list[str]:
    """Locales present in a local dataset folder."""
    return sorted(p.name for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))


def _local_split_file(source: DatasetSource, locale: str, split: str) -> Path:
    folder = Path(source.location) / locale
    if not folder.is_dir():
        raise DatasetError(
            f"Locale {locale} is not in dataset folder {source.location} (it has: "
            f"{', '.join(local_locales(source.location)) or 'nothing'})."
        )
    stem = _LOCAL_SPLIT_FILE[split]
    for candidate in (folder / f"{stem}.jsonl", folder / f"{stem}.jsonl.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"No {stem}.jsonl or {stem}.jsonl.gz in {folder} (split {split!r}).")


def _load_raw(source: DatasetSource, locale: str, split: str) -> tuple[datasets.Dataset, list[str] | None]:
    """The raw split and, for ClassLabel intents, the label names (None when intents are strings)."""
    if source.kind == "local":
        path = _local_split_file(source, locale, split)
        raw = datasets.load_dataset("json", data_files=str(path), split="train")
    else:
        raw = datasets.load_dataset(source.location, locale, split=split)
    feature = raw.features.get("intent")
    if feature is None:
        raise DatasetError(
            f"{source.name} {locale}/{split} has no 'intent' column (columns: {raw.column_names})."
        )
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return raw, names


def load_split(
    dataset_name: str | os.PathLike,
    locale: str,
    split: str,
    text_column: str = "utt",
    max_samples: int | None = None,
) -> datasets.Dataset:
    """One locale's split with columns ``text``, ``label`` (canonical id), ``intent``, ``locale``.

    ``max_samples`` keeps the first N rows (the files' own order), as ``run_glue.py`` does.
    """
    locale = validate_locale(locale)
    split = canonical_split(split)
    source = resolve_dataset(dataset_name)
    raw, classlabel_names = _load_raw(source, locale, split)
    if text_column not in raw.column_names:
        raise DatasetError(
            f"Text column {text_column!r} not in {source.name} {locale}/{split}; columns are {raw.column_names}. "
            "Pass --text-column with one of them."
        )
    if max_samples is not None and max_samples < len(raw):
        raw = raw.select(range(max_samples))
    intents = raw["intent"]
    if classlabel_names is not None:
        intents = [classlabel_names[i] for i in intents]
    unknown = sorted({name for name in intents if name not in LABEL2ID})
    if unknown:
        raise LabelMismatchError(
            f"{source.name} {locale}/{split} has intents that are not MASSIVE's: {unknown[:5]}"
        )
    return datasets.Dataset.from_dict(
        {
            "text": [str(t) for t in raw[text_column]],
            "label": [LABEL2ID[name] for name in intents],
            "intent": list(intents),
            "locale": [locale] * len(intents),
        }
    )


def load_locales(
    dataset_name: str | os.PathLike,
    locales: Sequence[str],
    split: str,
    text_column: str = "utt",
    max_samples_per_locale: int | None = None,
) -> datasets.Dataset:
    """Several locales' splits concatenated (in the order given)."""
    parts = [load_split(dataset_name, loc, split, text_column, max_samples_per_locale) for loc in locales]
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
