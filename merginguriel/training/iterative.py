"""Iterative training: train the source models a few epochs, merge them for the target, start every source
again from the merged weights, and repeat.

One cycle ``n``:

1. every source locale (one model in memory at a time) is fine-tuned on its own training split, starting from
   the previous cycle's merged model (cycle 1: the pretrained base), for ``merge_frequency`` epochs — or, with
   ``performance_merge_trigger``, one epoch at a time until the mean dev accuracy of the sources improves by
   less than ``convergence_threshold`` (at most ``merge_frequency`` epochs);
2. the trained sources are merged and evaluated by the one experiment program,
   :func:`merginguriel.merging.experiment.run_merge_experiment` (any merge
   mode, similarity weights for the target) into ``merged_models/merged_cycle_{n}/``;
3. the merged model is evaluated on the target (``eval_split``), and the cycle is recorded in
   ``merge_history.json``; ``state_summary.json`` is rewritten after every step, so a crashed run resumes
   where it stopped (sources already trained in the interrupted cycle are not retrained).

With ``adaptive_merge_frequency`` the number of epochs between merges doubles when the merged model's target
accuracy improved by less than ``convergence_threshold`` over the previous cycle, and halves back towards the
initial value when it improved by more. Training stops when ``max_epochs`` epochs are done; the last merged
model is copied to ``final_merged_model/``.

Output tree::

    OUT/{locale}/checkpoints/cycle_{n}_ep{e}/     source models (kept with checkpoint_before_merge)
    OUT/merged_models/merged_cycle_{n}/           merged model of every cycle
    OUT/final_merged_model/                       the last one
    OUT/state_summary.json  OUT/merge_history.json  OUT/cycle_results.csv  OUT/cycle_results.png
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from merginguriel.data.locales import parse_locales, validate_locale
from merginguriel.data.massive import DataSelection
from merginguriel.errors import UserError
from merginguriel.merging.catalogue import engine_method, needs_statistics
from merginguriel.merging.experiment import MergeOutcome, MergeOutputs, run_merge_experiment
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.merging.pipeline import MergeRequest, SourceModel, plan_merge
from merginguriel.merging.statistics import StatisticsOptions
from merginguriel.models.paths import model_dir_name
from merginguriel.outputs.atomic import atomic_output_dir, is_complete, write_json_atomic, write_text_atomic
from merginguriel.outputs.plotting import bar_chart
from merginguriel.runtime import Runtime
from merginguriel.similarity.selection import SimilarityOptions, SourceSelection
from merginguriel.training.arguments import TrainingOptions, as_value
from merginguriel.training.trainer import train_classifier

logger = logging.getLogger("merginguriel.iterative_training")

STATE_FILE = "state_summary.json"
HISTORY_FILE = "merge_history.json"
# options that may change when a run is resumed
_RESUMABLE_CHANGES = {"training.epochs", "runtime"}


@dataclass
class IterativeConfig:
    """One iterative-training job: the sources ``locales`` trained from ``base_model`` with ``training`` (its
    ``epochs`` are the total per source) on ``data``, merged for ``target`` every ``merge_frequency`` epochs by
    ``mode`` (sources weighted through ``similarity`` or ``weights``), each merge evaluated on the target's
    ``eval_split`` with ``runtime``."""

    target: str
    locales: list[str]
    output_dir: str
    base_model: str
    data: DataSelection
    training: TrainingOptions = field(default_factory=TrainingOptions)
    mode: str = "similarity"
    similarity: SimilarityOptions = field(default_factory=SimilarityOptions)
    weights: dict[str, float] | None = None
    method_params: dict[str, Any] = field(default_factory=dict)
    head_merge: str = "linear"
    layer_weights: LayerWeights | None = None
    num_fisher_examples: int = 100
    merge_frequency: int = 1
    checkpoint_before_merge: bool = False
    adaptive_merge_frequency: bool = False
    performance_merge_trigger: bool = False
    convergence_threshold: float = 0.001
    eval_split: str = "validation"
    runtime: Runtime = field(default_factory=Runtime)

    def __post_init__(self) -> None:
        self.similarity = as_value(SimilarityOptions, self.similarity)  # read back from a state file
        self.data = as_value(DataSelection, self.data)
        self.training = as_value(TrainingOptions, self.training)
        self.runtime = as_value(Runtime, self.runtime)
        self.target = validate_locale(self.target)
        self.locales = parse_locales(self.locales)
        if self.target in self.locales:
            raise UserError(f"The target {self.target} is among the source locales; give other locales.")
        if not self.locales:
            raise UserError("Iterative training needs at least one source locale.")
        if self.merge_frequency < 1 or self.training.epochs != int(self.training.epochs):
            raise UserError("--merge-frequency and --epochs must be whole numbers of at least 1.")

    @property
    def max_epochs(self) -> int:
        """Total training epochs per source."""
        return int(self.training.epochs)


def _train_segment(
    config: IterativeConfig, locale: str, init: str, out: Path, epochs: int, cycle: int
) -> dict:
    """Fine-tune ``init`` on ``locale`` for ``epochs`` epochs into ``out`` (atomic); returns the metrics."""
    trigger = config.performance_merge_trigger
    args = config.training.arguments(
        init, locale, config.data, out, overwrite=True, do_train=True, num_train_epochs=epochs,
        seed=config.training.seed + cycle - 1, disable_tqdm=True, logging_strategy="epoch",
        do_eval=trigger, max_eval_samples=config.training.max_eval_samples if trigger else None,
    )  # fmt: skip
    metrics = train_classifier(args)
    gc.collect()
    return metrics


_FLAT_SIMILARITY = {"similarity_matrix": "matrix", "similarity_source": "source", "top_k": "top_k",
                    "sinkhorn_iters": "sinkhorn_iters"}  # fmt: skip


def _flat_similarity_upgraded(saved: dict[str, Any]) -> dict[str, Any]:
    """A config saved before the similarity options were one value object, in today's form."""
    if "similarity" in saved or "similarity_matrix" not in saved:
        return saved
    upgraded = {k: v for k, v in saved.items() if k not in _FLAT_SIMILARITY}
    upgraded["similarity"] = {new: saved[old] for old, new in _FLAT_SIMILARITY.items() if old in saved}
    return upgraded


