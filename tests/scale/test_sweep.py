"""Sweeps on constant-intent models: hand-computed results, keys and skip-on-rerun, presets, a recorded
failure, cleanup, the submitit path (debug executor), and a sweep SIGKILLed mid-way then rerun."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from merginguriel.cli.commands import sweep as sweep_cmd
from merginguriel.experiments.sweep import (
    SlurmOptions,
    build_specs,
    parse_mem_gb,
    parse_slurm_time,
    read_state,
    resolve_preset,
    run_slurm,
    summarize,
)

REPO = Path(__file__).resolve().parents[2]


def sweep_args(root, models, data, sim, *extra):
    return [
        "--models-root",
        str(models),
        "--base-model",
        "tiny-xlmr",
        "--dataset-name",
        str(data),
        "--similarity-matrix",
        str(sim),
        "--results-root",
        str(root / "results"),
        "--merged-models-root",
        str(root / "merged"),
        "--logits-cache",
        str(root / "cache"),
        "--num-languages",
        "3",
        "--no-progress",
        *extra,
    ]


def perf(root, name):
    return json.loads((root / "results" / name / "results.json").read_text())


def final_results(root):
    """name -> (accuracy, correct, key) for every results.json under root/results."""
    out = {}
    for path in sorted((root / "results").glob("*/results.json")):
        data = json.loads(path.read_text())
        out[path.parent.name] = (
            data["performance"]["accuracy"],
            data["performance"]["correct"],
            data["experiment"]["key"],
        )
    return out


# hand-computed (see conftest): af-ZA sources nl .6 (weather) / de .3 (play) / en .1 (play);
# de-DE sources nl .5 (weather) / af .3 (alarm) / en .2 (play)
EXPECTED = {
    "baseline_af-ZA": 2 / 6,
    "similarity_merge_af-ZA_3merged": 3 / 6,  # merged bias 6 weather vs 4 play
    "ensemble_majority_af-ZA_3src": 1 / 6,  # two votes play_music
    "ensemble_weighted_majority_af-ZA_3src": 3 / 6,
    "baseline_de-DE": 3 / 6,
    "similarity_merge_de-DE_3merged": 2 / 6,  # 5 weather vs 3 alarm vs 2 play
    "ensemble_majority_de-DE_3src": 2 / 6,  # 1-1-1 tie -> most similar nl-NL: weather
    "ensemble_weighted_majority_de-DE_3src": 2 / 6,
}
MODES = ["baseline", "similarity", "ensemble_majority", "ensemble_weighted_majority"]


def test_sweep_results_resume_failures_and_cleanup(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    argv = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "af-ZA",
        "de-DE",
        "--modes",
        *MODES,
        "frobnicate",
        "--cleanup-after-eval",
    )
    assert sweep_cmd.run(argv) == 1  # one mode fails -> non-zero exit, the rest done
    out = capsys.readouterr().out
    assert "8 succeeded, 0 skipped (finished before), 2 failed, of 10" in out
    assert "FAILED frobnicate_af-ZA" in out and "not available" in out
    got = {name: perf(tmp_path, name)["performance"]["accuracy"] for name in EXPECTED}
    assert got == pytest.approx(EXPECTED)
    details = json.loads(
        (tmp_path / "results" / "similarity_merge_af-ZA_3merged" / "merge_details.json").read_text()
    )
    from tests.test_merge_pipeline import OPTION_KEYS

    assert set(details["options"]) == OPTION_KEYS and details["options"]["command"] == "sweep"
    assert (
        details["options"]["context"]["experiment_key"]
        == perf(tmp_path, "similarity_merge_af-ZA_3merged")["experiment"]["key"]
    )
    assert [(s["locale"], round(s["weight"], 6)) for s in details["sources"]] == [
        ("nl-NL", 0.6),
        ("de-DE", 0.3),
        ("en-US", 0.1),
    ]
    merged = tmp_path / "merged" / "similarity_merge_af-ZA_3merged"
    assert not list(merged.glob("*.safetensors")) and (merged / "merge_details.json").is_file()
    state = read_state(tmp_path / "results" / "sweep_sweep" / "state.jsonl")
    assert sorted(r["status"] for r in state) == ["failed"] * 2 + ["success"] * 8
    assert all("not available" in r["error"] for r in state if r["status"] == "failed")

    # rerun: everything finished is skipped (same keys), nothing recomputed
    before = final_results(tmp_path)
    assert sweep_cmd.run(argv[:-1]) == 1  # --cleanup-after-eval does not change results, so not the key
    assert "0 succeeded, 8 skipped" in capsys.readouterr().out
    assert final_results(tmp_path) == before

    # a typo of a known mode is a user error, not a recorded failure
    assert sweep_cmd.run([*argv[:-2], "--modes", "similarty"]) == 2
    assert "Did you mean 'similarity'" in capsys.readouterr().err
    # a changed option (fewer eval rows) changes the keys: nothing is mistaken for finished
    small = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "af-ZA",
        "--modes",
        "baseline",
        "similarity",
        "--max-eval-samples",
        "3",
    )
    assert sweep_cmd.run(small) == 0
    assert "2 succeeded, 0 skipped" in capsys.readouterr().out
    after = final_results(tmp_path)
    for name in ("baseline_af-ZA", "similarity_merge_af-ZA_3merged"):
        assert after[name][2] != before[name][2]
    # first 3 af-ZA rows: alarm, alarm, play
    assert after["baseline_af-ZA"][:2] == (pytest.approx(2 / 3), 2)
    assert after["similarity_merge_af-ZA_3merged"][:2] == (0.0, 0)


def test_presets_set_flags_and_keys(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    assert resolve_preset("fairness", None, None) == {
        "preset": "fairness",
        "fisher_data": "sources",
        "preweight": "equal",
    }
    assert resolve_preset("target", None, "equal")["preweight"] == "equal"  # explicit flag wins
    assert resolve_preset(None, None, None) == {"preset": None, "fisher_data": None, "preweight": "uriel"}
    argv = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "af-ZA",
        "--modes",
        "similarity",
        "baseline",
    )
    assert sweep_cmd.run(argv) == 0
    assert sweep_cmd.run([*argv, "--preset", "fairness"]) == 0
    capsys.readouterr()
    plain = perf(tmp_path, "similarity_merge_af-ZA_3merged")
    fair = perf(tmp_path, "similarity_merge_af-ZA_3merged_fairness")
    # equal pre-weights: 10/3 each for weather, play, play -> play_music wins: 1/6
    assert fair["performance"]["accuracy"] == pytest.approx(1 / 6)
    assert plain["performance"]["accuracy"] == pytest.approx(3 / 6)
    assert fair["experiment"]["key"] != plain["experiment"]["key"]
    assert fair["experiment"]["options"]["fisher_data"] == "sources"
    assert fair["experiment"]["preset"] == "fairness"
    assert [round(s["weight"], 6) for s in fair["merge_details"]["sources"]] == [0.333333] * 3
    assert not (tmp_path / "results" / "baseline_af-ZA_fairness").exists()  # baseline does not use presets


def test_data_aware_mode_gets_statistics_options_from_presets(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    base = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "af-ZA",
        "--modes",
        "fisher_dataset",
        "--num-fisher-examples",
        "2",
        "--fisher-estimator",
        "empirical",
        "--statistics-cache",
        str(tmp_path / "stats"),
    )
    assert sweep_cmd.run([*base, "--preset", "fairness"]) == 0, capsys.readouterr().out
    assert sweep_cmd.run([*base, "--preset", "target"]) == 0, capsys.readouterr().out
    fair = perf(tmp_path, "fisher_dataset_merge_af-ZA_3merged_fairness")["experiment"]["options"]
    target = perf(tmp_path, "fisher_dataset_merge_af-ZA_3merged_target")["experiment"]["options"]
    assert fair["statistics"]["data_mode"] == "sources" and target["statistics"]["data_mode"] == "target"
    assert fair["statistics"]["num_examples"] == 2 and fair["preweight"] == "equal"
    assert fair["plan_key"] != target["plan_key"]


def submitit_sweep(argv, slurm: SlurmOptions) -> dict:
    """The sweep of ``argv`` submitted through submitit's executor ``slurm.cluster`` (the same job function
    a Slurm array task runs, executed on this machine); its summary."""
    args = sweep_cmd.build_parser().parse_args(argv)
    options = sweep_cmd.options_from_args(args, args.modes)
    specs = build_specs(args.locales, args.modes, options)
    return summarize(run_slurm(specs, slurm, progress=False))


def test_slurm_launcher_through_submitit_debug_executor(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    argv = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "af-ZA",
        "--modes",
        "baseline",
        "ensemble_weighted_majority",
    )
    summary = submitit_sweep(argv, SlurmOptions(time="00:30:00", mem="4G", cluster="debug"))
    assert summary["success"] == 2
    assert perf(tmp_path, "baseline_af-ZA")["performance"]["accuracy"] == pytest.approx(2 / 6)
    assert perf(tmp_path, "ensemble_weighted_majority_af-ZA_3src")["performance"][
        "accuracy"
    ] == pytest.approx(3 / 6)
    assert (tmp_path / "results" / "sweep_sweep" / "slurm_logs").is_dir()
    assert parse_slurm_time("1-02:30:00") == 24 * 60 + 150 and parse_slurm_time("90") == 90
    assert parse_mem_gb("32G") == 32 and parse_mem_gb("512M") == 0.5


def test_sigkill_mid_sweep_then_rerun_equals_uninterrupted(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    modes = ["baseline", "similarity"]
    killed = tmp_path / "killed"
    argv = sweep_args(
        killed, scale_models, tiny_dataset, similarity_csv, "--locales", "af-ZA", "de-DE", "--modes", *modes
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = (
        subprocess.Popen(  # the sweep, with a 1 s pause before each results.json (see slow_results_sweep.py)
            [sys.executable, str(Path(__file__).with_name("slow_results_sweep.py")), *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    first = killed / "results" / "baseline_af-ZA" / "results.json"
    deadline = time.time() + 60
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert first.exists(), "the first experiment never finished"
    time.sleep(0.3)  # the second experiment (similarity merge) is in flight, sleeping before its results
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.parent.name for p in (killed / "results").glob("*/results.json"))
    assert done == ["baseline_af-ZA"]
    assert read_state(killed / "results" / "sweep_sweep" / "state.jsonl")[0]["status"] == "success"

    assert sweep_cmd.run(argv) == 0  # rerun completes the rest
    assert "3 succeeded, 1 skipped" in capsys.readouterr().out
    clean = tmp_path / "clean"
    assert (
        sweep_cmd.run(
            sweep_args(
                clean,
                scale_models,
                tiny_dataset,
                similarity_csv,
                "--locales",
                "af-ZA",
                "de-DE",
                "--modes",
                *modes,
            )
        )
        == 0
    )
    assert final_results(killed) == final_results(clean)
    assert len(final_results(clean)) == 4
    assert not list((killed / "merged").glob(".*partial*"))  # the killed merge's leftovers were cleaned


@pytest.mark.parametrize("mode", ["baseline", "similarity", "ties", "ensemble_soft"])
def test_every_result_changing_option_changes_the_key(
    tmp_path, scale_models, tiny_dataset, similarity_csv, mode
):
    """Each option that changes an experiment's result gives another key; options that do not, the same key."""
    import shutil
    from dataclasses import replace

    from merginguriel.data.massive import DataSelection
    from merginguriel.experiments.sweep import ExperimentSpec, SweepOptions, prepare
    from merginguriel.merging.catalogue import MethodParams
    from merginguriel.runtime import Runtime
    from merginguriel.similarity.selection import SimilarityOptions, SourceSelection

    models = tmp_path / "models"
    shutil.copytree(scale_models, models)
    opts = SweepOptions(
        sources=SourceSelection(
            models_root=str(models),
            base_model="tiny-xlmr",
            num_languages=3,
            similarity=SimilarityOptions(str(similarity_csv)),
        ),
        data=DataSelection(str(tiny_dataset)),
        results_root=str(tmp_path / "results"),
        logits_cache=str(tmp_path / "cache"),
    )
    where = {  # option -> the value object of SweepOptions that holds it
        **dict.fromkeys(["split", "max_samples", "max_seq_length", "text_column", "dataset_name"], "data"),
        **dict.fromkeys(["num_languages", "preweight"], "sources"),
        **dict.fromkeys(["batch_size", "progress"], "runtime"),
    }

    def key(**changes):
        changed = opts
        for name, value in changes.items():
            if name == "similarity_matrix":
                sources = replace(changed.sources, similarity=SimilarityOptions(value))
                changed = replace(changed, sources=sources)
            elif name == "method_params":
                changed = replace(changed, method_params=MethodParams(value))
            elif name in where:
                part = replace(getattr(changed, where[name]), **{name: value})
                changed = replace(changed, **{where[name]: part})
            else:
                changed = replace(changed, **{name: value})
        assert isinstance(changed.runtime, Runtime)
        return prepare(ExperimentSpec(mode, "af-ZA", changed)).key

    base = key()
    data_changes = [
        {"split": "validation"},
        {"max_samples": 3},
        {"max_seq_length": 64},
        {"text_column": "text"},
        {"dataset_name": str(tiny_dataset) + "/"},  # another dataset name
        {"seed": 7},
    ]
    source_changes = [
        {"num_languages": 2},  # K (and so the sources)
        {"preweight": "equal"},  # the weights
        {"similarity_matrix": str(_reweighted(similarity_csv, tmp_path))},  # same sources, other weights
    ]
    # a method parameter changes the result (and key) only of the modes whose method takes it (ties here)
    merge_changes = [{"method_params": {"lambda_": 0.5}}] if mode == "ties" else []
    merge_changes.append({"head_merge": "highest_weight"})
    changes = data_changes
    if mode != "baseline":
        changes = changes + source_changes + ([] if mode.startswith("ensemble") else merge_changes)
    keys = [key(**c) for c in changes]
    assert base not in keys, [c for c, k in zip(changes, keys) if k == base]
    assert len(set(keys)) == len(keys)
    # options that do not change the result keep the key (so a rerun skips the experiment)
    assert key(batch_size=3, cleanup_after_eval=True, progress=True, name="other") == base
    if mode != "ties":  # linear merges, ensembles and baselines take no lambda: it cannot change them
        assert key(method_params={"lambda_": 0.5}) == base
    assert prepare(ExperimentSpec(mode, "de-DE", opts)).key != base
    # new model content under the same path: another key
    target_dir = next(models.glob("*_massive_k_af-ZA" if mode == "baseline" else "*_massive_k_nl-NL"))
    weights = target_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert key() != base


