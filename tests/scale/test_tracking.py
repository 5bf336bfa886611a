"""Experiment tracking: a sweep and an NxN matrix as one TensorBoard run each (rows read back from the event
files), wandb through a stand-in module (and the real package offline when it is installed), and the clear
error when wandb is missing."""

import sys
import types

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.cli.commands import sweep as sweep_cmd
from merginguriel.outputs import tracking
from tests.scale.test_sweep import sweep_args


def tags(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    acc.Reload()
    return acc, acc.Tags()


def test_sweep_logs_a_row_per_experiment_and_the_plots(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    argv = sweep_args(tmp_path, scale_models, tiny_dataset, similarity_csv, "--locales", "af-ZA", "nl-NL",
                      "--modes", "baseline", "similarity")  # fmt: skip
    assert sweep_cmd.run(argv) == 0
    log_dir = tmp_path / "results" / "sweep_sweep" / "tensorboard"
    assert f"tensorboard --logdir {log_dir}" in capsys.readouterr().out
    rows = tracking.read_tensorboard_rows(log_dir)
    assert sorted((r["mode"], r["target"]) for r in rows) == [
        ("baseline", "af-ZA"), ("baseline", "nl-NL"), ("similarity", "af-ZA"), ("similarity", "nl-NL"),
    ]  # fmt: skip
    merge = next(r for r in rows if r["mode"] == "similarity" and r["target"] == "af-ZA")
    assert merge["sources"] == ["nl-NL", "de-DE", "en-US"] and merge["weights"] == [0.6, 0.3, 0.1]
    assert merge["accuracy"] == pytest.approx(3 / 6) and merge["macro_f1"] is not None
    assert merge["key"] and merge["method"] == "linear" and merge["status"] == "success"
    acc, found = tags(log_dir)
    assert {"plots/mean_accuracy_by_mode", "plots/accuracy_target_x_mode"} <= set(found["images"])
    assert [e.value for e in acc.Scalars("accuracy/similarity")] == pytest.approx(
        [r["accuracy"] for r in rows if r["mode"] == "similarity"]
    )
    # a rerun skips every experiment but still logs all the rows, as the one run of this sweep
    assert sweep_cmd.run(argv) == 0
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 1
    again = tracking.read_tensorboard_rows(log_dir)
    assert [r["key"] for r in again] == [r["key"] for r in rows] and {r["status"] for r in again} == {
        "skipped"
    }


def test_nxn_logs_cells_and_heatmap(tmp_path, scale_models, tiny_dataset, capsys):
    argv = ["--models-root", str(scale_models), "--dataset-name", str(tiny_dataset), "--locales", "af-ZA,nl-NL",
            "--output-root", str(tmp_path / "nxn"), "--logits-cache", str(tmp_path / "cache")]  # fmt: skip
    assert nxn_cmd.run(argv) == 0
    (run_dir,) = (tmp_path / "nxn").iterdir()
    rows = tracking.read_tensorboard_rows(run_dir / "tensorboard")
    cells = {(r["sources"][0], r["target"]): r["accuracy"] for r in rows}
    assert cells[("nl-NL", "af-ZA")] == pytest.approx(3 / 6) and cells[("af-ZA", "nl-NL")] == pytest.approx(
        1 / 6
    )
    assert len(cells) == 4
    assert "nxn/accuracy_heatmap" in tags(run_dir / "tensorboard")[1]["images"]


class FakeRun:
    def __init__(self, **init):
        self.init, self.logged, self.summary, self.finished = init, [], {}, False

    def log(self, data):
        self.logged.append(data)

    def finish(self):
        self.finished = True


def fake_wandb(monkeypatch):
    module = types.ModuleType("wandb")
    module.runs = []

    def init(**kw):
        module.runs.append(FakeRun(**kw))
        return module.runs[-1]

    module.init = init
    module.Table = lambda columns, data: {"columns": columns, "data": data}
    module.Image = lambda path: ("image", path)
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def test_report_to_wandb_one_run_with_the_table_and_images(tmp_path, monkeypatch):
    wandb = fake_wandb(monkeypatch)
    png = tmp_path / "p.png"
    import pandas as pd

    from merginguriel.outputs.plotting import bar_chart

    bar_chart(pd.Series({"ties": 0.5}), png, "t", "accuracy")
    rows = [tracking.row(mode="ties", target="af-ZA", sources=["de-DE"], weights=[1.0], accuracy=0.5, macro_f1=0.4,
                         key="k", method_params={"density": 0.3})]  # fmt: skip
    tracking.log_run(
        tmp_path / "tb", "sweep_x", rows, {"plots/p": png}, {"seed": 1}, ["tensorboard", "wandb"], "proj"
    )
    (run,) = wandb.runs
    assert run.init["project"] == "proj" and run.init["name"] == "sweep_x" and run.finished
    table = run.logged[0]["experiments"]
    record = dict(zip(table["columns"], table["data"][0]))
    assert (
        record["mode"] == "ties"
        and record["accuracy"] == 0.5
        and record["method_params"] == '{"density": 0.3}'
    )
    assert run.logged[0]["plots/p"] == ("image", str(png))
    assert run.summary["mean_accuracy"] == 0.5 and run.summary["experiments"] == 1
    assert tracking.read_tensorboard_rows(tmp_path / "tb")[0]["key"] == "k"  # TensorBoard as well


def test_wandb_missing_is_one_clear_error_before_work(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys,
                                                      monkeypatch):  # fmt: skip
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    argv = sweep_args(tmp_path, scale_models, tiny_dataset, similarity_csv, "--locales", "af-ZA",
                      "--modes", "baseline", "--report-to", "wandb")  # fmt: skip
    assert sweep_cmd.run(argv) == 2
    err = capsys.readouterr().err
    assert "pip install 'merginguriel[wandb]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_real_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    rows = [tracking.row(mode="ties", target="af-ZA", accuracy=0.5, macro_f1=0.4, key="k")]
    tracking.log_run(tmp_path / "tb", "offline_run", rows, report_to=["wandb"], project="merginguriel-test")
    assert list((tmp_path / "tb" / "wandb").glob("offline-run-*"))
