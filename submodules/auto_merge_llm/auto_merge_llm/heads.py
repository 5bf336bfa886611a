"""Classification-head detection and label alignment by name.

A *head* parameter is one that belongs to the task-specific classification head, i.e. has no pretrained
counterpart. :func:`is_head_param` recognises it by its first name component (``classifier.`` for
BERT/RoBERTa/XLM-R/ELECTRA/DeBERTa, ``pre_classifier.`` for DistilBERT, ``score.`` for decoder LMs,
``qa_outputs.`` for extractive QA, ``sequence_summary.`` for XLNet).

A model without head parameters whose config names no labels (a decoder LM: its LM head is pretrained, not a
classification head) has no labels; it is merged without label alignment and its config is kept as it is.

The *output layer* is the head module whose weight's first dimension is ``num_labels`` (its rows are indexed
by label). When several head modules qualify (``hidden_size == num_labels``), a module whose last name
component is a known output name (``out_proj``, ``classifier``, ``score``, ``qa_outputs``, ``out``) wins; if
still ambiguous the last by name order is taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import MergeError

HEAD_PREFIXES: tuple[str, ...] = ("classifier", "pre_classifier", "score", "qa_outputs", "sequence_summary")
_OUTPUT_MODULE_NAMES = ("out_proj", "classifier", "score", "qa_outputs", "out")


def is_head_param(name: str) -> bool:
    """True when ``name`` belongs to a classification head (see module docstring)."""
    return name.split(".", 1)[0] in HEAD_PREFIXES


def _module_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def output_layer_params(shapes: Mapping[str, Sequence[int]], num_labels: int) -> list[str]:
    """Names of the output-layer tensors (weight rows / bias entries indexed by label).

    ``shapes`` maps every parameter name of a model to its shape.
    """
    head = [n for n in shapes if is_head_param(n)]
    candidates: dict[str, list[str]] = {}
    for n in head:
        shp = tuple(shapes[n])
        if len(shp) >= 1 and shp[0] == num_labels:
            candidates.setdefault(_module_of(n), []).append(n)
    # a module qualifies only if its weight (when present) has num_labels rows
    modules = [
        m
        for m in candidates
        if not (f"{m}.weight" in shapes and tuple(shapes[f"{m}.weight"])[0] != num_labels)
    ]
    if not modules:
        return []
    if len(modules) > 1:
        known = [m for m in modules if m.rsplit(".", 1)[-1] in _OUTPUT_MODULE_NAMES]
        modules = [sorted(known)[-1]] if known else [sorted(modules)[-1]]
    return sorted(candidates[modules[0]])


def id2label_list(config: Mapping[str, Any], where: str) -> list[str]:
    """The label names of a config in id order (``id2label`` keys may be ints or numeric strings)."""
    raw = config.get("id2label")
    if not raw:
        n = config.get("num_labels")
        if n is None:
            raise MergeError(
                f"{where}: config.json has no id2label/num_labels; cannot align classification labels"
            )
        return [f"LABEL_{i}" for i in range(int(n))]
    try:
        items = sorted((int(k), str(v)) for k, v in raw.items())
    except (TypeError, ValueError) as exc:
        raise MergeError(f"{where}: config.json id2label keys must be integers, got {list(raw)[:5]}") from exc
    ids = [i for i, _ in items]
    if ids != list(range(len(ids))):
        raise MergeError(f"{where}: id2label ids must be 0..{len(ids) - 1}, got {ids}")
    names = [v for _, v in items]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise MergeError(f"{where}: id2label has duplicate label names {dup}; labels are aligned by name")
    return names


def config_labels(config: Mapping[str, Any], where: str, has_head: bool) -> list[str]:
    """:func:`id2label_list`, except for a model without a classification head whose config names no labels
    (a language model, e.g. a causal LM with its pretrained LM head): it has none to align, ``[]``."""
    if not has_head and not config.get("id2label") and config.get("num_labels") is None:
        return []
    return id2label_list(config, where)


def label_permutations(
    model_labels: Sequence[Sequence[str]], where: Sequence[str], label_names: Sequence[str] | None
) -> tuple[list[str], list[list[int] | None]]:
    """Output label order and, per model, the row permutation ``perm`` with ``out[j] = model[perm[j]]``
    (``None`` when the model already is in output order).

    Raises :class:`MergeError` when the label *sets* differ.
    """
    out = list(label_names) if label_names is not None else list(model_labels[0])
    if len(set(out)) != len(out):
        raise MergeError(f"label_names has duplicates: {sorted({x for x in out if out.count(x) > 1})}")
    perms: list[list[int] | None] = []
    for labels, w in zip(model_labels, where):
        if set(labels) != set(out):
            missing = sorted(set(out) - set(labels))
            extra = sorted(set(labels) - set(out))
            ref = "label_names" if label_names is not None else f"the first model ({where[0]})"
            raise MergeError(
                f"label set of {w} differs from {ref}: missing {missing[:20]}{'…' if len(missing) > 20 else ''}, "
                f"extra {extra[:20]}{'…' if len(extra) > 20 else ''}. Merge only models trained on the same label "
                "set (labels are aligned by name, their order may differ)."
            )
        pos = {lab: i for i, lab in enumerate(labels)}
        perm = [pos[lab] for lab in out]
        perms.append(None if perm == list(range(len(perm))) else perm)
    return out, perms
