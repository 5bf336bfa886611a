"""``merginguriel demo --generative``: the offline demo flow with a tiny decoder built at demo time; the table holds
the numbers of the results files, and the models, merges and results are generative."""

from __future__ import annotations

import json

import pandas as pd

from merginguriel.cli.commands import demo
from merginguriel.generative.classifier import GenerativeSpec, generative_spec


def test_generative_demo_trains_merges_and_tabulates_decoders(tmp_path, capsys):
    argv = [
        "--generative", "--locales", "af-ZA,nl-NL,de-DE", "--workdir", str(tmp_path), "--epochs", "1",
        "--max-train-samples", "32", "--num-languages", "2", "--modes", "average", "ties",
    ]  # fmt: skip
    assert demo.run(argv) == 0
    base = tmp_path / "pretrained" / "tiny-llama-decoder"
    assert (base / "config.json").is_file() and generative_spec(base) is None  # a plain LM as the base
    models = tmp_path / "haryos_model"
    assert sorted(p.name for p in models.iterdir()) == [
        f"tiny-llama-decoder_massive_k_{loc}" for loc in ("af-ZA", "de-DE", "nl-NL")
    ]
    merged = tmp_path / "merged_models" / "average_merge_af-ZA_2merged"
    assert generative_spec(merged) == GenerativeSpec()
    table = pd.read_csv(tmp_path / "results" / "demo_comparison_af-ZA.csv").set_index("model")
    for mode in ("average", "ties"):
        result = json.loads(
            (tmp_path / "results" / f"{mode}_merge_af-ZA_2merged" / "results.json").read_text()
        )
        assert result["model_info"]["task"] == "generative"
        assert table.loc[f"{mode} merge", "accuracy"] == result["performance"]["accuracy"]
    assert table.loc["af-ZA model", "kind"] == "native" and int(table.loc["af-ZA model", "total"]) == 60
    assert "Comparison on af-ZA test (60 examples)" in capsys.readouterr().out


def test_family_without_generative_is_one_clear_error(tmp_path, capsys):
    assert demo.run(["--family", "qwen2", "--workdir", str(tmp_path)]) == 2
    assert "add --generative" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
