"""Multi-language (LOLO) training, training the missing models, and copying finished runs into the layout."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from merginguriel.cli.commands import copy_models as copy_cmd
from merginguriel.cli.commands import train_missing as missing_cmd
from merginguriel.cli.commands import train_multilang as multilang_cmd
from merginguriel.errors import UserError
from merginguriel.models.paths import discover_models, model_dir_name
from merginguriel.training.missing_models import check_run, missing_locales
from merginguriel.training.multilang import lolo_dir_name
from tests.training.conftest import read_json, write_tiny_dataset

QUICK = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--max_seq_length", "32", "--report_to", "none",
         "--logging_strategy", "no"]  # fmt: skip


def test_lolo_names():
    assert (
        lolo_dir_name("FacebookAI/xlm-roberta-base", "af-ZA") == "xlm-roberta-base_massive_LOLO_without_af_ZA"
    )
    assert lolo_dir_name("xlm-roberta-base", None) == "xlm-roberta-base_massive_LOLO_all_languages"


def test_exclude_trains_on_every_other_locale(tmp_path, tiny_base):
    data = write_tiny_dataset(
        tmp_path / "data", ["de-DE", "nl-NL", "af-ZA"], {"train": 8, "dev": 4, "test": 4}
    )
    root = tmp_path / "models"
    rc = multilang_cmd.main(["--exclude", "nl-NL", "--dataset-name", str(data), "--base-model", str(tiny_base),
                             "--models-root", str(root), "--no-progress", "--additional-args", *QUICK])  # fmt: skip
    assert rc == 0
    out = root / "tiny-xlmr_massive_LOLO_without_nl_NL"
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [out.name]
    results = read_json(out / "all_results.json")
    assert results["locales"] == ["af-ZA", "de-DE"]
    assert results["train_examples_per_locale"] == {"af-ZA": 8, "de-DE": 8}
    assert (
        read_json(out / "training_config.json")["training_arguments"]["max_steps"] == 2
    )  # --additional-args won


def test_all_lolo_records_failures_and_goes_on(tmp_path, tiny_base, capsys):
    data = write_tiny_dataset(
        tmp_path / "data", ["de-DE", "nl-NL", "af-ZA"], {"train": 8, "dev": 4, "test": 4}
    )
    bad = data / "af-ZA" / "train.jsonl"
    bad.write_text(
        bad.read_text().replace('"intent": "', '"intent": "not_an_intent_')
    )  # af-ZA cannot be loaded
    root = tmp_path / "models"
    summary = tmp_path / "summary.json"
    rc = multilang_cmd.main(["--all-lolo", "--dataset-name", str(data), "--base-model", str(tiny_base),
                             "--models-root", str(root), "--summary", str(summary), "--no-progress",
                             "--additional-args", *QUICK])  # fmt: skip
    assert rc == 1
    result = json.loads(summary.read_text())
    # only the model that leaves af-ZA out can be trained
    assert result["succeeded"] == ["af-ZA"] and result["failed"] == ["de-DE", "nl-NL"]
    assert all("not MASSIVE" in r["error"] for r in result["runs"] if r["status"] == "failed")
    assert (root / "tiny-xlmr_massive_LOLO_without_af_ZA" / "COMPLETE").is_file()
    assert "1 succeeded, 2 failed" in capsys.readouterr().out


def test_train_missing_models(tmp_path, tiny_base, locale_models, tiny_data, capsys):
    root = locale_models(["de-DE"])
    mapping = tmp_path / "mapping.csv"
    pd.DataFrame({"locale": ["nl-NL", "de-DE", "fr-FR", "af-ZA"], "model_dir": ["a", "b", "c", "d"]}).to_csv(
        mapping, index=False
    )
    assert missing_locales(root, str(tiny_base), ["nl-NL", "de-DE", "af-ZA"]) == ["nl-NL", "af-ZA"]
    common = ["--mapping-csv", str(mapping), "--models-root", str(root), "--base-model", str(tiny_base),
              "--dataset-name", str(tiny_data), "--epochs", "1", "--train-bs", "8"]  # fmt: skip
    assert missing_cmd.main([*common, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 missing: nl-NL, fr-FR, af-ZA" in out and out.count("would train") == 2
    assert "not in dataset" in out and "fr-FR" in out.split("not in dataset")[1].splitlines()[0]
    assert set(discover_models(root, str(tiny_base))) == {"de-DE"}  # dry run wrote nothing
    assert missing_cmd.main([*common, "--max", "1", "--additional-args", "--max_train_samples", "8",
                             "--max_eval_samples", "4", "--report_to", "none"]) == 0  # fmt: skip
    assert set(discover_models(root, str(tiny_base))) == {"de-DE", "nl-NL"}
    trained = read_json(root / model_dir_name(tiny_base, "nl-NL") / "all_results.json")
    assert trained["train_examples_per_locale"] == {"nl-NL": 8} and "eval_accuracy" in trained


def test_copy_models_refuses_incomplete_runs(tmp_path, tiny_base, locale_models, capsys):
    made = locale_models(["de-DE", "nl-NL", "af-ZA"])
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(made / model_dir_name(tiny_base, "de-DE"), runs / "run_de-DE")
    (runs / "run_de-DE" / "all_results.json").write_text("{}")
    (runs / "run_de-DE" / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    shutil.copytree(made / model_dir_name(tiny_base, "nl-NL"), runs / "run_nl_NL")  # no completion marker
    (runs / "run_nl_NL" / "all_results.json").write_text("{}")
    (runs / "run_nl_NL" / "model.safetensors").unlink()  # ... and no weights
    shutil.copytree(made / model_dir_name(tiny_base, "af-ZA"), runs / "run_af-ZA")  # not marked finished
    dest = tmp_path / "copied_models"
    assert check_run(runs / "run_nl_NL").reason.startswith("no model weights")
    assert check_run(runs / "run_af-ZA", str(tiny_base)).reason.startswith("not marked finished")

    base = ["--source-root", str(runs), "--models-root", str(dest), "--base-model", str(tiny_base)]
    assert copy_cmd.main([*base, "--dry-run"]) == 1
    assert not dest.exists()
    assert copy_cmd.main([*base, "--runs", "run_de-DE"]) == 0
    target = dest / model_dir_name(tiny_base, "de-DE")
    assert (target / "COMPLETE").is_file() and not (target / "checkpoints").exists()
    assert (target / "model.safetensors").read_bytes() == (
        runs / "run_de-DE" / "model.safetensors"
    ).read_bytes()
    assert set(discover_models(dest, str(tiny_base))) == {"de-DE"}
    with pytest.raises(UserError, match=r"2 of 3 run\(s\) refused"):
        copy_cmd.main(base)  # the other two are refused (an error), de-DE is skipped (exists)
    out = capsys.readouterr().out
    assert "0 copied, 1 skipped, 2 refused" in out


def test_lolo_user_errors_write_nothing(tmp_path, tiny_base, tiny_data, capsys):
    root = tmp_path / "models"
    common = ["--dataset-name", str(tiny_data), "--models-root", str(root), "--no-progress"]
    for argv, message in [
        (["--exclude", "de-DE", "--base-model", str(tmp_path / "no_base")], "no such model folder"),
        (
            ["--super-model", "--locales", "de-DE,fr-FR", "--base-model", str(tiny_base)],
            "fr-FR not in dataset",
        ),
        (["--exclude", "fr-FR", "--base-model", str(tiny_base)], "--exclude fr-FR is not among"),
    ]:
        assert multilang_cmd.run([*argv, *common]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not root.exists()
