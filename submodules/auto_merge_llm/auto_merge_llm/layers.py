"""Where a parameter sits in the network: its transformer layer and its layer group.

Layer-aware merging (``layer_swap``, layer weights) needs, for every parameter name, the index of the
transformer block it belongs to. :func:`layer_index` reads it from the name: the number after a block
container — ``encoder.layer.3.`` (BERT, RoBERTa, XLM-R, ELECTRA), ``layers.3.`` (Llama, Mistral, Mixtral,
Qwen), ``h.3.`` (GPT-2, Falcon, Bloom), ``block.3.``/``blocks.3.`` (T5, others). Parameters outside every
block are *embeddings* when their name mentions ``embed`` (or ``wte``/``wpe``, GPT-2's) and *outer* otherwise
(a final norm, a pooler): embeddings sit below layer 0, outer parameters above the last layer.

Layer groups (:func:`layer_group`), the unit of layer weights: ``embeddings``, ``lower`` (blocks
0 … ⌈L/2⌉ − 1), ``upper`` (the other blocks and the outer parameters) and ``head`` (the classification head,
:func:`auto_merge_llm.heads.is_head_param`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .heads import is_head_param

_BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)(?:\.|$)")
_EMBEDDING = re.compile(r"(?:^|[._])(?:embed\w*|embeddings|wte|wpe)(?:\.|$|_)")
LAYER_GROUPS: tuple[str, ...] = ("embeddings", "lower", "upper", "head")


def layer_index(name: str) -> int | None:
    """The transformer block a parameter belongs to (the first block container in its name), else None."""
    found = _BLOCK.search(name)
    return int(found.group(1)) if found else None


def is_embedding(name: str) -> bool:
    """A parameter outside every block whose name says it is an embedding (token, position, type, norm)."""
    return layer_index(name) is None and not is_head_param(name) and bool(_EMBEDDING.search(name))


_EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


def is_expert_stack(name: str, shape: Sequence[int]) -> bool:
    """A mixture-of-experts layer's experts stored as one tensor, experts along dim 0 (transformers ≥ 5:
    ``…mlp.experts.gate_up_proj`` of shape (E, out, in))."""
    return ".experts." in f".{name}" and len(shape) == 3


def expert_count(config: Mapping[str, Any]) -> int | None:
    """The number of experts a model configuration declares (Mixtral, Qwen-MoE, DeepSeek, …), else None."""
    for key in _EXPERT_COUNT_KEYS:
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def count_layers(names: Iterable[str]) -> int:
    """L = 1 + the largest block index among ``names`` (0 when no name is inside a block)."""
    indices = [i for i in (layer_index(n) for n in names) if i is not None]
    return max(indices) + 1 if indices else 0


def layer_group(name: str, num_layers: int) -> str:
    """``embeddings``, ``lower``, ``upper`` or ``head`` (see the module docstring)."""
    if is_head_param(name):
        return "head"
    layer = layer_index(name)
    if layer is None:
        return "embeddings" if is_embedding(name) else "upper"
    return "lower" if layer < (num_layers + 1) // 2 else "upper"


def depth(name: str, num_layers: int) -> int | None:
    """The parameter's position from the bottom: −1 for embeddings, its block index inside a block, L for the
    outer parameters (final norm, pooler); None for the head."""
    if is_head_param(name):
        return None
    layer = layer_index(name)
    if layer is not None:
        return layer
    return -1 if is_embedding(name) else num_layers
