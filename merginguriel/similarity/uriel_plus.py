"""Language similarity from the URIEL+ knowledge base (the ``urielplus`` package, which ships its data).

For a distance type ``d`` (genetic, geographic, syntactic, phonological, inventory, featural, morphological,
script) URIEL+ compares two languages on the features of ``d`` that *both* have a value for (Khan et al.,
"URIEL+: Enhancing Linguistic Inclusion and Usability in a Typological and Multilingual Knowledge Base",
COLING 2025; ``URIELPlusQuerying.new_distance``):

* a feature's value is its single value, or with several source databases the maximum of the known values
  (URIEL+'s union aggregation ``'U'``; the mean for geographic features and for aggregation ``'A'``);
* with ``u``, ``v`` the two languages' values on the shared features, ``cos = u.v / (|u| |v|)`` (a zero vector
  is replaced by a constant one, as URIEL+ does), and the distance is angular, ``2 arccos(cos) / pi``, or
  cosine, ``1 - cos`` (both in [0, 1] since the values are >= 0);
* similarity ``S = 1 - distance`` (zero diagonal, as every similarity source); locales that share a URIEL
  language (zh-CN and zh-TW) are at distance 0, similarity 1.

The computation here is URIEL+'s formula vectorised over all pairs (``new_distance`` takes minutes for 52
languages' genetic vectors), without its rounding of distances to 4 decimals; ``tests/similarity`` checks it
against direct ``new_distance`` calls. The knowledge base is used as shipped (no database integration or
imputation: integrating databases switches URIEL+ to Glottocodes).

``composite`` is the mean of the similarities of all eight types that can score the pair; a ``+``-joined list
(``genetic+syntactic``) is the mean over those types.

Unscoreable pairs: URIEL+ cannot score a pair that shares no feature of the type (``new_distance`` raises,
e.g. morphological for eng-deu). Such a pair is never given a silent 0; ``unscored`` decides:

* ``exclude`` (default): the cell is left empty (NaN = not scored), so the pair is left out of every ranking;
* ``fallback``: the cell gets the composite of the other types that can score the pair (NaN if none can).

Either way the pairs are listed by name in :attr:`URIELPlusResult.unscored`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merginguriel.data.locales import iso639_3, validate_locale
from merginguriel.similarity.matrix import SimilarityError

DISTANCE_TYPES = (
    "genetic",
    "geographic",
    "syntactic",
    "phonological",
    "inventory",
    "featural",
    "morphological",
    "script",
)
COMPOSITE = "composite"
METRICS = ("angular", "cosine")
UNSCORED_RULES = ("exclude", "fallback")
DEFAULT_DISTANCE = "composite"
DEFAULT_METRIC = "angular"
_DATA_FILES = ("family_features.npz", "features.npz", "geocoord_features.npz", "script_features.npz")
# URIEL+'s prefixes of the typological features each type uses (features.npz holds them all)
_PREFIX = {"syntactic": "S_", "phonological": "P_", "inventory": "INV_", "morphological": "M_"}


class URIELPlusError(SimilarityError):
    """A URIEL+ distance that cannot be computed as asked."""


@dataclass
class URIELPlusResult:
    """Similarities (1 - distance) and distances between locales; NaN = not scored."""

    distance_spec: str
    metric: str
    unscored_rule: str
    similarity: pd.DataFrame
    distance: pd.DataFrame
    unscored: list[tuple[str, str]] = field(default_factory=list)  # pairs the requested type cannot score
    filled: list[tuple[str, str]] = field(default_factory=list)  # of those, filled by the fallback


def distance_types(spec: str) -> list[str]:
    """The URIEL+ types of a spec: one type, ``composite`` (all eight) or a ``+``-joined list."""
    if spec == COMPOSITE:
        return list(DISTANCE_TYPES)
    parts = [p.strip() for p in spec.split("+")]
    unknown = [p for p in parts if p not in DISTANCE_TYPES]
    if unknown or not parts:
        raise URIELPlusError(
            f"Unknown URIEL+ distance {spec!r}; use one of {', '.join(DISTANCE_TYPES)}, {COMPOSITE} "
            "(mean of all eight), or several joined with '+'."
        )
    return list(dict.fromkeys(parts))


class _DropURIELPlusLogs(logging.Filter):
    """URIEL+ logs progress and timings on the root logger at INFO; nothing in them is actionable here."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.pathname).startswith(self.folder)


