"""Recipe selection on dev data only, under a named protocol, then one test evaluation.

Protocols (recorded in every output):

* ``target-dev`` — candidates are scored on the **target's labelled dev split** (the few-shot setting: the
  target has a small labelled dev set); the test split of every locale is out of reach while selecting.
* ``leave-target-out`` — the zero-shot setting: a candidate's score is its mean dev accuracy over the *other*
  targets (each built without the held-out target's model), and the chosen recipe is then applied to the target.
  Nothing of the target (train, dev or test) is read before its final evaluation.
* ``unlabeled-target`` — candidates are scored by a label-free criterion on the target's dev **texts**: minus the
  mean entropy of their predicted label distribution (confident predictions score higher); labels are not read
  by the criterion.

The data layer enforces each phase (:mod:`merginguriel.data.access`): selection runs under a policy that forbids
every test split (and, for ``leave-target-out``, everything of the target); the final phase may read only the
target's test split, which is loaded **once** and then used for the chosen recipe, the baselines (chosen by the
same protocol), the oracle rows and, for the dev-vs-test plot, every candidate.

Baselines, each chosen by the protocol from its family of candidates: the single best source (``single``
candidates), the uniform merge of the top K (``average``), and the seed's default (similarity mode, K = 5,
not selected). Oracle rows (best single source on *test*) are labelled as oracle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merginguriel import __version__
from merginguriel.data.access import SplitPolicy, reading
from merginguriel.data.massive import DataSelection, LoadedSplit, load_selection
from merginguriel.data.metrics import classification_metrics
from merginguriel.errors import UserError
from merginguriel.experiments.selection.few_shot import FewShotModel, FewShotOptions, few_shot_models
from merginguriel.experiments.selection.grid import SINGLE, Candidate, Grid, fixed_single, seed_default
from merginguriel.experiments.selection.racing import (
    Budget,
    RaceOptions,
    Rung,
    fold_order,
    rung_plan,
    successive_halving,
)
from merginguriel.experiments.selection.scoring import (
    SelectionContext,
    build,
    canonical_predictions_of,
    predictions,
    release,
    score,
)
from merginguriel.models.evaluation import results_record
from merginguriel.models.paths import discover_models
from merginguriel.outputs.atomic import write_json_atomic, write_text_atomic

logger = logging.getLogger("merginguriel.selection")

PROTOCOLS = ("target-dev", "leave-target-out", "unlabeled-target")
CRITERION = {"target-dev": "accuracy", "leave-target-out": "accuracy", "unlabeled-target": "neg_entropy"}
PROTOCOL_NOTE = {
    "target-dev": "few-shot: candidates scored on the target's labelled dev split",
    "leave-target-out": "zero-shot: candidates scored on the other targets' dev splits; the target is not read",
    "unlabeled-target": "label-free: candidates scored by confidence (minus mean entropy) on the target's dev texts",
}


class SelectionError(UserError):
    """A selection that cannot run as asked."""


class BudgetSpent(Exception):
    """The budget ran out before a target's first candidate was scored: the target gets no recipe."""


@dataclass
class SelectionConfig:
    targets: list[str]
    protocol: str
    context: SelectionContext
    grid: Grid
    dev: DataSelection  # template: dataset, split (validation), max_samples, max_seq_length
    test: DataSelection  # template for the final evaluation
    out_dir: Path
    no_test: bool = False
    test_candidates: bool = True  # every candidate on test after selection (the dev-vs-test plot)
    default_similarity: str | None = None  # the seed default's matrix (the first one when None)
    save_model: bool = False  # copy the chosen model (with its card) to OUT/PROTOCOL/TARGET/model
    race: RaceOptions | None = None  # None: every candidate on every fold's full dev split (exhaustive)
    budget: Budget | None = None  # for the whole run (each target gets an equal share of what is left)
    few_shot: FewShotOptions | None = None  # target-dev: select on half of dev, fine-tune on the other half


