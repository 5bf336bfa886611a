"""``merginguriel train`` / ``training_bert.py``: fine-tune an intent classifier on one or more locales.

Every ``TrainingArguments`` option works (``--lr_scheduler_type cosine``, ``--gradient_accumulation_steps 4``,
``--save_strategy steps --save_steps 500 --save_total_limit 2``, ``--resume_from_checkpoint latest`` …), plus
the toolkit's own (``--class_weights``, ``--early_stopping_patience``, ``--use_lora``, ``--mixture_rates``,
``--keep_checkpoints``, ``--precision``). ``--task generative`` fine-tunes any causal LM to write the intent's
label text after ``--prompt_template`` (LoRA by default above 250M parameters). Multi-GPU: ``torchrun --nproc_per_node 4 merginguriel/training_bert.py …``
or ``accelerate launch merginguriel/training_bert.py …`` with the same arguments. See docs/training.md.

The commands that train through this trainer (``train-lolo``, ``fill-missing``, ``iterative``,
``snapshot-avg``) take its flags after ``--additional-args`` (:func:`add_trainer_overrides`): they are parsed
once, by this parser, into the fields they set, and passed to the core as typed overrides.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import HfArgumentParser

from merginguriel.cli.options import (
    add_data_args,
    add_hub_args,
    add_model_args,
    check_hub,
    push_to_hub,
    run_main,
    setup_logging,
)
from merginguriel.data.locales import parse_locales
from merginguriel.errors import UserError
from merginguriel.training.arguments import (
    ARGUMENT_CLASSES,
    TRAINER_DEFAULTS,
    WARMUP_RATIO_FIELD,
    training_field_names,
)
from merginguriel.training.callbacks import metrics_line
from merginguriel.training.outputs import default_output_dir, world
from merginguriel.training.trainer import TrainArguments, train_classifier

SCRIPT = "merginguriel/training_bert.py"
EXAMPLE = (
    "example: merginguriel train --model_name_or_path xlm-roberta-base --dataset_name builtin "
    "--dataset_config_name af-ZA --do_train --do_eval --num_train_epochs 1"
)


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    parser.prog = "training_bert.py"
    parser.description = (
        "Fine-tune an intent classifier on MASSIVE (one locale or a comma-separated list): a sequence "
        "classifier, or with --task generative a causal LM that writes the intent's label text."
    )
    parser.set_defaults(**TRAINER_DEFAULTS)
    # --push-to-hub REPO_ID (the shared group) replaces the trainer's own --push_to_hub, which pushes while
    # training (unfinished checkpoints); the finished folder is uploaded once, after it is complete
    parser.conflict_handler = "resolve"
    add_hub_args(parser, aliases=("--push_to_hub",))
    parser.conflict_handler = "error"
    parser.set_defaults(push_to_hub=False)  # TrainingArguments.push_to_hub, which no flag sets any more
    parser.epilog = EXAMPLE
    return parser


def compat_argv(argv: Sequence[str]) -> list[str]:
    """Translate options renamed across transformers versions: ``--warmup_ratio R`` (transformers 4) becomes
    ``--warmup_steps R`` on transformers 5, where a ``warmup_steps`` below 1 is a ratio of the total steps."""
    if WARMUP_RATIO_FIELD == "warmup_ratio":
        return list(argv)
    out = []
    for arg in argv:
        if arg == "--warmup_ratio" or arg == "--warmup-ratio":
            out.append(f"--{WARMUP_RATIO_FIELD}")
        elif arg.startswith(("--warmup_ratio=", "--warmup-ratio=")):
            out.append(f"--{WARMUP_RATIO_FIELD}=" + arg.split("=", 1)[1])
        else:
            out.append(arg)
    return out


def parse_command_line(argv: Sequence[str]) -> tuple[TrainArguments, argparse.Namespace]:
    """``training_bert.py`` arguments -> the four argument objects, and the hub flags (``--push-to-hub``)."""
    model, data, extra, training, *rest = build_parser().parse_args_into_dataclasses(args=compat_argv(argv))
    hub = rest[0] if rest else argparse.Namespace(push_to_hub_repo=None, hub_private=False)
    return TrainArguments(model=model, data=data, extra=extra, training=training), hub


class TrainerFlagError(UserError):
    """A ``training_bert.py`` flag that does not parse (argparse's message)."""


def _raise_flag_error(message: str) -> None:
    raise TrainerFlagError(message)


def explicit_fields(argv: Sequence[str]) -> dict[str, Any]:
    """The fields that ``training_bert.py`` flags ``argv`` set, with their parsed values (a flag given with its
    default value counts as set). A bad flag raises :class:`TrainerFlagError` with argparse's message."""
    parser = build_parser()
    parser.error = _raise_flag_error  # report to the calling command instead of exiting as training_bert.py
    unset = object()
    parser.set_defaults(**dict.fromkeys(training_field_names(), unset))
    namespace = parser.parse_args(compat_argv(argv))
    fields = set(training_field_names())  # not the hub flags: the calling command has its own
    return {name: value for name, value in vars(namespace).items() if value is not unset and name in fields}


class _TrainerOverrides(argparse.Action):
    """``--additional-args FLAG …``: the trainer flags after it, parsed into ``{field: value}``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        try:
            setattr(namespace, self.dest, explicit_fields(list(values)))
        except TrainerFlagError as exc:
            parser.error(f"--additional-args (training_bert.py options): {exc}")


def add_trainer_overrides(parser: argparse.ArgumentParser) -> None:
    """``--additional-args``: everything after it is ``training_bert.py`` flags, parsed (and checked) at once
    into ``args.trainer_overrides`` ``{field: value}``; they win over the command's own options."""
    parser.add_argument(
        "--additional-args",
        dest="trainer_overrides",
        nargs=argparse.REMAINDER,
        action=_TrainerOverrides,
        default={},
        help="Everything after this flag is passed to the trainer (training_bert.py options, e.g. --use_lora "
        "--lr_scheduler_type cosine) and wins over this command's own options; it must come last.",
    )


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The option groups of a command that trains through this trainer: the models (``--base-model``,
    ``--models-root``), the data (``--dataset-name``, ``--text-column``) and ``--additional-args``, last."""
    add_model_args(parser)
    add_data_args(parser, split=None)
    add_trainer_overrides(parser)


def command_line(fields: Mapping[str, Any]) -> str:
    """The ``python merginguriel/training_bert.py …`` command line that sets ``fields`` (as built by
    :func:`merginguriel.training.trainer.training_fields`), shell-quoted; ``None`` values are left out."""
    argv = []
    for name, value in fields.items():
        if value is None:
            continue
        if value is True:
            argv.append(f"--{name}")
        elif isinstance(value, (list, tuple)):
            argv += [f"--{name}", *(str(v) for v in value)]
        elif isinstance(value, dict):
            argv += [f"--{name}", json.dumps(value)]
        else:
            argv += [f"--{name}", "false" if value is False else str(value)]
    return f"python {SCRIPT} {shlex.join(argv)}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, hub = parse_command_line(argv)
    setup_logging()
    check_hub(hub)  # offline / not logged in: fail now, not after training
    if not any(a == f"--{n}" or a.startswith(f"--{n}=") for a in argv for n in ("output_dir", "output-dir")):
        locales = parse_locales(args.data.dataset_config_name)
        args.training.output_dir = str(
            default_output_dir(args.data.models_root, args.model.model_name_or_path, locales)
        )
    if not (args.training.do_train or args.training.do_eval or args.training.do_predict):
        raise UserError("Nothing to do: pass --do_train, --do_eval and/or --do_predict.")
    metrics = train_classifier(args)
    logging.getLogger("merginguriel.training").info("metrics: %s", metrics_line(metrics))
    print(f"model folder: {args.training.output_dir}")
    if args.training.do_train and world()[1] == 0:
        push_to_hub(hub, args.training.output_dir)
    for key in ("eval_accuracy", "eval_macro_f1", "predict_accuracy", "predict_macro_f1"):
        if key in metrics:
            print(f"{key}: {metrics[key]:.4f}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv)


if __name__ == "__main__":
    raise SystemExit(run())
