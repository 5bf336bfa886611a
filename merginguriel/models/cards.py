"""Hugging Face model cards (``README.md``) for the models this toolkit writes: trained, merged and fused.

Every card is built here, with ``huggingface_hub``'s :class:`~huggingface_hub.ModelCard` /
:class:`~huggingface_hub.ModelCardData`, so the hub, its search and leaderboards can read its YAML front matter:

* ``language`` — ISO 639-1 codes of the model's locales (the MASSIVE locale's language part, ``af-ZA`` → ``af``;
  the ISO 639-3 code where a language has no two-letter code);
* ``base_model`` — hub ids only (the hub refuses anything else): the sources of a merge that are hub ids (as
  mergekit cards list them, with ``base_model_relation: merge``), otherwise the pretrained model's hub id; a
  local model is named in the card's text by its folder name and content hash, never by its path;
* ``library_name: transformers``; ``pipeline_tag`` ``text-classification``, or ``text-generation`` for a
  generative intent model (``config.json`` holding ``merginguriel_generative``);
* ``datasets: [AmazonScience/massive]``; ``tags`` (``merginguriel``, ``massive``, ``intent-classification``, and for
  merges ``merge`` and the method);
* ``model-index`` — accuracy and macro-F1 of each evaluation that ran (locale = dataset config, split), added to
  the card by :func:`add_evaluations` once an evaluation finished.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from merginguriel import __version__
from merginguriel.data.locales import LOCALES
from merginguriel.data.massive import HUB_DATASET

CARD_FILE = "README.md"
GENERATIVE_MARKER = "merginguriel_generative"
EVALUATION_HEADING = "## Evaluation"
TASK_NAME = "Intent classification"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a model: its accuracy and macro-F1 on ``dataset`` / ``locale`` / ``split``."""

    locale: str
    split: str
    accuracy: float
    macro_f1: float
    dataset: str = HUB_DATASET
    num_examples: int | None = None

    @classmethod
    def from_results(cls, results: Mapping[str, Any]) -> Evaluation:
        """The evaluation of a ``results.json`` dict (:func:`merginguriel.models.evaluation.evaluate_model`)."""
        info, perf = results["dataset_info"], results["performance"]
        return cls(
            locale=str(info["locale"]),
            split=str(info["split"]),
            accuracy=float(perf["accuracy"]),
            macro_f1=float(perf["macro_f1"]),
            dataset=str(info.get("dataset_name", HUB_DATASET)),
            num_examples=info.get("num_examples"),
        )


# ------------------------------------------------------------------------------------- names


def iso639_1(locale: str) -> str:
    """The ISO 639-1 code of a MASSIVE locale (``zh-TW`` → ``zh``), its ISO 639-3 code where none exists."""
    language = locale.split("-", 1)[0].lower()
    if len(language) == 2:
        return language
    return LOCALES[locale].iso639_3 if locale in LOCALES else language


def languages(locales: Iterable[str]) -> list[str]:
    """ISO 639-1 codes of ``locales``, in order, each once."""
    return list(dict.fromkeys(iso639_1(loc) for loc in locales))


def hub_id(name: str | os.PathLike | None) -> str | None:
    """``name`` if it is a hub model id (not an existing local folder and shaped like ``org/name``), else None."""
    if name is None:
        return None
    text = str(name)
    if Path(text).exists() or text.startswith(("/", ".", "~")) or not _REPO_ID.match(text):
        return None
    return text


def model_reference(name: str | os.PathLike) -> str:
    """How a card names a model: a hub id as it is; a local folder by its name and content hash (no path)."""
    if hub_id(name) is not None:
        return str(name)
    folder = Path(name)
    try:
        from merginguriel.models.fingerprint import model_fingerprint

        return f"{folder.name} (local, sha256 {model_fingerprint(folder)[:16]})"
    except (FileNotFoundError, OSError):
        return f"{folder.name} (local)"


def dataset_id(name: str | os.PathLike) -> str:
    """The dataset as a card names it: a hub id as it is, a local folder by its name (``builtin`` stays)."""
    return hub_id(name) or Path(str(name)).name


def pipeline_tag(model_dir: str | os.PathLike | None) -> str:
    """``text-generation`` for a generative intent model (its ``config.json`` holds the marker), else
    ``text-classification``."""
    config = Path(model_dir) / "config.json" if model_dir is not None else None
    if config is not None and config.is_file():
        try:
            if GENERATIVE_MARKER in json.loads(config.read_text()):
                return "text-generation"
        except ValueError:
            pass
    return "text-classification"


