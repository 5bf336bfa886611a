"""Which source models a target gets, and with which weights: the one source-selection value object shared by
merging, ensembles, sweeps, iterative training and recipe selection.

Sources come, in order of precedence, from

1. ``weights`` (``--weights de-DE=0.5,nl-NL=0.5``): those locales with those weights, normalised to sum to 1;
2. ``source_locales`` (``--source-locales``): those locales, weighted by the target's similarity row;
3. the similarity matrix: the ``num_languages`` most similar locales (target excluded, ties by locale code,
   only locales with a model under ``models_root`` with ``available_only``), weights renormalised to 1.

``preweight="equal"`` then gives every selected source weight 1/K (unless ``weights`` were given). Every
selected source is merged or voted with the weight reported; nothing is dropped silently.

``include_target`` (``--include-target [--target-weight W]``) improves a locale that already has a model: the
target's own model comes first with weight W (default 0.5) and its K sources share 1 − W in their proportions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from merginguriel.data.locales import iso639_3, parse_locales, validate_locale
from merginguriel.defaults import DEFAULT_BASE_MODEL, DEFAULT_MODELS_ROOT, default_similarity_matrix
from merginguriel.errors import UserError
from merginguriel.models.paths import discover_models, find_model

PREWEIGHTS = ("uriel", "equal")


class MergeConfigError(UserError):
    """Merge or ensemble options that do not fit together (sources, weights, modes, parameters)."""


@dataclass(frozen=True)
class SimilarityOptions:
    """The similarity matrix sources are ranked by and how their weights are made: a CSV (``None`` = the
    committed one) used as it is (``sparse``) or sparsified on the fly with top-k + Sinkhorn (``dense``);
    ``weighting`` ``sinkhorn`` (renormalise the Sinkhorn row), ``softmax`` (exp(s/T), dense matrices) or
    ``normalize`` (s / Σ s, dense matrices) — see :mod:`merginguriel.similarity.matrix`."""

    matrix: str | None = None
    source: str = "sparse"
    top_k: int = 20
    sinkhorn_iters: int = 20
    weighting: str = "sinkhorn"
    temperature: float = 1.0

    def path(self) -> str:
        return str(self.matrix) if self.matrix else default_similarity_matrix(self.source)

    def load(self) -> Any:
        from merginguriel.similarity.matrix import similarity_matrix

        return similarity_matrix(
            self.path(), self.source, self.top_k, self.sinkhorn_iters, weighting=self.weighting
        )


@dataclass(frozen=True)
class SourceSelection:
    """Where the per-locale models are and how a target's sources and weights are chosen (see module doc)."""

    models_root: str = DEFAULT_MODELS_ROOT
    base_model: str = DEFAULT_BASE_MODEL
    num_languages: int = 5
    source_locales: tuple[str, ...] | None = None
    weights: Mapping[str, float] | None = None
    similarity: SimilarityOptions = field(default_factory=SimilarityOptions)
    available_only: bool = False
    preweight: str = "uriel"
    pool: tuple[str, ...] | None = None  # only these locales may be similarity-selected sources
    include_target: bool = False  # the target's own model joins its sources, first, with target_weight
    target_weight: float = 0.5

    @property
    def kind(self) -> str:
        """How the sources are named: ``manual`` (weights), ``uriel`` (locales) or ``similarity`` (top-K)."""
        if self.weights:
            return "manual"
        if self.source_locales:
            return "uriel"
        return "similarity"


@dataclass
class SourceModel:
    locale: str
    path: str
    weight: float


def parse_weights(spec: str) -> dict[str, float]:
    """``de-DE=0.5,nl-NL=0.5`` -> {locale: weight}; a repeated locale, a negative, NaN/Inf or all-zero weight
    is an error."""
    out: dict[str, float] = {}
    for item in (p.strip() for p in spec.split(",") if p.strip()):
        if "=" not in item:
            raise MergeConfigError(
                f"--weights item {item!r} is not LOCALE=WEIGHT (e.g. --weights de-DE=0.6,nl-NL=0.4)."
            )
        loc, value = item.split("=", 1)
        loc = validate_locale(loc.strip())
        try:
            weight = float(value)
        except ValueError:
            raise MergeConfigError(f"--weights: {value!r} for {loc} is not a number.") from None
        if not math.isfinite(weight):
            raise MergeConfigError(
                f"--weights: {loc} has weight {value.strip()}; weights must be finite numbers >= 0 "
                "(e.g. --weights de-DE=0.6,nl-NL=0.4)."
            )
        if weight < 0:
            raise MergeConfigError(
                f"--weights: {loc} has a negative weight ({weight}); weights must be >= 0."
            )
        if loc in out:
            raise MergeConfigError(f"--weights names {loc} twice; give each source locale once.")
        out[loc] = weight
    if not out:
        raise MergeConfigError("--weights is empty; give LOCALE=WEIGHT pairs.")
    if sum(out.values()) <= 0:
        raise MergeConfigError("--weights are all zero; give at least one positive weight.")
    return out


