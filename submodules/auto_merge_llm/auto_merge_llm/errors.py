"""Error type raised for every user-facing problem in :mod:`auto_merge_llm`."""

from __future__ import annotations


class MergeError(ValueError):
    """A merge request that cannot be carried out.

    The message always names the problem and, where one exists, the fix.
    """
