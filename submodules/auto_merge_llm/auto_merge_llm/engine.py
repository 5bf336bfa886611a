"""The streaming merge engine behind :func:`merge_models`.

The K fine-tuned checkpoints (and the base, if any) are opened lazily and merged one parameter at a time; each
result is written straight to its place in the output shard (:class:`~auto_merge_llm.io.PlannedShardWriter`,
from a writer thread, so no shard is held in memory) while the kernel reads the next parameter ahead
(``posix_fadvise``). How one parameter is computed depends on what its method declares
(:mod:`auto_merge_llm.registry`):

* an :class:`~auto_merge_llm.registry.Accumulator` (``linear``, ``task_arithmetic``, DARE + task arithmetic,
  ``breadcrumbs``): the models' tensors are added one at a time (``linear``, ``task_arithmetic`` and DARE read
  them zero-copy from a memory map of that tensor alone; ``breadcrumbs`` needs a private copy for its rank
  window), so peak memory is about 3 × the largest tensor (+ the one being written) for any K;
* a :class:`~auto_merge_llm.registry.RowMerger` (``ties``, DARE + TIES): per-model quantities from each model's
  whole tensor, one model at a time, then row chunks of the K tensors (``ROW_CHUNK_BYTES`` in all);
* otherwise the method's function on all K whole tensors (``slerp``, ``model_stock``, ``widen``, ``regmean``,
  ``fisher``, the SVD methods, and every tensor whose label rows must be permuted): K (+1) float32 copies of
  the tensor.

A tensor that every source holds bit for bit (and, for a method on task vectors, the base too) is copied, not
merged: no method changes it (a zero task vector adds nothing; a mean of equal tensors is the tensor). Frozen
word embeddings of fine-tuned encoders merge for free.

Every source tensor (and base tensor) is checked to be finite before it is used, and every merged tensor
before it is written (``allow_nonfinite=True`` turns both off). Accumulators that promise NaN/Inf propagation
skip the input check; a non-finite result then makes the engine scan the inputs to name the culprit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .errors import MergeError
from .heads import config_labels, is_head_param, label_permutations, output_layer_params
from .io import CheckpointReader, PlannedShardWriter, parse_size, resolve_model_dir
from .layers import LAYER_GROUPS, count_layers, expert_count, is_expert_stack, layer_group
from .registry import (
    Accumulator,
    MethodInfo,
    RowMerger,
    StreamContext,
    TensorContext,
    get_method,
    resolve_params,
)

HEAD_POLICIES: tuple[str, ...] = ("linear", "first", "keep_first", "highest_weight", "method")
OUT_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
ROW_CHUNK_BYTES = 128 * 2**20  # float32 bytes of the K models' row chunks together (RowMerger methods)


@dataclass
class MergeResult:
    """What was merged and how; ``to_dict()`` is JSON-serialisable."""

    method: str
    method_params: dict[str, Any]
    weights_given: list[float]
    weights_used: list[float]
    weights_normalized: bool
    head_merge: str
    head_param_names: list[str]
    label_names: list[str] | None
    label_permutations: list[list[int] | None]
    base_model: str | None
    num_parameters: int
    num_tensors: int
    output_dir: str
    seed: int
    device: str
    library_version: str = __version__
    model_paths: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    params_without_base: list[str] = field(default_factory=list)
    out_dtype: str | None = None
    allow_nonfinite: bool = False
    unchanged_tensors: int = 0  # copied, not merged: equal in every source (and the base, for task vectors)
    layer_weights_used: dict[str, list[float]] = field(default_factory=dict)  # per layer group, if given
    num_layers: int = 0  # transformer blocks found in the parameter names (auto_merge_llm.layers)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``/``"cuda:N"`` or ``"auto"`` (cuda when available)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MergeError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'auto'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MergeError("device='cuda' requested but CUDA is not available; use device='cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise MergeError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'auto'")
    return dev


def resolve_out_dtype(out_dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``None`` (keep each tensor's input dtype), ``"float32"``, ``"bfloat16"``, ``"float16"`` or the
    matching ``torch.dtype``."""
    if out_dtype is None:
        return None
    if isinstance(out_dtype, torch.dtype) and out_dtype in OUT_DTYPES.values():
        return out_dtype
    if isinstance(out_dtype, str) and out_dtype in OUT_DTYPES:
        return OUT_DTYPES[out_dtype]
    raise MergeError(
        f"unknown out_dtype {out_dtype!r}; use None (the input dtype) or one of {list(OUT_DTYPES)}"
    )


def nonfinite_count(t: torch.Tensor) -> int:
    """Number of NaN/Inf entries of ``t`` (0 for integer tensors). A finite sum proves there are none, so the
    entrywise check runs only when the sum is not finite."""
    if not t.is_floating_point() or t.numel() == 0:
        return 0
    if bool(torch.isfinite(t.sum(dtype=torch.float32))):
        return 0
    return int((~torch.isfinite(t)).sum())