@contextlib.contextmanager
def _quiet(folder: str) -> Iterator[None]:
    drop = _DropURIELPlusLogs(folder)
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _import_urielplus() -> Any:
    """Import ``urielplus.urielplus`` without the root-logger configuration it does at import time."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        module = importlib.import_module("urielplus.urielplus")
    except ImportError as exc:  # a dependency, but say what to do if it is missing
        raise URIELPlusError(
            "The urielplus package is not installed; install the project again (pip install -e .) "
            "or pip install urielplus."
        ) from exc
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return module


def _package_folder() -> str:
    return str(Path(_import_urielplus().__file__).resolve().parent)


@functools.lru_cache(maxsize=1)
def load_knowledge_base() -> Any:
    """The ``URIELPlus`` object (loaded once per process; about 3 s, offline).

    On first use URIEL+ copies its shipped data files from ``database/original_uriel`` into ``database/`` of
    its own package folder; a read-only install gets a clear error instead of a traceback.
    """
    module = _import_urielplus()
    folder = Path(module.__file__).resolve().parent
    database = folder / "database"
    missing = [name for name in _DATA_FILES if not (database / name).is_file()]
    if missing and not os.access(database, os.W_OK):
        raise URIELPlusError(
            f"URIEL+ copies its data ({', '.join(missing)}) into {database} on first use, and that folder is "
            "not writable. Run once, as the user who installed it: "
            "python -c 'from urielplus import urielplus; urielplus.URIELPlus()'"
        )
    with _quiet(str(folder)):
        return module.URIELPlus()


def _type_vectors(kb: Any, dist: str, codes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per language the values of ``dist``'s features (n x f) and which are known (n x f bool)."""
    idx = kb.map_new_distance_to_loaded_features(dist)
    langs = np.asarray(kb.langs[idx]).astype(str)
    position = {code: i for i, code in enumerate(langs)}
    absent = [c for c in codes if c not in position]
    if absent:
        raise URIELPlusError(f"URIEL+ has no {dist} data for language(s) {', '.join(sorted(set(absent)))}.")
    feats = np.asarray(kb.feats[idx]).astype(str)
    prefix = _PREFIX.get(dist)
    columns = np.arange(len(feats)) if prefix is None else np.nonzero(np.char.startswith(feats, prefix))[0]
    data = np.asarray(kb.data[idx], dtype=np.float64)[[position[c] for c in codes]][:, columns, :]
    known = (data != -1.0) & np.isfinite(data)
    if data.shape[2] == 1:
        return np.where(known[..., 0], data[..., 0], 0.0), known[..., 0]
    has = known.any(axis=2)
    if dist == "geographic" or kb.get_aggregation() == "A":
        total = np.where(known, data, 0.0).sum(axis=2)
        values = np.divide(total, known.sum(axis=2), out=np.zeros_like(total), where=has)
    else:
        values = np.where(known, data, -np.inf).max(axis=2)
        values = np.where(has, values, 0.0)
    return values, has


def pairwise_distances(values: np.ndarray, known: np.ndarray, metric: str = DEFAULT_METRIC) -> np.ndarray:
    """URIEL+'s distance between every pair of rows over their shared known features; NaN where none is shared.

    ``values`` must be 0 where ``known`` is False.
    """
    if metric not in METRICS:
        raise URIELPlusError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}.")
    x = np.where(known, values, 0.0)
    k = known.astype(np.float64)
    shared = k @ k.T
    dot = x @ x.T
    sq = np.square(x)
    norm_a = np.sqrt(sq @ k.T)  # |u| over the features shared with the column language
    norm_b = norm_a.T
    sum_a = x @ k.T  # sum of u over the shared features (for URIEL+'s zero-vector rule)
    sum_b = sum_a.T
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(shared)
        cos = dot / (norm_a * norm_b)
        # URIEL+ replaces a zero vector by a constant one: its unit vector is 1/sqrt(m) on the m shared features
        cos = np.where((norm_a == 0) & (norm_b > 0), sum_b / (root * norm_b), cos)
        cos = np.where((norm_b == 0) & (norm_a > 0), sum_a / (root * norm_a), cos)
        cos = np.where((norm_a == 0) & (norm_b == 0), 1.0, cos)
    cos = np.clip(cos, -1.0, 1.0)
    dist = 1.0 - cos if metric == "cosine" else 2.0 * np.arccos(cos) / np.pi
    return np.where(shared > 0, dist, np.nan)


