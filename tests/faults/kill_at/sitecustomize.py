"""Test-only: SIGKILL the process at a chosen point of a merge, in every Python started with this folder on
``PYTHONPATH`` and ``MERGINGURIEL_TEST_KILL_AT`` set (``merged``: inside the merge, after the weights are written
to the temporary folder; ``evaluated``: after the merged model is complete, before its evaluation;
``recorded``: after ``merge_details.json`` of the results, before ``results.json``). Without the variable it does
nothing. The kill is injected here, not in the product."""

from __future__ import annotations

import os
import signal

POINT = os.environ.get("MERGINGURIEL_TEST_KILL_AT")


def _die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


if POINT:
    import merginguriel.merging.experiment as experiment
    import merginguriel.merging.pipeline as pipeline

    if POINT == "merged":
        pipeline.details_text = _die
    elif POINT == "evaluated":
        experiment.evaluate_model = _die
    elif POINT == "recorded":
        real = experiment.write_json_atomic

        def _write(path, data):
            if str(path).endswith("results.json"):
                _die()
            return real(path, data)

        experiment.write_json_atomic = _write