@dataclass
class TargetSelection:
    target: str
    protocol: str
    candidates: pd.DataFrame  # one row per candidate: label, family, score, per-locale dev scores, test
    chosen: Candidate
    baselines: dict[str, Candidate]
    final: pd.DataFrame | None = None
    folder: Path | None = None
    search: dict[str, Any] | None = None  # how the candidates were searched (exhaustive or racing, work done)
    few_shot: list[FewShotModel] = field(
        default_factory=list
    )  # fine-tuned on the dev half selection did not see


# ------------------------------------------------------------------------------------------ policies


def selection_policy(protocol: str, target: str) -> SplitPolicy:
    """What selection may read: train and dev splits, never a test split; leave-target-out nothing of the target."""
    if protocol == "leave-target-out":
        return SplitPolicy.of(
            f"leave-target-out selection for {target}",
            allow=[("*", "train"), ("*", "validation")],
            deny=[(target, "train"), (target, "validation"), (target, "test"), ("*", "test")],
        )
    return SplitPolicy.of(
        f"{protocol} selection for {target}",
        allow=[("*", "train"), (target, "validation")],
        deny=[("*", "test")],
    )


def final_policy(protocol: str, target: str) -> SplitPolicy:
    """What the final evaluation may read: the target's test split, and what building a recipe for the target
    reads under the protocol — the sources' training rows (the statistics of a data-aware merge such as
    RegMean, when the merged model was not kept) and, except under leave-target-out, the target's dev texts
    (AdaMerging's). Never another locale's test split; under leave-target-out nothing else of the target."""
    allow = [(target, "test"), ("*", "train")]
    if protocol == "leave-target-out":
        return SplitPolicy.of(
            f"final evaluation of {target}", allow=allow, deny=[(target, "train"), (target, "validation")]
        )
    return SplitPolicy.of(f"final evaluation of {target}", allow=[*allow, (target, "validation")])


# ------------------------------------------------------------------------------------------ scores


class ScoreStore:
    """Dev scores of built models on data selections, appended to ``scores.jsonl`` (a rerun recomputes nothing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                self.records[record["key"]] = record

    @staticmethod
    def key(identity: str, selection: DataSelection) -> str:
        from merginguriel.merging.keys import experiment_key

        return experiment_key({"built": identity, "data": selection.fields()})

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        record = {**record, "key": key}
        self.records[key] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


def _scored(
    candidate: Candidate,
    locale: str,
    split: LoadedSplit,
    ctx: SelectionContext,
    store: ScoreStore,
    criterion: str,
    keep: bool = False,
) -> dict:
    """The candidate applied to ``locale`` and scored on ``split`` (cached); ``{"error": ...}`` if it cannot.
    A merged model is released once scored (:func:`release`) unless ``keep`` (a later rung needs it)."""
    try:
        planned = build(candidate, locale, ctx, merge=False)
        key = ScoreStore.key(f"{planned.identity}/{criterion}", split.selection)
        hit = store.get(key)
        if hit is not None:
            ctx.work.reused += 1
            return hit
        built = build(candidate, locale, ctx)
        ctx.work.evaluations += 1
        record = {"locale": locale, "identity": built.identity, **score(built, split, ctx, criterion)}
        record["sources"] = [[s.locale, s.weight] for s in built.sources]
    except (ValueError, FileNotFoundError, KeyError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    store.put(key, record)
    # the label-free score comes with an accuracy: unlabeled-target reuses the forward pass
    if criterion == "accuracy":
        label_free = ScoreStore.key(f"{planned.identity}/neg_entropy", split.selection)
        if store.get(label_free) is None:
            keys = ("locale", "identity", "neg_entropy", "sources")
            per_row = {"neg_entropy": record["per_row"]["neg_entropy"]}
            store.put(
                label_free,
                {**{k: record[k] for k in keys}, "score": record["neg_entropy"], "per_row": per_row},
            )
    if not keep:
        release(built, ctx)
    return record


def dev_table(
    candidates: Sequence[Candidate], locales: Sequence[str], ctx: SelectionContext, dev: DataSelection,
    store: ScoreStore, criterion: str, progress: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """Scores (``criterion``) of every candidate on every locale's dev selection: rows = candidate keys."""
    from tqdm.auto import tqdm

    table = pd.DataFrame(np.nan, index=[c.key for c in candidates], columns=list(locales))
    errors: dict[str, str] = {}
    for locale in locales:
        split = load_selection(dev.for_locale(locale))
        for c in tqdm(candidates, desc=f"candidates on {locale} dev", disable=not progress, unit="cand"):
            record = _scored(c, locale, split, ctx, store, criterion)
            if "error" in record:
                errors.setdefault(c.key, record["error"])
            else:
                table.at[c.key, locale] = record[criterion]
        if not progress:  # a log: one line per locale instead of a bar
            scored = table[locale].notna().sum()
            logger.info("%s dev: %d/%d candidates scored (%s)", locale, scored, len(candidates), criterion)
    table.attrs["errors"] = errors
    return table


