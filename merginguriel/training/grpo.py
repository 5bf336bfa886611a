"""Reinforcement learning for generative intent classification with GRPO (Shao et al., 2024, "DeepSeekMath"),
through TRL's ``GRPOTrainer`` (``train --task generative --objective grpo``).

For each training utterance the policy samples ``G = --grpo_num_generations`` completions of the prompt (at most
``--grpo_max_completion_length`` tokens, ``--grpo_temperature``); each completion ``o_i`` gets the reward

    r_i = 1[o_i is the gold label's tokens followed by EOS] + f · 1[o_i is one of the 60 labels' tokens + EOS]

(``f = --grpo_format_reward``: a well-formed label, right or wrong, earns ``f``; the correct one earns ``1 + f``),
its advantage is ``A_i = (r_i − mean_j r_j) / std_j r_j`` within the group, and the policy follows the clipped
surrogate ``min(ρ_i A_i, clip(ρ_i, 1 ± ε) A_i)`` per token, minus ``β = --grpo_beta`` times the KL divergence
to the starting model (0: no reference model is kept, TRL's default). The comparison is on token ids, not on
decoded text, so it means the same for every tokenizer. Start from a supervised checkpoint (a model trained with
``--task generative``): a model that never writes a label gets no reward to learn from, and the run says so.

Dev/test evaluation and the saved model are as for supervised training (label scoring, the generative marker).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from merginguriel.errors import UserError
from merginguriel.generative.classifier import PromptTokenizer

logger = logging.getLogger("merginguriel.training")

OBJECTIVES: tuple[str, ...] = ("sft", "grpo")


def check_grpo(task: str, objective: str, batch_size: int, accumulation: int, generations: int) -> None:
    """One clear error before any work: GRPO on an encoder, an unknown objective, or a batch that does not hold
    whole groups of generations."""
    if objective not in OBJECTIVES:
        raise UserError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}.")
    if objective != "grpo":
        return
    if task != "generative":
        raise UserError(
            "--objective grpo samples label texts from a causal LM: it needs --task generative (an encoder "
            "classifier has nothing to generate)."
        )
    import importlib.util

    if importlib.util.find_spec("trl") is None:
        raise UserError("--objective grpo needs TRL: pip install 'merginguriel[rl]'.")
    if generations < 2:
        raise UserError(
            f"--grpo_num_generations must be at least 2 (advantages compare a group), not {generations}."
        )
    if (batch_size * accumulation) % generations:
        raise UserError(
            f"--per_device_train_batch_size × --gradient_accumulation_steps ({batch_size} × {accumulation}) must be "
            f"a multiple of --grpo_num_generations ({generations}): each step holds whole groups of completions."
        )


def completion_label(ids: Sequence[int], tokenizer: PromptTokenizer) -> int | None:
    """The index of the label whose tokens + EOS the completion ``ids`` spells exactly (None: not a label)."""
    ids = [int(i) for i in ids]
    if tokenizer.eos_id not in ids:
        return None
    ids = ids[: ids.index(tokenizer.eos_id) + 1]
    for j, sequence in enumerate(tokenizer.label_sequences):
        if ids == sequence:
            return j
    return None


def reward_functions(tokenizer: PromptTokenizer, format_reward: float) -> list[Any]:
    """TRL reward functions (logged under their names): ``correct_label`` (1 for the gold label, exactly) and
    ``well_formed`` (``format_reward`` for any label); each reads the completion's token ids and the example's ``label_index`` column."""

    def correct_label(completion_ids: list[list[int]], label_index: list[int], **_: Any) -> list[float]:
        return [
            float(completion_label(ids, tokenizer) == gold) for ids, gold in zip(completion_ids, label_index)
        ]

    def well_formed(completion_ids: list[list[int]], **_: Any) -> list[float]:
        return [format_reward * (completion_label(ids, tokenizer) is not None) for ids in completion_ids]

    return [correct_label, well_formed] if format_reward else [correct_label]


def grpo_dataset(split: Any, tokenizer: PromptTokenizer) -> Any:
    """The training rows as TRL wants them: ``prompt`` (the template applied) and the gold ``label_index``."""
    index = {name: j for j, name in enumerate(tokenizer.spec.labels)}
    return split.map(
        lambda row: {"prompt": tokenizer.spec.prompt(row["text"]), "label_index": index[row["intent"]]},
        remove_columns=split.column_names,
        desc="grpo prompts",
    )


def grpo_trainer(
    model: Any, tokenizer: PromptTokenizer, training: Any, extra: Any, train_split: Any, callbacks: list[Any]
) -> Any:
    """TRL's ``GRPOTrainer`` over ``train_split`` with every field of ``training`` (transformers'
    ``TrainingArguments``) and the ``--grpo_*`` knobs of ``extra``."""
    from trl import GRPOConfig, GRPOTrainer

    accepted = {f.name for f in dataclasses.fields(GRPOConfig) if f.init}
    values = {
        f.name: getattr(training, f.name)
        for f in dataclasses.fields(type(training))
        if f.init and f.name in accepted
    }
    config = GRPOConfig(
        **values,
        num_generations=extra.grpo_num_generations,
        max_completion_length=extra.grpo_max_completion_length,
        temperature=extra.grpo_temperature,
        beta=extra.grpo_beta,
    )
    from merginguriel.training.lora import quiet_deprecations

    with quiet_deprecations():  # TRL calls transformers methods v5 deprecated: nothing a user can act on
        return GRPOTrainer(
            model=model,
            reward_funcs=reward_functions(tokenizer, extra.grpo_format_reward),
            args=config,
            train_dataset=grpo_dataset(train_split, tokenizer),
            processing_class=tokenizer.tokenizer,
            callbacks=callbacks,
        )


__all__ = [
    "OBJECTIVES",
    "check_grpo",
    "completion_label",
    "grpo_dataset",
    "grpo_trainer",
    "reward_functions",
]
