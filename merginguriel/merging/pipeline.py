"""The merge pipeline's two halves: ``plan_merge`` (mode → sources, weights, method, experiment key; no model
is read) and ``execute_merge`` (the engine run, tokenizer, ``merge_details.{json,txt}`` and model card, written
atomically). The modes are described in :mod:`merginguriel.merging.catalogue`; the sources in
:mod:`merginguriel.similarity.selection`; the whole experiment (statistics → merge → evaluate → record) in
:mod:`merginguriel.merging.experiment`.

``preweight="equal"`` gives every selected source weight 1/K; for Fisher merging these are the cᵢ of
θ = Σ cᵢFᵢθᵢ / Σ cᵢFᵢ. Every selected source is merged with the weight reported; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merginguriel import __version__
from merginguriel.data.labels import INTENT_LABELS
from merginguriel.data.locales import validate_locale
from merginguriel.merging.catalogue import engine_method, needs_statistics
from merginguriel.merging.keys import experiment_key
from merginguriel.merging.layer_weights import LayerWeights
from merginguriel.merging.naming import merge_name
from merginguriel.merging.statistics import StatisticsOptions
from merginguriel.outputs.atomic import atomic_output_dir, write_json_atomic, write_text_atomic
from merginguriel.similarity.selection import (
    MergeConfigError,
    SourceModel,
    SourceSelection,
    equal_weights,
    parse_weights,
    select_source_models,
)

logger = logging.getLogger("merginguriel.merging")


@dataclass
class MergeRequest:
    """What to merge for a target: the mode, how sources are chosen, the method's parameters and statistics."""

    mode: str
    target: str
    sources: SourceSelection = field(default_factory=SourceSelection)
    method_params: dict[str, Any] = field(default_factory=dict)
    head_merge: str = "linear"
    statistics: StatisticsOptions | None = None
    seed: int = 42
    layer_weights: LayerWeights | None = None  # per layer group source weights (None: the sources' weights)


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
    request: MergeRequest | None = None  # what the plan was made from (recorded with the merge)
    layer_weights: dict[str, list[float]] = field(default_factory=dict)  # layer group -> source weights

    @property
    def name(self) -> str:
        with_target = self.request is not None and self.request.sources.include_target
        return merge_name(self.mode, self.target, len(self.sources), with_target=with_target)


def _check_mode_inputs(mode: str, sources: SourceSelection) -> None:
    if mode in ("manual", "linear") and not sources.weights:
        raise MergeConfigError(f"--mode {mode} needs --weights LOCALE=WEIGHT,... (e.g. de-DE=0.5,nl-NL=0.5).")
    if mode == "uriel" and not sources.source_locales:
        raise MergeConfigError(
            "--mode uriel needs --source-locales (comma-separated); weights come from the matrix."
        )


def qlora_notes(sources: Sequence[SourceModel]) -> list[str]:
    """A note per source trained with a quantised base (QLoRA): what the merge reads of it."""
    from merginguriel.models.paths import trained_quantization

    notes = []
    for source in sources:
        kind = trained_quantization(source.path)
        if kind:
            notes.append(
                f"{source.locale} was trained with --quantization {kind} (QLoRA): merged are its saved weights, the "
                "full-precision base with its LoRA update merged in"
            )
    return notes


def plan_merge(request: MergeRequest) -> MergePlan:
    """Resolve sources, weights and the method for a request (no model is read)."""
    target = validate_locale(request.target)
    _check_mode_inputs(request.mode, request.sources)
    sources, notes = select_source_models(target, request.sources)
    notes = [*notes, *qlora_notes(sources)]
    if request.mode == "average":
        sources = equal_weights(sources)
    method = engine_method(request.mode)
    statistics = request.statistics if needs_statistics(method) else None
    if needs_statistics(method) and statistics is None:
        raise MergeConfigError(
            f"Method {method} needs data statistics: give --dataset-name and --num-fisher-examples."
        )
    layer_weights = (
        request.layer_weights.resolve([s.locale for s in sources], [s.weight for s in sources])
        if request.layer_weights
        else {}
    )
    key_fields = {"layer_weights": request.layer_weights.text()} if request.layer_weights else {}
    key = experiment_key(
        {
            **key_fields,
            "mode": request.mode,
            "method": method,
            "target": target,
            "sources": [(s.locale, s.path, round(s.weight, 12)) for s in sources],
            "base_model": request.sources.base_model,
            "method_params": request.method_params,
            "head_merge": request.head_merge,
            "statistics": statistics.selection() if statistics else None,
            "seed": request.seed,
        }
    )
    return MergePlan(
        request.mode,
        method,
        target,
        sources,
        request.sources.base_model,
        dict(request.method_params),
        request.head_merge,
        notes,
        key,
        statistics,
        request,
        layer_weights,
    )


