"""Aggregation on a hand-built results tree and NxN matrix: baselines, improvements, win rates, missing and
failed experiments, filters, outputs; plots made from the comprehensive CSV."""

import json

import pandas as pd
import pytest

from merginguriel.cli.commands import aggregate as aggregate_cmd
from merginguriel.cli.commands import plot as plot_cmd
from merginguriel.experiments.aggregation import aggregate
from merginguriel.experiments.result_plots import plot_comprehensive
from merginguriel.merging.naming import parse_experiment_name as parse_result_name
from merginguriel.outputs.atomic import write_json_atomic

LOCS = ["af-ZA", "de-DE", "nl-NL", "en-US"]
# rows = model locale, columns = evaluated locale
MATRIX = pd.DataFrame(
    [[0.90, 0.45, 0.30, 0.35], [0.50, 0.85, 0.40, 0.45], [0.60, 0.55, 0.88, 0.40], [0.40, 0.50, 0.35, 0.92]],
    index=LOCS,
    columns=LOCS,
)


def put(root, name, target, acc, sources=None, mode=None, experiment=None):
    folder = root / name
    results = {
        "performance": {"accuracy": acc, "macro_f1": acc / 2, "correct": int(acc * 100), "total": 100},
        "dataset_info": {"dataset_name": "d", "locale": target, "split": "test"},
        "evaluation_info": {"timestamp": "2025-01-01T00:00:00"},
    }
    if experiment:
        results["experiment"] = experiment
    write_json_atomic(folder / "results.json", results)
    if sources is not None:
        write_json_atomic(
            folder / "merge_details.json",
            {
                "mode": mode,
                "target": target,
                "sources": [{"locale": s, "path": "p", "weight": 0.5} for s in sources],
            },
        )


@pytest.fixture()
def tree(tmp_path):
    res = tmp_path / "results"
    put(res, "similarity_merge_af-ZA_2merged", "af-ZA", 0.70, ["nl-NL", "de-DE"], "similarity")
    put(res, "similarity_merge_de-DE_2merged", "de-DE", 0.55, ["nl-NL", "af-ZA"], "similarity")
    put(res, "ties_merge_af-ZA_2merged", "af-ZA", 0.40, ["nl-NL", "de-DE"], "ties")
    put(res, "ensemble_soft_af-ZA_2src", "af-ZA", 0.65, ["nl-NL", "en-US"], "ensemble_soft")
    put(res, "baseline_af-ZA", "af-ZA", 0.90, experiment={"mode": "baseline", "target": "af-ZA", "key": "k"})
    put(res, "eval_somemodel_af-ZA_test", "af-ZA", 0.11)  # an evaluate-command folder: not an experiment
    sweep = res / "sweep_s"
    write_json_atomic(
        sweep / "plan.json", {"experiments": [{"mode": "ties", "target": "de-DE"}], "options": {}}
    )
    (sweep / "state.jsonl").write_text(
        json.dumps({"mode": "ties", "target": "de-DE", "status": "failed", "error": "MergeError: boom"})
        + "\n"
    )
    nxn = tmp_path / "nxn_results" / "nxn_eval_20250101_000000"
    nxn.mkdir(parents=True)
    MATRIX.to_csv(nxn / "evaluation_matrix.csv")
    return tmp_path


