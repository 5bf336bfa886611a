"""Experiment keys: a stable hash of every option that changes an experiment's result."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def experiment_key(options: Mapping[str, Any], length: int = 16) -> str:
    """sha256 of the options as canonical JSON (sorted keys, floats as repr), first ``length`` hex digits."""
    blob = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]
