"""One name per concept: old flag spellings still work (with one deprecation warning), method flags come from
the engine's parameter schema, and method parameters in a sweep apply only to the modes that take them."""

from __future__ import annotations

import pytest
from auto_merge_llm import list_methods

from merginguriel.cli import options as opts
from merginguriel.cli.commands import ensemble as ensemble_cmd
from merginguriel.cli.commands import evaluate as evaluate_cmd
from merginguriel.cli.commands import iterative as iterative_cmd
from merginguriel.cli.commands import merge as merge_cmd
from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.cli.commands import sweep as sweep_cmd
from merginguriel.merging.catalogue import CatalogueError, MethodParams, method_parameters, resolve_preset

MERGE = ["--target-lang", "af-ZA"]


@pytest.mark.parametrize(
    "parser, argv, dest, value, new",
    [
        (merge_cmd.build_parser, ["--max-eval-samples", "3"], "max_samples", 3, "--max-samples"),
        (sweep_cmd.build_parser, ["--max-eval-samples", "3"], "max_samples", 3, "--max-samples"),
        (merge_cmd.build_parser, ["--fisher-data-mode", "target"], "fisher_data", "target", "--fisher-data"),
        (merge_cmd.build_parser, ["--num-examples", "7"], "num_fisher_examples", 7, "--num-fisher-examples"),
        (sweep_cmd.build_parser, ["--preweights", "equal"], "preweight", "equal", "--preweight"),
        (merge_cmd.build_parser, ["--target", "de-DE"], "target", "de-DE", "--target-lang"),
        (ensemble_cmd.build_parser, ["--target", "de-DE"], "target", "de-DE", "--target-lang"),
        (
            evaluate_cmd.build_parser,
            ["--base-model", "m", "--locale", "af-ZA"],
            "model_path",
            "m",
            "--model-path",
        ),
        (
            merge_cmd.build_parser,
            ["--method-params", '{"lambda_": 0.5}'],
            "method_params_json",
            '{"lambda_": 0.5}',
            "--method-param",
        ),
    ],
)
def test_old_spellings_work_and_warn_once(parser, argv, dest, value, new, capsys):
    args = parser().parse_args(
        [*argv, *argv]
    )  # given twice: one warning (required flags are checked in main)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert err.count("is deprecated") == 1 and new in err


def test_new_spellings_print_nothing(capsys):
    args = merge_cmd.build_parser().parse_args(
        [*MERGE, "--max-samples", "3", "--fisher-data", "both", "--preweight", "equal"]
    )
    assert (args.max_samples, args.fisher_data, args.preweight) == (3, "both", "equal")
    assert capsys.readouterr().err == ""


def test_every_method_parameter_has_one_generated_flag():
    parser = merge_cmd.build_parser()
    options = parser._option_string_actions
    flags = opts.method_flags()
    for info in list_methods():
        for spec in info.parameters:
            if spec.name.rstrip("_") in opts.COMMAND_OPTION_NAMES:  # one flag per method, scoped to it
                flag = f"--{info.name.replace('_', '-')}-{spec.name.rstrip('_').replace('_', '-')}"
                assert flags[flag] == (spec.name, info.name, info.annotations[spec.name])
                assert options[flag].dest == f"mps__{info.name}__{spec.name}"
            else:
                assert options[method_parameters()[spec.name].flag].dest == f"mp__{spec.name}"
    args = parser.parse_args(
        [*MERGE, "--lambda", "0.5", "--trim-ratio", "0.7", "--normalize-fisher", "--t", "0.3"]
    )
    params = opts.method_params(args)
    assert params.common == {
        "lambda_": 0.5,
        "density": pytest.approx(0.3),
        "normalize_fisher": True,
        "t": 0.3,
    }


def test_aliases_users_type_keep_working():
    args = merge_cmd.build_parser().parse_args(
        [*MERGE, "--method-param", "lambda=0.4", "--method-param", "drop-rate=0.2"]
    )
    assert opts.method_params(args).common == {"lambda_": 0.4, "drop_rate": 0.2}
    with pytest.raises(ValueError, match="disagree"):
        opts.method_params(
            merge_cmd.build_parser().parse_args([*MERGE, "--density", "0.5", "--trim-ratio", "0.7"])
        )


def test_single_merge_is_strict_sweep_applies_parameters_to_the_modes_that_take_them():
    params = MethodParams.parse(["density=0.3", "ties.lambda=0.8"])
    assert params.for_mode("ties") == {"density": 0.3, "lambda_": 0.8}
    assert params.for_mode("breadcrumbs", strict=False) == {
        "density": 0.3
    }  # the ties-scoped lambda is not its
    assert params.for_mode("similarity", strict=False) == {}
    with pytest.raises(CatalogueError, match="does not take density"):
        params.for_mode("similarity", strict=True)
    params.check_sweep(["baseline", "similarity", "ties"])  # density applies to ties: fine
    with pytest.raises(CatalogueError, match="takes density"):
        MethodParams.parse(["density=0.3"]).check_sweep(["similarity", "average"])
    with pytest.raises(CatalogueError, match="not a merge mode of this sweep"):
        MethodParams.parse(["dare.drop_rate=0.3"]).check_sweep(["ties"])
    with pytest.raises(CatalogueError, match="does not take gamma"):
        MethodParams.parse(["ties.gamma=0.1"]).check_sweep(["ties"])


def test_one_preset_table():
    assert resolve_preset("fairness") == {
        "preset": "fairness",
        "fisher_data": "sources",
        "preweight": "equal",
    }
    assert resolve_preset("target", preweight="equal")["preweight"] == "equal"