# ------------------------------------------------------------------------------------------ choosing


def protocol_scores(table: pd.DataFrame, protocol: str, target: str) -> pd.Series:
    """One score per candidate: the target's column (target-dev, unlabeled-target) or, for
    leave-target-out, the mean over the other targets (a candidate that fails on one of them is out)."""
    if protocol == "leave-target-out":
        others = table.drop(columns=[target], errors="ignore")
        return others.mean(axis=1).where(others.notna().all(axis=1))
    return table[target]


def best(
    candidates: Sequence[Candidate], scores: pd.Series, family: Callable[[Candidate], bool]
) -> Candidate | None:
    """The highest-scoring candidate of a family (ties: the first in grid order); None if none scored."""
    best_c, best_s = None, -np.inf
    for c in candidates:
        s = scores.get(c.key, np.nan)
        if family(c) and pd.notna(s) and s > best_s + 1e-12:
            best_c, best_s = c, float(s)
    return best_c


FAMILIES: dict[str, Callable[[Candidate], bool]] = {
    "chosen": lambda c: True,
    "best_source": lambda c: c.mode == SINGLE,
    "uniform_top_k": lambda c: c.mode == "average",
}


def kept_baselines(
    alive: Sequence[Candidate], done: dict[Candidate, float], default: Candidate
) -> set[Candidate]:
    """What a race always keeps at a rung: the best of each baseline family and the old default, so every
    reported row is scored at full fidelity."""
    series = pd.Series({c.key: v for c, v in done.items()}, dtype=float)
    kept = {b for name in ("best_source", "uniform_top_k") if (b := best(alive, series, FAMILIES[name]))}
    return kept | ({default} if default in alive else set())


def _candidates_for(config: SelectionConfig, target: str) -> tuple[list[Candidate], Candidate]:
    """The selectable candidates — the grid, plus every source by name where the protocol reads the target —
    and the seed's default recipe (scored and reported, never selected unless it is in the grid)."""
    out = list(config.grid.candidates())
    pool = [loc for loc in config.context.pool if loc != target]
    if config.protocol != "leave-target-out":
        out += [fixed_single(loc) for loc in pool]
    default = seed_default(
        config.default_similarity or config.grid.similarities[0], max(1, min(5, len(pool) - 1))
    )
    return list(dict.fromkeys(out)), default


