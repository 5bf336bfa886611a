"""Fine-tune a sequence classifier on one MASSIVE locale or several (``training_bert.py``), over ``Trainer``; with
``--task generative`` a causal LM that writes the intent's label text (:mod:`merginguriel.training.generative`).

Every knob is a typed dataclass field with help text (``ModelArguments``, ``DataArguments``,
``ExtraTrainingArguments`` in :mod:`merginguriel.training.arguments`, and transformers' own
``TrainingArguments``), parsed by ``HfArgumentParser``, as in
``run_glue.py``, so every Hugging Face option (``--lr_scheduler_type``, ``--warmup_ratio``,
``--gradient_accumulation_steps``, ``--save_total_limit``, ``--report_to`` …) works unchanged.
The saved config carries ``id2label``/``label2id`` in the canonical MASSIVE order (``labels.INTENT_LABELS``).

From Python, :func:`~merginguriel.training.arguments.training_arguments` builds the same four objects from field values by name, with the same
defaults as the command line (``TRAINER_DEFAULTS``), and :func:`train_classifier` runs them::

    args = training_arguments("xlm-roberta-base", ["de-DE"], "builtin", "out/de", do_train=True, num_train_epochs=1)
    metrics = train_classifier(args)

The run's pieces live next to this module: LoRA in :mod:`merginguriel.training.lora`; data, mixtures and class
weights in
:mod:`merginguriel.training.data`, the weighted loss and the run-metadata callback in
:mod:`merginguriel.training.callbacks`, the model folder, checkpoints and resuming in
:mod:`merginguriel.training.outputs`. Every argument is saved to ``OUT/training_config.json``, the metrics to
``OUT/all_results.json`` and the run metadata to ``OUT/run_metadata.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.utils import logging as transformers_logging

from merginguriel import __version__
from merginguriel.data.labels import ID2LABEL, INTENT_LABELS, LABEL2ID
from merginguriel.data.locales import parse_locales
from merginguriel.errors import MissingInputError, UserError
from merginguriel.outputs.atomic import (
    OutputExistsError,
    check_writable,
    write_json_atomic,
    write_text_atomic,
)
from merginguriel.training.arguments import (
    ExtraTrainingArguments,
    ModelArguments,
    TrainArguments,
)
from merginguriel.training.attention import AttentionChoice, log_choice, model_class, resolve_attention
from merginguriel.training.callbacks import (
    LogLineCallback,
    RunMetadataCallback,
    WeightedLossTrainer,
    compute_metrics,
    metrics_line,
)
from merginguriel.training.data import (
    check_dataset_locales,
    inverse_frequency_weights,
    load_splits,
    parse_mixture_rates,
    tokenized,
)
from merginguriel.training.generative import (
    GenerativeCollator,
    GenerativeTrainer,
    encode_splits,
    load_causal_lm,
)
from merginguriel.training.grpo import check_grpo, grpo_trainer
from merginguriel.training.lora import lora_model, quiet_deprecations, resolved_model_arguments
from merginguriel.training.outputs import (
    checkpoints_dir,
    collect_checkpoints,
    needs_checkpoints,
    resolve_resume,
    staging_dir,
    world,
)
from merginguriel.training.quantization import (
    SAVED_AS,
    check_quantization,
    compute_dtype,
    merge_into_full_precision,
    prepare_quantised,
    quantization_config,
)

logger = logging.getLogger("merginguriel.training")


def detect_device() -> str:
    """``cuda``, ``mps`` or ``cpu``: what Trainer will use."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def choose_precision(requested: str, device: str, bf16_supported: bool) -> str:
    """The precision to train in: ``requested`` unless it is ``auto``, which means bf16 on CUDA GPUs that support
    it, fp16 on other CUDA GPUs, fp32 elsewhere (MPS mixed precision is not reliable enough; CPU has no gain)."""
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bf16" if bf16_supported else "fp16"
    return "fp32"


