"""Empirical similarity = observed dev transfer, from a hand-made NxN matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from merginguriel.similarity.builders import (
    MissingMatrixError,
    SplitError,
    UnknownSourceError,
    empirical_similarity,
    parse_spec,
    read_dev_nxn,
)
from merginguriel.similarity.matrix import load_matrix

# rows = model locale (trained on), columns = evaluated locale
NXN = pd.DataFrame(
    [[0.90, 0.61, 0.40], [0.72, 0.88, 0.35], [0.30, 0.20, 0.85]],
    index=["de-DE", "nl-NL", "ja-JP"],
    columns=["de-DE", "nl-NL", "ja-JP"],
)


def test_transpose_convention():
    sim = empirical_similarity(NXN)
    # S[t, s] = accuracy on t of the model trained on s = M[s, t]
    assert sim.loc["de-DE", "nl-NL"] == 0.72  # nl-NL model on de-DE
    assert sim.loc["nl-NL", "de-DE"] == 0.61  # de-DE model on nl-NL
    assert sim.loc["ja-JP", "de-DE"] == 0.40
    assert sim.loc["de-DE", "ja-JP"] == 0.30
    assert np.allclose(np.diag(sim.to_numpy()), 0.0)  # a target's own model is never a source


def test_missing_models_and_evaluations_are_unscored():
    nxn = NXN.drop(index="ja-JP").drop(columns="nl-NL")  # no ja-JP model, nl-NL never evaluated
    sim = empirical_similarity(nxn)
    assert list(sim.index) == ["de-DE", "ja-JP", "nl-NL"]
    assert np.isnan(sim.loc["de-DE", "ja-JP"])  # no ja-JP model
    assert sim.loc["ja-JP", "nl-NL"] == 0.35
    assert sim.loc["nl-NL"].drop("nl-NL").isna().all()  # nl-NL not evaluated: its row is unscored


def test_dev_matrix_is_read_and_test_matrix_refused(nxn_writer):
    path = nxn_writer(NXN, "validation")
    assert read_dev_nxn(path).equals(NXN)
    assert read_dev_nxn(nxn_writer(NXN, "dev", name="alias")).equals(NXN)
    with pytest.raises(SplitError, match="leaks the test set"):
        read_dev_nxn(nxn_writer(NXN, "test", name="test"))
    with pytest.raises(SplitError, match="split is unknown"):
        read_dev_nxn(nxn_writer(NXN, None, name="noconfig"))
    with pytest.raises(SplitError, match="train split"):
        read_dev_nxn(nxn_writer(NXN, "train", name="train"))


def test_missing_matrix_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="merginguriel nxn --split validation"):
        read_dev_nxn(tmp_path / "nope.csv")
    assert issubclass(MissingMatrixError, ValueError)


def test_unknown_source_is_a_clear_error():
    with pytest.raises(UnknownSourceError, match="Unknown similarity source 'wals'"):
        parse_spec("wals")
    assert parse_spec("urielplus:genetic").label == "urielplus:genetic"


def test_command_writes_empirical_matrix(nxn_writer, tmp_path, capsys):
    from merginguriel.cli.commands.similarity import main

    out = tmp_path / "emp.csv"
    argv = ["--source", "empirical", "--nxn-matrix", str(nxn_writer(NXN)), "--out-dense", str(out)]
    argv += ["--out-sparse", str(tmp_path / "sp.csv"), "--out-plot", "", "--target", "de-DE"]
    argv += ["--num-languages", "2", "--weighting", "normalize"]
    assert main(argv) == 0
    assert load_matrix(out).equals(empirical_similarity(NXN))
    assert "de-DE (normalize): nl-NL 0.706, ja-JP 0.294" in capsys.readouterr().out


def test_command_refuses_test_split_with_exit_2(nxn_writer, tmp_path, capsys):
    from merginguriel.cli.commands.similarity import run

    argv = ["--source", "empirical", "--nxn-matrix", str(nxn_writer(NXN, "test")), "--out-plot", ""]
    argv += ["--out-dense", str(tmp_path / "x.csv")]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "leaks the test set" in err and err.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()
