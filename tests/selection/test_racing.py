"""Racing candidates (successive halving) and the selection budget: the rung plans, the halving rule on scores
known by hand, a budget that stops the race, and, on the constant-intent models, the same choices as the
exhaustive search with fewer evaluations."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from merginguriel.cli.commands import select as select_cmd
from merginguriel.cli.commands.select import SHARING_ORDER
from merginguriel.errors import UserError
from merginguriel.experiments.selection.racing import (
    Budget,
    RaceOptions,
    Rung,
    fold_order,
    not_clearly_worse,
    rung_plan,
    successive_halving,
)
from tests.selection.test_select import argv


def test_rungs_grow_the_folds_or_the_rows():
    folds = [f"l{i}" for i in range(19)]
    plan = rung_plan(folds, 500, RaceOptions(eta=3, rungs=3))
    assert [len(r.locales) for r in plan] == [3, 7, 19] and all(r.rows is None for r in plan)
    assert plan[0].locales == tuple(folds[:3])  # a prefix of the race order: later rungs reuse earlier scores
    one = rung_plan(["af-ZA"], 500, RaceOptions(eta=3, rungs=3, min_rows=50))
    assert [r.rows for r in one] == [56, 167, None]  # ceil(500/9), ceil(500/3), the whole split
    assert rung_plan(["af-ZA"], 60, RaceOptions(min_rows=100)) == [
        Rung(("af-ZA",), None)
    ]  # too small to race
    assert [len(r.locales) for r in rung_plan(folds[:3], 10, RaceOptions())] == [2, 3]
    # the default (eta 2): the first rung sees 5 of 19 folds, not 3 (benchmarks/zoo/race_replay.py)
    assert [len(r.locales) for r in rung_plan(folds, 500, RaceOptions())] == [5, 10, 19]
    assert [r.rows for r in rung_plan(["af-ZA"], 500, RaceOptions())] == [125, 250, None]


def test_the_fold_order_is_one_seeded_order_for_every_target():
    pool = ["en-US", "de-DE", "af-ZA", "nl-NL", "fr-FR"]
    order = fold_order(pool, 0)
    assert sorted(order) == sorted(pool) and order == fold_order(list(reversed(pool)), 0)
    assert order != fold_order(pool, 1) or order != fold_order(pool, 2)


def test_successive_halving_keeps_the_best_third_and_the_kept():
    # a candidate's score at a rung: its true value plus a known rung-dependent offset
    true = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.5, "f": 0.4, "g": 0.3, "h": 0.2, "i": 0.1}
    rungs = [Rung(("x",), 10), Rung(("x",), 30), Rung(("x",), None)]
    calls = []

    def score(c, rung):
        calls.append((c, rung.rows))
        return true[c] + (
            0.65 if (c == "h" and rung.rows == 10) else 0.0
        )  # h looks good on the first rung only

    result = successive_halving(list(true), rungs, score, lambda alive, done: {"i"} & set(alive), eta=3)
    first, second, third = (sorted(s) for s in result.scores)
    assert first == sorted(true)  # every candidate on the cheapest rung
    assert second == ["a", "b", "h", "i"]  # ceil(9/3) = 3 best (a 0.9, h 0.85, b 0.8) and the kept i
    assert third == ["a", "b", "i"]  # ceil(4/3) = 2 best (h is 0.2 with more rows) and the kept i
    assert result.completed == 3 and max(result.final, key=result.final.get) == "a"
    assert len(calls) == 9 + 4 + 3


def test_a_candidate_that_cannot_be_chosen_never_takes_a_contenders_place():
    """The old default recipe is raced as a baseline only: when it scores best it goes on (kept), and the best
    contender goes on beside it, so the last rung always holds a candidate that can be chosen (found on the zoo:
    the default alone reached the last rung and the target got no recipe)."""
    true = {"default": 0.9, "a": 0.5, "b": 0.6, "c": 0.4}
    rungs = [Rung(("x",), 10), Rung(("x",), 30), Rung(("x",), None)]
    keep = lambda alive, done: {"default"} & set(alive)  # noqa: E731
    plain = successive_halving(list(true), rungs, lambda c, r: true[c], keep, eta=3)
    assert sorted(plain.final) == ["default"]  # without contenders: nothing choosable is left
    result = successive_halving(
        list(true), rungs, lambda c, r: true[c], keep, eta=3, contenders=["a", "b", "c"]
    )
    assert sorted(result.scores[1]) == [
        "b",
        "default",
    ]  # ceil(3/3) = 1 contender (b 0.6) and the kept default
    assert sorted(result.final) == ["b", "default"]


def test_clearly_worse_is_a_one_sided_paired_t_bound_with_the_finite_population_correction():
    # by hand: d = candidate - leader = (-0.02, 0.01, -0.01) on 3 of 19 folds
    leader = np.array([0.50, 0.40, 0.60])
    candidate = leader + np.array([-0.02, 0.01, -0.01])
    mean, sd = (
        -0.02 / 3,
        math.sqrt(((-0.02 + 0.02 / 3) ** 2 + (0.01 + 0.02 / 3) ** 2 + (-0.01 + 0.02 / 3) ** 2) / 2),
    )
    spread = sd / math.sqrt(3) * math.sqrt(16 / 18)
    assert mean + 2.919986 * spread > 0 and mean + 0.288675 * spread < 0  # t(0.95, 2), t(0.60, 2)
    assert not_clearly_worse(candidate, leader, 19, 0.95)
    assert not not_clearly_worse(candidate, leader, 19, 0.60)
    assert not not_clearly_worse(candidate, leader, 19, 0.0)  # off: plain successive halving
    assert not not_clearly_worse(candidate[:1], leader[:1], 19, 0.95)  # one unit: nothing to test on
    assert not not_clearly_worse(candidate, leader, 3, 0.999)  # every unit scored: the exact means decide
    assert not_clearly_worse(leader, leader, 3, 0.5)


def test_clearly_worse_agrees_with_scipys_paired_t_test_without_the_correction():
    from scipy import stats

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        leader = rng.random(n)
        candidate = leader + rng.normal(-0.05, 0.1, n)
        confidence = float(rng.choice([0.8, 0.9, 0.95]))
        p = stats.ttest_rel(candidate, leader, alternative="less").pvalue  # H1: the candidate is worse
        if abs(p - (1 - confidence)) > 1e-6:  # not on the boundary
            assert not_clearly_worse(candidate, leader, 10**12, confidence) == (p >= 1 - confidence)


def test_a_close_candidate_survives_where_plain_halving_drops_it():
    """The zoo's case: recipes a few thousandths apart over the folds, the best one behind on the first folds.
    Plain successive halving drops it on the first rung; the paired bound keeps it (it is not clearly worse), and
    the full folds choose it, as the exhaustive search does. Candidates behind on every fold still drop."""
    a = np.array([0.52, 0.61, 0.47, 0.55, 0.58, 0.50, 0.44, 0.63, 0.57])  # the exhaustive choice
    ahead_early = {  # ahead on the first 3 folds, behind overall
        "b1": [0.012, -0.002, 0.006, -0.010, -0.008, -0.006, -0.004, -0.009, 0.000],
        "b2": [0.010, 0.000, 0.004, -0.012, -0.006, -0.008, -0.004, -0.007, -0.001],
        "b3": [0.008, 0.002, 0.002, -0.008, -0.010, -0.006, -0.006, -0.008, -0.002],
    }
    values = {"a": a, **{k: a + np.array(v) for k, v in ahead_early.items()}}
    values |= {f"o{i}": a - 0.05 - 0.01 * i for i in range(5)}  # clearly worse: 0.05+ behind on every fold
    assert all(values["a"].mean() > values[b].mean() for b in ahead_early)
    assert all(values["a"][:3].mean() < values[b][:3].mean() for b in ahead_early)
    rungs = [Rung(("f0", "f1", "f2")), Rung(tuple(f"f{i}" for i in range(9)))]

    def score(c, rung):
        v = values[c][: len(rung.locales)]
        return float(v.mean()), v

    exhaustive = max(values, key=lambda c: values[c].mean())
    plain = successive_halving(list(values), rungs, score, lambda alive, done: set(), eta=3)
    assert sorted(plain.scores[1]) == ["b1", "b2", "b3"]  # ceil(9/3): a is fourth on the first 3 folds
    assert max(plain.final, key=plain.final.get) == "b1" != exhaustive
    raced = successive_halving(list(values), rungs, score, lambda alive, done: set(), eta=3, confidence=0.95,
                               population=9)  # fmt: skip
    assert sorted(raced.scores[1]) == ["a", "b1", "b2", "b3"] and raced.close == [1]
    assert max(raced.final, key=raced.final.get) == exhaustive == "a"


def test_a_budget_stops_the_race_on_the_last_completed_rung():
    true = {c: v for c, v in zip("abcdef", [0.1, 0.9, 0.5, 0.4, 0.8, 0.2])}
    rungs = [Rung(("x",), 10), Rung(("x",), None)]
    budget = Budget(evaluations=7)

    def score(c, rung):
        budget.spend()
        return true[c]

    result = successive_halving(list(true), rungs, score, lambda alive, done: set(), eta=3, budget=budget)
    assert budget.used == 7 and budget.hit  # 6 on the first rung, 1 of the 2 survivors (b, e), then stopped
    assert result.completed == 1 and result.final == true  # decided on the first rung, every candidate
    assert result.scores[1] == {"b": 0.9}
    budget = Budget(evaluations=3)
    result = successive_halving(list(true), rungs, lambda c, r: (budget.spend(), true[c])[1], lambda a, d: set(),
                                eta=3, budget=budget)  # fmt: skip
    assert result.completed == 0 and sorted(result.final) == ["a", "b", "c"]  # only what was scored


@pytest.mark.parametrize(
    ("text", "seconds", "evaluations"),
    [("90s", 90, None), ("45m", 2700, None), ("2h", 7200, None), ("500", None, 500), ("12evals", None, 12)],
)
def test_budget_spellings(text, seconds, evaluations):
    budget = Budget.parse(text)
    assert (budget.seconds, budget.evaluations) == (seconds, evaluations)


@pytest.mark.parametrize("text", ["0", "-5m", "ten minutes", "1.5evals", ""])
def test_a_bad_budget_is_refused(text):
    with pytest.raises(UserError, match="--budget"):
        Budget.parse(text)


def _recipes(out, protocol):
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((out / protocol).glob("*/recipe.json"))}


@pytest.mark.parametrize("protocol", ["leave-target-out", "target-dev"])
def test_racing_chooses_what_the_exhaustive_search_chooses(
    tmp_path, scale_models, tiny_dataset, similarity_csv, protocol
):
    chosen, work = {}, {}
    for search in ("exhaustive", "race"):
        run = tmp_path / search
        run.mkdir()
        code = select_cmd.run(argv(run, scale_models, tiny_dataset, similarity_csv, "--protocol", protocol,
                                   "--search", search, "--eta", "2", "--no-test"))  # fmt: skip
        assert code == 0
        recipes = _recipes(run / "sel", protocol)
        chosen[search] = {t: (r["recipe_label"], round(r["dev_score"], 9)) for t, r in recipes.items()}
        work[search] = sum(r["search"]["work"]["evaluations"] for r in recipes.values())
        if search == "race":  # target-dev's 6 dev rows are too few to race: one rung, said so
            expected = "successive halving" if protocol == "leave-target-out" else "exhaustive (one rung"
            assert all(r["search"]["search"].startswith(expected) for r in recipes.values())
    assert chosen["race"] == chosen["exhaustive"] and len(chosen["race"]) == 4
    assert work["race"] <= work["exhaustive"]
    if protocol == "leave-target-out":  # some candidates stopped at the first rung (fewer folds)
        table = pd.read_csv(tmp_path / "race" / "sel" / protocol / "af-ZA" / "candidates.csv")
        assert set(table["rung"].dropna()) == {1, 2} and table.loc[table["rung"] == 1, "score"].isna().all()


def test_the_budget_is_respected_and_reported(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--target-lang", "af-ZA", "--budget", "4evals", "--no-test"))  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "budget 4 evaluations: used" in out and "exhausted" in out
    recipe = _recipes(tmp_path / "sel", "target-dev")["af-ZA"]
    assert recipe["search"]["work"]["evaluations"] == 4 and "exhausted" in recipe["search"]["budget"]
    table = pd.read_csv(tmp_path / "sel" / "target-dev" / "af-ZA" / "candidates.csv")
    scored = table[table["score"].notna()]
    assert len(scored) == 4 and recipe["dev_score"] == pytest.approx(scored["score"].max())
    assert math.isclose(recipe["dev_score"], float(np.nanmax(table["score"])))
    assert len(table) > 4  # the others were never scored: the budget stopped the race


def test_a_target_the_budget_never_reached_gets_no_recipe(tmp_path, scale_models, tiny_dataset, similarity_csv,
                                                          capsys):  # fmt: skip
    # 3 evaluations shared by 4 targets (ceil of an equal share of what is left): 1, 1, 1, 0
    code = select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                               "--budget", "3evals", "--no-test"))  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    recipes = _recipes(tmp_path / "sel", "target-dev")
    assert sorted(recipes) == ["af-ZA", "de-DE", "en-US"]
    assert all(r["search"]["work"]["evaluations"] == 1 for r in recipes.values())
    assert "nl-NL: the budget was spent before any candidate was scored" in out
    assert "the budget ran out: no recipe for nl-NL" in out
    (tmp_path / "again").mkdir()
    assert select_cmd.run(argv(tmp_path / "again", scale_models, tiny_dataset, similarity_csv, "--protocol",
                               "target-dev", "--budget", "1evals", "--no-test", "--target-lang", "af-ZA", "de-DE")
                          ) == 0  # fmt: skip


def test_protocols_run_in_one_folder_share_their_work(tmp_path, scale_models, tiny_dataset, similarity_csv):
    """target-dev's forward passes also give unlabeled-target its (label-free) scores and leave-target-out the
    other targets' dev scores: run in one --output-dir, the later protocols compute less and choose exactly what
    they choose when run alone."""
    alone, shared, work = {}, {}, {}
    for protocol in ("target-dev", "unlabeled-target", "leave-target-out"):
        run = tmp_path / f"alone-{protocol}"
        run.mkdir()
        assert select_cmd.run(argv(run, scale_models, tiny_dataset, similarity_csv, "--protocol", protocol,
                                   "--search", "exhaustive", "--no-test"))  == 0  # fmt: skip
        recipes = _recipes(run / "sel", protocol)
        alone[protocol] = {t: (r["recipe_label"], round(r["dev_score"], 9)) for t, r in recipes.items()}
        work[("alone", protocol)] = sum(r["search"]["work"]["evaluations"] for r in recipes.values())
        assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", protocol,
                                   "--search", "exhaustive", "--no-test"))  == 0  # fmt: skip
        recipes = _recipes(tmp_path / "sel", protocol)
        shared[protocol] = {t: (r["recipe_label"], round(r["dev_score"], 9)) for t, r in recipes.items()}
        work[("shared", protocol)] = sum(r["search"]["work"]["evaluations"] for r in recipes.values())
    assert shared == alone and len(shared["leave-target-out"]) == 4
    assert work[("shared", "target-dev")] == work[("alone", "target-dev")] > 0
    assert work[("shared", "unlabeled-target")] == 0 < work[("alone", "unlabeled-target")]
    assert work[("shared", "leave-target-out")] < work[("alone", "leave-target-out")]


def test_all_protocols_in_one_command_choose_what_separate_runs_choose(
    tmp_path, scale_models, tiny_dataset, similarity_csv, capsys
):
    separate = tmp_path / "separate"
    separate.mkdir()
    for protocol in ("leave-target-out", "unlabeled-target", "target-dev"):  # any order: the store is shared
        search = "race" if protocol == "leave-target-out" else "exhaustive"
        assert select_cmd.run(argv(separate, scale_models, tiny_dataset, similarity_csv, "--protocol", protocol,
                                   "--search", search, "--eta", "2", "--no-test")) == 0  # fmt: skip
    capsys.readouterr()
    assert select_cmd.run(argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "all",
                               "--eta", "2", "--no-test", "--budget", "100000evals")) == 0  # fmt: skip
    out = capsys.readouterr().out
    lines = {p: next(x for x in out.splitlines() if x.startswith(f"search [{p}]")) for p in SHARING_ORDER}
    assert "not limited by --budget" in lines["target-dev"] and ": used" not in lines["target-dev"]
    assert re.search(r"budget \d+ evaluations: used \d+ s, \d+ evaluations$", lines["leave-target-out"])
    order = [out.index(f"selection [{p}]") for p in ("target-dev", "unlabeled-target", "leave-target-out")]
    assert order == sorted(order)
    assert "search [target-dev]: exhaustive" in out and "search [leave-target-out]: successive halving" in out
    for protocol in ("target-dev", "unlabeled-target", "leave-target-out"):
        one = {
            t: (r["recipe_label"], round(r["dev_score"], 9))
            for t, r in _recipes(tmp_path / "sel", protocol).items()
        }
        alone = {
            t: (r["recipe_label"], round(r["dev_score"], 9))
            for t, r in _recipes(separate / "sel", protocol).items()
        }
        assert one == alone and len(one) == 4


def test_protocol_lists_are_checked(tmp_path, scale_models, tiny_dataset, similarity_csv, capsys):
    with pytest.raises(SystemExit) as exit_:
        select_cmd.run(
            argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev,zero-shot")
        )
    assert exit_.value.code == 2 and "unknown protocol zero-shot" in capsys.readouterr().err
    code = select_cmd.run(
        argv(tmp_path, scale_models, tiny_dataset, similarity_csv, "--protocol", "all", "--few-shot")
    )
    assert code == 2 and "--few-shot splits the target's dev rows" in capsys.readouterr().err
    assert not (tmp_path / "sel" / "target-dev").exists()


def test_a_race_on_dev_rows_pairs_candidates_row_by_row(
    tmp_path, scale_models, tiny_dataset, similarity_csv, monkeypatch
):
    """target-dev races on samples of the target's dev rows (here 2, 3, then all 6): the store keeps each
    candidate's per-row correctness, the race pairs candidates on it, and keeping those not clearly worse changes
    no choice of the exhaustive search."""
    import functools

    monkeypatch.setattr(select_cmd, "RaceOptions", functools.partial(RaceOptions, min_rows=2))
    chosen, kept = {}, {}
    for search, extra in (("exhaustive", []), ("race", ["--race-confidence", "0.95"]), ("plain", ["--race-confidence", "0"])):  # fmt: skip
        run = tmp_path / search
        run.mkdir()
        code = select_cmd.run(argv(run, scale_models, tiny_dataset, similarity_csv, "--protocol", "target-dev",
                                   "--search", "exhaustive" if search == "exhaustive" else "race", "--eta", "2",
                                   "--no-test", *extra))  # fmt: skip
        assert code == 0
        recipes = _recipes(run / "sel", "target-dev")
        chosen[search] = {t: (r["recipe_label"], round(r["dev_score"], 9)) for t, r in recipes.items()}
        if search != "exhaustive":
            assert all([g["rows"] for g in r["search"]["rungs"]] == [2, 3, None] for r in recipes.values())
            kept[search] = sum(sum(r["search"]["kept_as_not_clearly_worse"]) for r in recipes.values())
        for line in (run / "sel" / "work" / "scores.jsonl").read_text().splitlines():
            record = json.loads(line)  # per-row values whose mean is the stored score
            rows = record["per_row"]["accuracy" if "accuracy" in record else "neg_entropy"]
            value = record.get("accuracy", record["neg_entropy"])
            assert len(rows) in (2, 3, 6) and np.mean(rows) == pytest.approx(value, abs=1e-5)
    assert chosen["race"] == chosen["exhaustive"] and len(chosen["race"]) == 4
    assert kept["plain"] == 0 < kept["race"]