# ------------------------------------------------------------------------------------- building


def _eval_results(evaluations: Sequence[Evaluation]) -> list[EvalResult]:
    out = []
    for ev in evaluations:
        for metric, value, label in (("accuracy", ev.accuracy, "Accuracy"), ("f1", ev.macro_f1, "Macro F1")):
            out.append(
                EvalResult(
                    task_type="text-classification",
                    task_name=TASK_NAME,
                    dataset_type=dataset_id(ev.dataset),
                    dataset_name="MASSIVE"
                    if dataset_id(ev.dataset) == HUB_DATASET
                    else dataset_id(ev.dataset),
                    dataset_config=ev.locale,
                    dataset_split=ev.split,
                    metric_type=metric,
                    metric_name=label,
                    metric_config="macro" if metric == "f1" else None,
                    metric_value=round(float(value), 6),
                )
            )
    return out


def _evaluation_section(evaluations: Sequence[Evaluation]) -> str:
    if not evaluations:
        return f"{EVALUATION_HEADING}\n\nNot evaluated yet.\n"
    lines = [EVALUATION_HEADING, "", "| dataset | locale | split | examples | accuracy | macro-F1 |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for ev in evaluations:
        n = "" if ev.num_examples is None else str(ev.num_examples)
        lines.append(
            f"| {dataset_id(ev.dataset)} | {ev.locale} | {ev.split} | {n} | {ev.accuracy:.4f} | {ev.macro_f1:.4f} |"
        )
    return "\n".join(lines) + "\n"


def build_card(
    *,
    title: str,
    body: str,
    locales: Sequence[str],
    base_models: Sequence[str],
    tags: Sequence[str] = (),
    model_dir: str | os.PathLike | None = None,
    evaluations: Sequence[Evaluation] = (),
    merge: bool = False,
) -> ModelCard:
    """A card: the YAML front matter of the module doc, ``# title``, ``body`` and the evaluation table."""
    bases = list(dict.fromkeys(b for b in (hub_id(m) for m in base_models) if b))
    extra: dict[str, Any] = {"base_model_relation": "merge"} if merge and len(bases) > 1 else {}
    data = ModelCardData(
        language=languages(locales),
        base_model=(bases if len(bases) > 1 else bases[0]) if bases else None,
        library_name="transformers",
        pipeline_tag=pipeline_tag(model_dir),
        datasets=[HUB_DATASET],
        tags=list(dict.fromkeys(["merginguriel", "massive", "intent-classification", *tags])),
        metrics=["accuracy", "f1"],
        model_name=title if evaluations else None,
        eval_results=_eval_results(evaluations) or None,
        **extra,
    )
    text = f"---\n{data.to_yaml()}\n---\n\n# {title}\n\n{body.rstrip()}\n\n{_evaluation_section(evaluations)}"
    return ModelCard(text)


def write_card(folder: str | os.PathLike, card: ModelCard) -> Path:
    """Write ``card`` to ``folder/README.md`` atomically."""
    from merginguriel.outputs.atomic import write_text_atomic

    path = Path(folder) / CARD_FILE
    write_text_atomic(path, str(card))
    return path


def read_evaluations(card: ModelCard) -> list[Evaluation]:
    """The evaluations recorded in a card's model-index (accuracy and macro-F1 paired by locale and split)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for res in card.data.eval_results or []:
        key = (res.dataset_type, res.dataset_config or "", res.dataset_split or "")
        found.setdefault(key, {})[res.metric_type] = float(res.metric_value)
    return [
        Evaluation(locale, split, m.get("accuracy", float("nan")), m.get("f1", float("nan")), dataset)
        for (dataset, locale, split), m in found.items()
    ]


def _title(text: str) -> str | None:
    return next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), None)


def add_evaluations(folder: str | os.PathLike, evaluations: Sequence[Evaluation]) -> Path | None:
    """Record ``evaluations`` in the card of ``folder`` (model-index and the evaluation table); an evaluation
    of the same dataset, locale and split replaces the earlier one. No card: nothing is done (None)."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        return None
    card = ModelCard.load(path)
    merged = {(dataset_id(e.dataset), e.locale, e.split): e for e in read_evaluations(card)}
    for ev in evaluations:
        old = merged.get((dataset_id(ev.dataset), ev.locale, ev.split))
        keep_n = ev.num_examples if ev.num_examples is not None else getattr(old, "num_examples", None)
        merged[(dataset_id(ev.dataset), ev.locale, ev.split)] = Evaluation(
            ev.locale, ev.split, ev.accuracy, ev.macro_f1, ev.dataset, keep_n
        )
    values = list(merged.values())
    card.data.eval_results = _eval_results(values)
    card.data.model_name = card.data.model_name or _title(card.text) or path.parent.name
    body = card.text.split(EVALUATION_HEADING, 1)[0].rstrip()
    card.text = f"{body}\n\n{_evaluation_section(values)}"
    return write_card(folder, ModelCard(f"---\n{card.data.to_yaml()}\n---\n{card.text}"))


# ------------------------------------------------------------------------------------- the three kinds


def merged_card(details: Mapping[str, Any], model_dir: str | os.PathLike | None = None) -> ModelCard:
    """The card of a merged model, from its ``merge_details.json`` dict."""
    sources = details["sources"]
    rows = "\n".join(
        f"| {s['locale']} | {model_reference(s['path'])} | {float(s['weight']):.6f} |" for s in sources
    )
    params = json.dumps(details.get("method_params") or {}, sort_keys=True, default=str)
    body = (
        f"A merge of {len(sources)} intent classifiers fine-tuned on MASSIVE, made by merginguriel "
        f"{details.get('version', __version__)} for the target locale **{details['target']}** with the "
        f"`{details['mode']}` recipe (engine method `{details['method']}`).\n\n"
        f"* pretrained base: {model_reference(details['base_model'])}\n"
        f"* method parameters: `{params}`\n"
        f"* head merge: {details.get('head_merge')}\n"
        f"* experiment key: `{details.get('key')}`\n\n"
        "## Sources\n\n| locale | model | weight |\n| --- | --- | --- |\n"
        f"{rows}\n\n"
        "Every option of the merge is in `merge_details.json`."
    )
    source_ids = [s["path"] for s in sources if hub_id(s["path"])]
    return build_card(
        title=f"{details['mode']} merge for {details['target']}",
        body=body,
        locales=[details["target"], *(s["locale"] for s in sources)],
        base_models=source_ids if source_ids else [details["base_model"]],
        tags=["merge", str(details["method"])] + ([str(details["mode"])] if details["mode"] != details["method"] else []),
        model_dir=model_dir,
        merge=True,
    )  # fmt: skip


def selected_card(
    selection: Mapping[str, Any],
    sources: Sequence[tuple[str, str, float]],
    final_rows: Sequence[Mapping[str, Any]],
    evaluations: Sequence[Evaluation],
    model_dir: str | os.PathLike | None = None,
) -> ModelCard:
    """The card of the model ``merginguriel select`` chose: the recipe, the protocol it was chosen under, its
    dev score and criterion, the search, its sources and weights, and the final (test) table with the
    baselines chosen the same way. ``sources``: (locale, model path, weight)."""
    target, protocol = selection["target"], selection["protocol"]
    search = selection.get("search") or {}
    rows = "\n".join(f"| {loc} | {model_reference(path)} | {weight:.6f} |" for loc, path, weight in sources)

    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) and v == v else ("" if v is None or v != v else str(v))

    final = "\n".join(
        f"| {r.get('role', '')} | {r.get('label', '')} | {r.get('protocol', '')} | {cell(r.get('dev_score'))} "
        f"| {cell(r.get('accuracy'))} |"
        for r in final_rows
    )
    body = (
        f"The model `merginguriel select` chose for **{target}** from the other locales' intent classifiers "
        f"(merginguriel {selection.get('version', __version__)}).\n\n"
        f"* recipe: **{selection['recipe_label']}** (`{json.dumps(selection['recipe'], sort_keys=True)}`)\n"
        f"* protocol: `{protocol}` — {selection.get('protocol_note', '')}\n"
        f"* dev score: {selection['dev_score']:.4f} ({selection.get('criterion', '')}; the only data read to "
        "choose)\n"
        f"* search: {search.get('search', 'exhaustive')} over {selection.get('candidates')} candidates\n\n"
        "## Sources\n\n| locale | model | weight |\n| --- | --- | --- |\n"
        f"{rows}\n\n"
        + (
            "## Test, read once after the choice\n\n| role | recipe | chosen by | dev score | test accuracy |\n"
            f"| --- | --- | --- | --- | --- |\n{final}\n\n"
            if final_rows
            else "The test split was not read (`--no-test`).\n\n"
        )
        + "`recipe.json` beside this folder holds every detail; `merginguriel merge --recipe recipe.json "
        "--target-lang XX` applies the recipe to another target."
    )
    return build_card(
        title=f"Selected model for {target} ({selection['recipe_label']})",
        body=body,
        locales=[target, *(loc for loc, _, _ in sources)],
        base_models=[selection.get("base_model") or ""],
        tags=["merge", "selection", protocol],
        model_dir=model_dir,
        evaluations=evaluations,
        merge=len(sources) > 1,
    )