def replace_training_args(args: TrainingArguments, **changes: Any) -> TrainingArguments:
    """A copy of ``args`` with ``changes``, validated again by ``TrainingArguments.__post_init__``."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    values.update(changes)
    return type(args)(**values)


def check_model_source(name: str | os.PathLike, flag: str = "--model_name_or_path", hub: bool = True) -> None:
    """Fail early, with a clear ``FileNotFoundError``, unless ``name`` is a model folder (``config.json``) or a
    hub id whose config can be fetched (or is cached, offline); ``hub=False`` takes any hub id on trust."""
    from transformers import AutoConfig

    text = str(name)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise MissingInputError(f"{flag} {text} is a folder without config.json: not a model folder.")
        return
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or (os.sep != "/" and os.sep in text):
        raise MissingInputError(f"{flag} {text}: no such model folder.")
    if not hub:
        return
    try:
        AutoConfig.from_pretrained(text)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingInputError(
            f"{flag} {text} is neither a local model folder nor a loadable hub model ({first})."
        ) from None


def check_packing(model: ModelArguments) -> None:
    """``--packing`` is for causal LMs (``--task generative``) with a positive ``--packing_length``."""
    if model.packing:
        if model.task != "generative":
            raise UserError(
                "--packing packs causal-LM examples (block-diagonal causal attention): it needs --task generative; "
                "encoder classifiers pad each batch to its longest text (drop --packing)."
            )
        try:  # transformers builds the block-diagonal mask from position ids since 4.53; before, rows would mix
            from transformers.masking_utils import find_packed_sequence_indices  # noqa: F401
        except ImportError:
            raise UserError(
                "--packing needs transformers >= 4.53 (attention within each packed example); upgrade transformers "
                "or drop --packing."
            ) from None
    if model.packing_length is not None and model.packing_length < 1:
        raise UserError(f"--packing_length must be a positive number of tokens, not {model.packing_length}.")


def pack_length(model: ModelArguments) -> int | None:
    """Tokens per packed row (None: no packing)."""
    return (model.packing_length or model.max_seq_length) if model.packing else None


def prepare_training_args(
    training_args: TrainingArguments, extra: ExtraTrainingArguments
) -> TrainingArguments:
    """Apply the options that imply others: early stopping (evaluate + save per epoch, load the best model),
    resume (checkpoints needed), TensorBoard always, and the precision."""
    changes: dict[str, Any] = {}
    eval_strategy = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy))
    if extra.early_stopping_patience is not None:
        if extra.early_stopping_patience < 1:
            raise UserError("--early_stopping_patience must be at least 1.")
        if eval_strategy == "no":
            eval_strategy = "epoch"
            changes["eval_strategy"] = "epoch"
        changes["save_strategy"] = eval_strategy
        if eval_strategy == "steps":
            changes["save_steps"] = training_args.eval_steps or training_args.logging_steps
        changes["load_best_model_at_end"] = True
        changes["metric_for_best_model"] = training_args.metric_for_best_model or "accuracy"
    elif training_args.resume_from_checkpoint and not needs_checkpoints(training_args):
        changes["save_strategy"] = "epoch"  # a resumed run should itself be resumable
    report_to = list(training_args.report_to or [])
    if "none" in report_to:
        report_to.remove("none")
    if "all" not in report_to and "tensorboard" not in report_to:
        report_to.append("tensorboard")
    if report_to != list(training_args.report_to or []):
        changes["report_to"] = report_to
    if "wandb" in report_to:
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise UserError("--report_to wandb needs the wandb package: pip install 'merginguriel[wandb]'.")
    device = detect_device()
    if device != "cuda" and training_args.dataloader_pin_memory:
        changes["dataloader_pin_memory"] = False  # pinned memory needs an accelerator (torch warns otherwise)
    if not (training_args.fp16 or training_args.bf16):
        bf16_ok = device == "cuda" and torch.cuda.is_bf16_supported()
        precision = choose_precision(extra.precision, device, bf16_ok)
        if precision == "bf16":
            changes["bf16"] = True
        elif precision == "fp16":
            changes["fp16"] = True
    return replace_training_args(training_args, **changes) if changes else training_args


def train_classifier(args: TrainArguments, callbacks: Sequence[TrainerCallback] | None = None) -> dict:
    """Train / evaluate / predict as asked; returns all metrics. The model folder is written atomically.

    ``args.training.resume_from_checkpoint`` may be ``latest`` (the newest checkpoint in
    ``{output_dir}.checkpoints/``; a fresh start if there is none) or a checkpoint folder.

    A wandb run started by this call (``--report_to wandb``) is finished when it returns, so the next call in
    the same process (``--all-lolo``, iterative training, …) logs to a run of its own.
    """
    wandb = sys.modules.get("wandb")
    outer_run = getattr(wandb, "run", None) if wandb is not None else None
    try:
        return _train_classifier(args, callbacks)
    finally:
        wandb = sys.modules.get("wandb")
        if wandb is not None and outer_run is None and getattr(wandb, "run", None) is not None:
            wandb.finish()


def _train_classifier(args: TrainArguments, callbacks: Sequence[TrainerCallback] | None) -> dict:
    locales = parse_locales(args.data.dataset_config_name)
    # user errors first, before anything is loaded or written
    parse_mixture_rates(args.data.mixture_rates, len(locales))
    check_packing(args.model)
    check_grpo(
        args.model.task,
        args.extra.objective,
        args.training.per_device_train_batch_size,
        args.training.gradient_accumulation_steps,
        args.extra.grpo_num_generations,
    )
    check_quantization(
        args.model.quantization, args.model.use_lora, torch.cuda.is_available() and not args.training.use_cpu
    )
    check_dataset_locales(args.data.dataset_name, locales)
    check_model_source(args.model.model_name_or_path)
    args = dataclasses.replace(args, model=resolved_model_arguments(args.model))
    output_dir = Path(args.training.output_dir)
    check_writable(output_dir.parent, "--output_dir")
    training = prepare_training_args(args.training, args.extra)
    if args.model.task == "generative":  # its rows carry intent_id, which the model's forward does not take
        training = replace_training_args(training, remove_unused_columns=False)
    set_seed(training.seed)
    if not training.do_train:
        return _run(dataclasses.replace(args, training=training), locales, output_dir, None, callbacks)
    overwrite = args.data.overwrite
    if output_dir.exists() and not overwrite:
        raise OutputExistsError(f"Output folder {output_dir} exists already. Pass --overwrite to replace it.")
    ckpt_dir = checkpoints_dir(output_dir)
    resume = resolve_resume(training.resume_from_checkpoint, ckpt_dir, overwrite)
    with staging_dir(output_dir, overwrite) as tmp:
        uses_checkpoints = needs_checkpoints(training)
        run_training = replace_training_args(
            training, output_dir=str(ckpt_dir if uses_checkpoints else tmp), resume_from_checkpoint=resume
        )
        run_args = dataclasses.replace(args, training=run_training)
        metrics = _run(run_args, locales, output_dir, tmp, callbacks)
        if uses_checkpoints and world()[1] == 0:
            collect_checkpoints(ckpt_dir, tmp, args.extra.keep_checkpoints)
    return metrics


def attention_choice(args: TrainArguments) -> AttentionChoice:
    """The attention implementation this run uses (:mod:`merginguriel.training.attention`)."""
    import torch

    cuda = torch.cuda.is_available() and not getattr(args.training, "use_cpu", False)
    cls = model_class(args.model.model_name_or_path, args.model.task)
    return resolve_attention(args.model.attn_implementation, cls, cuda)


def _load_model(args: TrainArguments, attention: AttentionChoice) -> tuple[Any, Any]:
    """(tokenizer, classifier with the canonical MASSIVE labels), LoRA-wrapped when asked for and training;
    for ``--task generative`` (prompt tokenizer, causal LM); both with ``attention.used``."""
    if args.model.task == "generative":
        tokenizer, model = load_causal_lm(args, attention.used)
        return tokenizer, freeze_input_embeddings(model) if args.model.freeze_embeddings else model
    model_path = args.model.model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    quantised = args.model.quantization != "none" and args.model.use_lora and args.training.do_train
    kwargs: dict[str, Any] = {}
    if quantised:  # the new intent head stays in full precision (it is trained in full, like LoRA's head)
        config = quantization_config(args.model.quantization, compute_dtype(args.training))
        config.llm_int8_skip_modules = ["classifier", "score", "pooler"]
        kwargs["quantization_config"] = config
    # a base encoder has no intent head (and may lack a pooler): transformers' load report of the new weights
    # says nothing a user can act on, so it is replaced by one line naming them
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            model_path,
            num_labels=len(INTENT_LABELS),
            id2label=dict(ID2LABEL),
            label2id=dict(LABEL2ID),
            ignore_mismatched_sizes=True,
            output_loading_info=True,
            attn_implementation=attention.used,
            **kwargs,
        )
    finally:
        transformers_logging.set_verbosity(verbosity)
    new = sorted([*info.get("missing_keys", []), *(k for k, *_ in info.get("mismatched_keys", []))])
    if new:
        logger.info("newly initialised (trained from scratch): %s", ", ".join(new))
    if args.model.freeze_embeddings:
        freeze_input_embeddings(model)
    if args.model.use_lora and args.training.do_train:
        from peft import TaskType

        if quantised:
            model = prepare_quantised(model, bool(args.training.gradient_checkpointing))
        model = lora_model(model, args.model, TaskType.SEQ_CLS)
    return tokenizer, model


def freeze_input_embeddings(model: Any) -> Any:
    """``model`` with its input word embeddings frozen (``requires_grad`` off; AdamW then keeps no state for
    them and never changes them)."""
    model.get_input_embeddings().weight.requires_grad_(False)
    return model


def _router_metadata(args: TrainArguments) -> dict[str, Any]:
    """For a mixture-of-experts decoder: its experts and the router loss coefficient training used."""
    if args.model.task != "generative":
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(args.model.model_name_or_path)
    experts = getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None)
    if experts is None or not hasattr(config, "router_aux_loss_coef"):
        return {}
    return {"num_experts": int(experts), "experts_per_token": int(config.num_experts_per_tok),
            "router_aux_loss_coef": float(config.router_aux_loss_coef)}  # fmt: skip


def _metadata_callback(
    args: TrainArguments, train: Any, encoded_train: Any, attention: AttentionChoice
) -> RunMetadataCallback:
    composition = dict(sorted(Counter(train["locale"]).items()))
    logger.info("training data composition: %s", metrics_line(composition))
    return RunMetadataCallback(
        {
            "train_examples": len(train),
            "data_composition": composition,
            "train_tokens_per_epoch": int(sum(len(ids) for ids in encoded_train["input_ids"])),
            "mixture_rates": args.data.mixture_rates,
            "task": args.model.task,
            "use_lora": args.model.use_lora,
            "class_weights": args.extra.class_weights,
            "attention": attention.to_dict(),
            "packing_length": pack_length(args.model),
            "quantization": args.model.quantization,
            "objective": args.extra.objective,
            **_router_metadata(args),
        }
    )


def _trainer(
    args: TrainArguments,
    model: Any,
    tokenizer: Any,
    splits: dict[str, Any],
    encoded: dict[str, Any],
    callbacks: list[TrainerCallback],
) -> Trainer:
    """``Trainer`` (the class-weighted one, or the generative one) over the encoded splits, with early stopping
    when asked for."""
    trainer_kwargs: dict[str, Any] = {}
    trainer_cls: type[Trainer] = Trainer
    collator: Any = DataCollatorWithPadding(tokenizer)
    training, extra = args.training, args.extra
    weights = None
    if extra.class_weights and training.do_train:
        trainer_cls = WeightedLossTrainer
        weights = inverse_frequency_weights(splits["train"]["label"], len(INTENT_LABELS))
        trainer_kwargs["class_weights"] = weights
        logger.info("class weights (inverse frequency): %s", np.round(weights[weights > 0], 4).tolist())
    if args.model.task == "generative":
        trainer_cls = GenerativeTrainer
        collator = GenerativeCollator(tokenizer.pad_id, pack_length=pack_length(args.model))
        trainer_kwargs = {"label_sequences": tokenizer.label_sequences, "class_weights": weights}
        tokenizer = tokenizer.tokenizer  # what checkpoints save
    if extra.early_stopping_patience is not None and training.do_train:
        callbacks = [
            *callbacks,
            EarlyStoppingCallback(extra.early_stopping_patience, extra.early_stopping_threshold),
        ]
    trainer = trainer_cls(
        model=model,
        args=training,
        train_dataset=encoded.get("train"),
        eval_dataset=encoded.get("validation"),
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        **trainer_kwargs,
    )
    return _quiet_printer(trainer)


def _quiet_printer(trainer: Trainer) -> Trainer:
    """Progress bars off (``--disable_tqdm``): one readable line per log instead of a raw dict."""
    if trainer.pop_callback(PrinterCallback) is not None:
        trainer.add_callback(LogLineCallback())
    return trainer


def _train_and_save(
    trainer: Trainer, args: TrainArguments, tokenizer: Any, train: Any, save_dir: Path
) -> dict[str, Any]:
    """Train, save the model (LoRA merged back into full weights) and tokenizer; returns the training metrics."""
    with quiet_deprecations():
        result = trainer.train(resume_from_checkpoint=args.training.resume_from_checkpoint)
    metrics = {f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()}
    metrics["global_step"] = int(trainer.state.global_step)
    if args.model.use_lora:
        if args.model.quantization != "none":  # QLoRA: the adapters go into the base loaded in full precision
            full = dataclasses.replace(
                args, model=dataclasses.replace(args.model, quantization="none", use_lora=False)
            )
            trainer.model = merge_into_full_precision(
                trainer.model, _load_model(full, attention_choice(full))[1]
            )
            logger.info("--quantization %s: saved %s", args.model.quantization, SAVED_AS)
        else:
            trainer.model = trainer.model.merge_and_unload()
    config = getattr(trainer.model, "config", None)
    if getattr(config, "output_router_logits", False):  # a training setting (the router loss): not saved
        config.output_router_logits = False
    if args.model.use_lora:
        if trainer.is_world_process_zero():
            trainer.model.save_pretrained(str(save_dir))
    else:
        trainer.save_model(str(save_dir))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(save_dir))
    metrics["train_examples_per_locale"] = dict(Counter(train["locale"]))
    return metrics


def _write_card(save_dir: Path, args: TrainArguments, metrics: Mapping[str, Any]) -> None:
    """``README.md``: the Hugging Face card of the trained model (:func:`merginguriel.models.cards.trained_card`)."""
    from merginguriel.models.cards import trained_card, write_card

    training = args.training
    settings = {
        "task": args.model.task,
        "learning_rate": training.learning_rate,
        "num_train_epochs": training.num_train_epochs,
        "per_device_train_batch_size": training.per_device_train_batch_size,
        "seed": training.seed,
        "use_lora": args.model.use_lora,
        "quantization": None
        if args.model.quantization == "none"
        else f"{args.model.quantization} (QLoRA); saved: {SAVED_AS}",
        "packing_length": pack_length(args.model),
        "objective": args.extra.objective,
        "mixture_rates": args.data.mixture_rates,
    }
    card = trained_card(args.model.model_name_or_path, list(metrics["locales"]), str(args.data.dataset_name),
                        metrics, save_dir, settings)  # fmt: skip
    write_card(save_dir, card)


def _write_results(
    save_dir: Path, final_dir: Path, args: TrainArguments, metrics: dict, meta_cb: RunMetadataCallback | None
) -> None:
    """``all_results.json``, ``run_metadata.json`` and ``training_config.json`` / ``.txt`` (every argument, as
    JSON and as ``section.name = value`` lines)."""
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(save_dir / "all_results.json", metrics)
    if meta_cb is not None:
        write_json_atomic(save_dir / "run_metadata.json", meta_cb.metadata)
    if args.training.do_train:  # the card of the new model (an evaluate-only run leaves a model's card alone)
        _write_card(save_dir, args, metrics)
    config = {
        "merginguriel_version": __version__,
        "output_dir": str(final_dir),
        "model_arguments": asdict(args.model),
        "data_arguments": asdict(args.data),
        "extra_training_arguments": asdict(args.extra),
        # the run's own output_dir is a staging or checkpoints folder; record where the model is
        "training_arguments": {**json.loads(args.training.to_json_string()), "output_dir": str(final_dir)},
    }
    write_json_atomic(save_dir / "training_config.json", config)
    write_text_atomic(save_dir / "training_config.txt", config_text(config))


def config_text(config: Mapping[str, Any]) -> str:
    """``training_config.json`` as text: ``section.name = value`` lines, sections in order, names sorted."""
    lines = []
    for section, values in config.items():
        if isinstance(values, Mapping):
            lines += [
                f"{section}.{name} = {json.dumps(values[name], default=str)}" for name in sorted(values)
            ]
        else:
            lines.append(f"{section} = {json.dumps(values, default=str)}")
    return "\n".join(lines) + "\n"


def _run(
    args: TrainArguments,
    locales: list[str],
    final_dir: Path,
    out_dir: Path | None,
    callbacks: Sequence[TrainerCallback] | None,
) -> dict:
    training = args.training
    eval_strategy = str(getattr(training.eval_strategy, "value", training.eval_strategy))
    wanted = {
        "train": training.do_train,
        "validation": training.do_eval or (training.do_train and eval_strategy != "no"),
        "test": training.do_predict,
    }
    splits = load_splits(args.data, locales, training.seed, wanted)
    attention = attention_choice(args)
    log_choice(attention)
    tokenizer, model = _load_model(args, attention)
    if args.model.task == "generative":
        encoded = encode_splits(splits, tokenizer, args.model.max_seq_length)
    else:
        encoded = {
            name: tokenized(data, tokenizer, args.model.max_seq_length) for name, data in splits.items()
        }
    meta_cb = (
        _metadata_callback(args, splits["train"], encoded["train"], attention) if training.do_train else None
    )
    all_callbacks = [*(callbacks or []), *([meta_cb] if meta_cb is not None else [])]
    grpo = args.extra.objective == "grpo" and training.do_train
    if grpo:  # TRL's trainer fits; dev/test are scored afterwards by the generative trainer (below)
        fit = _quiet_printer(
            grpo_trainer(model, tokenizer, training, args.extra, splits["train"], all_callbacks)
        )
    else:
        fit = trainer = _trainer(args, model, tokenizer, splits, encoded, all_callbacks)
    if meta_cb is not None:
        meta_cb.trainer = fit
    metrics: dict[str, Any] = {"locales": locales}
    save_dir = out_dir if out_dir is not None else final_dir
    if training.do_train:
        metrics.update(_train_and_save(fit, args, tokenizer, splits["train"], save_dir))
        if grpo:  # dev/test as for any generative model: label scoring with the trained weights
            trainer = _trainer(args, fit.model, tokenizer, splits, encoded, [])
    if training.do_eval:
        metrics.update(trainer.evaluate(encoded["validation"], metric_key_prefix="eval"))
    if training.do_predict:
        metrics.update(trainer.predict(encoded["test"], metric_key_prefix="predict").metrics)
    if trainer.is_world_process_zero():
        _write_results(save_dir, final_dir, args, metrics, meta_cb)
    return metrics


__all__ = [
    "check_model_source",
    "choose_precision",
    "detect_device",
    "prepare_training_args",
    "replace_training_args",
    "train_classifier",
]
