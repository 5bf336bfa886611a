"""``select --few-shot`` (target-dev): candidates are scored on one half of the target's dev split, the best
source and the chosen recipe are fine-tuned on the other half, and the test split scores them with the rest.
Expected values are computed here from the constant-intent models and the half-split written out with numpy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from merginguriel.cli.commands import select as select_cmd
from merginguriel.data.massive import PART_SEED, DataSelection
from merginguriel.models.evaluation import evaluate_model
from tests.scale.conftest import MODEL_INTENT, TEST_INTENTS
from tests.selection.test_select import argv, folder

GRID = {"k": [1], "weighting": ["sinkhorn"], "modes": {"similarity": [{}]}}


def half(locale: str, part: str) -> list[str]:
    gold = TEST_INTENTS[locale]  # the tiny dataset's dev rows have the test rows' intents
    order = np.random.default_rng(PART_SEED).permutation(len(gold))
    keep = order[: (len(gold) + 1) // 2] if part == "select" else order[(len(gold) + 1) // 2 :]
    return [gold[i] for i in sorted(keep)]


def test_few_shot_selects_on_one_half_and_fine_tunes_on_the_other(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
) -> None:
    extra = ["--protocol", "target-dev", "--targets", "de-DE", "--few-shot", "--few-shot-epochs", "2",
             "--search", "exhaustive"]  # fmt: skip
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, *extra, grid=GRID))
    assert code == 0, capsys.readouterr().err
    out = folder(tmp_path, "target-dev", "de-DE")
    table = pd.read_csv(out / "candidates.csv").set_index("label")
    selected = half("de-DE", "select")
    for loc in ("af-ZA", "nl-NL", "en-US"):  # a constant model's dev score: its intent's share of the half
        assert table.at[f"single {loc}", "score"] == pytest.approx(
            selected.count(MODEL_INTENT[loc]) / len(selected)
        )
    final = pd.read_csv(out / "final.csv").set_index("role")
    tuned = out / "few_shot" / "best_source"
    assert (tuned / "config.json").is_file() and (tuned / "training_config.json").is_file()
    rows = len(half("de-DE", "fit"))
    assert final.at["few-shot: best source fine-tuned", "label"].endswith(f"fine-tuned on {rows} dev rows")
    fresh = evaluate_model(tuned, DataSelection(str(tiny_dataset), "de-DE", "test"))["performance"][
        "accuracy"
    ]
    assert final.at["few-shot: best source fine-tuned", "accuracy"] == pytest.approx(fresh)
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["protocol"] == "target-dev"


def test_few_shot_needs_the_target_dev_protocol(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol",
                               "leave-target-out", "--targets", "de-DE", "--few-shot", grid=GRID))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "only --protocol target-dev has them" in err


def test_the_two_halves_partition_the_split(tiny_dataset) -> None:
    from merginguriel.data.massive import load_selection

    whole = load_selection(DataSelection(str(tiny_dataset), "nl-NL", "validation"))
    parts = [
        load_selection(DataSelection(str(tiny_dataset), "nl-NL", "validation", part=p))
        for p in ("select", "fit")
    ]
    assert len(parts[0].texts) == 3 and len(parts[1].texts) == 3
    assert sorted(parts[0].intents + parts[1].intents) == sorted(whole.intents)
    assert [i for i in half("nl-NL", "select")] == parts[0].intents
    assert DataSelection(str(tiny_dataset), "nl-NL", part="fit").fields()["part"] == "fit"
    assert "part" not in DataSelection(str(tiny_dataset), "nl-NL").fields()  # older keys unchanged
