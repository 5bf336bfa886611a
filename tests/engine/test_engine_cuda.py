"""The math on CUDA equals the math on the CPU (within float tolerance). Runs only where a GPU is present;
CPU-only machines (CI) skip it."""

import pytest
import torch
from auto_merge_llm import merge_models
from engine_testutils import read_state_dict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(
    "method, params",
    [
        ("linear", {}),
        ("task_arithmetic", {"lambda_": 0.7}),
        ("ties", {"density": 0.3}),
        ("dare", {"drop_rate": 0.5, "dare_combine": "ties"}),
        ("breadcrumbs", {"density": 0.8, "gamma": 0.05}),
        ("slerp", {}),
        ("model_stock", {}),
        ("widen", {}),
        ("fisher_simple", {}),
    ],
)
def test_cuda_equals_cpu(models_dir, base_dir, tmp_path, method, params):
    paths = [models_dir / "m0", models_dir / "m1", models_dir / "m2"]
    outs = {}
    for device in ("cpu", "cuda"):
        merge_models(
            paths, [0.5, 0.3, 0.2], method=method, output_dir=tmp_path / device, base_model=base_dir,
            method_params=params, device=device, seed=3, progress=False,
        )  # fmt: skip
        outs[device] = read_state_dict(tmp_path / device)
    assert outs["cpu"].keys() == outs["cuda"].keys()
    for name, value in outs["cpu"].items():
        torch.testing.assert_close(outs["cuda"][name], value, rtol=1e-4, atol=1e-5, msg=name)
