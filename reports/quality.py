"""The report's sheet "Chất lượng dữ liệu": forms received and left out per unit, flags by rule, and how
each unit's index and rank would move without its flagged forms (issue 11, point 5).

The builder takes plain data (:func:`quality_arguments` makes it from an ``analysis.quality.Scorable``):
the counts table, the sensitivity table of ``analysis.sensitivity``, the forms left out by reason and
the notes of the checks. Like every sheet of the workbook it is written row by row (constant memory)
through the checked writers of :mod:`reports.workbook`, text never as a formula.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.integrity import FORM_RULES, RULE_LABELS_VI
from analysis.quality import Scorable, left_out_line
from analysis.results import IndexTable

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook

    from .workbook import _Context, _Formats

SHEET_QUALITY = "Chất lượng dữ liệu"  # as reports.workbook.SHEET_QUALITY

# Counts table column -> (header, group), in the order shown; a column absent from the table is skipped.
_RECEIVED = "Phiếu nhận được"
_NOT_COUNTED = "Không được tính"
COUNT_COLUMNS: dict[str, tuple[str, str | None]] = {
    "received": ("Tổng số", _RECEIVED),
    "kiosk": ("Máy tính bảng (kiosk)", _RECEIVED),
    "phone": ("Điện thoại người dân (phone)", _RECEIVED),
    "api": ("Ứng dụng khác (api)", _RECEIVED),
    "paper": ("Phiếu giấy (paper)", _RECEIVED),
    "import": ("Nhập từ tệp Kobo/ODK (import)", _RECEIVED),
    "rejected": ("Bị từ chối (rejected)", _NOT_COUNTED),
    "late": ("Đến muộn (late)", _NOT_COUNTED),
    "double_entry": ("Nhập hai lần chưa khớp", _NOT_COUNTED),
}
_FLAGGED = "Bị đánh dấu (phiếu)"
_SENSITIVITY = "Độ nhạy: bỏ mọi phiếu bị đánh dấu"
# Sensitivity table column -> header.
SENSITIVITY_COLUMNS = {
    "index": "Chỉ số (gồm phiếu bị đánh dấu)",
    "rank": "Hạng",
    "index_without": "Chỉ số khi bỏ phiếu bị đánh dấu",
    "rank_without": "Hạng khi bỏ",
    "index_change": "Thay đổi chỉ số",
    "rank_change": "Thay đổi hạng",
}


def quality_arguments(scoring: Scorable, table: IndexTable | None = None) -> dict[str, Any]:
    """The keyword arguments of ``build_report`` for the data-quality sheet, from a command's scoring.

    ``table`` is the index table the report shows (``analysis.score(**scoring.arguments)``).
    """
    notes = []
    if scoring.report is not None:
        notes += [
            f"Kiểm tra không chạy (check skipped) — {s.rule}: {s.reason}." for s in scoring.report.skipped
        ]
        notes.extend(scoring.report.notes)
    return {
        "quality": scoring.quality_table(),
        "sensitivity": scoring.sensitivity(table),
        "left_out": dict(scoring.left_out) if scoring.quality is not None or scoring.left_out else None,
        "include_flagged": scoring.include_flagged,
        "quality_notes": tuple(notes),
    }


def language_arguments(scoring: Scorable) -> dict[str, Any]:
    """``build_report``'s ``by_language`` when the responses were shown in more than one language."""
    from analysis.domains import score_by

    responses = scoring.arguments["responses"]
    if "language" not in responses.columns or responses["language"].dropna().nunique() < 2:
        return {}
    return {"by_language": score_by("language", scoring.arguments)}


def left_out_text(left_out: Mapping[str, int] | None, include_flagged: bool) -> str:
    """What the index leaves out, as the method and quality sheets state it."""
    parts = []
    if left_out is not None:
        parts.append(f"Phiếu không tính vào chỉ số: {left_out_line(left_out)}.")
    if include_flagged:
        parts.append(
            "Phiếu bị đánh dấu khi kiểm tra tính xác thực vẫn được tính (các dấu hiệu chỉ để người xem xét; "
            "chỉ phiếu bị từ chối mới bị loại)."
        )
    else:
        parts.append(
            "Theo yêu cầu (--exclude-flagged), mọi phiếu bị đánh dấu đã bị loại trước khi tính chỉ số."
        )
    return " ".join(parts)


def _columns(
    quality: pd.DataFrame | None, sensitivity: pd.DataFrame | None
) -> list[tuple[str, str, str | None]]:
    """(key, header, group) of every column of the sheet, in order."""
    cols: list[tuple[str, str, str | None]] = [("name", "Đơn vị", None)]
    if quality is not None:
        cols += [(k, head, group) for k, (head, group) in COUNT_COLUMNS.items() if k in quality.columns]
        cols += [(r, f"{RULE_LABELS_VI[r]} ({r})", _FLAGGED) for r in FORM_RULES if r in quality.columns]
        if "flagged" in quality.columns:
            cols.append(("flagged", "Bất kỳ luật nào", _FLAGGED))
        if "counted" in quality.columns:
            cols.append(("counted", "Được tính vào chỉ số", None))
    if sensitivity is not None:
        cols += [(k, head, _SENSITIVITY) for k, head in SENSITIVITY_COLUMNS.items()]
    cols.append(("unit", "Mã đơn vị", None))
    return cols


def _width(key: str) -> float:
    if key == "name":
        return 24
    if key == "unit":
        return 12
    return 11 if key in SENSITIVITY_COLUMNS else 10


