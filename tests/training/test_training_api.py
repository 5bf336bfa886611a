"""The typed training API (``training_arguments``) against the ``training_bert.py`` parser: the same defaults for
every field, fields and overrides, clear errors, ``--warmup_ratio`` on transformers 5; ``--additional-args``
parsed once by the commands into typed overrides that win; the fill-missing dry run's command line."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

import merginguriel.training.missing_models as missing_models
import merginguriel.training.multilang as multilang_training
import merginguriel.training.snapshot_averaging as snapshot_averaging
import merginguriel.training.trainer
from merginguriel.cli.commands import iterative as iterative_cmd
from merginguriel.cli.commands import snapshot_average as snapshot_cmd
from merginguriel.cli.commands import train as train_cmd
from merginguriel.cli.commands import train_missing as missing_cmd
from merginguriel.cli.commands import train_multilang as multilang_cmd
from merginguriel.data.massive import DataSelection
from merginguriel.training.arguments import (
    TRAINER_DEFAULTS,
    WARMUP_RATIO_FIELD,
    TrainingOptions,
    training_arguments,
    training_field_names,
)
from merginguriel.training.outputs import default_output_dir
from merginguriel.training.trainer import TrainArguments

REQUIRED = {"model_name_or_path": "some/base", "dataset_config_name": "de-DE", "dataset_name": "builtin",
            "output_dir": "/tmp/never/out"}  # fmt: skip


def parse(*extra: str) -> TrainArguments:
    return train_cmd.parse_command_line([*(a for k, v in REQUIRED.items() for a in (f"--{k}", v)), *extra])[0]


def api(**fields) -> TrainArguments:
    r = REQUIRED
    return training_arguments(r["model_name_or_path"], r["dataset_config_name"], r["dataset_name"], r["output_dir"],
                              **fields)  # fmt: skip


def assert_same(a: TrainArguments, b: TrainArguments) -> None:
    for part in ("model", "data", "extra"):
        assert dataclasses.asdict(getattr(a, part)) == dataclasses.asdict(getattr(b, part)), part
    x, y = a.training.to_dict(), b.training.to_dict()
    assert {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)} == {}
    assert set(x) == set(y)


def test_training_arguments_defaults_equal_the_parser_defaults_for_every_field():
    parsed, built = parse(), api()
    assert_same(parsed, built)
    # every field of the four classes was compared (asdict / to_dict list them all)
    compared = {*dataclasses.asdict(built.model), *dataclasses.asdict(built.data), *dataclasses.asdict(built.extra),
                *built.training.to_dict()}  # fmt: skip
    assert set(training_field_names()) <= compared


def test_the_toolkit_trainer_defaults_live_in_one_place():
    parser = train_cmd.build_parser()
    for name, value in TRAINER_DEFAULTS.items():
        assert parser.get_default(name) == value, name
    built = api().training
    assert built.learning_rate == 5e-5 and built.per_device_train_batch_size == 32
    assert built.per_device_eval_batch_size == 64 and built.logging_steps == 25
    assert built.report_to == ["tensorboard"] and str(built.save_strategy.value) == "no"


def test_fields_match_the_flags_and_overrides_win():
    flags = ("--do_train", "--num_train_epochs", "2", "--use_lora", "--class_weights", "--mixture_rates", "1",
             "--lr_scheduler_type", "cosine", "--max_train_samples", "8")  # fmt: skip
    fields = dict(do_train=True, num_train_epochs=2, use_lora=True, class_weights=True, mixture_rates="1",
                  lr_scheduler_type="cosine", max_train_samples=8)  # fmt: skip
    assert_same(parse(*flags), api(**fields))
    assert isinstance(api(num_train_epochs=2).training.num_train_epochs, float)  # 2.0, as the parser gives
    args = training_arguments(
        "some/base", ["de-DE", "nl-NL"], "builtin", "/tmp/never/out", learning_rate=1e-3, seed=3,
        overrides={"learning_rate": 5e-5, "output_dir": "/tmp/never/other", "dataset_config_name": "af-ZA"},
    )  # fmt: skip
    assert args.training.learning_rate == 5e-5 and args.training.seed == 3
    assert args.training.output_dir == "/tmp/never/other" and args.data.dataset_config_name == "af-ZA"


def test_output_dir_defaults_to_the_models_folder_layout():
    args = training_arguments("some/base", ["de-DE", "nl-NL"], "builtin", models_root="/tmp/never/models")
    assert args.training.output_dir == str(
        default_output_dir("/tmp/never/models", "some/base", ["de-DE", "nl-NL"])
    )
    assert args.data.dataset_config_name == "de-DE,nl-NL"


def test_unknown_field_is_one_clear_error():
    with pytest.raises(
        ValueError, match=r"Unknown training option 'lerning_rate'.*Did you mean 'learning_rate'"
    ):
        api(lerning_rate=1e-3)
    with pytest.raises(ValueError, match="Unknown training option 'no_such_option'"):
        api(overrides={"no_such_option": 1})
    with pytest.raises(ValueError, match="Give the locales once"):
        training_arguments("some/base", "de-DE", "builtin", dataset_config_name="nl-NL")


@pytest.mark.parametrize("flags", [("--warmup_ratio", "0.1"), ("--warmup-ratio=0.1",)])
def test_warmup_ratio_on_both_paths(flags):
    """``--warmup_ratio`` / ``warmup_ratio=`` work on transformers 4 and 5 (there: ``warmup_steps`` < 1)."""
    parsed, built = parse(*flags), api(warmup_ratio=0.1)
    assert getattr(parsed.training, WARMUP_RATIO_FIELD) == 0.1
    assert_same(parsed, built)
    assert train_cmd.explicit_fields(list(flags)) == {WARMUP_RATIO_FIELD: 0.1}


def test_explicit_fields_are_the_flags_given():
    assert train_cmd.explicit_fields([]) == {}
    # a flag given with its default value is still given: it wins over the command's own option
    assert train_cmd.explicit_fields(["--learning_rate", "5e-5", "--use_lora", "--report_to", "none",
                                      "--locale", "fr-FR"]) == {  # fmt: skip
        "learning_rate": 5e-5, "use_lora": True, "report_to": "none", "dataset_config_name": "fr-FR",
    }  # fmt: skip
    with pytest.raises(train_cmd.TrainerFlagError, match="unrecognized arguments: --bogus"):
        train_cmd.explicit_fields(["--bogus"])


@pytest.fixture()
def no_training(monkeypatch):
    """Records the arguments every command would train with, instead of training."""
    seen: list[TrainArguments] = []

    def fake(args, callbacks=None):
        seen.append(args)
        return {"eval_accuracy": 0.5, "train_loss": 1.0}

    for module in (
        multilang_training,
        snapshot_averaging,
        merginguriel.training.trainer,
    ):  # fill-missing: the last
        monkeypatch.setattr(module, "train_classifier", fake)
    return seen


def _commands(tmp_path, tiny_base, tiny_data):
    common = ["--dataset-name", str(tiny_data), "--base-model", str(tiny_base)]
    return {
        "train-lolo": (multilang_cmd, ["--exclude", "nl-NL", "--locales", "de-DE,nl-NL", "--lr", "1e-3",
                                       "--models-root", str(tmp_path / "m"), "--no-progress", *common]),
        "fill-missing": (missing_cmd, ["--locales", "de-DE", "--lr", "1e-3", "--models-root", str(tmp_path / "m"),
                                       *common]),
        "snapshot-avg": (snapshot_cmd, ["--source-locales", "de-DE", "--target-lang", "nl-NL", "--seeds", "1",
                                        "--learning-rates", "1e-3", "--output-dir", str(tmp_path / "s"),
                                        "--device", "cpu", "--no-progress", *common]),
        "iterative": (iterative_cmd, ["--target-lang", "af-ZA", "--locales", "de-DE", "--learning-rate", "1e-3",
                                      "--output-dir", str(tmp_path / "i"), "--device", "cpu", "--no-progress",
                                      *common]),
    }  # fmt: skip


@pytest.mark.parametrize("command", ["train-lolo", "fill-missing", "snapshot-avg", "iterative"])
def test_additional_args_are_parsed_once_into_typed_overrides(tmp_path, tiny_base, tiny_data, command):
    module, argv = _commands(tmp_path, tiny_base, tiny_data)[command]
    extra = ["--learning_rate", "5e-5", "--use_lora", "--warmup_ratio", "0.1", "--report_to", "none"]
    args = module.build_parser().parse_args([*argv, "--additional-args", *extra])
    assert args.trainer_overrides == {"learning_rate": 5e-5, "use_lora": True, WARMUP_RATIO_FIELD: 0.1,
                                      "report_to": "none"}  # fmt: skip
    assert module.build_parser().parse_args(argv).trainer_overrides == {}


def test_overrides_reach_the_trainer_and_win(tmp_path, tiny_base, tiny_data, no_training):
    """The command's own ``--lr 1e-3`` loses to ``--additional-args --learning_rate 5e-5`` (the default value)."""
    commands = _commands(tmp_path, tiny_base, tiny_data)
    for name in ("train-lolo", "fill-missing"):
        module, argv = commands[name]
        assert module.main([*argv, "--additional-args", "--learning_rate", "5e-5", "--max_steps", "2"]) == 0
        args = no_training.pop()
        assert args.training.learning_rate == 5e-5 and args.training.max_steps == 2, name
    module, argv = commands["snapshot-avg"]
    config = snapshot_averaging.SnapshotConfig(
        base_model=str(tiny_base), source_locales=["de-DE"], target="nl-NL", output_dir=str(tmp_path / "s"),
        data=DataSelection(str(tiny_data)), seeds=[1], learning_rates=[1e-3],
        training=TrainingOptions(overrides={"learning_rate": 5e-5, "save_strategy": "no"}),
    )  # fmt: skip
    args = snapshot_averaging.SnapshotAveraging(config).run_arguments(
        tmp_path / "s" / "runs" / "run_0", 1, 1e-3
    )
    assert args.training.learning_rate == 5e-5 and str(args.training.save_strategy.value) == "no"
    assert args.extra.keep_checkpoints and args.training.save_only_model


