"""Merge methods. Importing this package registers every method (one module per method)."""

from __future__ import annotations

from . import (  # noqa: F401
    breadcrumbs,
    dare,
    della,
    fisher,
    fisher_simple,
    iso,
    karcher,
    linear,
    model_stock,
    multislerp,
    regmean,
    sce,
    slerp,
    task_arithmetic,
    ties,
    tsv,
    widen,
    wudi,
)
