"""The trainer's data: the splits of one or more MASSIVE locales, mixtures, tokenisation and class weights.

Mixtures: ``--dataset_config_name fr-FR,de-DE`` concatenates and shuffles; adding ``--mixture_rates 0.7,0.3``
samples ``round(rate_i * T)`` examples from locale ``i`` (largest-remainder rounding so the counts sum to ``T``;
``T = --mixture_size`` or, by default, the total number of rows), repeating a locale's rows when it has fewer
than it is asked for.

Class weights (``--class_weights``): with ``N`` training examples, ``K`` classes present and ``n_c`` examples of
class ``c``, ``w_c = N / (K * n_c)`` (0 for classes absent from the training data), so that their
frequency-weighted mean is 1 (``sum_c n_c w_c / N = 1``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from merginguriel.data.massive import load_split
from merginguriel.errors import UserError
from merginguriel.training.arguments import DataArguments

logger = logging.getLogger("merginguriel.training")


def inverse_frequency_weights(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """``w_c = N / (K * n_c)`` for the ``K`` classes present (``n_c > 0``), 0 for absent classes."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def parse_mixture_rates(text: str | None, num_locales: int) -> list[float] | None:
    """``--mixture_rates 0.7,0.3`` -> ``[0.7, 0.3]``, checked against the number of locales (None without rates)."""
    if not text:
        return None
    try:
        rates = [float(r) for r in text.split(",")]
    except ValueError:
        raise UserError(f"--mixture_rates {text!r} is not a comma-separated list of numbers.") from None
    mixture_counts([1] * num_locales, rates, total=0)  # validates count, sign and sum
    return rates


def mixture_counts(sizes: Sequence[int], rates: Sequence[float], total: int | None = None) -> list[int]:
    """Rows to draw per part: ``rate_i * T`` rounded by largest remainder so the counts sum to ``T``."""
    if len(sizes) != len(rates):
        raise UserError(
            f"--mixture_rates has {len(rates)} rates for {len(sizes)} locales; give one rate per locale."
        )
    if any(r < 0 for r in rates) or sum(rates) <= 0:
        raise UserError(f"--mixture_rates must be >= 0 and not all zero (got {list(rates)}).")
    total = int(sum(sizes)) if total is None else int(total)
    norm = np.asarray(rates, dtype=np.float64) / float(sum(rates))
    exact = norm * total
    counts = np.floor(exact).astype(int)
    for i in sorted(range(len(rates)), key=lambda j: (-(exact[j] - counts[j]), j))[
        : total - int(counts.sum())
    ]:
        counts[i] += 1
    return [int(c) for c in counts]


def mix_datasets(parts: Sequence[Any], rates: Sequence[float], total: int | None, seed: int) -> Any:
    """Sample ``mixture_counts`` rows from each dataset (whole passes, then a seeded sample), concatenate, shuffle."""
    from datasets import concatenate_datasets

    counts = mixture_counts([len(p) for p in parts], rates, total)
    rng = np.random.default_rng(seed)
    picked = []
    for part, count in zip(parts, counts):
        if count == 0:
            continue
        if len(part) == 0:
            raise UserError("A locale in the mixture has no training rows.")
        full, rest = divmod(count, len(part))
        index = np.concatenate(
            [np.tile(np.arange(len(part)), full), rng.choice(len(part), rest, replace=False)]
        )
        picked.append(part.select(index.astype(np.int64).tolist()))
    return concatenate_datasets(picked).shuffle(seed=seed)


def check_dataset_locales(dataset_name: str | os.PathLike, locales: Sequence[str]) -> None:
    """For a local dataset folder (the built-in corpus included), fail early unless every locale is in it."""
    from merginguriel.data.massive import DatasetError, local_locales, resolve_dataset

    source = resolve_dataset(dataset_name)
    if source.kind != "local":
        return
    have = set(local_locales(source.location))
    absent = [loc for loc in locales if loc not in have]
    if absent:
        raise DatasetError(
            f"Locale{'s' if len(absent) > 1 else ''} {', '.join(absent)} not in dataset {dataset_name} "
            f"(it has: {', '.join(sorted(have)) or 'nothing'})."
        )


def check_readable(
    dataset_name: str | os.PathLike, parts: Sequence[tuple[str, str]], text_column: str = "utt"
) -> None:
    """Read every (locale, split) a job will need from a local dataset folder now, so that a broken file is
    one error before any training, not after an epoch (a hub dataset is read when the job starts)."""
    from merginguriel.data.massive import resolve_dataset

    if resolve_dataset(dataset_name).kind != "local":
        return
    for locale, split in dict.fromkeys(parts):
        load_split(dataset_name, locale, split, text_column)


def load_splits(
    data_args: DataArguments, locales: list[str], seed: int, which: dict[str, bool]
) -> dict[str, Any]:
    """The wanted splits (``train``/``validation``/``test`` -> bool) of ``locales``, each concatenated over the
    locales; the training split is shuffled, or drawn by ``--mixture_rates``."""
    from datasets import concatenate_datasets

    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_predict_samples,
    }
    rates = parse_mixture_rates(data_args.mixture_rates, len(locales))
    out = {}
    for split, wanted in which.items():
        if not wanted:
            continue
        parts = [
            load_split(data_args.dataset_name, loc, split, data_args.text_column, limits[split])
            for loc in locales
        ]
        if split == "train" and rates is not None:
            data = mix_datasets(parts, rates, data_args.mixture_size, seed)
        else:
            data = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
            if split == "train":
                data = data.shuffle(seed=seed)
        counts = Counter(data["locale"])
        logger.info(
            "%s split: %d examples (%s)",
            split,
            len(data),
            ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
        )
        out[split] = data
    return out


def tokenized(split: Any, tokenizer: Any, max_length: int) -> Any:
    """``split`` with its texts tokenised (truncated to ``max_length``) and only the model's columns kept."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    return split.map(encode, batched=True, remove_columns=["text", "intent", "locale"], desc="tokenize")


__all__ = [
    "check_dataset_locales",
    "inverse_frequency_weights",
    "load_splits",
    "mix_datasets",
    "mixture_counts",
    "parse_mixture_rates",
    "tokenized",
]
