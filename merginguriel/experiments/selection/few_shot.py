"""The few-shot baseline of ``target-dev`` (``select --few-shot``): what a user with the target's labelled dev
examples would otherwise do — fine-tune a model on them.

The dev split is halved once, by a seeded permutation (:data:`merginguriel.data.massive.DEV_PARTS`): recipe
selection scores candidates on the ``select`` half only, and fine-tuning trains on the ``fit`` half only, so
neither scores on what it trained on and both use the same number of labels. The best single source and the
chosen recipe (when it is one model, not an ensemble) are fine-tuned on the ``fit`` half with the project's own
trainer (a fixed recipe: ``--few-shot-epochs``, ``--few-shot-lr``, word embeddings frozen), and the test split —
read once, with every other row of the final table — scores them beside the recipe. The fine-tuned models stay
in ``OUT/target-dev/TARGET/few_shot/`` with their training arguments: if one wins, it is the model to use.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from merginguriel.data.massive import DataSelection, load_selection
from merginguriel.training.arguments import TrainingOptions

FEW_SHOT_ROLES = {
    "best_source": "few-shot: best source fine-tuned",
    "chosen": "few-shot: chosen recipe fine-tuned",
}


@dataclass(frozen=True)
class FewShotOptions:
    """How the few-shot models are fine-tuned: the shared training knobs (epochs, learning rate, batch size,
    seed; ``overrides`` default to frozen word embeddings, as the study's zoo was trained)."""

    training: TrainingOptions = field(
        default_factory=lambda: TrainingOptions(
            epochs=5.0, learning_rate=1e-4, batch_size=16, overrides={"freeze_embeddings": True}
        )
    )


@dataclass
class FewShotModel:
    """A fine-tuned model to score on test: its role in the final table, what it started from, where it is."""

    role: str
    label: str
    model_dir: str
    sources: str
    rows: int


def write_rows(dev: DataSelection, target: str, root: Path) -> int:
    """The ``fit`` half of the target's dev split as ``root/TARGET/train.jsonl`` (MASSIVE's layout); the rows."""
    rows = load_selection(replace(dev.for_locale(target), part="fit", max_samples=None, sample_seed=None))
    (root / target).mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": str(i), "locale": target, "partition": "train", "intent": intent, "utt": text})
        for i, (text, intent) in enumerate(zip(rows.texts, rows.intents))
    ]
    (root / target / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def fine_tune(
    start: str, target: str, dev: DataSelection, out: Path, options: FewShotOptions, scratch: Path
) -> dict[str, Any]:
    """Fine-tune the model folder ``start`` on the ``fit`` half of the target's dev split into ``out``."""
    from merginguriel.training.trainer import train_classifier

    data = DataSelection(str(scratch), text_column="utt", max_seq_length=dev.max_seq_length)
    args = options.training.arguments(
        start, target, data, out, overwrite=True, do_train=True, do_eval=False, do_predict=False,
        disable_tqdm=True, logging_strategy="epoch",
    )  # fmt: skip
    return train_classifier(args)


def few_shot_models(
    starts: dict[str, tuple[str, str, str]],
    target: str,
    dev: DataSelection,
    folder: Path,
    options: FewShotOptions,
) -> list[FewShotModel]:
    """Fine-tune each of ``starts`` (key → (label, model folder, sources)) on the ``fit`` half; the models."""
    made = []
    with tempfile.TemporaryDirectory(prefix=".few_shot_data-", dir=folder) as tmp:
        scratch = Path(tmp)
        rows = write_rows(dev, target, scratch)
        for key, (label, start, sources) in starts.items():
            out = folder / "few_shot" / key
            fine_tune(start, target, dev, out, options, scratch)
            made.append(
                FewShotModel(
                    FEW_SHOT_ROLES[key], f"{label}, fine-tuned on {rows} dev rows", str(out), sources, rows
                )
            )
    return made


__all__ = ["FEW_SHOT_ROLES", "FewShotModel", "FewShotOptions", "few_shot_models", "fine_tune", "write_rows"]
