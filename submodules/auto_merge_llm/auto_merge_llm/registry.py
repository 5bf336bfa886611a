"""Registry of merge methods.

Every method is one small function ``fn(ctx: TensorContext, *, p1: T1 = d1, ...) -> Tensor``.
The keyword-only parameters of the function *are* its parameter schema (mergekit style): their names,
annotations and defaults are what :func:`list_methods` reports and what ``method_params`` is validated
against. The docstring of each method carries its formula and paper reference (fusion_bench style).

``fn`` sees every model's whole tensor at once (:class:`TensorContext`). A method may also declare how it can
be computed with less memory, with ``register_method(..., streamed=factory)``: ``factory(ctx: StreamContext,
**params)`` returns, for one parameter,

* an :class:`Accumulator` — the engine feeds it the models' whole tensors one at a time, in model order
  (elementwise-accumulable methods: ``linear``, ``task_arithmetic``, DARE + task arithmetic, breadcrumbs), so
  memory does not grow with K;
* a :class:`RowMerger` — the engine first shows it each model's whole tensor once (:meth:`RowMerger.prepare`,
  for per-model quantities such as TIES' magnitude cut-off), then calls :meth:`RowMerger.rows` on row ranges
  of all K tensors (methods elementwise across models: ``ties``, DARE + TIES), so only row chunks of the K
  tensors are alive;
* or ``None`` — no streamed form for these parameters: the engine calls ``fn`` on whole tensors.

A streamed form must give bitwise the result of ``fn`` on the whole tensors (the tests check each one).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import torch

from .errors import MergeError

MethodFn = Callable[..., torch.Tensor]


@dataclass
class TensorContext:
    """Everything a method sees for one parameter.

    Attributes:
        name: parameter name (as in the first fine-tuned model).
        tensors: the K fine-tuned values, float32, on the compute device, label rows already aligned.
        weights: the weights actually used (normalised when ``normalize_weights`` is true).
        base: the pretrained value (float32, same device) or ``None`` when the method needs no base or the
            parameter has no pretrained counterpart.
        stats: per-model statistic for this parameter (Fisher diagonal or Gram matrix) or ``None``.
        seed: the run's seed.
        model_indices: index of each tensor's model in the caller's ``model_paths``.
        statistics: the full per-model statistics mappings (for methods that need global quantities).
        run_cache: a dict shared by every call of one merge run (for global quantities computed once).
        num_layers: the number of transformer blocks of the models (:mod:`auto_merge_llm.layers`; 0 unknown).
    """

    name: str
    tensors: list[torch.Tensor]
    weights: list[float]
    base: torch.Tensor | None = None
    stats: list[torch.Tensor | None] | None = None
    seed: int = 0
    model_indices: list[int] = field(default_factory=list)
    statistics: Sequence[Mapping[str, torch.Tensor]] | None = None
    run_cache: dict[str, Any] = field(default_factory=dict)
    num_layers: int = 0

    def __post_init__(self) -> None:
        if not self.model_indices:
            self.model_indices = list(range(len(self.tensors)))

    def weight_tensor(self) -> torch.Tensor:
        """Weights as a float32 tensor on the device of the tensors, shaped for broadcasting over a stack."""
        ref = self.tensors[0]
        return torch.tensor(self.weights, dtype=torch.float32, device=ref.device).view(-1, *([1] * ref.dim()))

    def task_vectors(self) -> list[torch.Tensor]:
        """τᵢ = θᵢ − θ₀ (requires a base value)."""
        if self.base is None:
            raise MergeError(f"parameter {self.name!r} has no pretrained value; task vectors are undefined")
        return [t - self.base for t in self.tensors]


@dataclass
class StreamContext:
    """What a streamed method sees for one parameter before any model tensor is read.

    Attributes:
        name: parameter name (as in the first fine-tuned model).
        shape: the parameter's shape.
        weights: the weights actually used (normalised when ``normalize_weights`` is true).
        base: the pretrained value (float32, on the compute device) or ``None``.
        seed: the run's seed.
        model_indices: index of each model in the caller's ``model_paths``.
        device: the compute device.
        num_layers: the number of transformer blocks of the models (:mod:`auto_merge_llm.layers`; 0 unknown).
    """

    name: str
    shape: tuple[int, ...]
    weights: list[float]
    base: torch.Tensor | None = None
    seed: int = 0
    model_indices: list[int] = field(default_factory=list)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    num_layers: int = 0

    def weight_tensor(self, dim: int) -> torch.Tensor:
        """Weights as float32 on the device, shaped (K, 1, …, 1) to broadcast over a stack of ``dim``-D tensors
        (the same tensor :meth:`TensorContext.weight_tensor` gives for ``dim``-D tensors)."""
        return torch.tensor(self.weights, dtype=torch.float32, device=self.device).view(-1, *([1] * dim))


class Accumulator:
    """Streamed form of an elementwise-accumulable method, for one parameter.

    The engine calls :meth:`add` once per model, in model order, with that model's whole tensor (float32, on
    the compute device), then :meth:`result`. ``owned = True`` means ``add`` may modify its argument in place
    (the engine then passes a private copy); otherwise the argument may be a read-only memory-mapped view.
    ``propagates_nonfinite = True`` promises that any NaN/Inf in an input (or the base) makes the result
    non-finite, so the engine checks only the result and scans the inputs only to name the culprit; otherwise
    the engine checks every input before it is added.
    """

    owned: ClassVar[bool] = False
    propagates_nonfinite: ClassVar[bool] = False

    def add(self, i: int, x: torch.Tensor) -> None:
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        raise NotImplementedError


class RowMerger:
    """Streamed form of a method that is elementwise across models but needs all K values of an entry.

    If ``prepares`` is true the engine first calls :meth:`prepare` once per model with its whole tensor (float32,
    owned, on the device), one model at a time, for per-model quantities (e.g. a magnitude cut-off). It then
    calls :meth:`rows` for consecutive row ranges ``[start, stop)`` of the first dimension, in order, with the K
    models' rows (owned) and the base's rows (or ``None``), and assembles the returned rows; :meth:`finish` may
    adjust the assembled result once at the end (e.g. for a decision that needs the whole tensor). The engine
    only streams finite inputs (it checks each one).
    """

    prepares: ClassVar[bool] = False

    def prepare(self, i: int, x: torch.Tensor) -> None:
        raise NotImplementedError

    def rows(self, start: int, stop: int, xs: list[torch.Tensor], base: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def finish(self, out: torch.Tensor) -> torch.Tensor:
        return out


StreamedFactory = Callable[..., Accumulator | RowMerger | None]


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter: name, annotation (as text), default, and allowed range/choices."""

    name: str
    type: str
    default: Any
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class MethodInfo:
    """Public description of a registered method."""

    name: str
    description: str
    parameters: tuple[ParamSpec, ...]
    needs_base: bool
    needs_statistics: bool
    fn: MethodFn = dataclasses.field(repr=False, compare=False)
    default_head_merge: str | None = None
    min_models: int = 1
    check: Callable[[Mapping[str, Any]], None] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    annotations: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    statistics_kind: str = "per_parameter"
    streamed: StreamedFactory | None = dataclasses.field(default=None, repr=False, compare=False)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [dataclasses.asdict(p) for p in self.parameters],
            "needs_base": self.needs_base,
            "needs_statistics": self.needs_statistics,
        }


