"""Exports of the responses table: CSV (UTF-8 with BOM) and XLSX (data + codebook), injection-safe.

The responses table has one row per response: ``response_id``, ``unit``, optional ``stratum`` and
``group``, then one column per answerable item code holding the stored code (blank = no answer).
Columns the questionnaire does not know are kept, after the items, so an export never drops data.

Free text is never turned into a formula: in CSV a text that a spreadsheet would read as a formula is
prefixed with ``'`` (OWASP "CSV injection"); in XLSX every text is written as a string cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from analysis.data import bilingual
from analysis.io import neutralise
from questionnaires import Question, Questionnaire, QuestionType

from .errors import ReportError

DATA_SHEET = "Dữ liệu"
CODEBOOK_SHEET = "Mã hoá"

# Leading columns of the responses table, in order, with their codebook description.
LEADING_COLUMNS: dict[str, tuple[str, str]] = {
    "response_id": ("Mã phiếu", "Response id"),
    "unit": ("Mã đơn vị được khảo sát (xã, thị trấn)", "Unit surveyed"),
    "stratum": ("Tầng chọn mẫu (ví dụ: lĩnh vực thủ tục)", "Sampling stratum"),
    "group": ("Nhóm người trả lời", "Respondent group"),
}
# Columns the survey app adds after the items (provenance), with their codebook description.
METADATA_COLUMNS: dict[str, tuple[str, str]] = {
    "questionnaire_version": ("Phiên bản phiếu khảo sát", "Questionnaire version"),
    "language": (
        "Ngôn ngữ hiển thị phiếu (thẻ BCP-47: vi tiếng Việt, en tiếng Anh, cua Cor, hre Hrê, sed Ca Dong)",
        "Language the form was shown in (BCP-47 tag)",
    ),
    "source": (
        "Nguồn phiếu: kiosk (máy tính bảng), phone (điện thoại người dân), api, paper (phiếu giấy), import",
        "Source",
    ),
    "started_at": ("Thời điểm bắt đầu trả lời (UTC)", "Started at (UTC)"),
    "submitted_at": ("Thời điểm gửi, hoặc ngày ghi trên phiếu giấy (UTC)", "Submitted, or paper date (UTC)"),
    "received_at": ("Thời điểm máy chủ nhận phiếu (UTC)", "Received by the server at (UTC)"),
    "kiosk": ("Máy trạm (số và quầy)", "Kiosk (id and counter)"),
    "enumerator": ("Người nhập phiếu giấy", "Who keyed the paper form"),
    "paper_serial": ("Số phiếu giấy", "Paper form serial number"),
    "late": ("1: phiếu đến sau khi đợt khảo sát đã đóng (không tính điểm)", "1: arrived after closing"),
}
REQUIRED_COLUMNS = ("response_id", "unit")

TYPE_LABELS_VI: dict[QuestionType, str] = {
    QuestionType.SINGLE: "Một lựa chọn",
    QuestionType.MULTIPLE: "Nhiều lựa chọn",
    QuestionType.INTEGER: "Số nguyên",
    QuestionType.DECIMAL: "Số thập phân",
    QuestionType.TEXT: "Văn bản",
    QuestionType.DATE: "Ngày",
}

_CHUNK_ROWS = 5_000
_EXCEL_MAX_ROWS = 1_048_576


@dataclass(frozen=True)
class _Column:
    name: str
    question: Question | None
    numeric_codes: bool  # a choice column whose codes are integers: write them as numbers in XLSX


def response_columns(questionnaire: Questionnaire, frame: pd.DataFrame) -> list[str]:
    """Return the export column order: leading columns, the questionnaire's items, then any others."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ReportError(
            bilingual(
                f"bảng phiếu trả lời thiếu cột {', '.join(missing)}",
                f"responses table lacks column(s) {', '.join(missing)}",
            )
        )
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise ReportError(
            bilingual(
                f"bảng phiếu trả lời có cột trùng tên: {', '.join(duplicated)}",
                "the responses table has duplicated column names",
            )
        )
    present = set(frame.columns)
    order = [c for c in LEADING_COLUMNS if c in present]
    order += [
        q.code
        for q in questionnaire.questions()
        if (q.type.is_answerable or q.type.is_computed) and q.code in present
    ]
    seen = set(order)
    order += [str(c) for c in frame.columns if c not in seen]
    return order


