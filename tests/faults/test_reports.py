"""Reports on bad input: ``aggregate`` on a missing, empty or garbage results root, and ``plot`` /
``transfer-report`` on a malformed CSV name the file and what is wrong, exit 2, and write no empty report."""

from __future__ import annotations

from pathlib import Path

import pytest

from merginguriel.cli.commands import aggregate as aggregate_cmd
from merginguriel.cli.commands import plot as plot_cmd
from merginguriel.cli.commands import transfer_report as transfer_cmd


def one_error(module, argv: list[str], capsys) -> str:
    assert module.run(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def results_root(tmp_path: Path, kind: str) -> Path:
    root = tmp_path / "results"
    if kind == "missing":
        return root
    root.mkdir()
    if kind == "garbage":
        (root / "ties_merge_af-ZA_3merged").mkdir()
        (root / "ties_merge_af-ZA_3merged" / "results.json").write_text('{"performance": {"accur')
    return root


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage"])
def test_aggregate_without_results_is_an_error_and_writes_nothing(tmp_path, kind, capsys):
    root = results_root(tmp_path, kind)
    line = one_error(
        aggregate_cmd, ["--results-root", str(root), "--output-dir", str(tmp_path / "agg")], capsys
    )
    assert str(root) in line
    if kind == "garbage":
        assert str(root / "ties_merge_af-ZA_3merged" / "results.json") in line
    assert not (tmp_path / "agg").exists() or not any((tmp_path / "agg").iterdir())


MALFORMED = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
    "ragged": b"a,b\n1,2,3,4\n5\n",
    "empty": b"",
}


@pytest.mark.parametrize("content", list(MALFORMED), ids=list(MALFORMED))
def test_plot_on_a_malformed_csv_names_the_file(tmp_path, content, capsys):
    csv = tmp_path / "results_comprehensive_1.csv"
    csv.write_bytes(MALFORMED[content])
    line = one_error(plot_cmd, ["--csv-file", str(csv), "--plots-dir", str(tmp_path / "plots")], capsys)
    assert str(csv) in line
    assert not (tmp_path / "plots").exists() or not any((tmp_path / "plots").iterdir())


@pytest.mark.parametrize("content", list(MALFORMED), ids=list(MALFORMED))
def test_transfer_report_on_a_malformed_matrix_names_the_file(tmp_path, content, capsys):
    csv = tmp_path / "evaluation_matrix.csv"
    csv.write_bytes(MALFORMED[content])
    (tmp_path / "nxn_config.json").write_text('{"data": {"dataset_name": "builtin", "split": "validation"}}')
    line = one_error(
        transfer_cmd,
        ["--nxn-matrix", str(csv), "--sources", "lang2vec", "--output-dir", str(tmp_path / "rep")],
        capsys,
    )
    assert str(csv) in line and "nxn_config" not in line  # the table itself is what is wrong
    assert not (tmp_path / "rep").exists() or not any((tmp_path / "rep").iterdir())
