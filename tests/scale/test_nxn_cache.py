"""NxN evaluation and the logits cache on tiny constant-intent models (see conftest): hand-computed matrix,
one load per model, cache reuse (no load at all), resume filling only missing cells, cache keys."""

import json

import numpy as np
import pandas as pd
import pytest

from merginguriel.cli.commands import nxn as nxn_cmd
from merginguriel.experiments.nxn import NxNConfig, NxNError, read_matrix, run_nxn
from merginguriel.models.evaluation import load_classifier, predict_logits
from merginguriel.models.logits_cache import (
    DataSelection,
    LogitsCache,
    cache_key,
    load_selection,
    model_fingerprint,
)
from merginguriel.models.paths import discover_models
from merginguriel.runtime import Runtime
from tests.scale.conftest import LOCALES

# hand-computed: share of each locale's rows whose intent is the model's constant intent (6 rows each)
EXPECTED = (
    pd.DataFrame([[2, 1, 1, 2], [1, 3, 1, 2], [3, 2, 4, 2], [1, 3, 1, 2]], index=LOCALES, columns=LOCALES) / 6
)


class CountingLoader:
    def __init__(self):
        self.calls = []

    def __call__(self, path, device):
        self.calls.append(str(path))
        return load_classifier(path, device)


def test_nxn_matrix_one_load_per_model_and_cache_reuse(tmp_path, scale_models, tiny_dataset):
    models = discover_models(scale_models)
    assert sorted(models) == sorted(LOCALES)
    cache = LogitsCache(tmp_path / "cache")
    config = NxNConfig(DataSelection(str(tiny_dataset), split="test"), Runtime(batch_size=4))
    loader = CountingLoader()
    run = run_nxn(
        models, LOCALES, config, tmp_path / "run1", cache, loader=loader, progress=False, heatmap=False
    )
    assert sorted(loader.calls) == sorted(str(p) for p in models.values())  # each model loaded exactly once
    assert run.forward_passes == 16 and run.cells_from_cache == 0
    written = read_matrix(tmp_path / "run1" / "evaluation_matrix.csv")
    pd.testing.assert_frame_equal(written.loc[LOCALES, LOCALES], EXPECTED, check_exact=False, atol=1e-6)
    assert json.loads((tmp_path / "run1" / "nxn_config.json").read_text())["data"]["split"] == "test"

    # a fresh run over the same cache: no model is loaded, no forward pass
    loader2 = CountingLoader()
    run2 = run_nxn(
        models, LOCALES, config, tmp_path / "run2", cache, loader=loader2, progress=False, heatmap=False
    )
    assert loader2.calls == [] and run2.forward_passes == 0 and run2.cells_from_cache == 16
    pd.testing.assert_frame_equal(run2.accuracy, run.accuracy)

    # cached logits are the model's float32 logits rounded to float16
    split = load_selection(config.selection("af-ZA"))
    path = models["nl-NL"]
    entry = cache.load(split.selection, cache_key(model_fingerprint(path), split.selection, split.digest))
    model, tok = load_classifier(path)
    direct = predict_logits(model, tok, split.texts, batch_size=2, progress=False)
    np.testing.assert_allclose(entry.logits, direct, atol=1e-2)
    assert entry.labels[48] == "alarm_set" and list(entry.gold) == list(split.gold)


def test_resume_fills_only_missing_cells(tmp_path, scale_models, tiny_dataset):
    found = discover_models(scale_models)
    models = {loc: found[loc] for loc in ("af-ZA", "nl-NL")}
    config = NxNConfig(DataSelection(str(tiny_dataset), split="test"))
    out = tmp_path / "run"
    run_nxn(models, ["af-ZA", "de-DE"], config, out, cache=None, progress=False, heatmap=False)
    loader = CountingLoader()
    run = run_nxn(
        models, LOCALES, config, out, cache=None, resume=True, loader=loader, progress=False, heatmap=False
    )
    assert run.cells_reused == 4 and run.forward_passes == 4  # only the nl-NL and en-US columns
    assert len(loader.calls) == 2
    expected = EXPECTED.loc[["af-ZA", "nl-NL"], LOCALES]
    pd.testing.assert_frame_equal(
        run.accuracy.loc[["af-ZA", "nl-NL"], LOCALES], expected, check_exact=False, atol=1e-9
    )
    # nothing left: resuming again loads nothing
    loader = CountingLoader()
    run = run_nxn(
        models, LOCALES, config, out, cache=None, resume=True, loader=loader, progress=False, heatmap=False
    )
    assert loader.calls == [] and run.forward_passes == 0
    with pytest.raises(NxNError, match="data settings"):
        run_nxn(
            models,
            LOCALES,
            NxNConfig(DataSelection(str(tiny_dataset), split="validation")),
            out,
            resume=True,
            progress=False,
        )


