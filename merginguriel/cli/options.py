"""Flag groups shared by every command, each declared once, and the builders that turn parsed flags into the
core's value objects (``DataSelection``, ``SourceSelection``, ``StatisticsOptions``, ``MethodParams``,
``Runtime``). ``run_main`` turns user errors into one clear message and exit status 2.

One name per concept; an old spelling stays as a deprecated alias that prints one warning naming the new
one (e.g. ``--max-eval-samples`` → ``--max-samples``, ``--preweights`` → ``--preweight``).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal

from merginguriel.data.massive import HUB_DATASET, DataSelection
from merginguriel.defaults import (  # noqa: F401  (re-exported for the commands)
    DEFAULT_BASE_MODEL,
    DEFAULT_MODELS_ROOT,
    DENSE_MATRIX_NAME,
    MAPPING_NAME,
    REPO_ROOT,
    SPARSE_MATRIX_NAME,
    default_repo_file,
)
from merginguriel.errors import UserError
from merginguriel.merging.catalogue import PRESET_HELP, PRESETS, MethodParams, method_parameters
from merginguriel.merging.statistics import DATA_MODES, DEFAULT_CACHE_DIR, ESTIMATORS, StatisticsOptions
from merginguriel.models.logits_cache import DEFAULT_CACHE_DIR as DEFAULT_LOGITS_CACHE
from merginguriel.models.logits_cache import LogitsCache
from merginguriel.runtime import DEVICE_CHOICES, Runtime, resolve_device
from merginguriel.similarity.matrix import WEIGHTINGS
from merginguriel.similarity.selection import PREWEIGHTS, SimilarityOptions, SourceSelection, parse_weights
from merginguriel.training.arguments import TrainingOptions

if typing.TYPE_CHECKING:
    from merginguriel.experiments.sweep import SlurmOptions

# ------------------------------------------------------------------------------------- value types


def _number(text: str, kind: type, what: str, ok: Callable[[float], bool]) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """A count (rows, batch size, sequence length, workers, K): a whole number of at least 1."""
    return _number(text, int, "a whole number of at least 1", lambda v: v >= 1)


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (Sinkhorn rounds, GPUs)."""
    return _number(text, int, "a whole number of at least 0", lambda v: v >= 0)


def positive_float(text: str) -> float:
    """A number above 0 (epochs, a temperature)."""
    return _number(text, float, "a number above 0", lambda v: v > 0 and v != float("inf"))


# ------------------------------------------------------------------------------------- deprecated aliases


