"""Candidate recipes and the grid they come from.

A candidate (a *recipe*) says how to build a model for any target from the other locales' models:

* ``similarity`` — the name of a similarity matrix (dense CSV) the sources are ranked by, or ``fixed:LOCALE``
  for one named source (the single-source candidates of ``target-dev``);
* ``weighting`` / ``temperature`` — how the chosen sources' similarities become weights (``sinkhorn``,
  ``softmax`` with T, ``normalize``; see :mod:`merginguriel.similarity.matrix`);
* ``k`` — how many sources;
* ``mode`` — a merge mode (``similarity`` = weighted linear, ``average``, ``ties``, any engine method),
  an ensemble (``ensemble_{voting}``) or ``single`` (the top-1 source model itself, k = 1);
* ``params`` — the method's parameters, and three that shape the merge request rather than the method
  (:data:`REQUEST_KEYS`): ``layer_weights`` (rule text such as ``"embeddings=top1,lower=top1"``, see
  :mod:`merginguriel.merging.layer_weights`), ``include_target`` (the target's own model joins the sources;
  ``target-dev`` only) and ``target_weight`` (its weight, default 0.5).

A grid expands into candidates with the duplicates removed: ``single`` ignores the weighting, ``average`` and
``ensemble_majority`` ignore the weights, and a k = 1 linear merge or ensemble is the single source itself
(a k = 1 task-vector merge is not: it scales or trims the one task vector).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merginguriel.errors import UserError
from merginguriel.merging.catalogue import ENSEMBLE_PREFIX, CatalogueError, MethodParams, merge_modes
from merginguriel.merging.keys import experiment_key

SINGLE = "single"
FIXED_PREFIX = "fixed:"
WEIGHT_FREE_MODES = ("average", "ensemble_majority", SINGLE)
DEFAULT_MODES: dict[str, list[dict[str, Any]]] = {
    "similarity": [{}],
    "average": [{}],
    "ties": [{"density": 0.3}, {"density": 0.7}],
    "task_arithmetic": [{"lambda_": 0.5}],
    "ensemble_soft": [{}],
    "ensemble_majority": [{}],
}
REQUEST_KEYS = ("layer_weights", "include_target", "target_weight")  # grid params that are not the method's
DEFAULT_WEIGHTINGS: tuple[tuple[str, float], ...] = (("sinkhorn", 1.0), ("softmax", 0.05))
DEFAULT_KS = (1, 3, 5)


class GridError(UserError):
    """A candidate grid that cannot be used (unknown mode or parameter, empty, malformed file)."""


@dataclass(frozen=True)
class Candidate:
    similarity: str
    k: int
    mode: str
    weighting: str = "sinkhorn"
    temperature: float = 1.0
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def is_ensemble(self) -> bool:
        return self.mode.startswith(ENSEMBLE_PREFIX)

    @property
    def method_params(self) -> dict[str, Any]:
        """The method's own parameters (``params`` without :data:`REQUEST_KEYS`)."""
        return {k: v for k, v in self.params if k not in REQUEST_KEYS}

    @property
    def request_params(self) -> dict[str, Any]:
        """The :data:`REQUEST_KEYS` this candidate sets."""
        return {k: v for k, v in self.params if k in REQUEST_KEYS}

    @property
    def includes_target(self) -> bool:
        return bool(self.request_params.get("include_target"))

    @property
    def reads_target(self) -> bool:
        """Whether building it for a target reads the target's own model (``include_target``) or its texts
        (``adamerging`` learns its coefficients on them): it fits only protocols that may read those."""
        from merginguriel.merging.catalogue import engine_method, statistic_of

        return self.includes_target or (
            not self.is_ensemble
            and self.mode != SINGLE
            and statistic_of(engine_method(self.mode)) == "coefficients"
        )

    @property
    def fixed_source(self) -> str | None:
        return self.similarity[len(FIXED_PREFIX) :] if self.similarity.startswith(FIXED_PREFIX) else None

    @property
    def label(self) -> str:
        params = ",".join(f"{k.rstrip('_')}={v}" for k, v in self.params)
        mode = f"{self.mode}({params})" if params else self.mode
        if self.fixed_source:
            return f"single {self.fixed_source}"
        weights = (
            ""
            if self.mode in WEIGHT_FREE_MODES
            else f" {self.weighting}" + (f" T={self.temperature:g}" if self.weighting == "softmax" else "")
        )
        return f"{mode} K={self.k} by {self.similarity}{weights}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "k": self.k,
            "mode": self.mode,
            "weighting": self.weighting,
            "temperature": self.temperature,
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(
            similarity=str(data["similarity"]),
            k=int(data["k"]),
            mode=str(data["mode"]),
            weighting=str(data.get("weighting", "sinkhorn")),
            temperature=float(data.get("temperature", 1.0)),
            params=tuple(sorted(dict(data.get("params") or {}).items())),
        )

    @property
    def key(self) -> str:
        return experiment_key(self.to_dict())