def race_table(
    config: SelectionConfig, target: str, candidates: Sequence[Candidate], default: Candidate,
    ctx: SelectionContext, store: ScoreStore, criterion: str, budget: Budget | None,
    selectable: Sequence[Candidate] | None = None,
) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:  # fmt: skip
    """Successive halving (:mod:`.racing`) over the protocol's folds: the per-locale scores of the rung the
    choice is made on (rows = candidate keys), one score per candidate (NaN = dropped out earlier), and the
    search record. Only ``selectable`` candidates (default: all) compete for the rungs' places; the old default
    recipe rides along as a baseline (it never takes the place of a candidate that can be chosen)."""
    race = config.race or RaceOptions()
    if config.protocol == "leave-target-out":
        folds = [loc for loc in fold_order(config.context.pool, race.seed) if loc != target]
    else:
        folds = [target]
    splits: dict[tuple[str, int | None], LoadedSplit] = {}

    def split_of(locale: str, rows: int | None) -> LoadedSplit:
        if (locale, rows) not in splits:
            sel = config.dev.for_locale(locale)
            if rows is not None:
                sel = replace(sel, max_samples=rows, sample_seed=race.seed)
            splits[(locale, rows)] = load_selection(sel)
        return splits[(locale, rows)]

    rungs = rung_plan(folds, len(split_of(folds[0], None).gold), race)
    per_locale: dict[tuple[str, Rung], dict[str, float]] = {}
    errors: dict[str, str] = {}

    def score_at(c: Candidate, rung: Rung) -> float | tuple[float, np.ndarray]:
        """The mean score over the rung's folds, with the per-fold scores (several locales) or the per-row ones
        (a sample of one locale's rows, where the store has them): what the race pairs candidates on."""
        values = per_locale.setdefault((c.key, rung), {})
        rows: list[float] | None = None
        for loc in rung.locales:
            before = ctx.work.evaluations
            record = _scored(
                c, loc, split_of(loc, rung.rows), ctx, store, criterion, keep=rung.rows is not None
            )
            if budget is not None:
                budget.spend(ctx.work.evaluations - before)
            if "error" in record:
                errors.setdefault(c.key, record["error"])
                return float("nan")
            values[loc] = record[criterion]
            rows = record.get("per_row", {}).get(criterion)
        mean = float(np.mean([values[loc] for loc in rung.locales]))
        if len(rung.locales) > 1:
            return mean, np.asarray([values[loc] for loc in rung.locales])
        return (mean, np.asarray(rows, dtype=float)) if rung.rows is not None and rows is not None else mean

    progress = ctx.runtime.progress
    population = len(folds) if len(folds) > 1 else len(split_of(folds[0], None).gold)
    result = successive_halving(
        candidates,
        rungs,
        score_at,
        partial(kept_baselines, default=default),
        race.eta,
        budget,
        selectable,
        race.confidence,
        population,
    )
    decided = result.rungs[max(result.completed, 1) - 1]
    table = pd.DataFrame(np.nan, index=[c.key for c in candidates], columns=list(decided.locales))
    for c in candidates:
        for loc, value in per_locale.get((c.key, decided), {}).items():
            table.at[c.key, loc] = value
    table.attrs["errors"] = errors
    table.attrs["rung"] = {c.key: result.reached.get(c) for c in candidates}
    scores = pd.Series({c.key: result.final.get(c, np.nan) for c in candidates}, dtype=float)
    if not progress:
        logger.info(
            "%s: raced %d candidates over %d rung(s) (%s); decided on rung %d", target, len(candidates),
            len(rungs), ", ".join(f"{len(r.locales)} locale(s) x {r.rows or 'all'} rows" for r in rungs),
            max(result.completed, 1),
        )  # fmt: skip
    search = {
        "search": race.describe() if len(rungs) > 1 else "exhaustive (one rung: too few folds or dev rows to race)",
        "rungs": [{"locales": list(r.locales), "rows": r.rows, "candidates": len(result.scores[i])}
                  if i < len(result.scores) else {"locales": list(r.locales), "rows": r.rows, "candidates": 0}
                  for i, r in enumerate(rungs)],
        "kept_as_not_clearly_worse": result.close,
        "decided_on_rung": max(result.completed, 1),
        "rungs_completed": result.completed,
    }  # fmt: skip
    return table, scores, search


