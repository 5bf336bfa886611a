"""Broken model files, for every command that reads a model folder outside ``merge`` (evaluate, ensemble, nxn,
fusion's experts, fusion --load, copy-models): exit status 2, exactly one ``error:`` line naming the file, no
traceback, nothing left in the output roots, and a pickle payload never run."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from merginguriel.cli.commands import copy_models as copy_cmd
from merginguriel.cli.commands import ensemble as ensemble_cmd
from merginguriel.cli.commands import evaluate as evaluate_cmd
from merginguriel.cli.commands import fusion as fusion_cmd
from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.models.paths import model_dir_name
from tests.conftest import HAND_LOCALES
from tests.test_massive_data import ROWS, write_local

BROKEN = "de-DE"  # the locale whose model is broken; the others stay good


class Payload:
    """Unpickling this writes a file: the proof that a pickle checkpoint was (never) loaded."""

    marker: Path

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pickle payload ran"))


def truncated(folder: Path, marker: Path) -> str:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-64])
    return "model.safetensors"


def zero_byte(folder: Path, marker: Path) -> str:
    (folder / "model.safetensors").write_bytes(b"")
    return "model.safetensors"


def pickle_only(folder: Path, marker: Path) -> str:
    (folder / "model.safetensors").unlink()
    payload = Payload()
    payload.marker = marker
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(payload))
    return "pytorch_model.bin"


def invalid_config(folder: Path, marker: Path) -> str:
    name = "fusion_config.json" if (folder / "fusion_config.json").is_file() else "config.json"
    (folder / name).write_text('{"model_type": "xlm-roberta",')
    return name


def no_tokenizer(folder: Path, marker: Path) -> str:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    return "tokenizer"


def non_finite(folder: Path, marker: Path) -> str:
    path = folder / "model.safetensors"
    state = load_file(str(path))
    name = next(k for k in state if k.endswith("query.weight"))
    state[name][0, 0] = float("nan")
    save_file(state, str(path), metadata={"format": "pt"})
    return "non-finite"


def foreign_labels(folder: Path, marker: Path) -> str:
    name = "fusion_config.json" if (folder / "fusion_config.json").is_file() else "config.json"
    config = json.loads((folder / name).read_text())
    config["id2label"] = {str(i): f"topic_{i}" for i in range(len(config["id2label"]))}
    if name == "config.json":
        config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (folder / name).write_text(json.dumps(config))
    return "label"


FAULTS = [truncated, zero_byte, pickle_only, invalid_config, no_tokenizer, non_finite, foreign_labels]


@pytest.fixture()
def setup(tmp_path, locale_models, tiny_base):
    root = locale_models(HAND_LOCALES)
    data = tmp_path / "data"
    for loc in HAND_LOCALES:
        for split in ("train", "dev", "test"):
            write_local(data, loc, split, ROWS)
    sim = tmp_path / "sim.csv"
    sim.write_text(
        "," + ",".join(HAND_LOCALES) + "\n"
        + "\n".join(f"{a}," + ",".join("0" if a == b else "0.5" for b in HAND_LOCALES) for a in HAND_LOCALES)
        + "\n"
    )  # fmt: skip
    return root, data, sim, root / model_dir_name(tiny_base, BROKEN)


def commands(tmp_path: Path, root: Path, data: Path, sim: Path, broken: Path) -> dict:
    out = tmp_path / "out"
    return {
        "evaluate": (evaluate_cmd, ["--model-path", str(broken), "--locale", "af-ZA", "--dataset-name", str(data),
                                    "--results-root", str(out), "--device", "cpu"]),
        "ensemble": (ensemble_cmd, ["--target-lang", "af-ZA", "--source-locales", "de-DE,nl-NL",
                                    "--models-root", str(root), "--base-model", "tiny-xlmr", "--dataset-name",
                                    str(data), "--similarity-matrix", str(sim), "--results-root", str(out),
                                    "--no-cache", "--device", "cpu"]),
        "nxn": (nxn_cmd, ["--models-root", str(root), "--dataset-name", str(data), "--locales", "af-ZA,de-DE",
                          "--output-root", str(out), "--no-cache", "--device", "cpu", "--no-heatmap"]),
        # the experts' heads are dropped by fusion (a new head over the data's intents): no label fault
        "fusion": (fusion_cmd, ["--expert-paths", str(broken), str(root / model_dir_name(Path("tiny-xlmr"), "nl-NL")),
                                "--train-locales", "af-ZA", "--dataset-name", str(data), "--output-dir",
                                str(out / "fusion"), "--epochs", "1", "--batch-size", "4", "--max-seq-length", "16",
                                "--device", "cpu", "--no-progress"]),
    }  # fmt: skip


def check_one_error(captured, named: str, where: str, marker: Path, out: Path) -> None:
    """Exactly one ``error:`` line naming ``where`` and ``named``, no traceback, the pickle never run, nothing
    written under ``out``."""
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in captured.err, captured.err
    assert where in errors[0] and named in errors[0], errors[0]
    assert not marker.exists()  # the pickle was never unpickled
    assert not out.exists() or not any(p for p in out.rglob("*") if p.is_file()), list(out.rglob("*"))


APPLIES = {"evaluate": FAULTS, "ensemble": FAULTS, "nxn": FAULTS, "fusion": FAULTS[:-1]}


@pytest.mark.parametrize(
    ("command", "fault"),
    [(c, f) for c, faults in APPLIES.items() for f in faults],
    ids=[f"{c}-{f.__name__}" for c, faults in APPLIES.items() for f in faults],
)
def test_a_broken_model_folder_is_one_clear_error(tmp_path, setup, command, fault, capsys):
    root, data, sim, broken = setup
    marker = tmp_path / "payload_ran"
    named = fault(broken, marker)
    module, argv = commands(tmp_path, root, data, sim, broken)[command]
    assert module.run(argv) == 2
    check_one_error(capsys.readouterr(), named, str(broken), marker, tmp_path / "out")


@pytest.mark.parametrize("fault", FAULTS[:-1], ids=[f.__name__ for f in FAULTS[:-1]])
def test_copy_models_refuses_a_broken_run(tmp_path, setup, fault, capsys):
    """copy-models reads headers and every tensor (it copies the bytes anyway); it does not read data, so a
    label set is not its concern."""
    root, data, sim, broken = setup
    run = tmp_path / "runs" / "run_de-DE"
    shutil.copytree(broken, run)
    (run / "all_results.json").write_text("{}")
    marker = tmp_path / "payload_ran"
    named = fault(run, marker)
    argv = ["--source-root", str(tmp_path / "runs"), "--runs", "run_de-DE", "--models-root", str(tmp_path / "out"),
            "--base-model", "tiny-xlmr"]  # fmt: skip
    assert copy_cmd.run(argv) == 2
    check_one_error(capsys.readouterr(), named, "run_de-DE", marker, tmp_path / "out")


@pytest.fixture(scope="module")
def fusion_folder(tmp_path_factory, tiny_base) -> tuple[Path, Path]:
    """A saved fusion model (complete folder) of two tiny experts, and its data."""
    from tests.tiny_models import save_locale_model

    work = tmp_path_factory.mktemp("fusion")
    data = work / "data"
    for loc in ("af-ZA", "de-DE"):
        for split in ("train", "dev", "test"):
            write_local(data, loc, split, ROWS)
    experts = [
        save_locale_model(tiny_base, work / "models", loc, seed=i) for i, loc in enumerate(("de-DE", "nl-NL"))
    ]
    argv = ["--expert-paths", *map(str, experts), "--train-locales", "de-DE", "--dataset-name", str(data),
            "--output-dir", str(work / "fusion"), "--epochs", "1", "--batch-size", "4", "--max-seq-length", "16",
            "--device", "cpu", "--no-progress", "--fusion-type", "concatenation"]  # fmt: skip
    assert fusion_cmd.run(argv) == 0
    return work / "fusion" / "complete", data


@pytest.mark.parametrize("fault", FAULTS, ids=[f.__name__ for f in FAULTS])
def test_fusion_load_of_a_broken_folder_is_one_clear_error(tmp_path, fusion_folder, fault, capsys):
    complete, data = fusion_folder
    saved = tmp_path / "saved"
    broken = saved / "complete"
    shutil.copytree(complete, broken)
    before = sorted(p.relative_to(saved) for p in saved.rglob("*"))
    marker = tmp_path / "payload_ran"
    named = fault(broken, marker)
    after_fault = sorted(p.relative_to(saved) for p in saved.rglob("*"))
    argv = ["--load", str(broken), "--eval-locales", "af-ZA", "--dataset-name", str(data), "--device", "cpu",
            "--no-progress"]  # fmt: skip
    assert fusion_cmd.run(argv) == 2
    check_one_error(capsys.readouterr(), named, str(broken), marker, tmp_path / "out")
    assert sorted(p.relative_to(saved) for p in saved.rglob("*")) == after_fault  # no evaluation written
    assert set(after_fault) <= set(before) | {Path("complete/pytorch_model.bin")}


def test_the_payload_would_run_if_unpickled(tmp_path):
    """The check above means something: unpickling the fault's file does run the payload."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    marker = tmp_path / "ran"
    pickle_only(folder, marker)
    pickle.loads((folder / "pytorch_model.bin").read_bytes())  # what an unguarded loader would do
    assert marker.read_text() == "pickle payload ran"