def _columns(questionnaire: Questionnaire, frame: pd.DataFrame) -> list[_Column]:
    result = []
    for name in response_columns(questionnaire, frame):
        question = _question(questionnaire, name) if name not in LEADING_COLUMNS else None
        numeric = False
        if question is not None and question.type is QuestionType.SINGLE:
            choice_list = questionnaire.choice_list(question)
            numeric = choice_list is not None and choice_list.is_numeric
        result.append(_Column(name, question, numeric))
    return result


def _question(questionnaire: Questionnaire, code: str) -> Question | None:
    try:
        return questionnaire.question(code)
    except KeyError:
        return None


def _cell(value: Any) -> None | int | float | str:
    """Turn one table value into what a file holds: None (blank), a number or a text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        # Codes held as floats (a column with blanks) go out as the integer code they are.
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if isinstance(value, list | tuple | np.ndarray):
        # Multiple choice: space-separated codes, as XLSForm/ODK exports them.
        return " ".join(str(_cell(v)) for v in value if _cell(v) is not None)
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _rows(frame: pd.DataFrame, names: Sequence[str]) -> Iterator[list[Any]]:
    """Yield rows of cell values, converting a few thousand rows at a time to bound memory."""
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS]
        columns = [[_cell(v) for v in chunk[name].tolist()] for name in names]
        yield from (list(row) for row in zip(*columns, strict=True))


# --------------------------------------------------------------------------------------------- CSV


def write_responses_csv(
    questionnaire: Questionnaire, frame: pd.DataFrame, out: str | PathLike[str] | IO[bytes]
) -> None:
    """Write the responses table as CSV: UTF-8 with BOM, codes, formula-like text neutralised."""
    names = response_columns(questionnaire, frame)
    if isinstance(out, str | PathLike):
        with open(out, "w", encoding="utf-8-sig", newline="") as handle:
            _write_csv(handle, frame, names)
        return
    handle = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        _write_csv(handle, frame, names)
        handle.flush()
    finally:
        handle.detach()  # the caller owns the binary stream


def _write_csv(handle: IO[str], frame: pd.DataFrame, names: list[str]) -> None:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow([neutralise(n) for n in names])
    for row in _rows(frame, names):
        writer.writerow(["" if v is None else neutralise(v) for v in row])


# -------------------------------------------------------------------------------------------- XLSX

WORKBOOK_OPTIONS: dict[str, Any] = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": False,
}


def open_workbook(out: str | PathLike[str] | IO[bytes], *, constant_memory: bool = True) -> Workbook:
    """Open an xlsxwriter workbook that never turns text into formulas or links."""
    target = str(out) if isinstance(out, str | PathLike) else out
    return xlsxwriter.Workbook(target, {**WORKBOOK_OPTIONS, "constant_memory": constant_memory})


def check(code: int | None, what: str) -> None:
    """Raise when an xlsxwriter call reports a failure (it returns a negative code and writes nothing)."""
    if code:
        raise ReportError(
            bilingual(
                f"không ghi được {what} vào tệp Excel (mã lỗi XlsxWriter {code})",
                f"cannot write to the Excel file, XlsxWriter error code {code}",
            )
        )


def close_workbook(workbook: Workbook, out: str | PathLike[str] | IO[bytes]) -> None:
    """Close the workbook, turning file-system errors into a ReportError naming the file."""
    try:
        workbook.close()
    except (OSError, xlsxwriter.exceptions.XlsxWriterException) as exc:
        name = str(out) if isinstance(out, str | PathLike) else "luồng dữ liệu (data stream)"
        raise ReportError(
            f"{name}: " + bilingual(f"không ghi được tệp Excel: {exc}", "cannot write the Excel file")
        ) from exc


def discard_workbook(workbook: Workbook, out: str | PathLike[str] | IO[bytes]) -> None:
    """Drop a half-written workbook after an error, so no partial file is left behind."""
    try:
        workbook.close()  # also closes the temporary files of constant-memory mode
    except Exception:  # noqa: BLE001 - cleanup after an error: that error is the one to report
        pass
    if isinstance(out, str | PathLike):
        Path(out).unlink(missing_ok=True)


def write_responses_xlsx(
    questionnaire: Questionnaire,
    frame: pd.DataFrame,
    out: str | PathLike[str] | IO[bytes],
    *,
    codebook: bool = True,
    constant_memory: bool = True,
) -> None:
    """Write the responses table (sheet ``Dữ liệu``) and its codebook (``Mã hoá``) to an XLSX file."""
    if isinstance(out, str | PathLike):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    workbook = open_workbook(out, constant_memory=constant_memory)
    try:
        add_responses_sheets(workbook, questionnaire, frame, codebook=codebook)
    except BaseException:
        discard_workbook(workbook, out)
        raise
    close_workbook(workbook, out)


def add_responses_sheets(
    workbook: Workbook,
    questionnaire: Questionnaire,
    frame: pd.DataFrame,
    *,
    codebook: bool = True,
    data_sheet: str = DATA_SHEET,
    codebook_sheet: str = CODEBOOK_SHEET,
) -> None:
    """Add the data sheet (and the codebook sheet) to an open workbook, e.g. a report's."""
    columns = _columns(questionnaire, frame)
    if len(frame) + 1 > _EXCEL_MAX_ROWS:
        raise ReportError(
            bilingual(
                f"{len(frame):,} phiếu vượt quá giới hạn {_EXCEL_MAX_ROWS - 1:,} dòng của một trang Excel; "
                "hãy xuất CSV hoặc lọc theo đơn vị",
                "more responses than an Excel sheet has rows; export CSV or filter by unit",
            )
        )
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    title = f"{questionnaire.title.vi[:50]} ({questionnaire.id})"
    sheet = workbook.add_worksheet(data_sheet)
    _write_data_sheet(sheet, frame, columns, bold)
    print_setup(sheet, f"Dữ liệu phiếu — {title}", (0, 0))
    if codebook:
        sheet = workbook.add_worksheet(codebook_sheet)
        _write_codebook_sheet(sheet, questionnaire, columns, bold)
        print_setup(sheet, f"Sổ mã — {title}", (0, 0))


