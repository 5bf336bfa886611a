"""Merge methods. Importing this package registers every method (one module per method)."""

from __future__ import annotations

from . import (  # noqa: F401
    breadcrumbs,
    dare,
    fisher,
    fisher_simple,
    linear,
    model_stock,
    regmean,
    slerp,
    task_arithmetic,
    ties,
    widen,
)