def select_for_target(
    config: SelectionConfig, target: str, store: ScoreStore, budget: Budget | None = None
) -> TargetSelection:
    """Score the candidates (dev data only, under the protocol's policy) and choose the recipe and baselines:
    every candidate on every fold (exhaustive), or a race (``config.race``) within ``budget``."""
    ctx = config.context
    selectable, default = _candidates_for(config, target)
    candidates = list(dict.fromkeys([*selectable, default]))
    criterion = CRITERION[config.protocol]
    before = ctx.work.to_dict()
    started = time.time()
    with reading(selection_policy(config.protocol, target)):
        scoring_ctx = ctx
        if config.protocol == "leave-target-out":
            scoring_ctx = replace(ctx, pool=[loc for loc in ctx.pool if loc != target])
            candidates = [c for c in candidates if _applies(c, target, ctx)]
        if config.race is not None:
            table, scores, search = race_table(
                config,
                target,
                candidates,
                default,
                scoring_ctx,
                store,
                criterion,
                budget,
                [c for c in selectable if c in candidates],
            )
        else:
            locales = scoring_ctx.pool if config.protocol == "leave-target-out" else [target]
            table = dev_table(
                candidates, locales, scoring_ctx, config.dev, store, criterion, ctx.runtime.progress
            )
            scores = protocol_scores(table, config.protocol, target)
            search = {"search": "exhaustive (every candidate on every fold's dev data)"}
    search["work"] = {k: v - before[k] for k, v in ctx.work.to_dict().items()}
    search["seconds"] = round(time.time() - started, 1)
    if budget is not None:
        search["budget"] = budget.describe()
    selectable = [c for c in selectable if c in candidates]
    chosen = best(selectable, scores, FAMILIES["chosen"])
    if chosen is None and budget is not None and budget.hit and not table.attrs.get("errors"):
        raise BudgetSpent(f"{target}: the budget was spent before any candidate was scored")
    if chosen is None:
        errors = table.attrs.get("errors", {})
        first = next(iter(errors.values()), "no candidate could be scored")
        raise SelectionError(
            f"Every candidate failed for {target} ({len(candidates)} tried); first failure: {first}"
        )
    baselines: dict[str, Candidate | None] = {
        name: best(selectable, scores, fam) for name, fam in FAMILIES.items() if name != "chosen"
    }
    baselines["seed_default"] = default if pd.notna(scores.get(default.key, np.nan)) else None
    frame = _candidate_frame(candidates, table, scores, chosen, baselines, config.protocol)
    kept = {k: v for k, v in baselines.items() if v}
    return TargetSelection(target, config.protocol, frame, chosen, kept, search=search)


def _applies(candidate: Candidate, target: str, ctx: SelectionContext) -> bool:
    from merginguriel.experiments.selection.scoring import plan_candidate

    try:
        plan_candidate(candidate, target, ctx)
    except (ValueError, FileNotFoundError, KeyError):
        return False
    return True


def _candidate_frame(
    candidates: Sequence[Candidate], table: pd.DataFrame, scores: pd.Series, chosen: Candidate,
    baselines: dict[str, Candidate | None], protocol: str,
) -> pd.DataFrame:  # fmt: skip
    roles = {c.key: name for name, c in baselines.items() if c is not None}
    rows = []
    for c in candidates:
        if c.key not in table.index:
            continue
        row = {"key": c.key, "label": c.label, "mode": c.mode, "k": c.k, "similarity": c.similarity,
               "weighting": c.weighting, "temperature": c.temperature, "params": json.dumps(dict(c.params)),
               "protocol": protocol, "score": scores.get(c.key), "role": "chosen" if c == chosen else roles.get(c.key, ""),
               "error": table.attrs.get("errors", {}).get(c.key)}  # fmt: skip
        if "rung" in table.attrs:  # raced: the last rung the candidate was scored at (1 = the first)
            reached = table.attrs["rung"].get(c.key)
            row["rung"] = None if reached is None else reached + 1
        row.update({f"dev_{loc}": table.at[c.key, loc] for loc in table.columns})
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ final evaluation


def _evaluate(candidate: Candidate, target: str, split: LoadedSplit, ctx: SelectionContext) -> dict[str, Any]:
    built = build(candidate, target, ctx)
    pred, _ = predictions(built, split, ctx)
    metrics = classification_metrics(split.gold, pred)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "built": built, "pred": pred}