# the flat fields of configs saved before the training options were value objects -> (object, field)
_FLAT_TRAINING = {
    "dataset_name": ("data", "dataset_name"), "text_column": ("data", "text_column"),
    "max_seq_length": ("data", "max_seq_length"), "max_epochs": ("training", "epochs"),
    "learning_rate": ("training", "learning_rate"), "batch_size": ("training", "batch_size"),
    "max_train_samples": ("training", "max_train_samples"), "max_eval_samples": ("training", "max_eval_samples"),
    "seed": ("training", "seed"), "trainer_overrides": ("training", "overrides"), "device": ("runtime", "device"),
    "progress": ("runtime", "progress"),
}  # fmt: skip


def _flat_training_upgraded(saved: dict[str, Any]) -> dict[str, Any]:
    """A config saved before data, training options and runtime were value objects, in today's form."""
    if "data" in saved:
        return saved
    upgraded = {k: v for k, v in saved.items() if k not in _FLAT_TRAINING}
    parts: dict[str, dict[str, Any]] = {"data": {}, "training": {}, "runtime": {}}
    for old, (part, name) in _FLAT_TRAINING.items():
        if old in saved:
            parts[part][name] = saved[old]
    upgraded["data"] = asdict(DataSelection(**{"split": "train", **parts["data"]}))
    upgraded["training"] = asdict(TrainingOptions(**parts["training"]))
    upgraded["runtime"] = asdict(Runtime(**parts["runtime"]))
    return upgraded


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A saved or current config as ``{field: value}`` with the value objects' fields as ``object.field``,
    less what may change when a run is resumed (``_RESUMABLE_CHANGES``)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("data", "training", "runtime"):
            flat.update({f"{key}.{k}": v for k, v in dict(value).items()})
        else:
            flat[key] = value
    return {
        k: v
        for k, v in flat.items()
        if k not in _RESUMABLE_CHANGES and k.split(".")[0] not in _RESUMABLE_CHANGES
    }


