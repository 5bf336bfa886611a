"""The demo command on a tiny encoder: every stage runs through the real commands and the comparison table
holds exactly the numbers of the results files they wrote."""

import json

import pandas as pd

from merginguriel.cli.commands import demo


def test_demo_runs_the_real_commands_and_tabulates_their_results(tmp_path, tiny_base, capsys):
    locales = "af-ZA,nl-NL,de-DE,en-US"
    argv = [
        "--base-model",
        str(tiny_base),
        "--locales",
        locales,
        "--workdir",
        str(tmp_path),
        "--epochs",
        "1",
        "--verbose",
    ]
    assert demo.run([*argv, "--max-train-samples", "16", "--num-languages", "2", "--batch-size", "8"]) == 0
    trained = json.loads(
        (tmp_path / "haryos_model" / f"{tiny_base.name}_massive_k_af-ZA" / "training_config.json").read_text()
    )
    assert trained["training_arguments"]["per_device_train_batch_size"] == 8  # --batch-size reaches training
    table = pd.read_csv(tmp_path / "results" / "demo_comparison_af-ZA.csv")
    recipe = json.loads(
        (tmp_path / "results" / "selection" / "target-dev" / "af-ZA" / "recipe.json").read_text()
    )
    selected = f"selected: {recipe['recipe_label']}"
    assert sorted(table["model"]) == sorted(
        [
            "similarity merge",
            "average merge",
            "ties merge",
            "af-ZA model",
            "nl-NL model",
            "de-DE model",
            "en-US model",
            selected,
        ]
    )
    # the answer row: the recipe select chose on af-ZA dev (target-dev), scored once on test
    assert recipe["protocol"] == "target-dev" and recipe["dev_data"]["split"] == "validation"
    chosen = json.loads(
        (tmp_path / "results" / "selection" / "target-dev" / "af-ZA" / "results.json").read_text()
    )
    row = table.set_index("model").loc[selected]
    assert row["kind"] == "selected on dev" and row["total"] == 60
    assert row["accuracy"] == chosen["performance"]["accuracy"]
    assert table.set_index("model").loc["af-ZA model", "kind"] == "native"
    for mode in ("similarity", "average", "ties"):
        result = json.loads(
            (tmp_path / "results" / f"{mode}_merge_af-ZA_2merged" / "results.json").read_text()
        )
        row = table.set_index("model").loc[f"{mode} merge"]
        assert row["accuracy"] == result["performance"]["accuracy"] and row["total"] == 60
    single = json.loads((tmp_path / "results" / "demo_nl-NL_on_af-ZA" / "results.json").read_text())
    assert table.set_index("model").loc["nl-NL model", "accuracy"] == single["performance"]["accuracy"]
    assert (tmp_path / "plots" / "demo_comparison_af-ZA.png").stat().st_size > 5000
    assert (tmp_path / "similarity" / "demo_sparse_similarity.csv").is_file()
    out = capsys.readouterr().out
    assert "Comparison on af-ZA test (60 examples)" in out
    # a rerun reuses the trained models
    assert demo.run([*argv, "--num-languages", "2"]) == 0
    assert out.count("exists, reusing") == 0 and capsys.readouterr().out.count("exists, reusing") == 4


def test_demo_training_recipe_defaults():
    """The encoder demo trains 4 epochs of batch 16 at 3e-4 (60 updates of the 240 rows); the generative demo
    keeps its own recipe (12 epochs of batch 32 at 3e-3); a flag overrides either."""
    parse = demo.build_parser().parse_args
    encoder = demo.demo_config(parse([]))
    assert (encoder.epochs, encoder.batch_size, encoder.learning_rate) == (4.0, 16, 3e-4)
    generative = demo.demo_config(parse(["--generative"]))
    assert (generative.epochs, generative.batch_size, generative.learning_rate) == (12.0, 32, 3e-3)
    assert demo.demo_config(parse(["--generative", "--batch-size", "4"])).batch_size == 4