def check_weights(weights: Sequence[float], k: int) -> list[float]:
    """Validate per-model weights: one per model, finite, >= 0, not all zero."""
    w = [float(x) for x in weights]
    if len(w) != k:
        raise MergeError(f"got {len(w)} weights for {k} models; pass exactly one weight per model")
    bad = [x for x in w if not math.isfinite(x) or x < 0]
    if bad:
        raise MergeError(
            f"weights must be finite and >= 0, got {w}; drop a model instead of giving it a negative weight"
        )
    if sum(w) == 0:
        raise MergeError(f"weights are all zero ({w}); at least one model needs a positive weight")
    return w


def used_weights(weights: Sequence[float], normalize: bool) -> list[float]:
    w = [float(x) for x in weights]
    s = sum(w)
    return [x / s for x in w] if normalize else w


def combine_head(policy: str, tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Merge head tensors (no pretrained value) by policy: ``linear`` = Σ wᵢθᵢ with the weights in use
    (a weighted average when weights are normalised); ``first``/``keep_first`` = the first model's;
    ``highest_weight`` = the highest-weight model's (first one on ties)."""
    if policy == "linear":
        out = torch.zeros_like(tensors[0])
        for t, w in zip(tensors, weights):
            out.add_(t, alpha=float(w))
        return out
    if policy in ("first", "keep_first"):
        return tensors[0].clone()
    if policy == "highest_weight":
        best = max(range(len(weights)), key=lambda i: (weights[i], -i))
        return tensors[best].clone()
    raise MergeError(f"unknown head_merge {policy!r}; choose one of {list(HEAD_POLICIES)}")


def match_base_name(
    name: str, base_names: Mapping[str, Any] | set[str], prefixes: Sequence[str]
) -> str | None:
    """Find the base-model name of fine-tuned parameter ``name``: exact, then with the first component
    removed (``roberta.embeddings.x`` → ``embeddings.x``), then with ``<prefix>.`` added."""
    if name in base_names:
        return name
    if "." in name:
        stripped = name.split(".", 1)[1]
        if stripped in base_names:
            return stripped
    for p in prefixes:
        cand = f"{p}.{name}"
        if cand in base_names:
            return cand
    return None


def _base_prefixes(base_names: Sequence[str], model_names: Sequence[str]) -> list[str]:
    firsts: dict[str, int] = {}
    for n in base_names:
        if "." in n:
            firsts[n.split(".", 1)[0]] = firsts.get(n.split(".", 1)[0], 0) + 1
    for n in model_names:
        if "." in n:
            firsts.setdefault(n.split(".", 1)[0], 0)
    return sorted(firsts, key=lambda k: -firsts[k])


def _stat_for(stats: Mapping[str, torch.Tensor], name: str) -> torch.Tensor | None:
    if name in stats:
        return stats[name]
    module = name.rsplit(".", 1)[0]
    if name.endswith(".weight") and module in stats:
        return stats[module]
    return None


def _permute_rows(t: torch.Tensor, perm: list[int] | None) -> torch.Tensor:
    if perm is None:
        return t
    return t.index_select(0, torch.tensor(perm, device=t.device))


def _prepare_output_dir(output_dir: str | os.PathLike) -> Path:
    out = Path(output_dir)
    if out.exists():
        if not out.is_dir():
            raise MergeError(f"output_dir {str(out)!r} exists and is not a directory")
        if any(out.iterdir()):
            raise MergeError(f"output_dir {str(out)!r} is not empty; pass a new or empty directory")
    else:
        out.mkdir(parents=True)
    return out


def merge_tensors(
    method: str,
    tensors: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
    *,
    base: torch.Tensor | None = None,
    method_params: Mapping[str, Any] | None = None,
    normalize_weights: bool = True,
    name: str = "tensor",
    seed: int = 0,
    stats: Sequence[torch.Tensor | None] | None = None,
    model_indices: Sequence[int] | None = None,
    num_layers: int = 0,
) -> torch.Tensor:
    """Merge one parameter's values in memory (float32 math, result in the first tensor's dtype).

    This is the same call the engine makes per parameter; useful for tests and small in-memory merges.
    """
    info = get_method(method)
    params = resolve_params(info, method_params)
    k = len(tensors)
    w = check_weights([1.0] * k if weights is None else weights, k)
    if k < info.min_models:
        raise MergeError(f"method {info.name!r} needs at least {info.min_models} models, got {k}")
    if info.needs_base and base is None:
        raise MergeError(f"method {info.name!r} needs a base (pretrained) tensor")
    if info.needs_statistics and stats is None:
        raise MergeError(f"method {info.name!r} needs per-model statistics")
    ctx = TensorContext(
        name=name,
        tensors=[t.float() for t in tensors],
        weights=used_weights(w, normalize_weights),
        base=None if base is None else base.float(),
        stats=None if stats is None else [None if s is None else s.float() for s in stats],
        seed=seed,
        model_indices=list(model_indices) if model_indices is not None else list(range(k)),
        num_layers=num_layers,
    )
    return info.fn(ctx, **params).to(tensors[0].dtype)


@dataclass
class _Request:
    """A validated :func:`merge_models` request (everything that can be checked before opening a file)."""

    info: MethodInfo
    params: dict[str, Any]
    paths: list[Path]
    w_given: list[float]
    w_used: list[float]
    policy: str
    device: torch.device
    out_dtype: torch.dtype | None = None
    allow_nonfinite: bool = False
    layer_weights: dict[str, list[float]] = field(default_factory=dict)  # layer group -> weights used

    def weights_for(self, name: str, num_layers: int) -> list[float]:
        """The weights used for parameter ``name``: its layer group's (:mod:`auto_merge_llm.layers`), if given,
        else the model weights."""
        if not self.layer_weights:
            return self.w_used
        return self.layer_weights.get(layer_group(name, num_layers), self.w_used)


@dataclass
class _Layout:
    """What the sources look like: parameter names and shapes (model 0), labels and head tensors."""

    names: list[str]
    shapes: dict[str, tuple[int, ...]]
    out_labels: list[str]
    perms: list[list[int] | None]
    out_layer: set[str]
    head_names: list[str]
    num_layers: int = 0


def _validate_request(
    model_paths: Sequence[str | os.PathLike],
    weights: Sequence[float],
    method: str,
    output_dir: str | os.PathLike | None,
    base_model: str | os.PathLike | None,
    method_params: Mapping[str, Any] | None,
    normalize_weights: bool,
    head_merge: str,
    device: str,
    statistics: Sequence[Mapping[str, torch.Tensor]] | None,
    max_shard_size: str | int,
    out_dtype: str | torch.dtype | None = None,
    allow_nonfinite: bool = False,
    layer_weights: Mapping[str, Sequence[float]] | None = None,
) -> _Request:
    """Every check that needs no file, in the order the errors are reported."""
    if output_dir is None:
        raise MergeError("output_dir is required")
    paths = [Path(p) for p in model_paths]
    k = len(paths)
    if k == 0:
        raise MergeError("model_paths is empty; pass at least one model folder")
    info: MethodInfo = get_method(method)
    params = resolve_params(info, method_params)
    w_given = check_weights(weights, k)
    w_used = used_weights(w_given, normalize_weights)
    if k < info.min_models:
        raise MergeError(f"method {info.name!r} needs at least {info.min_models} models, got {k}")
    if head_merge not in HEAD_POLICIES:
        raise MergeError(f"unknown head_merge {head_merge!r}; choose one of {list(HEAD_POLICIES)}")
    policy = info.default_head_merge if (info.default_head_merge and head_merge == "linear") else head_merge
    if policy == "method" and info.needs_base:
        raise MergeError(
            f"head_merge='method' is impossible with {info.name!r}: head tensors have no pretrained value; "
            "use 'linear', 'first' or 'highest_weight'"
        )
    if info.needs_base and base_model is None:
        raise MergeError(
            f"method {info.name!r} needs base_model (the pretrained checkpoint the models were tuned from)"
        )
    if info.needs_statistics and statistics is None:
        raise MergeError(
            f"method {info.name!r} needs statistics: one mapping per model (see auto_merge_llm.statistics)"
        )
    if statistics is not None and len(statistics) != k:
        raise MergeError(f"got {len(statistics)} statistics mappings for {k} models; pass one per model")
    dev = resolve_device(device)
    parse_size(max_shard_size)
    dtype = resolve_out_dtype(out_dtype)
    groups = check_layer_weights(layer_weights, k, normalize_weights)
    return _Request(info, params, paths, w_given, w_used, policy, dev, dtype, bool(allow_nonfinite), groups)


def check_layer_weights(
    layer_weights: Mapping[str, Sequence[float]] | None, k: int, normalize: bool
) -> dict[str, list[float]]:
    """Per layer group (``embeddings``, ``lower``, ``upper``, ``head``), the weights used for its parameters:
    each checked like the model weights and normalised the same way."""
    out: dict[str, list[float]] = {}
    for group, weights in (layer_weights or {}).items():
        if group not in LAYER_GROUPS:
            raise MergeError(f"unknown layer group {group!r}; the groups are {', '.join(LAYER_GROUPS)}")
        try:
            out[group] = used_weights(check_weights(weights, k), normalize)
        except MergeError as exc:
            raise MergeError(f"weights of group {group!r}: {exc}") from None
    return out


def _inspect_sources(
    readers: Sequence[CheckpointReader], paths: Sequence[Path], label_names: Sequence[str] | None
) -> _Layout:
    """Check that the sources are compatible, align their labels by name, find the head tensors."""
    names = _check_compatible(readers, paths)
    where = [f"model {i} ({p})" for i, p in enumerate(paths)]
    has_head = any(is_head_param(n) for n in names)
    model_labels = [config_labels(r.config, w, has_head) for r, w in zip(readers, where)]
    shapes0 = {n: readers[0].shape(n) for n in names}
    n_labels = len(model_labels[0])
    out_labels, perms = label_permutations(model_labels, where, label_names)
    permuted = any(p is not None for p in perms)
    out_layer = set(output_layer_params(shapes0, n_labels)) if permuted else set()
    if permuted and not out_layer:
        raise MergeError(
            f"label orders differ between models but no classifier output layer with {n_labels} rows was found "
            f"among the head parameters {[n for n in names if is_head_param(n)]}"
        )
    head_names = [n for n in names if is_head_param(n)]
    return _Layout(names, shapes0, out_labels, perms, out_layer, head_names, count_layers(names))


def _open_base(
    base_model: str | os.PathLike,
    readers: Sequence[CheckpointReader],
    paths: Sequence[Path],
    layout: _Layout,
) -> tuple[CheckpointReader, dict[str, str]]:
    """Open the pretrained base and map every non-head parameter of the models to its base name.

    The caller closes the returned reader (also when this raises after opening it: it is closed here).
    """
    base_str = str(base_model)
    base_dir = resolve_model_dir(base_model, role="base model")
    base_reader = CheckpointReader(base_dir, role=f"base model ({base_model})")
    try:
        base_type = base_reader.config.get("model_type")
        if base_type != readers[0].config.get("model_type"):
            raise MergeError(
                f"base model {base_str!r} has model_type {base_type!r} but the models are "
                f"{readers[0].config.get('model_type')!r}; pass the checkpoint they were fine-tuned from"
            )
        _check_base_is_not_a_source(base_dir, base_reader, base_str, readers, paths, layout.head_names)
        base_map = _map_base_names(base_reader, base_str, layout)
    except BaseException:
        base_reader.close()
        raise
    return base_reader, base_map


def _map_base_names(base_reader: CheckpointReader, base_str: str, layout: _Layout) -> dict[str, str]:
    """Fine-tuned name → base name for every non-head parameter that has a pretrained counterpart."""
    names, shapes0 = layout.names, layout.shapes
    prefixes = _base_prefixes(base_reader.names, names)
    base_set = set(base_reader.names)
    base_map: dict[str, str] = {}
    for n in names:
        if is_head_param(n):
            continue
        bn = match_base_name(n, base_set, prefixes)
        if bn is None:
            continue
        if tuple(base_reader.shape(bn)) != tuple(shapes0[n]):
            raise MergeError(
                f"parameter {n!r} has shape {list(shapes0[n])} in the models but {list(base_reader.shape(bn))} "
                f"in base model {base_str!r} (as {bn!r}); the base must be the exact pretrained checkpoint"
            )
        base_map[n] = bn
    if not base_map:
        raise MergeError(
            f"no parameter of the models matches a parameter of base model {base_str!r} "
            f"(e.g. {names[0]!r} vs {base_reader.names[:3]}); pass the pretrained checkpoint they were tuned from"
        )
    return base_map


def _param_statistics(
    statistics: Sequence[Mapping[str, torch.Tensor]],
    name: str,
    info: MethodInfo,
    dev: torch.device,
    perms: Sequence[list[int] | None] | None,
    tensors: Sequence[torch.Tensor],
) -> list[torch.Tensor | None]:
    """Per-model statistic of parameter ``name`` on ``dev`` (``None`` where a model has none). ``perms`` is
    given for output-layer tensors: per-parameter statistics (same shape as the tensor) get their label rows
    permuted like the tensor; Gram matrices never do."""
    stats: list[torch.Tensor | None] = []
    for i, sm in enumerate(statistics):
        s = _stat_for(sm, name)
        if s is not None:
            s = s.to(dev, torch.float32)
            if (
                perms is not None
                and info.statistics_kind == "per_parameter"
                and tuple(s.shape) == tuple(tensors[i].shape)
            ):
                s = _permute_rows(s, perms[i])
        stats.append(s)
    return stats


def merge_models(
    model_paths: Sequence[str | os.PathLike],
    weights: Sequence[float],
    method: str = "linear",
    output_dir: str | os.PathLike | None = None,
    base_model: str | os.PathLike | None = None,
    method_params: Mapping[str, Any] | None = None,
    normalize_weights: bool = True,
    head_merge: str = "linear",
    label_names: Sequence[str] | None = None,
    device: str = "cpu",
    seed: int = 0,
    statistics: Sequence[Mapping[str, torch.Tensor]] | None = None,
    max_shard_size: str | int = "2GB",
    progress: bool = True,
    out_dtype: str | torch.dtype | None = None,
    allow_nonfinite: bool = False,
    layer_weights: Mapping[str, Sequence[float]] | None = None,
) -> MergeResult:
    """Merge K Hugging Face classifier folders into ``output_dir``, one parameter at a time.

    Writes ``model.safetensors`` (or shards + ``model.safetensors.index.json``) and ``config.json`` (copied
    from the first model, ``id2label``/``label2id`` set to the output label order). ``out_dtype`` sets the
    dtype of the floating-point output tensors (``None``: each tensor's input dtype). Source tensors with
    NaN/Inf, and merged tensors that are not finite, raise :class:`MergeError` naming the tensor unless
    ``allow_nonfinite``; ``config.json`` (the mark of a complete model) is written only after every tensor.
    Raises :class:`MergeError` for every invalid request. See the package README for the full contract.
    """
    req = _validate_request(
        model_paths, weights, method, output_dir, base_model, method_params, normalize_weights,
        head_merge, device, statistics, max_shard_size, out_dtype, allow_nonfinite, layer_weights,
    )  # fmt: skip
    info, paths = req.info, req.paths
    readers = [CheckpointReader(p, role=f"model {i} ({p})") for i, p in enumerate(paths)]
    base_reader: CheckpointReader | None = None
    try:
        layout = _inspect_sources(readers, paths, label_names)
        base_map: dict[str, str] = {}
        if info.needs_base:
            base_reader, base_map = _open_base(base_model, readers, paths, layout)  # type: ignore[arg-type]
        no_base = [n for n in layout.names if info.needs_base and not is_head_param(n) and n not in base_map]
        by_policy = set() if req.policy == "method" else set(layout.head_names) | set(no_base)
        out = _prepare_output_dir(output_dir)  # type: ignore[arg-type]
        writer = PlannedShardWriter(out, _output_plan(req, layout, readers), max_shard_size)
        try:
            streamer = _Streamer(
                req, layout, readers, base_reader, base_map, by_policy, writer, seed, statistics
            )
            streamer.run(progress)
            files = writer.finalize()
        except BaseException:
            writer.abort()
            raise
        _write_config(readers[0].config, out, layout.out_labels)
    finally:
        for r in readers:
            r.close()
        if base_reader is not None:
            base_reader.close()

    return MergeResult(
        method=info.name,
        method_params=req.params,
        weights_given=req.w_given,
        weights_used=req.w_used,
        weights_normalized=bool(normalize_weights),
        head_merge=req.policy,
        head_param_names=sorted(by_policy),
        label_names=layout.out_labels,
        label_permutations=layout.perms,
        base_model=None if base_reader is None else str(base_model),
        num_parameters=writer.num_parameters,
        num_tensors=writer.num_tensors,
        output_dir=str(out),
        seed=seed,
        device=str(req.device),
        model_paths=[str(p) for p in paths],
        output_files=files,
        params_without_base=no_base,
        out_dtype=None if req.out_dtype is None else str(req.out_dtype).removeprefix("torch."),
        allow_nonfinite=req.allow_nonfinite,
        unchanged_tensors=len(streamer.unchanged),
        layer_weights_used=req.layer_weights,
        num_layers=layout.num_layers,
    )


def _output_plan(
    req: _Request, layout: _Layout, readers: Sequence[CheckpointReader]
) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    """(name, dtype, shape) of every output tensor in merge order: integer tensors keep their dtype,
    floating-point ones get ``out_dtype`` (or keep the first model's dtype)."""
    plan = []
    for n in layout.names:
        dtype = readers[0].dtype(n)
        if dtype.is_floating_point and req.out_dtype is not None:
            dtype = req.out_dtype
        plan.append((n, dtype, tuple(layout.shapes[n])))
    return plan


class _Fallback(Exception):
    """A streamed path met an allowed non-finite input: merge this tensor with the whole-tensor function."""


class _Streamer:
    """The merge loop: per parameter, choose the streamed or whole-tensor path, check, write."""

    def __init__(
        self,
        req: _Request,
        layout: _Layout,
        readers: Sequence[CheckpointReader],
        base_reader: CheckpointReader | None,
        base_map: Mapping[str, str],
        by_policy: set[str],
        writer: PlannedShardWriter,
        seed: int,
        statistics: Sequence[Mapping[str, torch.Tensor]] | None,
    ) -> None:
        self.req, self.layout, self.readers = req, layout, readers
        self.base_reader, self.base_map, self.by_policy = base_reader, base_map, by_policy
        self.writer, self.seed, self.statistics = writer, seed, statistics
        self.run_cache: dict[str, Any] = {}
        self.unchanged: list[str] = []  # tensors copied because merging cannot change them
        # reusable read buffers: [whole tensors, row chunks of model 0 … K−1, base]
        self._scratch = [torch.empty(0, dtype=torch.uint8) for _ in range(len(readers) + 2)]

    # ------------------------------------------------------------------ loop

    def run(self, progress: bool) -> None:
        names = self.layout.names
        iterator: Any = names
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(names, desc=f"merging ({self.req.info.name})", unit="tensor")
        for j, n in enumerate(iterator):
            if j + 1 < len(names):
                self._prefetch(names[j + 1])
            if not self.readers[0].dtype(n).is_floating_point:
                self.writer.write(n, self.readers[0].get(n))
                continue
            unchanged = self._unchanged(n)
            if unchanged is not None:
                self.unchanged.append(n)
                dtype = self.req.out_dtype or unchanged.dtype
                self.writer.write(n, unchanged.to(dtype))
                continue
            merged = self._merge(n)
            if tuple(merged.shape) != tuple(self.layout.shapes[n]):
                raise MergeError(
                    f"method {self.req.info.name!r} returned shape {list(merged.shape)} for {n!r}, "
                    f"expected {list(self.layout.shapes[n])}"
                )
            dtype = self.req.out_dtype or self.readers[0].dtype(n)
            out = merged.to(dtype)
            del merged
            if not self.req.allow_nonfinite and nonfinite_count(out):
                self._raise_nonfinite(n, out)
            self.writer.write(n, out)

    def _unchanged(self, n: str) -> torch.Tensor | None:
        """The tensor itself when merging cannot change it: every source holds it bit for bit and, for a method
        on task vectors, so does the base (every task vector is zero, and a zero task vector adds nothing);
        for a method without a base, a mean of equal tensors is the tensor (weights summing to 1). Such a tensor
        (frozen embeddings, say) is copied, not merged. Head and label-permuted tensors always go through
        the merge; NaN never compares equal, so a broken tensor still meets the finiteness checks."""
        if n in self.by_policy or n in self.layout.out_layer:
            return None
        info = self.req.info
        if not info.needs_base and abs(sum(self._weights(n)) - 1.0) > 1e-6:
            return None
        others = list(self.readers[1:])
        base_name = self.base_map.get(n)
        if info.needs_base:
            if base_name is None or self.base_reader is None:
                return None
        first = self.readers[0]
        dtype, shape = first.dtype(n), tuple(first.shape(n))
        if any(r.dtype(n) != dtype or tuple(r.shape(n)) != shape for r in others):
            return None
        if info.needs_base and (
            self.base_reader.dtype(base_name) != dtype or tuple(self.base_reader.shape(base_name)) != shape
        ):
            return None
        rows = min(1, shape[0]) if shape else None
        head = first.get_rows(n, 0, rows) if rows else first.get(n)
        peers = [(r, n) for r in others] + ([(self.base_reader, base_name)] if info.needs_base else [])
        for reader, name in peers:  # a cheap first look: the first row
            if not torch.equal(reader.get_rows(name, 0, rows) if rows else reader.get(name), head):
                return None
        whole = first.get(n)
        for reader, name in peers:
            with reader.mapped(name) as view:
                if not torch.equal(view, whole):
                    return None
        return whole

    def _weights(self, n: str) -> list[float]:
        return self.req.weights_for(n, self.layout.num_layers)

    def _merge(self, n: str) -> torch.Tensor:
        if is_expert_stack(n, self.layout.shapes[n]) and n not in self.by_policy:
            return self._whole(n, by_expert=True)
        if n in self.by_policy:
            tensors = self._whole_inputs(n)
            return combine_head(self.req.policy, tensors, self._weights(n))
        factory = self.req.info.streamed
        if factory is not None and n not in self.layout.out_layer:
            try:
                merged = self._streamed(n, factory)
                if merged is not None:
                    return merged
            except _Fallback:
                pass
        return self._whole(n)

    def _prefetch(self, n: str) -> None:
        for r in self.readers:
            r.prefetch(n)
        if n in self.base_map and self.base_reader is not None:
            self.base_reader.prefetch(self.base_map[n])

    # ------------------------------------------------------------------ reading

    def _buffer(self, slot: int, nbytes: int) -> torch.Tensor:
        """A reusable CPU byte buffer (one per model, one for the base): no page faults after first use."""
        if self._scratch[slot].numel() < nbytes:
            self._scratch[slot] = torch.empty(nbytes, dtype=torch.uint8)
        return self._scratch[slot][:nbytes]

    def _owned(self, i: int, n: str, rows: tuple[int, int] | None = None) -> torch.Tensor:
        """Model ``i``'s tensor (or rows of it) as float32 on the device, in a buffer the caller may modify.
        Whole tensors share one buffer (valid until the next whole read: models are read one at a time); each
        model has its own buffer for row chunks (valid until its next chunk)."""
        r = self.readers[i]
        dtype, shape = r.dtype(n), r.shape(n)
        if rows is None:
            raw = r.get(n, out=self._buffer(0, r.nbytes(n)))
        else:
            nbytes = (rows[1] - rows[0]) * (math.prod(shape[1:]) if shape else 1) * dtype.itemsize
            raw = r.get_rows(n, rows[0], rows[1], out=self._buffer(1 + i, nbytes))
        return raw.to(self.req.device, torch.float32)

    def _check_input(self, t: torch.Tensor, i: int | None, n: str) -> None:
        """Refuse a non-finite source (``i``) or base (``i=None``) tensor; with ``allow_nonfinite`` leave the
        streamed path (raise :class:`_Fallback`)."""
        count = nonfinite_count(t)
        if not count:
            return
        if self.req.allow_nonfinite:
            raise _Fallback
        raise self._input_error(i, n, count, t.numel())

    def _input_error(self, i: int | None, n: str, count: int, numel: int) -> MergeError:
        who = (
            f"model {i} ({self.req.paths[i]})"
            if i is not None
            else f"base model ({self.base_reader.path if self.base_reader else '?'})"
        )
        return MergeError(
            f"{who}: tensor {n!r} has {count} NaN/Inf value(s) out of {numel}; the checkpoint is broken "
            "(fix or drop it), or pass allow_nonfinite=True (--allow-nonfinite) to merge it anyway"
        )

    def _raise_nonfinite(self, n: str, out: torch.Tensor) -> None:
        """A merged tensor is not finite: name the non-finite input if there is one, else the result."""
        for i, r in enumerate(self.readers):
            count = nonfinite_count(r.get(n))
            if count:
                raise self._input_error(i, n, count, out.numel())
        if n in self.base_map and self.base_reader is not None:
            count = nonfinite_count(self.base_reader.get(self.base_map[n]))
            if count:
                raise self._input_error(None, self.base_map[n], count, out.numel())
        raise MergeError(
            f"merging {n!r} with method {self.req.info.name!r} produced {nonfinite_count(out)} NaN/Inf value(s) "
            f"from finite inputs (out_dtype {out.dtype}); the merged model was not written. Check the method "
            "parameters and weights (or an out_dtype too narrow for the values), or pass allow_nonfinite=True"
        )

    def _base(self, n: str) -> torch.Tensor | None:
        if n not in self.base_map or self.base_reader is None:
            return None
        bn = self.base_map[n]
        raw = self.base_reader.get(bn, out=self._buffer(len(self.readers) + 1, self.base_reader.nbytes(bn)))
        return raw.to(self.req.device, torch.float32)

    # ------------------------------------------------------------------ paths

    def _streamed(self, n: str, factory: Any) -> torch.Tensor | None:
        base = self._base(n)
        ctx = StreamContext(
            name=n, shape=tuple(self.layout.shapes[n]), weights=self._weights(n), base=base, seed=self.seed,
            model_indices=list(range(len(self.readers))), device=self.req.device, num_layers=self.layout.num_layers,
        )  # fmt: skip
        merger = factory(ctx, **self.req.params)
        if isinstance(merger, Accumulator):
            if base is not None and not merger.propagates_nonfinite:
                self._check_input(base, None, self.base_map[n])
            return self._accumulate(n, merger)
        if isinstance(merger, RowMerger):
            if base is not None:
                self._check_input(base, None, self.base_map[n])
            return self._rows(n, merger, base)
        return None

    def _accumulate(self, n: str, acc: Accumulator) -> torch.Tensor:
        zero_copy = (
            not acc.owned and self.req.device.type == "cpu" and self.readers[0].dtype(n) == torch.float32
        )
        for i, r in enumerate(self.readers):
            if zero_copy:
                with r.mapped(n) as view:
                    acc.add(i, view)
                continue
            x = self._owned(i, n)
            if not acc.propagates_nonfinite:
                self._check_input(x, i, n)
            acc.add(i, x)
        return acc.result()

    def _rows(self, n: str, merger: RowMerger, base: torch.Tensor | None) -> torch.Tensor:
        k, shape = len(self.readers), tuple(self.layout.shapes[n])
        if merger.prepares:
            for i in range(k):
                x = self._owned(i, n)
                self._check_input(x, i, n)
                merger.prepare(i, x)
        if not shape:
            xs = [self._owned(i, n, (0, 1)) for i in range(k)]
            for i, x in enumerate(xs):
                self._check_input(x, i, n)
            return merger.finish(merger.rows(0, 1, xs, base))
        out = torch.empty(shape, dtype=torch.float32, device=self.req.device)
        step = max(1, ROW_CHUNK_BYTES // max(1, k * math.prod(shape[1:]) * 4))
        for a in range(0, shape[0], step):
            b = min(shape[0], a + step)
            xs = [self._owned(i, n, (a, b)) for i in range(k)]
            if not merger.prepares:
                for i, x in enumerate(xs):
                    self._check_input(x, i, n)
            out[a:b] = merger.rows(a, b, xs, None if base is None else base[a:b])
        return merger.finish(out)

    def _whole_inputs(self, n: str) -> list[torch.Tensor]:
        permuted = n in self.layout.out_layer
        tensors = []
        for i, r in enumerate(self.readers):
            t = _permute_rows(
                r.get(n).to(self.req.device, torch.float32), self.layout.perms[i] if permuted else None
            )
            if not self.req.allow_nonfinite and nonfinite_count(t):
                raise self._input_error(i, n, nonfinite_count(t), t.numel())
            tensors.append(t)
        return tensors

    def _whole(self, n: str, by_expert: bool = False) -> torch.Tensor:
        """The method's function on the K whole tensors (the pre-streaming path, unchanged); ``by_expert``: on
        each expert of a mixture-of-experts stack (dim 0) as its own tensor, named ``{n}.{expert}``, the
        results stacked — experts are merged expert by expert, whatever the method."""
        info, dev = self.req.info, self.req.device
        tensors = self._whole_inputs(n)
        stats = None
        if self.statistics is not None and info.needs_statistics:
            perms = self.layout.perms if n in self.layout.out_layer else None
            stats = _param_statistics(self.statistics, n, info, dev, perms, tensors)
        base_t = None
        if n in self.base_map and self.base_reader is not None:
            base_t = self.base_reader.get(self.base_map[n]).to(dev, torch.float32)
            if not self.req.allow_nonfinite and nonfinite_count(base_t):
                raise self._input_error(None, self.base_map[n], nonfinite_count(base_t), base_t.numel())

        def run(name: str, xs: list[torch.Tensor], b: torch.Tensor | None, st: Any) -> torch.Tensor:
            ctx = TensorContext(
                name=name, tensors=xs, weights=self._weights(n), base=b, stats=st, seed=self.seed,
                model_indices=list(range(len(self.readers))), statistics=self.statistics, run_cache=self.run_cache,
                num_layers=self.layout.num_layers,
            )  # fmt: skip
            return info.fn(ctx, **self.req.params)

        if not by_expert:
            return run(n, tensors, base_t, stats)
        return torch.stack([
            run(f"{n}.{e}", [t[e] for t in tensors], None if base_t is None else base_t[e],
                None if stats is None else [s[e] if s is not None and s.dim() == 3 else s for s in stats])
            for e in range(tensors[0].shape[0])
        ])  # fmt: skip


def _check_base_is_not_a_source(
    base_dir: Path,
    base_reader: CheckpointReader,
    base_str: str,
    readers: Sequence[CheckpointReader],
    paths: Sequence[Path],
    head_names: Sequence[str],
) -> None:
    """Task vectors must come from the pretrained checkpoint, never from one of the fine-tuned sources.

    Caught: the base folder is one of the model folders, or the base carries a classification head whose
    tensors are bitwise those of a source model (a copy of it). A pretrained base has no classification head,
    so the second check costs nothing in the normal case (it reads only head tensors, which are small).
    """
    for i, p in enumerate(paths):
        try:
            same = base_dir.resolve() == p.resolve() or base_dir.samefile(p)
        except OSError:
            same = False
        if same:
            raise MergeError(
                f"base_model {base_str!r} is model {i} ({p}) itself; task vectors must be taken from the "
                "pretrained checkpoint the models were fine-tuned from (e.g. FacebookAI/xlm-roberta-base)"
            )
    shared = [
        n
        for n in head_names
        if n in base_reader and tuple(base_reader.shape(n)) == tuple(readers[0].shape(n))
    ]
    if not shared:
        return
    base_head = {n: base_reader.get(n) for n in shared}
    for i, r in enumerate(readers):
        if all(torch.equal(base_head[n], r.get(n)) for n in shared):
            raise MergeError(
                f"base_model {base_str!r} has the same classification head as model {i} ({paths[i]}): it is a "
                "copy of that fine-tuned model. Task vectors must be taken from the pretrained checkpoint the "
                "models were fine-tuned from (e.g. FacebookAI/xlm-roberta-base)"
            )


def _check_compatible(readers: Sequence[CheckpointReader], paths: Sequence[Path]) -> list[str]:
    first = readers[0]
    mt0 = first.config.get("model_type")
    names = first.names
    name_set = set(names)
    for i, r in enumerate(readers[1:], start=1):
        mt = r.config.get("model_type")
        if mt != mt0:
            raise MergeError(
                f"model {i} ({paths[i]}) has model_type {mt!r} but model 0 ({paths[0]}) has {mt0!r}; "
                "only models of one architecture can be merged"
            )
        experts0, experts = expert_count(first.config), expert_count(r.config)
        if experts0 != experts:
            raise MergeError(
                f"model {i} ({paths[i]}) has {experts} experts per layer but model 0 ({paths[0]}) has {experts0}; "
                "mixture-of-experts models are merged expert by expert, so they need the same number of experts"
            )
        other = set(r.names)
        if other != name_set:
            only0 = sorted(name_set - other)
            onlyi = sorted(other - name_set)
            first_bad = (only0 + onlyi)[0]
            raise MergeError(
                f"parameter {first_bad!r} is not present in both model 0 ({paths[0]}) and model {i} ({paths[i]}) "
                f"(missing in model {i}: {only0[:5]}, extra in model {i}: {onlyi[:5]}); the models must share one "
                "architecture and configuration"
            )
        for n in names:
            if tuple(r.shape(n)) != tuple(first.shape(n)):
                raise MergeError(
                    f"parameter {n!r} has shape {list(first.shape(n))} in model 0 ({paths[0]}) but "
                    f"{list(r.shape(n))} in model {i} ({paths[i]}); the models must share one configuration "
                    "(hidden size, vocabulary, number of labels)"
                )
    return names


def _write_config(config: Mapping[str, Any], out: Path, labels: Sequence[str]) -> None:
    cfg = dict(config)
    if labels:  # a model without labels (a language model) keeps its config as it is
        cfg["id2label"] = {str(i): lab for i, lab in enumerate(labels)}
        cfg["label2id"] = {lab: i for i, lab in enumerate(labels)}
        if "num_labels" in cfg:
            cfg["num_labels"] = len(labels)
    with open(out / "config.json", "w", encoding="utf-8") as fh:
        json.dump(cfg, fh, indent=2, sort_keys=True)
        fh.write("\n")