class IterativeTrainer:
    """Runs (or resumes) an iterative-training job described by an :class:`IterativeConfig`."""

    def __init__(
        self,
        config: IterativeConfig,
        overwrite: bool = False,
        parse_trainer_flags: Callable[[list[str]], dict[str, Any]] | None = None,
    ) -> None:
        """``parse_trainer_flags`` turns ``training_bert.py`` flags into ``{field: value}``; it is needed only to
        resume a run started before trainer options were typed (its state holds the flags themselves)."""
        self.config = config
        self.parse_trainer_flags = parse_trainer_flags
        self.out = Path(config.output_dir)
        if overwrite and self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = self._load_state()
        self.history: list[dict] = self._read_json(HISTORY_FILE, [])

    # ---- state -------------------------------------------------------------------------------------------
    def _read_json(self, name: str, default: Any) -> Any:
        """A state file of the run folder (``default`` when absent); one that is not what this command wrote
        is named, with the two ways out."""
        import json

        path = self.out / name
        if not path.is_file():
            return default
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            value = exc
        if not isinstance(value, type(default) if default is not None else dict):
            raise UserError(
                f"{path} is not an iterative run's {name} (unreadable or of another shape); pass --overwrite to "
                "start again, or choose another --output-dir."
            )
        return value

    def _load_state(self) -> dict:
        state = self._read_json(STATE_FILE, None)
        wanted = asdict(self.config)
        if state is None:
            return {
                "config": wanted,
                "status": "running",
                "cycles_completed": 0,
                "epochs_done": 0,
                "merge_frequency": self.config.merge_frequency,
                "current_init": self.config.base_model,
                "cycle": {},
                "resumed": 0,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        if not isinstance(state.get("config"), dict) or not isinstance(state.get("epochs_done"), int):
            raise UserError(
                f"{self.out / STATE_FILE} has no run configuration or progress; pass --overwrite to start again, "
                "or choose another --output-dir."
            )
        saved = _comparable(
            _flat_training_upgraded(_flat_similarity_upgraded(self._upgraded(state["config"])))
        )
        now = _comparable(wanted)
        differing = sorted(k for k in now if saved.get(k) != now[k])
        if differing:
            raise UserError(
                f"{self.out} holds an iterative run with other settings ({', '.join(differing)}); "
                "pass --overwrite to start again or choose another --output-dir."
            )
        state["config"] = wanted
        state["resumed"] = int(state.get("resumed", 0)) + 1
        if state["epochs_done"] < self.config.max_epochs:
            state["status"] = "running"
        logger.info(
            "resuming %s after %d cycles (%d epochs)",
            self.out,
            state["cycles_completed"],
            state["epochs_done"],
        )
        return state

    def _upgraded(self, saved: dict[str, Any]) -> dict[str, Any]:
        """A saved config in today's form: runs started before trainer options were typed saved the
        ``--additional-args`` flags as ``trainer_args``; they become ``trainer_overrides`` (parsed)."""
        if "trainer_args" not in saved or "trainer_overrides" in saved:
            return saved
        flags = list(saved["trainer_args"])
        if flags and self.parse_trainer_flags is None:
            raise UserError(
                f"{self.out} holds an iterative run whose trainer options were saved as flags "
                f"({' '.join(flags)}); resume it through the iterative command (which parses them), or pass "
                "--overwrite to start again."
            )
        overrides = self.parse_trainer_flags(flags) if flags else {}
        upgraded = {k: v for k, v in saved.items() if k != "trainer_args"}
        return {**upgraded, "trainer_overrides": overrides}

    def _save(self) -> None:
        self.state["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_json_atomic(self.out / STATE_FILE, self.state)
        write_json_atomic(self.out / HISTORY_FILE, self.history)

    # ---- one cycle ---------------------------------------------------------------------------------------
    def _segment_dir(self, locale: str, cycle: int, epoch: int) -> Path:
        return self.out / locale / "checkpoints" / f"cycle_{cycle}_ep{epoch}"

    def _train_sources(self, cycle: int, epochs: int) -> tuple[dict[str, str], str]:
        """Train every source for this cycle; returns (locale -> model folder, why the cycle ended)."""
        config = self.config
        progress = self.state["cycle"].setdefault("sources", {})
        segment = 1 if config.performance_merge_trigger else epochs
        dev_means = self.state["cycle"].setdefault("dev_means", [])
        reason = f"fixed frequency ({epochs} epochs)"
        done = min((progress.get(loc, {}).get("epochs", 0) for loc in config.locales), default=0)
        while done < epochs:
            target_epochs = min(done + segment, epochs)
            bar = tqdm(config.locales, desc=f"cycle {cycle}: train to epoch {target_epochs}", unit="model",
                       disable=not config.runtime.progress)  # fmt: skip
            for loc in bar:
                entry = progress.get(loc, {})
                if entry.get("epochs", 0) >= target_epochs and is_complete(entry.get("path", "")):
                    continue
                init = entry.get("path") if entry.get("epochs", 0) > 0 else self.state["current_init"]
                out = self._segment_dir(loc, cycle, target_epochs)
                metrics = _train_segment(
                    config, loc, init, out, target_epochs - entry.get("epochs", 0), cycle
                )
                previous = entry.get("path")
                progress[loc] = {"path": str(out), "epochs": target_epochs, "init": init,
                                 "dev_accuracy": metrics.get("eval_accuracy"), "train_loss": metrics.get("train_loss")}  # fmt: skip
                self._save()
                if previous and previous != str(out) and not config.checkpoint_before_merge:
                    shutil.rmtree(previous, ignore_errors=True)
            done = target_epochs
            if config.performance_merge_trigger:
                mean = sum(progress[loc]["dev_accuracy"] for loc in config.locales) / len(config.locales)
                if len(dev_means) < done:
                    dev_means.append(mean)
                self._save()
                if len(dev_means) >= 2 and dev_means[-1] - dev_means[-2] < config.convergence_threshold:
                    reason = (f"dev plateau after {done} epochs (mean dev accuracy {dev_means[-2]:.4f} -> "
                              f"{dev_means[-1]:.4f}, threshold {config.convergence_threshold})")  # fmt: skip
                    break
                reason = f"epoch cap ({epochs} epochs)"
        self.state["cycle"]["epochs"] = done
        return {loc: progress[loc]["path"] for loc in config.locales}, reason

    def _merge(self, cycle: int, sources: dict[str, str]) -> MergeOutcome:
        """Merge this cycle's sources for the target and evaluate the merge (the one experiment program)."""
        config = self.config
        merged = self.out / "merged_models" / f"merged_cycle_{cycle}"
        links = self.out / "merged_models" / f".inputs_cycle_{cycle}"
        shutil.rmtree(links, ignore_errors=True)
        links.mkdir(parents=True)
        try:  # the sources are found under a temporary models root of links to this cycle's folders
            for loc, path in sources.items():
                os.symlink(Path(path).resolve(), links / model_dir_name(config.base_model, loc))
            selection = SourceSelection(
                models_root=str(links),
                base_model=config.base_model,
                source_locales=None if config.weights else tuple(config.locales),
                weights=config.weights,
                similarity=config.similarity,
            )
            request = MergeRequest(
                mode=config.mode,
                target=config.target,
                sources=selection,
                method_params=dict(config.method_params),
                head_merge=config.head_merge,
                statistics=self._statistics_options(),
                seed=config.training.seed,
                layer_weights=config.layer_weights,
            )
            plan = plan_merge(request)
        finally:
            shutil.rmtree(links, ignore_errors=True)
        plan.sources = [SourceModel(s.locale, sources[s.locale], s.weight) for s in plan.sources]
        evaluation = replace(
            config.data, split=config.eval_split, max_samples=config.training.max_eval_samples
        )
        return run_merge_experiment(
            plan,
            MergeOutputs(merged),
            evaluation,
            config.runtime,
            "iterative",
            {"iterative_cycle": cycle, "output_dir": str(self.out)},
            seed=config.training.seed,
            overwrite=True,
        )

    def _statistics_options(self) -> StatisticsOptions | None:
        """Data statistics for the data-aware methods (``fisher``, ``regmean``): each source's own training
        examples, cached under ``OUT/statistics_cache`` (the sources change every cycle)."""
        config = self.config
        if not needs_statistics(engine_method(config.mode)):
            return None
        data = replace(
            config.data,
            split="train",
            max_samples=config.num_fisher_examples,
            sample_seed=config.training.seed,
        )
        return StatisticsOptions(data, cache_dir=str(self.out / "statistics_cache"))

    def _adapt_frequency(self, accuracy: float) -> str:
        config = self.config
        if not config.adaptive_merge_frequency or len(self.history) < 2:
            return "unchanged"
        gain = accuracy - self.history[-2]["target_accuracy"]
        old = self.state["merge_frequency"]
        if gain < config.convergence_threshold:
            new = min(old * 2, config.max_epochs)
        else:
            new = max(config.merge_frequency, old // 2)
        self.state["merge_frequency"] = new
        return f"{old} -> {new} (target accuracy gain {gain:+.4f})"

    # ---- the loop ----------------------------------------------------------------------------------------
    def run(self) -> dict:
        config = self.config
        started = time.time()
        while self.state["epochs_done"] < config.max_epochs:
            cycle = self.state["cycles_completed"] + 1
            self.state["cycle"].setdefault("number", cycle)
            epochs = min(self.state["merge_frequency"], config.max_epochs - self.state["epochs_done"])
            self.state["cycle"].setdefault("planned_epochs", epochs)
            epochs = self.state["cycle"]["planned_epochs"]
            sources, reason = self._train_sources(cycle, epochs)
            outcome = self._merge(cycle, sources)
            merged, details = outcome.outputs.merged_dir, outcome.details
            perf = outcome.results["performance"]
            trained = self.state["cycle"]["epochs"]
            self.state["epochs_done"] += trained
            record = {
                "cycle": cycle,
                "epochs_in_cycle": trained,
                "epochs_done": self.state["epochs_done"],
                "merge_frequency": self.state["merge_frequency"],
                "merge_trigger": reason,
                "mode": config.mode,
                "method": details["method"],
                "sources": [
                    {
                        **s,
                        **{
                            k: self.state["cycle"]["sources"][s["locale"]].get(k)
                            for k in ("dev_accuracy", "train_loss", "init")
                        },
                    }
                    for s in details["sources"]
                ],
                "merged_model": str(merged),
                "target": config.target,
                "eval_split": config.eval_split,
                "target_accuracy": perf["accuracy"],
                "target_macro_f1": perf["macro_f1"],
                "dev_means": list(self.state["cycle"].get("dev_means", [])),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            self.history.append(record)
            record["frequency_update"] = self._adapt_frequency(perf["accuracy"])
            if not config.checkpoint_before_merge:
                for path in sources.values():
                    shutil.rmtree(path, ignore_errors=True)
            self.state.update(cycles_completed=cycle, current_init=str(merged), cycle={})
            self._save()
            self._write_table()
            logger.info("cycle %d: %s accuracy %.4f on %s %s", cycle, merged.name, perf["accuracy"], config.target,
                        config.eval_split)  # fmt: skip
        final = self.out / "final_merged_model"
        last = Path(self.state["current_init"])
        if not is_complete(final) or self.state.get("final_from") != str(last):
            with atomic_output_dir(final, overwrite=True) as tmp:
                shutil.copytree(last, tmp, dirs_exist_ok=True)
            self.state["final_from"] = str(last)
        self.state["status"] = "finished"
        self.state["seconds_last_run"] = round(time.time() - started, 1)
        self._save()
        return self.state

    def _write_table(self) -> None:
        frame = pd.DataFrame(
            [
                {
                    k: r[k]
                    for k in ("cycle", "epochs_done", "merge_frequency", "target_accuracy", "target_macro_f1")
                }
                for r in self.history
            ]  # fmt: skip
        )
        write_text_atomic(self.out / "cycle_results.csv", frame.to_csv(index=False))
        series = frame.set_index(frame["cycle"].map(lambda c: f"cycle {c}"))["target_accuracy"]
        bar_chart(series, self.out / "cycle_results.png",
                  f"Merged model on {self.config.target} {self.config.eval_split}", "accuracy")  # fmt: skip


def select_source_locales(
    target: str,
    num_languages: int,
    similarity: SimilarityOptions,
    candidates: Sequence[str] | None = None,
) -> list[str]:
    """The ``num_languages`` locales most similar to ``target`` (among ``candidates``), by the similarity matrix."""
    from merginguriel.similarity.matrix import select_sources

    cands = [c for c in candidates if c != target] if candidates is not None else None
    return [s.locale for s in select_sources(target, similarity.load(), num_languages, cands)]
