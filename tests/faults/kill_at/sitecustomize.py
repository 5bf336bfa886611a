"""Test-only: SIGKILL the process at a chosen point, in every Python started with this folder on ``PYTHONPATH``
and ``MERGINGURIEL_TEST_KILL_AT`` set. Without the variable it does nothing. The kill is injected here, not in
the product.

Merge points: ``merged`` (inside the merge, after the weights are written to the temporary folder),
``evaluated`` (after the merged model is complete, before its evaluation), ``recorded`` (after
``merge_details.json`` of the results, before ``results.json``).

Evaluation points (evaluate, ensemble, nxn): ``forward`` (the first forward pass over a split), ``cached`` (just
after a logits-cache entry is written), ``renaming:NAME`` (an atomic write of the file NAME: its temporary file
is complete, the rename has not happened), ``row`` (nxn: after the first model row of the matrix is written).
"""

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
    elif POINT == "forward":
        import merginguriel.models.evaluation as evaluation
        import merginguriel.models.inference as inference

        inference.predict_logits = evaluation.predict_logits = _die
    elif POINT == "cached":
        from merginguriel.models.logits_cache import LogitsCache

        real_store = LogitsCache.store

        def _store(self, *args, **kwargs):
            real_store(self, *args, **kwargs)
            _die()

        LogitsCache.store = _store
    elif POINT.startswith("renaming:"):
        name = POINT.split(":", 1)[1]
        real_replace = os.replace

        def _replace(src, dst, *args, **kwargs):
            if os.path.basename(os.fspath(dst)) == name:
                _die()
            return real_replace(src, dst, *args, **kwargs)

        os.replace = _replace
    elif POINT == "row":
        import merginguriel.experiments.nxn as nxn

        real_matrix, calls = nxn._write_matrix, []

        def _matrix(frame, path):
            calls.append(path)
            if len(calls) == 3:  # the first row's accuracy and macro-F1 matrices are written
                _die()
            return real_matrix(frame, path)

        nxn._write_matrix = _matrix
