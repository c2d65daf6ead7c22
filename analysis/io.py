"""Read the inputs of scoring from files: responses, sampling frame, raking margins, previous results.

Every reader accepts CSV (UTF-8 with or without BOM), XLSX and Parquet, and returns a
:class:`pandas.DataFrame` whose index holds the row number a person sees in the file (the header is
row 1), so that later messages can point at the row. Checking the *content* against a questionnaire
happens in :func:`analysis.data.prepare_responses`, so that a DataFrame handed to
:func:`analysis.score` directly gets the same checks.

Layouts
-------
responses
    ``response_id``, ``unit``, optional ``stratum`` and ``group``, then one column per item code
    holding the stored answer code (blank = no answer). In an XLSX workbook the sheet ``Dữ liệu`` (as
    the app exports it) or ``responses`` is read, else the first sheet.
frame
    ``unit``, optional ``stratum``, ``population`` (number of people served in the period).
margins
    ``variable``, ``category``, ``population`` and optionally ``unit``. ``variable`` is an item code,
    ``stratum`` or ``group``, or several joined by ``:`` for a cross-classification
    (``gioi_tinh:do_tuoi`` with categories such as ``1:3``). Without ``unit`` the margins are totals
    for the whole area; with ``unit`` they are totals within each unit.

CSV written for spreadsheets
----------------------------
Text that a spreadsheet would read as a formula (OWASP "CSV injection") is written with a leading
``'`` by :func:`neutralise` (the responses export and :meth:`~analysis.results.IndexTable.write_csv`);
:func:`restore` takes it off again when such a file is read back, so the value reads back equal.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ScoringError

RESPONSE_SHEETS = ("Dữ liệu", "responses")
RESPONSE_TEXT_COLUMNS = ("response_id", "unit", "stratum", "group")
SUPPORTED = (".csv", ".xlsx", ".parquet")

# First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix ``'`` to text a spreadsheet would read as a formula; leave numbers and other values alone."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def restore(text: str) -> str:
    """Undo :func:`neutralise`: drop the ``'`` before text that starts with a formula trigger.

    Every text that :func:`neutralise` changed comes back exactly. A text that itself starts with
    ``'`` and a trigger is read as neutralised too, as a spreadsheet user who typed it meant.
    """
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def read_table(
    path: str | Path,
    what: str,
    text_columns: Iterable[str] = (),
    sheets: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a CSV, XLSX or Parquet file into a DataFrame indexed by file row number.

    Parameters
    ----------
    path
        The file.
    what
        What the file holds, for messages (``"responses"``, ``"frame"`` …).
    text_columns
        Columns read as text whatever they look like (codes such as ``"01"`` must keep their zero).
    sheets
        XLSX sheet names to prefer, in order; the first sheet otherwise.

    Returns
    -------
    pandas.DataFrame
        Column names stripped of spaces; rows that are entirely blank are left out; the index is the
        row number in the file (header = row 1) and ``attrs`` carry ``source`` and ``row_numbers``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise ScoringError(
            f"{path}: không đọc được tệp {what} loại {suffix or '(không có đuôi)'}; dùng .csv, .xlsx "
            f"hoặc .parquet (unsupported {what} file type; use .csv, .xlsx or .parquet)"
        )
    if not path.is_file():
        raise ScoringError(f"{path}: không tìm thấy tệp {what} ({what} file not found)")
    text_columns = tuple(text_columns)
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                names = next(csv.reader(fh), [])
            _check_header(names, path)
            df = pd.read_csv(
                path,
                encoding="utf-8-sig",
                dtype={c: str for c in names if c.strip() in text_columns},
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,  # keep line numbers; blank rows are dropped below
            )
            first_row = 2
        elif suffix == ".xlsx":
            with pd.ExcelFile(path, engine="openpyxl") as book:
                names = [str(s) for s in book.sheet_names]
                sheet = next((s for s in sheets if s in names), names[0])
                header = pd.read_excel(book, sheet_name=sheet, header=None, nrows=1)
                cols = [str(c) for c in header.iloc[0].tolist()] if len(header) else []
                _check_header([c for c in cols if c != "nan"], path)
                df = pd.read_excel(
                    book,
                    sheet_name=sheet,
                    dtype={c: str for c in cols if c.strip() in text_columns},
                    keep_default_na=False,
                    na_values=[""],
                )
            first_row = 2
        else:
            df = pd.read_parquet(path)
            first_row = 1  # Parquet has no header row: row 1 is the first record
    except ScoringError:
        raise
    except UnicodeDecodeError:
        raise ScoringError(
            f"{path}: tệp CSV không phải mã UTF-8; hãy lưu lại dạng 'CSV UTF-8' (the CSV file is not UTF-8)"
        ) from None
    except pd.errors.EmptyDataError:
        raise ScoringError(f"{path}: tệp {what} trống (the {what} file is empty)") from None
    except (ValueError, OSError, pd.errors.ParserError, KeyError, ImportError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScoringError(
            f"{path}: không đọc được tệp {what} (cannot read the {what} file: {first})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl and pyarrow raise their own types on corrupt files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScoringError(
            f"{path}: không đọc được tệp {what} (cannot read the {what} file: {first})"
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    # A spreadsheet often carries empty formatted columns ("Unnamed: 7") and rows; they hold no data.
    unnamed = [c for c in df.columns if c.startswith("Unnamed: ") and df[c].isna().all()]
    if unnamed:
        df = df.drop(columns=unnamed)
    df.index = pd.RangeIndex(first_row, first_row + len(df))
    if suffix != ".parquet" and len(df.columns):  # spreadsheets carry empty rows; Parquet does not
        blank = df.isna().all(axis=1)
        if blank.any():
            df = df.loc[~blank]
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise ScoringError(
            f"{path}: cột bị lặp tên {', '.join(dupes)} (duplicated column names: {', '.join(dupes)})"
        )
    df.attrs["source"] = str(path)
    df.attrs["row_numbers"] = True
    return df


def _check_header(names: Sequence[str], path: Path) -> None:
    stripped = [str(n).strip() for n in names]
    dupes = sorted({n for n in stripped if n and stripped.count(n) > 1})
    if dupes:
        raise ScoringError(
            f"{path}: cột bị lặp tên {', '.join(dupes)} (duplicated column names: {', '.join(dupes)})"
        )


def read_responses(path: str | Path, questionnaire: object | None = None) -> pd.DataFrame:
    """Read a responses table (CSV, XLSX or Parquet).

    Parameters
    ----------
    path
        The file. In XLSX the sheet ``Dữ liệu`` or ``responses`` is read, else the first sheet.
    questionnaire
        Accepted for symmetry with :func:`analysis.score`; the content is checked there, against it.

    Returns
    -------
    pandas.DataFrame
        The table as read, ``response_id``/``unit``/``stratum``/``group`` as text, indexed by file row.
    """
    df = read_table(path, "responses", RESPONSE_TEXT_COLUMNS, RESPONSE_SHEETS)
    missing = [c for c in ("response_id", "unit") if c not in df.columns]
    if missing:
        raise ScoringError(
            f"{path}: thiếu cột bắt buộc {', '.join(missing)} "
            f"(missing required column(s) {', '.join(missing)})"
        )
    return df


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a sampling frame: ``unit``, optional ``stratum``, ``population``.

    Returns
    -------
    pandas.DataFrame
        The frame as read (``unit`` and ``stratum`` as text), indexed by file row; its values are checked
        by :func:`analysis.score`.
    """
    df = read_table(path, "frame", ("unit", "stratum"), ("frame", "Khung mẫu"))
    _require(df, ("unit", "population"), path)
    return df