def final_evaluation(config: SelectionConfig, sel: TargetSelection) -> pd.DataFrame:
    """The target's test split, read once: the chosen recipe, the baselines, the oracle, the native model and
    (``test_candidates``) every candidate. Returns the final table; writes the chosen recipe's results.json."""
    ctx = config.context
    target = sel.target
    with reading(final_policy(config.protocol, target)):
        split = load_selection(config.test.for_locale(target))
        started = time.time()
        rows, results = [], {}
        for role, candidate in [
            ("chosen recipe", sel.chosen),
            *[(k.replace("_", " "), v) for k, v in sel.baselines.items()],
        ]:
            results[role] = _evaluate(candidate, target, split, ctx)
            rows.append(_final_row(role, candidate, results[role], sel, config.protocol))
        for model in sel.few_shot:  # fine-tuned on the other half of dev (few_shot.py)
            perf = classification_metrics(split.gold, canonical_predictions_of(model.model_dir, split, ctx))
            rows.append({"role": model.role, "label": model.label, "protocol": "target-dev, fine-tuned",
                         "accuracy": perf["accuracy"], "macro_f1": perf["macro_f1"], "sources": model.sources})  # fmt: skip
        oracle = _oracle(target, split, ctx)
        if oracle:
            rows.append(
                {
                    "role": "oracle best source (test)",
                    "label": oracle[0],
                    "protocol": "oracle (test)",
                    **oracle[1],
                }
            )
        native = discover_models(ctx.models_root, ctx.base_model).get(target)
        if native is not None:
            perf = classification_metrics(split.gold, canonical_predictions_of(native, split, ctx))
            rows.append({"role": "native (the target's own model)", "label": target, "protocol": "reference",
                         "accuracy": perf["accuracy"], "macro_f1": perf["macro_f1"]})  # fmt: skip
        if config.test_candidates:  # those scored at the decision's fidelity (a race's finalists)
            sel.candidates["test_accuracy"] = [
                _evaluate(Candidate.from_dict(_cand(r)), target, split, ctx)["accuracy"]
                if not r["error"] and pd.notna(r["score"])
                else np.nan
                for r in sel.candidates.to_dict("records")
            ]
    chosen = results["chosen recipe"]
    model_info = {
        "model_path": chosen["built"].model_dir,
        "model_type": "selected recipe",
        "recipe": sel.chosen.to_dict(),
    }
    record = results_record(split, chosen["pred"], model_info, ctx.runtime, time.time() - started)
    record["selection"] = _selection_block(config, sel)
    write_json_atomic(sel.folder / "results.json", record)
    return pd.DataFrame(rows)


def _few_shot(config: SelectionConfig, sel: TargetSelection) -> list[FewShotModel]:
    """Fine-tune the best single source and the chosen recipe (one model, not an ensemble, not that source) on
    the half of the target's dev split that selection did not read (:mod:`few_shot`)."""
    ctx, target = config.context, sel.target
    starts: dict[str, tuple[str, str, str]] = {}
    for key, candidate in (("best_source", sel.baselines.get("best_source")), ("chosen", sel.chosen)):
        if candidate is None or candidate.is_ensemble:
            continue
        built = build(candidate, target, ctx)
        if built.model_dir in {s[1] for s in starts.values()}:
            continue  # the chosen recipe is the best source itself
        sources = ", ".join(f"{s.locale}:{s.weight:.2f}" for s in built.sources)
        starts[key] = (candidate.label, str(built.model_dir), sources)
    assert sel.folder is not None and config.few_shot is not None
    with reading(few_shot_policy(target)):
        return few_shot_models(starts, target, config.dev, sel.folder, config.few_shot)


def few_shot_policy(target: str) -> SplitPolicy:
    """Fine-tuning reads the target's dev (and train) rows; building the start models may read the sources'
    training rows (a data-aware merge's statistics); no test split."""
    return SplitPolicy.of(f"few-shot fine-tuning for {target}", allow=[(target, "validation"), ("*", "train")],
                          deny=[("*", "test")])  # fmt: skip


def _cand(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "params": json.loads(row["params"])}


def _final_row(role: str, c: Candidate, result: dict, sel: TargetSelection, protocol: str) -> dict[str, Any]:
    frame = sel.candidates.set_index("key")
    dev = frame.at[c.key, "score"] if c.key in frame.index else np.nan
    sources = ", ".join(f"{s.locale}:{s.weight:.2f}" for s in result["built"].sources)
    return {"role": role, "label": c.label, "protocol": protocol if role != "seed default" else "fixed (not selected)",
            "dev_score": dev, "accuracy": result["accuracy"], "macro_f1": result["macro_f1"], "sources": sources}  # fmt: skip


