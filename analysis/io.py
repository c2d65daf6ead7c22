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
responses exported by KoboToolbox or ODK Central
    Read by :mod:`analysis.exports` into the layout above (a file without ``response_id``): group
    prefixes stripped, system columns skipped, choice labels turned back into codes, the instance id
    as ``response_id``; the unit from a ``unit`` column, ``unit_column`` or ``unit``.
frame
    ``unit``, optional ``stratum``, ``population`` (number of people served in the period).
margins
    ``variable``, ``category``, ``population`` and optionally ``unit``. ``variable`` is an item code,
    ``stratum`` or ``group``, or several joined by ``:`` for a cross-classification
    (``gioi_tinh:do_tuoi`` with categories such as ``1:3``). Without ``unit`` the margins are totals
    for the whole area; with ``unit`` they are totals within each unit.

Numbers and limits
------------------
``population`` in the frame and the margins follows :mod:`questionnaires.numbers`: ASCII digits with
the Vietnamese habits (``1.234``, ``1 234``, ``1.234,5``, ``0,05``); any other text (``١٢٠``, ``²``,
``1e5``) is an error naming the file, row and column. A file is at most :data:`MAX_DATA_FILE_BYTES`
and :data:`MAX_DATA_ROWS` rows, checked before or while it is read, not after.

CSV written for spreadsheets
----------------------------
Text that a spreadsheet would read as a formula (OWASP "CSV injection") is written with a leading
``'`` by :func:`neutralise` (the responses export and :meth:`~analysis.results.IndexTable.write_csv`);
:func:`restore` takes it off again when such a file is read back, so the value reads back equal.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from questionnaires.numbers import NumberFormatError, format_count, parse_number, parse_written_number

from .errors import ScoringError

RESPONSE_SHEETS = ("Dữ liệu", "responses")
RESPONSE_TEXT_COLUMNS = ("response_id", "unit", "stratum", "group")
SUPPORTED = (".csv", ".xlsx", ".parquet")