def merge_details(
    plan: MergePlan, result: Mapping[str, Any], options: Mapping[str, Any], output_dir: str | os.PathLike
) -> dict[str, Any]:
    """``merge_details.json``: what was merged, how, and where it is (the final folder, not the temporary one)."""
    engine = dict(result)
    engine["output_dir"] = str(output_dir)
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
        "layer_weights": _layer_weights_record(plan),
        "notes": plan.notes,
        "key": plan.key,
        "output_dir": str(output_dir),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": __version__,
        "engine": engine,
        "options": dict(options),
    }


def _layer_weights_record(plan: MergePlan) -> dict[str, Any] | None:
    """What ``--layer-weights`` asked and the weights each group got, by source locale (None without it)."""
    if not plan.layer_weights or plan.request is None or plan.request.layer_weights is None:
        return None
    locales = [s.locale for s in plan.sources]
    return {
        "spec": plan.request.layer_weights.text(),
        "weights": {group: dict(zip(locales, w)) for group, w in plan.layer_weights.items()},
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
    layers = details.get("layer_weights")
    if layers:
        lines.append(f"Layer weights ({layers['spec']}), replacing those weights in their layer groups:")
        for group, weights in layers["weights"].items():
            lines.append(f"  {group:<10} " + ", ".join(f"{loc} {w:.4f}" for loc, w in weights.items()))
    learned = details.get("learned_coefficients")
    if learned:
        lines.append(
            f"Learned coefficients ({learned['granularity']}-wise, {learned['steps']} steps on the target's unlabeled "
            f"texts; entropy {learned['entropy_first']:.4f} -> {learned['entropy_last']:.4f}); mean lambda per source:"
        )
        lines += [f"  {loc:<7} {lam:.4f}" for loc, lam in zip(learned["sources"], learned["mean_lambda"])]
    lines += [f"Note: {note}" for note in details["notes"]]
    return "\n".join(lines) + "\n"


def model_card(details: Mapping[str, Any], model_dir: str | os.PathLike | None = None) -> str:
    """The ``README.md`` of a merged folder: a Hugging Face card (:func:`merginguriel.models.cards.merged_card`)."""
    from merginguriel.models.cards import merged_card

    return str(merged_card(details, model_dir))


# Files of the first source that the merged folder keeps besides weights, config and tokenizer (a decoder's
# generation defaults; a generative model's marker travels in config.json, which the engine copies).
EXTRA_FILES: tuple[str, ...] = ("generation_config.json",)


def copy_extra_files(
    source: str | os.PathLike, target: str | os.PathLike, names: Sequence[str] = EXTRA_FILES
) -> list[str]:
    """Copy the ``names`` (default :data:`EXTRA_FILES`) that ``source`` has into ``target``; the names copied."""
    copied = []
    for name in names:
        if (Path(source) / name).is_file():
            shutil.copyfile(Path(source) / name, Path(target) / name)
            copied.append(name)
    return copied


def copy_tokenizer(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Give ``target`` the tokenizer of ``source``: its tokenizer files byte for byte when it is a folder that has
    them (a merged model then shares its first source's tokenizer, see
    :func:`merginguriel.models.inference.load_tokenizer`), else loaded and saved (a hub id)."""
    from merginguriel.models.inference import TOKENIZER_FILES

    if not copy_extra_files(source, target, TOKENIZER_FILES):
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target))


def execute_merge(
    plan: MergePlan,
    output_dir: str | os.PathLike,
    options: Mapping[str, Any],
    overwrite: bool = False,
    device: str = "cpu",
    seed: int = 42,
    statistics: Sequence[Mapping] | None = None,
    progress: bool = True,
    learned: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge ``plan`` into ``output_dir`` atomically (model, tokenizer, details, card); returns the details.

    ``statistics`` are the per-source statistics of a data-aware method (see
    :func:`merginguriel.merging.experiment.compute_statistics`, the explicit step before this one).
    """
    from auto_merge_llm import merge_models

    from merginguriel.generative.classifier import check_same_task

    if plan.statistics is not None and statistics is None:
        raise MergeConfigError(
            f"Method {plan.method} needs the sources' statistics: run merging.experiment.compute_statistics(plan) "
            "first and pass them."
        )
    check_same_task([s.path for s in plan.sources])  # an encoder with a decoder, or two prompt templates
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
            layer_weights=plan.layer_weights or None,
        )
        copy_tokenizer(plan.sources[0].path, tmp)
        copy_extra_files(plan.sources[0].path, tmp)
        details = merge_details(plan, result.to_dict(), options, output_dir)
        if learned:  # AdaMerging's coefficients, learned on the target's unlabeled texts
            details["learned_coefficients"] = dict(learned)
        write_json_atomic(Path(tmp) / "merge_details.json", details)
        write_text_atomic(Path(tmp) / "merge_details.txt", details_text(details))
        write_text_atomic(Path(tmp) / "README.md", model_card(details, tmp))
    return details


__all__ = [
    "MergeConfigError",
    "copy_tokenizer",
    "MergePlan",
    "MergeRequest",
    "SourceModel",
    "execute_merge",
    "merge_details",
    "parse_weights",
    "plan_merge",
]