def _oracle(target: str, split: LoadedSplit, ctx: SelectionContext) -> tuple[str, dict] | None:
    best_loc, best_perf = None, None
    for loc in ctx.pool:
        if loc == target:
            continue
        result = _evaluate(fixed_single(loc), target, split, ctx)
        if best_perf is None or result["accuracy"] > best_perf["accuracy"] + 1e-12:
            best_loc, best_perf = loc, {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"]}
    return (best_loc, best_perf) if best_loc else None


# ------------------------------------------------------------------------------------------ outputs


def _selection_block(config: SelectionConfig, sel: TargetSelection) -> dict[str, Any]:
    frame = sel.candidates.set_index("key")
    return {
        "protocol": config.protocol,
        "protocol_note": PROTOCOL_NOTE[config.protocol],
        "target": sel.target,
        "recipe": sel.chosen.to_dict(),
        "recipe_label": sel.chosen.label,
        "similarity_matrix": config.context.matrices.get(sel.chosen.similarity),
        "dev_score": float(frame.at[sel.chosen.key, "score"]),
        "criterion": CRITERION[config.protocol],
        "dev_data": config.dev.identity(),
        "candidates": int(len(frame)),
        "search": sel.search,
        "baselines": {k: v.to_dict() for k, v in sel.baselines.items()},
        "pool": list(config.context.pool),
        "models_root": config.context.models_root,
        "base_model": config.context.base_model,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": __version__,
    }


def write_selection(config: SelectionConfig, sel: TargetSelection) -> Path:
    """``recipe.json`` and ``candidates.csv`` of one target (written before any test data is read)."""
    folder = config.out_dir / config.protocol / sel.target
    sel.folder = folder
    write_json_atomic(folder / "recipe.json", _selection_block(config, sel))
    write_text_atomic(folder / "candidates.csv", sel.candidates.to_csv(index=False))
    return folder


def save_chosen(config: SelectionConfig, sel: TargetSelection) -> Path | None:
    """The chosen model as a loadable folder ``OUT/PROTOCOL/TARGET/model`` (atomic) with a card naming the recipe,
    the protocol, the dev score and the test table; None for an ensemble (no single model: the card cannot
    exist, the recipe says how to run it)."""
    from merginguriel.models.cards import Evaluation, selected_card, write_card
    from merginguriel.models.paths import TRAINER_STATE
    from merginguriel.outputs.atomic import COMPLETE_MARKER, atomic_output_dir

    built = build(sel.chosen, sel.target, config.context)  # merged again if it was released
    if built.model_dir is None:
        return None
    evaluations = []
    results = sel.folder / "results.json"
    if results.is_file():
        evaluations.append(Evaluation.from_results(json.loads(results.read_text())))
    sources = [(s.locale, s.path, float(s.weight)) for s in built.sources]
    rows = [] if sel.final is None else sel.final.to_dict("records")
    dest = sel.folder / "model"
    with atomic_output_dir(dest, overwrite=True) as tmp:
        for item in sorted(Path(built.model_dir).iterdir()):
            if item.name in TRAINER_STATE or item.name in ("README.md", COMPLETE_MARKER):
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        write_card(tmp, selected_card(_selection_block(config, sel), sources, rows, evaluations, tmp))
    return dest


def plot_dev_vs_test(sel: TargetSelection, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from merginguriel.outputs.plotting import save_figure

    frame = sel.candidates.dropna(subset=["score", "test_accuracy"])
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(frame["score"], frame["test_accuracy"], s=14, alpha=0.6, label="candidates")
    for role, marker in (("chosen", "*"), ("best_source", "s"), ("uniform_top_k", "^")):
        part = frame[frame["role"] == role]
        ax.scatter(part["score"], part["test_accuracy"], s=110, marker=marker, label=role.replace("_", " "))
    ax.set_xlabel(f"selection score ({sel.protocol}; {CRITERION[sel.protocol]} on dev)")
    ax.set_ylabel("test accuracy (diagnostic: read after selection)")
    ax.set_title(f"{sel.target}: dev score vs test accuracy per candidate")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def run_selection(config: SelectionConfig, say: Callable[[str], None] = print) -> list[TargetSelection]:
    """Select a recipe for every target (dev data only), write it, then (unless ``no_test``) evaluate once on test."""
    if config.protocol not in PROTOCOLS:
        raise SelectionError(f"Unknown --protocol {config.protocol!r}; use one of {', '.join(PROTOCOLS)}.")
    if config.few_shot is not None and config.protocol != "target-dev":
        raise SelectionError(
            f"--few-shot fine-tunes on the target's labelled dev rows: only --protocol target-dev has them, not "
            f"{config.protocol}."
        )
    if config.protocol == "leave-target-out" and len(config.context.pool) < 3:
        raise SelectionError(
            f"--protocol leave-target-out needs at least 3 locales with models (a held-out target, and at least two "
            f"others to score on); the pool has {len(config.context.pool)}: {', '.join(config.context.pool)}."
        )
    candidates = config.grid.candidates()
    with_target = [c.label for c in candidates if c.includes_target]
    if with_target and config.protocol != "target-dev":
        raise SelectionError(
            f"Grid candidates with include_target ({with_target[0]}{', …' if len(with_target) > 1 else ''}) merge "
            f"the target's own model, trained on its labels: only --protocol target-dev fits them, not "
            f"{config.protocol}. Drop include_target from the grid or use target-dev."
        )
    on_texts = [c.label for c in candidates if c.reads_target and not c.includes_target]
    if on_texts and config.protocol == "leave-target-out":
        raise SelectionError(
            f"Grid candidates that learn on the target's unlabeled texts ({on_texts[0]}"
            f"{', …' if len(on_texts) > 1 else ''}) read the target, which leave-target-out never does: use "
            "--protocol unlabeled-target or target-dev, or drop them from the grid."
        )
    store = ScoreStore(config.context.work_dir / "scores.jsonl")
    done: list[TargetSelection] = []
    skipped: list[str] = []  # the budget ran out before they were scored
    for i, target in enumerate(config.targets):
        budget = None
        if config.budget is not None:  # an equal share of what is left for each remaining target
            budget = config.budget.share(len(config.targets) - i)
        try:
            sel = select_for_target(config, target, store, budget)
        except BudgetSpent as spent:
            say(f"{spent}: no recipe (raise --budget to include it)")
            config.budget.hit = True
            skipped.append(target)
            continue
        finally:
            if budget is not None:
                config.budget.used += budget.used
                config.budget.hit |= budget.hit
        write_selection(config, sel)
        if config.few_shot is not None:
            sel.few_shot = _few_shot(config, sel)
        say(
            f"{target} [{config.protocol}]: chose {sel.chosen.label} (dev score {sel.candidates.set_index('key').at[sel.chosen.key, 'score']:.4f})"
        )
        if not config.no_test:
            sel.final = final_evaluation(config, sel)
            write_text_atomic(sel.folder / "final.csv", sel.final.to_csv(index=False))
            write_text_atomic(sel.folder / "candidates.csv", sel.candidates.to_csv(index=False))
            if config.test_candidates:
                plot_dev_vs_test(sel, sel.folder / "dev_vs_test.png")
        if config.save_model:
            saved = save_chosen(config, sel)
            say(
                f"{target}: saved the chosen model to {saved}"
                if saved
                else f"{target}: the chosen recipe is an ensemble ({sel.chosen.label}): no single model to save; "
                f"run it with merginguriel ensemble (recipe: {sel.folder / 'recipe.json'})"
            )
        if not config.context.keep_merged:  # the target's merged candidates (a race keeps them while it runs)
            for c in (Candidate.from_dict(_cand(r)) for r in sel.candidates.to_dict("records")):
                with contextlib.suppress(ValueError, FileNotFoundError, KeyError):
                    release(build(c, target, config.context, merge=False), config.context)
        done.append(sel)
    if not done:
        raise SelectionError(
            f"--budget {config.budget.describe() if config.budget else ''} was spent before any target was scored; "
            "raise it."
        )
    if skipped:
        say(f"the budget ran out: no recipe for {', '.join(skipped)}")
    return done


__all__ = [
    "PROTOCOLS",
    "ScoreStore",
    "SelectionConfig",
    "SelectionError",
    "TargetSelection",
    "dev_table",
    "final_evaluation",
    "final_policy",
    "protocol_scores",
    "race_table",
    "run_selection",
    "save_chosen",
    "select_for_target",
    "selection_policy",
]
