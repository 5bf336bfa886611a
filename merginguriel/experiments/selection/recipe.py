"""Reusing a chosen recipe: ``recipe.json`` (written by ``merginguriel select``) back into a merge request for
any target (``merginguriel merge --recipe recipe.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from merginguriel.errors import UserError
from merginguriel.experiments.selection.grid import Candidate
from merginguriel.experiments.selection.scoring import SelectionContext, candidate_request
from merginguriel.merging.pipeline import MergeRequest
from merginguriel.merging.statistics import StatisticsOptions


class RecipeError(UserError):
    """A recipe file that cannot be used."""


def read_recipe(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(
            f"Recipe file {path} not found (merginguriel select writes recipe.json per target)."
        )
    try:
        data = json.loads(path.read_text())
        Candidate.from_dict(data["recipe"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RecipeError(f"{path} is not a recipe.json written by merginguriel select ({exc}).") from None
    return data


def recipe_request(
    recipe: dict[str, Any],
    target: str,
    models_root: str,
    base_model: str,
    statistics: StatisticsOptions | None = None,
    seed: int = 42,
) -> MergeRequest:
    """The merge request that applies a recipe to ``target`` with the models under ``models_root``."""
    candidate = Candidate.from_dict(recipe["recipe"])
    if candidate.is_ensemble:
        raise RecipeError(
            f"The recipe is an ensemble ({candidate.label}): run it with merginguriel ensemble "
            f"--voting-method {candidate.mode.removeprefix('ensemble_')}, or choose a merge recipe."
        )
    matrices = {candidate.similarity: recipe["similarity_matrix"]} if recipe.get("similarity_matrix") else {}
    pool = list(recipe.get("pool") or [])
    if not pool:
        from merginguriel.models.paths import discover_models

        pool = sorted(discover_models(models_root, base_model))
    ctx = SelectionContext(models_root, base_model, matrices, pool, statistics=statistics, seed=seed)
    return candidate_request(candidate, target, ctx)


__all__ = ["RecipeError", "read_recipe", "recipe_request"]