@pytest.mark.parametrize("command", ["train-lolo", "fill-missing", "snapshot-avg", "iterative"])
def test_a_bad_trainer_flag_is_the_commands_error_before_any_training(
    tmp_path, tiny_base, tiny_data, no_training, capsys, command
):
    module, argv = _commands(tmp_path, tiny_base, tiny_data)[command]
    with pytest.raises(SystemExit) as exit_info:
        module.run([*argv, "--additional-args", "--report_to", "none", "--lerning_rate", "1e-3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"usage: {module.build_parser().prog}" in err
    assert "--additional-args (training_bert.py options): unrecognized arguments: --lerning_rate 1e-3" in err
    assert no_training == [] and sorted(p.name for p in tmp_path.iterdir()) == []


def test_fill_missing_dry_run_prints_the_command_it_would_run(tmp_path, tiny_base, tiny_data, capsys):
    root = tmp_path / "models"
    argv = ["--locales", "de-DE,nl-NL", "--models-root", str(root), "--base-model", str(tiny_base),
            "--dataset-name", str(tiny_data), "--epochs", "2", "--fp16", "--dry-run",
            "--additional-args", "--use_lora", "--report_to", "none", "--max_train_samples", "8"]  # fmt: skip
    assert missing_cmd.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("would train")]
    assert len(lines) == 2 and not root.exists()
    training = missing_models.MissingModelTraining(
        base_model=str(tiny_base), models_root=str(root), data=DataSelection(str(tiny_data)), fp16=True,
        training=TrainingOptions(epochs=2.0, overrides={"use_lora": True, "report_to": "none", "max_train_samples": 8}),
    )  # fmt: skip
    for line, loc in zip(lines, ["de-DE", "nl-NL"]):
        prefix = f"would train {loc}: python merginguriel/training_bert.py "
        assert line.startswith(prefix)
        printed = train_cmd.parse_command_line(shlex.split(line[len(prefix) :]))[0]
        assert_same(printed, TrainArguments.from_fields(training.fields(loc)))
        assert printed.model.use_lora and printed.training.fp16 and printed.training.do_eval
