#!/usr/bin/env bash
# The GPU check (issue 22): where CUDA is present, the CUDA tests and, in a few minutes, the GPU timings of
# benchmarks/gpu/gpu_check.py (merge K=5 at XLM-R-base size on CPU vs GPU, expected Fisher on 1,000 examples,
# NxN 10x10 in fp32 and bf16 autocast, packed vs padded generative training, flash-attention resolution), written
# into benchmarks/README.md between the gpu_check markers.
#
#   TORCH_SPEC=torch make setup && bash benchmarks/gpu_check.sh     # a CUDA build of torch first
#
# Without a CUDA device it says so and exits 0: the CPU paths are in `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing to check (make test runs the CPU paths)"
    exit 0
fi
"$PY" -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(0), "torch", torch.__version__)'
# the tests that need CUDA (they skip elsewhere), and the GPU-relevant training tests
"$PY" -m pytest -q -rs -p no:cacheprovider tests/engine/test_engine_cuda.py tests/engine/test_engine_api_linear.py \
    tests/training/test_trainer.py tests/training/test_attention.py tests/generative/test_packing.py
"$PY" benchmarks/gpu/gpu_check.py --device cuda --workdir "${GPU_CHECK_WORKDIR:-/tmp/gpu_check}" "$@"
