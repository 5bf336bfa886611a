"""GRPO (``train --task generative --objective grpo``, TRL's GRPOTrainer) on a tiny Llama: the rewards against a
hand reading of token ids, the reward rising on a toy two-intent task from a supervised checkpoint, the saved model
scoring like any generative model, and the errors before any work."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer, TrainerCallback

from merginguriel.cli.commands import train as train_cmd
from merginguriel.generative.classifier import GenerativeSpec, PromptTokenizer, generative_spec
from merginguriel.generative.tiny import build_tiny_decoder
from merginguriel.training.grpo import completion_label, reward_functions
from tests.training.test_trainer import train

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("trl") is None, reason="TRL not installed (the rl extra)"
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset folder with a two-intent de-DE task, tiny Llama base)."""
    root = tmp_path_factory.mktemp("grpo")
    alarm = [f"wake me up at {w}" for w in "seven eight nine ten six five four three".split()]
    music = [f"play some {w} music" for w in "jazz rock pop classical folk metal blues soul".split()]
    rows = [{"utt": t, "intent": "alarm_set"} for t in alarm] + [
        {"utt": t, "intent": "play_music"} for t in music
    ]
    (root / "toy" / "de-DE").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (root / "toy" / "de-DE" / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "toy", build_tiny_decoder(root / "base", "llama", seed=1, hidden=64)


def argv(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["--task", "generative", "--model_name_or_path", str(model), "--dataset_name", str(data),
            "--dataset_config_name", "de-DE", "--output_dir", str(out), "--do_train", "--report_to", "none",
            "--disable_tqdm", "true", "--max_seq_length", "32", "--seed", "0", *extra]  # fmt: skip


def test_rewards_read_the_completion_token_ids(toy) -> None:
    tok = PromptTokenizer(AutoTokenizer.from_pretrained(toy[1]), GenerativeSpec())
    alarm = tok.spec.labels.index("alarm_set")
    music = tok.spec.labels.index("play_music")
    gold = tok.label_sequences[alarm]  # label tokens + EOS
    completions = [
        gold,  # right
        [*gold, tok.pad_id, tok.pad_id],  # right, padded after EOS
        tok.label_sequences[music],  # a label, the wrong one
        gold[:-1],  # no EOS: not finished, not a label
        [gold[0], tok.eos_id],  # a prefix of the label
        [*gold[:-1], gold[0], tok.eos_id],  # label then more tokens
    ]
    assert [completion_label(c, tok) for c in completions] == [alarm, alarm, music, None, None, None]
    correct, well_formed = reward_functions(tok, 0.25)
    assert correct(completion_ids=completions, label_index=[alarm] * 6) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert well_formed(completion_ids=completions) == [0.25, 0.25, 0.25, 0.0, 0.0, 0.0]
    assert len(reward_functions(tok, 0.0)) == 1  # no format reward: one function


class Rewards(TrainerCallback):
    def __init__(self) -> None:
        self.correct: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "rewards/correct_label/mean" in logs:
            self.correct.append(float(logs["rewards/correct_label/mean"]))


def test_the_reward_rises_from_a_supervised_checkpoint(toy, tmp_path) -> None:
    data, base = toy
    sft = tmp_path / "sft"
    assert train_cmd.run([*argv(data, base, sft), "--max_steps", "50", "--per_device_train_batch_size", "8",
                          "--learning_rate", "3e-3", "--logging_strategy", "no"]) == 0  # fmt: skip
    rewards = Rewards()
    out = tmp_path / "grpo"
    metrics = train(
        [*argv(data, sft, out), "--objective", "grpo", "--max_steps", "60", "--per_device_train_batch_size", "16",
         "--grpo_num_generations", "8", "--learning_rate", "1e-2", "--logging_steps", "1", "--do_eval"],
        callbacks=[rewards],
    )  # fmt: skip
    assert len(rewards.correct) == 60
    first, last = sum(rewards.correct[:10]) / 10, sum(rewards.correct[-10:]) / 10
    assert last > first + 0.15, (first, last, rewards.correct)
    # the saved model is a generative intent model like any other: marker kept, dev scored by label scoring
    assert generative_spec(out) == GenerativeSpec()
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    meta = json.loads((out / "run_metadata.json").read_text())
    assert meta["objective"] == "grpo"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--grpo_num_generations", "3"), "multiple of --grpo_num_generations (3)"),
        (("--grpo_num_generations", "1"), "at least 2"),
    ],
)
def test_grpo_errors_come_before_any_work(toy, tmp_path, capsys, extra, message) -> None:
    out = tmp_path / "bad"
    assert (
        train_cmd.run([*argv(*toy, out), "--objective", "grpo", "--per_device_train_batch_size", "8", *extra])
        == 2
    )
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not out.exists()


def test_grpo_on_an_encoder_is_one_clear_error(tiny_base, tmp_path, capsys) -> None:
    out = tmp_path / "enc"
    args = ["--model_name_or_path", str(tiny_base), "--dataset_name", "builtin", "--dataset_config_name", "de-DE",
            "--output_dir", str(out), "--do_train", "--objective", "grpo"]  # fmt: skip
    assert train_cmd.run(args) == 2
    assert "--task generative" in capsys.readouterr().err and not out.exists()
