"""LoRA for the trainer: when a run uses it (explicitly, or by default for causal LMs over
:data:`~merginguriel.training.arguments.LORA_MIN_PARAMETERS` parameters), the adapters on the chosen modules,
and the task defaults made explicit."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from merginguriel.errors import UserError
from merginguriel.generative.classifier import check_template
from merginguriel.training.arguments import DEFAULT_LORA_TARGETS, LORA_MIN_PARAMETERS, TASKS, ModelArguments


@functools.cache
def parameter_count(model_name_or_path: str) -> int:
    """Parameters of the causal LM at ``model_name_or_path`` (tied weights once), counted on the meta device from
    its config (no weights are read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_name_or_path)
    with torch.device("meta"):  # (accelerate's init_empty_weights would untie the embeddings: counted twice)
        model = AutoModelForCausalLM.from_config(config)
    return int(sum(p.numel() for p in model.parameters()))


def wants_lora(use_lora: bool | None, model_name_or_path: str) -> bool:
    """``use_lora`` when given, else whether the model has more than ``LORA_MIN_PARAMETERS`` parameters."""
    if use_lora is not None:
        return bool(use_lora)
    return parameter_count(str(model_name_or_path)) > LORA_MIN_PARAMETERS


@contextlib.contextmanager
def quiet_deprecations() -> Iterator[None]:
    """peft and TRL call transformers methods that v5 deprecated (``is_gradient_checkpointing``, …): their
    FutureWarnings say nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is deprecated and will be removed in v6", category=FutureWarning
        )
        yield


def lora_model(model: Any, model_args: ModelArguments, task_type: Any) -> Any:
    """``model`` with LoRA adapters (peft ``task_type``) on ``--lora_target_modules`` (``all-linear`` is peft's
    every linear layer but the output layer)."""
    from peft import LoraConfig, get_peft_model

    targets = model_args.lora_target_modules or DEFAULT_LORA_TARGETS[model_args.task]
    config = LoraConfig(
        task_type=task_type,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=targets
        if targets == "all-linear"
        else [m.strip() for m in targets.split(",") if m.strip()],
    )
    with quiet_deprecations():
        return get_peft_model(model, config)


def resolved_model_arguments(model_args: ModelArguments) -> ModelArguments:
    """``model_args`` with the task defaults made explicit: ``use_lora`` (on with ``--quantization``; off for
    classification; for generative, on above ``LORA_MIN_PARAMETERS`` parameters) and ``lora_target_modules``; the
    template checked."""
    if model_args.task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, not {model_args.task!r}.")
    generative = model_args.task == "generative"
    if generative:
        check_template(model_args.prompt_template)
    if model_args.quantization != "none" and model_args.use_lora is not False:
        use_lora = (
            True  # QLoRA: adapters on the frozen quantised base (check_quantization refuses use_lora false)
        )
    elif generative:
        use_lora = wants_lora(model_args.use_lora, model_args.model_name_or_path)
    else:
        use_lora = bool(model_args.use_lora)
    targets = model_args.lora_target_modules or DEFAULT_LORA_TARGETS[model_args.task]
    return dataclasses.replace(model_args, use_lora=use_lora, lora_target_modules=targets)


__all__ = [
    "lora_model",
    "parameter_count",
    "quiet_deprecations",
    "resolved_model_arguments",
    "wants_lora",
]
