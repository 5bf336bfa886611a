"""AdaMerging (Yang et al., ICLR 2024): the method's formula on small tensors, the entropy objective against a
model built by hand, the objective decreasing, bitwise reproducibility from the seed, and the merge of the
learned coefficients against θ₀ + Σ λᵢ τᵢ written out here."""

from __future__ import annotations

import pytest
import torch
from auto_merge_llm import MergeError, merge_models, merge_tensors
from auto_merge_llm.adamerging import learn_coefficients, mean_entropy
from engine_testutils import read_state_dict
from transformers import XLMRobertaForSequenceClassification


def test_the_method_is_task_arithmetic_with_the_learned_coefficients() -> None:
    torch.manual_seed(0)
    base = torch.randn(3, 4)
    xs = [base + torch.randn(3, 4) for _ in range(2)]
    stats = [torch.tensor(0.25), torch.tensor(0.8)]
    got = merge_tensors("adamerging", xs, [1, 1], base=base, stats=stats)
    torch.testing.assert_close(got, base + 0.25 * (xs[0] - base) + 0.8 * (xs[1] - base))


def test_mean_entropy_is_shannon_entropy() -> None:
    logits = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    p = torch.softmax(logits, dim=-1)
    expected = float((-(p * p.log()).sum(dim=-1)).mean())
    assert float(mean_entropy(logits)) == pytest.approx(expected, rel=1e-6)


def batches(n: int = 3, size: int = 8) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(5)
    return [
        {"input_ids": torch.randint(3, 100, (size, 10), generator=g), "attention_mask": torch.ones(size, 10, dtype=torch.long),
         "labels": torch.zeros(size, dtype=torch.long)}  # labels are never read
        for _ in range(n)
    ]  # fmt: skip


def learn(models_dir, base_dir, **kw):
    paths = [models_dir / f"m{i}" for i in range(3)]
    model = XLMRobertaForSequenceClassification.from_pretrained(paths[0])
    return paths, model, learn_coefficients(model, paths, base_dir, batches(), **kw)


def test_the_first_step_scores_the_hand_built_initial_merge(models_dir, base_dir) -> None:
    """Step 0's entropy is that of θ₀ + 0.3 Σ τᵢ (head: the weighted average), built here as a state dict."""
    paths, model, result = learn(models_dir, base_dir, steps=1, granularity="task", weights=[1, 1, 2])
    sds = [read_state_dict(p) for p in paths]
    base = {f"roberta.{k}": v for k, v in read_state_dict(base_dir).items()}
    state = {}
    for name in sds[0]:
        if name in base:
            state[name] = base[name] + sum(0.3 * (sd[name] - base[name]) for sd in sds)
        else:
            state[name] = sum(w * sd[name] for w, sd in zip([0.25, 0.25, 0.5], sds))
    hand = XLMRobertaForSequenceClassification.from_pretrained(paths[0])
    hand.load_state_dict(state, strict=False)
    hand.eval()
    order = torch.randperm(3, generator=torch.Generator().manual_seed(0)).tolist()
    batch = batches()[order[0]]
    with torch.no_grad():
        logits = hand(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert result.entropy[0] == pytest.approx(float(mean_entropy(logits)), rel=1e-5)
    # the model passed in is untouched
    assert torch.equal(model.classifier.out_proj.weight, sds[0]["classifier.out_proj.weight"])


def test_entropy_decreases_and_the_seed_reproduces_bit_for_bit(models_dir, base_dir) -> None:
    _, _, first = learn(models_dir, base_dir, steps=30, lr=0.05, seed=3)
    _, _, again = learn(models_dir, base_dir, steps=30, lr=0.05, seed=3)
    assert torch.equal(first.coefficients, again.coefficients) and first.entropy == again.entropy
    start = sum(first.entropy[:3]) / 3
    end = sum(first.entropy[-3:]) / 3
    assert end < start, (start, end)
    assert first.granularity == "layer" and first.coefficients.shape == (3, len(first.groups)) > (3, 1)
    assert float(first.coefficients.min()) >= 0.0 and float(first.coefficients.max()) <= 1.0
    assert not torch.equal(first.coefficients, torch.full_like(first.coefficients, 0.3))


def test_the_merge_applies_the_learned_coefficients(models_dir, base_dir, tmp_path) -> None:
    paths, _, result = learn(models_dir, base_dir, steps=5, lr=0.05, granularity="layer")
    merge_models(paths, [1, 1, 1], method="adamerging", output_dir=tmp_path / "out", base_model=base_dir,
                 statistics=result.statistics(), progress=False)  # fmt: skip
    sds = [read_state_dict(p) for p in paths]
    base = {f"roberta.{k}": v for k, v in read_state_dict(base_dir).items()}
    for name, value in read_state_dict(tmp_path / "out").items():
        if name in result.groups:
            lam = result.coefficients[:, result.groups[name]]
            expected = base[name] + sum(float(lam[i]) * (sds[i][name] - base[name]) for i in range(3))
        else:  # the head: the weighted average
            expected = sum(sd[name] for sd in sds) / 3
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=name)
    summary = result.summary()
    assert summary["steps"] == 5 and summary["learned_tensors"] == len(result.groups)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"granularity": "block"}, "granularity must be 'task' or 'layer'"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"init_lambda": 1.5}, "init_lambda in"),
    ],
)
def test_bad_settings_are_refused(models_dir, base_dir, kw, message) -> None:
    with pytest.raises(MergeError, match=message):
        learn(models_dir, base_dir, **kw)


def test_no_inputs_is_refused(models_dir, base_dir) -> None:
    model = XLMRobertaForSequenceClassification.from_pretrained(models_dir / "m0")
    with pytest.raises(MergeError, match="needs unlabeled inputs"):
        learn_coefficients(model, [models_dir / "m0"], base_dir, [])
