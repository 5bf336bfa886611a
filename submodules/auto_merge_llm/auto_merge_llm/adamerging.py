"""AdaMerging's coefficients: learned on unlabeled inputs by minimising the merged model's prediction entropy.

θ(λ) = θ₀ + Σᵢ λᵢ,g τᵢ for every parameter with a pretrained value (g = its group: one group for the whole
model, *task-wise*, or one per parameter tensor, *layer-wise*, as in the authors' code), λ = clamp(λ_raw, 0, 1)
initialised to ``init_lambda`` (0.3 in the paper), and

    λ* = argmin_λ  E_x [ H(softmax(f(x; θ(λ)))) ],   H(p) = −Σ_c p_c log p_c,

by Adam (lr 10⁻³ in the paper) over batches of unlabeled inputs, cycled in a seeded order. Only the inputs are
read; labels are never used. Parameters whose task vectors are all zero (frozen embeddings) stay θ₀ and get no
coefficient; parameters without a pretrained value (the classification head) are the weighted average of the
models' (the engine's ``head_merge="linear"``), fixed during learning and in the merge.

Memory: the K task vectors of the learned tensors (float32), the base and one model: O(K × model). The
result feeds the registered ``adamerging`` method as per-model statistics (one 0-d tensor λᵢ per parameter),
so the merge itself streams like every other. Reference: Yang et al., "AdaMerging: Adaptive Model Merging for
Multi-Task Learning", ICLR 2024.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from .engine import (
    _inspect_sources,
    _open_base,
    _permute_rows,
    check_weights,
    combine_head,
    resolve_device,
    used_weights,
)
from .errors import MergeError
from .io import CheckpointReader
from .statistics import _batch_inputs

Granularity = Literal["task", "layer"]


@dataclass
class LearnedCoefficients:
    """The learned λ (K × G, clamped to [0, 1]), which group each learned parameter belongs to, and the mean
    entropy of every step (before its update)."""

    granularity: str
    coefficients: torch.Tensor
    groups: dict[str, int]
    entropy: list[float] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)  # all task vectors zero: θ₀, no coefficient

    def statistics(self) -> list[dict[str, torch.Tensor]]:
        """Per model, parameter name → λᵢ (a 0-d tensor): the ``statistics`` of the ``adamerging`` method."""
        k = self.coefficients.shape[0]
        return [{n: self.coefficients[i, g].clone() for n, g in self.groups.items()} for i in range(k)]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per model, the mean λ (and, layer-wise, min and max), the entropy before and after."""
        c = self.coefficients
        return {
            "granularity": self.granularity,
            "mean_lambda": [round(float(x), 6) for x in c.mean(dim=1)],
            "min_lambda": [round(float(x), 6) for x in c.min(dim=1).values],
            "max_lambda": [round(float(x), 6) for x in c.max(dim=1).values],
            "learned_tensors": len(self.groups),
            "frozen_tensors": len(self.frozen),
            "entropy_first": self.entropy[0] if self.entropy else None,
            "entropy_last": self.entropy[-1] if self.entropy else None,
            "steps": len(self.entropy),
        }