def single(similarity: str) -> Candidate:
    """The top-1 source by ``similarity`` (or the named source for ``fixed:LOCALE``) on its own."""
    return Candidate(similarity, 1, SINGLE)


def fixed_single(locale: str) -> Candidate:
    return single(f"{FIXED_PREFIX}{locale}")


def seed_default(similarity: str, k: int = 5) -> Candidate:
    """The seed toolkit's default recipe: similarity mode (Sinkhorn weights, linear merge), K = 5."""
    return Candidate(similarity, k, "similarity")


@dataclass(frozen=True)
class Grid:
    """A candidate grid: similarity names × weightings × K × modes with parameter sets."""

    similarities: tuple[str, ...]
    weightings: tuple[tuple[str, float], ...] = DEFAULT_WEIGHTINGS
    ks: tuple[int, ...] = DEFAULT_KS
    modes: tuple[tuple[str, tuple[tuple[tuple[str, Any], ...], ...]], ...] = field(
        default_factory=lambda: _modes(DEFAULT_MODES)
    )

    def candidates(self) -> list[Candidate]:
        """Every distinct candidate, in grid order (the order breaks ties between equal scores)."""
        out: dict[Candidate, None] = {}
        for sim in self.similarities:
            for k in self.ks:
                for mode, param_sets in self.modes:
                    for params in param_sets:
                        for weighting, temperature in self.weightings:
                            out.setdefault(
                                _canonical(Candidate(sim, k, mode, weighting, temperature, params)), None
                            )
        return list(out)


def _canonical(c: Candidate) -> Candidate:
    if c.k == 1 and (c.is_ensemble or c.mode in ("similarity", "average")) and not c.includes_target:
        # one model: the source itself
        return single(c.similarity)
    if c.mode in WEIGHT_FREE_MODES or c.k == 1:  # one source has weight 1 whatever the weighting
        return Candidate(c.similarity, c.k, c.mode, "sinkhorn", 1.0, c.params)
    if c.weighting != "softmax":
        return Candidate(c.similarity, c.k, c.mode, c.weighting, 1.0, c.params)
    return c


