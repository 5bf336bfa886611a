"""Merge methods. Importing this package registers every method (one module per method)."""

from __future__ import annotations

from . import (  # noqa: F401
    adamerging,
    breadcrumbs,
    dare,
    della,
    fisher,
    fisher_simple,
    iso,
    karcher,
    layer_swap,
    linear,
    model_stock,
    multislerp,
    regmean,
    regmean_plusplus,
    sce,
    slerp,
    task_arithmetic,
    ties,
    tsv,
    widen,
    wudi,
)
