"""Case files (hồ sơ) from the one-stop systems (Hệ thống thông tin giải quyết TTHC): the sampling frame.

Every case file has a code printed on its receipt; the number of case files of the campaign's period per
unit × procedure field is the population N_h the design weights need. :func:`read_export` reads a CSV
or XLSX export as the provincial systems write them, with a small mapping (column names, unit names,
procedure → field table, date formats; ``docs/dossier-mapping.example.yaml``); :func:`plan_import`
checks every row against the campaign and what is stored; :func:`apply_import` stores the new case
files in the caller's transaction. :func:`dossier_frame` counts them into the frame,
:func:`dossier_targets` turns it into Slovin targets (per unit, optionally split across fields in
proportion to N: ``Campaign.field_allocation``), and :func:`response_rates` sets case files against
answer codes issued (:func:`codes_issued`) and forms received.

Re-importing a file changes nothing: a case is known by its code; a code seen again with other data
is a conflict (listed; the stored case stays as it was). Rows that cannot be used (no code, a unit or
field that cannot be matched, a date that cannot be read, a code twice in the file) are listed with
their row and column; the good rows are stored only when the user confirms.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from .campaigns import slovin_target
from .errors import SurveyError
from .models import Campaign, Dossier, DossierImport, Response, User

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_MAPPING",
    "MAX_FILE_BYTES",
    "DossierError",
    "DossierMapping",
    "ImportPlan",
    "Problem",
    "apply_import",
    "codes_issued",
    "dossier_frame",
    "dossier_targets",
    "fold",
    "load_mapping",
    "plan_import",
    "read_export",
    "response_rates",
]

MAX_FILE_BYTES = 50_000_000  # a year of a province's case files is a few MB of CSV
MAX_ROWS = 1_000_000
CODE_MAX = 64  # Dossier.case_code
PROCEDURE_MAX = 500  # Dossier.procedure
PROBLEMS_SHOWN = 200  # problems and conflicts kept for display (their counts are always full)

# Campaign.field_allocation: how targets come from the case files (a local choice, stated in the method
# sheet). "unit": Slovin per unit; "proportional": also split across fields in proportion to N.
ALLOCATIONS = {
    "unit": "Chỉ tiêu theo đơn vị (Slovin trên tổng số hồ sơ của đơn vị)",
    "proportional": "Chỉ tiêu theo đơn vị, chia cho các lĩnh vực theo tỷ lệ số hồ sơ (phần dư lớn nhất)",
}

FIELDS = ("case_code", "unit", "procedure", "field", "received_on", "returned_on")
FIELD_LABELS = {
    "case_code": "mã hồ sơ",
    "unit": "đơn vị",
    "procedure": "thủ tục",
    "field": "lĩnh vực",
    "received_on": "ngày tiếp nhận",
    "returned_on": "ngày trả kết quả",
}
# Column names as the provincial systems commonly write them (matched without accents or case).
DEFAULT_COLUMNS: dict[str, list[str]] = {
    "case_code": ["Mã hồ sơ", "Số hồ sơ", "Mã số hồ sơ", "case_code"],
    "unit": ["Đơn vị", "Đơn vị tiếp nhận", "Cơ quan tiếp nhận", "Tên đơn vị", "unit"],
    "procedure": ["Tên thủ tục", "Thủ tục", "Tên thủ tục hành chính", "procedure"],
    "field": ["Lĩnh vực", "Tên lĩnh vực", "field"],
    "received_on": ["Ngày tiếp nhận", "Ngày nhận", "received_on"],
    "returned_on": ["Ngày trả kết quả", "Ngày trả", "Ngày có kết quả", "returned_on"],
}
# Words before a commune's name that a system may or may not write ("UBND xã Trà Giang", "Trà Giang").
UNIT_PREFIXES = ("thi tran", "phuong", "xa")
EXCEL_EPOCH = date(1899, 12, 30)  # Excel's 1900 date system, with its phantom 29/02/1900
DEFAULT_DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d")


class DossierError(SurveyError):
    """A file or mapping that cannot be read at all (the message says what and where)."""


def fold(value: Any) -> str:
    """Text folded for matching: no accents (đ → d), lower case, one space between words."""
    text_ = unicodedata.normalize("NFKD", str(value or "")).replace("đ", "d").replace("Đ", "D")
    text_ = "".join(c for c in text_ if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text_).split())


def _canonical(folded: str) -> str:
    """A folded unit name without "UBND"/"Ủy ban nhân dân", with "TT" spelt "thị trấn"."""
    for prefix in ("uy ban nhan dan ", "ubnd "):
        if folded.startswith(prefix):
            folded = folded[len(prefix) :]
    return "thi tran " + folded[3:] if folded.startswith("tt ") else folded


def _strip_prefix(folded: str) -> str:
    """A folded unit name without any of UNIT_PREFIXES ("Xã Trà Giang" -> "tra giang")."""
    folded = _canonical(folded)
    for prefix in UNIT_PREFIXES:
        if folded.startswith(prefix + " "):
            return folded[len(prefix) + 1 :]
    return folded


# ---------------------------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class DossierMapping:
    """How one system's export reads: its column names, unit names, fields and date formats."""

    columns: Mapping[str, tuple[str, ...]]  # field -> accepted column names (first found wins)
    units: Mapping[str, str] = field(default_factory=dict)  # folded unit name in the file -> unit code
    fields: Mapping[str, str] = field(default_factory=dict)  # folded field name -> stratum code
    procedures: Mapping[str, str] = field(default_factory=dict)  # folded procedure name -> stratum code
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    sheet: str | None = None  # XLSX: the sheet to read (default: the first)
    header_row: int | None = None  # the row of column names (default: the first row naming a case code)