def training_evaluations(
    metrics: Mapping[str, Any], locales: Sequence[str], dataset: str
) -> list[Evaluation]:
    """The evaluations in a training run's metrics (``eval_*`` on validation, ``predict_*`` on test)."""
    out = []
    for prefix, split in (("eval", "validation"), ("predict", "test")):
        if f"{prefix}_accuracy" in metrics:
            out.append(
                Evaluation(
                    "+".join(locales), split, float(metrics[f"{prefix}_accuracy"]),
                    float(metrics.get(f"{prefix}_macro_f1", float("nan"))), dataset,
                )
            )  # fmt: skip
    return out


def trained_card(
    base_model: str,
    locales: Sequence[str],
    dataset: str,
    metrics: Mapping[str, Any],
    model_dir: str | os.PathLike | None = None,
    settings: Mapping[str, Any] | None = None,
) -> ModelCard:
    """The card of a model fine-tuned by ``merginguriel train`` on ``locales`` of ``dataset``."""
    lines = [f"* {k}: `{v}`" for k, v in (settings or {}).items() if v is not None]
    body = (
        f"An intent classifier fine-tuned by merginguriel {__version__} from {model_reference(base_model)} on "
        f"{dataset_id(dataset)} ({', '.join(locales)}).\n\n" + "\n".join(lines) + "\n\n"
        "Every training argument is in `training_config.json` (as text in `training_config.txt`), the metrics in "
        "`all_results.json`, the run metadata (parameters, attention implementation, device) in `run_metadata.json`."
    )
    return build_card(
        title=f"{Path(str(base_model)).name} fine-tuned on MASSIVE {'+'.join(locales)}",
        body=body,
        locales=locales,
        base_models=[base_model],
        tags=["fine-tuned"],
        model_dir=model_dir,
        evaluations=training_evaluations(metrics, locales, dataset),
    )


