"""Which attention implementation a training run uses: what was asked, what runs, and why.

``--attn_implementation`` takes ``auto``, ``eager``, ``sdpa`` or ``flash_attention_2``. A request that cannot
run here falls back along flash_attention_2 → sdpa → eager, and the run says so in one log line and records
``{"asked", "used", "reason"}`` in ``run_metadata.json`` (and so in TensorBoard's run-metadata table):

* ``flash_attention_2`` needs a CUDA device, the ``flash_attn`` package and a model class that supports it;
* ``sdpa`` (PyTorch's ``scaled_dot_product_attention``) needs a model class that supports it;
* ``eager`` always runs;
* ``auto`` is the first of flash_attention_2 (on CUDA, when installed), sdpa, eager that runs.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger("merginguriel.training")

ATTN_IMPLEMENTATIONS: tuple[str, ...] = ("auto", "eager", "sdpa", "flash_attention_2")
_FALLBACK = {"flash_attention_2": ("flash_attention_2", "sdpa", "eager"), "sdpa": ("sdpa", "eager"),
             "eager": ("eager",), "auto": ("flash_attention_2", "sdpa", "eager")}  # fmt: skip


@dataclass(frozen=True)
class AttentionChoice:
    asked: str
    used: str
    reason: str  # why ``used`` differs from ``asked`` (empty when it does not)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def model_class(model_name_or_path: str, task: str) -> Any:
    """The transformers class a run instantiates (for its declared attention support), or None if unknown."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING,
    )

    config = AutoConfig.from_pretrained(model_name_or_path)
    mapping = (
        MODEL_FOR_CAUSAL_LM_MAPPING if task == "generative" else MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING
    )
    try:
        return mapping[type(config)]
    except KeyError:
        return None


def _unavailable(impl: str, cls: Any, cuda: bool) -> str | None:
    """Why ``impl`` cannot run here (None when it can)."""
    name = getattr(cls, "__name__", "this model")
    if impl == "eager":
        return None
    if impl == "flash_attention_2":
        if not cuda:
            return "flash_attention_2 needs a CUDA device"
        if importlib.util.find_spec("flash_attn") is None:
            return "the flash_attn package is not installed"
        if not (getattr(cls, "_supports_flash_attn", False) or getattr(cls, "_supports_flash_attn_2", False)):
            return f"{name} has no flash-attention implementation"
        return None
    if not getattr(cls, "_supports_sdpa", False):
        return f"{name} has no sdpa implementation"
    return None


def resolve_attention(asked: str, cls: Any, cuda: bool) -> AttentionChoice:
    """The first implementation of ``asked``'s fallback chain that can run, and why the others cannot."""
    if asked not in _FALLBACK:
        from merginguriel.errors import UserError

        raise UserError(f"--attn_implementation {asked!r} is not one of {', '.join(ATTN_IMPLEMENTATIONS)}.")
    reasons = []
    for impl in _FALLBACK[asked]:
        why = _unavailable(impl, cls, cuda)
        if why is None:
            reason = "" if impl == asked or (asked == "auto" and not reasons) else "; ".join(reasons)
            return AttentionChoice(asked, impl, reason)
        reasons.append(why)
    raise AssertionError("eager always runs")  # pragma: no cover


def log_choice(choice: AttentionChoice) -> None:
    """One line: what was asked and what runs (with the reason when they differ)."""
    if choice.reason:
        logger.info("attention: asked %s, running %s (%s)", choice.asked, choice.used, choice.reason)
    else:
        logger.info("attention: asked %s, running %s", choice.asked, choice.used)


__all__ = ["ATTN_IMPLEMENTATIONS", "AttentionChoice", "log_choice", "model_class", "resolve_attention"]