class _DeprecatedAlias(argparse.Action):
    """An old spelling of a flag: stores like the new one and prints one warning per parse."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, new: str, store_const: Any = None, **kw: Any
    ):
        self.new = new
        self.store_const = store_const
        self.warned = False
        if store_const is not None:
            kw["nargs"] = 0
        super().__init__(option_strings, dest, **kw)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        if not self.warned:
            print(f"warning: {option} is deprecated; use {self.new} (same meaning).", file=sys.stderr)
            self.warned = True
        setattr(namespace, self.dest, self.store_const if self.store_const is not None else values)


def add_deprecated(group: Any, old: str, new: str, dest: str, listed: bool = False, **kw: Any) -> None:
    """Register ``old`` as a deprecated spelling of the flag ``new`` (same ``dest``): hidden from ``--help``
    unless ``listed`` (for a flag that ``--help`` used to list, renamed because it clashed)."""
    shown = f"Deprecated spelling of {new}." if listed else argparse.SUPPRESS
    group.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, help=shown, **kw)


def add_renamed(group: Any, flag: str, old: str, dest: str, help: str, **kw: Any) -> None:
    """A flag renamed so that one concept has one name in every command: ``flag`` with ``help`` (and argparse's
    ``kw``), and its old spelling ``old``, listed in ``--help`` as deprecated."""
    group.add_argument(flag, dest=dest, help=help, **kw)
    same = {k: kw[k] for k in ("type", "nargs") if k in kw}
    add_deprecated(group, old, flag, dest, listed=True, **same)


def require(parser: argparse.ArgumentParser, args: argparse.Namespace, *pairs: tuple[str, str]) -> None:
    """Required flags that have deprecated spellings: ``(dest, flag)`` pairs checked after parsing (argparse's
    ``required=True`` would not count the old spelling)."""
    missing = [flag for dest, flag in pairs if getattr(args, dest, None) in (None, "")]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")


def _has_option(parser: argparse.ArgumentParser, flag: str) -> bool:
    return flag in parser._option_string_actions


# ------------------------------------------------------------------------------------- data


def add_data_args(
    parser: argparse.ArgumentParser, split: str | None = "test", max_samples: bool = False
) -> None:
    """Which rows: ``--dataset-name``, ``--text-column``, ``--dataset-split`` (alias ``--split``),
    ``--max-seq-length``, and with ``max_samples`` the evaluated rows ``--max-samples``."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset-name",
        "--dataset_name",
        dest="dataset_name",
        default=HUB_DATASET,
        help=f"Hub id ({HUB_DATASET}), a local folder laid out as <locale>/{{train,dev,test}}.jsonl[.gz], "
        "or 'builtin' for the small corpus shipped with the package.",
    )
    group.add_argument(
        "--text-column",
        "--text_column",
        dest="text_column",
        default="utt",
        help="Column holding the utterance.",
    )
    if split is not None:
        group.add_argument(
            "--dataset-split",
            "--dataset_split",
            "--split",
            dest="dataset_split",
            default=split,
            help=f"Split to use: train, validation (alias dev) or test (default {split}).",
        )
    if max_samples:
        group.add_argument(
            "--max-samples",
            dest="max_samples",
            type=positive_int,
            default=None,
            help="Evaluate on the first N rows only.",
        )
        add_deprecated(group, "--max-eval-samples", "--max-samples", "max_samples", type=positive_int)
    if not _has_option(parser, "--max-seq-length"):
        group.add_argument(
            "--max-seq-length",
            dest="max_seq_length",
            type=positive_int,
            default=128,
            help="Max tokens per text (default 128).",
        )


def data_selection(args: argparse.Namespace, locale: str | None = None) -> DataSelection:
    """The evaluation data of a command (``locale`` filled in, or left for each target)."""
    return DataSelection(
        dataset_name=args.dataset_name,
        locale=locale,
        split=getattr(args, "dataset_split", "test"),
        text_column=args.text_column,
        max_samples=getattr(args, "max_samples", None),
        max_seq_length=args.max_seq_length,
    )


# ------------------------------------------------------------------------------------- sources


def add_model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models")
    group.add_argument(
        "--models-root",
        dest="models_root",
        default=DEFAULT_MODELS_ROOT,
        help="Folder holding the per-locale models {base}_massive_k_{locale} (default ./haryos_model).",
    )
    group.add_argument(
        "--base-model",
        dest="base_model",
        default=DEFAULT_BASE_MODEL,
        help="Pretrained encoder the per-locale models were fine-tuned from (hub id or local folder); "
        "names the model folders and is the base of task vectors.",
    )


def add_similarity_args(parser: argparse.ArgumentParser, num_languages: int | None = 5) -> None:
    group = parser.add_argument_group("similarity")
    group.add_argument(
        "--similarity-matrix",
        dest="similarity_matrix",
        default=None,
        help=f"Similarity CSV (default ./{SPARSE_MATRIX_NAME}, or ./{DENSE_MATRIX_NAME} with "
        "--similarity-source dense; the repository's copy when absent here).",
    )
    group.add_argument(
        "--similarity-source",
        dest="similarity_source",
        choices=["sparse", "dense"],
        default="sparse",
        help="sparse: use the precomputed top-k + Sinkhorn matrix; dense: sparsify the dense matrix on the fly.",
    )
    group.add_argument(
        "--top-k", dest="top_k", type=positive_int, default=20, help="Top-k per row (dense source only)."
    )
    group.add_argument(
        "--sinkhorn-iters",
        dest="sinkhorn_iters",
        type=non_negative_int,
        default=20,
        help="Sinkhorn rounds (dense source only).",
    )
    group.add_argument(
        "--weighting",
        choices=list(WEIGHTINGS),
        default="sinkhorn",
        help="Source weights from the similarities: sinkhorn (renormalised Sinkhorn row, default), softmax "
        "(exp(s/T)) or normalize (s / sum s); softmax and normalize need --similarity-source dense.",
    )
    group.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        help="Softmax temperature T of --weighting softmax (default 1).",
    )
    if num_languages is not None:
        group.add_argument(
            "--num-languages",
            dest="num_languages",
            type=positive_int,
            default=num_languages,
            help=f"Number of source languages to select (default {num_languages}).",
        )


