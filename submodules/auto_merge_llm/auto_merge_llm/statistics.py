"""Per-model statistics for the data-aware methods, plus a small on-disk cache.

* :func:`fisher_diagonal` — per-example diagonal Fisher of a classifier (for ``fisher``).
* :func:`gram_matrices` — Gram matrices XᵀX of every ``nn.Linear`` input, padding excluded (for ``regmean``).
* :class:`StatisticsCache` / :func:`model_content_hash` — cache keyed by a caller-supplied string.

Batches are mappings with ``input_ids`` and optionally ``attention_mask``, ``token_type_ids`` and ``labels``
(tensors of shape (B, T) / (B,)), e.g. from a tokenizer + DataLoader. Nothing here knows about datasets.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .engine import resolve_device
from .errors import MergeError
from .io import iter_safetensors_files

Estimator = Literal["expected", "sampled", "empirical"]
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _logits(output: Any) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output[0]


def _iter_examples(batches: Iterable[Mapping[str, torch.Tensor]], num_examples: int | None):
    """Yield (inputs for one example with padding removed, label or None)."""
    seen = 0
    for batch in batches:
        if "input_ids" not in batch:
            raise MergeError("each batch must contain 'input_ids' (and optionally attention_mask, labels)")
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        for r in range(ids.shape[0]):
            if num_examples is not None and seen >= num_examples:
                return
            keep = mask[r].bool() if mask is not None else torch.ones(ids.shape[1], dtype=torch.bool)
            # once the padding is removed the mask is all ones: not passing it lets attention skip masking
            ex = {
                k: batch[k][r][keep].unsqueeze(0)
                for k in ("input_ids", "token_type_ids")
                if k in batch and batch[k] is not None
            }
            label = batch["labels"][r] if "labels" in batch and batch["labels"] is not None else None
            seen += 1
            yield ex, label


def fisher_diagonal(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    estimator: Estimator = "expected",
    num_examples: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    class_backward: Literal["loop", "batched"] = "loop",
) -> dict[str, torch.Tensor]:
    """Diagonal Fisher information of a classifier p(y | x; θ), from per-example gradients.

    F = (1/N) Σₙ Σ_y qₙ(y) (∂ log p(y|xₙ)/∂θ)²  with
      ``expected``:  qₙ(y) = p(y|xₙ) (the true Fisher; one backward per class, all classes),
      ``sampled``:   qₙ = one-hot of y ~ p(·|xₙ) (drawn from a generator seeded with ``seed``),
      ``empirical``: qₙ = one-hot of the true label (``labels`` must be in the batches).
    The model is put in eval mode (no dropout) and restored afterwards. Each example is run alone with its
    padding removed, so the gradient is exactly per example; memory is one set of accumulators plus one
    gradient. ``class_backward="loop"`` runs one retained-graph backward per class (fastest on CPU);
    ``"batched"`` does all classes in one vmapped backward (``is_grads_batched``; can be faster on GPU, needs
    C× gradient memory). Returns CPU float32 tensors keyed by parameter name.

    Reference: Matena & Raffel, "Merging Models with Fisher-Weighted Averaging", NeurIPS 2022 (§2); Kunstner
    et al., "Limitations of the empirical Fisher approximation", NeurIPS 2019 (estimators).
    """
    if estimator not in ("expected", "sampled", "empirical"):
        raise MergeError(f"unknown estimator {estimator!r}; use 'expected', 'sampled' or 'empirical'")
    dev = resolve_device(device)
    was_training = model.training
    orig_device = next(model.parameters()).device
    model.to(dev).eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    acc = [torch.zeros_like(p, dtype=torch.float32) for p in params]
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    count = 0
    try:
        for ex, label in _iter_examples(batches, num_examples):
            ex = {k: v.to(dev) for k, v in ex.items()}
            logp = torch.log_softmax(_logits(model(**ex)).float()[0], dim=-1)
            if estimator == "expected":
                probs = logp.detach().exp()
                if class_backward == "batched":
                    eye = torch.eye(logp.shape[0], device=dev)
                    grads = torch.autograd.grad(logp, params, grad_outputs=eye, is_grads_batched=True)
                    for a, g in zip(acc, grads):
                        a.add_(torch.tensordot(probs, g.float().pow(2), dims=1))
                else:
                    for y in range(logp.shape[0]):
                        grads = torch.autograd.grad(logp[y], params, retain_graph=y < logp.shape[0] - 1)
                        for a, g in zip(acc, grads):
                            a.add_(g.float().pow(2), alpha=float(probs[y]))
            else:
                if estimator == "sampled":
                    y = int(torch.multinomial(logp.detach().exp().cpu(), 1, generator=gen))
                else:
                    if label is None:
                        raise MergeError("estimator='empirical' needs 'labels' in every batch")
                    y = int(label)
                grads = torch.autograd.grad(logp[y], params)
                for a, g in zip(acc, grads):
                    a.add_(g.float().pow(2))
            count += 1
    finally:
        model.train(was_training)
        model.to(orig_device)
    if count == 0:
        raise MergeError("fisher_diagonal got no examples; pass a non-empty iterable of batches")
    return {n: (a / count).cpu() for (n, _), a in zip(named, acc)}


def gram_matrices(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    num_examples: int | None = None,
    device: str = "cpu",
    average: bool = False,
) -> dict[str, torch.Tensor]:
    """Gram matrix G = XᵀX of the inputs X of every ``nn.Linear`` module (keyed by module name).

    Rows of X are the token positions with ``attention_mask == 1`` (padding excluded) when the layer input is
    (B, T, in) with (B, T) matching the mask; a (B, in) input (e.g. a classifier head on the [CLS] vector)
    contributes one row per example; other shapes are flattened to rows. Accumulated in float64, returned as
    CPU float32; ``average=True`` divides by the number of rows. Reference: Jin et al., ICLR 2023 (RegMean).
    """
    dev = resolve_device(device)
    was_training = model.training
    orig_device = next(model.parameters()).device
    model.to(dev).eval()
    grams: dict[str, torch.Tensor] = {}
    rows: dict[str, int] = {}
    state: dict[str, torch.Tensor | None] = {"mask": None}
    hooks = []

    def make_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            x = inputs[0].detach()
            mask = state["mask"]
            if x.dim() == 3 and mask is not None and tuple(x.shape[:2]) == tuple(mask.shape):
                x = x[mask]
            else:
                x = x.reshape(-1, x.shape[-1])
            x = x.double()
            g = x.t() @ x
            if name in grams:
                grams[name] += g
            else:
                grams[name] = g
            rows[name] = rows.get(name, 0) + x.shape[0]

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(make_hook(name)))
    seen = 0
    try:
        with torch.no_grad():
            for batch in batches:
                if num_examples is not None and seen >= num_examples:
                    break
                n = batch["input_ids"].shape[0]
                take = n if num_examples is None else min(n, num_examples - seen)
                inputs = {
                    k: batch[k][:take].to(dev) for k in _MODEL_INPUTS if k in batch and batch[k] is not None
                }
                state["mask"] = inputs["attention_mask"].bool() if "attention_mask" in inputs else None
                model(**inputs)
                seen += take
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
        model.to(orig_device)
    if seen == 0:
        raise MergeError("gram_matrices got no examples; pass a non-empty iterable of batches")
    return {k: ((g / rows[k]) if average else g).float().cpu() for k, g in grams.items()}


def model_content_hash(model_dir: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """sha256 over the bytes of every ``*.safetensors`` file (sorted by name, streamed) and ``config.json``."""
    root = Path(model_dir)
    h = hashlib.sha256()
    files = list(iter_safetensors_files(root))
    if not files:
        raise MergeError(f"{str(root)!r} contains no *.safetensors files to hash")
    cfg = root / "config.json"
    for f in [*files, *([cfg] if cfg.is_file() else [])]:
        h.update(f.name.encode("utf-8") + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(chunk_size):
                h.update(chunk)
    return h.hexdigest()


class StatisticsCache:
    """Statistics stored as ``<root>/<key>.safetensors``, written atomically (temp file, then rename).

    The caller builds the key, e.g. ``StatisticsCache.make_key(model_hash, data_selection, estimator, count)``
    (sha256 of the JSON of the parts).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @staticmethod
    def make_key(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        if not key or any(c in key for c in "/\\\0") or key.startswith("."):
            raise MergeError(f"invalid cache key {key!r}: use a plain string such as a sha256 hex digest")
        return self.root / f"{key}.safetensors"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        p = self.path(key)
        return load_file(str(p)) if p.is_file() else None

    def put(
        self, key: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
    ) -> Path:
        p = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=self.root)
        os.close(fd)
        try:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                tmp,
                metadata={str(k): str(v) for k, v in (metadata or {}).items()},
            )
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return p

    def get_or_compute(
        self, key: str, compute: Callable[[], Mapping[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        cached = self.get(key)
        if cached is not None:
            return cached
        tensors = dict(compute())
        self.put(key, tensors)
        return tensors
