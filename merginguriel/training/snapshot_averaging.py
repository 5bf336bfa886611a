"""Accumulative snapshot averaging (One-For-All; Schmidt et al., 2023, "One For All & All For One: Bypassing
Hyperparameter Tuning with Model Averaging for Cross-Lingual Transfer").

1. ``R`` training runs on the source language(s), differing in seed and/or learning rate, each saving a
   snapshot of the model every ``snapshot_steps`` steps (or every epoch) — ``runs/run_{i}/checkpoints/``;
2. within a run, the snapshots are averaged uniformly: ``run_mean_i = mean_s theta_{i,s}``;
3. the runs are put in a seeded random order ``pi`` and averaged cumulatively:
   ``avg_k = mean_{j<=k} run_mean_{pi(j)}`` for ``k = 1..R`` (``averages/cumulative_{k}``);
4. every ``avg_k`` is evaluated on the source dev split(s) and on the target, and compared with the usual
   model selection: the single snapshot with the best source-language dev accuracy.

Averages are computed by the merge engine (``auto_merge_llm.merge_models``, method ``linear`` with equal
weights), so they are ordinary model folders. Results: ``snapshot_averaging_results.{csv,json,png}``.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from merginguriel.data.labels import INTENT_LABELS
from merginguriel.data.locales import parse_locales, validate_locale
from merginguriel.data.massive import DataSelection
from merginguriel.errors import UserError
from merginguriel.models.evaluation import evaluate_model
from merginguriel.outputs.atomic import atomic_output_dir, is_complete, write_json_atomic, write_text_atomic
from merginguriel.runtime import Runtime, steps
from merginguriel.training.arguments import TrainingOptions, as_value
from merginguriel.training.trainer import TrainArguments, train_classifier

logger = logging.getLogger("merginguriel.snapshot_averaging")


@dataclass
class SnapshotConfig:
    """One snapshot-averaging job: runs of ``base_model`` on ``source_locales`` (one per seed / learning rate,
    the other knobs from ``training``; its own ``seed`` and ``learning_rate`` are replaced by each run's) on
    ``data``, accumulated in a seeded order and evaluated on ``target``'s ``target_split`` with ``runtime``."""

    base_model: str
    source_locales: list[str]
    target: str
    output_dir: str
    data: DataSelection
    training: TrainingOptions = field(default_factory=TrainingOptions)
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    learning_rates: list[float] = field(default_factory=lambda: [5e-5])
    snapshot_steps: int | None = None
    order_seed: int = 0
    target_split: str = "test"
    runtime: Runtime = field(default_factory=Runtime)

    def __post_init__(self) -> None:
        self.data = as_value(DataSelection, self.data)
        self.training = as_value(TrainingOptions, self.training)
        self.runtime = as_value(Runtime, self.runtime)
        self.source_locales = parse_locales(self.source_locales)
        self.target = validate_locale(self.target)
        n = max(len(self.seeds), len(self.learning_rates))
        for name in ("seeds", "learning_rates"):
            values = getattr(self, name)
            if len(values) not in (1, n):
                raise UserError(f"--{name.replace('_', '-')} has {len(values)} values; give 1 or {n}.")
        if n < 1:
            raise UserError("Snapshot averaging needs at least one run (--seeds).")

    def runs(self) -> list[tuple[int, float]]:
        """(seed, learning rate) of every run."""
        n = max(len(self.seeds), len(self.learning_rates))
        seeds = self.seeds * n if len(self.seeds) == 1 else self.seeds
        rates = self.learning_rates * n if len(self.learning_rates) == 1 else self.learning_rates
        return list(zip(seeds, rates))


def run_order(num_runs: int, order_seed: int) -> list[int]:
    """The seeded random order in which runs are accumulated."""
    return [int(i) for i in np.random.default_rng(order_seed).permutation(num_runs)]


def snapshots(run_dir: str | os.PathLike) -> list[Path]:
    """A run's snapshot folders (``checkpoints/checkpoint-N``) in step order."""
    found = [
        p for p in (Path(run_dir) / "checkpoints").glob("checkpoint-*") if p.name.split("-", 1)[1].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def average_models(
    paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike, device: str = "cpu"
) -> Path:
    """The uniform average of ``paths`` (with the first one's tokenizer) written atomically to ``output_dir``."""
    from auto_merge_llm import merge_models
    from transformers import AutoTokenizer

    with atomic_output_dir(output_dir, overwrite=True) as tmp:
        merge_models(
            [str(p) for p in paths],
            [1.0] * len(paths),
            method="linear",
            output_dir=tmp,
            label_names=list(INTENT_LABELS),
            device=device,
            progress=False,
        )
        AutoTokenizer.from_pretrained(str(paths[0])).save_pretrained(str(tmp))
        write_json_atomic(Path(tmp) / "averaged_from.json", {"models": [str(p) for p in paths]})
    return Path(output_dir)


class SnapshotAveraging:
    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.out = Path(config.output_dir)
        self.cache: dict[tuple[str, str, str], dict] = {}

    def run_dir(self, index: int) -> Path:
        return self.out / "runs" / f"run_{index}"

    def train_runs(self) -> list[Path]:
        c = self.config
        dirs = []
        for i, (seed, lr) in enumerate(steps(c.runs(), "training runs", c.runtime.progress, unit="run")):
            out = self.run_dir(i)
            dirs.append(out)
            if is_complete(out) and snapshots(out) and self._same_run(out, seed, lr):
                logger.info(
                    "run %d (seed %d, learning rate %g) is done already: reusing %s", i, seed, lr, out
                )
                continue
            train_classifier(self.run_arguments(out, seed, lr))
            gc.collect()
        return dirs

    def run_arguments(self, out: Path, seed: int, lr: float) -> TrainArguments:
        """One run's trainer arguments: a snapshot every ``snapshot_steps`` steps (or epoch), all kept."""
        c = self.config
        snapshot = (
            {"save_strategy": "steps", "save_steps": c.snapshot_steps}
            if c.snapshot_steps
            else {"save_strategy": "epoch"}
        )
        return c.training.arguments(
            c.base_model, c.source_locales, c.data, out, overwrite=True, do_train=True, learning_rate=lr, seed=seed,
            save_only_model=True, keep_checkpoints=True, disable_tqdm=True, logging_strategy="epoch", **snapshot,
        )  # fmt: skip

    def _same_run(self, out: Path, seed: int, lr: float) -> bool:
        """Whether the finished run in ``out`` was trained as this run would be (else it is trained again)."""
        import json

        c = self.config
        try:
            saved = json.loads((out / "training_config.json").read_text())
        except (OSError, json.JSONDecodeError):
            return False
        train, data = saved.get("training_arguments", {}), saved.get("data_arguments", {})
        wanted = {
            "model": c.base_model, "data": str(c.data.dataset_name), "locales": ",".join(c.source_locales),
            "seed": seed, "learning_rate": lr, "epochs": float(c.training.epochs), "save_steps": c.snapshot_steps,
            "max_train_samples": c.training.max_train_samples,
        }  # fmt: skip
        found = {
            "model": saved.get("model_arguments", {}).get("model_name_or_path"),
            "data": data.get("dataset_name"), "locales": data.get("dataset_config_name"), "seed": train.get("seed"),
            "learning_rate": train.get("learning_rate"), "epochs": float(train.get("num_train_epochs", -1)),
            "save_steps": train.get("save_steps") if c.snapshot_steps else None,
            "max_train_samples": data.get("max_train_samples"),
        }  # fmt: skip
        if found != wanted:
            logger.warning("%s was trained with other settings; training it again", out)
            return False
        return True

    def evaluate(self, model_dir: Path, locale: str, split: str) -> dict:
        key = (str(model_dir), locale, split)
        if key not in self.cache:
            c = self.config
            selection = replace(c.data, locale=locale, split=split, max_samples=c.training.max_eval_samples)
            result = evaluate_model(model_dir, selection, replace(c.runtime, progress=False))
            self.cache[key] = result["performance"]
        return self.cache[key]

    def source_dev(self, model_dir: Path) -> float:
        """Mean accuracy over the source locales' dev splits."""
        return float(
            np.mean(
                [
                    self.evaluate(model_dir, loc, "validation")["accuracy"]
                    for loc in self.config.source_locales
                ]
            )
        )

    def run(self) -> dict[str, Any]:
        c = self.config
        started = time.time()
        run_dirs = self.train_runs()
        per_run = [snapshots(d) for d in run_dirs]
        empty = [str(d) for d, snaps in zip(run_dirs, per_run) if not snaps]
        if empty:
            raise UserError(
                f"Runs without snapshots: {', '.join(empty)} (train longer or lower --snapshot-steps)."
            )
        averages = self.out / "averages"
        run_means = [
            average_models(snaps, averages / f"run_{i}_mean", c.runtime.device)
            for i, snaps in enumerate(
                tqdm(per_run, desc="within-run averages", disable=not c.runtime.progress)
            )
        ]
        order = run_order(len(run_means), c.order_seed)
        rows = []
        for k in tqdm(range(1, len(order) + 1), desc="cumulative averages", disable=not c.runtime.progress):
            path = average_models(
                [run_means[j] for j in order[:k]], averages / f"cumulative_{k}", c.runtime.device
            )
            target = self.evaluate(path, c.target, c.target_split)
            rows.append({
                "model": f"average of {k} run{'s' if k > 1 else ''}", "k": k, "runs": [int(j) for j in order[:k]],
                "num_snapshots": sum(len(per_run[j]) for j in order[:k]), "path": str(path),
                "source_dev_accuracy": self.source_dev(path), "target_accuracy": target["accuracy"],
                "target_macro_f1": target["macro_f1"],
            })  # fmt: skip
        all_snaps = [(i, s) for i, snaps in enumerate(per_run) for s in snaps]
        scored = [
            (self.source_dev(s), -n, i, s)
            for n, (i, s) in enumerate(tqdm(all_snaps, desc="snapshot dev", disable=not c.runtime.progress))
        ]
        best_dev, _, best_run, best = max(scored, key=lambda t: (t[0], t[1]))
        target = self.evaluate(best, c.target, c.target_split)
        rows.append({
            "model": "best single snapshot (source dev)", "k": None, "runs": [best_run], "num_snapshots": 1,
            "path": str(best), "source_dev_accuracy": best_dev, "target_accuracy": target["accuracy"],
            "target_macro_f1": target["macro_f1"],
        })  # fmt: skip
        table = pd.DataFrame(rows)
        table["k"] = table["k"].astype("Int64")  # an integer column with a blank for the single snapshot
        summary = {
            "config": asdict(c),
            "run_order": order,
            "runs": [
                {"index": i, "seed": s, "learning_rate": lr, "snapshots": [str(p) for p in per_run[i]]}
                for i, (s, lr) in enumerate(c.runs())
            ],  # fmt: skip
            "results": rows,
            "snapshot_source_dev": {str(s): d for d, _, _, s in scored},
            "seconds": round(time.time() - started, 1),
        }
        write_json_atomic(self.out / "snapshot_averaging_results.json", summary)
        write_text_atomic(
            self.out / "snapshot_averaging_results.csv", table.drop(columns=["path"]).to_csv(index=False)
        )
        plot_results(rows, self.out / "snapshot_averaging_results.png",
                     f"{'+'.join(c.source_locales)} -> {c.target} ({c.target_split})")  # fmt: skip
        return summary


def plot_results(rows: Sequence[dict[str, Any]], path: str | os.PathLike, title: str) -> Path:
    """Source-dev and target accuracy of ``avg_k`` against ``k`` (lines), with the best single snapshot's two
    accuracies as dashed horizontal lines in the same colours."""
    import matplotlib.pyplot as plt

    from merginguriel.outputs.plotting import save_figure

    averages = [r for r in rows if r["k"] is not None]
    best = next(r for r in rows if r["k"] is None)
    ks = [r["k"] for r in averages]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label, color in (("target_accuracy", "target", "tab:blue"),
                              ("source_dev_accuracy", "source dev", "tab:orange")):  # fmt: skip
        ax.plot(ks, [r[key] for r in averages], marker="o", color=color, label=f"average of k runs: {label}")
        ax.axhline(best[key], color=color, linestyle="--", label=f"best single snapshot: {label}")
    ax.set_xticks(ks)
    ax.set_xlabel("k (runs averaged, cumulatively)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: no line hidden
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
