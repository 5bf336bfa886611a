"""Which splits a phase of work may read: the data layer's guard that makes "selection reads dev data only,
the test split once at the end" a property of the code, not a convention.

A :class:`SplitPolicy` names the (locale, split) pairs a phase may read; inside ``with reading(policy):`` every
:func:`merginguriel.data.massive.load_split` call checks it first and raises :class:`DataAccessError` (naming
the phase, the locale and the split) for anything else, before a byte of the file is read. Outside a policy
everything may be read. Policies nest (the innermost applies) and are per thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

SPLIT_NAMES = ("train", "validation", "test")
_STATE = threading.local()


class DataAccessError(PermissionError):
    """A phase tried to read a split its policy forbids (e.g. selection reading the test split)."""


@dataclass(frozen=True)
class SplitPolicy:
    """``allowed``: (locale, split) pairs, where locale ``"*"`` means any locale; ``denied`` wins over it."""

    phase: str
    allowed: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    denied: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, phase: str, allow: Iterable[tuple[str, str]] = (), deny: Iterable[tuple[str, str]] = ()
    ) -> SplitPolicy:
        return cls(phase, frozenset(allow), frozenset(deny))

    def permits(self, locale: str, split: str) -> bool:
        if (locale, split) in self.denied or ("*", split) in self.denied:
            return False
        return (locale, split) in self.allowed or ("*", split) in self.allowed


def current_policy() -> SplitPolicy | None:
    stack = getattr(_STATE, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def reading(policy: SplitPolicy) -> Iterator[SplitPolicy]:
    """Apply ``policy`` to every split read in this thread until the block ends."""
    stack = getattr(_STATE, "stack", None)
    if stack is None:
        stack = _STATE.stack = []
    stack.append(policy)
    try:
        yield policy
    finally:
        stack.pop()


def check_access(locale: str, split: str) -> None:
    """Raise :class:`DataAccessError` if the current policy forbids reading ``locale``'s ``split``."""
    policy = current_policy()
    if policy is not None and not policy.permits(locale, split):
        raise DataAccessError(
            f"{policy.phase} may not read {locale}/{split}: that split is kept out of this phase (selection reads "
            "dev data only; the test split is read once, after selection; leave-target-out never reads the "
            "target before its final evaluation)."
        )


__all__ = ["DataAccessError", "SplitPolicy", "check_access", "current_policy", "reading"]
