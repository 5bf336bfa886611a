"""The whole path through the console command on tiny models and the built-in corpus:
train -> similarity -> merge (similarity, average) -> evaluate, plus the script fronts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from merginguriel.cli import main as cli_main
from merginguriel.models.paths import model_dir_name

REPO = Path(__file__).resolve().parent.parent
LOCS = ["de-DE", "nl-NL", "en-US", "af-ZA"]


def test_train_similarity_merge_evaluate(tmp_path, tiny_base, capsys):
    models = tmp_path / "haryos_model"
    for loc in LOCS:
        assert (
            cli_main(
                [
                    "train",
                    "--model_name_or_path",
                    str(tiny_base),
                    "--locale",
                    loc,
                    "--dataset-name",
                    "builtin",
                    "--models_root",
                    str(models),
                    "--do_train",
                    "--do_eval",
                    "--max_steps",
                    "3",
                    "--per_device_train_batch_size",
                    "16",
                    "--max_train_samples",
                    "48",
                    "--max_eval_samples",
                    "24",
                    "--max_seq_length",
                    "32",
                    "--disable_tqdm",
                    "true",
                    "--learning_rate",
                    "1e-3",
                ]
            )
            == 0
        )
    trained = models / model_dir_name(tiny_base, "de-DE")
    config = json.loads((trained / "config.json").read_text())
    assert config["id2label"]["0"] == "datetime_query" and len(config["id2label"]) == 60
    metrics = json.loads((trained / "all_results.json").read_text())
    assert metrics["train_examples_per_locale"] == {"de-DE": 48} and 0 <= metrics["eval_accuracy"] <= 1

    sim = tmp_path / "sim"
    assert (
        cli_main(
            [
                "similarity",
                "--locales",
                ",".join(LOCS),
                "--k",
                "3",
                "--out-dense",
                str(sim / "dense.csv"),
                "--out-sparse",
                str(sim / "sparse.csv"),
                "--out-mapping",
                str(sim / "map.csv"),
                "--base-model",
                str(tiny_base),
                "--out-plot",
                str(tmp_path / "plots" / "sim.png"),
            ]
        )
        == 0
    )
    sparse = pd.read_csv(sim / "sparse.csv", index_col=0)
    assert list(sparse.index) == LOCS and (tmp_path / "plots" / "sim.png").stat().st_size > 1000
    assert pd.read_csv(sim / "map.csv")["model_dir"].tolist() == [
        model_dir_name(tiny_base, loc) for loc in LOCS
    ]

    for mode in ("similarity", "average"):
        assert (
            cli_main(
                [
                    "merge",
                    "--mode",
                    mode,
                    "--target-lang",
                    "af-ZA",
                    "--num-languages",
                    "2",
                    "--similarity-matrix",
                    str(sim / "sparse.csv"),
                    "--models-root",
                    str(models),
                    "--base-model",
                    str(tiny_base),
                    "--dataset-name",
                    "builtin",
                    "--merged-models-root",
                    str(tmp_path / "merged"),
                    "--results-root",
                    str(tmp_path / "results"),
                ]
            )
            == 0
        )
        name = f"{mode}_merge_af-ZA_2merged"
        results = json.loads((tmp_path / "results" / name / "results.json").read_text())
        assert results["dataset_info"] == {
            **results["dataset_info"],
            "locale": "af-ZA",
            "split": "test",
            "num_examples": 60,
        }
        expected_sources = sparse.loc["af-ZA"].drop("af-ZA").sort_values(ascending=False).index[:2].tolist()
        assert sorted(s["locale"] for s in results["merge_details"]["sources"]) == sorted(expected_sources)
        details = json.loads((tmp_path / "merged" / name / "merge_details.json").read_text())
        assert (
            details["key"]
            == json.loads((tmp_path / "results" / name / "merge_details.json").read_text())["key"]
        )

    assert (
        cli_main(
            [
                "evaluate",
                "--model-path",
                str(tmp_path / "merged" / "average_merge_af-ZA_2merged"),
                "--locale",
                "de-DE",
                "--dataset-name",
                "builtin",
                "--results-root",
                str(tmp_path / "results"),
            ]
        )
        == 0
    )
    assert "de-DE test: accuracy" in capsys.readouterr().out


def run_script(*args, cwd):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_script_front_and_console_command_agree(tmp_path):
    script = run_script(
        str(REPO / "merginguriel" / "run_merging_pipeline_refactored.py"), "--list-modes", cwd=tmp_path
    )
    console = run_script("-m", "merginguriel.cli", "merge", "--list-modes", cwd=tmp_path)
    assert script.returncode == 0 and script.stdout == console.stdout
    assert "similarity" in script.stdout and "average" in script.stdout


@pytest.mark.parametrize("bad", ["en_US", "xx-XX"])
def test_bad_locale_exits_2_with_one_clear_line(tmp_path, bad):
    proc = run_script(
        str(REPO / "merginguriel" / "training_bert.py"), "--locale", bad, "--do_train", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: Unknown locale '{bad}'")
    assert not (tmp_path / "haryos_model").exists()


def test_console_script_imports_lang2vec_package_not_bin_script(tmp_path):
    """pip installs a ``lang2vec.py`` script into ``bin/``, first on sys.path for console scripts."""
    console = Path(sys.executable).parent / "merginguriel"
    if not console.is_file():
        pytest.skip("the merginguriel console script is not installed next to this interpreter")
    proc = subprocess.run(
        [
            str(console),
            "similarity",
            "--locales",
            "de-DE,nl-NL",
            "--out-dense",
            "d.csv",
            "--out-sparse",
            "s.csv",
            "--out-mapping",
            "",
            "--out-plot",
            "",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(tmp_path / "s.csv", index_col=0).loc["de-DE", "nl-NL"] == pytest.approx(1.0)


def test_every_command_has_a_script_front_calling_the_same_run():
    import importlib

    from merginguriel.cli import COMMANDS

    for name, (module, script, _) in COMMANDS.items():
        front = (REPO / "merginguriel" / script).resolve()
        assert front.is_file(), f"{name}: no script {front}"
        assert f"from merginguriel.cli.commands.{module} import run" in front.read_text(), name
        mod = importlib.import_module(f"merginguriel.cli.commands.{module}")
        assert callable(mod.run) and callable(mod.main), name