def _modes(spec: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple:
    return tuple((mode, tuple(tuple(sorted(p.items())) for p in sets)) for mode, sets in spec.items())


def _check_modes(modes: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    from merginguriel.merging.ensemble import VOTING_METHODS

    known = {**merge_modes(), **{f"{ENSEMBLE_PREFIX}{v}": "" for v in VOTING_METHODS}, SINGLE: ""}
    for mode, sets in modes.items():
        if mode not in known or mode in ("uriel", "manual", "linear"):
            raise GridError(
                f"Grid mode {mode!r} is not a merge mode, ensemble or 'single' (see merge --list-modes)."
            )
        if not sets:
            raise GridError(f"Grid mode {mode!r} has no parameter sets; give [{{}}] for the defaults.")
        for params in sets:
            method = {k: v for k, v in params.items() if k not in REQUEST_KEYS}
            request = {k: v for k, v in params.items() if k in REQUEST_KEYS}
            _check_request_params(mode, request)
            if mode.startswith(ENSEMBLE_PREFIX) or mode == SINGLE:
                if method or (mode == SINGLE and request):
                    raise GridError(f"Grid mode {mode!r} takes no parameters (got {dict(params)}).")
                continue
            try:
                MethodParams.parse([], method).for_mode(mode, strict=True)
            except CatalogueError as exc:
                raise GridError(f"Grid mode {mode!r}: {exc}") from None


def _check_request_params(mode: str, params: Mapping[str, Any]) -> None:
    """``layer_weights`` is rule text (no file, no mapping: a candidate is hashable and fits every target),
    ``include_target`` a boolean, ``target_weight`` in (0, 1) and only with ``include_target``."""
    from merginguriel.merging.layer_weights import LayerWeights, LayerWeightsError

    if "layer_weights" in params:
        spec = params["layer_weights"]
        if mode.startswith(ENSEMBLE_PREFIX) or not isinstance(spec, str) or spec.strip().endswith(".json"):
            raise GridError(
                f"Grid mode {mode!r}: layer_weights must be rule text for a merge mode (e.g. "
                f'"embeddings=top1,lower=top1"), got {spec!r}.'
            )
        try:
            LayerWeights.parse(spec)
        except LayerWeightsError as exc:
            raise GridError(f"Grid mode {mode!r}: {exc}") from None
    if "include_target" in params and not isinstance(params["include_target"], bool):
        raise GridError(f"Grid mode {mode!r}: include_target must be true or false.")
    if "target_weight" in params:
        w = params["target_weight"]
        if not params.get("include_target"):
            raise GridError(f"Grid mode {mode!r}: target_weight needs include_target: true.")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w < 1:
            raise GridError(f"Grid mode {mode!r}: target_weight must be a number in (0, 1), got {w!r}.")


def _weightings(items: Iterable[Any]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in items:
        if isinstance(item, str):
            name, _, temp = item.partition(":")
            out.append((name, float(temp) if temp else 1.0))
        else:
            out.append((str(item[0]), float(item[1])))
    for name, temp in out:
        if name not in ("sinkhorn", "softmax", "normalize") or temp <= 0:
            raise GridError(f"Grid weighting {name}:{temp} is not sinkhorn, softmax:T (T > 0) or normalize.")
    return tuple(out)


def build_grid(similarities: Sequence[str], spec: Mapping[str, Any] | None = None) -> Grid:
    """The grid over ``similarities`` (names of the available matrices), with ``spec`` (a user grid) replacing
    the default weightings, K values and modes it names. Every entry is checked."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - {"similarity", "weighting", "k", "modes"})
    if unknown:
        raise GridError(f"Grid keys {unknown} are not similarity, weighting, k or modes.")
    sims = list(spec.get("similarity") or similarities)
    missing = [s for s in sims if s not in similarities]
    if missing:
        raise GridError(
            f"Grid similarity {missing} not given; available: {', '.join(similarities) or 'none'}."
        )
    ks = tuple(int(k) for k in spec.get("k", DEFAULT_KS))
    if not ks or min(ks) < 1:
        raise GridError(f"Grid k must be a non-empty list of integers >= 1 (got {list(ks)}).")
    modes = spec.get("modes", DEFAULT_MODES)
    if isinstance(modes, list):
        modes = {m: [{}] for m in modes}
    if not sims or not modes:
        raise GridError("The grid is empty: give at least one similarity matrix and one mode.")
    _check_modes(modes)
    weightings = _weightings(spec.get("weighting", DEFAULT_WEIGHTINGS))
    if not weightings:
        raise GridError("Grid weighting is empty; give e.g. [sinkhorn].")
    return Grid(tuple(sims), weightings, ks, _modes(modes))


def read_grid(path: str | Path) -> dict[str, Any]:
    """A user grid from a JSON or YAML file (keys: similarity, weighting, k, modes)."""
    path = Path(path)
    if not path.is_file():
        raise GridError(f"Grid file {path} not found.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the same user error
        raise GridError(
            f"Grid file {path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise GridError(f"Grid file {path} must hold a mapping (similarity / weighting / k / modes).")
    return data


__all__ = [
    "FIXED_PREFIX",
    "SINGLE",
    "Candidate",
    "Grid",
    "GridError",
    "build_grid",
    "fixed_single",
    "read_grid",
    "seed_default",
    "single",
]
