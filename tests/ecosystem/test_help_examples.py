"""Every command's ``--help`` ends with one example line that its own parser accepts; ``merginguriel --version``."""

import importlib
import shlex

import pytest

from merginguriel import __version__
from merginguriel.cli import COMMANDS, main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"merginguriel {__version__}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_ends_with_an_example_the_parser_accepts(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps at the terminal width; one line here
    module = importlib.import_module(f"merginguriel.cli.commands.{COMMANDS[name][0]}")
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith(f"example: merginguriel {name} "), last
    argv = shlex.split(last)[3:]
    parser = module.build_parser()
    if hasattr(parser, "parse_args_into_dataclasses"):  # train: HfArgumentParser
        parser.parse_args_into_dataclasses(args=argv)
    else:
        parser.parse_args(argv)
