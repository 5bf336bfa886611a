"""Lexical overlap of two locales' training utterances under a model's tokenizer (a similarity source).

Each locale's training utterances are tokenized (no special tokens; the tokenizer's special ids, the unknown
token included, are not counted as types) into a count ``c_l(w)`` per subword type ``w``. Then, with
``p_l(w) = c_l(w) / sum_w c_l(w)`` and ``V_l`` the set of types that occur:

* ``frequency`` (default): the frequency-weighted overlap ``S[a, b] = sum_w min(p_a(w), p_b(w))`` (histogram
  intersection, 1 - total variation distance): 1 for identical type distributions, 0 for no shared type;
  a type counts as much as it is used;
* ``types``: LANGRANK's (sub)word overlap ``S[a, b] = |V_a & V_b| / (|V_a| + |V_b|)`` (Lin et al., "Choosing
  Transfer Languages for Cross-Lingual Learning", ACL 2019), in [0, 0.5].

Both are symmetric, >= 0, with the diagonal set to 0 (the exchange format of :mod:`merginguriel.similarity.matrix`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from merginguriel.data.locales import validate_locale
from merginguriel.similarity.matrix import SimilarityError

OVERLAP_WEIGHTINGS = ("frequency", "types")
DEFAULT_OVERLAP_WEIGHTING = "frequency"


def subword_counts(texts: Iterable[str], tokenizer: Any, batch_size: int = 1024) -> Counter[int]:
    """How often each token id occurs in ``texts`` (special tokens, ``<unk>`` included, not counted)."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    counts: Counter[int] = Counter()
    batch: list[str] = []

    def flush() -> None:
        if batch:
            for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
                counts.update(i for i in ids if i not in special)
            batch.clear()

    for text in texts:
        batch.append(str(text))
        if len(batch) >= batch_size:
            flush()
    flush()
    return counts


def overlap_matrix(
    counts: Mapping[str, Mapping[Any, int]], weighting: str = DEFAULT_OVERLAP_WEIGHTING
) -> pd.DataFrame:
    """Dense overlap matrix between the locales of ``counts`` (locale -> type counts), diagonal 0."""
    if weighting not in OVERLAP_WEIGHTINGS:
        raise SimilarityError(
            f"--overlap-weighting must be one of {', '.join(OVERLAP_WEIGHTINGS)}, not {weighting!r}."
        )
    locales = [validate_locale(loc) for loc in counts]
    empty = [loc for loc in locales if not any(c > 0 for c in counts[loc].values())]
    if empty:
        raise SimilarityError(
            f"No tokens for {', '.join(empty)}: their training utterances are empty or all unknown to the "
            "tokenizer, so their overlap is undefined. Check --dataset-name/--text-column and --tokenizer."
        )
    vocab = sorted({w for loc in locales for w, c in counts[loc].items() if c > 0}, key=str)
    column = {w: j for j, w in enumerate(vocab)}
    table = np.zeros((len(locales), len(vocab)), dtype=np.float64)
    for i, loc in enumerate(locales):
        for w, c in counts[loc].items():
            if c > 0:
                table[i, column[w]] = c
    if weighting == "types":
        present = (table > 0).astype(np.float64)
        sizes = present.sum(axis=1)
        sim = (present @ present.T) / (sizes[:, None] + sizes[None, :])
    else:
        freq = table / table.sum(axis=1, keepdims=True)
        sim = np.stack([np.minimum(freq[i], freq).sum(axis=1) for i in range(len(locales))])
    np.fill_diagonal(sim, 0.0)
    return pd.DataFrame(sim, index=locales, columns=locales)


def load_tokenizer(name: str | os.PathLike) -> Any:
    """``AutoTokenizer.from_pretrained(name)``, with one clear error when it cannot be loaded (e.g. offline)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(name))
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()).rstrip(".")
        raise SimilarityError(
            f"Could not load the tokenizer {name!r} ({reason}). Give --tokenizer a local model folder, or a hub "
            "id that is in the local cache when running offline."
        ) from exc


def training_overlap(
    dataset_name: str | os.PathLike,
    locales: Sequence[str],
    tokenizer: Any,
    weighting: str = DEFAULT_OVERLAP_WEIGHTING,
    text_column: str = "utt",
    max_samples: int | None = None,
    split: str = "train",
) -> pd.DataFrame:
    """The overlap matrix of ``locales``' ``split`` utterances (first ``max_samples`` per locale)."""
    from merginguriel.data.massive import load_split

    counts = {
        loc: subword_counts(load_split(dataset_name, loc, split, text_column, max_samples)["text"], tokenizer)
        for loc in locales
    }
    return overlap_matrix(counts, weighting)


__all__ = [
    "OVERLAP_WEIGHTINGS",
    "load_tokenizer",
    "overlap_matrix",
    "subword_counts",
    "training_overlap",
]