# Limits on one data file: a province's SIPAS round is some tens of thousands of forms, so these are
# far above real use while a runaway or hostile file is refused before it fills the memory.
MAX_DATA_FILE_BYTES = 500_000_000
MAX_DATA_ROWS = 1_000_000  # data rows, not counting the header
MAX_LISTED_ROWS = 10  # bad rows named in one message

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
    text_columns: Iterable[str] | Callable[[str], bool] = (),
    sheets: Sequence[str] = (),
    number_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """Read a CSV, XLSX or Parquet file into a DataFrame indexed by file row number.

    Parameters
    ----------
    path
        The file.
    what
        What the file holds, for messages (``"responses"``, ``"frame"`` …).
    text_columns
        Columns read as text whatever they look like (codes such as ``"01"`` must keep their zero), or
        a function telling from a header whether its column is one.
    sheets
        XLSX sheet names to prefer, in order; the first sheet otherwise.
    number_columns
        Columns of numbers typed by people, parsed by :func:`questionnaires.numbers.parse_number`
        (``1.234`` is 1234); a cell that is not a number is an error naming file, row and column.

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
    _check_size(path, what)
    number_columns = tuple(number_columns)
    if callable(text_columns):
        is_text = text_columns
    else:
        listed = tuple(text_columns)

        def is_text(name: str) -> bool:
            return name in listed

    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                first_line = fh.readline()
            separator = _separator(first_line)
            names = next(csv.reader([first_line], delimiter=separator), [])
            _check_header(names, path)
            df = pd.read_csv(
                path,
                sep=separator,
                encoding="utf-8-sig",
                dtype={c: str for c in names if is_text(c.strip()) or c.strip() in number_columns},
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,  # keep line numbers; blank rows are dropped below
                nrows=MAX_DATA_ROWS + 1,
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
                    # object keeps a number cell a number and a text cell text (pandas would read
                    # the text "1.234" as 1.234)
                    dtype={c: str for c in cols if is_text(c.strip())}
                    | {c: object for c in cols if c.strip() in number_columns},
                    keep_default_na=False,
                    na_values=[""],
                    nrows=MAX_DATA_ROWS + 1,
                )
            first_row = 2
        else:
            _check_parquet_rows(path, what)
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
    if len(df) > MAX_DATA_ROWS:
        raise _too_many_rows(path, what)
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
    for column in number_columns:
        if column in df.columns:
            df[column] = parse_number_column(df[column], path, column)
    df.attrs["source"] = str(path)
    df.attrs["row_numbers"] = True
    return df


def _separator(header_line: str) -> str:
    """The field separator of a CSV file from its header line: ``,`` unless ``;`` or a tab splits more.

    KoboToolbox writes its CSV exports with ``;``; spreadsheets in a Vietnamese locale may too.
    """
    counts = {sep: len(next(csv.reader([header_line], delimiter=sep), [])) for sep in (",", ";", "\t")}
    best = max(counts.values())
    return "," if counts[","] == best else next(sep for sep, n in counts.items() if n == best)


def _check_size(path: Path, what: str) -> None:
    size = path.stat().st_size
    if size > MAX_DATA_FILE_BYTES:
        raise ScoringError(
            f"{path}: tệp {what} lớn {format_count(size)} byte, quá giới hạn "
            f"{format_count(MAX_DATA_FILE_BYTES)} byte (the {what} file is larger than the limit of "
            f"{MAX_DATA_FILE_BYTES} bytes; analysis.io.MAX_DATA_FILE_BYTES)"
        )


def _too_many_rows(path: Path, what: str) -> ScoringError:
    return ScoringError(
        f"{path}: tệp {what} có hơn {format_count(MAX_DATA_ROWS)} dòng, quá giới hạn (the {what} file "
        f"has more than {MAX_DATA_ROWS} rows, the limit; analysis.io.MAX_DATA_ROWS)"
    )


def _check_parquet_rows(path: Path, what: str) -> None:
    import pyarrow.parquet as pq

    if pq.ParquetFile(path).metadata.num_rows > MAX_DATA_ROWS:
        raise _too_many_rows(path, what)


def parse_number_column(values: pd.Series, path: str | Path, column: str) -> pd.Series:
    """Parse a column of numbers typed by people (see :mod:`questionnaires.numbers`) into floats.

    Parameters
    ----------
    values
        The column as read: text, numbers (from XLSX or Parquet cells) or blanks; its index holds the
        row numbers of the file.
    path, column
        The file and column, for messages.

    Returns
    -------
    pandas.Series
        Floats, NaN for blank cells, on the same index.

    Raises
    ------
    ScoringError
        Naming the file and, for the first few bad cells, the row, column and text.
    """
    out = np.full(len(values), np.nan)
    problems: list[str] = []
    for pos, (row, value) in enumerate(zip(values.index.tolist(), values.tolist(), strict=True)):
        try:
            out[pos] = _cell_number(value)
        except NumberFormatError as exc:
            problems.append(f"dòng {row}, cột {column}: {exc}")
    if problems:
        more = len(problems) - MAX_LISTED_ROWS
        raise ScoringError(
            f"{path}: {len(problems)} ô của cột {column} không phải là số "
            f"({len(problems)} cells of column {column} are not numbers): "
            + "; ".join(problems[:MAX_LISTED_ROWS])
            + (f"; … và {more} ô khác (and {more} more)" if more > 0 else "")
        )
    return pd.Series(out, index=values.index, name=values.name)


def _cell_number(value: Any) -> float:
    """The number in one cell; NaN when blank, NumberFormatError when it holds something else."""
    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan
    if isinstance(value, bool | np.bool_):
        raise NumberFormatError(f"{value!r} không phải là số (not a number)")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        text = restore(value.strip()).strip()
        return parse_number(text) if text else math.nan
    raise NumberFormatError(f"{value!r} không phải là số (not a number)")


def _check_header(names: Sequence[str], path: Path) -> None:
    stripped = [str(n).strip() for n in names]
    dupes = sorted({n for n in stripped if n and stripped.count(n) > 1})
    if dupes:
        raise ScoringError(
            f"{path}: cột bị lặp tên {', '.join(dupes)} (duplicated column names: {', '.join(dupes)})"
        )


def read_responses(
    path: str | Path,
    questionnaire: object | None = None,
    *,
    unit_column: str | None = None,
    unit: str | None = None,
) -> pd.DataFrame:
    """Read a responses table (CSV, XLSX or Parquet), or a KoboToolbox or ODK Central export.

    Parameters
    ----------
    path
        The file. In XLSX the sheet ``Dữ liệu`` or ``responses`` is read, else the first sheet (where
        Kobo puts its data).
    questionnaire
        The questionnaire the answers belong to (a :class:`~questionnaires.Questionnaire`). Our own
        layout is checked against it later, in :func:`analysis.score`; an export (no
        ``response_id`` column) is read against it here (:mod:`analysis.exports`): group prefixes
        stripped, labels turned back into codes, instance ids as response ids.
    unit_column, unit
        Where the unit of each response is, when the file has no ``unit`` column: a column (an item
        code or a header), or one unit code for the whole file.

    Returns
    -------
    pandas.DataFrame
        The responses table, ``response_id``/``unit``/``stratum``/``group`` as text, indexed by file row.

    Raises
    ------
    ScoringError
        Naming the file and the column, row and value at fault; for an export every unreadable cell
        (an unknown label, a blank instance id or unit) is listed and nothing is returned.
    """
    from .exports import convert_export, is_text_column

    df = read_table(
        path, "responses", lambda name: is_text_column(name, unit_column), RESPONSE_SHEETS
    )
    export = convert_export(
        df,
        questionnaire,  # type: ignore[arg-type]
        unit_column=unit_column,
        unit=unit,
        where=f"{path}: ",
    )
    export.raise_problems(f"{path}: ")
    df = export.table
    missing = [c for c in ("response_id", "unit") if c not in df.columns]
    if missing:
        raise ScoringError(
            f"{path}: thiếu cột bắt buộc {', '.join(missing)}; tệp không có cột unit cần --unit-column "
            f"TÊN_CỘT hoặc --unit MÃ (missing required column(s) {', '.join(missing)}; without a unit "
            "column pass --unit-column NAME or --unit CODE)"
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
    df = read_table(path, "frame", ("unit", "stratum"), ("frame", "Khung mẫu"), ("population",))
    _require(df, ("unit", "population"), path)
    return df


def read_margins(path: str | Path) -> pd.DataFrame:
    """Read raking margins: ``variable``, ``category``, ``population``, optional ``unit``.

    Returns
    -------
    pandas.DataFrame
        The margins as read (text columns as text), indexed by file row.
    """
    df = read_table(path, "margins", ("variable", "category", "unit"), ("margins",), ("population",))
    _require(df, ("variable", "category", "population"), path)
    return df


def read_previous(path: str | Path):
    """Read a previous result of ``sipas score`` (its JSON or CSV output) as an :class:`IndexTable`.

    The numbers are checked as :func:`questionnaires.numbers.parse_written_number` reads them (the
    file was written by a program: ``65.432`` is a decimal), and ``n`` and ``rank`` must be sane whole
    numbers; a bad cell is an error naming the file, row (or unit) and column.

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
    _check_size(path, "previous results")
    try:
        if path.suffix.lower() == ".csv":
            _check_previous_csv(path)
        table = IndexTable.read(path)
    except ScoringError:
        raise
    except UnicodeDecodeError:
        raise ScoringError(
            f"{path}: tệp CSV không phải mã UTF-8; hãy lưu lại dạng 'CSV UTF-8' (the CSV file is not UTF-8)"
        ) from None
    except (ValueError, KeyError, TypeError, OSError, OverflowError, csv.Error) as exc:
        raise ScoringError(
            f"{path}: không đọc được kết quả kỳ trước (cannot read previous results: {exc})"
        ) from None
    _check_previous_units(table.units, path)
    return table


