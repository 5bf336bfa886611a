"""The streaming merge engine behind :func:`merge_models`.

Memory model: the K fine-tuned checkpoints (and the base, if any) are opened lazily; for each parameter name
the engine reads that one tensor from every model, calls the method, and appends the result to the current
output shard, which is flushed to disk once it reaches ``max_shard_size``. Peak memory is therefore about one
output shard plus K (+1) float32 copies of the largest tensor, independent of the number of parameters.
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
from .heads import id2label_list, is_head_param, label_permutations, output_layer_params
from .io import CheckpointReader, ShardedWriter, parse_size, resolve_model_dir
from .registry import MethodInfo, TensorContext, get_method, resolve_params

HEAD_POLICIES: tuple[str, ...] = ("linear", "first", "keep_first", "highest_weight", "method")


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


@dataclass
class _Layout:
    """What the sources look like: parameter names and shapes (model 0), labels and head tensors."""

    names: list[str]
    shapes: dict[str, tuple[int, ...]]
    out_labels: list[str]
    perms: list[list[int] | None]
    out_layer: set[str]
    head_names: list[str]


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
    return _Request(info, params, paths, w_given, w_used, policy, dev)


def _inspect_sources(
    readers: Sequence[CheckpointReader], paths: Sequence[Path], label_names: Sequence[str] | None
) -> _Layout:
    """Check that the sources are compatible, align their labels by name, find the head tensors."""
    names = _check_compatible(readers, paths)
    where = [f"model {i} ({p})" for i, p in enumerate(paths)]
    model_labels = [id2label_list(r.config, w) for r, w in zip(readers, where)]
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
    return _Layout(names, shapes0, out_labels, perms, out_layer, head_names)


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
) -> MergeResult:
    """Merge K Hugging Face classifier folders into ``output_dir``, one parameter at a time.

    Writes ``model.safetensors`` (or shards + ``model.safetensors.index.json``) and ``config.json`` (copied
    from the first model, ``id2label``/``label2id`` set to the output label order). Raises
    :class:`MergeError` for every invalid request. See the package README for the full contract.
    """
    req = _validate_request(
        model_paths, weights, method, output_dir, base_model, method_params, normalize_weights,
        head_merge, device, statistics, max_shard_size,
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
        writer = ShardedWriter(out, max_shard_size)
        _merge_stream(
            req, layout, readers, base_reader, base_map, by_policy, writer, seed, statistics, progress
        )
        files = writer.finalize()
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
    )


def _merge_stream(
    req: _Request,
    layout: _Layout,
    readers: Sequence[CheckpointReader],
    base_reader: CheckpointReader | None,
    base_map: Mapping[str, str],
    by_policy: set[str],
    writer: ShardedWriter,
    seed: int,
    statistics: Sequence[Mapping[str, torch.Tensor]] | None,
    progress: bool,
) -> None:
    """The streaming loop: per parameter, read it from every model (and the base), merge, append to the
    current output shard."""
    info, dev, k = req.info, req.device, len(readers)
    run_cache: dict[str, Any] = {}
    iterator: Any = layout.names
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(layout.names, desc=f"merging ({info.name})", unit="tensor")
    for n in iterator:
        out_dtype = readers[0].dtype(n)
        raw = [r.get(n) for r in readers]
        if not out_dtype.is_floating_point:
            writer.add(n, raw[0])
            continue
        permuted = n in layout.out_layer
        tensors = [
            _permute_rows(t.to(dev, torch.float32), layout.perms[i] if permuted else None)
            for i, t in enumerate(raw)
        ]
        del raw
        if n in by_policy:
            merged = combine_head(req.policy, tensors, req.w_used)
        else:
            stats = None
            if statistics is not None and info.needs_statistics:
                stats = _param_statistics(
                    statistics, n, info, dev, layout.perms if permuted else None, tensors
                )
            base_t = (
                base_reader.get(base_map[n]).to(dev, torch.float32) if n in base_map and base_reader else None
            )
            ctx = TensorContext(
                name=n, tensors=tensors, weights=req.w_used, base=base_t, stats=stats, seed=seed,
                model_indices=list(range(k)), statistics=statistics, run_cache=run_cache,
            )  # fmt: skip
            merged = info.fn(ctx, **req.params)
        if tuple(merged.shape) != tuple(layout.shapes[n]):
            raise MergeError(
                f"method {info.name!r} returned shape {list(merged.shape)} for {n!r}, "
                f"expected {list(layout.shapes[n])}"
            )
        writer.add(n, merged.to(out_dtype).cpu())
        del tensors, merged


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
    cfg["id2label"] = {str(i): lab for i, lab in enumerate(labels)}
    cfg["label2id"] = {lab: i for i, lab in enumerate(labels)}
    if "num_labels" in cfg:
        cfg["num_labels"] = len(labels)
    with open(out / "config.json", "w", encoding="utf-8") as fh:
        json.dump(cfg, fh, indent=2, sort_keys=True)
        fh.write("\n")
