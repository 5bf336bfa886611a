"""Grid candidates that shape the merge request: ``include_target`` / ``target_weight`` (target-dev only),
``layer_weights`` rules and the ``layer_swap`` method, on the constant-intent models whose accuracies are known
by hand (tests/scale/conftest.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from merginguriel.cli.commands import select as select_cmd
from merginguriel.experiments.selection.grid import GridError, build_grid
from tests.scale.conftest import accuracy_of
from tests.selection.test_select import argv, folder


def test_include_target_candidates_score_the_targets_own_model(
    tmp_path, scale_models, tiny_dataset, similarity_csv
):
    """af-ZA (alarm_set) merged with its top source nl-NL (weather_query): with the target's weight 0.9 the
    merge predicts alarm_set (the native accuracy), with 0.2 weather_query (nl-NL's accuracy on af-ZA)."""
    grid = {"k": [1], "weighting": ["sinkhorn"], "modes": {"similarity": [
        {"include_target": True, "target_weight": 0.9}, {"include_target": True, "target_weight": 0.2}]}}  # fmt: skip
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA", "--no-test", "--keep-merged", grid=grid))  # fmt: skip
    assert code == 0
    table = pd.read_csv(folder(tmp_path, "target-dev", "af-ZA") / "candidates.csv")
    scores = {json.loads(p)["target_weight"]: s for p, s in zip(table["params"], table["score"]) if p != "{}"}
    assert scores == {
        0.9: pytest.approx(accuracy_of("af-ZA", "af-ZA")),
        0.2: pytest.approx(accuracy_of("nl-NL", "af-ZA")),
    }
    merged = [
        json.loads((d / "merge_details.json").read_text())
        for d in (tmp_path / "sel" / "work" / "merged").iterdir()
    ]
    with_target = [
        m for m in merged if m["sources"][0]["locale"] == "af-ZA"
    ]  # (the seed default is merged too)
    assert sorted(tuple((s["locale"], round(s["weight"], 6)) for s in m["sources"]) for m in with_target) == [
        (("af-ZA", 0.2), ("nl-NL", 0.8)), (("af-ZA", 0.9), ("nl-NL", 0.1)),
    ]  # fmt: skip


def test_include_target_fits_target_dev_only(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    grid = {"k": [1], "modes": {"similarity": [{"include_target": True}]}}
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "leave-target-out",
                               "--targets", "af-ZA", "--no-test", grid=grid))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "only --protocol target-dev fits them" in err
    assert not (tmp_path / "sel" / "leave-target-out").exists()


def test_layer_candidates_are_scored_like_any_other(tmp_path, scale_models, tiny_dataset, similarity_csv):
    """Layer swap and layer weights are candidates like any other: with the head from the top source only
    (head=top1), a constant model's intent is in its head bias, so the merge scores as the top source does."""
    grid = {"k": [2], "weighting": ["sinkhorn"], "modes": {
        "similarity": [{"layer_weights": "head=top1"}], "layer_swap": [{"bottom": 1, "top": 0}]}}  # fmt: skip
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA", "--no-test", "--keep-merged", grid=grid))  # fmt: skip
    assert code == 0
    table = pd.read_csv(folder(tmp_path, "target-dev", "af-ZA") / "candidates.csv").set_index("label")
    label = next(x for x in table.index if "layer_weights=head=top1" in x)
    assert table.at[label, "score"] == pytest.approx(accuracy_of("nl-NL", "af-ZA"))
    assert any(x.startswith("layer_swap(bottom=1,top=0) K=2") for x in table.index)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"layer_weights": {"lower": "top1"}}, "layer_weights must be rule text"),
        ({"layer_weights": "lower=best"}, "the rule must be one of"),
        ({"target_weight": 0.3}, "target_weight needs include_target"),
        ({"include_target": True, "target_weight": 1.5}, "target_weight must be a number in (0, 1)"),
        ({"include_target": "yes"}, "include_target must be true or false"),
    ],
)
def test_bad_request_params_in_a_grid(params, message) -> None:
    with pytest.raises(GridError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_grid(["hand"], {"modes": {"similarity": [params]}})


def test_adamerging_is_a_candidate_where_the_target_texts_may_be_read(
    tmp_path, scale_models, tiny_dataset, similarity_csv, tiny_base, capsys
):
    grid = {
        "k": [2],
        "weighting": ["sinkhorn"],
        "modes": {"adamerging": [{"steps": 3, "granularity": "task"}]},
    }
    base = [
        "--base-model",
        str(tiny_base),
        "--num-fisher-examples",
        "4",
        "--statistics-cache",
        str(tmp_path / "c"),
    ]
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "unlabeled-target",
                               "--targets", "af-ZA", "--no-test", *base, grid=grid))  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(folder(tmp_path, "unlabeled-target", "af-ZA") / "candidates.csv")
    assert any(label.startswith("adamerging(granularity=task,steps=3) K=2") for label in table["label"])
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "leave-target-out",
                               "--targets", "af-ZA", "--no-test", *base, grid=grid))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "leave-target-out never does" in err


def test_the_new_methods_and_flags_run_in_a_sweep(
    tmp_path, scale_models, tiny_dataset, similarity_csv, tiny_base
):
    """layer_swap, regmean_plusplus and adamerging are sweep modes; --layer-weights and --include-target reach
    every experiment of the sweep (recorded in each merge's details)."""
    from merginguriel.cli.commands import sweep as sweep_cmd
    from tests.scale.test_sweep import sweep_args

    argv = sweep_args(tmp_path, scale_models, tiny_dataset, similarity_csv, "--locales", "af-ZA", "--modes",
                      "layer_swap", "regmean_plusplus", "adamerging", "--base-model", str(tiny_base),
                      "--num-fisher-examples", "4", "--steps", "2", "--statistics-cache", str(tmp_path / "c"),
                      "--layer-weights", "head=top1", "--include-target")  # fmt: skip
    assert sweep_cmd.run(argv) == 0
    for mode in ("layer_swap", "regmean_plusplus", "adamerging"):
        details = json.loads(
            (
                tmp_path / "results" / f"{mode}_merge_af-ZA_4merged_with_target" / "merge_details.json"
            ).read_text()
        )
        assert details["sources"][0]["locale"] == "af-ZA" and details["layer_weights"]["spec"] == "head=top1"


def test_a_layer_weights_candidate_is_its_own_merge(tmp_path, scale_models, tiny_dataset, similarity_csv):
    """Regression: the built model's identity includes the layer weights, so the candidate is not served the plain
    merge of the same sources (found on the zoo, where both scored alike on every target)."""
    grid = {
        "k": [2],
        "weighting": ["sinkhorn"],
        "modes": {"similarity": [{}, {"layer_weights": "lower=top1,upper=top1"}]},
    }
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--targets", "af-ZA", "--no-test", "--keep-merged", grid=grid))  # fmt: skip
    assert code == 0
    merged = [
        json.loads((d / "merge_details.json").read_text())
        for d in (tmp_path / "sel" / "work" / "merged").iterdir()
    ]
    two = [m for m in merged if m["num_sources"] == 2]
    assert sorted(bool(m["layer_weights"]) for m in two) == [False, True]
