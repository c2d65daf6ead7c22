"""Citizens' comments (góp ý) for the report: the free-text answers per unit, personal data masked.

The questionnaire's text questions (``gop_y`` in sipas-2017, ``y_kien_khac`` in sipas-2023, ``de_xuat``
in par-xa-2023; any question of type ``text``) are read from the responses table. Before anything is
written, :func:`mask_personal_data` replaces

* phone numbers: Vietnamese mobiles (``0905 123 456``, ``0905.123.456``, ``+84 905 123 456``,
  ``(+84) 905-123-456``, ``84905123456``, the old 11-digit ``01xx``) and landlines with their area code
  (``0235 3822 123``, ``(0235) 3.822.123``, ``+84 235 3822 123``) by ``[số điện thoại]``;
* citizen ID numbers: 12-digit CCCD and 9-digit CMND (``051090001234``, ``0510 9000 1234``,
  ``CMND 201.234.567``) by ``[số CCCD/CMND]``;
* e-mail addresses by ``[email]``.

Hotlines (``1900 …``, ``1800 …``) and amounts (``150.000.000 đồng``) are left as they are. Text is
never changed otherwise: diacritics and spelling stay as the respondent wrote them (composed, NFC).
Every text is written as a string cell, so a comment that starts with ``=`` stays text.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from questionnaires import Question, Questionnaire, QuestionType

from .structure import nfc

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook

    from .workbook import _Context, _Formats

PHONE = "[số điện thoại]"
ID_NUMBER = "[số CCCD/CMND]"
EMAIL = "[email]"
CELL_LIMIT = 32_767
# Up to this many comments the sheet is an Excel table (kept in memory); above, rows stream to disk like
# every other sheet and the header gets a plain filter: the data sheet's memory bound still holds.
TABLE_MAX = 20_000

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# A run of 9 to 14 digits, optionally led by "+" and broken by spaces, dots, dashes or brackets.
_DIGITS = re.compile(r"(?<![\w+])(?:\(\s*)?\+?\d(?:[ .\-()]{0,3}\d){8,13}(?!\w)")
_ID_WORDS = re.compile(
    r"(cmnd|cccd|cmt|căn cước|chứng minh|định danh|số id)(?:\W+(?:số|là|của tôi|tôi))*\W*$", re.IGNORECASE
)
_CURRENCY = re.compile(r"^\s*(đồng|đ\b|vnđ|vnd|triệu|nghìn|ngàn|tỷ)", re.IGNORECASE)
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:[.,]\d{3})+")


def _kind(candidate: str, before: str, after: str) -> str | None:
    """What a run of digits is: PHONE, ID_NUMBER, or None (an amount, a year range, a hotline ...)."""
    digits = re.sub(r"\D", "", candidate)
    plus = candidate.lstrip("( ").startswith("+")
    id_context = bool(_ID_WORDS.search(before[-30:]))
    if digits.startswith(("1900", "1800")):
        return None  # hotlines are public numbers
    if not id_context and digits.startswith("84") and (plus or len(digits) in (11, 12)):
        return PHONE if len(digits) in (11, 12) and digits[2] in "1235789" else None
    if plus:
        return PHONE if 9 <= len(digits) <= 13 else None
    if id_context and len(digits) in (9, 12):
        return ID_NUMBER
    if digits.startswith("0") and len(digits) == 10:
        return PHONE  # a mobile, or a landline written without its leading 2
    if digits.startswith("02") and len(digits) == 11:
        return PHONE  # a landline with its area code
    if len(digits) == 12:
        return ID_NUMBER  # CCCD (begins with the province code 001-096)
    if digits.startswith("01") and len(digits) == 11:
        return PHONE  # the old 11-digit mobiles
    if len(digits) == 9:
        money = _THOUSANDS.fullmatch(candidate.strip()) or _CURRENCY.match(after)
        return None if money else ID_NUMBER
    return None


def mask_personal_data(text: str) -> tuple[str, Counter[str]]:
    """Mask phone numbers, ID numbers and e-mail addresses in ``text``; return it and what was masked."""
    found: Counter[str] = Counter()

    def email(match: re.Match[str]) -> str:
        found[EMAIL] += 1
        return EMAIL

    text = _EMAIL.sub(email, nfc(text))
    out, last = [], 0
    for match in _DIGITS.finditer(text):
        candidate = match.group(0)
        start, end = match.start(), match.end()
        kind = _kind(candidate, text[:start], text[end:])
        if kind is None:
            continue
        if candidate.count("(") > candidate.count(")"):
            # "(0905123456)": the bracket around the number belongs to the text around it.
            start += len(candidate) - len(candidate.lstrip("( "))
        out.append(text[last:start])
        out.append(kind)
        found[kind] += 1
        last = end
    out.append(text[last:])
    return "".join(out), found


def comment_questions(questionnaire: Questionnaire, responses: pd.DataFrame | None = None) -> list[Question]:
    """The questionnaire's free-text questions (in its order); with ``responses``, those it has."""
    found = [q for q in questionnaire.questions() if q.type is QuestionType.TEXT]
    if responses is not None:
        found = [q for q in found if q.code in responses.columns]
    return found


