"""The one user-facing exception type of the scoring package."""

from __future__ import annotations


class ScoringError(Exception):
    """Input that scoring cannot use; the message says what is wrong and where (file, row, column, item).

    Messages are Vietnamese first, with the English in brackets for analysts.
    """