def print_setup(sheet: Worksheet, footer_left: str, header_rows: tuple[int, int] | None) -> None:
    """A4 landscape, one page wide, header rows repeated, "Trang x / y" in the footer."""
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)  # one page wide, as many pages tall as needed
    sheet.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.7)
    sheet.center_horizontally()
    name = sheet.get_name()
    if header_rows is not None:
        check(sheet.repeat_rows(*header_rows), f"dòng tiêu đề in lặp của trang {name}")
    footer = f"&L&8{_footer_text(footer_left)}&C&9Trang &P / &N&R&8{_footer_text(name)}"
    check(sheet.set_footer(footer), f"chân trang của trang {name}")


def _footer_text(text: str) -> str:
    """Escape '&' for an Excel header/footer and keep it short (the whole string is limited to 255)."""
    text = unicodedata.normalize("NFC", text)
    if len(text) > 70:
        text = text[:69].rsplit(" ", 1)[0] + "…"
    return text.replace("&", "&&")


def _write_data_sheet(sheet: Worksheet, frame: pd.DataFrame, columns: list[_Column], header) -> None:
    names = [c.name for c in columns]
    sample = list(_rows(frame.head(200), names))
    for col, column in enumerate(columns):
        longest = max((len(str(row[col])) for row in sample if row[col] is not None), default=0)
        width = max(6, min(max(len(column.name), longest) + 2, 40))
        if column.question is not None and column.question.type is QuestionType.TEXT:
            width = 40
        check(sheet.set_column(col, col, width), "độ rộng cột")
    for col, name in enumerate(names):
        check(sheet.write_string(0, col, name, header), f"tiêu đề cột {name}")
    sheet.freeze_panes(1, 2)
    if names:
        sheet.autofilter(0, 0, max(len(frame), 1), len(names) - 1)
    numeric = [c.numeric_codes for c in columns]
    write_string, write_number = sheet.write_string, sheet.write_number
    for r, row in enumerate(_rows(frame, names), start=1):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                if numeric[col] and _is_int_code(value):
                    code = write_number(r, col, int(value))
                else:
                    code = write_string(r, col, value)
            else:
                code = write_number(r, col, value)
            if code:
                _fail_cell(code, row, names[col], r)


