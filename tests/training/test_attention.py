"""What a training run records about itself: ``--attn_implementation`` (the fallback chain flash_attention_2 →
sdpa → eager, the reason logged in one line, what ran recorded in run_metadata.json, the model built with it)
and every argument as JSON and text beside the model."""

from __future__ import annotations

import logging

import pytest
from transformers import TrainerCallback

from merginguriel.errors import UserError
from merginguriel.training import attention as attn
from merginguriel.training.attention import resolve_attention
from tests.training.conftest import quick_args, read_json
from tests.training.test_trainer import train


class Full:
    __name__ = "Full"
    _supports_sdpa = True
    _supports_flash_attn = True


class EagerOnly:
    __name__ = "EagerOnly"


@pytest.mark.parametrize(
    ("asked", "cls", "cuda", "flash_installed", "used", "reason"),
    [
        ("flash_attention_2", Full, False, True, "sdpa", "flash_attention_2 needs a CUDA device"),
        ("flash_attention_2", Full, True, False, "sdpa", "the flash_attn package is not installed"),
        ("flash_attention_2", Full, True, True, "flash_attention_2", ""),
        (
            "flash_attention_2",
            EagerOnly,
            True,
            True,
            "eager",
            "has no flash-attention implementation; EagerOnly has no sdpa",
        ),
        ("sdpa", EagerOnly, False, False, "eager", "EagerOnly has no sdpa implementation"),
        ("sdpa", Full, False, False, "sdpa", ""),
        ("eager", Full, True, True, "eager", ""),
        ("auto", Full, False, False, "sdpa", "flash_attention_2 needs a CUDA device"),
        ("auto", Full, True, True, "flash_attention_2", ""),
    ],
)
def test_the_fallback_chain(monkeypatch, asked, cls, cuda, flash_installed, used, reason) -> None:
    monkeypatch.setattr(attn.importlib.util, "find_spec", lambda name: object() if flash_installed else None)
    choice = resolve_attention(asked, cls, cuda)
    assert (choice.asked, choice.used) == (asked, used)
    assert reason in choice.reason and (bool(choice.reason) == bool(reason))


def test_an_unknown_implementation_is_a_user_error() -> None:
    with pytest.raises(UserError, match="is not one of auto, eager, sdpa, flash_attention_2"):
        resolve_attention("flash3", Full, True)


@pytest.mark.parametrize(("asked", "used"), [("flash_attention_2", "sdpa"), ("eager", "eager")])
def test_a_run_records_and_uses_what_ran(tiny_base, tiny_data, tmp_path, caplog, asked, used) -> None:
    seen = {}

    class Capture(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen["impl"] = model.config._attn_implementation

    out = tmp_path / "out"
    caplog.set_level(logging.INFO, logger="merginguriel.training")
    train(quick_args(tiny_base, tiny_data, "de-DE", out, "--max_steps", "1", "--attn_implementation", asked),
          callbacks=[Capture()])  # fmt: skip
    assert seen["impl"] == used
    meta = read_json(out / "run_metadata.json")
    assert meta["attention"]["asked"] == asked and meta["attention"]["used"] == used
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attention:")]
    assert len(lines) == 1 and f"asked {asked}, running {used}" in lines[0]


def test_every_argument_is_written_as_json_and_text(tiny_base, tiny_data, tmp_path) -> None:
    out = tmp_path / "out"
    train(
        quick_args(tiny_base, tiny_data, "de-DE", out, "--max_steps", "1", "--attn_implementation", "eager")
    )
    config = read_json(out / "training_config.json")
    lines = (out / "training_config.txt").read_text().splitlines()
    assert 'model_arguments.attn_implementation = "eager"' in lines
    assert f"training_arguments.learning_rate = {config['training_arguments']['learning_rate']}" in lines
    count = sum(len(v) if isinstance(v, dict) else 1 for v in config.values())
    assert len(lines) == count  # one line per argument, nothing left out
    assert "training_config.txt" in (out / "README.md").read_text()
