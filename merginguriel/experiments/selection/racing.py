"""Candidates race on growing dev fidelity (successive halving, Jamieson & Talwalkar 2016), within a budget.

Rung ``r`` of ``R`` scores every surviving candidate at fidelity ``r``; the best ``ceil(n / eta)`` (ties: grid
order) go on, together with every candidate that is not *clearly worse* than the rung's leader and the candidates
the caller always keeps (the best of each baseline family and the fixed default, so every reported row is scored
at full fidelity). The last rung is the full dev data.

"Clearly worse" is a one-sided paired test of what the full data would say. A rung scores each candidate on
``n`` units (folds, or dev rows) drawn without replacement from the ``N`` of the last rung; with ``d_i`` the
candidate's score minus the leader's on unit ``i``, the full-data difference ``D = mean over all N units`` is
estimated by

    mean(d) + t_{c, n-1} * sd(d) / sqrt(n) * sqrt((N - n) / (N - 1))

(Student's t at confidence ``c``, finite-population correction). A candidate is dropped early only when this upper
bound is below 0 — a candidate the full data would rank first survives each rung with probability about ``c`` —
and finalists are compared on the full data, as the exhaustive search compares them. ``confidence=0`` is plain
successive halving (the best ``1/eta`` only).

What a rung grows is chosen by the caller (:func:`rung_plan`):

* several scoring locales (``leave-target-out``: the other targets are the folds) — rung ``r`` uses the first
  ``ceil(F / eta^(R-1-r))`` of a fixed seeded order of the pool (the same for every target, so targets share
  their merges), each on its full dev split: a merge is scored once, then released;
* one locale (``target-dev``, ``unlabeled-target``) — rung ``r`` uses a seeded sample of
  ``max(min_rows, ceil(N / eta^(R-1-r)))`` dev rows: fewer forward passes, the same merges (kept until the
  candidate drops out).

A :class:`Budget` (seconds or evaluations) stops the race early: the choice is then made on the last rung
every surviving candidate completed, and the run says so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from merginguriel.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class RaceOptions:
    """Successive halving: keep the best ``1/eta`` at each of ``rungs`` fidelity levels (the last is full)."""

    eta: int = 2  # 2, not 3: a first rung of 5 of 19 folds, not 3 (benchmarks/zoo/race_replay.py)
    rungs: int = 3
    min_rows: int = 100  # fewest dev rows at the first rung of a one-locale race
    seed: int = 0  # order of the folds, samples of the rows
    # keep every candidate not clearly worse than the leader at this confidence (0: off)
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.eta < 2 or self.rungs < 1 or self.min_rows < 1 or not 0 <= self.confidence < 1:
            raise UserError(
                f"Racing needs eta >= 2, rungs >= 1, min_rows >= 1 and 0 <= confidence < 1 (got eta={self.eta}, "
                f"rungs={self.rungs}, min_rows={self.min_rows}, confidence={self.confidence})."
            )

    def describe(self) -> str:
        kept = f", keeping what is not clearly worse at {self.confidence:g}" if self.confidence else ""
        return f"successive halving (eta {self.eta}, {self.rungs} rungs{kept})"


_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|evals?|evaluations?)?\s*$")
_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


@dataclass
class Budget:
    """A limit on selection work: wall-clock ``seconds`` or computed ``evaluations`` (a candidate scored on one
    locale's dev selection; answers from the score store are free)."""

    seconds: float | None = None
    evaluations: int | None = None
    started: float = field(default_factory=time.monotonic)
    used: int = 0
    hit: bool = False  # the race stopped early because of it

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``90s``, ``45m``, ``2h`` (seconds) or ``500``, ``500evals`` (evaluations)."""
        m = _BUDGET.match(str(text))
        if not m or float(m.group(1)) <= 0:
            raise UserError(
                f"--budget {text!r} is not a positive time (90s, 45m, 2h) or number of evaluations (500, 500evals)."
            )
        value, unit = float(m.group(1)), m.group(2)
        if unit in _SECONDS:
            return cls(seconds=value * _SECONDS[unit])
        if value != int(value):
            raise UserError(f"--budget {text!r}: a number of evaluations is a whole number.")
        return cls(evaluations=int(value))

    def exhausted(self) -> bool:
        if self.seconds is not None and time.monotonic() - self.started >= self.seconds:
            return True
        return self.evaluations is not None and self.used >= self.evaluations

    def share(self, parts: int) -> Budget:
        """A new budget of an equal share (evaluations rounded up) of what is left of this one."""
        return Budget(
            seconds=None if self.seconds is None
            else max(0.0, self.seconds - (time.monotonic() - self.started)) / parts,
            evaluations=None if self.evaluations is None else -(-max(0, self.evaluations - self.used) // parts),
        )  # fmt: skip

    def spend(self, evaluations: int = 1) -> None:
        self.used += evaluations

    def describe(self) -> str:
        limit = f"{self.seconds:g} s" if self.seconds is not None else f"{self.evaluations} evaluations"
        spent = f"{time.monotonic() - self.started:.0f} s, {self.used} evaluations"
        return f"budget {limit}: used {spent}" + (" (exhausted: the race stopped early)" if self.hit else "")


@dataclass(frozen=True)
class Rung:
    """One fidelity level: the locales scored, and per locale the rows (None = the whole dev split)."""

    locales: tuple[str, ...]
    rows: int | None = None


def not_clearly_worse(candidate: np.ndarray, leader: np.ndarray, population: int, confidence: float) -> bool:
    """Whether ``candidate`` may still beat ``leader`` on all ``population`` units, given their paired scores on
    ``n`` of them drawn without replacement: the one-sided upper confidence bound of the mean difference (the
    module's formula) is at least 0. False when there is nothing to test on (fewer than 2 paired units)."""
    d = np.asarray(candidate, dtype=float) - np.asarray(leader, dtype=float)
    n = d.size
    if confidence <= 0 or n < 2 or np.isnan(d).any():
        return False
    if n >= population:
        return bool(d.mean() >= 0)
    from scipy import stats

    spread = d.std(ddof=1) / math.sqrt(n) * math.sqrt((population - n) / (population - 1))
    return bool(d.mean() + stats.t.ppf(confidence, n - 1) * spread >= -1e-12)


def rung_plan(folds: Sequence[str], rows: int, options: RaceOptions) -> list[Rung]:
    """The rungs of a race over ``folds`` (scoring locales, in their race order) whose dev splits have ``rows``
    rows: several folds grow the folds (full rows), one fold grows the rows."""
    plan = []
    for r in range(options.rungs):
        shrink = options.eta ** (options.rungs - 1 - r)
        if len(folds) > 1:
            count = len(folds) if shrink == 1 else min(len(folds), max(2, math.ceil(len(folds) / shrink)))
            plan.append(Rung(tuple(folds[:count])))
        else:
            n = rows if shrink == 1 else min(rows, max(options.min_rows, math.ceil(rows / shrink)))
            plan.append(Rung(tuple(folds), None if n >= rows else n))
    return list(dict.fromkeys(plan))  # a small pool or split: fewer distinct rungs


def fold_order(pool: Sequence[str], seed: int) -> list[str]:
    """A fixed seeded order of the whole pool (a target is then skipped), the same for every target."""
    order = np.random.default_rng(seed).permutation(len(pool))
    return [sorted(pool)[i] for i in order]


@dataclass
class RaceResult(Generic[T]):
    """Scores per rung (candidate -> mean score; NaN = failed), the survivors of each rung, and the decision."""

    rungs: list[Rung]
    scores: list[dict[T, float]]
    completed: int  # rungs every surviving candidate completed
    final: dict[T, float]  # the scores the choice is made on (the last completed rung)
    reached: dict[T, int]  # the last rung each candidate was scored at
    close: list[int] = field(default_factory=list)  # per rung: survivors kept only as not clearly worse


def successive_halving(
    candidates: Sequence[T],
    rungs: Sequence[Rung],
    score: Callable[[T, Rung], float | tuple[float, np.ndarray]],
    keep: Callable[[Sequence[T], dict[T, float]], set[T]],
    eta: int,
    budget: Budget | None = None,
    contenders: Sequence[T] | None = None,
    confidence: float = 0.0,
    population: int | None = None,
) -> RaceResult[T]:
    """Race ``candidates`` over ``rungs``: ``score(c, rung)`` is a candidate's score at a rung (NaN when it cannot
    be scored: it drops out), or the score and its values on the rung's units (folds or rows, in the same order
    for every candidate). After each rung but the last, of the alive ``contenders``
    (default: every candidate; the others are raced only for ``keep``, e.g. a reported baseline that is never
    chosen) go on the best ``ceil(n / eta)`` (ties: the order of ``candidates``), every one
    :func:`not_clearly_worse` than the best at ``confidence`` (units paired, ``population`` units at full
    fidelity), and ``keep(alive, scores)``. A ``budget`` stops the race between two evaluations; the choice is then
    made on the last rung every survivor completed."""
    alive = list(candidates)
    can_win = set(candidates if contenders is None else contenders)
    scores: list[dict[T, float]] = []
    reached: dict[T, int] = {}
    close: list[int] = []
    completed = 0
    for r, rung in enumerate(rungs):
        done: dict[T, float] = {}
        units: dict[T, np.ndarray] = {}
        for c in alive:
            if budget is not None and budget.exhausted():
                budget.hit = True
                break
            scored = score(c, rung)
            done[c], units[c] = scored if isinstance(scored, tuple) else (scored, np.asarray([scored]))
            reached[c] = r
        scores.append(done)
        if len(done) < len(alive):
            break
        completed = r + 1
        if r == len(rungs) - 1:
            break
        racing = [c for c in alive if c in can_win]
        ranked = sorted(
            (c for c in racing if not np.isnan(done[c])), key=lambda c: (-done[c], alive.index(c))
        )
        best = set(ranked[: max(1, math.ceil(len(racing) / eta))])
        near = {
            c for c in ranked[1:]
            if units[c].shape == units[ranked[0]].shape
            and not_clearly_worse(units[c], units[ranked[0]], population or units[c].size, confidence)
        } - best  # fmt: skip
        close.append(len(near))
        chosen = best | near | keep(alive, done)
        alive = [c for c in alive if c in chosen]
    if completed == 0:  # the budget ran out inside the first rung: the candidates scored so far
        final = dict(scores[0]) if scores else {}
    else:
        final = scores[completed - 1]
    return RaceResult(list(rungs), scores, completed, final, reached, close)


__all__ = [
    "Budget",
    "RaceOptions",
    "RaceResult",
    "Rung",
    "fold_order",
    "not_clearly_worse",
    "rung_plan",
    "successive_halving",
]
