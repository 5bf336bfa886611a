"""Test-only: a pause before every ``results.json``, in every Python started with this folder on ``PYTHONPATH``.

``tests/slurm`` puts this folder on the ``PYTHONPATH`` of a sweep it runs with ``--launcher slurm``; ``sbatch``
passes that environment on, so the Slurm tasks' Pythons load it too, and each experiment then waits
``MERGINGURIEL_TEST_RESULTS_DELAY`` seconds between its last output and its ``results.json``: long enough for
the test to ``scancel`` a task in the middle of its experiment. The pause is injected here, not in the product
(as ``tests/scale/slow_results_sweep.py`` does for a local sweep). Without the variable it does nothing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

DELAY = os.environ.get("MERGINGURIEL_TEST_RESULTS_DELAY")

if DELAY:
    import merginguriel.experiments.sweep  # noqa: F401  (imports every module a sweep experiment writes results with)
    from merginguriel.outputs import atomic as outputs

    original = outputs.write_json_atomic

    def slow_write(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Any:
        if Path(path).name == "results.json":
            time.sleep(float(DELAY))
        return original(path, *args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "merginguriel" and getattr(module, "write_json_atomic", None) is original:
            module.write_json_atomic = slow_write
