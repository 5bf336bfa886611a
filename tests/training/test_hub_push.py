"""``--push-to-hub REPO_ID`` / ``--hub-private`` of train and fusion with the upload mocked (no network): the
finished folder is uploaded once, complete and with its card; offline or unauthenticated is one clear error
(exit 2) before any work. The trained model's card is parsed back."""

import pytest
from huggingface_hub import ModelCard

from merginguriel.cli.commands import fusion as fusion_cmd
from merginguriel.cli.commands import train as train_cmd
from merginguriel.outputs import hub
from tests.training.conftest import quick_args


class FakeApi:
    calls: list = []

    def create_repo(self, repo_id, private=False, exist_ok=False, repo_type=None):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def upload_folder(self, repo_id, folder_path, repo_type=None, commit_message=None):
        from pathlib import Path

        files = sorted(p.name for p in Path(folder_path).iterdir())
        self.calls.append(("upload_folder", repo_id, str(folder_path), files))
        return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/1"})()


@pytest.fixture()
def online(monkeypatch):
    FakeApi.calls = []
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: "hf_test")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return FakeApi.calls


def test_train_pushes_the_finished_folder_with_its_card(tmp_path, tiny_base, tiny_data, online, capsys):
    out = tmp_path / "model"
    argv = quick_args(tiny_base, tiny_data, "de-DE", out, "--max_steps", "2", "--do_eval",
                      "--push-to-hub", "me/tiny-de", "--hub-private")  # fmt: skip
    assert train_cmd.run(argv) == 0
    assert online[0] == ("create_repo", "me/tiny-de", True, True)
    (upload,) = [c for c in online if c[0] == "upload_folder"]
    assert upload[2] == str(out) and {"COMPLETE", "README.md", "config.json", "model.safetensors"} <= set(
        upload[3]
    )
    assert "pushed" in capsys.readouterr().out
    card = ModelCard.load(out / "README.md")
    assert card.data.language == ["de"] and card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "text-classification" and card.data.datasets == ["AmazonScience/massive"]
    assert card.data.base_model is None  # a local base model: named in the text, with its hash
    assert f"{tiny_base.name} (local, sha256 " in card.text and str(tmp_path) not in str(card)
    (result,) = [r for r in card.data.eval_results if r.metric_type == "accuracy"]
    assert result.dataset_config == "de-DE" and result.dataset_split == "validation"
    assert result.dataset_type == tiny_data.name


def test_trainer_flag_spelling_is_the_same_flag(tmp_path, tiny_base, tiny_data):
    args, hub_args = train_cmd.parse_command_line(
        quick_args(tiny_base, tiny_data, "de-DE", tmp_path / "m", "--push_to_hub", "me/x")
    )
    assert (
        hub_args.push_to_hub_repo == "me/x" and args.training.push_to_hub is False
    )  # never pushed mid-training
    assert "push_to_hub_repo" not in train_cmd.explicit_fields(["--push-to-hub", "me/x"])


@pytest.mark.parametrize(
    ("offline", "token", "message"),
    [("1", "hf_test", "the hub is offline (HF_HUB_OFFLINE=1)"), ("0", None, "not logged in")],
)
def test_offline_or_unauthenticated_fails_before_training(
    tmp_path, tiny_base, tiny_data, monkeypatch, capsys, offline, token, message
):
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: token)
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    out = tmp_path / "model"
    assert train_cmd.run(quick_args(tiny_base, tiny_data, "de-DE", out, "--push-to-hub", "me/x")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --push-to-hub me/x: ") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_an_incomplete_folder_is_never_pushed(tmp_path, online):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(hub.HubError, match="not a complete model folder"):
        hub.push_folder(tmp_path, "me/x")
    assert online == []


def test_a_failed_upload_is_one_line(tmp_path, online, monkeypatch):
    (tmp_path / "COMPLETE").write_text("complete\n")

    def refuse(self, **kw):
        raise OSError("403 Forbidden\nmore detail")

    monkeypatch.setattr(FakeApi, "upload_folder", refuse)
    with pytest.raises(hub.HubError, match=r"failed \(OSError: 403 Forbidden\); the folder is kept") as exc:
        hub.push_folder(tmp_path, "me/x")
    assert "\n" not in str(exc.value)


def test_fusion_pushes_the_complete_model_with_its_evaluated_card(
    tmp_path, tiny_base, tiny_data, locale_models, online
):
    root = locale_models(["de-DE", "nl-NL"])
    out = tmp_path / "fusion"
    rc = fusion_cmd.run([
        "--experts", "de-DE,nl-NL", "--models-root", str(root), "--base-model", str(tiny_base),
        "--dataset-name", str(tiny_data), "--fusion-type", "concatenation", "--epochs", "1", "--batch-size", "8",
        "--max-seq-length", "32", "--max-eval-samples", "4", "--output-dir", str(out), "--eval-locales", "af-ZA",
        "--device", "cpu", "--no-progress", "--push-to-hub", "me/fused",
    ])  # fmt: skip
    assert rc == 0
    (upload,) = [c for c in online if c[0] == "upload_folder"]
    assert upload[2] == str(out / "complete") and "README.md" in upload[3]
    card = ModelCard.load(out / "complete" / "README.md")
    assert card.data.language == ["de", "nl"] and {"fusion", "concatenation"} <= set(card.data.tags)
    (acc,) = [r for r in card.data.eval_results if r.metric_type == "accuracy"]
    assert acc.dataset_config == "af-ZA" and acc.dataset_split == "test"
    assert "tiny-xlmr_massive_k_de-DE (local, sha256 " in card.text and str(tmp_path) not in str(card)
