"""MASSIVE loading: the hub dataset (``AmazonScience/massive``) or a local folder, through ``datasets``.

Both sources yield the same columns — ``text``, ``label`` (canonical intent id, see ``labels``),
``intent`` (name) and ``locale`` — with labels always matched by *name*:

* hub: splits ``train``/``validation``/``test``, ``intent`` is a ClassLabel whose names are mapped;
* local folder (the layout of ``../shared/massive`` and of the built-in corpus):
  ``<root>/<locale>/{train,dev,test}.jsonl[.gz]`` with string intents.

``--dataset-name builtin`` names the small corpus shipped inside the package (see
``merginguriel/data/builtin_corpus/README.md``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from merginguriel.data.access import check_access
from merginguriel.data.labels import LABEL2ID, LabelMismatchError
from merginguriel.data.locales import validate_locale
from merginguriel.errors import UserError

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


class DatasetError(UserError):
    """A dataset, split, locale or column that cannot be read."""


class NotEnoughRowsError(DatasetError):
    """A random sample asks for more rows than the split has."""


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


def read_jsonl(path: Path) -> tuple[datasets.Dataset, list[int]]:
    """The rows of a local ``.jsonl`` / ``.jsonl.gz`` split and each row's line number, checked line by line: a
    file that is not gzip (or is cut short), bytes that are not UTF-8, a line that is not a JSON object or has
    no intent, or a file without rows is one :class:`DatasetError` naming the file and the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        with opener(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                row = _parse_line(path, n, raw)
                if row is not None:
                    rows.append(row)
                    lines.append(n)
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, or a gzip stream cut short
        raise DatasetError(
            f"{path} cannot be read ({exc}); restore the file (a bad or truncated gzip?)."
        ) from None
    if not rows:
        raise DatasetError(f"{path} holds no rows: an empty split cannot be evaluated or trained on.")
    columns = dict.fromkeys(key for row in rows for key in row)
    return datasets.Dataset.from_dict({c: [row.get(c) for row in rows] for c in columns}), lines


def _parse_line(path: Path, n: int, raw: bytes) -> dict[str, Any] | None:
    """One line of a split file as a row (None for a blank line)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}:{n}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    if not text.strip():
        return None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}:{n}: not valid JSON ({exc.msg}); each line must be one JSON object."
        ) from None
    if not isinstance(row, dict):
        raise DatasetError(
            f'{path}:{n}: a JSON {type(row).__name__}, not a row object {{"utt": …, "intent": …}}.'
        )
    if not isinstance(row.get("intent"), str) or not row["intent"]:
        raise DatasetError(f"{path}:{n}: the row has no intent (a non-empty string in 'intent').")
    return row


def _load_raw(
    source: DatasetSource, locale: str, split: str
) -> tuple[datasets.Dataset, list[str] | None, Any]:
    """The raw split, the label names for ClassLabel intents (None when intents are strings), and where row
    ``i`` is, for messages (``path:line`` of a local file, else the split and the row index)."""
    if source.kind == "local":
        path = _local_split_file(source, locale, split)
        raw, lines = read_jsonl(path)
        where = lambda i: f"{path}:{lines[i]}"  # noqa: E731
    else:
        raw = datasets.load_dataset(source.location, locale, split=split)
        where = lambda i: f"{source.name} {locale}/{split} row {i}"  # noqa: E731
    feature = raw.features.get("intent")
    if feature is None:
        raise DatasetError(
            f"{source.name} {locale}/{split} has no 'intent' column (columns: {raw.column_names})."
        )
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return raw, names, where


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
    check_access(locale, split)
    source = resolve_dataset(dataset_name)
    raw, classlabel_names, where = _load_raw(source, locale, split)
    if text_column not in raw.column_names:
        raise DatasetError(
            f"Text column {text_column!r} not in {source.name} {locale}/{split}; columns are {raw.column_names}. "
            "Pass --text-column with one of them."
        )
    bad = next((i for i, text in enumerate(raw[text_column]) if not isinstance(text, str)), None)
    if bad is not None:
        raise DatasetError(
            f"{where(bad)}: no text in {text_column!r} (missing or null); fix the row or pass the --text-column "
            "that holds the utterances."
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


@dataclass(frozen=True)
class DataSelection:
    """Which rows are read, and how long their token sequences may be: the one description of "the data" used
    by evaluation, the logits cache, NxN matrices, ensembles, sweeps and the statistics of data-aware merges.

    ``locale`` may be left ``None`` in a template that is filled per target (:meth:`for_locale`).
    ``max_samples`` with ``sample_seed=None`` keeps the first N rows in file order (as ``run_glue.py`` does);
    with a ``sample_seed`` it is a seeded random sample of exactly N rows without replacement (numpy
    ``default_rng(seed)``, indices sorted), and asking for more rows than the split has is an error.
    ``part`` (``select`` or ``fit``) keeps one half of the split first (:func:`split_part`), so that two uses of
    the same labelled rows — choosing a recipe and fine-tuning on labels — never share a row.
    """

    dataset_name: str = HUB_DATASET
    locale: str | None = None
    split: str = "test"
    text_column: str = "utt"
    max_samples: int | None = None
    max_seq_length: int = 128
    sample_seed: int | None = None
    part: str | None = (
        None  # "select" / "fit": one half of the split (DEV_PARTS), e.g. for a few-shot baseline
    )

    def for_locale(self, locale: str) -> DataSelection:
        return replace(self, locale=locale)

    def normalized(self) -> DataSelection:
        return DataSelection(
            str(self.dataset_name),
            self.locale,
            canonical_split(self.split),
            self.text_column,
            self.max_samples,
            int(self.max_seq_length),
            self.sample_seed,
            self.part,
        )

    def fields(self) -> dict[str, Any]:
        """The normalised fields as a dict, ``sample_seed`` only when it is set (so keys and records made
        before it existed stay the same): the data part of cache keys, experiment keys and records."""
        sel = self.normalized()
        out = {
            "dataset_name": sel.dataset_name,
            "locale": sel.locale,
            "split": sel.split,
            "text_column": sel.text_column,
            "max_samples": sel.max_samples,
            "max_seq_length": sel.max_seq_length,
        }
        if sel.sample_seed is not None:
            out["sample_seed"] = sel.sample_seed
        if sel.part is not None:
            out["part"] = sel.part
        return out

    def identity(self) -> dict[str, Any]:
        """The fields that must agree for two results to be computed on the same rows (locale excluded)."""
        return {k: v for k, v in self.fields().items() if k != "locale"}


@dataclass
class LoadedSplit:
    """A selection's texts and canonical gold ids, with their digest (loaded once, reused for many models)."""

    selection: DataSelection
    texts: list[str]
    gold: np.ndarray
    intents: list[str]
    digest: str


def data_fingerprint(texts: Sequence[str], gold: Sequence[int]) -> str:
    """sha256 of the selected rows (texts and canonical gold ids, in order)."""
    digest = hashlib.sha256()
    for text, label in zip(texts, gold):
        digest.update(f"{int(label)}\t{text}\n".encode())
    return digest.hexdigest()


def sample_rows(data: datasets.Dataset, count: int, seed: int, what: str) -> datasets.Dataset:
    """Exactly ``count`` rows of ``data``, a seeded random sample without replacement (indices sorted)."""
    if count > len(data):
        raise NotEnoughRowsError(f"{what} has only {len(data)} rows, fewer than the {count} asked for")
    rng = np.random.default_rng(seed)
    return data.select(sorted(rng.choice(len(data), size=count, replace=False).tolist()))


DEV_PARTS: tuple[str, str] = ("select", "fit")
PART_SEED = 20250  # the halves are the same in every run, for every command


def split_part(data: datasets.Dataset, part: str) -> datasets.Dataset:
    """One half of ``data``: a seeded permutation of the rows (``PART_SEED``), its first ⌈n/2⌉ rows are
    ``select``, the others ``fit`` (indices sorted: file order kept)."""
    if part not in DEV_PARTS:
        raise DatasetError(f"Unknown data part {part!r}; use one of {', '.join(DEV_PARTS)}.")
    order = np.random.default_rng(PART_SEED).permutation(len(data))
    half = (len(data) + 1) // 2
    chosen = order[:half] if part == "select" else order[half:]
    return data.select(sorted(chosen.tolist()))


def load_selection(selection: DataSelection) -> LoadedSplit:
    """Read the rows of a data selection (see :class:`DataSelection` for how ``part`` and ``max_samples`` pick
    them)."""
    sel = selection.normalized()
    if sel.locale is None:
        raise DatasetError("A data selection needs a locale before it can be read.")
    if sel.part is not None:
        data = split_part(load_split(sel.dataset_name, sel.locale, sel.split, sel.text_column), sel.part)
        if sel.max_samples is not None:
            data = (sample_rows(data, sel.max_samples, sel.sample_seed, f"{sel.locale}/{sel.split}/{sel.part}")
                    if sel.sample_seed is not None else data.select(range(min(sel.max_samples, len(data)))))  # fmt: skip
    elif sel.sample_seed is None:
        data = load_split(sel.dataset_name, sel.locale, sel.split, sel.text_column, sel.max_samples)
    else:
        data = load_split(sel.dataset_name, sel.locale, sel.split, sel.text_column)
        if sel.max_samples is not None:
            data = sample_rows(data, sel.max_samples, sel.sample_seed, f"{sel.locale}/{sel.split}")
    texts = list(data["text"])
    gold = np.asarray(data["label"], dtype=np.int64)
    return LoadedSplit(sel, texts, gold, list(data["intent"]), data_fingerprint(texts, gold))
