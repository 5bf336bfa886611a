"""RegMean++ (Nguyen et al. 2025) against a re-implementation written here with plain modules: hybrid models
(merged stages below, the candidate's own from the current stage up) built by load_state_dict, the inputs of
each linear layer captured by hooks, Gram matrices and the closed form computed in float64 by hand."""

from __future__ import annotations

import copy

import pytest
import torch
from auto_merge_llm import MergeError, merge_models
from auto_merge_llm.layers import depth
from auto_merge_llm.regmean_plusplus import progressive_gram_matrices
from auto_merge_llm.statistics import gram_matrices
from engine_testutils import read_state_dict
from transformers import XLMRobertaForSequenceClassification

ALPHA = 0.8
WEIGHTS = [0.5, 0.3, 0.2]


def batches(seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(2):
        ids = torch.randint(3, 100, (3, 7), generator=g)
        mask = torch.ones(3, 7, dtype=torch.long)
        mask[1, 5:] = 0
        ids[1, 5:] = 1
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def stage(name: str, layers: int = 2) -> int:
    d = depth(name, layers)
    return layers if d is None else d


def hand_regmean_plusplus(paths):
    models = [XLMRobertaForSequenceClassification.from_pretrained(p).eval() for p in paths]
    states = [{n: p.detach().clone() for n, p in m.named_parameters()} for m in models]
    linears = [n for n, mod in models[0].named_modules() if isinstance(mod, torch.nn.Linear)]
    merged: dict[str, torch.Tensor] = {}
    grams = [{} for _ in paths]
    for s in (-1, 0, 1, 2):
        here = [m for m in linears if stage(f"{m}.weight") == s]
        for i, model in enumerate(models):
            hybrid = copy.deepcopy(model)
            hybrid.load_state_dict(merged, strict=False)
            captured = {m: [] for m in here}
            hooks = [hybrid.get_submodule(m).register_forward_hook(
                lambda mod, inp, out, m=m, c=captured: c[m].append(inp[0].detach())) for m in here]  # fmt: skip
            for batch in batches(10 + i):
                mask = batch["attention_mask"].bool()
                start = {m: len(captured[m]) for m in here}
                with torch.no_grad():
                    hybrid(**batch)
                for m in here:
                    for j in range(start[m], len(captured[m])):
                        x = captured[m][j]
                        captured[m][j] = x[mask] if x.dim() == 3 else x
            for h in hooks:
                h.remove()
            for m in here:
                x = torch.cat(captured[m]).double()
                grams[i][m] = x.t() @ x
        for n in [n for n in states[0] if stage(n) == s]:
            module = n.rsplit(".", 1)[0]
            if n.endswith(".weight") and module in here:
                lhs = sum(c * (ALPHA * g[module] + (1 - ALPHA) * torch.diag(torch.diagonal(g[module])))
                          for c, g in zip(WEIGHTS, grams))  # fmt: skip
                rhs = sum(c * (ALPHA * g[module] + (1 - ALPHA) * torch.diag(torch.diagonal(g[module])))
                          @ st[n].double().t() for c, g, st in zip(WEIGHTS, grams, states))  # fmt: skip
                merged[n] = torch.linalg.solve(lhs, rhs).t().float()
            else:
                merged[n] = sum(c * st[n] for c, st in zip(WEIGHTS, states))
    return grams, merged


def test_regmean_plusplus_equals_the_hand_computation(models_dir, tmp_path) -> None:
    paths = [models_dir / f"m{i}" for i in range(3)]
    model = XLMRobertaForSequenceClassification.from_pretrained(paths[0])
    grams = progressive_gram_matrices(model, paths, [batches(10 + i) for i in range(3)], weights=WEIGHTS,
                                      regmean_alpha=ALPHA)  # fmt: skip
    hand_grams, hand_merged = hand_regmean_plusplus(paths)
    for i in range(3):
        assert set(grams[i]) == set(hand_grams[i])
        for m, g in grams[i].items():
            torch.testing.assert_close(g.double(), hand_grams[i][m], rtol=1e-4, atol=1e-3, msg=m)
    # head_merge="method": the head by RegMean too (on the merged backbone's features), as computed by hand
    merge_models(paths, WEIGHTS, method="regmean_plusplus", output_dir=tmp_path / "out", statistics=grams,
                 method_params={"regmean_alpha": ALPHA}, head_merge="method", progress=False)  # fmt: skip
    out = read_state_dict(tmp_path / "out")
    for n, value in hand_merged.items():
        torch.testing.assert_close(out[n], value, rtol=1e-4, atol=1e-5, msg=n)
    # the default head policy averages the head and leaves the backbone as it is
    merge_models(paths, WEIGHTS, method="regmean_plusplus", output_dir=tmp_path / "lin", statistics=grams,
                 method_params={"regmean_alpha": ALPHA}, progress=False)  # fmt: skip
    lin, sds = read_state_dict(tmp_path / "lin"), [read_state_dict(p) for p in paths]
    for n in out:
        expected = sum(c * sd[n] for c, sd in zip(WEIGHTS, sds)) if n.startswith("classifier.") else out[n]
        torch.testing.assert_close(lin[n], expected, rtol=1e-5, atol=1e-6, msg=n)


def test_blocks_above_the_first_see_the_merge_model_not_the_candidate(models_dir) -> None:
    """Block 0's inputs are the merged embeddings' output; from block 1 on they differ from plain RegMean's."""
    paths = [models_dir / f"m{i}" for i in range(3)]
    model = XLMRobertaForSequenceClassification.from_pretrained(paths[0])
    plus = progressive_gram_matrices(model, paths, [batches(10 + i) for i in range(3)], weights=WEIGHTS)
    plain = gram_matrices(XLMRobertaForSequenceClassification.from_pretrained(paths[1]), batches(11))
    name = "roberta.encoder.layer.1.attention.self.query"
    assert not torch.allclose(plus[1][name], plain[name], rtol=1e-3)


def test_one_batch_list_per_model_is_required(models_dir) -> None:
    paths = [models_dir / f"m{i}" for i in range(3)]
    model = XLMRobertaForSequenceClassification.from_pretrained(paths[0])
    with pytest.raises(MergeError, match="non-empty list of batches for each of the 3 models"):
        progressive_gram_matrices(model, paths, [batches(1)])
