"""Recipe selection: choose the similarity source, weighting, K, method and its parameters for a target on
dev data only, under a named protocol, and report the result against baselines chosen the same way
(see :mod:`merginguriel.experiments.selection.runner`)."""

from merginguriel.experiments.selection.grid import Candidate, Grid, GridError, build_grid, read_grid
from merginguriel.experiments.selection.runner import (
    PROTOCOLS,
    SelectionConfig,
    SelectionError,
    run_selection,
)
from merginguriel.experiments.selection.scoring import SelectionContext

__all__ = [
    "PROTOCOLS",
    "Candidate",
    "Grid",
    "GridError",
    "SelectionConfig",
    "SelectionContext",
    "SelectionError",
    "build_grid",
    "read_grid",
    "run_selection",
]