def similarity_options(args: argparse.Namespace) -> SimilarityOptions:
    return SimilarityOptions(
        args.similarity_matrix,
        args.similarity_source,
        args.top_k,
        args.sinkhorn_iters,
        args.weighting,
        args.temperature,
    )


def add_source_args(parser: argparse.ArgumentParser, preweight: bool = True) -> None:
    """How sources are named instead of selected by similarity, and their pre-weights."""
    group = parser.add_argument_group("sources")
    group.add_argument(
        "--source-locales", help="Comma-separated source locales; weights come from the similarity matrix."
    )
    group.add_argument(
        "--weights", help="LOCALE=WEIGHT pairs naming sources and weights, e.g. de-DE=0.5,nl-NL=0.5."
    )
    group.add_argument(
        "--available-only",
        action="store_true",
        help="Select similarity sources only among locales that have a model under --models-root.",
    )
    group.add_argument(
        "--include-target",
        action="store_true",
        help="Include the target's own model (it must exist under --models-root) first among the sources: "
        "improve a locale that has a model by merging it with its neighbours.",
    )
    group.add_argument(
        "--target-weight",
        type=float,
        default=None,
        help="With --include-target: the target model's weight W, 0 < W < 1 (default 0.5); the sources share "
        "1 - W in their proportions.",
    )
    if preweight:
        group.add_argument(
            "--preweight",
            choices=list(PREWEIGHTS),
            default=None,
            help="Source weights: uriel (similarity, default) or equal (1/K); for fisher these are the c_i.",
        )
        add_deprecated(group, "--preweights", "--preweight", "preweight", choices=list(PREWEIGHTS))


def source_selection(args: argparse.Namespace, preweight: str | None = None) -> SourceSelection:
    """The source selection of a command's flags (``preweight`` from a resolved preset when given)."""
    if args.target_weight is not None and not args.include_target:
        raise UserError(
            "--target-weight is the weight of the target's own model: give it with --include-target."
        )
    return SourceSelection(
        models_root=args.models_root,
        base_model=args.base_model,
        num_languages=args.num_languages,
        source_locales=tuple(args.source_locales.split(",")) if args.source_locales else None,
        weights=parse_weights(args.weights) if args.weights else None,
        similarity=similarity_options(args),
        available_only=args.available_only,
        preweight=preweight or getattr(args, "preweight", None) or "uriel",
        include_target=args.include_target,
        target_weight=0.5 if args.target_weight is None else args.target_weight,
    )


# ------------------------------------------------------------------------------------- method parameters


