"""The response-rate sheet of the report: per unit × procedure field, the case files of the one-stop
system in the frame, the answer codes issued and the forms received (counted), with their ratios.

The table comes from the caller (``survey.design.CampaignDesign.response_rates``): columns ``unit``,
``unit_name``, ``stratum``, ``stratum_label``, ``cases`` (missing: no case files imported), ``codes``
and ``received``. Text goes through the workbook's checked writers, never as a formula.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from xlsxwriter import Workbook

    from .workbook import _Context, _Formats

SHEET_RATES = "Tỷ lệ phản hồi"
COLUMNS = (
    ("name", "Đơn vị", 28),
    ("stratum", "Lĩnh vực", 24),
    ("cases", "Hồ sơ trong khung mẫu (N)", 14),
    ("codes", "Mã trả lời đã phát", 12),
    ("received", "Phiếu nhận (được tính)", 12),
    ("coverage", "Phiếu / hồ sơ", 11),
    ("rate", "Phiếu / mã đã phát", 11),
    ("unit", "Mã đơn vị", 12),
)
NOTE = (
    "Hồ sơ: số hồ sơ tiếp nhận trong thời gian của đợt khảo sát, từ hệ thống một cửa (trống: chưa nhập). "
    "Mã trả lời: mã một lần phát kèm phiếu hẹn (0: chưa phát). Phiếu nhận: phiếu được tính, không kể phiếu "
    "bị loại và phiếu đến muộn. Trọng số của mỗi phiếu là N/n trong ô đơn vị × lĩnh vực của nó, nên chênh "
    "lệch tỷ lệ trả lời giữa các lĩnh vực đã được hiệu chỉnh (hiệu chỉnh không trả lời)."
)


def _ratio(part: object, whole: object) -> float | None:
    if whole is None or pd.isna(whole) or not whole:
        return None
    return float(part) / float(whole)  # type: ignore[arg-type]


def write_rates_sheet(workbook: Workbook, ctx: _Context, f: _Formats, rates: pd.DataFrame) -> None:
    """Write one row per unit × field, a totals row, and what the columns mean."""
    from .workbook import _Sheet, _short_heading  # the workbook's own writers

    sh = _Sheet(workbook, SHEET_RATES, f)
    last_col = len(COLUMNS) - 1
    sh.widths([w for _, _, w in COLUMNS])
    row = _short_heading(sh, ctx, last_col, "Tỷ lệ phản hồi theo đơn vị và lĩnh vực")
    for c, (_, head, _) in enumerate(COLUMNS):
        sh.text(row, c, head, f.head)
    first = row + 1
    r = first
    for rec in rates.to_dict("records"):
        cases = None if pd.isna(rec["cases"]) else int(rec["cases"])
        sh.text(r, 0, str(rec["unit_name"] or rec["unit"]), f.text)
        sh.text(r, 1, str(rec["stratum_label"] or "—"), f.text)
        sh.number(r, 2, cases, f.count)
        sh.number(r, 3, int(rec["codes"]), f.count)
        sh.number(r, 4, int(rec["received"]), f.count)
        sh.number(r, 5, _ratio(rec["received"], cases), f.percent)
        sh.number(r, 6, _ratio(rec["received"], rec["codes"]), f.percent)
        sh.text(r, 7, str(rec["unit"]), f.code)
        r += 1
    sh.sheet.freeze_panes(first, 1)
    known = rates["cases"].dropna()
    total_cases = int(known.sum()) if len(known) else None
    total_codes, total_received = int(rates["codes"].sum()), int(rates["received"].sum())
    sh.text(r, 0, "Tổng cộng", f.overall_label)
    sh.text(r, 1, "", f.overall_label)
    sh.number(r, 2, total_cases, f.count)
    sh.number(r, 3, total_codes, f.count)
    sh.number(r, 4, total_received, f.count)
    sh.number(r, 5, _ratio(total_received, total_cases), f.percent)
    sh.number(r, 6, _ratio(total_received, total_codes), f.percent)
    sh.text(r, 7, "", f.code)
    sh.height(r + 2, 75)
    sh.merge(r + 2, 0, last_col, NOTE, f.text)
