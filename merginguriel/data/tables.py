"""Reading the CSV tables users hand to the toolkit (similarity matrices, NxN matrices, aggregated results, locale
lists): a file that is missing, not text or not a table is one error naming the file, not a parser traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from merginguriel.errors import MissingInputError, UserError


def read_csv_table(path: str | os.PathLike, what: str, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)``; ``what`` says what the file should be (e.g. "an NxN accuracy matrix")."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path} not found: expected {what}.")
    try:
        frame = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not {what} (a CSV table): {first}.") from None
    if frame.empty and not len(frame.columns):
        raise UserError(f"{path} is empty: expected {what}.")
    return frame


__all__ = ["read_csv_table"]
