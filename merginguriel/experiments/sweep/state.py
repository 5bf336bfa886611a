"""A sweep's record of what happened: ``state.jsonl`` (one line per outcome, appended atomically) and the
finished test (an experiment is finished iff its ``results.json`` records the same key)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from merginguriel.experiments.sweep.plan import Prepared, SweepOptions


def recorded_key(results_dir: str | os.PathLike) -> str | None:
    """The experiment key stored in ``results_dir/results.json`` (None when absent or unreadable)."""
    path = Path(results_dir) / "results.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("experiment", {}).get("key")
    except (ValueError, OSError):
        return None


def is_finished(prepared: Prepared) -> bool:
    return recorded_key(prepared.results_dir) == prepared.key


def append_state(opts: SweepOptions, record: dict[str, Any]) -> None:
    """Append one JSON line to the sweep's state file (one ``write`` call, O_APPEND)."""
    opts.sweep_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(opts.state_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_state(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a state file (a torn last line from a kill is ignored)."""
    records = []
    p = Path(path)
    if not p.is_file():
        return records
    for line in p.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def failure_record(mode: str, target: str, error: str) -> dict[str, Any]:
    """The record of an experiment whose worker or job died outside ``execute_experiment``."""
    return {"mode": mode, "target": target, "name": f"{mode}_{target}", "status": "failed", "error": error}


def summarize(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts = {s: sum(1 for o in outcomes if o.get("status") == s) for s in ("success", "skipped", "failed")}
    failures = [
        {"name": o.get("name"), "error": o.get("error")} for o in outcomes if o.get("status") == "failed"
    ]
    return {"total": len(outcomes), **counts, "failures": failures}


__all__ = ["append_state", "failure_record", "is_finished", "read_state", "recorded_key", "summarize"]