@dataclass(frozen=True)
class Comment:
    unit: str
    question: str
    text: str  # masked


@dataclass(frozen=True)
class Comments:
    """The masked comments in unit order, forms and comments counted per unit, what was masked."""

    rows: tuple[Comment, ...]
    forms: Mapping[str, int]  # unit -> forms in the table
    with_comment: Mapping[str, int]  # unit -> forms with at least one comment
    masked: Mapping[str, int]  # mask -> how many were masked

    def count(self, unit: str) -> int:
        return sum(1 for c in self.rows if c.unit == unit)


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def collect_comments(
    questionnaire: Questionnaire, responses: pd.DataFrame, units: Sequence[str] = ()
) -> Comments:
    """Read every non-empty text answer, masked, units in the order of ``units`` (then the others)."""
    questions = comment_questions(questionnaire, responses)
    unit_column = responses["unit"].astype("string") if "unit" in responses else None
    codes = [] if unit_column is None else unit_column.fillna("").tolist()
    order = {u: i for i, u in enumerate(units)}
    forms = Counter(codes)
    rows: list[tuple[int, int, Comment]] = []
    with_comment: Counter[str] = Counter()
    masked: Counter[str] = Counter()
    columns = {q.code: responses[q.code].tolist() for q in questions}
    for i, unit in enumerate(codes):
        any_comment = False
        for q in questions:
            text = _text(columns[q.code][i])
            if text is None:
                continue
            clean, found = mask_personal_data(text)
            if len(clean) > CELL_LIMIT:  # an Excel cell holds 32,767 characters
                size = f"{len(clean):,}".replace(",", ".")
                clean = clean[: CELL_LIMIT - 80].rstrip() + f" … [cắt bớt: góp ý dài {size} ký tự]"
            masked.update(found)
            rows.append((order.get(unit, len(order)), i, Comment(unit, q.code, clean)))
            any_comment = True
        if any_comment:
            with_comment[unit] += 1
    rows.sort(key=lambda r: (r[0], r[2].unit if r[0] == len(order) else "", r[1]))
    return Comments(tuple(r[2] for r in rows), dict(forms), dict(with_comment), dict(masked))


def keep_in_memory(sheet: Any) -> None:
    """Let one worksheet of a constant-memory workbook keep its cells in memory, so it can hold a table.

    XlsxWriter refuses ``add_table`` in constant-memory mode, where a sheet's rows go to a temporary
    file as they are written. The comments sheet is small next to the data sheet this mode is for, so
    it alone is kept in memory: its temporary file is closed and removed before anything is written.
    """
    if not getattr(sheet, "constant_memory", False):
        return
    handle = getattr(sheet, "row_data_fh", None)
    if handle is not None and not getattr(sheet, "row_data_fh_closed", True):
        handle.close()
        sheet.row_data_fh_closed = True
    filename = getattr(sheet, "row_data_filename", None)
    if filename:
        try:
            os.unlink(filename)
        except FileNotFoundError:
            pass
    sheet.constant_memory = False
    sheet.fh = None


