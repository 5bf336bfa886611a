"""``merginguriel train`` / ``training_bert.py``: fine-tune an intent classifier on one or more locales.

Every ``TrainingArguments`` option works (``--lr_scheduler_type cosine``, ``--gradient_accumulation_steps 4``,
``--save_strategy steps --save_steps 500 --save_total_limit 2``, ``--resume_from_checkpoint latest`` …), plus
the toolkit's own (``--class_weights``, ``--early_stopping_patience``, ``--use_lora``, ``--mixture_rates``,
``--keep_checkpoints``, ``--precision``). Multi-GPU: ``torchrun --nproc_per_node 4 merginguriel/training_bert.py …``
or ``accelerate launch merginguriel/training_bert.py …`` with the same arguments. See docs/training.md.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence

from transformers import HfArgumentParser, TrainingArguments

from merginguriel.cli_options import run_main, setup_logging
from merginguriel.locales import parse_locales
from merginguriel.training import (
    DataArguments,
    ExtraTrainingArguments,
    ModelArguments,
    default_output_dir,
    train_classifier,
)


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser((ModelArguments, DataArguments, ExtraTrainingArguments, TrainingArguments))
    parser.prog = "training_bert.py"
    parser.description = (
        "Fine-tune a sequence classifier on MASSIVE intents (one locale or a comma-separated list)."
    )
    parser.set_defaults(
        save_strategy="no",
        eval_strategy="no",
        report_to="tensorboard",
        logging_steps=25,
        learning_rate=5e-5,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=64,
    )
    return parser


def compat_argv(argv: Sequence[str]) -> list[str]:
    """Translate options renamed across transformers versions: ``--warmup_ratio R`` (transformers 4) becomes
    ``--warmup_steps R`` on transformers 5, where a ``warmup_steps`` below 1 is a ratio of the total steps."""
    if any(f.name == "warmup_ratio" for f in dataclasses.fields(TrainingArguments)):
        return list(argv)
    out = []
    for arg in argv:
        if arg == "--warmup_ratio" or arg == "--warmup-ratio":
            out.append("--warmup_steps")
        elif arg.startswith(("--warmup_ratio=", "--warmup-ratio=")):
            out.append("--warmup_steps=" + arg.split("=", 1)[1])
        else:
            out.append(arg)
    return out


def parse_train_args(
    argv: Sequence[str],
) -> tuple[ModelArguments, DataArguments, ExtraTrainingArguments, TrainingArguments]:
    """``training_bert.py`` arguments -> (model, data, extra, training) dataclasses."""
    return tuple(build_parser().parse_args_into_dataclasses(args=compat_argv(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, extra_args, training_args = parse_train_args(argv)
    setup_logging()
    if not any(a == f"--{n}" or a.startswith(f"--{n}=") for a in argv for n in ("output_dir", "output-dir")):
        locales = parse_locales(data_args.dataset_config_name)
        training_args.output_dir = str(
            default_output_dir(data_args.models_root, model_args.model_name_or_path, locales)
        )
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        raise ValueError("Nothing to do: pass --do_train, --do_eval and/or --do_predict.")
    metrics = train_classifier(model_args, data_args, training_args, extra_args)
    logging.getLogger("merginguriel.training").info("metrics: %s", metrics)
    print(f"model folder: {training_args.output_dir}")
    for key in ("eval_accuracy", "eval_macro_f1", "predict_accuracy", "predict_macro_f1"):
        if key in metrics:
            print(f"{key}: {metrics[key]:.4f}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