def test_baselines_win_rates_and_missing(tree):
    out = aggregate(
        tree / "results", tree / "agg", nxn_root=tree / "nxn_results", progress=False, timestamp="T"
    )
    c = out.comprehensive.set_index(["locale", "method"])
    # af-ZA column: native 0.90; zero-shot de .50, nl .60, en .40 -> best .60 (nl), avg .50
    sim_af = c.loc[("af-ZA", "similarity")]
    assert (sim_af["native"], sim_af["best_zero_shot"], sim_af["avg_zero_shot"]) == pytest.approx(
        (0.9, 0.6, 0.5)
    )
    assert sim_af["best_zero_shot_locale"] == "nl-NL"
    assert sim_af["best_source"] == pytest.approx(0.6) and sim_af[
        "improvement_vs_best_source"
    ] == pytest.approx(0.1)
    # ensemble used nl-NL (.60) and en-US (.40)
    assert c.loc[("af-ZA", "ensemble_soft"), "best_source"] == pytest.approx(0.6)
    # de-DE column: native .85; zero-shot af .45, nl .55, en .50 -> best .55, avg .50; sources nl, af -> .55
    sim_de = c.loc[("de-DE", "similarity")]
    assert (
        sim_de["native"],
        sim_de["best_source"],
        sim_de["best_zero_shot"],
        sim_de["avg_zero_shot"],
    ) == pytest.approx((0.85, 0.55, 0.55, 0.5))
    assert ("af-ZA", "eval") not in c.index and len(c) == 5
    wins = out.wins
    assert wins["similarity"]["native"] == {"wins": 0, "ties": 0, "losses": 2, "n": 2, "win_rate": 0.0}
    assert wins["similarity"]["best_source"] == {"wins": 1, "ties": 1, "losses": 0, "n": 2, "win_rate": 0.5}
    assert wins["similarity"]["avg_zero_shot"]["win_rate"] == 1.0
    assert wins["ties"]["avg_zero_shot"] == {"wins": 0, "ties": 0, "losses": 1, "n": 1, "win_rate": 0.0}
    assert wins["ensemble_soft"]["best_source"]["win_rate"] == 1.0
    assert "baseline" not in wins
    missing = {(m["locale"], m["method"]): m for m in out.summary["missing"]}
    assert missing[("de-DE", "ties")]["status"] == "failed" and "boom" in missing[("de-DE", "ties")]["error"]
    assert missing[("de-DE", "ensemble_soft")]["status"] == "missing"
    assert ("af-ZA", "similarity") not in missing
    comparison = pd.read_csv(out.paths["comparison"], index_col=0)
    assert comparison.at["af-ZA", "similarity"] == 0.70 and comparison.at["de-DE", "baseline_native"] == 0.85
    assert pd.isna(comparison.at["de-DE", "ties"])
    assert json.loads(out.paths["win_analysis"].read_text())["similarity"]["best_source"]["wins"] == 1
    report = out.paths["report"].read_text()
    assert "| similarity |" in report and "de-DE ties: failed — MergeError: boom" in report
    assert sorted(p.name for p in (tree / "agg").iterdir()) == sorted(
        f"results_{k}_T.{ext}"
        for k, ext in [
            ("aggregated", "csv"),
            ("comparison", "csv"),
            ("comprehensive", "csv"),
            ("summary", "json"),
            ("win_analysis", "json"),
            ("report", "md"),
        ]
    )


