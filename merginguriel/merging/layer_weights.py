"""Layer weights: separate source weights for the embeddings, the lower blocks, the upper blocks and the head.

A merge weights its K sources by one vector (from similarity, or given). Layer weights replace it for a layer
group (:mod:`auto_merge_llm.layers`: ``embeddings``, ``lower`` = blocks 0 … ⌈L/2⌉ − 1, ``upper`` = the other
blocks and the final norm, ``head`` = the classification head). Each group's weights come from a *rule*, so
that one specification fits every target, or from explicit locale weights:

* ``similarity`` — the merge's own source weights (the default of every group not named);
* ``uniform`` — 1/K each;
* ``top1`` — everything on the first source (the most similar; the target itself with ``--include-target``);
* ``{"de-DE": 0.7, "nl-NL": 0.3}`` (in a JSON file) — these locales' weights, 0 for the other sources.

On the command line: ``--layer-weights embeddings=top1,lower=top1,head=uniform`` or ``--layer-weights
FILE.json`` (``{"embeddings": "top1", "lower": {"de-DE": 1.0}}``). Every group is weighted by the same method
(linear, TIES, …); the engine applies the group's weights to each of its tensors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merginguriel.data.locales import validate_locale
from merginguriel.errors import UserError

RULES: tuple[str, ...] = ("similarity", "uniform", "top1")


class LayerWeightsError(UserError):
    """A ``--layer-weights`` specification that cannot be used."""


@dataclass(frozen=True)
class LayerWeights:
    """Per layer group, a rule name or explicit ``(locale, weight)`` pairs; groups not named use the merge's
    weights."""

    groups: tuple[tuple[str, str | tuple[tuple[str, float], ...]], ...] = ()

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | None) -> LayerWeights | None:
        """From rule text (``lower=top1,head=uniform``), a JSON file path, or a mapping; None for nothing."""
        if spec is None or (isinstance(spec, str) and not spec.strip()):
            return None
        if isinstance(spec, str):
            text = spec.strip()
            if text.endswith(".json") or Path(text).is_file():
                return cls.parse(_read_file(Path(text)))
            items: dict[str, Any] = {}
            for item in (p.strip() for p in text.split(",") if p.strip()):
                group, sep, rule = item.partition("=")
                if not sep:
                    raise LayerWeightsError(
                        f"--layer-weights item {item!r} is not GROUP=RULE (e.g. --layer-weights "
                        "embeddings=top1,lower=top1,head=uniform)."
                    )
                if group.strip() in items:
                    raise LayerWeightsError(f"--layer-weights names the group {group.strip()!r} twice.")
                items[group.strip()] = rule.strip()
            return cls.parse(items)
        from auto_merge_llm.layers import LAYER_GROUPS

        out = []
        for group, value in spec.items():
            if group not in LAYER_GROUPS:
                raise LayerWeightsError(
                    f"--layer-weights: unknown layer group {group!r}; the groups are {', '.join(LAYER_GROUPS)}."
                )
            out.append((group, _value(group, value)))
        return cls(tuple(sorted(out))) if out else None

    def text(self) -> str:
        """The specification as one line (rules as names, explicit weights as ``{locale:w …}``)."""
        parts = []
        for group, value in self.groups:
            shown = value if isinstance(value, str) else "{" + " ".join(f"{k}:{w:g}" for k, w in value) + "}"
            parts.append(f"{group}={shown}")
        return ",".join(parts)

    def resolve(self, locales: Sequence[str], weights: Sequence[float]) -> dict[str, list[float]]:
        """Per named group, the K weights for sources ``locales`` (whose own weights are ``weights``)."""
        out: dict[str, list[float]] = {}
        k = len(locales)
        for group, value in self.groups:
            if value == "similarity":
                out[group] = [float(w) for w in weights]
            elif value == "uniform":
                out[group] = [1.0 / k] * k
            elif value == "top1":
                out[group] = [1.0 if i == 0 else 0.0 for i in range(k)]
            else:
                given = dict(value)
                unknown = sorted(set(given) - set(locales))
                if unknown:
                    raise LayerWeightsError(
                        f"--layer-weights group {group!r} names {unknown}, which are not among this merge's "
                        f"sources {list(locales)}; name only sources (or use a rule: {', '.join(RULES)})."
                    )
                out[group] = [given.get(loc, 0.0) for loc in locales]
                if sum(out[group]) <= 0:
                    raise LayerWeightsError(f"--layer-weights group {group!r}: the weights are all zero.")
        return out


def _value(group: str, value: Any) -> str | tuple[tuple[str, float], ...]:
    if isinstance(value, str):
        if value not in RULES:
            raise LayerWeightsError(
                f"--layer-weights {group}={value!r}: the rule must be one of {', '.join(RULES)} (or, in a "
                "JSON file, a mapping LOCALE: WEIGHT)."
            )
        return value
    if isinstance(value, Mapping) and value:
        pairs = []
        for loc, w in value.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise LayerWeightsError(
                    f"--layer-weights group {group!r}: the weight of {loc} must be a finite number >= 0, not {w!r}."
                )
            pairs.append((validate_locale(str(loc)), float(w)))
        return tuple(sorted(pairs))
    raise LayerWeightsError(
        f"--layer-weights group {group!r}: give a rule ({', '.join(RULES)}) or a non-empty mapping LOCALE: WEIGHT."
    )


def _read_file(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise LayerWeightsError(f"--layer-weights file {path} not found.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LayerWeightsError(f"--layer-weights file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LayerWeightsError(
            f"--layer-weights file {path} must hold a mapping GROUP: RULE or GROUP: {{LOCALE: W}}."
        )
    return data


__all__ = ["RULES", "LayerWeights", "LayerWeightsError"]
