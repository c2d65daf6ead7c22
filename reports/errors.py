"""The one exception type a user can cause in the reports package."""

from __future__ import annotations


class ReportError(Exception):
    """Input that cannot be turned into a report, export or chart; the message says what and where."""
