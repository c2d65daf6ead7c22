"""The *read* stage: a definition file into plain data (dicts and lists), without judging it.

YAML is read here; XLSForm ``.xlsx`` in :mod:`questionnaires.xlsform`, whose entries carry ``_where``
(``"survey row 12"``) so that the validator's messages can point at the sheet and row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ErrorCode, QuestionnaireError
from .numbers import format_count
from .xlsform import read_xlsform

__all__ = ["DEFINITION_SUFFIXES", "read", "read_yaml"]

DEFINITION_SUFFIXES = (".yaml", ".yml", ".xlsx", ".xls")
# A YAML definition or unit list: the shipped ones are under 100 KB; checked before the file is read.
MAX_YAML_BYTES = 10_000_000


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file into plain data; a file that is not valid YAML raises INVALID_FILE."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise QuestionnaireError(
                ErrorCode.INVALID_FILE,
                f"tệp lớn {format_count(size)} byte, quá giới hạn {format_count(MAX_YAML_BYTES)} byte "
                f"(file larger than the limit of {MAX_YAML_BYTES:,} bytes)",
                str(path),
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, "file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"cannot read file: {exc}", str(path)) from None
    try:
        return yaml.safe_load(text)
    except RecursionError:  # e.g. "[[[[…" thousands deep: PyYAML's composer recurses per level
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE, "not valid YAML: nested too deeply", str(path)
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE, f"not valid YAML: {problem}", str(path), where
        ) from None


def read(path: str | Path) -> Any:
    """Read a definition file of any supported format into plain data."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return read_yaml(path)
    if suffix in (".xlsx", ".xls"):
        return read_xlsform(path)
    raise QuestionnaireError(
        ErrorCode.INVALID_FILE,
        f"unsupported file type {suffix or '(none)'}; use .yaml, .xlsx or .xls",
        str(path),
    )