def _flag_kwargs(annotation: Any) -> dict[str, Any]:
    """argparse keyword arguments for a method-parameter annotation (float, int, bool, str, Literal, X | None)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return {"choices": list(typing.get_args(annotation)), "type": type(typing.get_args(annotation)[0])}
    if args and typing.get_origin(annotation) is not None:
        return _flag_kwargs(args[0])
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if annotation in (int, float, str):
        return {"type": annotation}
    return {"type": json.loads}


# Option names that commands use for their own settings (``--lr``: the training learning rate). A merge-method
# parameter with one of these names gets one flag per method that takes it, ``--{method}-{name}``, scoped to that
# method (``--wudi-lr X`` = ``--method-param wudi.lr=X``), so that no flag means two things in two commands;
# tests/test_flags.py checks every command's parser against this.
COMMAND_OPTION_NAMES = frozenset({"lr"})
# method flags renamed for that reason: (old flag, new flag, dest) kept as deprecated spellings
RENAMED_METHOD_FLAGS = (("--lr", "--wudi-lr", "mps__wudi__lr"),)


def method_flags() -> dict[str, tuple[str, str | None, Any]]:
    """Every generated method flag: ``flag -> (parameter name, method it is scoped to or None, annotation)``."""
    flags: dict[str, tuple[str, str | None, Any]] = {}
    for param in method_parameters().values():
        if param.name.rstrip("_") in COMMAND_OPTION_NAMES:
            for method in param.methods:
                flags[f"--{method.replace('_', '-')}{param.flag[1:]}"] = (
                    param.name,
                    method,
                    param.annotation,
                )
        else:
            flags[param.flag] = (param.name, None, param.annotation)
    return flags


def add_method_args(parser: argparse.ArgumentParser, head_merge: bool = True) -> None:
    """One flag per merge-method parameter, generated from the engine's parameter schema (scoped per method for
    the names in ``COMMAND_OPTION_NAMES``), plus ``--trim-ratio`` (= 1 - density), ``--method-param
    [MODE.]KEY=VALUE`` and ``--head-merge``. A generated flag that the command already has is a programming
    error, raised when the parser is built."""
    group = parser.add_argument_group(
        "method parameters",
        "Generated from the merge methods' own parameters (see --list-modes for which method takes which). "
        "--method-param KEY=VALUE sets any of them; MODE.KEY=VALUE (e.g. ties.density=0.3) only for that mode.",
    )
    params = method_parameters()
    for flag, (name, scope, annotation) in method_flags().items():
        if _has_option(parser, flag):
            raise RuntimeError(
                f"{parser.prog}: the method flag {flag} clashes with an option of the command."
            )
        param = params[name]
        taken = ", ".join(f"{m} ({d})" for m, d in zip(param.methods, param.defaults) if scope in (None, m))
        dest = f"mp__{name}" if scope is None else f"mps__{scope}__{name}"
        group.add_argument(flag, dest=dest, default=None, help=taken, **_flag_kwargs(annotation))
    for old, new, dest in RENAMED_METHOD_FLAGS:
        if not _has_option(parser, old):
            add_deprecated(group, old, new, dest, listed=True, type=float)
    group.add_argument(
        "--trim-ratio", dest="trim_ratio", type=float, help="Fraction of entries trimmed (= 1 - density)."
    )
    group.add_argument(
        "--method-param",
        dest="method_param",
        action="append",
        default=[],
        metavar="[MODE.]KEY=VALUE",
        help="Any method parameter (JSON value); MODE.KEY=VALUE applies to that mode only.",
    )
    add_deprecated(group, "--method-params", "--method-param KEY=VALUE", "method_params_json")
    if head_merge:
        group.add_argument(
            "--head-merge",
            default="linear",
            help="Classifier heads (no pretrained value): linear (weighted average, default), first, "
            "highest_weight, method.",
        )
        group.add_argument(
            "--layer-weights",
            default=None,
            metavar="GROUP=RULE,...|FILE.json",
            help="Separate source weights per layer group (embeddings, lower, upper, head): a rule per group "
            "(similarity = the merge's weights, uniform, top1 = all on the first source), e.g. "
            "embeddings=top1,lower=top1,head=uniform, or a JSON file that may also give LOCALE: WEIGHT maps.",
        )


def method_params(args: argparse.Namespace) -> MethodParams:
    """The method parameters of a command's flags: generated flags and ``--trim-ratio`` win over
    ``--method-param`` items, which win over the deprecated ``--method-params`` JSON."""
    common: dict[str, Any] = {}
    legacy = getattr(args, "method_params_json", None)
    if legacy:
        try:
            common.update(json.loads(legacy))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise UserError(f"--method-params is not a JSON object: {exc}") from None
    parsed = MethodParams.parse(getattr(args, "method_param", []) or [], common)
    flags = {k[len("mp__") :]: v for k, v in vars(args).items() if k.startswith("mp__") and v is not None}
    scoped = {mode: dict(values) for mode, values in parsed.scoped.items()}
    for key, value in vars(args).items():
        if key.startswith("mps__") and value is not None:
            mode, name = key[len("mps__") :].split("__", 1)
            scoped.setdefault(mode, {})[name] = value
    trim = getattr(args, "trim_ratio", None)
    if trim is not None:
        density = flags.get("density")
        if density is not None and abs(density - (1 - trim)) > 1e-12:
            raise UserError("--density and --trim-ratio disagree; give one (density = 1 - trim ratio).")
        flags["density"] = 1.0 - trim
    return MethodParams({**parsed.common, **flags}, scoped)


# ------------------------------------------------------------------------------------- training runs


def add_training_run_args(
    parser: argparse.ArgumentParser,
    *,
    learning_rate: bool = True,
    seed: bool = True,
    train_samples: bool = True,
    eval_samples: bool = False,
    epochs_alias: str | None = None,
    batch_size_alias: str | None = None,
) -> None:
    """The knobs of :class:`~merginguriel.training.arguments.TrainingOptions`, one flag each for every command of
    the training family: ``--epochs``, ``--learning-rate`` (``--lr``), ``--batch-size``, ``--max-train-samples``,
    ``--max-eval-samples`` and ``--seed``; a command leaves out what it sets otherwise (snapshot averaging's
    per-run seeds and rates). ``epochs_alias`` / ``batch_size_alias``: a command's older spelling, kept."""
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=positive_float, default=3.0, help="Training epochs (default 3).")
    if epochs_alias:
        add_deprecated(group, epochs_alias, "--epochs", "epochs", listed=True, type=positive_float)
    if learning_rate:
        group.add_argument(
            "--learning-rate", "--lr", dest="learning_rate", type=float, default=5e-5, help="Learning rate."
        )
    group.add_argument(
        "--batch-size", type=positive_int, default=32, help="Per-device training batch size (default 32)."
    )
    if batch_size_alias:
        add_deprecated(group, batch_size_alias, "--batch-size", "batch_size", listed=True, type=positive_int)
    if train_samples:
        group.add_argument(
            "--max-train-samples",
            type=positive_int,
            default=None,
            help="Training rows per locale (default all).",
        )
    if eval_samples:
        group.add_argument(
            "--max-eval-samples", type=positive_int, default=None, help="Evaluation rows (default all)."
        )
    if seed:
        group.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")


