"""Experiment names: the one place that formats (and, for people and tools, parses) the folder names of
merged models and results. Aggregation never parses names: it reads what ``results.json`` and
``merge_details.json`` record.

* merge: ``{mode}_merge_{target}_{N}merged[_with_target][_{preset}]``
* ensemble: ``ensemble_{voting}_{target}_{N}src[_with_target][_{preset}]``

``_with_target``: the target's own model is one of the N (``--include-target``).
* baseline (a target's own model in a sweep): ``baseline_{target}``
* single evaluation: ``eval_{model folder}_{locale}_{split}``
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from merginguriel.errors import UserError

_LOCALE = r"[a-z]{2,3}-[A-Z]{2}"
_PATTERNS = (
    re.compile(
        rf"^(?P<mode>.+)_merge_(?P<target>{_LOCALE})_(?P<n>\d+)merged(?P<self>_with_target)?(?:_(?P<preset>[a-z]+))?$"
    ),
    re.compile(
        rf"^(?P<mode>ensemble_[a-z_]+?)_(?P<target>{_LOCALE})_(?P<n>\d+)src(?P<self>_with_target)?"
        rf"(?:_(?P<preset>[a-z]+))?$"
    ),
    re.compile(rf"^(?P<mode>baseline)_(?P<target>{_LOCALE})$"),
)


def _suffix(preset: str | None, with_target: bool = False) -> str:
    return ("_with_target" if with_target else "") + (f"_{preset}" if preset else "")


def merge_name(
    mode: str, target: str, num_sources: int, preset: str | None = None, with_target: bool = False
) -> str:
    return f"{mode}_merge_{target}_{num_sources}merged{_suffix(preset, with_target)}"


def ensemble_name(
    voting: str, target: str, num_sources: int, preset: str | None = None, with_target: bool = False
) -> str:
    return f"ensemble_{voting}_{target}_{num_sources}src{_suffix(preset, with_target)}"


def baseline_name(target: str) -> str:
    return f"baseline_{target}"


def evaluation_name(model_path: str | os.PathLike, locale: str, split: str) -> str:
    return f"eval_{Path(str(model_path).rstrip('/')).name}_{locale}_{split}"


def check_output_name(name: str, flag: str = "--output-name") -> str:
    """An output name is a folder *name*: no path separators, no ``..``, not absolute, not hidden."""
    text = str(name)
    if not text or text in (".", "..") or "/" in text or "\\" in text or text.startswith("."):
        raise UserError(
            f"{flag} {text!r} must be a plain folder name (no '/', '..' or leading '.'); the folder is "
            "created under the output root (--merged-models-root / --results-root)."
        )
    return text


def parse_experiment_name(name: str) -> dict[str, Any] | None:
    """``{mode, target, n, preset, with_target}`` from a folder name made by this module, or None for others."""
    for pattern in _PATTERNS:
        m = pattern.match(name)
        if m:
            found = m.groupdict()
            return {
                "mode": found["mode"],
                "target": found["target"],
                "n": int(found["n"]) if found.get("n") else None,
                "preset": found.get("preset"),
                "with_target": bool(found.get("self")),
            }
    return None


__all__ = [
    "baseline_name",
    "check_output_name",
    "ensemble_name",
    "evaluation_name",
    "merge_name",
    "parse_experiment_name",
]