def fusion_card(
    expert_paths: Sequence[str],
    expert_names: Sequence[str],
    fusion_type: str,
    train_locales: Sequence[str],
    base_model: str | None = None,
    evaluations: Sequence[Evaluation] = (),
) -> ModelCard:
    """The card of an expert-fusion model (:mod:`merginguriel.models.fusion`)."""
    rows = "\n".join(f"| {n} | {model_reference(p)} |" for n, p in zip(expert_names, expert_paths))
    body = (
        f"An expert-fusion intent classifier ({fusion_type} fusion module + a global head over "
        f"{len(expert_paths)} experts) trained by merginguriel {__version__} on {', '.join(train_locales)}. "
        "Load it with `merginguriel.models.fusion.load_fusion_model(folder)`.\n\n"
        f"## Experts\n\n| name | model |\n| --- | --- |\n{rows}"
    )
    hub_experts = [p for p in expert_paths if hub_id(p)]
    return build_card(
        title=f"{fusion_type} fusion of {'+'.join(expert_names)}",
        body=body,
        locales=[loc for loc in train_locales if loc in LOCALES],
        base_models=hub_experts or ([base_model] if base_model else []),
        tags=["fusion", fusion_type],
        evaluations=evaluations,
        merge=bool(hub_experts),
    )


__all__ = [
    "CARD_FILE",
    "Evaluation",
    "add_evaluations",
    "build_card",
    "fusion_card",
    "hub_id",
    "iso639_1",
    "languages",
    "merged_card",
    "model_reference",
    "pipeline_tag",
    "read_evaluations",
    "trained_card",
    "training_evaluations",
    "write_card",
]
