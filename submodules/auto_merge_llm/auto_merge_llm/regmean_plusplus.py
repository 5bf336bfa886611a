"""RegMean++'s Gram matrices: each block's linear-layer inputs computed through the already-merged blocks below.

RegMean merges every linear layer from the Gram matrices Gᵢ = XᵢᵀXᵢ of its inputs in candidate model i alone.
RegMean++ (Nguyen et al. 2025) takes the inputs that reach block l *in the merge model*: X_i^(l) =
f_M^(l−1)(X_i^(l−1)), the output of the merged blocks 0 … l−1 on model i's data, and inside block l the
candidate's own block computes the inputs of its linear layers (intra-layer dependencies). Block by block:

1. for every model i: run the hybrid network — merged embeddings and blocks < l, model i's block l and above —
   on model i's batches and collect the Gram matrices of block l's linear inputs;
2. merge block l: linear weights by the RegMean solution W*ᵀ = (Σᵢ cᵢ Gᵢ')⁻¹ Σᵢ cᵢ Gᵢ' Wᵢᵀ (Gᵢ' = α Gᵢ +
   (1 − α) diag Gᵢ), every other tensor the weighted average.

Embeddings (below block 0, no linear layer) are averaged first; the parameters above the last block (pooler,
final norm) and the classification head (labels aligned by name) form the last stage. The returned Gram
matrices, one mapping per model, are the ``statistics`` of the registered ``regmean_plusplus`` method, which
applies the same formula tensor by tensor, so the engine rebuilds exactly the merge computed here.

Cost: K forward passes per block (L + 1 stages), memory O(K × model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from .engine import _inspect_sources, _permute_rows, check_weights, resolve_device, used_weights
from .errors import MergeError
from .io import CheckpointReader
from .layers import count_layers, depth
from .methods.regmean import regmean_solve
from .statistics import GramCollector, _batch_inputs


def _stage(name: str, num_layers: int) -> int:
    """−1 embeddings, l for block l, L for everything above the last block and the head."""
    d = depth(name, num_layers)
    return num_layers if d is None else d


def progressive_gram_matrices(
    model: nn.Module,
    model_paths: Sequence[str | Path],
    batches: Sequence[Sequence[Mapping[str, torch.Tensor]]],
    *,
    weights: Sequence[float] | None = None,
    regmean_alpha: float = 0.9,
    label_names: Sequence[str] | None = None,
    device: str = "cpu",
) -> list[dict[str, torch.Tensor]]:
    """RegMean++'s Gram matrices (module docstring) of the K folders ``model_paths``; ``batches[i]`` are model
    i's inputs (``input_ids``, optionally ``attention_mask``/``token_type_ids``; labels ignored); ``model`` an
    instance of their architecture (its parameters are replaced functionally, never modified)."""
    paths = [Path(p) for p in model_paths]
    k = len(paths)
    if len(batches) != k or any(not list(b) for b in batches):
        raise MergeError(f"regmean_plusplus needs a non-empty list of batches for each of the {k} models")
    if not 0.0 <= regmean_alpha <= 1.0:
        raise MergeError("regmean_plusplus: regmean_alpha must be in [0, 1]")
    w = used_weights(check_weights([1.0] * k if weights is None else weights, k), True)
    dev = resolve_device(device)
    readers = [CheckpointReader(p, role=f"model {i} ({p})") for i, p in enumerate(paths)]
    try:
        layout = _inspect_sources(readers, paths, label_names)
        own = dict(model.named_parameters())
        names = [n for n in layout.names if n in own]
        if not names:
            raise MergeError("regmean_plusplus: the model's parameters are not those of the checkpoints")
        states = [
            {n: _permute_rows(r.get(n).to(dev, torch.float32), layout.perms[i] if n in layout.out_layer else None)
             for n in names}
            for i, r in enumerate(readers)
        ]  # fmt: skip
    finally:
        for r in readers:
            r.close()
    num_layers = count_layers(names)
    linears = {m for m, mod in model.named_modules() if isinstance(mod, nn.Linear) and f"{m}.weight" in own}
    stages = sorted({_stage(n, num_layers) for n in names})
    merged: dict[str, torch.Tensor] = {}
    grams: list[dict[str, torch.Tensor]] = [{} for _ in range(k)]
    was_training = model.training
    orig_device = next(model.parameters()).device
    model.to(dev).eval()
    try:
        for stage in stages:
            in_stage = [n for n in names if _stage(n, num_layers) == stage]
            modules = sorted(m for m in linears if _stage(f"{m}.weight", num_layers) == stage)
            if modules:
                for i in range(k):  # the hybrid: merged below this stage, model i from here up
                    collector = GramCollector(model, only=modules)
                    try:
                        with torch.no_grad():
                            for batch in batches[i]:
                                inputs, mask = _batch_inputs(batch, batch["input_ids"].shape[0], dev)
                                collector.start(mask)
                                torch.func.functional_call(model, {**states[i], **merged}, args=(), kwargs=inputs,
                                                           strict=False)  # fmt: skip
                    finally:
                        collector.remove()
                    grams[i].update(collector.results())
            for n in in_stage:
                module = n.rsplit(".", 1)[0]
                xs = [states[i][n] for i in range(k)]
                if n.endswith(".weight") and module in modules and xs[0].dim() == 2:
                    merged[n] = regmean_solve(xs, [grams[i][module] for i in range(k)], w, regmean_alpha)
                else:
                    out = torch.zeros_like(xs[0])
                    for x, c in zip(xs, w):
                        out.add_(x, alpha=float(c))
                    merged[n] = out
    finally:
        model.train(was_training)
        model.to(orig_device)
    return grams


__all__ = ["progressive_gram_matrices"]
