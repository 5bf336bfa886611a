"""What the trainer plugs into ``Trainer``: the metric function, the class-weighted loss, and the run-metadata
callback (parameters, trainable share, token budget, device, data composition at step 0).

The weighted loss is PyTorch's weighted cross-entropy, ``sum_i w_{y_i} * CE_i / sum_i w_{y_i}`` per batch,
with the weights of :func:`merginguriel.training.data.inverse_frequency_weights`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from transformers import EvalPrediction, Trainer, TrainerCallback, TrainingArguments

from merginguriel.models.evaluation import classification_metrics


def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Accuracy and macro-F1 of the argmax of the logits."""
    logits = (
        prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    )
    metrics = classification_metrics(prediction.label_ids, np.asarray(logits).argmax(axis=1))
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def metrics_line(metrics: dict[str, Any]) -> str:
    """``metrics`` as one readable log line: ``key=value`` pairs, numbers to 4 significant digits, mappings as
    ``key=a:1,b:2`` and lists comma-joined (the trainer's metrics dict, never printed raw)."""

    def value(v: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            if isinstance(v, dict):
                return ",".join(f"{k}:{value(x)}" for k, x in v.items())
            if isinstance(v, (list, tuple)):
                return ",".join(value(x) for x in v)
            return str(v)
        return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)

    return " ".join(f"{k}={value(v)}" for k, v in metrics.items())


class LogLineCallback(TrainerCallback):
    """Replaces ``Trainer``'s printer of raw log dicts (used when progress bars are off): each log event becomes
    one ``step N/M: key=value ...`` line on the ``merginguriel.training.trainer`` logger."""

    def on_log(
        self, args: TrainingArguments, state: Any, control: Any, logs: Any = None, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero and logs:
            logs = {k: v for k, v in logs.items() if k != "total_flos"}
            logging.getLogger("merginguriel.training").info(
                "step %d/%d: %s", state.global_step, state.max_steps, metrics_line(logs)
            )


class WeightedLossTrainer(Trainer):
    """``Trainer`` whose loss is cross-entropy weighted per class (a per-batch weighted mean)."""

    loss_is_scaled_for_ga = False  # a per-batch mean: Trainer divides it by the accumulation steps

    def __init__(self, *args: Any, class_weights: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_weights = torch.tensor(class_weights, dtype=torch.float32)

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits
        loss_fn = torch.nn.CrossEntropyLoss(
            weight=self.class_weights.to(device=logits.device, dtype=logits.dtype)
        )
        loss = loss_fn(logits.view(-1, logits.shape[-1]), labels.view(-1))
        return (loss, outputs) if return_outputs else loss


def budget_epochs(args: TrainingArguments, train_examples: int) -> float:
    """Passes over the training data the run is set to make: ``--num_train_epochs``, or with ``--max_steps S``
    ``S * per_device_batch * accumulation * world_size / N`` (examples seen over training examples)."""
    if args.max_steps is not None and args.max_steps > 0 and train_examples:
        seen = args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
        return seen * max(1, int(args.world_size)) / train_examples
    return float(args.num_train_epochs)


class RunMetadataCallback(TrainerCallback):
    """Logs the run metadata (parameters, trainable share, token budget, device, data composition) at step 0
    to TensorBoard (text + scalars), to wandb when it is active, and keeps it for ``run_metadata.json``."""

    def __init__(self, static: dict[str, Any]) -> None:
        self.static = static
        self.metadata: dict[str, Any] = {}
        self.trainer: Trainer | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.metadata = {
            "total_parameters": int(total),
            "trainable_parameters": int(trainable),
            "trainable_share": trainable / total if total else 0.0,
            "device": str(args.device),
            "n_gpu": int(args.n_gpu),
            "world_size": int(args.world_size),
            "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
            "max_steps": int(state.max_steps),
            **self.static,
        }
        self.metadata["budget_epochs"] = budget_epochs(args, self.static["train_examples"])
        self.metadata["token_budget"] = int(
            round(self.static["train_tokens_per_epoch"] * self.metadata["budget_epochs"])
        )
        if not state.is_world_process_zero:
            return
        self._log_tensorboard()
        if "wandb" in (args.report_to or []):
            import wandb

            if wandb.run is not None:
                wandb.run.config.update({"run_metadata": self.metadata}, allow_val_change=True)

    def _log_tensorboard(self) -> None:
        writer = None
        if self.trainer is not None:
            for cb in self.trainer.callback_handler.callbacks:
                if getattr(cb, "tb_writer", None) is not None:
                    writer = cb.tb_writer
        if writer is None:
            return
        table = "\n".join(f"| {k} | {v} |" for k, v in self.metadata.items())
        writer.add_text("run_metadata", "| key | value |\n|---|---|\n" + table, 0)
        for key in ("total_parameters", "trainable_parameters", "trainable_share", "token_budget"):
            writer.add_scalar(f"run_metadata/{key}", self.metadata[key], 0)
        writer.flush()


__all__ = ["RunMetadataCallback", "WeightedLossTrainer", "budget_epochs", "compute_metrics"]