def training_data(args: argparse.Namespace) -> DataSelection:
    """The training data of a command of the training family: dataset, text column, max sequence length (the
    locales are the job's)."""
    return DataSelection(
        args.dataset_name, split="train", text_column=args.text_column, max_seq_length=args.max_seq_length
    )


def training_options(args: argparse.Namespace) -> TrainingOptions:
    """The training options of a command's flags (``--additional-args`` as ``overrides``)."""
    return TrainingOptions(
        epochs=args.epochs,
        learning_rate=getattr(args, "learning_rate", 5e-5),
        batch_size=args.batch_size,
        max_train_samples=getattr(args, "max_train_samples", None),
        max_eval_samples=getattr(args, "max_eval_samples", None),
        seed=getattr(args, "seed", 42),
        overrides=dict(getattr(args, "trainer_overrides", None) or {}),
    )


# ------------------------------------------------------------------------------------- statistics, presets


def add_statistics_args(
    parser: argparse.ArgumentParser, cache_default: str | None = DEFAULT_CACHE_DIR
) -> None:
    group = parser.add_argument_group("data-aware methods (fisher, fisher_dataset, regmean)")
    group.add_argument(
        "--num-fisher-examples",
        dest="num_fisher_examples",
        type=positive_int,
        default=100,
        help="Examples per source model for its statistics (default 100).",
    )
    add_deprecated(group, "--num-examples", "--num-fisher-examples", "num_fisher_examples", type=positive_int)
    group.add_argument(
        "--fisher-data",
        dest="fisher_data",
        choices=list(DATA_MODES),
        default=None,
        help="Whose data: sources (default; each source's own), target, or both (half each).",
    )
    add_deprecated(group, "--fisher-data-mode", "--fisher-data", "fisher_data", choices=list(DATA_MODES))
    group.add_argument(
        "--fisher-estimator",
        dest="fisher_estimator",
        choices=list(ESTIMATORS),
        default="expected",
        help="Fisher: expectation over the model's p(y|x) (default), one sampled label, or the true label.",
    )
    group.add_argument(
        "--fisher-split",
        dest="fisher_split",
        default="train",
        help="Split the statistics examples come from (default train; never the evaluation split).",
    )
    group.add_argument(
        "--statistics-cache",
        dest="statistics_cache",
        default=cache_default,
        help="Cache folder for Fisher/Gram statistics (default ~/.cache/merginguriel or $MERGINGURIEL_CACHE).",
    )