_REGISTRY: dict[str, MethodInfo] = {}


def _type_text(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def register_method(
    name: str,
    *,
    description: str,
    needs_base: bool = False,
    needs_statistics: bool = False,
    ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
    default_head_merge: str | None = None,
    min_models: int = 1,
    check: Callable[[Mapping[str, Any]], None] | None = None,
    statistics_kind: Literal["per_parameter", "gram", "progressive_gram", "coefficients"] = "per_parameter",
    streamed: StreamedFactory | None = None,
) -> Callable[[MethodFn], MethodFn]:
    """Decorator registering ``fn`` under ``name``.

    ``ranges`` maps a parameter name to its inclusive (min, max); ``check`` receives the resolved parameters and
    raises :class:`MergeError` for constraints a range cannot express; ``default_head_merge`` replaces the
    default head policy ``"linear"`` for this method; ``statistics_kind`` says what a per-model statistic is:
    ``"per_parameter"`` (same shape as the parameter, e.g. a Fisher diagonal: its label rows are permuted with
    the parameter's), ``"gram"`` (an in×in input Gram matrix of a linear layer: never permuted, its axes are
    input features, not labels), ``"progressive_gram"`` (Gram matrices computed through the merge model, all
    models together: RegMean++) or ``"coefficients"`` (a 0-d merging coefficient per parameter, learned jointly
    for all models, e.g. AdaMerging's); ``streamed`` is the optional low-memory form (see the module docstring).
    """

    def decorator(fn: MethodFn) -> MethodFn:
        if name in _REGISTRY:
            raise RuntimeError(f"merge method {name!r} registered twice")
        hints = typing.get_type_hints(fn)
        sig = inspect.signature(fn)
        specs = []
        annotations = {}
        for p in sig.parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            if p.default is inspect.Parameter.empty:
                raise RuntimeError(f"method {name!r}: parameter {p.name!r} needs a default")
            ann = hints.get(p.name, Any)
            annotations[p.name] = ann
            choices = tuple(get_args(ann)) if get_origin(ann) is Literal else None
            lo, hi = (ranges or {}).get(p.name, (None, None))
            specs.append(ParamSpec(p.name, _type_text(ann), p.default, choices, lo, hi))
        _REGISTRY[name] = MethodInfo(
            name=name,
            description=description,
            parameters=tuple(specs),
            needs_base=needs_base,
            needs_statistics=needs_statistics,
            fn=fn,
            default_head_merge=default_head_merge,
            min_models=min_models,
            check=check,
            annotations=annotations,
            statistics_kind=statistics_kind,
            streamed=streamed,
        )
        return fn

    return decorator


def _ensure_loaded() -> None:
    from . import methods  # noqa: F401  (importing registers every method)


def list_methods() -> list[MethodInfo]:
    """All registered methods, sorted by name."""
    _ensure_loaded()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_method(name: str) -> MethodInfo:
    """The method registered as ``name``; unknown names raise :class:`MergeError` with a close-match hint."""
    _ensure_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise MergeError(
        f"unknown merge method {name!r}.{hint} Registered methods: {', '.join(sorted(_REGISTRY))}."
    )


def _coerce(method: str, pname: str, value: Any, ann: Any) -> Any:
    origin = get_origin(ann)
    if origin in (Union, types.UnionType):
        options = get_args(ann)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _coerce(method, pname, value, opt)
            except MergeError as exc:
                errors.append(str(exc))
        raise MergeError(f"method {method!r}: parameter {pname!r} must be {_type_text(ann)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(ann):
            raise MergeError(
                f"method {method!r}: parameter {pname!r} must be one of {list(get_args(ann))}, got {value!r}"
            )
        return value
    bad = MergeError(f"method {method!r}: parameter {pname!r} must be {_type_text(ann)}, got {value!r}")
    if ann is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if ann is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise bad
        return float(value)
    if ann is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return int(value)
    if ann is str:
        if not isinstance(value, str):
            raise bad
        return value
    return value


def resolve_params(info: MethodInfo, method_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``method_params`` against the method's signature and fill in defaults."""
    given = dict(method_params or {})
    known = {p.name: p for p in info.parameters}
    unknown = [k for k in given if k not in known]
    if unknown:
        parts = []
        for k in unknown:
            close = difflib.get_close_matches(k, list(known), n=1)
            parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        accepted = ", ".join(known) if known else "none"
        raise MergeError(
            f"method {info.name!r} got unknown parameter(s) {', '.join(parts)}; accepted parameters: {accepted}."
        )
    resolved = {}
    for p in info.parameters:
        value = given.get(p.name, p.default)
        value = _coerce(info.name, p.name, value, info.annotations[p.name])
        if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if p.minimum is not None and value < p.minimum:
                raise MergeError(f"method {info.name!r}: {p.name}={value} is below the minimum {p.minimum}")
            if p.maximum is not None and value > p.maximum:
                raise MergeError(f"method {info.name!r}: {p.name}={value} is above the maximum {p.maximum}")
        resolved[p.name] = value
    if info.check is not None:
        info.check(resolved)
    return resolved
