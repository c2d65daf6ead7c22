"""Excel workbooks and charts from an index table. No Flask.

``build_report`` (the ranked district workbook) and the chart functions load matplotlib, so they are
imported on first use; the responses exports are light and imported directly.
"""

from __future__ import annotations

from typing import Any

from .errors import ReportError
from .responses import add_responses_sheets, neutralise, write_responses_csv, write_responses_xlsx

__all__ = [
    "ReportError",
    "add_responses_sheets",
    "build_report",
    "neutralise",
    "write_responses_csv",
    "write_responses_xlsx",
]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from .workbook import build_report

        return build_report
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