DEFAULT_MAPPING = DossierMapping(columns={k: tuple(v) for k, v in DEFAULT_COLUMNS.items()})


def load_mapping(source: str | Path | bytes | None) -> DossierMapping:
    """Read a mapping file (YAML; see docs/dossier-mapping.example.yaml); None: the default mapping."""
    if source is None:
        return DEFAULT_MAPPING
    where = "tệp ánh xạ (mapping)"
    try:
        if isinstance(source, bytes):
            raw = source.decode("utf-8-sig")
        else:
            where = str(source)
            raw = Path(source).read_text(encoding="utf-8-sig")
        data = yaml.safe_load(raw) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DossierError(f"{where}: không đọc được ({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise DossierError(f"{where}: cần một bảng YAML (columns, units, fields, procedures, date_formats)")
    unknown = sorted(
        set(data) - {"columns", "units", "fields", "procedures", "date_formats", "sheet", "header_row"}
    )
    if unknown:
        raise DossierError(f"{where}: mục không biết (unknown keys): {', '.join(map(str, unknown))}")
    columns = {k: tuple(v) for k, v in DEFAULT_COLUMNS.items()}
    for key, value in (data.get("columns") or {}).items():
        if key not in FIELDS:
            raise DossierError(
                f"{where}: columns.{key} không phải trường biết ({', '.join(FIELDS)}) (unknown field)"
            )
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise DossierError(f"{where}: columns.{key} cần tên cột hoặc danh sách tên cột")
        columns[key] = tuple(names)
    tables = {}
    for key in ("units", "fields", "procedures"):
        table = data.get(key) or {}
        if not isinstance(table, dict):
            raise DossierError(f"{where}: {key} cần dạng “tên trong tệp: mã” (name: code)")
        folded: dict[str, str] = {}
        for name, code in table.items():
            if code is None or isinstance(code, dict | list) or not str(code).strip():
                raise DossierError(f"{where}: {key}.{name}: cần một mã (a code)")
            folded[fold(name)] = str(code).strip()
        tables[key] = folded
    formats = data.get("date_formats") or list(DEFAULT_DATE_FORMATS)
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not all(isinstance(f, str) and "%" in f for f in formats):
        raise DossierError(f'{where}: date_formats cần danh sách dạng ngày như "%d/%m/%Y"')
    header_row = data.get("header_row")
    if header_row is not None and (not isinstance(header_row, int) or header_row < 1):
        raise DossierError(f"{where}: header_row cần một số dòng ≥ 1")
    sheet = data.get("sheet")
    return DossierMapping(
        columns=columns,
        units=tables["units"],
        fields=tables["fields"],
        procedures=tables["procedures"],
        date_formats=tuple(formats),
        sheet=str(sheet) if sheet is not None else None,
        header_row=header_row,
    )


# ----------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Problem:
    """A row that cannot be used: its row number in the file, the column, and why."""

    row: int
    column: str | None
    message: str

    def line(self) -> str:
        where = f"dòng {self.row}" + (f", cột “{self.column}”" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RawTable:
    """The rows of an export: the column names and each data row with its row number in the file."""

    filename: str
    sha256: str
    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    header_row: int


def read_export(data: bytes, filename: str, mapping: DossierMapping = DEFAULT_MAPPING) -> RawTable:
    """Read a CSV or XLSX export into rows; DossierError when the file cannot be read at all."""
    if len(data) > MAX_FILE_BYTES:
        raise DossierError(f"{filename}: tệp lớn quá {MAX_FILE_BYTES // 1_000_000} MB (file too large)")
    digest = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        grid = _xlsx_rows(data, filename, mapping.sheet)
    else:
        grid = _csv_rows(data, filename)
    header_at = _header_row(grid, mapping, filename)
    headers = ["" if v is None else str(v).strip() for v in grid[header_at - 1]]
    rows = [(number, values) for number, values in enumerate(grid[header_at:], start=header_at + 1)]
    if len(rows) > MAX_ROWS:
        raise DossierError(f"{filename}: hơn {MAX_ROWS} dòng (more than {MAX_ROWS} rows)")
    return RawTable(filename, digest, headers, rows, header_at)


def _csv_rows(data: bytes, filename: str) -> list[list[Any]]:
    for encoding in (
        ("utf-8-sig", "utf-16") if not data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-16",)
    ):
        try:
            decoded = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DossierError(f"{filename}: tệp CSV không phải UTF-8 (save the CSV as UTF-8)")
    sample = decoded[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    try:
        return [list(r) for r in csv.reader(io.StringIO(decoded, newline=""), dialect)]
    except csv.Error as exc:
        raise DossierError(f"{filename}: tệp CSV hỏng ({exc})") from None


def _xlsx_rows(data: bytes, filename: str, sheet: str | None) -> list[list[Any]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise DossierError(f"{filename}: không đọc được tệp Excel ({_first_line(exc)})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise DossierError(f"{filename}: không có trang “{sheet}” (sheets: {', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()


def _header_row(grid: list[list[Any]], mapping: DossierMapping, filename: str) -> int:
    """The 1-based row holding the column names: the mapping's, else the first that names a case code."""
    if mapping.header_row is not None:
        if mapping.header_row > len(grid):
            raise DossierError(f"{filename}: không có dòng tiêu đề {mapping.header_row}")
        return mapping.header_row
    wanted = {fold(n) for n in mapping.columns["case_code"]}
    for number, row in enumerate(grid[:50], start=1):
        if any(fold(v) in wanted for v in row if v is not None):
            return number
    names = ", ".join(f"“{n}”" for n in mapping.columns["case_code"])
    raise DossierError(
        f"{filename}: không tìm thấy dòng tiêu đề có cột mã hồ sơ ({names}); "
        "ghi tên cột trong tệp ánh xạ (columns.case_code)"
    )


# ------------------------------------------------------------------------------------------ checking
@dataclass(frozen=True)
class Case:
    """One usable row: a case file as it would be stored."""

    row: int
    case_code: str
    unit_code: str
    procedure: str | None
    stratum: str
    received_on: date | None
    returned_on: date | None

    def values(self) -> tuple[Any, ...]:
        return (self.unit_code, self.procedure, self.stratum, self.received_on, self.returned_on)


@dataclass(frozen=True)
class Conflict:
    """A case code already stored with other data: the stored case stays as it was."""

    row: int
    case_code: str
    differences: tuple[tuple[str, Any, Any], ...]  # (field, stored, in the file)

    def line(self) -> str:
        shown = "; ".join(
            f"{FIELD_LABELS.get(f, f)}: đã lưu {_show(a)}, tệp {_show(b)}" for f, a, b in self.differences
        )
        return f"dòng {self.row}: hồ sơ {self.case_code} đã có với dữ liệu khác ({shown})"


@dataclass
class ImportPlan:
    """What importing a file would do: new cases, unchanged, conflicts, bad rows; nothing written yet."""

    campaign_id: int
    filename: str
    sha256: str
    rows_read: int
    new: list[Case]
    unchanged: int
    conflicts: list[Conflict]
    problems: list[Problem]
    outside_period: int  # new cases received outside the campaign's period (stored, not in the frame)
    columns: dict[str, str]  # field -> the column of the file it was read from

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.problems or self.conflicts)

    @property
    def bad_rows(self) -> int:
        return len({p.row for p in self.problems})

    def summary(self) -> str:
        parts = [
            f"{self.rows_read} dòng dữ liệu",
            f"{len(self.new)} hồ sơ mới",
            f"{self.unchanged} đã có (không đổi)",
        ]
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} trùng mã nhưng khác dữ liệu (giữ bản đã lưu)")
        if self.problems:
            parts.append(f"{self.bad_rows} dòng lỗi (bỏ qua)")
        if self.outside_period:
            parts.append(f"{self.outside_period} hồ sơ mới ngoài thời gian của đợt (không tính vào N)")
        return ", ".join(parts)


def plan_import(session: Session, campaign: Campaign, table: RawTable, mapping: DossierMapping) -> ImportPlan:
    """Check every row of ``table`` against the campaign and the stored cases; write nothing."""
    index = _column_index(table, mapping)
    unit_names = _unit_index(campaign, mapping)
    strata = _stratum_index(campaign, mapping)
    problems: list[Problem] = []
    cases: list[Case] = []
    first_row: dict[str, int] = {}
    rows_read = 0
    for number, values in table.rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue  # a blank line
        rows_read += 1
        row_problems: list[Problem] = []

        def cell(name: str, values: list[Any] = values) -> Any:
            position = index.get(name)
            if position is None or position >= len(values):
                return None
            value = values[position]
            return value.strip() if isinstance(value, str) else value

        def problem(
            name: str | None, message: str, number: int = number, sink: list[Problem] = row_problems
        ) -> None:
            sink.append(Problem(number, table.headers[index[name]] if name in index else None, message))

        code = _code_text(cell("case_code"))
        if not code:
            problem("case_code", "thiếu mã hồ sơ (missing case code)")
        elif len(code) > CODE_MAX or any(unicodedata.category(c) == "Cc" for c in code):
            problem("case_code", f"mã hồ sơ dài quá {CODE_MAX} ký tự hoặc có ký tự điều khiển")
        elif code in first_row:
            problem(
                "case_code", f"mã hồ sơ {code} trùng với dòng {first_row[code]} (duplicate code in the file)"
            )
        unit_value = cell("unit")
        unit_code = _match_unit(unit_value, unit_names)
        if unit_code is None:
            shown = "trống" if unit_value in (None, "") else f"“{unit_value}”"
            problem("unit", f"đơn vị {shown} không có trong đợt khảo sát (unknown unit)")
        elif unit_code == "":
            problem(
                "unit", f"tên đơn vị “{unit_value}” khớp nhiều đơn vị; ghi rõ trong mục units của tệp ánh xạ"
            )
        procedure = cell("procedure")
        procedure_text = None if procedure in (None, "") else str(procedure)[:PROCEDURE_MAX]
        stratum = _match_stratum(cell("field"), procedure_text, strata)
        if stratum is None:
            field_value = cell("field")
            what = (
                f"lĩnh vực “{field_value}”"
                if field_value not in (None, "")
                else f"thủ tục “{procedure_text or ''}”"
            )
            problem(
                "field" if "field" in index and field_value not in (None, "") else "procedure",
                f"{what} không ứng với lĩnh vực nào của đợt khảo sát; thêm vào mục fields/procedures "
                "của tệp ánh xạ (unknown procedure field)",
            )
        received = _date_cell(cell("received_on"), mapping, problem, "received_on", required=True)
        returned = _date_cell(cell("returned_on"), mapping, problem, "returned_on", required=False)
        if received and returned and returned < received:
            problem(
                "returned_on",
                f"ngày trả kết quả {returned:%d/%m/%Y} trước ngày tiếp nhận {received:%d/%m/%Y}",
            )
        if code and code not in first_row:
            first_row[code] = number
        if row_problems:
            problems.extend(row_problems)
            continue
        cases.append(Case(number, code, unit_code, procedure_text, stratum or "", received, returned))
    stored = _stored(session, campaign.id, [c.case_code for c in cases])
    new: list[Case] = []
    conflicts: list[Conflict] = []
    unchanged = 0
    for case in cases:
        before = stored.get(case.case_code)
        if before is None:
            new.append(case)
        elif before == case.values():
            unchanged += 1
        else:
            names = ("unit", "procedure", "field", "received_on", "returned_on")
            diffs = tuple((n, a, b) for n, a, b in zip(names, before, case.values(), strict=True) if a != b)
            conflicts.append(Conflict(case.row, case.case_code, diffs))
    start, end = _period(campaign)
    outside = sum(1 for c in new if not _in_period(c.received_on, start, end))
    return ImportPlan(
        campaign_id=campaign.id,
        filename=table.filename,
        sha256=table.sha256,
        rows_read=rows_read,
        new=new,
        unchanged=unchanged,
        conflicts=conflicts,
        problems=problems,
        outside_period=outside,
        columns={name: table.headers[i] for name, i in index.items()},
    )


def apply_import(session: Session, campaign: Campaign, plan: ImportPlan, user: User | None = None) -> int:
    """Store the plan's new cases in the caller's transaction; return how many. Nothing new: no write.

    The campaign row is locked first (PostgreSQL), so two imports of one campaign never interleave;
    the unique (campaign, case code) constraint is the last guard.
    """
    session.get(Campaign, campaign.id, with_for_update=True)
    if not plan.new:
        return 0
    batch = DossierImport(
        campaign_id=campaign.id,
        filename=plan.filename[:255],
        sha256=plan.sha256,
        imported_by=user.id if user is not None else None,
        rows_read=plan.rows_read,
        added=len(plan.new),
        unchanged=plan.unchanged,
        conflicts=len(plan.conflicts),
        skipped=plan.bad_rows,
    )
    session.add(batch)
    session.flush()
    now = datetime.now(UTC)
    session.execute(
        Dossier.__table__.insert(),
        [
            {
                "campaign_id": campaign.id,
                "case_code": c.case_code,
                "unit_code": c.unit_code,
                "procedure": c.procedure,
                "stratum": c.stratum,
                "received_on": c.received_on,
                "returned_on": c.returned_on,
                "import_id": batch.id,
                "imported_at": now,
            }
            for c in plan.new
        ],
    )
    session.flush()
    return len(plan.new)


def _column_index(table: RawTable, mapping: DossierMapping) -> dict[str, int]:
    folded = [fold(h) for h in table.headers]
    index: dict[str, int] = {}
    for name in FIELDS:
        for wanted in mapping.columns.get(name, ()):
            if fold(wanted) in folded:
                index[name] = folded.index(fold(wanted))
                break
    missing = [n for n in ("case_code", "unit", "received_on") if n not in index]
    if "procedure" not in index and "field" not in index:
        missing.append("procedure/field")
    if missing:
        shown = "; ".join(
            f"{FIELD_LABELS.get(n, n)} ({', '.join(mapping.columns.get(n, ()))})"
            if n in mapping.columns
            else "thủ tục hoặc lĩnh vực"
            for n in missing
        )
        raise DossierError(
            f"{table.filename}, dòng {table.header_row}: thiếu cột {shown} — "
            f"các cột trong tệp: {', '.join(h for h in table.headers if h)}; ghi tên cột trong tệp ánh xạ"
        )
    return index


def _unit_index(campaign: Campaign, mapping: DossierMapping) -> dict[str, str]:
    """Folded name -> unit code ("" when the name fits several units), from codes, names and the mapping."""
    candidates: dict[str, set[str]] = {}
    for unit in campaign.units:
        name = _canonical(fold(unit.unit_name))
        for key in {fold(unit.unit_code), name, _strip_prefix(name)}:
            candidates.setdefault(key, set()).add(unit.unit_code)
    index = {key: (codes.pop() if len(codes) == 1 else "") for key, codes in candidates.items()}
    known = {u.unit_code for u in campaign.units}
    for name, code in mapping.units.items():
        if code not in known:
            raise DossierError(
                f"tệp ánh xạ: units: mã đơn vị “{code}” không có trong đợt khảo sát "
                f"(known: {', '.join(sorted(known))})"
            )
        index[_canonical(name)] = code
    return index


def _match_unit(value: Any, index: Mapping[str, str]) -> str | None:
    if value in (None, ""):
        return None
    key = _canonical(fold(value))
    if key in index:  # the full name first: "Thị trấn Tân Lập" is not "Xã Tân Lập"
        return index[key]
    return index.get(_strip_prefix(key))


def _stratum_index(
    campaign: Campaign, mapping: DossierMapping
) -> tuple[dict[str, str], dict[str, str]] | None:
    """(folded field name -> stratum, folded procedure name -> stratum); None: the campaign has no fields.

    Field names are the campaign's field codes and labels, and the mapping's ``fields``; procedures
    only those of the mapping's ``procedures``.
    """
    if not campaign.strata:
        return None
    codes = {str(s["code"]) for s in campaign.strata}
    for table, what in ((mapping.fields, "fields"), (mapping.procedures, "procedures")):
        for code in table.values():
            if code not in codes:
                raise DossierError(
                    f"tệp ánh xạ: {what}: lĩnh vực “{code}” không có trong đợt khảo sát "
                    f"(known: {', '.join(sorted(codes))})"
                )
    fields: dict[str, str] = {}
    for s in campaign.strata:
        fields[fold(s["code"])] = str(s["code"])
        fields[fold(s.get("label") or s["code"])] = str(s["code"])
    fields.update(mapping.fields)
    return fields, dict(mapping.procedures)


def _match_stratum(
    field_value: Any, procedure: str | None, strata: tuple[dict[str, str], dict[str, str]] | None
) -> str | None:
    """The stratum of a row: "" without fields; else the procedure's (mapping), else the field column's."""
    if strata is None:
        return ""
    fields, procedures = strata
    if procedure and fold(procedure) in procedures:
        return procedures[fold(procedure)]
    if field_value not in (None, ""):
        return fields.get(fold(field_value))
    return None


def _date_cell(
    value: Any, mapping: DossierMapping, problem: Any, name: str, *, required: bool
) -> date | None:
    if value in (None, ""):
        if required:
            problem(name, f"thiếu {FIELD_LABELS[name]} (missing date)")
        return None
    parsed = parse_date(value, mapping.date_formats)
    if parsed is None:
        problem(
            name, f"không đọc được ngày “{value}” (unparseable date; dd/mm/yyyy, yyyy-mm-dd or an Excel date)"
        )
    return parsed


def parse_date(value: Any, formats: Sequence[str] = DEFAULT_DATE_FORMATS) -> date | None:
    """A date from a cell: a date/datetime, an Excel serial number, or text in one of ``formats``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _excel_serial(float(value))
    text_ = str(value).strip()
    if re.fullmatch(r"\d{4,6}(\.\d+)?", text_):
        return _excel_serial(float(text_))
    # A time after the date ("05/01/2024 08:30", "2024-01-05T08:30:00") is dropped.
    head = re.split(r"[ T]", text_, maxsplit=1)[0]
    for fmt in formats:
        for candidate in (text_, head):
            try:
                return datetime.strptime(candidate, fmt).date()
            except ValueError:
                continue
    return None


def _excel_serial(number: float) -> date | None:
    # 1..2958465: 01/01/1900..31/12/9999; below 20000 (1954) is no case date of a one-stop system.
    if not math.isfinite(number) or not 20_000 <= number <= 2_958_465:
        return None
    return EXCEL_EPOCH + timedelta(days=int(number))


def _code_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # a numeric code in an Excel cell
        value = int(value)
    return str(value).strip()


def _stored(session: Session, campaign_id: int, codes: Iterable[str]) -> dict[str, tuple[Any, ...]]:
    """The stored cases among ``codes``: code -> (unit, procedure, stratum, received, returned)."""
    wanted = list(dict.fromkeys(codes))
    out: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in session.execute(
            select(
                Dossier.case_code,
                Dossier.unit_code,
                Dossier.procedure,
                Dossier.stratum,
                Dossier.received_on,
                Dossier.returned_on,
            ).where(Dossier.campaign_id == campaign_id, Dossier.case_code.in_(chunk))
        ):
            out[row[0]] = tuple(row[1:])
    return out


def _show(value: Any) -> str:
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return "trống" if value in (None, "") else f"“{value}”"


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def _period(campaign: Campaign) -> tuple[date | None, date | None]:
    start = date.fromisoformat(campaign.period_start) if campaign.period_start else None
    end = date.fromisoformat(campaign.period_end) if campaign.period_end else None
    return start, end


def _in_period(day: date | None, start: date | None, end: date | None) -> bool:
    if day is None:
        return start is None and end is None
    return (start is None or day >= start) and (end is None or day <= end)


# --------------------------------------------------------------------------------- frame and targets
def has_dossiers(session: Session, campaign_id: int) -> bool:
    """Whether case files were imported for the campaign (then they are its frame)."""
    return session.scalar(select(Dossier.id).where(Dossier.campaign_id == campaign_id).limit(1)) is not None


def dossier_frame(session: Session, campaign: Campaign) -> dict[tuple[str, str], int] | None:
    """N per (unit, stratum) from the case files received in the campaign's period; None: none imported.

    Cells in the campaign's unit order, then its field order; only cells with case files appear (and,
    for a campaign without fields, (unit, "") with 0 for a unit without any: a known N). Stratum "":
    no fields.
    """
    if not has_dossiers(session, campaign.id):
        return None
    start, end = _period(campaign)
    query = select(Dossier.unit_code, Dossier.stratum, func.count(Dossier.id)).where(
        Dossier.campaign_id == campaign.id
    )
    if start is not None:
        query = query.where(Dossier.received_on >= start)
    if end is not None:
        query = query.where(Dossier.received_on <= end)
    counts = {
        (unit, stratum or ""): int(n)
        for unit, stratum, n in session.execute(query.group_by(Dossier.unit_code, Dossier.stratum))
    }
    strata = [str(s["code"]) for s in campaign.strata or ()]
    order = {s: i for i, s in enumerate(strata)}
    frame: dict[tuple[str, str], int] = {}
    for unit in campaign.units:
        cells = sorted(
            ((s, n) for (u, s), n in counts.items() if u == unit.unit_code),
            key=lambda cell: (order.get(cell[0], len(order)), cell[0]),
        )
        if not cells:
            if not strata:  # by field, a unit without case files has no cell (its responses cannot weigh)
                frame[(unit.unit_code, "")] = 0
            continue
        for stratum, n in cells:
            frame[(unit.unit_code, stratum)] = n
    return frame


def unit_populations(frame: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """N per unit: the frame's cells summed."""
    out: dict[str, int] = {}
    for (unit, _), n in frame.items():
        out[unit] = out.get(unit, 0) + n
    return out


@dataclass(frozen=True)
class Targets:
    """Targets from the case files: per unit (Slovin), and per cell when allocated across fields."""

    units: dict[str, int]
    cells: dict[tuple[str, str], int] | None  # None unless Campaign.field_allocation == "proportional"
    allocation: str


def dossier_targets(campaign: Campaign, frame: Mapping[tuple[str, str], int]) -> Targets:
    """Slovin's n = ⌈N/(1+N·e²)⌉ per unit from the frame; split across fields when the setting says so.

    The split (``Campaign.field_allocation = "proportional"``) gives each field n·N_h/N rounded down,
    then the remaining responses one each to the fields with the largest remainders (earlier fields
    first on ties), so the fields' targets add up to the unit's exactly.
    """
    allocation = campaign.field_allocation or "unit"
    populations = unit_populations(frame)
    units = {unit: slovin_target(n, campaign.margin_of_error) for unit, n in populations.items()}
    if allocation != "proportional":
        return Targets(units, None, allocation)
    from fractions import Fraction

    cells: dict[tuple[str, str], int] = {}
    for unit, total in populations.items():
        unit_cells = [(key, n) for key, n in frame.items() if key[0] == unit]
        n_unit = units[unit]
        if total == 0:
            cells.update({key: 0 for key, _ in unit_cells})
            continue
        quotas = [(key, Fraction(n_unit * n, total)) for key, n in unit_cells]
        floors = {key: math.floor(q) for key, q in quotas}
        left = n_unit - sum(floors.values())
        ranked = sorted(range(len(quotas)), key=lambda i: (-(quotas[i][1] - floors[quotas[i][0]]), i))
        for i in ranked[:left]:
            floors[quotas[i][0]] += 1
        cells.update(floors)
    return Targets(units, cells, allocation)


# --------------------------------------------------------------------------------------- response rate
def codes_issued(session: Session, campaign_id: int) -> dict[tuple[str, str], int]:
    """Answer codes issued per (unit, stratum): the hook of the one-time answer codes.

    Until that feature exists this reads nothing and every count is 0. When a table ``answer_codes``
    exists, its rows of the campaign are counted: by ``dossier_id`` (joined to ``dossiers`` for the unit
    and field) when it has that column, else by its own ``unit_code`` and ``stratum``.
    """
    bind = session.connection()
    inspector = inspect(bind)
    if not inspector.has_table("answer_codes"):
        return {}
    columns = {c["name"] for c in inspector.get_columns("answer_codes")}
    if "dossier_id" in columns:
        query = text(
            "SELECT d.unit_code, d.stratum, count(*) FROM answer_codes a "
            "JOIN dossiers d ON d.id = a.dossier_id WHERE d.campaign_id = :campaign "
            "GROUP BY d.unit_code, d.stratum"
        )
    elif {"campaign_id", "unit_code"} <= columns:
        stratum = "a.stratum" if "stratum" in columns else "''"
        query = text(  # column names only, never user text
            f"SELECT a.unit_code, {stratum}, count(*) FROM answer_codes a "
            f"WHERE a.campaign_id = :campaign GROUP BY a.unit_code, {stratum}"
        )
    else:
        return {}
    return {(u, s or ""): int(n) for u, s, n in session.execute(query, {"campaign": campaign_id})}


@dataclass(frozen=True)
class RateRow:
    """One unit × field: case files in the frame, answer codes issued, forms received (counted)."""

    unit_code: str
    unit_name: str
    stratum: str
    stratum_label: str
    cases: int | None  # None: no case files imported
    codes: int
    received: int

    @property
    def coverage(self) -> float | None:
        """Forms received per case file (%)."""
        return round(100.0 * self.received / self.cases, 1) if self.cases else None

    @property
    def response_rate(self) -> float | None:
        """Forms received per answer code issued (%), once codes are issued."""
        return round(100.0 * self.received / self.codes, 1) if self.codes else None


def received_per_cell(session: Session, campaign_id: int) -> dict[tuple[str, str], int]:
    """Forms that count (neither rejected nor late) per (unit, stratum)."""
    rows = session.execute(
        select(Response.unit_code, Response.stratum, func.count(Response.id))
        .where(
            Response.campaign_id == campaign_id,
            Response.late.is_(False),
            Response.review_state != "rejected",
        )
        .group_by(Response.unit_code, Response.stratum)
    )
    out: dict[tuple[str, str], int] = {}
    for unit, stratum, n in rows:
        key = (unit, stratum or "")
        out[key] = out.get(key, 0) + int(n)
    return out


def response_rates(session: Session, campaign: Campaign) -> list[RateRow]:
    """Per unit × field: case files, codes issued and forms received, in the campaign's order."""
    frame = dossier_frame(session, campaign) or {}
    codes = codes_issued(session, campaign.id)
    received = received_per_cell(session, campaign.id)
    labels = {str(s["code"]): str(s.get("label") or s["code"]) for s in campaign.strata or ()}
    order = {s: i for i, s in enumerate(labels)}
    keys = set(frame) | set(codes) | set(received)
    rows = []
    for unit in campaign.units:
        strata = sorted(
            {s for u, s in keys if u == unit.unit_code}, key=lambda s: (order.get(s, len(order)), s)
        )
        for stratum in strata:
            key = (unit.unit_code, stratum)
            if stratum == "" and not frame.get(key) and not codes.get(key) and not received.get(key):
                continue
            rows.append(
                RateRow(
                    unit.unit_code,
                    unit.unit_name,
                    stratum,
                    labels.get(stratum, stratum or "—"),
                    frame.get(key, 0) if frame else None,
                    codes.get(key, 0),
                    received.get(key, 0),
                )
            )
    return rows