def test_cache_key_covers_model_content_and_data_selection(tmp_path, scale_models, tiny_dataset):
    import shutil

    src = discover_models(scale_models)["de-DE"]
    model_dir = tmp_path / src.name
    shutil.copytree(src, model_dir)
    sel = DataSelection(str(tiny_dataset), "af-ZA", "test")
    split = load_selection(sel)
    fp = model_fingerprint(model_dir)
    base = cache_key(fp, sel, split.digest)
    assert cache_key(fp, DataSelection(str(tiny_dataset), "af-ZA", "dev"), split.digest) != base
    assert (
        cache_key(fp, DataSelection(str(tiny_dataset), "af-ZA", "test", max_samples=3), split.digest) != base
    )
    assert (
        cache_key(fp, DataSelection(str(tiny_dataset), "af-ZA", "test", max_seq_length=64), split.digest)
        != base
    )
    assert (
        cache_key(fp, DataSelection(str(tiny_dataset), "af-ZA", "test", text_column="x"), split.digest)
        != base
    )
    assert cache_key(fp, sel, "other rows") != base
    # "validation" and its alias "dev" are the same selection
    assert cache_key(fp, DataSelection(str(tiny_dataset), "af-ZA", "dev"), "d") == cache_key(
        fp, DataSelection(str(tiny_dataset), "af-ZA", "validation"), "d"
    )
    # same content elsewhere -> same fingerprint; changed weights -> new fingerprint
    assert fp == model_fingerprint(src)
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert model_fingerprint(model_dir) != fp


