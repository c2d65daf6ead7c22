"""A synthetic one-stop export (Hệ thống thông tin giải quyết TTHC), generated deterministically.

Not real data: the case codes, procedures and dates are drawn from a seeded generator, in the shape the
provincial systems export (title lines above the header, a running number, unit names written several
ways, a field column, dates as text, Excel dates or Excel serial numbers), with messy rows planted at
known places. :func:`export` returns the file's rows and what a correct reader must make of them.
"""

from __future__ import annotations

import csv
import io
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

# (unit code, ways the system writes it): with and without "Xã", upper case, no accents, decomposed
# Unicode, the old tone placement (Thuỷ), "UBND xã …".
UNITS = {
    "tra-xuan": ["Thị trấn Trà Xuân", "TT Trà Xuân", "Trà Xuân"],
    "tra-giang": ["Xã Trà Giang", "Trà Giang", "UBND xã Trà Giang", "TRÀ GIANG"],
    "tra-thuy": ["Xã Trà Thủy", "Xã Trà Thuỷ", "xa Tra Thuy"],
    "tra-hiep": ["Xã Trà Hiệp", unicodedata.normalize("NFD", "Xã Trà Hiệp")],
    "tra-binh": ["Xã Trà Bình", "Trà Bình"],
    "tra-phu": ["Xã Trà Phú"],
    "tra-lam": ["Xã Trà Lâm", "xã trà lâm"],
    "tra-tan": ["Xã Trà Tân"],
    "tra-son": ["Xã Trà Sơn", "Tra Son"],
    "tra-bui": ["Xã Trà Bùi"],
    "tra-thanh": ["Xã Trà Thanh"],
    "tra-phong": ["Xã Trà Phong"],
    "tra-xinh": ["Xã Trà Xinh"],
    "son-tra": ["Xã Sơn Trà", "Sơn Trà"],
    "huong-tra": ["Xã Hương Trà"],
    "tra-tay": ["Xã Trà Tây"],
}
# (procedure, field as the export names it, the campaign's stratum). A blank field: the mapping's
# procedure table gives it.
PROCEDURES = [
    ("Đăng ký khai sinh", "Hộ tịch", "ho_tich"),
    ("Đăng ký khai tử", "Hộ tịch", "ho_tich"),
    ("Đăng ký kết hôn", "Hộ tịch", "ho_tich"),
    ("Chứng thực bản sao từ bản chính", "Chứng thực", "chung_thuc"),
    ("Chứng thực chữ ký trong giấy tờ, văn bản", "Chứng thực", "chung_thuc"),
    ("Đăng ký đất đai lần đầu", "Đất đai", "dat_dai"),
    ("Hoà giải tranh chấp đất đai", "Đất đai", "dat_dai"),
    (
        "Xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình",
        "Lao động - Thương binh và Xã hội",
        "lao_dong_xh",
    ),
    ("Trợ cấp mai táng phí", "", "lao_dong_xh"),
    ("Cấp giấy phép xây dựng nhà ở riêng lẻ", "Xây dựng", "xay_dung"),
    ("Đăng ký hoạt động tín ngưỡng", "", "khac"),
]
PROCEDURE_WEIGHTS = [30, 6, 8, 25, 6, 5, 2, 4, 2, 3, 1]
UNIT_SIZES = {code: 40 + 23 * i for i, code in enumerate(UNITS)}  # relative sizes, all different

MAPPING_YAML = """\
columns:
  case_code: "Mã hồ sơ"
  unit: "Đơn vị tiếp nhận"
  procedure: "Tên thủ tục hành chính"
  field: "Lĩnh vực"
  received_on: "Ngày tiếp nhận"
  returned_on: "Ngày trả kết quả"
date_formats: ["%d/%m/%Y", "%Y-%m-%d"]
fields:
  "Lao động - Thương binh và Xã hội": lao_dong_xh
procedures:
  "Trợ cấp mai táng phí": lao_dong_xh
  "Đăng ký hoạt động tín ngưỡng": khac
"""
HEADER = [
    "STT",
    "Mã hồ sơ",
    "Tên thủ tục hành chính",
    "Lĩnh vực",
    "Đơn vị tiếp nhận",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Ngày trả kết quả",
    "Trạng thái",
]
TITLE_LINES = [["DANH SÁCH HỒ SƠ TIẾP NHẬN"], ["Huyện Trà Bồng, tỉnh Quảng Ngãi"]]


@dataclass
class Export:
    """The rows of an export (header included, row 1 first) and what a correct reader makes of them."""

    rows: list[list[object]]
    good: list[dict[str, object]] = field(default_factory=list)  # code, unit, stratum, received, row
    bad: dict[int, str] = field(default_factory=dict)  # row number -> the column at fault
    blank_rows: list[int] = field(default_factory=list)

    def csv_bytes(self) -> bytes:
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        for row in self.rows:
            writer.writerow(["" if v is None else _text_date(v) for v in row])
        return out.getvalue().encode("utf-8-sig")

    def xlsx_bytes(self) -> bytes:
        from openpyxl import Workbook

        book = Workbook()
        ws = book.active
        ws.title = "Hồ sơ"
        for row in self.rows:
            ws.append(list(row) if row else [None])
        for cells in ws.iter_rows():
            for c in cells:
                if isinstance(c.value, datetime | date):
                    c.number_format = "dd/mm/yyyy"
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()


