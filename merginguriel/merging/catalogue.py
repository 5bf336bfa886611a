"""The catalogue of what the toolkit can run: merge modes, sweep modes, presets, and merge-method parameters
(taken from the engine's own parameter schema, the keyword-only arguments of each registered method).

Modes of the merge pipeline:

* ``similarity`` — top-K sources by similarity, similarity weights, linear merge;
* ``average`` — the same sources (or ``--source-locales``), equal weights, linear merge;
* ``uriel`` — the sources you name (``--source-locales``), weights from the similarity matrix, linear merge;
* ``manual`` / ``linear`` — sources and weights you give (``--weights de-DE=0.5,nl-NL=0.5``), linear merge;
* any registered ``auto_merge_llm`` method (``ties``, ``dare``, ``fisher``, …) — sources chosen as for
  ``similarity`` (or by ``--source-locales`` / ``--weights``), weights passed to that method;
  ``fisher_dataset`` is the seed's name for ``fisher`` with dataset Fisher statistics.

A sweep adds ``baseline`` (the target's own model) and ``ensemble_{voting}``.

Method parameters: ``K=V`` applies to every mode whose method takes ``K``; ``MODE.K=V`` (e.g. ``ties.density=0.3``)
only to that mode. A single merge is strict (its method must take every parameter given); a sweep applies each
parameter to the modes that have it and refuses one that no mode of the sweep takes.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from merginguriel.errors import UserError
from merginguriel.similarity.selection import PREWEIGHTS

LINEAR_MODES = ("similarity", "average", "uriel", "manual", "linear")
MODE_ALIASES = {"fisher_dataset": "fisher"}
MODE_HELP = {
    "similarity": "top-K sources by URIEL similarity, similarity weights, linear merge",
    "average": "the same sources, equal weights, linear merge",
    "uriel": "sources named by --source-locales, weights from the similarity matrix, linear merge",
    "manual": "sources and weights from --weights LOCALE=W,..., linear merge",
    "linear": "alias of manual",
}
UNSWEEPABLE = ("uriel", "manual", "linear")  # need per-target sources/weights from the user
BASELINE = "baseline"
ENSEMBLE_PREFIX = "ensemble_"
# the ensembles' voting rules (merginguriel.merging.ensemble), named here so the sweep modes can list them
VOTING_METHODS: tuple[str, ...] = ("majority", "weighted_majority", "soft", "uriel_logits")

# --preset: defaults for several options at once; options given explicitly win. One key set everywhere.
PRESETS: dict[str, dict[str, str]] = {
    "fairness": {"fisher_data": "sources", "preweight": "equal"},
    "target": {"fisher_data": "target", "preweight": "uriel"},
}
PRESET_HELP = {
    "fairness": "sources-only Fisher data, equal pre-weights",
    "target": "target-only Fisher data, URIEL pre-weights",
}


class CatalogueError(UserError):
    """A mode, preset or method parameter the toolkit does not have."""


def engine_method(mode: str) -> str:
    """The ``auto_merge_llm`` method a pipeline mode runs."""
    return "linear" if mode in LINEAR_MODES else MODE_ALIASES.get(mode, mode)


def statistic_of(method: str) -> str | None:
    """The statistic an engine method needs, read from its registration: ``"gram"`` (Gram matrices of each
    linear layer's inputs, ``statistics_kind="gram"``), ``"progressive_gram"`` (the same through the merge
    model, for all sources together: RegMean++), ``"coefficients"`` (merging coefficients learned for
    all sources together on the target's unlabeled texts, ``adamerging``), ``"fisher"`` (a per-parameter Fisher
    diagonal) or None (also for a method this installation does not have: running it fails later with the
    engine's error)."""
    from auto_merge_llm import list_methods

    info = next((m for m in list_methods() if m.name == method), None)
    if info is None or not info.needs_statistics:
        return None
    return (
        info.statistics_kind
        if info.statistics_kind in ("gram", "progressive_gram", "coefficients")
        else "fisher"
    )


def needs_statistics(method: str) -> bool:
    return statistic_of(method) is not None


def merge_modes() -> dict[str, str]:
    """Pipeline modes and one-line descriptions: the linear modes plus every auto_merge_llm method."""
    from auto_merge_llm import list_methods

    modes = dict(MODE_HELP)
    for info in list_methods():
        if info.name not in modes:
            params = ", ".join(f"{p.name}={p.default}" for p in info.parameters)
            modes[info.name] = info.description + (f" [{params}]" if params else "")
    for alias, method in MODE_ALIASES.items():
        modes[alias] = f"alias of {method} (Fisher statistics from --dataset-name)"
    return modes


def sweepable_merge_modes() -> dict[str, str]:
    return {m: d for m, d in merge_modes().items() if m not in UNSWEEPABLE}


def sweep_modes() -> dict[str, str]:
    """Every sweep mode with a one-line description."""
    modes = {BASELINE: "the target's own model evaluated on the target (native score)"}
    modes.update(sweepable_merge_modes())
    for voting in VOTING_METHODS:
        modes[f"{ENSEMBLE_PREFIX}{voting}"] = f"ensemble of the selected sources, voting {voting}"
    return modes


def check_mode(mode: str, modes: Mapping[str, str], flag: str = "--mode") -> str:
    """``mode`` if it is in ``modes``, else one error with a close match and the list."""
    if mode in modes:
        return mode
    close = difflib.get_close_matches(mode, list(modes), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise CatalogueError(f"Unknown {flag} {mode!r}.{hint} Modes: {', '.join(modes)} (see --list-modes).")


def resolve_preset(
    preset: str | None, fisher_data: str | None = None, preweight: str | None = None
) -> dict[str, Any]:
    """``{preset, fisher_data, preweight}``: the preset's values, each overridden by the explicit option."""
    if preset is not None and preset not in PRESETS:
        raise CatalogueError(f"Unknown --preset {preset!r}; choose from {', '.join(PRESETS)}.")
    values: dict[str, Any] = dict(PRESETS.get(preset or "", {}))
    if fisher_data is not None:
        values["fisher_data"] = fisher_data
    if preweight is not None:
        values["preweight"] = preweight
    values.setdefault("fisher_data", None)
    values.setdefault("preweight", "uriel")
    if values["preweight"] not in PREWEIGHTS:
        raise CatalogueError(
            f"--preweight must be one of {', '.join(PREWEIGHTS)}, not {values['preweight']!r}."
        )
    return {"preset": preset, **values}


# ------------------------------------------------------------------------------------- method parameters


@dataclass(frozen=True)
class MethodParameter:
    """One merge-method parameter as the command line sees it: every method that takes it, its flag."""

    name: str
    annotation: Any
    methods: tuple[str, ...]
    defaults: tuple[Any, ...]
    choices: tuple[Any, ...] | None

    @property
    def flag(self) -> str:
        return "--" + self.name.rstrip("_").replace("_", "-")


@functools.lru_cache(maxsize=1)
def method_parameters() -> dict[str, MethodParameter]:
    """The union of every registered method's parameters, by name (one flag per name)."""
    from auto_merge_llm import list_methods

    found: dict[str, dict[str, Any]] = {}
    for info in list_methods():
        for spec in info.parameters:
            entry = found.setdefault(
                spec.name,
                {
                    "annotation": info.annotations[spec.name],
                    "methods": [],
                    "defaults": [],
                    "choices": spec.choices,
                },
            )
            entry["methods"].append(info.name)
            entry["defaults"].append(spec.default)
    return {
        name: MethodParameter(name, e["annotation"], tuple(e["methods"]), tuple(e["defaults"]), e["choices"])
        for name, e in sorted(found.items())
    }


def parameter_name(key: str) -> str:
    """The engine's name of a parameter as users type it: ``lambda`` → ``lambda_``, ``drop-rate`` → ``drop_rate``."""
    name = key.strip().replace("-", "_")
    known = method_parameters()
    if name not in known and f"{name}_" in known:
        return f"{name}_"
    return name


def accepted_parameters(mode: str) -> set[str]:
    from auto_merge_llm import get_method

    return {p.name for p in get_method(engine_method(mode)).parameters}


def check_ranges(method: str, params: Mapping[str, Any]) -> None:
    """Every value within its range and of its type, as the engine's schema says (before any work, not when
    the engine reaches the method)."""
    from auto_merge_llm import MergeError, get_method
    from auto_merge_llm.registry import resolve_params

    try:
        resolve_params(get_method(method), params)
    except MergeError as exc:
        raise CatalogueError(str(exc)) from None


def parse_value(text: str) -> Any:
    """A parameter value from the command line: JSON when it parses (numbers, booleans, lists), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class MethodParams:
    """Method parameters given to a run: ``common`` apply to every mode that takes them, ``scoped[mode]`` to
    that mode only (``--method-param ties.density=0.3``)."""

    common: Mapping[str, Any] = field(default_factory=dict)
    scoped: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Iterable[str], common: Mapping[str, Any] | None = None) -> MethodParams:
        """From ``KEY=VALUE`` / ``MODE.KEY=VALUE`` items (values parsed as JSON when possible)."""
        base: dict[str, Any] = dict(common or {})
        scoped: dict[str, dict[str, Any]] = {}
        for item in items:
            if "=" not in item:
                raise CatalogueError(f"--method-param {item!r} is not KEY=VALUE or MODE.KEY=VALUE.")
            key, value = (part.strip() for part in item.split("=", 1))
            if "." in key:
                mode, key = key.split(".", 1)
                scoped.setdefault(mode, {})[parameter_name(key)] = parse_value(value)
            else:
                base[parameter_name(key)] = parse_value(value)
        return cls(base, scoped)

    def merged(self, other: MethodParams) -> MethodParams:
        scoped = {m: dict(p) for m, p in self.scoped.items()}
        for mode, params in other.scoped.items():
            scoped.setdefault(mode, {}).update(params)
        return MethodParams({**self.common, **other.common}, scoped)

    def for_mode(self, mode: str, strict: bool = True) -> dict[str, Any]:
        """The parameters of ``mode``'s method. ``strict``: every common parameter must be one the method takes
        (a single merge) and no parameter may be scoped to another mode; otherwise common parameters the method
        does not take are left out (a sweep). A scoped parameter the mode's method does not take is always an
        error."""
        accepted = accepted_parameters(mode)
        method = engine_method(mode)
        unknown_scoped = sorted(set(self.scoped.get(mode, {})) - accepted)
        unknown_common = sorted(set(self.common) - accepted) if strict else []
        if unknown_scoped or unknown_common:
            names = ", ".join(unknown_scoped + unknown_common)
            raise CatalogueError(
                f"Method {method} does not take {names}; it takes: {', '.join(sorted(accepted)) or 'no parameters'}."
            )
        others = sorted(m for m in self.scoped if m != mode) if strict else []
        if others:
            raise CatalogueError(
                f"Parameters scoped to {', '.join(others)} (--method-param MODE.KEY=… or a --MODE-KEY flag) do not "
                f"apply to --mode {mode}; scope them to {mode} or leave them out."
            )
        params = {k: v for k, v in self.common.items() if k in accepted}
        params.update(self.scoped.get(mode, {}))
        check_ranges(method, params)
        return params

    def check_sweep(self, modes: Sequence[str]) -> None:
        """Every parameter must apply to at least one mode of the sweep; scoped ones to a mode of the sweep."""
        available = sweepable_merge_modes()
        merge = [m for m in modes if m in available]
        for mode in self.scoped:
            if mode not in merge:
                raise CatalogueError(
                    f"--method-param {mode}.…: {mode!r} is not a merge mode of this sweep ({', '.join(merge) or 'none'})."
                )
            self.for_mode(mode, strict=False)
        taken = set().union(*(accepted_parameters(m) for m in merge)) if merge else set()
        unused = sorted(set(self.common) - taken)
        if unused:
            raise CatalogueError(
                f"No merge mode of this sweep ({', '.join(merge) or 'none'}) takes {', '.join(unused)}; "
                "check the spelling or scope it as MODE.KEY=VALUE."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"common": dict(self.common), "scoped": {m: dict(p) for m, p in self.scoped.items()}}


__all__ = [
    "BASELINE",
    "ENSEMBLE_PREFIX",
    "LINEAR_MODES",
    "MODE_ALIASES",
    "PRESETS",
    "PRESET_HELP",
    "VOTING_METHODS",
    "UNSWEEPABLE",
    "CatalogueError",
    "MethodParameter",
    "MethodParams",
    "check_mode",
    "engine_method",
    "merge_modes",
    "method_parameters",
    "needs_statistics",
    "resolve_preset",
    "statistic_of",
    "sweep_modes",
    "sweepable_merge_modes",
]
