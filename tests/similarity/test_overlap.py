"""Lexical overlap against hand-counted subword types under a tiny word-level tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merginguriel.similarity.lexical_overlap import (
    overlap_matrix,
    subword_counts,
    training_overlap,
)
from merginguriel.similarity.matrix import SimilarityError
from tests.tiny_models import build_tokenizer

# "zzz" is not in the vocabulary: it becomes <unk>, which is never counted as a shared type
TEXTS = {
    "de-DE": ["wecke mich um acht", "wecke mich", "zzz"],
    "nl-NL": ["wek mij om acht", "wecke mij", "zzz zzz"],
    "ja-JP": ["okoshite", "zzz"],
}
VOCAB = ["wecke", "mich", "um", "acht", "wek", "mij", "om", "okoshite"]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(VOCAB)


def counts(tokenizer):
    return {loc: subword_counts(texts, tokenizer) for loc, texts in TEXTS.items()}


def test_subword_counts_by_hand(tokenizer):
    de = subword_counts(TEXTS["de-DE"], tokenizer)
    ids = {w: tokenizer.convert_tokens_to_ids(w) for w in VOCAB}
    assert de == {ids["wecke"]: 2, ids["mich"]: 2, ids["um"]: 1, ids["acht"]: 1}  # no <unk>, no <s> </s>


def test_frequency_overlap_by_hand(tokenizer):
    sim = overlap_matrix(counts(tokenizer), "frequency")
    # de-DE: wecke 2, mich 2, um 1, acht 1 (6 tokens); nl-NL: wek 1, mij 2, om 1, acht 1, wecke 1 (6 tokens)
    # shared types: acht min(1/6, 1/6) + wecke min(2/6, 1/6) = 2/6
    assert sim.loc["de-DE", "nl-NL"] == pytest.approx(2 / 6)
    assert sim.loc["nl-NL", "de-DE"] == pytest.approx(2 / 6)
    assert sim.loc["de-DE", "ja-JP"] == 0.0  # nothing shared (the shared "zzz" is <unk>, not counted)
    assert sim.loc["de-DE", "de-DE"] == 0.0


def test_langrank_type_overlap_by_hand(tokenizer):
    sim = overlap_matrix(counts(tokenizer), "types")
    # |V_de| = 4, |V_nl| = 5, shared {acht, wecke}: 2 / (4 + 5)
    assert sim.loc["de-DE", "nl-NL"] == pytest.approx(2 / 9)
    assert sim.loc["nl-NL", "ja-JP"] == 0.0


def pair_overlap(a: dict, b: dict, weighting: str) -> float:
    """The module doc's formula for one pair, in plain Python: shared types over all types ("types"), or
    sum over shared types of min(p_a(w), p_b(w)) ("frequency")."""
    if weighting == "types":
        return len(set(a) & set(b)) / (len(a) + len(b))
    na, nb = sum(a.values()), sum(b.values())
    return sum(min(a[w] / na, b[w] / nb) for w in set(a) & set(b))


def test_matrix_agrees_with_the_pairwise_reference(tokenizer):
    c = counts(tokenizer)
    for weighting in ("frequency", "types"):
        sim = overlap_matrix(c, weighting)
        assert sim.loc["de-DE", "nl-NL"] == pytest.approx(pair_overlap(c["de-DE"], c["nl-NL"], weighting))


def test_training_overlap_reads_the_train_split(tmp_path: Path, tokenizer):
    for loc, texts in TEXTS.items():
        (tmp_path / loc).mkdir()
        rows = [{"utt": t, "intent": "alarm_set"} for t in texts]
        (tmp_path / loc / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sim = training_overlap(str(tmp_path), list(TEXTS), tokenizer, "frequency")
    assert sim.loc["de-DE", "nl-NL"] == pytest.approx(2 / 6)
    first_only = training_overlap(str(tmp_path), ["de-DE", "nl-NL"], tokenizer, "types", max_samples=1)
    # first rows only: {wecke, mich, um, acht} and {wek, mij, om, acht} share acht: 1 / 8
    assert first_only.loc["de-DE", "nl-NL"] == pytest.approx(1 / 8)


def test_a_locale_without_tokens_is_a_clear_error(tokenizer):
    with pytest.raises(SimilarityError, match="No tokens for ja-JP"):
        overlap_matrix({"de-DE": {1: 2}, "ja-JP": {}})
    with pytest.raises(SimilarityError, match="--overlap-weighting"):
        overlap_matrix({"de-DE": {1: 2}}, "jaccard")


def test_command_on_the_builtin_corpus(tmp_path, tiny_base, capsys):
    from merginguriel.cli.commands.similarity import main
    from merginguriel.similarity.matrix import load_matrix

    out = tmp_path / "overlap.csv"
    argv = ["--source", "overlap", "--dataset-name", "builtin", "--tokenizer", str(tiny_base)]
    argv += ["--out-dense", str(out), "--out-sparse", str(tmp_path / "sp.csv"), "--out-plot", ""]
    argv += ["--target", "es-ES", "--num-languages", "3", "--weighting", "softmax", "--temperature", "0.1"]
    assert main(argv) == 0
    sim = load_matrix(out)
    assert len(sim) == 10  # the built-in corpus's locales
    assert sim.equals(sim.T) and ((sim.to_numpy() >= 0) & (sim.to_numpy() <= 1)).all()
    assert sim.loc["es-ES", "pt-PT"] > sim.loc["es-ES", "de-DE"]
    assert "es-ES (softmax):" in capsys.readouterr().out
