"""Data for the data-aware merge methods: which examples each source model sees, and the cached statistics
(Fisher diagonals for ``fisher``, Gram matrices for ``regmean``) computed from them with ``auto_merge_llm``.

Data selection (``--fisher-data-mode``), for source model *i* fine-tuned on locale *sᵢ* and target *t*:

* ``sources`` — N examples of *sᵢ*'s own split (never looks at the target's data);
* ``target`` — N examples of the target's split, the same for every source;
* ``both`` — ⌊N/2⌋ of *sᵢ* and N − ⌊N/2⌋ of the target.

Examples are a seeded random sample (numpy ``default_rng(seed)``, without replacement) of exactly N rows per
locale part; a split with fewer rows is an error. Statistics are cached on disk under a key made of the
model's content hash, the statistic, the estimator and the data selection, so a sweep that merges the same
source for many targets computes it once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from merginguriel.labels import align_label_ids, model_label_names
from merginguriel.massive_data import canonical_split, load_split, resolve_dataset

logger = logging.getLogger("merginguriel.statistics")

DEFAULT_CACHE_DIR = os.environ.get("MERGINGURIEL_CACHE", str(Path.home() / ".cache" / "merginguriel"))
DATA_MODES = ("sources", "target", "both")
STATISTIC_OF_METHOD = {"fisher": "fisher", "regmean": "gram"}


class StatisticsDataError(ValueError):
    """Statistics data that cannot be selected as asked."""


@dataclass(frozen=True)
class StatisticsOptions:
    dataset_name: str
    text_column: str = "utt"
    split: str = "train"
    num_examples: int = 100
    data_mode: str = "sources"
    estimator: str = "expected"
    batch_size: int = 16
    max_seq_length: int = 128
    seed: int = 42
    cache_dir: str = DEFAULT_CACHE_DIR

    def selection(self) -> dict[str, Any]:
        """The options that change the statistics (for keys and provenance); batch size and cache do not."""
        data = asdict(self)
        for key in ("batch_size", "cache_dir"):
            data.pop(key)
        data["dataset_location"] = resolve_dataset(self.dataset_name).location
        data["split"] = canonical_split(self.split)
        return data


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
        f"--fisher-data-mode must be one of {', '.join(DATA_MODES)}, not {options.data_mode!r}."
    )


def sample_examples(locale: str, count: int, options: StatisticsOptions) -> tuple[list[str], list[int]]:
    """Exactly ``count`` (text, canonical label) pairs, a seeded random sample of the locale's split."""
    data = load_split(options.dataset_name, locale, options.split, options.text_column)
    if count > len(data):
        raise StatisticsDataError(
            f"Asked for {count} statistics examples of {locale}/{options.split} but it has only {len(data)}; "
            "lower --num-fisher-examples."
        )
    rng = np.random.default_rng(options.seed)
    index = sorted(rng.choice(len(data), size=count, replace=False).tolist())
    rows = data.select(index)
    return list(rows["text"]), list(rows["label"])


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


def source_statistics(
    statistic: str,
    model_dir: str,
    source_locale: str,
    target: str,
    options: StatisticsOptions,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """Fisher diagonal or Gram matrices of one source model, from the cache when possible."""
    from auto_merge_llm.statistics import StatisticsCache, fisher_diagonal, gram_matrices, model_content_hash

    from merginguriel.evaluation import load_classifier

    parts = data_parts(source_locale, target, options)
    cache = StatisticsCache(Path(options.cache_dir) / "statistics")
    selection = options.selection()
    if statistic != "fisher":  # the Fisher estimator does not change a Gram matrix: share its cache entry
        selection.pop("estimator")
    key = cache.make_key(
        statistic,
        model_content_hash(model_dir),
        selection,
        parts,
        options.estimator if statistic == "fisher" else None,
    )
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
    stream = batches(tokenizer, texts, labels, options.batch_size, options.max_seq_length)
    logger.info("%s statistics of %s on %d examples (%s)", statistic, source_locale, len(texts), parts)
    if statistic == "fisher":
        stats = fisher_diagonal(model, stream, options.estimator, seed=options.seed, device=device)
    else:
        stats = gram_matrices(model, stream, device=device)
    cache.put(key, stats, metadata={"statistic": statistic, "model": str(model_dir), "parts": str(parts)})
    del model
    return stats


def plan_statistics(
    method: str,
    sources: Sequence[Mapping[str, Any]],
    target: str,
    options: StatisticsOptions,
    device: str = "cpu",
) -> list[dict[str, torch.Tensor]]:
    """Statistics for every source of a plan (``sources``: mappings with ``locale`` and ``path``), one model at a time."""
    from tqdm.auto import tqdm

    statistic = STATISTIC_OF_METHOD[method]
    return [
        source_statistics(statistic, s["path"], s["locale"], target, options, device)
        for s in tqdm(sources, desc=f"{statistic} statistics", unit="model")
    ]
