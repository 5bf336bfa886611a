"""Output a log file can hold: progress bars only on a terminal, no library load/dataset bars, and the
command's own result line."""

from __future__ import annotations

import argparse

from merginguriel.cli import options as opts
from merginguriel.cli.commands import evaluate as evaluate_cmd


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_bars_only_on_a_terminal_and_never_with_no_progress(monkeypatch):
    args = argparse.Namespace(no_progress=False, device="cpu", batch_size=8)
    monkeypatch.setattr("sys.stderr", _Stream(tty=True))
    assert opts.show_progress(args) and opts.runtime(args).progress
    assert not opts.runtime(args, progress=False).progress  # forced off (a sweep's inner evaluations)
    args.no_progress = True
    assert not opts.show_progress(args)
    args.no_progress = False
    monkeypatch.setattr("sys.stderr", _Stream(tty=False))
    assert not opts.show_progress(args) and not opts.runtime(args, progress=True).progress


def test_evaluate_into_a_log_has_no_bars(tmp_path, locale_models, capsys):
    root = locale_models(["nl-NL"])
    model = next(root.iterdir())
    capsys.readouterr()  # the fixture's own output
    code = evaluate_cmd.run(
        ["--model-path", str(model), "--locale", "af-ZA", "--dataset-name", "builtin", "--max-seq-length", "32",
         "--results-root", str(tmp_path / "results")]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    assert "af-ZA test: accuracy" in out
    for noise in ("\r", "Loading weights", "Generating", "it/s]", "batch/s]"):
        assert noise not in out + err, noise


def test_steps_logs_one_line_per_step_without_a_terminal(caplog, capsys):
    import logging

    from merginguriel.runtime import steps

    with caplog.at_level(logging.INFO, logger="merginguriel.progress"):
        assert list(steps(["de-DE", "nl-NL"], "NxN models", progress=False, unit="model")) == [
            "de-DE",
            "nl-NL",
        ]
        assert list(steps(iter("ab"), "sweep", progress=False, unit="experiment")) == ["a", "b"]
    lines = [r.getMessage().rsplit(" (", 1)[0] for r in caplog.records]
    assert lines == [
        "NxN models: 1/2 model",
        "NxN models: 2/2 model",
        "sweep: 1 experiment",
        "sweep: 2 experiment",
    ]
    assert capsys.readouterr().err == ""  # no bar
