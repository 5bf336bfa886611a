"""The merge pipeline: choose sources and weights for a target, merge them with ``auto_merge_llm``, record
what was done, and evaluate the result.

Modes (``--mode``):

* ``similarity`` — top-K sources by URIEL similarity, similarity weights, linear merge;
* ``average`` — the same sources (or ``--source-locales``), equal weights, linear merge;
* ``uriel`` — the sources you name (``--source-locales``), weights from the similarity matrix, linear merge;
* ``manual`` / ``linear`` — sources and weights you give (``--weights de-DE=0.5,nl-NL=0.5``), linear merge;
* any other registered ``auto_merge_llm`` method (``ties``, ``dare``, ``fisher``, …) — sources chosen as for
  ``similarity`` (or by ``--source-locales`` / ``--weights``), weights passed to that method;
  ``fisher_dataset`` is the seed's name for ``fisher`` with dataset Fisher statistics.

``preweight`` (``uriel`` or ``equal``) replaces the selection's weights by 1/K when ``equal``; for Fisher
merging these are the cᵢ of θ = Σ cᵢFᵢθᵢ / Σ cᵢFᵢ.

Every selected source is merged with the weight reported; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merginguriel import __version__
from merginguriel.experiment_key import experiment_key
from merginguriel.labels import INTENT_LABELS
from merginguriel.locales import iso639_3, parse_locales, validate_locale
from merginguriel.merge_statistics import STATISTIC_OF_METHOD, StatisticsOptions, plan_statistics
from merginguriel.model_paths import discover_models, find_model
from merginguriel.outputs import atomic_output_dir, write_json_atomic, write_text_atomic
from merginguriel.similarity import select_sources, similarity_matrix, source_weights

logger = logging.getLogger("merginguriel.merging")

LINEAR_MODES = ("similarity", "average", "uriel", "manual", "linear")
MODE_ALIASES = {"fisher_dataset": "fisher"}


class MergeConfigError(ValueError):
    """Merge options that do not fit together."""


@dataclass
class SourceModel:
    locale: str
    path: str
    weight: float


@dataclass
class MergeRequest:
    mode: str
    target: str
    models_root: str = "haryos_model"
    base_model: str = "xlm-roberta-base"
    num_languages: int = 5
    source_locales: list[str] | None = None
    weights: dict[str, float] | None = None
    similarity_matrix: str = "sparsed_language_similarity_matrix_unified.csv"
    similarity_source: str = "sparse"
    top_k: int = 20
    sinkhorn_iters: int = 20
    available_only: bool = False
    method_params: dict[str, Any] = field(default_factory=dict)
    head_merge: str = "linear"
    preweight: str = "uriel"
    statistics: StatisticsOptions | None = None
    device: str = "cpu"
    seed: int = 42


@dataclass
class MergePlan:
    mode: str
    method: str
    target: str
    sources: list[SourceModel]
    base_model: str
    method_params: dict[str, Any]
    head_merge: str
    notes: list[str]
    key: str
    statistics: StatisticsOptions | None = None

    @property
    def name(self) -> str:
        return f"{self.mode}_merge_{self.target}_{len(self.sources)}merged"


def parse_weights(spec: str) -> dict[str, float]:
    """``de-DE=0.5,nl-NL=0.5`` -> {locale: weight}; negative or all-zero weights are an error."""
    out: dict[str, float] = {}
    for item in (p.strip() for p in spec.split(",") if p.strip()):
        if "=" not in item:
            raise MergeConfigError(
                f"--weights item {item!r} is not LOCALE=WEIGHT (e.g. --weights de-DE=0.6,nl-NL=0.4)."
            )
        loc, value = item.split("=", 1)
        loc = validate_locale(loc.strip())
        try:
            weight = float(value)
        except ValueError:
            raise MergeConfigError(f"--weights: {value!r} for {loc} is not a number.") from None
        if weight < 0:
            raise MergeConfigError(
                f"--weights: {loc} has a negative weight ({weight}); weights must be >= 0."
            )
        out[loc] = weight
    if not out:
        raise MergeConfigError("--weights is empty; give LOCALE=WEIGHT pairs.")
    if sum(out.values()) <= 0:
        raise MergeConfigError("--weights are all zero; give at least one positive weight.")
    return out


def engine_method(mode: str) -> str:
    """The ``auto_merge_llm`` method a pipeline mode runs."""
    return "linear" if mode in LINEAR_MODES else MODE_ALIASES.get(mode, mode)


def needs_statistics(method: str) -> bool:
    return method in STATISTIC_OF_METHOD


def plan_merge(request: MergeRequest) -> MergePlan:
    """Resolve sources, weights and the method for a request (no model is read)."""
    target = validate_locale(request.target)
    mode = request.mode
    notes: list[str] = []
    if mode in ("manual", "linear") and not request.weights:
        raise MergeConfigError(f"--mode {mode} needs --weights LOCALE=WEIGHT,... (e.g. de-DE=0.5,nl-NL=0.5).")
    if mode == "uriel" and not request.source_locales:
        raise MergeConfigError(
            "--mode uriel needs --source-locales (comma-separated); weights come from the matrix."
        )
    if request.weights:
        chosen = list(request.weights.items())
        if target in request.weights:
            raise MergeConfigError(f"--weights names the target {target} itself; give source locales only.")
        total = sum(w for _, w in chosen)
        if abs(total - 1.0) > 1e-6:
            notes.append(f"weights summed to {total:g}; normalised to sum to 1")
        pairs = [(loc, w / total) for loc, w in chosen]
    else:
        matrix = similarity_matrix(
            request.similarity_matrix, request.similarity_source, request.top_k, request.sinkhorn_iters
        )
        if request.source_locales:
            pairs = [
                (s.locale, s.weight)
                for s in source_weights(target, matrix, parse_locales(request.source_locales))
            ]
        else:
            candidates = None
            if request.available_only:
                candidates = [
                    loc for loc in discover_models(request.models_root, request.base_model) if loc != target
                ]
            pairs = [
                (s.locale, s.weight)
                for s in select_sources(target, matrix, request.num_languages, candidates)
            ]
    if request.preweight not in ("uriel", "equal"):
        raise MergeConfigError(f"--preweight must be 'uriel' or 'equal', not {request.preweight!r}.")
    if mode == "average" or (request.preweight == "equal" and not request.weights):
        pairs = [(loc, 1.0 / len(pairs)) for loc, _ in pairs]
    sources = [
        SourceModel(loc, str(find_model(request.models_root, request.base_model, loc)), w) for loc, w in pairs
    ]
    for loc, _ in pairs:
        if iso639_3(loc) == iso639_3(target):
            notes.append(
                f"{loc} shares URIEL features with {target} ({iso639_3(target)}): their similarity rows are identical"
            )
    method = engine_method(mode)
    statistics = request.statistics if needs_statistics(method) else None
    if needs_statistics(method) and statistics is None:
        raise MergeConfigError(
            f"Method {method} needs data statistics: give --dataset-name and --num-fisher-examples."
        )
    key = experiment_key(
        {
            "mode": mode,
            "method": method,
            "target": target,
            "sources": [(s.locale, s.path, round(s.weight, 12)) for s in sources],
            "base_model": request.base_model,
            "method_params": request.method_params,
            "head_merge": request.head_merge,
            "statistics": statistics.selection() if statistics else None,
            "seed": request.seed,
        }
    )
    return MergePlan(
        mode,
        method,
        target,
        sources,
        request.base_model,
        dict(request.method_params),
        request.head_merge,
        notes,
        key,
        statistics,
    )


def merge_details(plan: MergePlan, result: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mode": plan.mode,
        "method": plan.method,
        "target": plan.target,
        "num_sources": len(plan.sources),
        "sources": [asdict(s) for s in plan.sources],
        "base_model": plan.base_model,
        "method_params": result.get("method_params", plan.method_params),
        "head_merge": result.get("head_merge", plan.head_merge),
        "head_merge_requested": plan.head_merge,
        "weights_normalized": result.get("weights_normalized"),
        "data": plan.statistics.selection() if plan.statistics else None,
        "notes": plan.notes,
        "key": plan.key,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": __version__,
        "engine": dict(result),
        "options": dict(options),
    }


def details_text(details: Mapping[str, Any]) -> str:
    lines = [
        f"Merge: {details['mode']} (method {details['method']}) for target {details['target']}",
        f"Created: {details['created']}  merginguriel {details['version']}  key {details['key']}",
        f"Base model: {details['base_model']}",
        f"Head merge: {details['head_merge']}",
        f"Method parameters: {details['method_params']}",
        "",
        f"Sources ({details['num_sources']}), all merged with these weights:",
    ]
    lines += [f"  {s['locale']:<7} weight {s['weight']:.6f}  {s['path']}" for s in details["sources"]]
    lines += [f"Note: {note}" for note in details["notes"]]
    return "\n".join(lines) + "\n"


def model_card(details: Mapping[str, Any]) -> str:
    sources = ", ".join(f"{s['locale']} ({s['weight']:.3f})" for s in details["sources"])
    return (
        f"# {details['mode']} merge for {details['target']}\n\n"
        f"Merged by merginguriel {details['version']} with method `{details['method']}` from {details['num_sources']} "
        f"source models fine-tuned from `{details['base_model']}`: {sources}.\n\n"
        "See `merge_details.json` for every option.\n"
    )


def execute_merge(
    plan: MergePlan,
    output_dir: str | os.PathLike,
    options: Mapping[str, Any],
    overwrite: bool = False,
    device: str = "cpu",
    seed: int = 42,
    statistics: Sequence[Mapping] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Merge ``plan`` into ``output_dir`` atomically (model, tokenizer, details, card); returns the details."""
    from auto_merge_llm import merge_models
    from transformers import AutoTokenizer

    if statistics is None and plan.statistics is not None:
        statistics = plan_statistics(
            plan.method, [asdict(s) for s in plan.sources], plan.target, plan.statistics, device
        )
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        result = merge_models(
            [s.path for s in plan.sources],
            [s.weight for s in plan.sources],
            method=plan.method,
            output_dir=tmp,
            base_model=plan.base_model,
            method_params=plan.method_params,
            head_merge=plan.head_merge,
            label_names=list(INTENT_LABELS),
            device=device,
            seed=seed,
            statistics=statistics,
            progress=progress,
        )
        AutoTokenizer.from_pretrained(plan.sources[0].path).save_pretrained(str(tmp))
        details = merge_details(plan, result.to_dict(), options)
        write_json_atomic(Path(tmp) / "merge_details.json", details)
        write_text_atomic(Path(tmp) / "merge_details.txt", details_text(details))
        write_text_atomic(Path(tmp) / "README.md", model_card(details))
    return details