def _unit_order(ctx: _Context, quality: pd.DataFrame | None, sensitivity: pd.DataFrame | None) -> list[str]:
    """The ranking's order, then any unit of the tables that the index table lacks."""
    order = [u.unit for u in ctx.units]
    for table in (quality, sensitivity):
        if table is None:
            continue
        codes = table.index if "unit" not in table.columns else table["unit"]
        order += [str(c) for c in codes if str(c) not in set(order)]
    return list(dict.fromkeys(order))


def _value(row: Mapping[str, Any] | None, key: str) -> Any:
    if row is None:
        return None
    value = row.get(key)
    return None if value is None or value is pd.NA else value


def write_quality_sheet(
    workbook: Workbook,
    ctx: _Context,
    f: _Formats,
    *,
    quality: pd.DataFrame | None,
    sensitivity: pd.DataFrame | None,
    left_out: Mapping[str, int] | None,
    include_flagged: bool,
    notes: Sequence[str],
    name: str = SHEET_QUALITY,
) -> None:
    """Write the data-quality sheet: one row per unit, a totals row, then what the columns mean."""
    from .workbook import _Col, _Sheet, _short_heading, _two_row_header  # the workbook's own writers

    sh = _Sheet(workbook, name, f)
    cols = _columns(quality, sensitivity)
    col = {key: i for i, (key, _, _) in enumerate(cols)}
    last_col = len(cols) - 1
    sh.widths([_width(key) for key, _, _ in cols])
    row = _short_heading(sh, ctx, last_col, "Chất lượng dữ liệu và độ nhạy của xếp hạng")
    summary = left_out_text(left_out, include_flagged)
    sh.height(row, 15 * max(2, math.ceil(len(summary) / 120)) + 3)
    sh.merge(row, 0, last_col, summary, f.summary)
    row += 2
    group_row, head_row = row, row + 1
    _two_row_header(sh, [_Col(key, head, 10, group) for key, head, group in cols], group_row, head_row)
    counts = {str(k): v for k, v in quality.to_dict("index").items()} if quality is not None else {}
    sens = {str(r["unit"]): r for r in sensitivity.to_dict("records")} if sensitivity is not None else {}
    first = head_row + 1
    r = first
    for code in _unit_order(ctx, quality, sensitivity):
        sh.text(r, col["name"], ctx.names.get(code) or code, f.text)
        for key, c in col.items():
            if key in ("name", "unit"):
                continue
            if key in SENSITIVITY_COLUMNS:
                value = _value(sens.get(code), key)
                if key in ("index", "index_without"):
                    sh.number(r, c, value, f.index)
                elif key == "index_change":
                    sh.number(r, c, value, f.change)
                elif key == "rank_change":
                    sh.number(r, c, value, f.rank_shift)
                else:
                    sh.number(r, c, value, f.text_center)
            else:
                sh.number(r, c, _value(counts.get(code), key), f.count)
        sh.text(r, col["unit"], code, f.code)
        r += 1
    last = r - 1
    if "rank_change" in col:
        c = col["rank_change"]
        sh.conditional(first, c, last, c, {"type": "cell", "criteria": ">", "value": 0, "format": f.fall})
        sh.conditional(first, c, last, c, {"type": "cell", "criteria": "<", "value": 0, "format": f.rise})
    sh.sheet.freeze_panes(first, 1)
    # Totals, apart from the unit rows.
    row = last + 1
    sh.text(row, col["name"], "Tổng cộng", f.overall_label)
    for key, c in col.items():
        if key == "name":
            continue
        if quality is not None and key in quality.columns:
            sh.number(row, c, int(quality[key].sum()), f.overall_count)
        else:
            sh.blank(row, c, f.overall_blank)
    row += 2
    for note in (*_meanings(quality, sensitivity), *notes):
        sh.height(row, 15 * max(1, math.ceil(len(note) / 140)) + 3)
        sh.merge(row, 0, last_col, note, f.note)
        row += 1
    sh.print_setup((group_row, head_row), ctx.title)


def _meanings(quality: pd.DataFrame | None, sensitivity: pd.DataFrame | None) -> list[str]:
    """What the columns mean, in Vietnamese (the analysts' English in brackets)."""
    out = []
    if quality is not None and "rejected" in quality.columns:
        out.append(
            "Phiếu nhận được: mọi phiếu đã lưu (kể cả phiếu bị từ chối, đến muộn) và phiếu giấy đã nhập "
            "nhưng hai lần nhập chưa khớp. Không được tính: phiếu bị từ chối khi xem xét, phiếu máy tính "
            "bảng gửi đến sau khi đợt khảo sát đóng, phiếu giấy chưa khớp hai lần nhập "
            "(received = counted + not counted + flagged forms left out, if any)."
        )
        rules = [r for r in FORM_RULES if r in quality.columns]
        if rules:
            out.append(
                "Bị đánh dấu: số phiếu mỗi luật kiểm tra chỉ ra (một phiếu có thể bị nhiều luật đánh dấu); "
                "dấu hiệu chỉ để người xem xét, tự nó không loại phiếu nào (flags never exclude a form "
                "by themselves)."
            )
    if sensitivity is not None:
        out.append(
            "Độ nhạy: chỉ số và hạng của mỗi đơn vị khi tính cả phiếu bị đánh dấu, và khi bỏ mọi phiếu bị "
            "đánh dấu; thay đổi hạng dương nghĩa là đơn vị tụt hạng nếu bỏ các phiếu đó, tức là hạng của "
            "đơn vị phụ thuộc vào những phiếu đáng ngờ (rank change > 0: the unit falls without them)."
        )
    return out
