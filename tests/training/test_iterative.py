"""Iterative training: merge history, every cycle's merged model (= the similarity-weighted average of the
sources' checkpoints), sources restarted from the merged weights, resume after a crash, the performance
trigger and the adaptive merge frequency."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

import merginguriel.merging.experiment as experiment
import merginguriel.training.iterative as it
from merginguriel.cli.commands import iterative as iterative_cmd
from merginguriel.data.massive import DataSelection
from merginguriel.outputs.atomic import atomic_output_dir
from merginguriel.runtime import Runtime
from merginguriel.similarity.selection import SimilarityOptions
from merginguriel.training.arguments import TrainingOptions
from tests.training.conftest import read_json

LOCS = ["af-ZA", "de-DE", "nl-NL", "en-US"]


@pytest.fixture()
def matrix_csv(tmp_path):
    m = np.array([[0.0, 0.2, 0.6, 0.2], [0.2, 0.0, 0.5, 0.3], [0.6, 0.5, 0.0, 0.1], [0.2, 0.3, 0.1, 0.0]])
    path = tmp_path / "sim.csv"
    pd.DataFrame(m, index=LOCS, columns=LOCS).to_csv(path)
    return path


def test_iterative_cycles_merge_history_and_resume(tmp_path, tiny_base, tiny_data, matrix_csv, monkeypatch):
    out = tmp_path / "iter"
    argv = ["--target-lang", "af-ZA", "--locales", "de-DE,nl-NL", "--merge-frequency", "1", "--max-epochs", "2",
            "--checkpoint-before-merge", "--similarity-matrix", str(matrix_csv), "--dataset-name", str(tiny_data),
            "--base-model", str(tiny_base), "--max-train-samples", "8", "--batch-size", "4", "--max-seq-length", "32",
            "--learning-rate", "1e-3", "--max-eval-samples", "4", "--device", "cpu", "--output-dir", str(out),
            "--no-progress", "--additional-args", "--report_to", "none", "--logging_strategy", "no"]  # fmt: skip
    real_merge, real_train = experiment.execute_merge, it._train_segment
    merges, trainings = [], []

    def crashing_merge(plan, output_dir, *args, **kwargs):
        merges.append(output_dir)
        if len(merges) == 2:
            raise RuntimeError("simulated crash during the second merge")
        return real_merge(plan, output_dir, *args, **kwargs)

    def counting_train(*args, **kwargs):
        trainings.append(args[1])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(experiment, "execute_merge", crashing_merge)
    monkeypatch.setattr(it, "_train_segment", counting_train)
    with pytest.raises(RuntimeError, match="simulated crash"):
        iterative_cmd.main(argv)
    assert trainings == ["de-DE", "nl-NL", "de-DE", "nl-NL"]
    state = read_json(out / "state_summary.json")
    assert state["cycles_completed"] == 1 and set(state["cycle"]["sources"]) == {"de-DE", "nl-NL"}

    trainings.clear()
    monkeypatch.setattr(experiment, "execute_merge", real_merge)
    assert iterative_cmd.main(argv) == 0
    assert trainings == []  # the sources of the interrupted cycle were not retrained

    history = read_json(out / "merge_history.json")
    assert [(h["cycle"], h["epochs_done"]) for h in history] == [(1, 1), (2, 2)]
    weights = {s["locale"]: s["weight"] for s in history[1]["sources"]}
    assert weights == pytest.approx({"nl-NL": 0.75, "de-DE": 0.25})  # 0.6 / 0.8 and 0.2 / 0.8
    for cycle in (1, 2):
        merged = load_file(str(out / "merged_models" / f"merged_cycle_{cycle}" / "model.safetensors"))
        de = load_file(str(out / "de-DE" / "checkpoints" / f"cycle_{cycle}_ep1" / "model.safetensors"))
        nl = load_file(str(out / "nl-NL" / "checkpoints" / f"cycle_{cycle}_ep1" / "model.safetensors"))
        for key in merged:
            np.testing.assert_allclose(merged[key], 0.25 * de[key] + 0.75 * nl[key], atol=1e-6, err_msg=key)
    # cycle 2 started every source from the cycle-1 merged model
    for loc in ("de-DE", "nl-NL"):
        config = read_json(out / loc / "checkpoints" / "cycle_2_ep1" / "training_config.json")
        assert config["model_arguments"]["model_name_or_path"] == str(
            out / "merged_models" / "merged_cycle_1"
        )
    final = load_file(str(out / "final_merged_model" / "model.safetensors"))
    last = load_file(str(out / "merged_models" / "merged_cycle_2" / "model.safetensors"))
    assert all(np.array_equal(final[k], last[k]) for k in last)
    state = read_json(out / "state_summary.json")
    assert state["status"] == "finished" and state["resumed"] == 1 and state["epochs_done"] == 2
    table = pd.read_csv(out / "cycle_results.csv")
    assert table["cycle"].tolist() == [1, 2] and (out / "cycle_results.png").is_file()
    assert table["target_accuracy"].tolist() == [h["target_accuracy"] for h in history]


def _fake_training(accuracies):
    """A stand-in for one training segment: copies its start model and reports scripted dev accuracies."""
    calls: dict[str, int] = {}

    def fake(config, locale, init, out, epochs, cycle):
        calls[locale] = calls.get(locale, 0) + 1
        with atomic_output_dir(out, overwrite=True) as tmp:
            shutil.copytree(init, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("COMPLETE"))
        return {"eval_accuracy": accuracies[calls[locale] - 1], "train_loss": 1.0}

    return fake


def test_performance_trigger_merges_on_dev_plateau(tmp_path, tiny_base, tiny_data, matrix_csv, locale_models,
                                                    monkeypatch):  # fmt: skip
    start = locale_models(["en-US"]) / "tiny-xlmr_massive_k_en-US"
    monkeypatch.setattr(it, "_train_segment", _fake_training([0.5, 0.6, 0.605, 0.7]))
    config = it.IterativeConfig(
        target="af-ZA", locales=["de-DE", "nl-NL"], output_dir=str(tmp_path / "perf"), base_model=str(start),
        data=DataSelection(str(tiny_data)), training=TrainingOptions(epochs=4, max_eval_samples=4),
        similarity=SimilarityOptions(str(matrix_csv)), merge_frequency=4, performance_merge_trigger=True,
        convergence_threshold=0.01, runtime=Runtime(progress=False),
    )  # fmt: skip
    trainer = it.IterativeTrainer(config)
    state = trainer.run()
    # cycle 1: epoch gains 0.1 then 0.005 < 0.01 -> merge after 3 epochs; cycle 2: the 1 epoch left
    assert [h["epochs_in_cycle"] for h in trainer.history] == [3, 1]
    assert trainer.history[0]["merge_trigger"].startswith("dev plateau after 3 epochs")
    assert trainer.history[0]["dev_means"] == pytest.approx([0.5, 0.6, 0.605])
    assert trainer.history[1]["merge_trigger"] == "epoch cap (1 epochs)"
    assert state["epochs_done"] == 4
    # without --checkpoint-before-merge the source checkpoints are gone after each merge
    assert not any((tmp_path / "perf" / "de-DE" / "checkpoints").iterdir())


def test_adaptive_merge_frequency(tmp_path, tiny_data, matrix_csv):
    config = it.IterativeConfig(
        target="af-ZA", locales=["de-DE"], output_dir=str(tmp_path / "adaptive"), base_model="unused",
        data=DataSelection(str(tiny_data)), training=TrainingOptions(epochs=8),
        similarity=SimilarityOptions(str(matrix_csv)), merge_frequency=1, adaptive_merge_frequency=True,
        convergence_threshold=0.01,
    )  # fmt: skip
    trainer = it.IterativeTrainer(config)
    trainer.history = [{"target_accuracy": 0.50}, {"target_accuracy": 0.505}]
    trainer._adapt_frequency(0.505)  # plateau: 1 -> 2
    assert trainer.state["merge_frequency"] == 2
    trainer.history.append({"target_accuracy": 0.505})
    trainer._adapt_frequency(0.505)  # plateau again: 2 -> 4
    trainer.history.append({"target_accuracy": 0.6})
    assert trainer._adapt_frequency(0.6) == "4 -> 2 (target accuracy gain +0.0950)"  # improvement: halve back


def test_auto_selected_sources_are_the_most_similar(matrix_csv):
    # af-ZA row: de-DE 0.2, nl-NL 0.6, en-US 0.2 -> nl-NL first, then the 0.2 tie broken by code (de-DE)
    similarity = SimilarityOptions(str(matrix_csv))
    assert it.select_source_locales("af-ZA", 2, similarity) == ["nl-NL", "de-DE"]
    assert it.select_source_locales("af-ZA", 2, similarity, candidates=["en-US", "de-DE", "af-ZA"]) == [
        "de-DE",
        "en-US",
    ]


@pytest.mark.parametrize("mode", ["fisher", "regmean"])
def test_data_aware_merge_modes_get_statistics(
    tmp_path, tiny_base, tiny_data, matrix_csv, locale_models, mode
):
    """Modes that need data statistics (fisher, regmean) work in iterative merges: each source's training rows."""
    root = locale_models(["de-DE", "nl-NL"])
    config = it.IterativeConfig(
        target="af-ZA", locales=["de-DE", "nl-NL"], output_dir=str(tmp_path / mode), base_model=str(tiny_base),
        data=DataSelection(str(tiny_data), max_seq_length=32), similarity=SimilarityOptions(str(matrix_csv)),
        mode=mode, num_fisher_examples=4, runtime=Runtime(progress=False),
    )  # fmt: skip
    trainer = it.IterativeTrainer(config)
    sources = {loc: str(root / f"tiny-xlmr_massive_k_{loc}") for loc in ("de-DE", "nl-NL")}
    outcome = trainer._merge(1, sources)
    merged, details = outcome.outputs.merged_dir, outcome.details
    assert details["method"] == mode and (merged / "model.safetensors").is_file()
    assert (tmp_path / mode / "statistics_cache").is_dir()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--locales", "de-DE,en-US"], "en-US not in dataset"),
        (["--locales", "de-DE,nl-NL", "--base-model", "/nonexistent/base"], "no such model folder"),
        (["--locales", "de-DE,nl-NL", "--mode", "no_such_mode"], "Unknown --mode 'no_such_mode'"),
        (["--locales", "de-DE,nl-NL", "--mode", "manual"], "needs --weights"),
        (["--locales", "de-DE,it-IT"], "it-IT is not in the similarity matrix"),
    ],
)
def test_iterative_user_errors_write_nothing(
    tmp_path, tiny_base, tiny_data, matrix_csv, capsys, extra, message
):
    """Every user error is found before any training: one error line, exit 2, no output folder."""
    data = tmp_path / "data"  # the tiny dataset with it-IT (absent from the matrix) and without en-US
    shutil.copytree(tiny_data, data)
    shutil.copytree(data / "de-DE", data / "it-IT")
    shutil.rmtree(data / "en-US")
    out = tmp_path / "never"
    argv = ["--target-lang", "af-ZA", "--similarity-matrix", str(matrix_csv), "--dataset-name", str(data),
            "--base-model", str(tiny_base), "--output-dir", str(out), "--device", "cpu", "--no-progress", *extra]  # fmt: skip
    assert iterative_cmd.run(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()


def flat_config(config: dict) -> dict:
    """A saved config in the flat form of runs started before data, training and runtime were value objects."""
    flat = {k: v for k, v in config.items() if k not in ("data", "training", "runtime")}
    for old, (part, name) in it._FLAT_TRAINING.items():
        flat[old] = config[part][name]
    return flat


def test_a_flat_config_saved_before_the_value_objects_resumes(tmp_path, tiny_data, matrix_csv):
    config = it.IterativeConfig(
        target="af-ZA", locales=["de-DE"], output_dir=str(tmp_path / "flat"), base_model="unused",
        data=DataSelection(str(tiny_data), split="train", max_seq_length=64),
        similarity=SimilarityOptions(str(matrix_csv)), training=TrainingOptions(epochs=2, learning_rate=1e-3),
    )  # fmt: skip
    it.IterativeTrainer(config)._save()
    state = read_json(tmp_path / "flat" / "state_summary.json")
    state["config"] = flat_config(state["config"])
    assert state["config"]["max_epochs"] == 2 and state["config"]["max_seq_length"] == 64
    (tmp_path / "flat" / "state_summary.json").write_text(json.dumps(state))
    assert it.IterativeTrainer(config).state["resumed"] == 1
    (tmp_path / "flat" / "state_summary.json").write_text(json.dumps(state))
    longer = it.IterativeConfig(
        **{**asdict(config), "training": TrainingOptions(epochs=4, learning_rate=1e-3)}
    )
    assert it.IterativeTrainer(longer).state["resumed"] == 1  # more epochs: a resumable change
    (tmp_path / "flat" / "state_summary.json").write_text(json.dumps(state))
    other = it.IterativeConfig(
        **{**asdict(config), "training": TrainingOptions(epochs=2, learning_rate=5e-5)}
    )
    with pytest.raises(ValueError, match=r"other settings \(training.learning_rate\)"):
        it.IterativeTrainer(other)


def test_resume_of_a_run_saved_before_trainer_options_were_typed(tmp_path, tiny_data, matrix_csv):
    """Old states saved ``--additional-args`` as ``trainer_args`` (flags); they resume when the flags parse to
    the same overrides, and a run whose overrides differ is refused."""
    import json

    from merginguriel.cli.commands.train import explicit_fields

    def legacy_state(out, flags):
        config = it.IterativeConfig(
            target="af-ZA", locales=["de-DE"], output_dir=str(out), base_model="unused",
            data=DataSelection(str(tiny_data), split="train"), similarity=SimilarityOptions(str(matrix_csv)),
            training=TrainingOptions(overrides={"report_to": "none"} if flags else {}),
        )  # fmt: skip
        trainer = it.IterativeTrainer(config)
        trainer._save()
        state = read_json(out / "state_summary.json")
        state["config"] = flat_config(state["config"])  # as saved before the value objects
        del state["config"]["trainer_overrides"]
        state["config"]["trainer_args"] = flags
        (out / "state_summary.json").write_text(json.dumps(state))
        return config

    config = legacy_state(tmp_path / "none", [])
    assert it.IterativeTrainer(config).state["resumed"] == 1  # no flags: nothing to parse
    config = legacy_state(tmp_path / "flags", ["--report_to", "none"])
    with pytest.raises(ValueError, match="saved as flags"):
        it.IterativeTrainer(config)
    resumed = it.IterativeTrainer(config, parse_trainer_flags=explicit_fields)
    assert resumed.state["resumed"] == 1 and resumed.state["config"]["training"]["overrides"] == {
        "report_to": "none"
    }
    resumed._save()
    assert (
        "trainer_args" not in read_json(tmp_path / "flags" / "state_summary.json")["config"]
    )  # upgraded once
    config = legacy_state(tmp_path / "other", ["--report_to", "none"])
    config.training = TrainingOptions(overrides={"report_to": "none", "max_steps": 3})
    with pytest.raises(ValueError, match=r"other settings \(training.overrides\)"):
        it.IterativeTrainer(config, parse_trainer_flags=explicit_fields)