def read_margins(path: str | Path) -> pd.DataFrame:
    """Read raking margins: ``variable``, ``category``, ``population``, optional ``unit``.

    Returns
    -------
    pandas.DataFrame
        The margins as read (text columns as text), indexed by file row.
    """
    df = read_table(path, "margins", ("variable", "category", "unit"), ("margins",))
    _require(df, ("variable", "category", "population"), path)
    return df


def read_previous(path: str | Path):
    """Read a previous result of ``sipas score`` (its JSON or CSV output) as an :class:`IndexTable`.

    Returns
    -------
    IndexTable
        Units with their index and rank (what a comparison needs); other fields as far as the file has
        them.
    """
    from .results import IndexTable

    path = Path(path)
    if not path.is_file():
        raise ScoringError(f"{path}: không tìm thấy tệp kết quả kỳ trước (previous results file not found)")
    try:
        return IndexTable.read(path)
    except ScoringError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ScoringError(
            f"{path}: không đọc được kết quả kỳ trước (cannot read previous results: {exc})"
        ) from None


def _require(df: pd.DataFrame, columns: Sequence[str], path: str | Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ScoringError(
            f"{path}: thiếu cột bắt buộc {', '.join(missing)} "
            f"(missing required column(s) {', '.join(missing)})"
        )