def _weighted_locales(target: str, selection: SourceSelection, notes: list[str]) -> list[tuple[str, float]]:
    from merginguriel.similarity.matrix import select_sources, source_weights

    if selection.weights:
        if target in selection.weights:
            raise MergeConfigError(f"--weights names the target {target} itself; give source locales only.")
        total = sum(selection.weights.values())
        if abs(total - 1.0) > 1e-6:
            notes.append(f"weights summed to {total:g}; normalised to sum to 1")
        return [(loc, w / total) for loc, w in selection.weights.items()]
    sim = selection.similarity
    matrix = sim.load()
    weighting = {"weighting": sim.weighting, "temperature": sim.temperature}
    if selection.source_locales:
        named = source_weights(target, matrix, parse_locales(list(selection.source_locales)), **weighting)
        return [(s.locale, s.weight) for s in named]
    candidates = None
    if selection.available_only:
        found = discover_models(selection.models_root, selection.base_model)
        candidates = [loc for loc in found if loc != target]
    if selection.pool is not None:
        candidates = [
            loc for loc in (candidates or selection.pool) if loc in selection.pool and loc != target
        ]
    chosen = select_sources(target, matrix, selection.num_languages, candidates, **weighting)
    return [(s.locale, s.weight) for s in chosen]


def select_source_models(target: str, selection: SourceSelection) -> tuple[list[SourceModel], list[str]]:
    """The target's source models (locale, folder, weight) and notes about the choice; no model is read."""
    target = validate_locale(target)
    if selection.preweight not in PREWEIGHTS:
        raise MergeConfigError(
            f"--preweight must be one of {', '.join(PREWEIGHTS)}, not {selection.preweight!r}."
        )
    notes: list[str] = []
    pairs = _weighted_locales(target, selection, notes)
    if selection.preweight == "equal" and not selection.weights:
        pairs = [(loc, 1.0 / len(pairs)) for loc, _ in pairs]
    if selection.include_target:
        w_target = selection.target_weight
        if not 0.0 < w_target < 1.0 or not math.isfinite(w_target):
            raise MergeConfigError(
                f"--target-weight must be between 0 and 1 (exclusive), not {w_target:g}: it is the target model's "
                "share, its sources share the rest."
            )
        pairs = [(target, w_target)] + [(loc, (1.0 - w_target) * w) for loc, w in pairs]
        notes.append(
            f"the target's own model ({target}) is included first with weight {w_target:g}; its "
            f"{len(pairs) - 1} source(s) share {1.0 - w_target:g}"
        )
    sources = [
        SourceModel(loc, str(find_model(selection.models_root, selection.base_model, loc)), w)
        for loc, w in pairs
    ]
    for loc, _ in pairs:
        if iso639_3(loc) == iso639_3(target) and loc != target:
            notes.append(
                f"{loc} shares URIEL features with {target} ({iso639_3(target)}): their similarity rows are identical"
            )
    return sources, notes


def equal_weights(sources: Sequence[SourceModel]) -> list[SourceModel]:
    """The same sources, each with weight 1/K."""
    return [SourceModel(s.locale, s.path, 1.0 / len(sources)) for s in sources]


__all__ = [
    "PREWEIGHTS",
    "SimilarityOptions",
    "SourceModel",
    "SourceSelection",
    "MergeConfigError",
    "describe_sources",
    "equal_weights",
    "parse_weights",
    "select_source_models",
]


def describe_sources(sources: Sequence[SourceModel]) -> str:
    """``de-DE 0.500, nl-NL 0.500 (effective number of sources 2.00 of 2)``."""
    from merginguriel.similarity.matrix import SourceWeight, describe_weights

    return describe_weights([SourceWeight(s.locale, s.weight) for s in sources])
