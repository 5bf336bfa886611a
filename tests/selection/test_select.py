"""Recipe selection on constant-intent models (tests/scale/conftest.py), whose every accuracy is known by hand:
the true best is chosen, protocols never read what they must not, the test split is read once, recipes
round-trip, and bad inputs give one clear error."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.cli.commands import select as select_cmd
from merginguriel.data import massive as massive_data
from merginguriel.data.access import DataAccessError
from merginguriel.data.massive import DataSelection
from merginguriel.models.evaluation import evaluate_model
from tests.scale.conftest import LOCALES, accuracy_of

GRID = {"k": [1, 2, 3], "weighting": ["sinkhorn", "normalize"], "modes": {"similarity": [{}], "average": [{}], "ensemble_majority": [{}], "ensemble_weighted_majority": [{}]}}  # fmt: skip


def argv(tmp_path, models, data, sim, *extra, grid=GRID):
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps(grid))
    return [
        "--models-root", str(models), "--base-model", "tiny-xlmr", "--dataset-name", str(data),
        "--similarity", f"hand={sim}", "--grid", str(grid_file), "--output-dir", str(tmp_path / "sel"),
        "--no-progress", "--device", "cpu", *extra,
    ]  # fmt: skip


def folder(tmp_path, protocol, target):
    return tmp_path / "sel" / protocol / target


def test_target_dev_picks_the_true_best(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    # de-DE dev rows: play x3, alarm x1, weather x2; sources af (alarm), nl (weather), en (play): en-US alone
    # predicts play_music for 3/6, every other candidate less (hand-computed in tests/scale/conftest.py)
    code = select_cmd.run(
        argv(
            tmp_path,
            scale_models,
            tiny_dataset,
            similarity_csv,
            "--protocol",
            "target-dev",
            "--targets",
            "de-DE",
        )
    )
    assert code == 0, capsys.readouterr()
    recipe = json.loads((folder(tmp_path, "target-dev", "de-DE") / "recipe.json").read_text())
    assert recipe["dev_score"] == pytest.approx(3 / 6)
    assert recipe["protocol"] == "target-dev"
    table = __import__("pandas").read_csv(folder(tmp_path, "target-dev", "de-DE") / "candidates.csv")
    # every candidate's dev score equals an independent evaluation of what it builds
    assert table["score"].max() == pytest.approx(3 / 6)
    for loc in ("af-ZA", "nl-NL", "en-US"):
        row = table[table["label"] == f"single {loc}"].iloc[0]
        assert row["score"] == pytest.approx(accuracy_of(loc, "de-DE"))
    final = (
        __import__("pandas").read_csv(folder(tmp_path, "target-dev", "de-DE") / "final.csv").set_index("role")
    )
    assert final.at["chosen recipe", "accuracy"] == pytest.approx(
        3 / 6
    )  # dev and test rows share intents here
    assert final.at["oracle best source (test)", "label"] == "en-US"
    assert final.at["native (the target's own model)", "accuracy"] == pytest.approx(
        accuracy_of("de-DE", "de-DE")
    )
    results = json.loads((folder(tmp_path, "target-dev", "de-DE") / "results.json").read_text())
    assert results["selection"]["protocol"] == "target-dev" and results["performance"][
        "accuracy"
    ] == pytest.approx(0.5)
    assert (folder(tmp_path, "target-dev", "de-DE") / "dev_vs_test.png").is_file()


def test_candidate_scores_equal_an_independent_evaluation(
    tmp_path, scale_models, tiny_dataset, similarity_csv
):
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA", "--no-test", "--keep-merged")) == 0  # fmt: skip
    import pandas as pd

    table = pd.read_csv(folder(tmp_path, "target-dev", "af-ZA") / "candidates.csv")
    merged = list((tmp_path / "sel" / "work" / "merged").glob("*_af-ZA_*"))
    assert merged, "no merged candidate"
    for model in merged:  # each merged candidate, evaluated afresh, gives one of the table's scores
        acc = evaluate_model(model, DataSelection(str(tiny_dataset), "af-ZA", "validation"))["performance"][
            "accuracy"
        ]
        assert np.isclose(table["score"].to_numpy(dtype=float), acc).any()
    assert table.set_index("label").at["single nl-NL", "score"] == pytest.approx(
        accuracy_of("nl-NL", "af-ZA")
    )


def _blocked_reads(monkeypatch, blocked):
    """Every split read goes through load_split: record them, and fail if a blocked one is touched."""
    reads = []
    real = massive_data._load_raw

    def spy(source, locale, split):
        reads.append((locale, split))
        if (locale, split) in blocked:
            raise AssertionError(f"{locale}/{split} was read")
        return real(source, locale, split)

    monkeypatch.setattr(massive_data, "_load_raw", spy)
    return reads


def test_selection_never_reads_the_test_split(
    tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch
):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    for loc in LOCALES:
        (data / loc / "test.jsonl").unlink()  # no test file anywhere: selection must still complete
    reads = _blocked_reads(monkeypatch, {(loc, "test") for loc in LOCALES})
    assert select_cmd.run(argv(tmp_path, scale_models, data, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA", "--no-test", "--keep-merged")) == 0  # fmt: skip
    assert ("af-ZA", "validation") in reads and not any(split == "test" for _, split in reads)
    assert (folder(tmp_path, "target-dev", "af-ZA") / "recipe.json").is_file()


def test_leave_target_out_never_reads_the_target(
    tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch
):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    for split in ("dev", "test", "train"):
        (data / "af-ZA" / f"{split}.jsonl").unlink()
    reads = _blocked_reads(monkeypatch, {("af-ZA", s) for s in ("train", "validation", "test")})
    assert select_cmd.run(argv(tmp_path, scale_models, data, similarity_csv, "--protocol", "leave-target-out",
                               "--targets", "af-ZA", "--no-test", "--keep-merged")) == 0  # fmt: skip
    assert {loc for loc, _ in reads} == {"de-DE", "nl-NL", "en-US"}
    recipe = json.loads((folder(tmp_path, "leave-target-out", "af-ZA") / "recipe.json").read_text())
    assert recipe["protocol"] == "leave-target-out" and "af-ZA" not in recipe["recipe_label"]


def test_the_policy_refuses_a_forbidden_read(tiny_dataset):
    from merginguriel.data.access import reading
    from merginguriel.experiments.selection.runner import final_policy, selection_policy

    with reading(selection_policy("target-dev", "af-ZA")), pytest.raises(DataAccessError, match="af-ZA/test"):
        massive_data.load_split(str(tiny_dataset), "af-ZA", "test")
    with (
        reading(selection_policy("leave-target-out", "af-ZA")),
        pytest.raises(DataAccessError, match="af-ZA/validation"),
    ):
        massive_data.load_split(str(tiny_dataset), "af-ZA", "validation")
    for protocol in ("target-dev", "leave-target-out"):
        with reading(final_policy(protocol, "af-ZA")):
            assert len(massive_data.load_split(str(tiny_dataset), "af-ZA", "test")) == 6
            assert (
                len(massive_data.load_split(str(tiny_dataset), "nl-NL", "train")) > 0
            )  # a source's statistics
            with pytest.raises(DataAccessError):
                massive_data.load_split(str(tiny_dataset), "de-DE", "test")
    from merginguriel.experiments.selection.runner import few_shot_policy

    with reading(
        few_shot_policy("af-ZA")
    ):  # fine-tuning on the target's dev rows; its start models' statistics
        assert len(massive_data.load_split(str(tiny_dataset), "af-ZA", "validation")) > 0
        assert len(massive_data.load_split(str(tiny_dataset), "nl-NL", "train")) > 0
        with pytest.raises(DataAccessError):
            massive_data.load_split(str(tiny_dataset), "af-ZA", "test")
    # leave-target-out reads nothing of the target but its test split
    with reading(final_policy("leave-target-out", "af-ZA")):
        for split in ("train", "validation"):
            with pytest.raises(DataAccessError, match=f"af-ZA/{split}"):
                massive_data.load_split(str(tiny_dataset), "af-ZA", split)


def test_a_data_aware_recipe_is_rebuilt_for_the_final_evaluation(
    tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch
):
    """RegMean++ under leave-target-out, merged candidates not kept: the final evaluation merges the chosen recipe
    again for the target, running the sources' training rows through the merge (its Gram matrices are never
    cached) — and still reads nothing of the target but its test split."""
    grid = {"similarity": ["hand"], "weighting": ["sinkhorn"], "k": [2], "modes": {"regmean_plusplus": [{}]}}
    reads = _blocked_reads(monkeypatch, {("af-ZA", "train"), ("af-ZA", "validation")})
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "leave-target-out",
                               "--targets", "af-ZA", "--search", "exhaustive", "--num-fisher-examples", "4",
                               "--statistics-cache", str(tmp_path / "stats"), grid=grid)) == 0  # fmt: skip
    final = json.loads((folder(tmp_path, "leave-target-out", "af-ZA") / "results.json").read_text())
    assert final["model_info"]["recipe"]["mode"] == "regmean_plusplus"
    assert reads.count(("af-ZA", "test")) == 1 and ("nl-NL", "train") in reads


def test_the_test_split_is_read_once(tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch):
    reads = _blocked_reads(monkeypatch, set())
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA")) == 0  # fmt: skip
    assert reads.count(("af-ZA", "test")) == 1 and {s for _, s in reads} == {"validation", "test"}


def test_unlabeled_target_does_not_use_the_labels(tmp_path, scale_models, tiny_dataset, similarity_csv):
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "unlabeled-target",
                               "--targets", "af-ZA", "--no-test", "--keep-merged")) == 0  # fmt: skip
    first = json.loads((folder(tmp_path, "unlabeled-target", "af-ZA") / "recipe.json").read_text())
    data = tmp_path / "relabelled"
    shutil.copytree(tiny_dataset, data)
    dev = data / "af-ZA" / "dev.jsonl"
    rows = [json.loads(line) for line in dev.read_text().splitlines()]
    for row in rows:
        row["intent"] = "qa_factoid"  # every label changed: a label-free criterion cannot notice
    dev.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "second"
    out.mkdir()
    assert select_cmd.run(argv(out, scale_models, data, similarity_csv, "--protocol", "unlabeled-target",
                               "--targets", "af-ZA", "--no-test", "--keep-merged")) == 0  # fmt: skip
    second = json.loads((folder(out, "unlabeled-target", "af-ZA") / "recipe.json").read_text())
    assert second["recipe"] == first["recipe"] and second["dev_score"] == pytest.approx(first["dev_score"])
    assert first["criterion"] == "neg_entropy"


def test_recipe_round_trips_through_merge(tmp_path, scale_models, tiny_dataset, similarity_csv):
    grid = {"k": [3], "weighting": ["sinkhorn"], "modes": {"similarity": [{}]}}
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA", "--no-test", "--keep-merged", grid=grid)) == 0  # fmt: skip
    # the chosen recipe may be a single source (it is on these models); apply the grid's merge candidate instead
    written = json.loads((folder(tmp_path, "target-dev", "af-ZA") / "recipe.json").read_text())
    written["recipe"] = {"similarity": "hand", "k": 3, "mode": "similarity", "weighting": "sinkhorn",
                         "temperature": 1.0, "params": {}}  # fmt: skip
    written["similarity_matrix"] = str(similarity_csv)
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(written))
    assert merge_cmd.run(["--recipe", str(recipe), "--target-lang", "af-ZA", "--models-root", str(scale_models),
                          "--base-model", "tiny-xlmr", "--dataset-name", str(tiny_dataset), "--no-eval",
                          "--merged-models-root", str(tmp_path / "m")]) == 0  # fmt: skip
    (made,) = (tmp_path / "m").glob("similarity_merge_af-ZA_3merged")
    built = [c for c in (tmp_path / "sel" / "work" / "merged").glob("similarity_af-ZA_*")
             if json.loads((c / "merge_details.json").read_text())["num_sources"] == 3]  # fmt: skip
    assert len(built) == 1
    assert (made / "model.safetensors").read_bytes() == (built[0] / "model.safetensors").read_bytes()
    from tests.test_merge_pipeline import OPTION_KEYS

    options = [json.loads((d / "merge_details.json").read_text())["options"] for d in (made, built[0])]
    assert [set(o) for o in options] == [OPTION_KEYS] * 2
    assert [o["command"] for o in options] == ["merge", "select"] and "candidate" in options[1]["context"]


@pytest.mark.parametrize(
    "extra, grid, message",
    [
        (["--sources", "nope"], GRID, "Unknown similarity source"),
        ([], {"modes": {}}, "empty"),
        ([], {"k": [9], "modes": {"similarity": [{}]}}, "Every candidate failed"),
        (["--pool", "af-ZA", "de-DE"], GRID, "at least 3 locales"),
        (["--sources", "empirical"], GRID, "built from the target's own data"),
        ([], {"modes": {"ties": [{"gamma": 0.1}]}}, "does not take gamma"),
    ],
)
def test_bad_input_is_one_clear_error(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys, extra, grid, message
):
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "leave-target-out",
                               "--targets", "af-ZA", "--no-test", *extra, grid=grid))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("error:") == 1 and "Traceback" not in err


def test_save_model_writes_the_chosen_model_with_its_card(
    tmp_path, scale_models, tiny_dataset, similarity_csv
):
    import pandas as pd
    from huggingface_hub import ModelCard

    from merginguriel.models.cards import read_evaluations

    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--target-lang", "de-DE", "--save-model")) == 0  # fmt: skip
    where = folder(tmp_path, "target-dev", "de-DE")
    recipe = json.loads((where / "recipe.json").read_text())
    final = pd.read_csv(where / "final.csv").set_index("role")
    model = where / "model"
    assert (model / "COMPLETE").is_file() and (model / "model.safetensors").is_file()
    # the saved model is the chosen one: evaluated afresh, it scores the final table's test accuracy
    test = evaluate_model(model, DataSelection(str(tiny_dataset), "de-DE", "test"))["performance"]["accuracy"]
    assert test == pytest.approx(final.at["chosen recipe", "accuracy"])
    card = ModelCard.load(model / "README.md")
    assert recipe["recipe_label"] in card.text and "`target-dev`" in card.text
    assert f"{recipe['dev_score']:.4f}" in card.text and "best source" in card.text
    (evaluation,) = read_evaluations(card)
    assert (evaluation.locale, evaluation.split) == (
        "de-DE",
        "test",
    ) and evaluation.accuracy == pytest.approx(test)


def test_save_model_of_an_ensemble_says_how_to_run_it(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    grid = {"k": [2], "weighting": ["sinkhorn"], "modes": {"ensemble_soft": [{}]}}
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "leave-target-out",
                               "--target-lang", "af-ZA", "--save-model", "--no-test", grid=grid)) == 0  # fmt: skip
    assert "no single model to save; run it with merginguriel ensemble" in capsys.readouterr().out
    assert not (folder(tmp_path, "leave-target-out", "af-ZA") / "model").exists()