def urielplus_distances(
    locales: Sequence[str], distance: str = DEFAULT_DISTANCE, metric: str = DEFAULT_METRIC, kb: Any = None
) -> dict[str, pd.DataFrame]:
    """Per URIEL+ type of ``distance``, the distance matrix between ``locales`` (NaN = cannot be scored)."""
    locales = [validate_locale(loc) for loc in locales]
    types = distance_types(distance)
    if metric not in METRICS:
        raise URIELPlusError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}.")
    kb = kb if kb is not None else load_knowledge_base()
    codes = [iso639_3(loc) for loc in locales]
    out = {}
    with _quiet(_package_folder()):
        for dist in types:
            values, known = _type_vectors(kb, dist, codes)
            out[dist] = pd.DataFrame(
                pairwise_distances(values, known, metric), index=locales, columns=locales
            )
    return out


def _pairs(mask: np.ndarray, locales: Sequence[str]) -> list[tuple[str, str]]:
    return [(locales[i], locales[j]) for i, j in zip(*np.nonzero(np.triu(mask, k=1)))]


def urielplus_similarity(
    locales: Sequence[str],
    distance: str = DEFAULT_DISTANCE,
    metric: str = DEFAULT_METRIC,
    unscored: str = "exclude",
    kb: Any = None,
) -> URIELPlusResult:
    """``S = 1 - d`` between ``locales`` for a URIEL+ distance spec, with the unscored-pair rule (module doc)."""
    if unscored not in UNSCORED_RULES:
        raise URIELPlusError(f"--unscored must be one of {', '.join(UNSCORED_RULES)}, not {unscored!r}.")
    locales = [validate_locale(loc) for loc in locales]
    if len(locales) < 2:
        raise URIELPlusError("A similarity matrix needs at least two locales.")
    types = distance_types(distance)
    composite_spec = distance == COMPOSITE or len(types) > 1
    needed = DISTANCE_TYPES if (unscored == "fallback" and not composite_spec) else types
    per_type = urielplus_distances(locales, "+".join(needed), metric, kb)
    stack = np.stack([per_type[t].to_numpy() for t in types])
    with np.errstate(invalid="ignore"):
        dist = np.nanmean(stack, axis=0) if composite_spec else stack[0]
    if composite_spec:
        dist = np.where(np.all(np.isnan(stack), axis=0), np.nan, dist)
    missing = np.isnan(dist)
    np.fill_diagonal(missing, False)
    unscored_pairs = _pairs(missing, locales)
    filled: list[tuple[str, str]] = []
    if unscored == "fallback" and not composite_spec and missing.any():
        others = np.stack([per_type[t].to_numpy() for t in DISTANCE_TYPES if t not in types])
        with np.errstate(invalid="ignore"):
            rest = np.where(np.all(np.isnan(others), axis=0), np.nan, np.nanmean(others, axis=0))
        dist = np.where(missing, rest, dist)
        filled = _pairs(missing & ~np.isnan(rest), locales)
    np.fill_diagonal(dist, 0.0)
    similarity = 1.0 - dist
    np.fill_diagonal(similarity, 0.0)
    return URIELPlusResult(
        distance_spec=distance,
        metric=metric,
        unscored_rule=unscored,
        similarity=pd.DataFrame(similarity, index=locales, columns=locales),
        distance=pd.DataFrame(dist, index=locales, columns=locales),
        unscored=unscored_pairs,
        filled=filled,
    )


__all__ = [
    "COMPOSITE",
    "DISTANCE_TYPES",
    "METRICS",
    "UNSCORED_RULES",
    "URIELPlusError",
    "URIELPlusResult",
    "distance_types",
    "load_knowledge_base",
    "pairwise_distances",
    "urielplus_distances",
    "urielplus_similarity",
]