def statistics_options(
    args: argparse.Namespace, fisher_data: str | None = None, batch_size: int = 16
) -> StatisticsOptions:
    """The statistics template of a command's flags (``fisher_data`` from a resolved preset when given)."""
    data = DataSelection(
        dataset_name=args.dataset_name,
        split=args.fisher_split,
        text_column=args.text_column,
        max_samples=args.num_fisher_examples,
        max_seq_length=args.max_seq_length,
        sample_seed=args.seed,
    )
    return StatisticsOptions(
        data=data,
        data_mode=fisher_data or args.fisher_data or "sources",
        estimator=args.fisher_estimator,
        batch_size=batch_size,
        cache_dir=args.statistics_cache or DEFAULT_CACHE_DIR,
    )


def add_preset_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items()) + " (explicit flags override).",
    )


# ------------------------------------------------------------------------------------- outputs, runtime


def add_output_args(
    parser: argparse.ArgumentParser, merged: bool = False, results: bool = True, plots: bool = False
) -> None:
    group = parser.add_argument_group("outputs")
    if merged:
        group.add_argument(
            "--merged-models-root",
            dest="merged_models_root",
            default="merged_models",
            help="Where merged models go.",
        )
    if results:
        group.add_argument("--results-root", dest="results_root", default="results", help="Where results go.")
    if plots:
        group.add_argument("--plots-root", dest="plots_root", default="plots", help="Where plots go.")
    group.add_argument("--overwrite", action="store_true", help="Replace outputs that exist already.")


def add_cache_args(parser: argparse.ArgumentParser, on_by_default: bool = True) -> None:
    """``--logits-cache DIR`` (and ``--no-cache``); with ``on_by_default=False`` the cache is used only when
    ``--logits-cache`` is given."""
    group = parser.add_argument_group("logits cache")
    default = f"default ./{DEFAULT_LOGITS_CACHE}" if on_by_default else "default: none"
    group.add_argument(
        "--logits-cache",
        dest="logits_cache",
        default=DEFAULT_LOGITS_CACHE if on_by_default else None,
        help=f"Logits cache folder shared by evaluations, NxN, ensembles and sweeps ({default}).",
    )
    if on_by_default:
        group.add_argument("--no-cache", action="store_true", help="Neither read nor write the logits cache.")


def logits_cache(args: argparse.Namespace) -> LogitsCache | None:
    if getattr(args, "no_cache", False) or not args.logits_cache:
        return None
    return LogitsCache(args.logits_cache)


