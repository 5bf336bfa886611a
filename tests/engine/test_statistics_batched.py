"""The batched per-example Fisher (one padded forward per batch, per-example gradients from layer inputs and
output gradients) equals the per-example loop (each example alone, padding removed) for every estimator, on
tiny XLM-R and BERT classifiers with padded batches of varied lengths; unsupported models fall back."""

from __future__ import annotations

import pytest
import torch
from auto_merge_llm import MergeError
from auto_merge_llm.statistics import fisher_diagonal, gram_matrices
from engine_testutils import make_classifier
from torch import nn


def _bert(seed: int = 21):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        num_labels=5,
    )
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _padded(sizes=(5, 1, 4), seq=12, num_labels=4, pad_id=1, seed=0, token_types=False):
    """Right-padded batches of different sizes; lengths from 2 to ``seq`` (one batch per size)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for bsz in sizes:
        ids = torch.randint(3, 100, (bsz, seq), generator=g)
        ids[:, 0] = 0
        mask = torch.ones(bsz, seq, dtype=torch.long)
        for r in range(bsz):
            length = int(torch.randint(2, seq + 1, (1,), generator=g))
            ids[r, length:] = pad_id
            mask[r, length:] = 0
        batch = {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.randint(0, num_labels, (bsz,), generator=g),
        }
        if token_types:
            batch["token_type_ids"] = (torch.arange(seq) >= seq // 2).long().expand(bsz, seq) * mask
        out.append(batch)
    return out


def _assert_same(got, exp):
    assert set(got) == set(exp)
    for n in exp:
        torch.testing.assert_close(got[n], exp[n], rtol=1e-5, atol=1e-12, msg=n)


@pytest.mark.parametrize("arch", ["xlmr", "bert"])
@pytest.mark.parametrize("estimator", ["expected", "sampled", "empirical"])
def test_batched_equals_loop(arch, estimator):
    if arch == "xlmr":
        model, batches = make_classifier(31), _padded(seed=1)
    else:
        model, batches = _bert(), _padded(num_labels=5, pad_id=0, seed=2, token_types=True)
    loop = fisher_diagonal(model, batches, estimator, seed=7, method="loop")
    batched = fisher_diagonal(model, batches, estimator, seed=7, method="batched")
    _assert_same(batched, loop)
    assert any(v.abs().max() > 0 for v in batched.values())
    # a cut inside the second batch counts the same examples both ways
    _assert_same(
        fisher_diagonal(model, batches, estimator, num_examples=7, seed=7, method="batched"),
        fisher_diagonal(model, batches, estimator, num_examples=7, seed=7, method="loop"),
    )


def test_batched_vmapped_classes_and_auto_default(monkeypatch):
    from auto_merge_llm import statistics

    model, batches = make_classifier(32), _padded(seed=3)
    loop = fisher_diagonal(model, batches, "expected", method="loop")
    _assert_same(
        fisher_diagonal(model, batches, "expected", method="batched", class_backward="batched"), loop
    )

    def no_loop(*a, **k):
        raise AssertionError("the default should not take the per-example loop for a transformer")

    monkeypatch.setattr(statistics, "_fisher_loop", no_loop)
    _assert_same(fisher_diagonal(model, iter(batches), "expected"), loop)  # one pass over a generator


class _Scaled(nn.Module):
    """A classifier holding a bare nn.Parameter (no supported module owns it)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.scale = nn.Parameter(torch.ones(8) * 1.5)
        self.head = nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask=None):
        h = self.emb(input_ids) * self.scale
        return (self.head(h.mean(1)),)


class _Twice(nn.Module):
    """A linear layer applied twice in one forward: its per-example gradient is a sum over both calls."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask=None):
        h = torch.tanh(self.mix(torch.tanh(self.mix(self.emb(input_ids)))))
        return (self.head(h[:, 0]),)


@pytest.mark.parametrize("cls", [_Scaled, _Twice])
def test_unsupported_models_fall_back_to_the_loop(cls):
    torch.manual_seed(0)
    model, batches = cls(), _padded(num_labels=3, seed=4)
    loop = fisher_diagonal(model, batches, "empirical", method="loop")
    _assert_same(fisher_diagonal(model, iter(batches), "empirical"), loop)  # auto; first batch not lost
    with pytest.raises(MergeError, match="method='batched' cannot"):
        fisher_diagonal(model, batches, "empirical", method="batched")
    with pytest.raises(MergeError, match="unknown method"):
        fisher_diagonal(model, batches, method="vmap")  # type: ignore[arg-type]


def test_gram_matrices_are_batched_and_equal_per_example():
    """RegMean statistics already run one padded forward per batch; equal to one example at a time."""
    model, batches = _bert(22), _padded(num_labels=5, pad_id=0, seed=5, token_types=True)
    batched = gram_matrices(model, batches)
    singles: dict[str, torch.Tensor] = {}
    for batch in batches:
        for r in range(batch["input_ids"].shape[0]):
            length = int(batch["attention_mask"][r].sum())
            one = {k: batch[k][r : r + 1, :length] for k in ("input_ids", "token_type_ids")}
            for n, g in gram_matrices(model, [one]).items():
                singles[n] = singles.get(n, 0) + g.double()
    assert set(batched) == set(singles)
    for n in singles:
        torch.testing.assert_close(batched[n].double(), singles[n], rtol=1e-5, atol=1e-5, msg=n)