def mean_entropy(logits: torch.Tensor) -> torch.Tensor:
    """E_batch[−Σ_c p_c log p_c] with p = softmax(logits) (log-softmax: stable for large logits)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1).mean()


def learn_coefficients(
    model: nn.Module,
    model_paths: Sequence[str | Path],
    base_model: str | Path,
    batches: Sequence[Mapping[str, torch.Tensor]],
    *,
    weights: Sequence[float] | None = None,
    granularity: Granularity = "layer",
    steps: int = 100,
    lr: float = 1e-3,
    init_lambda: float = 0.3,
    seed: int = 0,
    device: str = "cpu",
    label_names: Sequence[str] | None = None,
    progress: bool = False,
) -> LearnedCoefficients:
    """Learn AdaMerging coefficients (module docstring) for the K fine-tuned folders ``model_paths``.

    ``model`` is an instance of their architecture (e.g. the first source loaded with transformers): its
    parameters are replaced functionally, never modified. ``batches`` hold ``input_ids`` and optionally
    ``attention_mask``/``token_type_ids``; any ``labels`` are ignored. ``weights`` only weight the heads.
    """
    if granularity not in ("task", "layer"):
        raise MergeError(f"adamerging: granularity must be 'task' or 'layer', not {granularity!r}")
    if steps < 1 or lr <= 0 or not 0.0 <= init_lambda <= 1.0:
        raise MergeError("adamerging: steps must be >= 1, lr > 0 and init_lambda in [0, 1]")
    batches = [b for b in batches if b["input_ids"].shape[0] > 0]
    if not batches:
        raise MergeError("adamerging needs unlabeled inputs: pass at least one non-empty batch")
    paths = [Path(p) for p in model_paths]
    k = len(paths)
    w_used = used_weights(check_weights([1.0] * k if weights is None else weights, k), True)
    dev = resolve_device(device)
    readers = [CheckpointReader(p, role=f"model {i} ({p})") for i, p in enumerate(paths)]
    base_reader = None
    try:
        layout = _inspect_sources(readers, paths, label_names)
        base_reader, base_map = _open_base(base_model, readers, paths, layout)
        own = dict(model.named_parameters())
        if all(n not in own for n in layout.names):
            raise MergeError(
                f"adamerging: the model's parameters ({next(iter(own), '?')!r}, …) are not those of the checkpoints "
                f"({layout.names[0]!r}, …); pass an instance of the models' architecture"
            )
        fixed: dict[str, torch.Tensor] = {}
        learned: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (θ₀, stacked τ)
        frozen: list[str] = []
        for n in layout.names:
            if n not in own:
                continue
            if n in base_map:
                base_t = base_reader.get(base_map[n]).to(dev, torch.float32)
                taus = torch.stack([r.get(n).to(dev, torch.float32) - base_t for r in readers])
                if bool(taus.any()):
                    learned[n] = (base_t, taus)
                else:
                    fixed[n] = base_t
                    frozen.append(n)
            else:  # the head (and anything without a pretrained value): the weighted average, label-aligned
                permuted = n in layout.out_layer
                tensors = [
                    _permute_rows(r.get(n).to(dev, torch.float32), layout.perms[i] if permuted else None)
                    for i, r in enumerate(readers)
                ]
                fixed[n] = combine_head("linear", tensors, w_used)
    finally:
        for r in readers:
            r.close()
        if base_reader is not None:
            base_reader.close()
    if not learned:
        raise MergeError("adamerging: every task vector is zero; there is nothing to learn")
    groups = {n: (0 if granularity == "task" else g) for g, n in enumerate(learned)}
    n_groups = 1 if granularity == "task" else len(learned)
    raw = torch.full((k, n_groups), float(init_lambda), device=dev, requires_grad=True)
    optimiser = torch.optim.Adam([raw], lr=lr)
    order = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed)).tolist()
    was_training = model.training
    orig_device = next(model.parameters()).device
    model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    trace: list[float] = []
    iterator: Any = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="adamerging", unit="step")
    try:
        for step in iterator:
            batch = batches[order[step % len(order)]]
            lam = raw.clamp(0.0, 1.0)
            params = dict(fixed)
            for n, (base_t, taus) in learned.items():
                coef = lam[:, groups[n]].view(-1, *([1] * (taus.dim() - 1)))
                params[n] = base_t + (coef * taus).sum(dim=0)
            inputs, _ = _batch_inputs(batch, batch["input_ids"].shape[0], dev)
            output = torch.func.functional_call(model, params, args=(), kwargs=inputs, strict=False)
            logits = output.logits if hasattr(output, "logits") else output[0]
            loss = mean_entropy(logits)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            trace.append(float(loss.detach()))
    finally:
        model.train(was_training)
        model.to(orig_device)
    return LearnedCoefficients(granularity, raw.detach().clamp(0.0, 1.0).cpu(), groups, trace, frozen)


__all__ = ["LearnedCoefficients", "learn_coefficients", "mean_entropy"]
