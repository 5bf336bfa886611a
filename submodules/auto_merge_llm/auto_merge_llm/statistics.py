"""Per-model statistics for the data-aware methods, plus a small on-disk cache.

* :func:`fisher_diagonal` — per-example diagonal Fisher of a classifier (for ``fisher``).
* :func:`gram_matrices` — Gram matrices XᵀX of every ``nn.Linear`` input, padding excluded (for ``regmean``).
* :class:`StatisticsCache` — cache keyed by a caller-supplied string (e.g. a model fingerprint + the data).

Batches are mappings with ``input_ids`` and optionally ``attention_mask``, ``token_type_ids`` and ``labels``
(tensors of shape (B, T) / (B,)), e.g. from a tokenizer + DataLoader. Nothing here knows about datasets.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .engine import resolve_device
from .errors import MergeError

Estimator = Literal["expected", "sampled", "empirical"]
Method = Literal["auto", "batched", "loop"]
# per-example weight gradients held at once by the batched Fisher (floats; 2**24 = 64 MB in float32)
_PER_SAMPLE_ELEMENTS = 1 << 24
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
    method: Method = "auto",
    max_per_sample_elements: int = _PER_SAMPLE_ELEMENTS,
) -> dict[str, torch.Tensor]:
    """Diagonal Fisher information of a classifier p(y | x; θ), from per-example gradients.

    F = (1/N) Σₙ Σ_y qₙ(y) (∂ log p(y|xₙ)/∂θ)²  with
      ``expected``:  qₙ(y) = p(y|xₙ) (the true Fisher; one backward per class, all classes),
      ``sampled``:   qₙ = one-hot of y ~ p(·|xₙ) (drawn from a generator seeded with ``seed``, in example order),
      ``empirical``: qₙ = one-hot of the true label (``labels`` must be in the batches).
    The model is put in eval mode (no dropout) and restored afterwards. Returns CPU float32 tensors keyed by
    parameter name.

    ``method``:
      ``"batched"``: each batch runs as one padded forward; per-example gradients are formed from the layer
      inputs and output gradients (``nn.Linear``: Σₜ gₜ xₜᵀ over the example's tokens; ``nn.Embedding``: gₜ
      summed per (example, row); ``nn.LayerNorm``: Σₜ gₜ ⊙ x̂ₜ), padding excluded by the attention mask, so
      the result equals the per-example one. One backward per class per *batch* (expected) or one per batch
      (sampled, empirical). Memory: the model, the batch's activations and their gradients, and at most
      ``max_per_sample_elements`` floats of per-example weight gradients at a time (the batch is chunked).
      Needs every parameter to sit in an ``nn.Linear``/``nn.Embedding``/``nn.LayerNorm`` called on
      (batch, ...) inputs;
      ``"loop"``: each example runs alone with its padding removed (the reference; any architecture).
      ``class_backward="loop"`` runs one retained-graph backward per class; ``"batched"`` does all classes in
      one vmapped backward (``is_grads_batched``; needs C× gradient memory);
      ``"auto"`` (default): ``"batched"`` when the model's modules allow it, else ``"loop"``.

    Reference: Matena & Raffel, "Merging Models with Fisher-Weighted Averaging", NeurIPS 2022 (§2); Kunstner
    et al., "Limitations of the empirical Fisher approximation", NeurIPS 2019 (estimators); per-example
    gradients from layer inputs and output gradients as in Goodfellow, "Efficient per-example gradient
    computations" (2015) and Opacus / BackPACK.
    """
    if estimator not in ("expected", "sampled", "empirical"):
        raise MergeError(f"unknown estimator {estimator!r}; use 'expected', 'sampled' or 'empirical'")
    if method not in ("auto", "batched", "loop"):
        raise MergeError(f"unknown method {method!r}; use 'auto', 'batched' or 'loop'")
    if method != "loop":
        why = _batched_unsupported(model)
        if why is None:
            stream = iter(batches)
            done = _fisher_batched(
                model, stream, estimator, num_examples, seed, device, class_backward, max_per_sample_elements
            )
            if isinstance(done, dict):
                return done
            why, first = done  # a module ran twice in the first forward: nothing accumulated yet
            batches = itertools.chain([first], stream)
        if method == "batched":
            raise MergeError(f"method='batched' cannot compute per-example gradients of this model: {why}")
    return _fisher_loop(model, batches, estimator, num_examples, seed, device, class_backward)


def _fisher_loop(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    estimator: Estimator,
    num_examples: int | None,
    seed: int,
    device: str,
    class_backward: str,
) -> dict[str, torch.Tensor]:
    """Per-example reference: each example alone, padding removed; one set of accumulators + one gradient."""
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


# ------------------------------------------------------------------ batched per-example gradients

_SUPPORTED = (nn.Linear, nn.Embedding, nn.LayerNorm)


def _batched_unsupported(model: nn.Module) -> str | None:
    """Why the batched per-example gradients cannot cover ``model`` (None when they can)."""
    owner: dict[int, str] = {}
    for mname, module in model.named_modules(remove_duplicate=False):
        own = [(n, p) for n, p in module.named_parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if type(module) not in _SUPPORTED:
            return f"{mname or 'the model'} ({type(module).__name__}) holds trainable parameters"
        if any(n not in ("weight", "bias") for n, _ in own):
            return f"{mname} has parameters other than weight/bias"
        if isinstance(module, nn.Embedding) and module.max_norm is not None:
            return f"{mname} is an nn.Embedding with max_norm"
        if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) != 1:
            return f"{mname} normalises over more than one dimension"
        for _, p in own:
            if id(p) in owner and owner[id(p)] != mname:
                return f"{mname} shares a parameter with {owner[id(p)]}"
            owner[id(p)] = mname
    return None


class _PerExample:
    """Forward hooks that record, for one padded batch, what the per-example gradients of every supported
    module need (layer input, output); :meth:`accumulate` adds Σ_b w_b (per-example gradient of b)² into the
    accumulators given the output gradients of one backward."""

    def __init__(self, model: nn.Module, max_elements: int) -> None:
        self.max_elements = max(1, int(max_elements))
        self.modules: list[tuple[nn.Module, list[tuple[str, torch.Tensor]]]] = []
        self.acc: dict[tuple[int, str], torch.Tensor] = {}
        self.calls: list[tuple[nn.Module, Any, torch.Tensor]] = []
        self.batch = 0
        self.mask: torch.Tensor | None = None
        self.lengths: torch.Tensor | None = None
        self.lengths_of: int | None = None
        self.buffer: torch.Tensor | None = None
        self.hooks = []
        self.names = {id(m): n for n, m in model.named_modules()}
        for module in model.modules():
            own = [(n, p) for n, p in module.named_parameters(recurse=False) if p.requires_grad]
            if own and type(module) in _SUPPORTED:
                self.modules.append((module, own))
                for n, p in own:
                    self.acc[(id(module), n)] = torch.zeros_like(p, dtype=torch.float32)
                self.hooks.append(module.register_forward_hook(self._hook))

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()

    def start(self, batch: int, mask: torch.Tensor | None) -> None:
        self.batch, self.mask, self.calls = batch, mask, []
        # right padding (every mask row is ones then zeros): an example's tokens are a prefix of its row
        self.lengths, self.lengths_of = None, None
        if mask is not None and mask.dim() == 2:
            lengths = mask.sum(1)
            prefix = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
            if torch.equal(prefix, mask):
                self.lengths, self.lengths_of = lengths.cpu(), mask.shape[1]

    def _rows(self, t: torch.Tensor) -> torch.Tensor:
        """(B, ..., d) -> (B, T', d) with padding positions zeroed when (B, T) matches the mask."""
        if t.shape[0] != self.batch:
            raise MergeError(
                f"a layer saw a batch of {t.shape[0]}, not {self.batch}: cannot split per example"
            )
        if t.dim() == 2:
            return t.unsqueeze(1)
        if t.dim() == 3 and self.mask is not None and tuple(t.shape[:2]) == tuple(self.mask.shape):
            return t * self.mask.unsqueeze(-1).to(t.dtype)
        return t.reshape(t.shape[0], -1, t.shape[-1])

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor | None:
        if not torch.is_grad_enabled() or not isinstance(output, torch.Tensor) or not output.requires_grad:
            return None
        x = inputs[0]
        replaced = None
        if isinstance(module, nn.Embedding):
            ids = x
            if ids.shape[0] == 1 and self.batch > 1:  # e.g. BERT's (1, T) position ids, broadcast later
                ids = ids.expand(self.batch, *ids.shape[1:])
                output = replaced = output.expand(self.batch, *output.shape[1:])
            saved: Any = self._embedding_rows(module, ids)
        elif isinstance(module, nn.LayerNorm):
            xhat = torch.nn.functional.layer_norm(x.detach(), module.normalized_shape, None, None, module.eps)
            saved = xhat
        else:
            saved = x.detach()
        self.calls.append((module, saved, output))
        return replaced

    def _embedding_rows(self, module: nn.Embedding, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per (example, row) groups of the batch's tokens: (token positions kept, group of each, row, example)."""
        if ids.shape[0] != self.batch:
            raise MergeError(f"an embedding saw a batch of {ids.shape[0]}, not {self.batch}")
        flat = ids.reshape(self.batch, -1)
        keep = torch.ones_like(flat, dtype=torch.bool)
        if self.mask is not None and tuple(flat.shape) == tuple(self.mask.shape):
            keep &= self.mask
        if module.padding_idx is not None:
            keep &= flat != module.padding_idx  # the padding row gets no gradient
        example = torch.arange(self.batch, device=flat.device).unsqueeze(1).expand_as(flat)
        pos = keep.reshape(-1).nonzero().squeeze(1)
        keys = example.reshape(-1)[pos] * module.num_embeddings + flat.reshape(-1)[pos]
        uniq, group = torch.unique(keys, return_inverse=True)
        return pos, group, uniq % module.num_embeddings, uniq // module.num_embeddings

    def outputs(self) -> list[torch.Tensor]:
        return [out for _, _, out in self.calls]

    def repeated(self) -> str | None:
        """The type of a module called more than once in this forward, if any."""
        seen: set[int] = set()
        for module, _, _ in self.calls:
            if id(module) in seen:
                return f"{self.names.get(id(module), '?')} ({type(module).__name__})"
            seen.add(id(module))
        return None

    def accumulate(self, grads: Sequence[torch.Tensor | None], w: torch.Tensor) -> None:
        """Add Σ_b w_b g_b² for the per-example gradients g_b implied by the output gradients ``grads``."""
        for (module, saved, _), g in zip(self.calls, grads):
            if g is None:
                continue
            g = g.float()
            key = id(module)
            if isinstance(module, nn.Embedding):
                pos, group, row, example = saved
                flat = g.reshape(-1, g.shape[-1]).index_select(0, pos)
                s = torch.zeros(row.shape[0], g.shape[-1], device=g.device).index_add_(0, group, flat)
                self.acc[(key, "weight")].index_add_(0, row, s.square_().mul_(w[example].unsqueeze(1)))
                continue
            g = self._rows(g)
            if (key, "bias") in self.acc:
                self.acc[(key, "bias")].add_(w @ g.sum(1).square())
            if isinstance(module, nn.LayerNorm):
                if (key, "weight") in self.acc:
                    gw = (g * self._rows(saved.float())).sum(1)
                    self.acc[(key, "weight")].add_(w @ gw.square())
                continue
            if (key, "weight") in self.acc:  # nn.Linear: per example Σ_t g_t x_tᵀ
                self._linear_weight(self.acc[(key, "weight")], g, self._rows(saved.float()), w)

    def _linear_weight(self, acc: torch.Tensor, g: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> None:
        """acc += Σ_b w_b (g_bᵀ x_b)² for g (B, T, out), x (B, T, in) (padding rows of g already zero).

        On the CPU one example at a time over its own tokens (the out × in gradient stays in cache); elsewhere
        in chunks of the batch holding at most ``max_elements`` per-example gradient entries at once.
        """
        if g.device.type == "cpu":
            lengths = self.lengths if g.shape[1] == (self.lengths_of or -1) else None
            ws = w.tolist()
            numel = acc.numel()
            if self.buffer is None or self.buffer.numel() < numel:  # reused: no page faults per example
                self.buffer = torch.empty(numel, dtype=torch.float32)
            per = self.buffer[:numel].view_as(acc)
            for b in range(self.batch):
                wb = ws[b]
                if wb == 0.0:
                    continue
                t = int(lengths[b]) if lengths is not None else g.shape[1]
                torch.mm(g[b, :t].t(), x[b, :t], out=per)
                acc.addcmul_(per, per, value=wb)
            return
        step = max(1, self.max_elements // (g.shape[-1] * x.shape[-1]))
        gt = g.transpose(1, 2)
        for s in range(0, self.batch, step):
            per = torch.bmm(gt[s : s + step], x[s : s + step])
            acc.add_(torch.tensordot(w[s : s + step], per.square_(), dims=1))

    def results(self, model: nn.Module, count: int) -> dict[str, torch.Tensor]:
        names = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
        out: dict[str, torch.Tensor] = {}
        for module, own in self.modules:
            for n, p in own:
                out[names[id(p)]] = (self.acc[(id(module), n)] / count).cpu()
        return {n: out[n] for n in names.values()}


def _batch_inputs(
    batch: Mapping[str, torch.Tensor], take: int, dev: torch.device
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    inputs = {k: batch[k][:take].to(dev) for k in _MODEL_INPUTS if k in batch and batch[k] is not None}
    mask = inputs["attention_mask"].bool() if "attention_mask" in inputs else None
    return inputs, mask


def _fisher_batched(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    estimator: Estimator,
    num_examples: int | None,
    seed: int,
    device: str,
    class_backward: str,
    max_elements: int,
) -> dict[str, torch.Tensor] | tuple[str, Mapping[str, torch.Tensor]]:
    """The batched Fisher; (why, first batch) instead when a module runs twice in the first forward."""
    dev = resolve_device(device)
    was_training = model.training
    orig_device = next(model.parameters()).device
    model.to(dev).eval()
    rec = _PerExample(model, max_elements)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    count = 0
    try:
        for batch in batches:
            if num_examples is not None and count >= num_examples:
                break
            if "input_ids" not in batch:
                raise MergeError(
                    "each batch must contain 'input_ids' (and optionally attention_mask, labels)"
                )
            n = batch["input_ids"].shape[0]
            take = n if num_examples is None else min(n, num_examples - count)
            if take == 0:
                continue
            inputs, mask = _batch_inputs(batch, take, dev)
            rec.start(take, mask)
            with torch.enable_grad():
                logp = torch.log_softmax(_logits(model(**inputs)).float(), dim=-1)
                outs = rec.outputs()
                twice = rec.repeated()
                if twice is not None:  # its per-example gradient would be a sum over calls, squared
                    if count == 0:
                        return f"{twice} runs more than once per forward", batch
                    raise MergeError(f"{twice} ran more than once in a forward pass; use method='loop'")
                probs = logp.detach().exp()
                if estimator == "expected":
                    _expected_backward(rec, logp, outs, probs, class_backward)
                else:
                    onehot = _one_hot_targets(estimator, probs, batch.get("labels"), gen)
                    grads = torch.autograd.grad(logp, outs, grad_outputs=onehot, allow_unused=True)
                    rec.accumulate(grads, torch.ones(take, device=dev))
            rec.calls = []
            count += take
    finally:
        rec.remove()
        model.train(was_training)
        model.to(orig_device)
    if count == 0:
        raise MergeError("fisher_diagonal got no examples; pass a non-empty iterable of batches")
    return rec.results(model, count)


def _one_hot_targets(
    estimator: str, probs: torch.Tensor, labels: torch.Tensor | None, gen: torch.Generator
) -> torch.Tensor:
    """One-hot rows of the class each example's gradient is taken for (sampled or empirical estimator)."""
    take = probs.shape[0]
    if estimator == "sampled":  # the same draws, in the same order, as the per-example loop
        ys = [int(torch.multinomial(probs[r].cpu(), 1, generator=gen)) for r in range(take)]
    else:
        if labels is None:
            raise MergeError("estimator='empirical' needs 'labels' in every batch")
        ys = [int(v) for v in labels[:take]]
    onehot = torch.zeros_like(probs)
    onehot[torch.arange(take), torch.tensor(ys, device=probs.device)] = 1.0
    return onehot


def _expected_backward(
    rec: _PerExample, logp: torch.Tensor, outs: list[torch.Tensor], probs: torch.Tensor, class_backward: str
) -> None:
    """Σ_y p(y|x_b) g_{b,y}²: one backward per class over the whole batch (or all classes vmapped)."""
    num_classes = logp.shape[1]
    if class_backward == "batched":
        eye = torch.eye(num_classes, device=logp.device).unsqueeze(1).expand(num_classes, *logp.shape)
        grads = torch.autograd.grad(logp, outs, grad_outputs=eye, is_grads_batched=True, allow_unused=True)
        for y in range(num_classes):
            rec.accumulate([None if g is None else g[y] for g in grads], probs[:, y])
        return
    for y in range(num_classes):
        e = torch.zeros_like(logp)
        e[:, y] = 1.0
        grads = torch.autograd.grad(
            logp, outs, grad_outputs=e, retain_graph=y < num_classes - 1, allow_unused=True
        )
        rec.accumulate(grads, probs[:, y])


class GramCollector:
    """Forward hooks that accumulate G = XᵀX of the inputs X of ``nn.Linear`` modules (all, or those named in
    ``only``), keyed by module name: rows are the token positions with ``attention_mask == 1`` (padding
    excluded) when the input is (B, T, in) with (B, T) matching the mask set by :meth:`start`; a (B, in) input
    contributes one row per example; other shapes are flattened to rows. Accumulated in float64."""

    def __init__(self, model: nn.Module, only: Iterable[str] | None = None) -> None:
        wanted = None if only is None else set(only)
        self.grams: dict[str, torch.Tensor] = {}
        self.rows: dict[str, int] = {}
        self.mask: torch.Tensor | None = None
        self.hooks = [
            module.register_forward_hook(self._hook(name))
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and (wanted is None or name in wanted)
        ]

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            x = inputs[0].detach()
            mask = self.mask
            if x.dim() == 3 and mask is not None and tuple(x.shape[:2]) == tuple(mask.shape):
                x = x[mask]
            else:
                x = x.reshape(-1, x.shape[-1])
            x = x.double()
            g = x.t() @ x
            self.grams[name] = self.grams[name] + g if name in self.grams else g
            self.rows[name] = self.rows.get(name, 0) + x.shape[0]

        return hook

    def start(self, mask: torch.Tensor | None) -> None:
        """The attention mask of the batch about to run (None: no padding)."""
        self.mask = mask

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()

    def results(self, average: bool = False) -> dict[str, torch.Tensor]:
        """CPU float32 Gram matrices (divided by their row counts with ``average``)."""
        return {k: ((g / self.rows[k]) if average else g).float().cpu() for k, g in self.grams.items()}


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
    collector = GramCollector(model)
    seen = 0
    try:
        with torch.no_grad():
            for batch in batches:
                if num_examples is not None and seen >= num_examples:
                    break
                n = batch["input_ids"].shape[0]
                take = n if num_examples is None else min(n, num_examples - seen)
                inputs, mask = _batch_inputs(batch, take, dev)
                collector.start(mask)
                model(**inputs)
                seen += take
    finally:
        collector.remove()
        model.train(was_training)
        model.to(orig_device)
    if seen == 0:
        raise MergeError("gram_matrices got no examples; pass a non-empty iterable of batches")
    return collector.results(average)


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