def _text_date(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return value


def export(
    n: int = 4000,
    *,
    seed: int = 2024,
    start: date = date(2023, 12, 20),
    days: int = 200,
    first_seq: int = 1,
    messy: bool = True,
) -> Export:
    """``n`` case files received from ``start`` over ``days`` days, with messy rows when ``messy``.

    Received dates are written several ways: "dd/mm/yyyy" text, "dd/mm/yyyy HH:MM", ISO text, a date
    cell (a datetime in XLSX, text in CSV) and an Excel serial number. Returned dates are mostly blank
    or a few days later.
    """
    rng = random.Random(seed)
    units = list(UNITS)
    weights = [UNIT_SIZES[u] for u in units]
    result = Export(rows=[*TITLE_LINES, list(HEADER)])
    seq = first_seq
    for _ in range(n):
        unit = rng.choices(units, weights)[0]
        procedure, field_name, stratum = rng.choices(PROCEDURES, PROCEDURE_WEIGHTS)[0]
        received = start + timedelta(days=rng.randrange(days))
        code = f"H52.{units.index(unit) + 1:02d}-{received:%y%m%d}-{seq:05d}"
        seq += 1
        style = rng.randrange(5)
        if style == 0:
            written: object = received.strftime("%d/%m/%Y")
        elif style == 1:
            written = datetime(received.year, received.month, received.day, rng.randrange(7, 17), 5)
        elif style == 2:
            written = received.isoformat()
        elif style == 3:
            written = received  # a date cell
        else:
            written = (received - date(1899, 12, 30)).days  # an Excel serial number
        returned = received + timedelta(days=rng.randrange(0, 10)) if rng.random() < 0.7 else None
        result.rows.append(
            [
                len(result.rows) - len(TITLE_LINES),
                code,
                procedure,
                field_name,
                rng.choice(UNITS[unit]),
                written,
                (received + timedelta(days=12)).strftime("%d/%m/%Y"),
                returned.strftime("%d/%m/%Y") if returned else "",
                "Đã trả kết quả" if returned else "Đang giải quyết",
            ]
        )
        result.good.append(
            {"code": code, "unit": unit, "stratum": stratum, "received": received, "row": len(result.rows)}
        )
    if messy:
        _plant(result, rng)
    return result


def _plant(result: Export, rng: random.Random) -> None:
    """Plant bad rows and blank lines at fixed places; drop the planted rows from ``good``."""
    by_row = {g["row"]: g for g in result.good}
    data_rows = sorted(by_row)

    def pick() -> int:
        while True:
            row = rng.choice(data_rows[10:])
            if row in by_row and row not in result.bad:
                return row

    col = {name: HEADER.index(name) for name in HEADER}
    for kind, column in [
        ("unknown_unit", "Đơn vị tiếp nhận"),
        ("unknown_unit", "Đơn vị tiếp nhận"),
        ("bad_date", "Ngày tiếp nhận"),
        ("bad_date", "Ngày tiếp nhận"),
        ("bad_date", "Ngày tiếp nhận"),
        ("missing_code", "Mã hồ sơ"),
        ("unknown_field", "Lĩnh vực"),
    ]:
        row = pick()
        cells = result.rows[row - 1]
        if kind == "unknown_unit":
            cells[col[column]] = rng.choice(["Xã Bình Sơn", "Phường Nghĩa Lộ"])
        elif kind == "bad_date":
            cells[col[column]] = rng.choice(["31/02/2024", "ngày 5 tháng 3", "2024-13-01"])
        elif kind == "missing_code":
            cells[col[column]] = "  "
        else:
            cells[col["Tên thủ tục hành chính"]] = "Thủ tục chưa có trong bảng"
            cells[col[column]] = "Tư pháp"
        result.bad[row] = column
        result.good.remove(by_row.pop(row))
    # A code twice: the later row repeats an earlier row's code; the earlier one stays good.
    first = rng.choice(data_rows[20:200])
    dup = pick()
    while dup <= first or first not in by_row:
        first = rng.choice(data_rows[20:200])
        dup = pick()
    result.rows[dup - 1][col["Mã hồ sơ"]] = result.rows[first - 1][col["Mã hồ sơ"]]
    result.bad[dup] = "Mã hồ sơ"
    result.good.remove(by_row.pop(dup))
    # Blank lines: inserted last, from the bottom up, so earlier row numbers hold.
    for row in sorted(rng.sample(data_rows[5:-5], 3), reverse=True):
        result.rows.insert(row, [None] * len(HEADER))
        for g in result.good:
            if g["row"] > row:
                g["row"] += 1
        result.bad = {(r + 1 if r > row else r): c for r, c in result.bad.items()}
        result.blank_rows = [b + 1 if b > row else b for b in result.blank_rows] + [row + 1]