def add_runtime_args(parser: argparse.ArgumentParser, progress: bool = False, inference: bool = True) -> None:
    """``--device`` (and ``--no-progress`` with ``progress``); with ``inference`` also ``--seed`` and the
    inference ``--batch-size`` (a training command has its own, :func:`add_training_run_args`)."""
    group = parser.add_argument_group("runtime")
    group.add_argument("--device", choices=list(DEVICE_CHOICES), default="auto", help="Device for the math.")
    if inference:
        group.add_argument("--seed", type=int, default=42, help="Random seed.")
        group.add_argument(
            "--batch-size", dest="batch_size", type=positive_int, default=64, help="Inference batch size."
        )
    if progress:
        group.add_argument("--no-progress", action="store_true", help="No progress bars.")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal (stderr is one) and unless ``--no-progress``: in a log file or a Slurm
    output a bar is a stream of carriage returns, so there the commands' own per-step log lines stand alone."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def runtime(args: argparse.Namespace, progress: bool | None = None) -> Runtime:
    """The runtime of a command; ``progress=False`` forces bars off (e.g. a sweep's inner evaluations)."""
    shown = show_progress(args) if progress is None or progress else False
    return Runtime(resolve_device(args.device), args.batch_size, shown)


def training_runtime(args: argparse.Namespace) -> Runtime:
    """The runtime of a training command: its ``--batch-size`` is the training batch
    (:func:`add_training_run_args`), so its evaluations use the default inference batch size."""
    return Runtime(resolve_device(args.device), progress=show_progress(args))


# ------------------------------------------------------------------------------------- hub, tracking


def add_hub_args(parser: argparse.ArgumentParser, aliases: Sequence[str] = ()) -> None:
    """``--push-to-hub REPO_ID`` and ``--hub-private`` (train, merge, fusion): upload the finished folder.

    ``aliases`` are extra spellings (``train`` passes ``--push_to_hub``, replacing the trainer's own flag,
    which would push unfinished checkpoints)."""
    group = parser.add_argument_group("hugging face hub")
    group.add_argument(
        "--push-to-hub",
        *aliases,
        dest="push_to_hub_repo",
        metavar="REPO_ID",
        default=None,
        help="Upload the finished model folder (with its model card) to this hub model repo, created if "
        "needed; only once complete. Needs a login (hf auth login / HF_TOKEN) and no HF_HUB_OFFLINE.",
    )
    group.add_argument(
        "--hub-private",
        dest="hub_private",
        action="store_true",
        help="Create the --push-to-hub repo private.",
    )


def check_hub(args: argparse.Namespace) -> None:
    """Fail before any work when ``--push-to-hub`` cannot push (offline, not logged in, bad repo id)."""
    if getattr(args, "push_to_hub_repo", None):
        from merginguriel.outputs.hub import check_push

        check_push(args.push_to_hub_repo)


def push_to_hub(args: argparse.Namespace, folder: str | os.PathLike) -> str | None:
    """Upload ``folder`` when ``--push-to-hub`` was given (prints and returns the URL), else None."""
    if not getattr(args, "push_to_hub_repo", None):
        return None
    from merginguriel.outputs.hub import push_folder

    url = push_folder(folder, args.push_to_hub_repo, private=args.hub_private)
    print(f"pushed {folder} to the hub: {url}")
    return url


REPORT_TO = ("tensorboard", "wandb")


def add_launcher_args(parser: argparse.ArgumentParser, workers: bool = False) -> None:
    """``--launcher local|slurm`` and the Slurm job flags (submitit: one array task per job), shared by the commands
    that run many jobs (``sweep``: one per experiment; ``fusion --fusion-type all``: one per fusion type);
    ``workers``: ``--max-workers`` local processes too."""
    group = parser.add_argument_group("launcher")
    group.add_argument(
        "--launcher",
        choices=["local", "slurm"],
        default="local",
        help="local: in this process"
        + (" (or --max-workers processes)" if workers else "")
        + "; slurm: one submitit array job, a task per job.",
    )
    if workers:
        group.add_argument(
            "--max-workers", type=positive_int, default=1, help="Local worker processes (default 1)."
        )
    group.add_argument("--slurm-partition", help="Slurm partition.")
    group.add_argument("--slurm-gpus", type=non_negative_int, default=1, help="GPUs per job (default 1).")
    group.add_argument("--slurm-time", default="04:00:00", help="Time limit per job (HH:MM:SS or minutes).")
    group.add_argument("--slurm-mem", default="32G", help="Memory per job (e.g. 32G).")
    group.add_argument("--slurm-cpus", type=positive_int, default=4, help="CPUs per job.")
    group.add_argument(
        "--slurm-array-parallelism", type=positive_int, default=64, help="Array tasks running at once."
    )


