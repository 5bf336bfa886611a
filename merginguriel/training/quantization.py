"""Quantised fine-tuning (QLoRA): the base weights loaded in 4 or 8 bits by bitsandbytes, LoRA adapters trained on
top, and the model saved in full precision.

* ``--quantization 4bit``: NF4 weights with double quantisation (Dettmers et al., 2023, "QLoRA"), matmuls computed
  in bf16 (``--bf16``), fp16 (``--fp16``) or fp32; ``--quantization 8bit``: LLM.int8 (Dettmers et al., 2022).
  Either implies ``--use_lora``: the quantised base stays frozen (peft's ``prepare_model_for_kbit_training``
  casts the norms to fp32 and makes the inputs require gradients), only the adapters train.
* **Saving.** The adapters are merged into the base **re-loaded in full precision**, not into the quantised one:
  the saved model is ``W_base + (alpha / r) · B A`` per adapted matrix, a full-precision model like any other,
  so ``merge``, ``evaluate`` and the NxN read it as usual. (Its adapters were fitted to the quantised base, so it
  is not bit-identical to the network that trained; the card and ``run_metadata.json`` say so.)
* **Devices.** bitsandbytes quantises on CUDA, where QLoRA saves the memory it is for; its CPU backend also runs
  both modes (slowly), so tiny models train on CPU in the tests. Without bitsandbytes installed, one error before
  any work names the extra to install.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import torch

from merginguriel.errors import UserError

logger = logging.getLogger("merginguriel.training")

QUANTIZATIONS: tuple[str, ...] = ("none", "4bit", "8bit")
SAVED_AS = (
    "the full-precision base with the LoRA update merged in (the adapters were trained on the quantised base)"
)


def check_quantization(kind: str, use_lora: bool | None, cuda: bool) -> None:
    """One clear error before any work: an unknown kind, ``--use_lora false`` with a quantised base, or no
    bitsandbytes; a log line when it runs on bitsandbytes' (slow) CPU backend."""
    if kind not in QUANTIZATIONS:
        raise UserError(f"--quantization must be one of {', '.join(QUANTIZATIONS)}, not {kind!r}.")
    if kind == "none":
        return
    if use_lora is False:
        raise UserError(
            f"--quantization {kind} trains LoRA adapters on a frozen quantised base (QLoRA); a quantised model "
            "cannot be fine-tuned in full. Drop --use_lora false (or --quantization)."
        )
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(
            f"--quantization {kind} needs bitsandbytes: pip install 'merginguriel[qlora]' (it quantises on CUDA "
            "GPUs; its CPU backend is slow). Or train without --quantization."
        )
    if not cuda:
        logger.info(
            "--quantization %s on CPU: bitsandbytes' CPU backend runs it slowly; QLoRA saves GPU memory, on CUDA",
            kind,
        )


def compute_dtype(training: Any) -> torch.dtype:
    """The dtype a quantised base computes in: bf16 / fp16 as the run trains, else fp32."""
    return torch.bfloat16 if training.bf16 else torch.float16 if training.fp16 else torch.float32


def quantization_config(kind: str, compute_dtype: torch.dtype) -> Any:
    """transformers' ``BitsAndBytesConfig`` for ``kind`` (``4bit``: NF4, double quantisation)."""
    import warnings

    from transformers import BitsAndBytesConfig

    # LLM.int8 casts fp32 inputs to fp16 and says so on every matmul (on CPU there is no other way)
    warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
    if kind == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def prepare_quantised(model: Any, gradient_checkpointing: bool) -> Any:
    """peft's preparation of a k-bit base for adapter training."""
    from peft import prepare_model_for_kbit_training

    from merginguriel.training.lora import quiet_deprecations

    with quiet_deprecations():
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def merge_into_full_precision(trained: Any, full_base: Any) -> Any:
    """The adapters of the peft model ``trained`` (on a quantised base) merged into ``full_base`` (the same base
    loaded in full precision): ``W + (alpha / r) · B A`` per adapted matrix, plus any fully trained module (e.g. a
    classification head)."""
    from peft import PeftModel

    from merginguriel.training.lora import quiet_deprecations

    with tempfile.TemporaryDirectory(prefix="merginguriel-qlora-") as adapter, quiet_deprecations():
        trained.save_pretrained(adapter)
        return PeftModel.from_pretrained(full_base, adapter).merge_and_unload()


__all__ = [
    "QUANTIZATIONS",
    "SAVED_AS",
    "check_quantization",
    "compute_dtype",
    "merge_into_full_precision",
    "prepare_quantised",
    "quantization_config",
]