def _is_int_code(text: str) -> bool:
    s = text[1:] if text[:1] == "-" else text
    return 0 < len(s) < 16 and s.isascii() and s.isdigit()


def _fail_cell(code: int, row: list[Any], column: str, r: int) -> None:
    where = f"phiếu {row[0]} (dòng {r + 1}), cột {column}"
    if code == -2:
        raise ReportError(
            f"{where}: "
            + bilingual(
                "văn bản dài hơn 32.767 ký tự, giới hạn của một ô Excel",
                "text longer than 32,767 characters, the limit of an Excel cell",
            )
        )
    check(code, where)


CODEBOOK_HEADER = (
    "Mã câu hỏi",
    "Phần",
    "Nội dung câu hỏi",
    "Question (English)",
    "Kiểu",
    "Mã lựa chọn",
    "Nhãn lựa chọn",
    "Choice label (English)",
)


def codebook_rows(questionnaire: Questionnaire, column_names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Yield codebook rows for the exported columns: one per choice, or one per item without choices."""
    for name in column_names:
        if name in LEADING_COLUMNS:
            vi, en = LEADING_COLUMNS[name]
            if name == "group" and questionnaire.groups:
                for g in questionnaire.groups:
                    yield (name, "", vi, en, "Mã", g.code, g.label.vi, g.label.en or "")
            else:
                yield (name, "", vi, en, "Mã", "", "", "")
            continue
        if name in METADATA_COLUMNS:
            vi, en = METADATA_COLUMNS[name]
            yield (name, "", vi, en, "", "", "", "")
            continue
        question = _question(questionnaire, name)
        if question is None:
            yield (name, "", "(cột không có trong bảng hỏi)", "(not in the questionnaire)", "", "", "", "")
            continue
        section = questionnaire.section_of(name).label.vi
        kind = TYPE_LABELS_VI.get(question.type, question.type.value)
        head = (name, section, question.label.vi, question.label.en or "", kind)
        choice_list = questionnaire.choice_list(question)
        if choice_list is None or not choice_list.choices:
            yield (*head, "", "", "")
            continue
        for choice in choice_list.choices:
            yield (*head, choice.code, choice.label.vi, choice.label.en or "")


def _write_codebook_sheet(
    sheet: Worksheet, questionnaire: Questionnaire, columns: list[_Column], header
) -> None:
    widths = (16, 28, 60, 45, 14, 12, 30, 28)
    for col, width in enumerate(widths):
        check(sheet.set_column(col, col, width), "độ rộng cột")
    for col, text in enumerate(CODEBOOK_HEADER):
        check(sheet.write_string(0, col, text, header), "tiêu đề sổ mã")
    sheet.freeze_panes(1, 1)
    r = 0
    for r, row in enumerate(codebook_rows(questionnaire, [c.name for c in columns]), start=1):
        for col, text in enumerate(row):
            if text == "":
                continue
            if col == 5 and _is_int_code(text):
                check(sheet.write_number(r, col, int(text)), f"sổ mã, dòng {r + 1}")
            else:
                check(sheet.write_string(r, col, text), f"sổ mã, dòng {r + 1}")
    sheet.autofilter(0, 0, max(r, 1), len(CODEBOOK_HEADER) - 1)