def slurm_options(args: argparse.Namespace) -> SlurmOptions:
    """The Slurm flags of :func:`add_launcher_args` as the launcher's ``SlurmOptions``."""
    from merginguriel.experiments.sweep import SlurmOptions

    return SlurmOptions(
        args.slurm_partition,
        args.slurm_gpus,
        args.slurm_time,
        args.slurm_mem,
        args.slurm_cpus,
        args.slurm_array_parallelism,
    )


def add_tracking_args(parser: argparse.ArgumentParser) -> None:
    """``--report-to``: TensorBoard is always written; ``wandb`` adds a Weights & Biases run."""
    group = parser.add_argument_group("experiment tracking")
    group.add_argument(
        "--report-to",
        dest="report_to",
        nargs="+",
        choices=REPORT_TO,
        default=["tensorboard"],
        help="Where the run's rows and plots go besides the files: TensorBoard always (its event files "
        "under the run's folder, tensorboard/), wandb adds a W&B run (needs `pip install wandb`; "
        "WANDB_MODE=offline works; --wandb-project names the project).",
    )
    group.add_argument(
        "--wandb-project",
        dest="wandb_project",
        default="merginguriel",
        help="W&B project (default merginguriel).",
    )


def report_to(args: argparse.Namespace) -> list[str]:
    """The ``--report-to`` targets, checked (wandb importable) before any work."""
    targets = list(dict.fromkeys(["tensorboard", *(getattr(args, "report_to", None) or [])]))
    from merginguriel.outputs.tracking import check_report_to

    check_report_to(targets)
    return targets


def add_locales_arg(parser: argparse.ArgumentParser, flag: str, what: str, **kwargs: Any) -> None:
    """A flag taking a list of locales, space- or comma-separated (``parse_locales`` reads both forms)."""
    parser.add_argument(
        flag, nargs="+", metavar="LOCALE", help=f"{what} (space- or comma-separated).", **kwargs
    )


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error: …`` line (after a one-line usage pointing to
    ``--help``), exit status 2, like every other user error — not the full usage of fifty options."""

    def error(self, message: str) -> typing.NoReturn:
        sys.stderr.write(
            f"usage: {self.prog} [options]   ({self.prog} --help lists them)\nerror: {message}\n"
        )
        raise SystemExit(2)


def command_parser(prog: str, description: str, example: str, **kwargs: Any) -> argparse.ArgumentParser:
    """The parser of one command: its script name, what it does, and the example line every ``--help`` ends with."""
    return CommandParser(prog=prog, description=description, epilog=example, **kwargs)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "urllib3", "datasets", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # the libraries' own bars (a "Loading weights" bar per model load, "Generating split" per dataset file) say
    # nothing a user can act on; the toolkit's bars (tqdm, terminal only) and Trainer's are not affected
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.disable_progress_bar()


# Errors of the machine rather than of the code, reported like user errors: a path that is not there or not
# writable, an output that exists, a full or read-only disk.
ENVIRONMENT_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


def is_user_error(exc: BaseException) -> bool:
    """A :class:`~merginguriel.errors.UserError`, the merge engine's ``MergeError`` (bad models or parameters),
    or an environment error (:data:`ENVIRONMENT_ERRORS`, a full or read-only disk); anything else is a bug."""
    from auto_merge_llm import MergeError

    if isinstance(exc, (UserError, MergeError, *ENVIRONMENT_ERRORS)):
        return True
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main``; a user error (:func:`is_user_error`) becomes one ``error: <message>`` line on
    stderr and exit status 2; any other exception is a bug and shows its traceback.

    Set ``MERGINGURIEL_DEBUG=1`` to see the traceback of user errors too.
    """
    try:
        return int(main(argv) or 0)
    except Exception as exc:
        if not is_user_error(exc) or os.environ.get("MERGINGURIEL_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
