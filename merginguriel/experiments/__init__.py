"""Experiments: many merges and evaluations at once. The NxN evaluation matrix (``nxn``), resumable sweeps
over locales × modes, locally or on Slurm (``sweep``), recipe selection on dev data under a named protocol
(``selection``), and aggregation of results with their plots (``aggregation``, ``result_plots``).

May import: ``merging`` and every layer below it; never ``training``.
"""