def test_filters_no_baselines_and_cli(tree, capsys):
    out = aggregate(
        tree / "results",
        tree / "a2",
        nxn_root=tree / "nxn_results",
        locales=["de-DE"],
        baselines=False,
        progress=False,
    )
    assert list(out.comprehensive["method"]) == ["similarity"] and "native" not in out.comprehensive
    out = aggregate(
        tree / "results",
        tree / "a3",
        nxn_root=tree / "nxn_results",
        experiment_types=["ties"],
        progress=False,
    )
    assert list(out.comprehensive["method"]) == ["ties"]
    code = aggregate_cmd.run(
        [
            "--results-root",
            str(tree / "results"),
            "--nxn-root",
            str(tree / "nxn_results"),
            "--output-dir",
            str(tree / "a4"),
            "--show-missing",
            "--locales",
            "af-ZA,de-DE",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "de-DE   ties" in text and "failed" in text and "evaluation_matrix.csv" in text
    assert parse_result_name("ensemble_uriel_logits_af-ZA_5src") == {
        "mode": "ensemble_uriel_logits",
        "target": "af-ZA",
        "n": 5,
        "preset": None,
        "with_target": False,
    }
    assert parse_result_name("fisher_dataset_merge_sw-KE_3merged_fairness")["preset"] == "fairness"
    parsed = parse_result_name("ties_merge_sw-KE_4merged_with_target_fairness")
    assert parsed["with_target"] and parsed["preset"] == "fairness" and parsed["n"] == 4


def test_plots_are_made_and_summary_is_hand_computed(tree, capsys):
    out = aggregate(tree / "results", tree / "agg", nxn_root=tree / "nxn_results", progress=False)
    made = plot_comprehensive(out.paths["comprehensive"], tree / "plots", progress=False)
    names = {p.name for p in made["plots"]}
    for method in ("similarity", "ties", "ensemble_soft"):
        assert f"{method}_scores_vs_baselines.png" in names
        for base in ("avg_zero_shot", "best_zero_shot", "best_source"):
            assert f"{method}_improvement_vs_{base}.png" in names
    assert "methods_mean_improvement.png" in names and not any(n.startswith("baseline") for n in names)
    for p in made["plots"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    summary = pd.read_csv(made["summary"]).set_index("method")
    assert summary.at["similarity", "mean_improvement_vs_best_source"] == pytest.approx(0.05)  # (.10 + 0) / 2
    assert summary.at["similarity", "win_rate_vs_best_source"] == pytest.approx(0.5)
    assert summary.at["ties", "mean_accuracy"] == pytest.approx(0.4)
    # CLI: latest CSV by default, --list-csv
    assert plot_cmd.run(["--results-dir", str(tree / "agg"), "--list-csv"]) == 0
    assert "results_comprehensive_" in capsys.readouterr().out
    frame = pd.read_csv(out.paths["comprehensive"])
    frame[frame["method"] == "ties"].to_csv(tree / "ties_only.csv", index=False)
    assert plot_cmd.run(["--csv-file", str(tree / "ties_only.csv"), "--plots-dir", str(tree / "p2")]) == 0
    assert len(list((tree / "p2").glob("*.png"))) == 5  # 4 for ties + the overview
    assert plot_cmd.run(["--results-dir", str(tree / "empty")]) == 2


def test_latest_matrix_on_the_results_data_is_used_never_a_dev_matrix(tree):
    old = tree / "nxn_results" / "nxn_eval_20250101_000000"
    write_json_atomic(
        old / "nxn_config.json", {"data": {"dataset_name": "d", "split": "test", "max_samples": None}}
    )
    # a newer matrix on the validation split (the kind used to choose sources), with other numbers
    dev = tree / "nxn_results" / "nxn_eval_20250102_000000"
    dev.mkdir()
    (MATRIX * 0 + 0.5).to_csv(dev / "evaluation_matrix.csv")
    write_json_atomic(
        dev / "nxn_config.json", {"data": {"dataset_name": "d", "split": "dev", "max_samples": None}}
    )
    out = aggregate(tree / "results", tree / "agg", nxn_root=tree / "nxn_results", progress=False)
    assert (
        out.summary["evaluation_matrix"] == str(old / "evaluation_matrix.csv") and not out.summary["warnings"]
    )
    assert out.summary["results_data"] == {"dataset_name": "d", "split": "test", "max_samples": None}
    c = out.comprehensive.set_index(["locale", "method"])
    assert c.loc[("af-ZA", "similarity"), "best_zero_shot"] == pytest.approx(0.6)  # not the dev matrix's 0.5
    # forcing the dev matrix works, with a recorded warning
    out = aggregate(
        tree / "results",
        tree / "agg2",
        evaluation_matrix=dev / "evaluation_matrix.csv",
        progress=False,
    )
    assert out.summary["evaluation_matrix_data"]["split"] == "validation"
    assert len(out.summary["warnings"]) == 1 and "not on the same rows" in out.summary["warnings"][0]
    assert "**warning**" in out.paths["report"].read_text()
    # no matrix on the results' data: no baselines from another split (native still from the baseline run)
    write_json_atomic(old / "nxn_config.json", {"data": {"dataset_name": "d", "split": "train"}})
    out = aggregate(tree / "results", tree / "agg3", nxn_root=tree / "nxn_results", progress=False)
    assert (
        out.summary["evaluation_matrix"] is None and "No NxN evaluation matrix" in out.summary["warnings"][0]
    )
    c = out.comprehensive.set_index(["locale", "method"])
    assert pd.isna(c.loc[("af-ZA", "similarity"), "best_source"])
    assert c.loc[("af-ZA", "similarity"), "native"] == pytest.approx(0.9)


def test_missing_lists_planned_experiments_without_inventing_others(tree):
    write_json_atomic(
        tree / "results" / "sweep_t" / "plan.json",
        {"experiments": [{"mode": "dare", "target": "nl-NL"}], "options": {"preset": "target"}},
    )
    out = aggregate(tree / "results", tree / "agg", nxn_root=tree / "nxn_results", progress=False)
    missing = {(m["locale"], m["method"]): m["status"] for m in out.summary["missing"]}
    assert missing[("nl-NL", "dare_target")] == "missing"  # planned, with the preset's suffix
    assert ("af-ZA", "dare_target") not in missing and ("nl-NL", "similarity") not in missing
    # found grid (af-ZA, de-DE) x (similarity, ties, ensemble_soft, baseline), minus what exists, plus the plans
    assert missing == {
        ("de-DE", "ties"): "failed",
        ("de-DE", "ensemble_soft"): "missing",
        ("de-DE", "baseline"): "missing",
        ("nl-NL", "dare_target"): "missing",
    }
    out = aggregate(
        tree / "results", tree / "agg2", nxn_root=tree / "nxn_results", locales=["de-DE"], progress=False
    )
    assert {(m["locale"], m["method"]) for m in out.summary["missing"]} == {("de-DE", "ties")}