def _reweighted(similarity_csv, tmp_path):
    import pandas as pd

    frame = pd.read_csv(similarity_csv, index_col=0)
    frame.loc["af-ZA", "de-DE"] = 0.2  # nl-NL .6, de-DE .2, en-US .1: same top-3, other weights
    path = tmp_path / "sim2.csv"
    frame.to_csv(path)
    return path


def test_slurm_launcher_through_submitit_local_executor(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    """submitit's local executor runs the job in another process, with its logs under the sweep folder."""
    argv = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "de-DE",
        "--modes",
        "ensemble_weighted_majority",
    )
    assert submitit_sweep(argv, SlurmOptions(cluster="local"))["success"] == 1
    assert perf(tmp_path, "ensemble_weighted_majority_de-DE_3src")["performance"][
        "accuracy"
    ] == pytest.approx(2 / 6)
    logs = tmp_path / "results" / "sweep_sweep" / "slurm_logs"
    (out_log,) = logs.glob("*/*_log.out")
    assert out_log.parent.parent == logs and (out_log.parent / out_log.name.replace(".out", ".err")).is_file()
    (record,) = read_state(tmp_path / "results" / "sweep_sweep" / "state.jsonl")
    assert record["status"] == "success" and record["pid"] != os.getpid()  # ran in the job's process


def test_local_worker_processes(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    argv = sweep_args(
        tmp_path,
        scale_models,
        tiny_dataset,
        similarity_csv,
        "--locales",
        "af-ZA",
        "de-DE",
        "--modes",
        "baseline",
        "--max-workers",
        "2",
    )
    assert sweep_cmd.run(argv) == 0
    assert "2 succeeded, 0 skipped" in capsys.readouterr().out
    assert perf(tmp_path, "baseline_af-ZA")["performance"]["accuracy"] == pytest.approx(2 / 6)
    assert perf(tmp_path, "baseline_de-DE")["performance"]["accuracy"] == pytest.approx(3 / 6)
    state = read_state(tmp_path / "results" / "sweep_sweep" / "state.jsonl")
    assert {r["status"] for r in state} == {"success"} and os.getpid() not in {r["pid"] for r in state}
