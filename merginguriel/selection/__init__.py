"""Recipe selection: choose the similarity source, weighting, K, method and its parameters for a target on
dev data only, under a named protocol, and report the result against baselines chosen the same way
(see :mod:`merginguriel.selection.runner`)."""

from merginguriel.selection.grid import Candidate, Grid, GridError, build_grid, read_grid
from merginguriel.selection.runner import PROTOCOLS, SelectionConfig, SelectionError, run_selection
from merginguriel.selection.scoring import SelectionContext

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
