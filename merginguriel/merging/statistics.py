"""Data for the data-aware merge methods: which examples each source model sees, and the cached statistics
(Fisher diagonals for ``fisher``, Gram matrices for ``regmean``) computed from them with ``auto_merge_llm``.

Data selection (``--fisher-data``), for source model *i* fine-tuned on locale *sᵢ* and target *t*:

* ``sources`` — N examples of *sᵢ*'s own split (never looks at the target's data);
* ``target`` — N examples of the target's split, the same for every source;
* ``both`` — ⌊N/2⌋ of *sᵢ* and N − ⌊N/2⌋ of the target.

Examples are a seeded random sample (numpy ``default_rng(seed)``, without replacement) of exactly N rows per
locale part (a :class:`~merginguriel.data.massive.DataSelection` with ``sample_seed``); a split with fewer rows
is an error. Statistics are cached on disk under a key made of the model's content fingerprint, the statistic,
the estimator and the data selection, so a sweep that merges the same source for many targets computes it once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from merginguriel.data.labels import align_label_ids, model_label_names
from merginguriel.data.massive import (
    DataSelection,
    NotEnoughRowsError,
    canonical_split,
    load_selection,
    resolve_dataset,
)
from merginguriel.errors import UserError

logger = logging.getLogger("merginguriel.statistics")

ADAMERGING_BATCH = 16  # texts per AdaMerging step, as in the paper (Yang et al. 2024)
DEFAULT_CACHE_DIR = os.environ.get("MERGINGURIEL_CACHE", str(Path.home() / ".cache" / "merginguriel"))
DATA_MODES = ("sources", "target", "both")
ESTIMATORS = ("expected", "sampled", "empirical")


class StatisticsDataError(UserError):
    """Statistics data that cannot be selected as asked."""


def _default_data() -> DataSelection:
    return DataSelection(split="train", max_samples=100, sample_seed=42)


@dataclass(frozen=True)
class StatisticsOptions:
    """How the statistics of one source model are computed: ``data`` (dataset, split, text column, examples
    per source = ``max_samples``, sampling seed = ``sample_seed``, max sequence length; its locale is filled per
    part), whose data (``data_mode``), which Fisher estimator, and runtime-only batch size and cache folder."""

    data: DataSelection = field(default_factory=_default_data)
    data_mode: str = "sources"
    estimator: str = "expected"
    batch_size: int = 16
    cache_dir: str = DEFAULT_CACHE_DIR

    def __post_init__(self) -> None:
        if self.data.split is not None and canonical_split(self.data.split) == "test":
            raise StatisticsDataError(
                f"--fisher-split {self.data.split}: the statistics of a merge must not read a test split (the "
                "merge would be fitted to the data it is scored on); use train or validation."
            )

    @property
    def num_examples(self) -> int:
        return int(self.data.max_samples or 0)

    def selection(self) -> dict[str, Any]:
        """The options that change the statistics (for keys and provenance); batch size and cache do not."""
        data = self.data.normalized()
        return {
            "dataset_name": data.dataset_name,
            "text_column": data.text_column,
            "split": data.split,
            "num_examples": self.num_examples,
            "data_mode": self.data_mode,
            "estimator": self.estimator,
            "max_seq_length": data.max_seq_length,
            "seed": data.sample_seed,
            "dataset_location": resolve_dataset(data.dataset_name).location,
        }


def data_parts(source_locale: str, target: str, options: StatisticsOptions) -> list[tuple[str, int]]:
    """(locale, count) parts of one source model's statistics data."""
    n = options.num_examples
    if n < 1:
        raise StatisticsDataError(f"--num-fisher-examples must be at least 1 (got {n}).")
    if options.data_mode == "sources":
        return [(source_locale, n)]
    if options.data_mode == "target":
        return [(target, n)]
    if options.data_mode == "both":
        return [(source_locale, n // 2), (target, n - n // 2)] if n >= 2 else [(target, n)]
    raise StatisticsDataError(
        f"--fisher-data must be one of {', '.join(DATA_MODES)}, not {options.data_mode!r}."
    )


def sample_examples(locale: str, count: int, options: StatisticsOptions) -> tuple[list[str], list[int]]:
    """Exactly ``count`` (text, canonical label) pairs, a seeded random sample of the locale's split."""
    selection = replace(options.data, locale=locale, max_samples=count)
    try:
        rows = load_selection(selection)
    except NotEnoughRowsError as exc:
        raise StatisticsDataError(
            f"Not enough statistics examples: {exc}; lower --num-fisher-examples."
        ) from None
    return list(rows.texts), [int(y) for y in rows.gold]


def batches(
    tokenizer: Any, texts: Sequence[str], labels: Sequence[int], batch_size: int, max_length: int
) -> Iterator[dict[str, torch.Tensor]]:
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        enc["labels"] = torch.tensor(labels[start : start + batch_size], dtype=torch.long)
        yield dict(enc)


def _statistics_key(
    statistic: str, model_dir: str, parts: list[tuple[str, int]], options: StatisticsOptions
) -> str:
    from auto_merge_llm.statistics import StatisticsCache

    from merginguriel.models.fingerprint import model_fingerprint

    selection = options.selection()
    if statistic != "fisher":  # the Fisher estimator does not change a Gram matrix: share its cache entry
        selection.pop("estimator")
    fingerprint = model_fingerprint(model_dir, Path(options.cache_dir) / "fingerprints.json")
    estimator = options.estimator if statistic == "fisher" else None
    return StatisticsCache.make_key(statistic, fingerprint, selection, parts, estimator)


def source_statistics(
    statistic: str,
    model_dir: str,
    source_locale: str,
    target: str,
    options: StatisticsOptions,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Fisher diagonal or Gram matrices of one source model, from the cache when possible."""
    from auto_merge_llm.statistics import StatisticsCache, fisher_diagonal, gram_matrices

    from merginguriel.models.inference import load_classifier

    parts = data_parts(source_locale, target, options)
    cache = StatisticsCache(Path(options.cache_dir) / "statistics")
    key = _statistics_key(statistic, model_dir, parts, options)
    cached = cache.get(key)
    if cached is not None:
        logger.info("%s statistics of %s: cached (%s)", statistic, source_locale, key[:12])
        return cached
    texts: list[str] = []
    labels: list[int] = []
    for locale, count in parts:
        t, y = sample_examples(locale, count, options)
        texts += t
        labels += y
    model, tokenizer = load_classifier(model_dir, "cpu")
    # the empirical estimator indexes the model's own outputs: map canonical ids to them by label name
    to_model = {int(c): j for j, c in enumerate(align_label_ids(model_label_names(model.config)))}
    labels = [to_model.get(y, -1) for y in labels]
    if statistic == "fisher" and options.estimator == "empirical" and -1 in labels:
        raise StatisticsDataError(
            f"{model_dir} cannot predict some labels of its statistics data (empirical Fisher)."
        )
    stream = batches(tokenizer, texts, labels, options.batch_size, options.data.max_seq_length)
    logger.info("%s statistics of %s on %d examples (%s)", statistic, source_locale, len(texts), parts)
    if statistic == "fisher":
        stats = fisher_diagonal(
            model, stream, options.estimator, seed=options.data.sample_seed or 0, device=device
        )
    else:
        stats = gram_matrices(model, stream, device=device)
    cache.put(key, stats, metadata={"statistic": statistic, "model": str(model_dir), "parts": str(parts)})
    del model
    return stats


def learned_coefficients(
    sources: Sequence[tuple[str, str, float]],
    base_model: str,
    target: str,
    method_params: dict[str, Any],
    options: StatisticsOptions,
    device: str = "cpu",
    seed: int = 42,
    progress: bool = False,
) -> Any:
    """AdaMerging's coefficients for one merge (:mod:`auto_merge_llm.adamerging`): learned jointly for the
    ``sources`` ((locale, folder, weight), in merge order) on ``options.num_examples`` texts of the **target's
    validation split** — its texts only, never its labels — in batches of ``ADAMERGING_BATCH`` (16, the paper's;
    each step one batch, cycled) and cached under the sources' fingerprints, the base, the data, the method's
    settings and the seed."""
    from auto_merge_llm.adamerging import LearnedCoefficients, learn_coefficients

    from merginguriel.data.labels import INTENT_LABELS
    from merginguriel.models.inference import load_classifier

    data = replace(options.data, locale=target, split="validation", max_samples=options.num_examples)
    settings = {
        k: method_params[k] for k in ("granularity", "steps", "lr", "init_lambda") if k in method_params
    }
    selection = {
        **options.selection(),
        "split": "validation",
        "data_mode": "target",
        "locale": target,
        "batch": ADAMERGING_BATCH,
    }
    cache, key = _joint_cache("adamerging", sources, options, str(base_model), selection, settings, seed)
    cached = cache.get(key)
    if cached is not None:
        logger.info("adamerging coefficients for %s: cached (%s)", target, key[:12])
        groups = {k[len("group::") :]: int(v) for k, v in cached.items() if k.startswith("group::")}
        frozen = sorted(k[len("frozen::") :] for k in cached if k.startswith("frozen::"))
        entropy = [float(x) for x in cached["entropy"]]
        granularity = str(method_params.get("granularity", "layer"))
        return LearnedCoefficients(granularity, cached["coefficients"], groups, entropy, frozen)
    try:
        rows = load_selection(data)
    except NotEnoughRowsError as exc:
        raise StatisticsDataError(
            f"Not enough target texts for adamerging: {exc}; lower --num-fisher-examples."
        ) from None
    model, tokenizer = load_classifier(sources[0][1], "cpu")
    texts = list(rows.texts)
    stream = list(batches(tokenizer, texts, [-1] * len(texts), ADAMERGING_BATCH, data.max_seq_length))
    logger.info("adamerging: learning %s coefficients of %d sources on %d %s validation texts",
                settings.get("granularity", "layer"), len(sources), len(texts), target)  # fmt: skip
    learned = learn_coefficients(
        model, [path for _, path, _ in sources], base_model, stream, weights=[w for _, _, w in sources],
        seed=seed, device=device, label_names=list(INTENT_LABELS), progress=progress, **settings,
    )  # fmt: skip
    stored = {f"group::{n}": torch.tensor(g) for n, g in learned.groups.items()}
    stored.update({f"frozen::{n}": torch.tensor(0) for n in learned.frozen})
    stored.update(coefficients=learned.coefficients, entropy=torch.tensor(learned.entropy))
    cache.put(key, stored, metadata={"statistic": "adamerging", "target": target})
    return learned


def _joint_cache(
    statistic: str, sources: Sequence[tuple[str, str, float]], options: StatisticsOptions, *parts: Any
) -> tuple[Any, str]:
    """The statistics cache and the key of a statistic computed for all ``sources`` together: their content
    fingerprints and weights, in merge order, and ``parts``."""
    from auto_merge_llm.statistics import StatisticsCache

    from merginguriel.models.fingerprint import model_fingerprint

    fingerprints = Path(options.cache_dir) / "fingerprints.json"
    models = [(loc, model_fingerprint(path, fingerprints), round(w, 12)) for loc, path, w in sources]
    key = StatisticsCache.make_key(statistic, models, *parts)
    return StatisticsCache(Path(options.cache_dir) / "statistics"), key


def progressive_grams(
    sources: Sequence[tuple[str, str, float]],
    target: str,
    method_params: dict[str, Any],
    options: StatisticsOptions,
    device: str = "cpu",
) -> list[dict[str, torch.Tensor]]:
    """RegMean++'s Gram matrices (:mod:`auto_merge_llm.regmean_plusplus`) for one merge: each source's
    examples chosen as for RegMean (``--fisher-data``), passed block by block through the merge model; cached
    under all the sources' fingerprints and weights, the data and ``regmean_alpha`` (as one entry per source)."""
    from auto_merge_llm.regmean_plusplus import progressive_gram_matrices

    from merginguriel.data.labels import INTENT_LABELS
    from merginguriel.models.inference import load_classifier

    alpha = float(method_params.get("regmean_alpha", 0.9))
    parts = [data_parts(loc, target, options) for loc, _, _ in sources]
    cache, key = _joint_cache("regmean_plusplus", sources, options, options.selection(), parts, alpha)
    cached = [cache.get(f"{key}-{i}") for i in range(len(sources))]
    if all(c is not None for c in cached):
        logger.info("regmean_plusplus statistics for %s: cached (%s)", target, key[:12])
        return [c for c in cached if c is not None]
    model, tokenizer = load_classifier(sources[0][1], "cpu")
    streams = []
    for source_parts in parts:
        texts: list[str] = []
        for locale, count in source_parts:
            texts += sample_examples(locale, count, options)[0]
        streams.append(
            list(
                batches(tokenizer, texts, [-1] * len(texts), options.batch_size, options.data.max_seq_length)
            )
        )
    logger.info(
        "regmean_plusplus: Gram matrices of %d sources through the merge model, block by block", len(sources)
    )
    grams = progressive_gram_matrices(model, [path for _, path, _ in sources], streams,
                                      weights=[w for _, _, w in sources], regmean_alpha=alpha,
                                      label_names=list(INTENT_LABELS), device=device)  # fmt: skip
    for i, g in enumerate(grams):
        cache.put(f"{key}-{i}", g, metadata={"statistic": "regmean_plusplus", "model": sources[i][1]})
    return grams


__all__ = [
    "DATA_MODES",
    "DEFAULT_CACHE_DIR",
    "ESTIMATORS",
    "StatisticsDataError",
    "StatisticsOptions",
    "data_parts",
    "learned_coefficients",
    "progressive_grams",
    "sample_examples",
    "source_statistics",
]