# Columns of a previous result that hold text; every other one holds numbers.
_PREVIOUS_TEXT_COLUMNS = ("unit", "name", "flags", "rank_group")


def _check_previous_csv(path: Path) -> None:
    """Refuse a previous-results CSV with a number cell that is not a plain ASCII number."""
    problems: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        for row_number, row in enumerate(reader, start=2):
            if row_number > MAX_DATA_ROWS + 1:
                raise _too_many_rows(path, "previous results")
            for column, cell in zip(header, row, strict=False):
                text = restore(cell.strip()).strip()
                if not text or column in _PREVIOUS_TEXT_COLUMNS:
                    continue
                try:
                    parse_written_number(text)
                except NumberFormatError as exc:
                    problems.append(f"dòng {row_number}, cột {column}: {exc}")
    if problems:
        raise ScoringError(
            f"{path}: kết quả kỳ trước có ô không phải là số (previous results with cells that are not "
            "numbers): " + "; ".join(problems[:MAX_LISTED_ROWS])
        )


def _check_previous_units(units: Sequence[Any], path: Path) -> None:
    """Refuse an index that is not a finite number, or an n or rank that is not a sane whole number."""
    problems: list[str] = []
    for k, unit in enumerate(units, start=1):
        where = f"đơn vị thứ {k} ({unit.unit!r})"
        if unit.index is not None and not _is_finite_number(unit.index):
            problems.append(f"{where}, index {unit.index!r}: cần một số (must be a number)")
        for name, value, low, high in (
            ("rank", unit.rank, 1, MAX_DATA_ROWS),
            ("n", unit.n, 0, MAX_DATA_ROWS),
        ):
            if value is None:
                continue
            if not (_is_finite_number(value) and float(value).is_integer() and low <= value <= high):
                problems.append(
                    f"{where}, {name} {value!r}: cần số nguyên từ {low} đến {high} "
                    f"(must be a whole number from {low} to {high})"
                )
    if problems:
        raise ScoringError(
            f"{path}: kết quả kỳ trước không dùng được (unusable previous results): "
            + "; ".join(problems[:MAX_LISTED_ROWS])
        )


def _is_finite_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
    )


def _require(df: pd.DataFrame, columns: Sequence[str], path: str | Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ScoringError(
            f"{path}: thiếu cột bắt buộc {', '.join(missing)} "
            f"(missing required column(s) {', '.join(missing)})"
        )