def test_every_command_with_method_flags_builds(capsys):
    for build in (
        merge_cmd.build_parser,
        sweep_cmd.build_parser,
        iterative_cmd.build_parser,
        nxn_cmd.build_parser,
    ):
        parser = build()
        assert parser.epilog is None or parser.epilog.startswith("example:")
    assert iterative_cmd.build_parser().parse_args(
        ["--target-lang", "af-ZA", "--method-param", "ties.density=0.4"]
    )


def test_a_required_flag_given_by_its_old_spelling_counts(tmp_path, capsys):
    code = evaluate_cmd.run(
        ["--base-model", str(tmp_path / "nope"), "--target-lang", "af-ZA", "--dataset-name", "builtin"]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "arguments are required" not in err
        and "is deprecated" in err
        and "does not exist" in err
    )
    with pytest.raises(SystemExit) as exit_info:
        evaluate_cmd.main(["--locale", "af-ZA"])
    assert exit_info.value.code == 2 and "--model-path" in capsys.readouterr().err


def _commands_parsers():
    import importlib

    from merginguriel.cli import COMMANDS

    return {
        name: importlib.import_module(f"merginguriel.cli.commands.{module}").build_parser()
        for name, (module, _, _) in COMMANDS.items()
    }


def test_no_flag_means_a_method_parameter_in_one_command_and_something_else_in_another():
    method = set(opts.method_flags())
    own: dict[str, list[str]] = {}
    for name, parser in _commands_parsers().items():
        deprecated = {
            o for a in parser._actions if isinstance(a, opts._DeprecatedAlias) for o in a.option_strings
        }
        for action in parser._actions:
            if action.dest.startswith(("mp__", "mps__")):
                continue
            for option in set(action.option_strings) - deprecated:
                own.setdefault(option, []).append(name)
    assert {f: own[f] for f in method & set(own)} == {}


def test_wudi_lr_is_scoped_and_lr_stays_the_training_rate():
    args = merge_cmd.build_parser().parse_args([*MERGE, "--mode", "wudi", "--wudi-lr", "0.01"])
    params = opts.method_params(args)
    assert params.common == {} and params.scoped == {"wudi": {"lr": 0.01}}
    assert params.for_mode("wudi") == {"lr": 0.01}
    with pytest.raises(CatalogueError, match="do not apply to --mode ties"):
        params.for_mode("ties")
    iterative = iterative_cmd.build_parser().parse_args(
        ["--target-lang", "af-ZA", "--lr", "0.002", "--wudi-lr", "0.5"]
    )
    assert iterative.learning_rate == 0.002
    assert opts.method_params(iterative).scoped == {"wudi": {"lr": 0.5}}


def test_the_old_wudi_lr_spelling_warns_and_sets_the_scoped_parameter(capsys):
    args = merge_cmd.build_parser().parse_args([*MERGE, "--mode", "wudi", "--lr", "0.01"])
    assert opts.method_params(args).scoped == {"wudi": {"lr": 0.01}}
    assert "--lr is deprecated; use --wudi-lr" in capsys.readouterr().err


def test_a_method_flag_that_clashes_with_a_command_option_fails_when_the_parser_is_built():
    import argparse

    parser = argparse.ArgumentParser(prog="clash")
    parser.add_argument("--density", type=float)
    with pytest.raises(RuntimeError, match="--density clashes"):
        opts.add_method_args(parser)


# concepts that had two names in two commands: (command, old spelling, value, dest, new spelling)
RENAMED = [
    ("select", ["--targets", "af-ZA,de-DE"], "targets", ["af-ZA,de-DE"], "--target-lang"),
    ("transfer-report", ["--targets", "af-ZA"], "targets", "af-ZA", "--target-lang"),
    ("similarity", ["--target", "af-ZA"], "target", "af-ZA", "--target-lang"),
    ("similarity", ["--k", "7"], "k", 7, "--top-k"),
    ("similarity", ["--iterations", "3"], "iterations", 3, "--sinkhorn-iters"),
    ("transfer-report", ["--k", "3"], "k", 3, "--ndcg-k"),
    ("transfer-report", ["--out-dir", "x"], "out_dir", "x", "--output-dir"),
    ("aggregate", ["--evaluation-matrix", "m.csv"], "evaluation_matrix", "m.csv", "--nxn-matrix"),
    ("iterative", ["--target-lang", "af-ZA", "--eval-split", "test"], "eval_split", "test", "--dataset-split"),
    ("iterative", ["--target-lang", "af-ZA", "--max-epochs", "4"], "epochs", 4.0, "--epochs"),
    ("fill-missing", ["--train-bs", "8"], "batch_size", 8, "--batch-size"),
    ("fusion", ["--eval-split", "validation"], "eval_split", "validation", "--dataset-split"),
    ("snapshot-avg", ["--target-lang", "af-ZA", "--target-split", "x"], "target_split", "x", "--dataset-split"),
]  # fmt: skip


@pytest.mark.parametrize("command, argv, dest, value, new", RENAMED)
def test_one_name_per_concept_old_spellings_still_work(command, argv, dest, value, new, capsys):
    parser = _commands_parsers()[command]
    old = argv[-2]
    assert getattr(parser.parse_args(argv), dest) == value
    assert f"{old} is deprecated; use {new}" in capsys.readouterr().err
    assert getattr(parser.parse_args([*argv[:-2], new, *argv[-1:]]), dest) == value
    assert capsys.readouterr().err == ""


def test_the_target_flag_has_one_name():
    for name, parser in _commands_parsers().items():
        options = parser._option_string_actions
        if any(flag in options for flag in ("--target", "--targets")):
            assert "--target-lang" in options, name
