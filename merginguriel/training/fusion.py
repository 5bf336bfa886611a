"""Training an expert-fusion model (:mod:`merginguriel.models.fusion`): the experts are trained further, not
frozen, jointly with the fusion module and the head — the experts with ``base_lr``, fusion + head with
``head_lr`` (two AdamW parameter groups, linear schedule with warmup).

Output (``output_dir`` = ``OUT``)::

    OUT/epoch_{e}/            every ``save_every`` epochs (and the last): components saved independently
    OUT/complete/             the complete model, with its model card (README.md)
    OUT/training_log.csv      one row per epoch (loss, dev accuracy / macro-F1, the mean learning rate of
                              the experts and of fusion + head over the epoch's steps, seconds),
                              with training_log.png (dev accuracy per epoch)
    OUT/tensorboard/          the same per-epoch values as TensorBoard scalars (``fusion/…``); with
                              ``report_to`` holding ``wandb``, a W&B run too
    OUT/fusion_summary.json
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from merginguriel.data.labels import ID2LABEL
from merginguriel.data.massive import DataSelection, load_locales
from merginguriel.errors import UserError
from merginguriel.models.cards import fusion_card, write_card
from merginguriel.models.evaluation import classification_metrics, predict_logits
from merginguriel.models.fusion import ExpertFusionModel, build_fusion_model, save_complete, save_components
from merginguriel.outputs.atomic import write_json_atomic, write_text_atomic
from merginguriel.outputs.plotting import bar_chart
from merginguriel.outputs.tracking import TENSORBOARD_DIR, EpochTracker
from merginguriel.runtime import Runtime
from merginguriel.training.arguments import TrainingOptions, as_value


@dataclass
class FusionTrainConfig:
    """One fusion training: the experts, trained jointly with a fusion module and a head on ``train_locales`` of
    ``data`` with ``training`` (its ``learning_rate`` is the experts'; ``head_lr`` the fusion module's and the
    head's), on ``runtime``'s device."""

    expert_paths: list[str]
    expert_names: list[str]
    train_locales: list[str]
    output_dir: str
    data: DataSelection
    training: TrainingOptions = field(default_factory=lambda: TrainingOptions(learning_rate=2e-5))
    fusion_type: str = "TransformerBase"
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    dropout: float = 0.1
    save_every: int = 1
    runtime: Runtime = field(default_factory=Runtime)
    base_model: str | None = None  # the experts' pretrained model (names the card's base_model if a hub id)
    report_to: tuple[str, ...] = ("tensorboard",)
    wandb_project: str = "merginguriel"

    def __post_init__(self) -> None:
        self.data = as_value(DataSelection, self.data)
        self.training = as_value(TrainingOptions, self.training)
        self.runtime = as_value(Runtime, self.runtime)
        self.report_to = tuple(self.report_to)
        if self.training.epochs != int(self.training.epochs) or self.save_every < 1:
            raise UserError("--epochs and --save-every must be whole numbers of at least 1.")

    @property
    def epochs(self) -> int:
        return int(self.training.epochs)


def _dev_metrics(
    model: ExpertFusionModel, tokenizer: Any, data: Any, config: FusionTrainConfig
) -> dict[str, float]:
    model.eval()
    logits = predict_logits(model, tokenizer, data["text"], config.training.batch_size, config.data.max_seq_length,
                            config.runtime.device,
                            progress=False)  # fmt: skip
    return classification_metrics(data["label"], logits.argmax(axis=1))


def _split(config: FusionTrainConfig, name: str, limit: int | None) -> Any:
    """A split of the training locales, concatenated."""
    d = config.data
    return load_locales(d.dataset_name, config.train_locales, name, d.text_column, limit)


def _train_loader(config: FusionTrainConfig, tokenizer: Any, train: Any) -> torch.utils.data.DataLoader:
    """Tokenised, padded, seeded-shuffled batches of the training rows."""
    from transformers import DataCollatorWithPadding

    encoded = train.map(lambda b: tokenizer(b["text"], truncation=True, max_length=config.data.max_seq_length),
                        batched=True, remove_columns=["text", "intent", "locale"])  # fmt: skip
    generator = torch.Generator().manual_seed(config.training.seed)
    return torch.utils.data.DataLoader(
        encoded.with_format(columns=["input_ids", "attention_mask", "label"]), batch_size=config.training.batch_size,
        shuffle=True, collate_fn=DataCollatorWithPadding(tokenizer), generator=generator,
    )  # fmt: skip


def _optimizer(model: ExpertFusionModel, config: FusionTrainConfig, steps_per_epoch: int) -> tuple[Any, Any]:
    """AdamW with the experts at ``base_lr`` and fusion + head at ``head_lr``, and a linear warmup schedule."""
    from transformers import get_linear_schedule_with_warmup

    expert_params = [p for p in model.experts.parameters() if p.requires_grad]
    head_params = list(model.fusion.parameters()) + list(model.head.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": expert_params, "lr": config.training.learning_rate, "name": "experts"},
         {"params": head_params, "lr": config.head_lr, "name": "fusion+head"}],
        weight_decay=config.weight_decay,
    )  # fmt: skip
    total_steps = max(1, steps_per_epoch * config.epochs)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps
    )
    return optimizer, scheduler


def _train_epoch(
    model: ExpertFusionModel,
    loader: Any,
    optimizer: Any,
    scheduler: Any,
    config: FusionTrainConfig,
    epoch: int,
) -> tuple[list[float], list[list[float]]]:
    """One pass over ``loader``; returns the batch losses and, per optimizer step, the learning rates in effect
    (experts, fusion + head)."""
    model.train()
    losses, step_lrs = [], []
    for batch in tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not config.runtime.progress):
        batch = {k: v.to(config.runtime.device) for k, v in batch.items()}
        labels = batch.pop("labels")
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        step_lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    return losses, step_lrs


def _write_log(out: Path, log_rows: list[dict[str, Any]], config: FusionTrainConfig) -> None:
    """``training_log.csv`` and ``training_log.png`` (dev accuracy per epoch)."""
    out.mkdir(parents=True, exist_ok=True)
    log = pd.DataFrame(log_rows)
    write_text_atomic(out / "training_log.csv", log.to_csv(index=False))
    bar_chart(
        log.set_index(log["epoch"].map(lambda e: f"epoch {e}"))["dev_accuracy"],
        out / "training_log.png",
        f"Fusion ({config.fusion_type}) dev accuracy per epoch",
        "dev accuracy",
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def train_fusion(config: FusionTrainConfig) -> dict[str, Any]:
    """Train experts + fusion + head jointly; save components every ``save_every`` epochs and the complete model."""
    out = Path(config.output_dir)
    torch.manual_seed(config.training.seed)
    model, tokenizer = build_fusion_model(config.expert_paths, config.expert_names, config.fusion_type,
                                          config.dropout, config.training.seed)  # fmt: skip
    if model.config.id2label != dict(ID2LABEL):
        raise UserError("The fusion head must use the canonical MASSIVE labels.")
    model.to(config.runtime.device)
    train = _split(config, "train", config.training.max_train_samples).shuffle(seed=config.training.seed)
    dev = _split(config, "validation", config.training.max_eval_samples)
    loader = _train_loader(config, tokenizer, train)
    optimizer, scheduler = _optimizer(model, config, len(loader))
    log_rows: list[dict[str, Any]] = []
    saved: list[str] = []
    tracked = {"fusion_type": config.fusion_type, "experts": config.expert_names, "train_locales": config.train_locales,
               "epochs": config.epochs, "learning_rate": config.training.learning_rate, "head_lr": config.head_lr,
               "seed": config.training.seed}  # fmt: skip
    name = f"fusion_{config.fusion_type}_{'+'.join(config.expert_names)}"
    with EpochTracker(
        out / TENSORBOARD_DIR, name, tracked, config.report_to, config.wandb_project
    ) as tracker:
        for epoch in tqdm(
            range(1, config.epochs + 1),
            desc="fusion epochs",
            unit="epoch",
            disable=not config.runtime.progress,
        ):
            started = time.time()
            losses, step_lrs = _train_epoch(model, loader, optimizer, scheduler, config, epoch)
            dev_metrics = _dev_metrics(model, tokenizer, dev, config)
            log_rows.append({
                "epoch": epoch, "train_loss": _mean(losses),
                "dev_accuracy": dev_metrics["accuracy"], "dev_macro_f1": dev_metrics["macro_f1"],
                "lr_experts": _mean([lr[0] for lr in step_lrs]), "lr_fusion_head": _mean([lr[1] for lr in step_lrs]),
                "seconds": round(time.time() - started, 2),
            })  # fmt: skip
            _write_log(out, log_rows, config)
            tracker.log(epoch, {k: v for k, v in log_rows[-1].items() if k != "epoch"}, prefix="fusion/")
            if epoch % config.save_every == 0 or epoch == config.epochs:
                saved.append(str(save_components(model, tokenizer, out / f"epoch_{epoch}")))
    complete = save_complete(model, tokenizer, out / "complete")
    write_card(complete, fusion_card(config.expert_paths, config.expert_names, config.fusion_type,
                                     config.train_locales, config.base_model))  # fmt: skip
    summary = {"config": asdict(config), "hidden_size": model.config.hidden_size, "epochs": log_rows,
               "components": saved, "complete": str(complete)}  # fmt: skip
    write_json_atomic(out / "fusion_summary.json", summary)
    return summary


__all__ = ["FusionTrainConfig", "train_fusion"]
