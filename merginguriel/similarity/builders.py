"""The similarity sources, one interface: each builds a dense matrix in the exchange format of
:mod:`merginguriel.similarity.matrix` (index = columns = locales, ``S[target, source]``, >= 0, zero diagonal, NaN = not
scored), so every command that takes ``--similarity-matrix`` takes any of them.

Sources, named by a *spec* ``NAME[:OPTION]``:

* ``lang2vec[:FEATURES]``: ``(cos + 1) / 2`` of lang2vec vectors (default ``syntax_knn``; ``+`` concatenates sets);
* ``urielplus[:DISTANCE]``: ``1 - d`` for a URIEL+ distance (default ``composite``), :mod:`merginguriel.similarity.uriel_plus`;
* ``empirical``: observed zero-shot transfer on the **dev** split, ``S[t, s] = M[s, t]`` where ``M`` is an NxN
  accuracy matrix (rows = model locale, columns = evaluated locale), :func:`empirical_similarity`;
* ``overlap``: lexical overlap of the training utterances under a tokenizer, :mod:`merginguriel.similarity.lexical_overlap`;
* ``learned``: a leave-target-out ridge ranker over other sources' features, :mod:`merginguriel.similarity.transfer_ranker`.

Choosing sources by *test* accuracy would leak the test set into the result, so an NxN matrix whose
``nxn_config.json`` records ``split: test`` (or records no split) is refused by :func:`read_dev_nxn`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from merginguriel.data.locales import validate_locale
from merginguriel.data.tables import read_csv_table
from merginguriel.similarity.matrix import DEFAULT_FEATURE_TYPE, SimilarityError, build_similarity

SOURCE_NAMES = ("lang2vec", "urielplus", "empirical", "overlap", "learned")
DEFAULT_LEARNED_FEATURES = (
    "lang2vec:syntax_knn",
    "urielplus:genetic",
    "urielplus:geographic",
    "urielplus:syntactic",
    "urielplus:phonological",
    "urielplus:inventory",
    "urielplus:featural",
)
NXN_CONFIG_FILE = "nxn_config.json"  # as merginguriel.experiments.nxn writes it beside evaluation_matrix.csv


class UnknownSourceError(SimilarityError):
    """A similarity source name that does not exist."""


class SplitError(SimilarityError):
    """An NxN matrix computed on a split that must not choose sources (test), or whose split is unknown."""


class MissingMatrixError(SimilarityError, FileNotFoundError):
    """An input matrix file that does not exist."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    option: str | None = None

    @property
    def label(self) -> str:
        return self.name if self.option is None else f"{self.name}:{self.option}"


def parse_spec(spec: str) -> SourceSpec:
    """``"urielplus:genetic"`` -> ``SourceSpec("urielplus", "genetic")``; the name must be a known source."""
    name, _, option = spec.strip().partition(":")
    if name not in SOURCE_NAMES:
        raise UnknownSourceError(
            f"Unknown similarity source {name!r}; use one of {', '.join(SOURCE_NAMES)} "
            "(optionally NAME:OPTION, e.g. lang2vec:syntax_wals, urielplus:genetic)."
        )
    if option and name in ("empirical", "overlap", "learned"):
        raise UnknownSourceError(f"Source {name} takes no ':OPTION' (got {spec!r}); set it with its flags.")
    return SourceSpec(name, option or None)


def read_dev_nxn(path: str | os.PathLike) -> pd.DataFrame:
    """An NxN accuracy matrix (``evaluation_matrix.csv``) whose ``nxn_config.json`` records a dev split.

    Refused: a missing file, a matrix without ``nxn_config.json`` (its split is unknown), one computed on
    ``test`` (choosing sources by test accuracy leaks the test set into the result) or on ``train``.
    """
    from merginguriel.data.massive import DatasetError, canonical_split

    path = Path(path)
    if not path.is_file():
        raise MissingMatrixError(
            f"NxN matrix {path} not found; compute one on the dev split with "
            "merginguriel nxn --split validation ... (it writes evaluation_matrix.csv)."
        )
    config = path.parent / NXN_CONFIG_FILE
    how = "merginguriel nxn --split validation ..."
    if not config.is_file():
        raise SplitError(
            f"{path} has no {NXN_CONFIG_FILE} beside it, so its split is unknown. Transfer used to choose or "
            f"judge sources must be measured on the dev split (the test split would leak into the result): "
            f"compute the matrix with {how}, which records the split."
        )
    try:
        split = json.loads(config.read_text())["data"]["split"]
        split = canonical_split(str(split))
    except (ValueError, KeyError, TypeError, DatasetError) as exc:
        raise SplitError(
            f"{config} does not record a valid data.split ({exc}); recompute with {how}."
        ) from exc
    if split == "test":
        raise SplitError(
            f"{path} was computed on the test split. Choosing or judging sources by test accuracy leaks the "
            f"test set into the result that is later reported on it; compute the matrix on the dev split "
            f"instead: {how}"
        )
    if split != "validation":
        raise SplitError(
            f"{path} was computed on the {split} split; transfer must be measured on held-out dev data: {how}"
        )
    frame = read_csv_table(
        path, "an NxN accuracy matrix (rows: model locales, columns: evaluated locales)", index_col=0
    )
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    for loc in [*frame.index, *frame.columns]:
        validate_locale(loc)
    try:
        return frame.astype(float)
    except ValueError as exc:
        raise SimilarityError(f"{path}: an NxN matrix holds accuracies, but {exc}.") from None


