"""The few-shot baseline of ``target-dev`` (``select --few-shot``): what a user with the target's labelled dev
examples would otherwise do — fine-tune a model on them.

The dev split is halved once, by a seeded permutation (:data:`merginguriel.data.massive.DEV_PARTS`): recipe
selection scores candidates on the ``select`` half only, and fine-tuning trains on the ``fit`` half only, so
neither scores on what it trained on and both use the same number of labels. The best single source and the
chosen recipe (when it is one model, not an ensemble) are fine-tuned on the ``fit`` half with the project's own
trainer (``merginguriel.training.few_shot``, handed over by the command line; a fixed recipe:
``--few-shot-epochs``, ``--few-shot-lr``, word embeddings frozen), and the test split —
read once, with every other row of the final table — scores them beside the recipe. The fine-tuned models stay
in ``OUT/target-dev/TARGET/few_shot/`` with their training arguments: if one wins, it is the model to use.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from merginguriel.data.massive import DataSelection, load_selection

FEW_SHOT_ROLES = {
    "best_source": "few-shot: best source fine-tuned",
    "chosen": "few-shot: chosen recipe fine-tuned",
}
# fine_tune(start folder, target, scratch dataset folder, max sequence length, output folder): the trainer
FineTune = Callable[[str, str, Path, int, Path], Any]


@dataclass(frozen=True)
class FewShotOptions:
    """How the few-shot models are fine-tuned: ``fine_tune`` (``merginguriel.training.few_shot.fine_tune`` with
    its options bound, handed over by the command line: selection never imports training) and ``settings``,
    the recipe as recorded."""

    fine_tune: FineTune
    settings: dict[str, Any] = field(default_factory=dict)


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
            options.fine_tune(start, target, scratch, dev.max_seq_length, out)
            made.append(
                FewShotModel(
                    FEW_SHOT_ROLES[key], f"{label}, fine-tuned on {rows} dev rows", str(out), sources, rows
                )
            )
    return made


__all__ = ["FEW_SHOT_ROLES", "FewShotModel", "FewShotOptions", "few_shot_models", "write_rows"]
