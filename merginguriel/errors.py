"""User errors: problems with what was asked for (a flag, a file, a locale, a model folder), as opposed to bugs.

Every error the toolkit raises for bad input derives from :class:`UserError`; a command prints it as one
``error: …`` line naming the problem and the fix and exits with status 2 (``MERGINGURIEL_DEBUG=1`` shows the
traceback instead). Any other exception is a bug and keeps its traceback. ``UserError`` is a ``ValueError`` (and
:class:`MissingInputError` a ``FileNotFoundError``) so that callers catching the built-in kinds still catch them.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: the message names the problem and how to fix it."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the user named (or that a convention implies) is not there."""


__all__ = ["MissingInputError", "UserError"]
