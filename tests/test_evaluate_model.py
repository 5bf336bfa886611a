"""evaluate_model on a tiny model whose prediction we control: a huge bias on one label makes it predict
that label for every text, so accuracy must equal that label's share of the gold labels (by hand)."""

import json

import torch
from safetensors.torch import load_file, save_file

from merginguriel.cli.commands import evaluate as evaluate_cmd
from merginguriel.data.labels import LABEL2ID
from merginguriel.models.paths import model_dir_name
from tests.test_massive_data import write_local


def force_label(model_dir, label: str) -> None:
    path = model_dir / "model.safetensors"
    state = load_file(str(path))
    bias = torch.zeros_like(state["classifier.out_proj.bias"])
    bias[LABEL2ID[label]] = 1000.0
    state["classifier.out_proj.bias"] = bias
    save_file(state, str(path), metadata={"format": "pt"})


def test_evaluate_accuracy_matches_hand_count(tmp_path, locale_models, tiny_base, capsys):
    root = locale_models(["de-DE"])
    model_dir = root / model_dir_name(tiny_base, "de-DE")
    force_label(model_dir, "weather_query")
    data = write_local(tmp_path / "data")  # 3 rows: alarm_set, weather_query, qa_currency
    code = evaluate_cmd.run(
        [
            "--model-path",
            str(model_dir),
            "--locale",
            "de-DE",
            "--dataset-name",
            str(data),
            "--results-root",
            str(tmp_path / "results"),
            "--output-name",
            "ev",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    results = json.loads((tmp_path / "results" / "ev" / "results.json").read_text())
    perf = results["performance"]
    assert perf["correct"] == 1 and perf["total"] == 3
    assert perf["accuracy"] == 1 / 3
    # macro-F1 over the 3 labels present: weather p=1/3 r=1 -> 0.5, the others 0
    assert abs(perf["macro_f1"] - 0.5 / 3) < 1e-9
    assert results["dataset_info"]["locale"] == "de-DE" and results["dataset_info"]["num_examples"] == 3
    assert results["examples"][1] == {
        "text": "regnet es",
        "true_label": "weather_query",
        "predicted_label": "weather_query",
        "correct": True,
    }
    assert "accuracy 0.3333" in capsys.readouterr().out
    # a second run refuses to overwrite
    assert (
        evaluate_cmd.run(
            [
                "--model-path",
                str(model_dir),
                "--locale",
                "de-DE",
                "--dataset-name",
                str(data),
                "--results-root",
                str(tmp_path / "results"),
                "--output-name",
                "ev",
            ]
        )
        == 2
    )