def matrix_locales(nxn: pd.DataFrame) -> list[str]:
    """The locales of an NxN matrix: its columns (evaluated locales), then model locales not among them."""
    return [*nxn.columns, *(loc for loc in nxn.index if loc not in set(nxn.columns))]


def empirical_similarity(nxn: pd.DataFrame, locales: Sequence[str] | None = None) -> pd.DataFrame:
    """``S[t, s] = M[s, t]``: the accuracy on ``t`` of the model trained on ``s`` (the transpose of the NxN
    matrix), square over ``locales`` (default :func:`matrix_locales`), zero diagonal, NaN where not evaluated."""
    locales = [validate_locale(loc) for loc in (locales if locales is not None else matrix_locales(nxn))]
    transposed = nxn.T.reindex(index=locales, columns=locales).astype(float)
    values = transposed.to_numpy(copy=True)
    np.fill_diagonal(values, 0.0)
    return pd.DataFrame(values, index=locales, columns=locales)


@dataclass
class SourceContext:
    """What building the sources may need: an NxN dev matrix (empirical, learned), data and a tokenizer
    (overlap), URIEL+ settings, and the learned ranker's features and regularisation."""

    nxn: pd.DataFrame | None = None
    dataset_name: str | None = None
    text_column: str = "utt"
    tokenizer: str | None = None
    max_samples: int | None = None
    overlap_weighting: str = "frequency"
    metric: str = "angular"
    unscored: str = "exclude"
    learned_features: tuple[str, ...] = DEFAULT_LEARNED_FEATURES
    alpha: float = 1.0
    notes: list[str] = field(default_factory=list)
    as_feature: bool = False  # building a feature of the learned ranker (changes only the notes)


def build_source(spec: str | SourceSpec, locales: Sequence[str], ctx: SourceContext) -> pd.DataFrame:
    """The dense similarity matrix of one source over ``locales`` (notes on unscored pairs go to ``ctx.notes``)."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    locales = [validate_locale(loc) for loc in locales]
    if spec.name == "lang2vec":
        dense, _ = build_similarity(locales, spec.option or DEFAULT_FEATURE_TYPE, k=1, iterations=0)
        return dense
    if spec.name == "urielplus":
        from merginguriel.similarity.uriel_plus import DEFAULT_DISTANCE, urielplus_similarity

        result = urielplus_similarity(locales, spec.option or DEFAULT_DISTANCE, ctx.metric, ctx.unscored)
        if result.unscored:
            label = f"learned-ranker feature {spec.label}" if ctx.as_feature else spec.label
            rule = "imputed" if ctx.as_feature else result.unscored_rule
            ctx.notes.append(describe_unscored(label, result.unscored, result.filled, rule))
        return result.similarity
    if spec.name == "empirical":
        return empirical_similarity(_need_nxn(ctx, spec), locales)
    if spec.name == "overlap":
        from merginguriel.similarity.lexical_overlap import load_tokenizer, training_overlap

        if not ctx.dataset_name or not ctx.tokenizer:
            raise SimilarityError("The overlap source needs --dataset-name and --tokenizer.")
        return training_overlap(
            ctx.dataset_name,
            locales,
            load_tokenizer(ctx.tokenizer),
            ctx.overlap_weighting,
            ctx.text_column,
            ctx.max_samples,
        )
    from merginguriel.similarity.transfer_ranker import learned_similarity

    nxn = _need_nxn(ctx, spec)
    feature_specs = [parse_spec(s) for s in ctx.learned_features]
    if any(s.name in ("learned", "empirical") for s in feature_specs):
        raise SimilarityError(
            "The learned ranker's features cannot include 'learned' or 'empirical' (the latter is what it predicts)."
        )
    as_features = replace(ctx, as_feature=True)  # shares ctx.notes
    features = {s.label: build_source(s, locales, as_features) for s in feature_specs}
    return learned_similarity(empirical_similarity(nxn, locales), features, ctx.alpha).similarity


def _need_nxn(ctx: SourceContext, spec: SourceSpec) -> pd.DataFrame:
    if ctx.nxn is None:
        raise SimilarityError(
            f"The {spec.name} source needs --nxn-matrix: an evaluation_matrix.csv computed on the dev split."
        )
    return ctx.nxn


def describe_unscored(
    label: str,
    pairs: Sequence[tuple[str, str]],
    filled: Sequence[tuple[str, str]],
    rule: str,
    limit: int = 12,
) -> str:
    """One line naming the pairs a source could not score and what was done with them."""
    shown = ", ".join(f"{a}/{b}" for a, b in pairs[:limit])
    more = f" and {len(pairs) - limit} more" if len(pairs) > limit else ""
    if rule == "imputed":
        action = "the ranker sets such a cell to the feature's training mean"
    elif rule == "fallback":
        action = f"{len(filled)} filled with the composite of the other URIEL+ types" + (
            f", {len(pairs) - len(filled)} left unscored" if len(filled) < len(pairs) else ""
        )
    else:
        action = "left unscored (out of the ranking; --unscored fallback fills them from the other types)"
    return f"{label}: {len(pairs)} pair(s) cannot be scored (no shared features): {shown}{more}; {action}."


__all__ = [
    "DEFAULT_LEARNED_FEATURES",
    "MissingMatrixError",
    "SOURCE_NAMES",
    "SourceContext",
    "SourceSpec",
    "SplitError",
    "UnknownSourceError",
    "build_source",
    "describe_unscored",
    "empirical_similarity",
    "matrix_locales",
    "parse_spec",
    "read_dev_nxn",
]