def write_comments_sheet(
    workbook: Workbook,
    ctx: _Context,
    f: _Formats,
    responses: pd.DataFrame,
    *,
    name: str,
) -> None:
    """The sheet of citizens' comments: counts per unit, then the comments as a filterable Excel table."""
    from .responses import check
    from .workbook import _Sheet, _short_heading  # the workbook's own writers

    questions = comment_questions(ctx.questionnaire, responses)
    comments = collect_comments(ctx.questionnaire, responses, [u.unit for u in ctx.units])
    names = {u.unit: ctx.name(u) for u in ctx.units}

    def unit_name(code: str) -> str:
        return names.get(code) or ctx.names.get(code) or code

    sh = _Sheet(workbook, name, f)
    as_table = 0 < len(comments.rows) <= TABLE_MAX
    if as_table:
        keep_in_memory(sh.sheet)
    several = len(questions) > 1
    # The comments (a table) on the left, the counts per unit beside them after a narrow gap.
    main = [6, 22, *([26] if several else []), 62]
    side = [22, 9, 9, 9]
    gap = len(main)
    sh.widths([*main, 2, *side])
    last_col = gap + len(side)
    row = _short_heading(sh, ctx, last_col, "Góp ý của người dân")
    labels = {q.code: nfc(q.label.vi) for q in questions}
    asked = "; ".join(f'"{labels[q.code]}"' for q in questions)
    masks = ", ".join(f"{k} ({v})" for k, v in sorted(comments.masked.items())) or "không có"
    note = (
        f"Ý kiến trả lời câu hỏi mở {asked}, giữ nguyên văn. Để bảo vệ thông tin cá nhân, số điện thoại, "
        f"số CCCD/CMND và địa chỉ thư điện tử đã được che: {masks}."
    )
    sh.height(row, 15 * max(1, math.ceil(len(note) / 150)) + 3)
    sh.merge(row, 0, last_col, note, f.note)
    row += 2
    header = ["STT", "Đơn vị", *(["Câu hỏi"] if several else []), "Góp ý"]
    first = row
    sh.height(row, 30)
    for c, text in enumerate(header):
        sh.text(row, c, text, f.head)
    for c, text in enumerate(("Đơn vị", "Số phiếu", "Số phiếu có góp ý", "Tỷ lệ có góp ý (%)")):
        sh.text(row, gap + 1 + c, text, f.head)
    order = [u.unit for u in ctx.units] + sorted(set(comments.forms) - set(names))
    count_rows = len(order)
    width = main[-1] * 1.15
    total = max(len(comments.rows), count_rows, 1)
    for k in range(total):
        row += 1
        height = 16.0
        if k < len(comments.rows):
            comment = comments.rows[k]
            lines = sum(max(1, math.ceil(len(part) / width)) for part in comment.text.split("\n"))
            height = min(409.0, 15.0 * lines + 2)
            sh.number(row, 0, k + 1, f.text_center)
            sh.text(row, 1, unit_name(comment.unit), f.text)
            if several:
                sh.text(row, 2, labels.get(comment.question, comment.question), f.text)
            sh.text(row, gap - 1, comment.text, f.long_text)
        elif k == 0:
            sh.merge(row, 0, gap - 1, "Không có góp ý nào.", f.note)
        if k < count_rows:
            unit = order[k]
            forms, with_comment = comments.forms.get(unit, 0), comments.with_comment.get(unit, 0)
            sh.text(row, gap + 1, unit_name(unit), f.text)
            sh.number(row, gap + 2, forms, f.count)
            sh.number(row, gap + 3, with_comment, f.count)
            sh.number(row, gap + 4, with_comment / forms * 100 if forms else None, f.share)
        sh.height(row, height)
    if len(comments.rows) > TABLE_MAX:
        check(sh.sheet.autofilter(first, 0, first + len(comments.rows), gap - 1), f"bộ lọc trang {name}")
    elif as_table:
        # An Excel table: filter buttons on its header, sorting keeps each comment with its unit.
        check(
            sh.sheet.add_table(
                first,
                0,
                first + len(comments.rows),
                gap - 1,
                {
                    "name": "GopY",
                    "style": "Table Style Light 1",
                    "autofilter": True,
                    "columns": [{"header": h, "header_format": f.head} for h in header],
                },
            ),
            f"bảng góp ý trang {name}",
        )
    sh.print_setup((first, first), ctx.title)