def test_cli_lists_locales_and_resumes_latest(tmp_path, scale_models, tiny_dataset, capsys):
    assert nxn_cmd.run(["--models-root", str(scale_models), "--list-locales"]) == 0
    assert sorted(line.split()[0] for line in capsys.readouterr().out.splitlines()) == sorted(LOCALES)
    common = [
        "--models-root",
        str(scale_models),
        "--dataset-name",
        str(tiny_dataset),
        "--locales",
        "af-ZA,nl-NL",
        "--output-root",
        str(tmp_path / "nxn"),
        "--logits-cache",
        str(tmp_path / "cache"),
    ]
    assert nxn_cmd.run(common) == 0
    assert "forward passes: 4" in capsys.readouterr().out
    assert nxn_cmd.run([*common, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "models loaded: 0  forward passes: 0" in out and "cells kept from the earlier run: 4" in out
    (run_dir,) = (tmp_path / "nxn").iterdir()
    m = read_matrix(run_dir / "evaluation_matrix.csv")
    assert (run_dir / "evaluation_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert m.at["nl-NL", "af-ZA"] == pytest.approx(3 / 6) and m.at["af-ZA", "nl-NL"] == pytest.approx(1 / 6)
    assert nxn_cmd.run([*common[:2], "--locales", "fr-FR"]) == 2
    assert "No model under" in capsys.readouterr().err


def test_resume_keeps_unrequested_cells_and_recomputes_a_changed_model(tmp_path, scale_models, tiny_dataset):
    import shutil

    found = discover_models(scale_models)
    models = {loc: tmp_path / "models" / found[loc].name for loc in LOCALES}
    for loc in LOCALES:
        shutil.copytree(found[loc], models[loc])
    config = NxNConfig(DataSelection(str(tiny_dataset), split="test"))
    cache = LogitsCache(tmp_path / "cache")
    out = tmp_path / "run"
    run_nxn(models, LOCALES, config, out, cache, progress=False, heatmap=False)
    # resuming with a subset of rows and columns computes nothing and drops nothing from the matrix
    sub = {loc: models[loc] for loc in ("af-ZA", "nl-NL")}
    run = run_nxn(sub, ["af-ZA"], config, out, cache, resume=True, progress=False, heatmap=False)
    assert run.forward_passes == 0 and run.cells_from_cache == 0 and run.cells_reused == 2
    kept = read_matrix(out / "evaluation_matrix.csv")
    assert kept.shape == (4, 4) and not kept.isna().any().any()
    pd.testing.assert_frame_equal(kept.loc[LOCALES, LOCALES], EXPECTED, check_exact=False, atol=1e-6)
    recorded = json.loads((out / "nxn_config.json").read_text())
    assert sorted(recorded["models"]) == sorted(LOCALES) and sorted(recorded["model_fingerprints"]) == sorted(
        LOCALES
    )

    # de-DE's model is replaced by the nl-NL one (now predicts weather_query): its whole row is stale
    shutil.rmtree(models["de-DE"])
    shutil.copytree(found["nl-NL"], models["de-DE"])
    loader = CountingLoader()
    run = run_nxn(
        models, LOCALES, config, out, cache, resume=True, loader=loader, progress=False, heatmap=False
    )
    assert run.rows_invalidated == ["de-DE"]
    # the new content's logits are already cached (it is nl-NL's model): no load, four cells from the cache
    assert loader.calls == [] and run.cells_from_cache == 4 and run.cells_reused == 12
    pd.testing.assert_series_equal(
        run.accuracy.loc["de-DE", LOCALES], EXPECTED.loc["nl-NL", LOCALES], check_names=False, atol=1e-6
    )
    # the same content at another path is not stale (fingerprints decide when there is a cache) ...
    other = dict(models, **{"af-ZA": found["af-ZA"]})
    run = run_nxn(other, LOCALES, config, out, cache, resume=True, progress=False, heatmap=False)
    assert run.rows_invalidated == [] and run.forward_passes == 0 and run.cells_from_cache == 0
    # ... without a cache, another path is all there is to compare: the row is recomputed
    out2 = tmp_path / "run2"
    run_nxn(models, ["af-ZA"], config, out2, None, progress=False, heatmap=False)
    run = run_nxn(other, ["af-ZA"], config, out2, None, resume=True, progress=False, heatmap=False)
    assert run.rows_invalidated == ["af-ZA"] and run.forward_passes == 1


def test_cli_takes_space_separated_locales(tmp_path, scale_models, tiny_dataset, capsys):
    argv = [
        "--models-root",
        str(scale_models),
        "--dataset-name",
        str(tiny_dataset),
        "--locales",
        "af-ZA",
        "nl-NL",
        "--eval-locales",
        "de-DE",
        "en-US,af-ZA",
        "--output-root",
        str(tmp_path / "nxn"),
        "--no-cache",
        "--no-heatmap",
        "--no-progress",
    ]
    assert nxn_cmd.run(argv) == 0
    assert "forward passes: 6" in capsys.readouterr().out
    (run_dir,) = (tmp_path / "nxn").iterdir()
    m = read_matrix(run_dir / "evaluation_matrix.csv")
    assert list(m.index) == ["af-ZA", "nl-NL"] and list(m.columns) == ["de-DE", "en-US", "af-ZA"]
    assert m.at["nl-NL", "de-DE"] == pytest.approx(2 / 6)


def test_cli_resume_latest_takes_the_latest_run_on_the_same_split(
    tmp_path, scale_models, tiny_dataset, capsys
):
    common = [
        "--models-root",
        str(scale_models),
        "--dataset-name",
        str(tiny_dataset),
        "--locales",
        "af-ZA",
        "nl-NL",
        "--output-root",
        str(tmp_path / "nxn"),
        "--logits-cache",
        str(tmp_path / "cache"),
        "--no-heatmap",
        "--no-progress",
    ]
    assert nxn_cmd.run(common) == 0  # test split
    assert nxn_cmd.run([*common, "--split", "dev"]) == 0  # a newer run on the validation split
    capsys.readouterr()
    assert nxn_cmd.run([*common, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "forward passes: 0" in out and "cells kept from the earlier run: 4" in out
    test_run = sorted((tmp_path / "nxn").iterdir())[0]
    assert f"matrix: {test_run / 'evaluation_matrix.csv'}" in out
    assert nxn_cmd.run([*common, "--resume", "--max-samples", "2"]) == 2
    assert "Nothing to resume" in capsys.readouterr().err
