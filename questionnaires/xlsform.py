"""XLSForm ``.xlsx`` in and out.

:func:`read_xlsform` is the *read* stage of the loader for workbooks: it turns the sheets into the same
plain data that a YAML file gives (see :mod:`questionnaires.read`), without judging it, and marks every
entry with ``_where`` (``"survey row 12"``, ``"choices row 4"``, ``"scoring row 3"``) so that the
validator's messages point at the sheet and row. :func:`write_xlsform` writes a questionnaire back as a
workbook that pyxform/ODK accept and that reads back to an equal model.

Sheets and columns
------------------
``survey``
    ``type`` (``select_one <list>``, ``select_multiple <list>``, ``integer``, ``decimal``, ``text``,
    ``date``, ``note``, ``start``, ``end``, ``today``, ``begin_group``/``end_group`` for sections),
    ``name``, ``label::<language>``, ``hint::…``, ``required`` (``yes`` or an expression), ``relevant``,
    ``constraint``, ``constraint_message::…``, ``appearance``; and ours, which ODK ignores:
    ``sipas_role`` (``stratum``/``group``), ``sipas_groups`` (respondent groups, space-separated),
    ``sipas_intro::…`` (a section's introduction).
``choices``
    ``list_name``, ``name``, ``label::…``.
``settings``
    ``form_title`` (Vietnamese), ``form_id``, ``version``, ``default_language``; ours: ``sipas_title::…``
    (the title in other languages), ``source``, ``description::…``, ``languages`` (``vi en``).
``groups`` (ours)
    ``code``, ``label::…``: the respondent groups.
``scoring`` (ours)
    one row per node of the scoring tree, depth first: ``level`` (index/field/element/criterion),
    ``code``, ``parent``, ``items`` (space-separated), ``label::…``, ``weight``, ``gate``,
    ``max_points``, ``method``, ``values`` (``A=1 B=0.6``). The ``index`` row also holds the scoring
    settings: ``method`` and ``values`` are the defaults, and ``valid``, ``positive``, ``scale``,
    ``group_weights`` (``lanh_dao=0.5 nguoi_dan=0.5``), ``group_weighting`` (``criterion_means`` or
    ``respondents``), ``points_total`` (``asked`` or ``scaled``), ``decimals``, ``min_n``.

Language columns are named ``label::Tiếng Việt (vi)`` / ``label::English (en)`` as XLSForm suggests;
``label::vi`` and a bare ``label`` (the default language) are read too.
"""

from __future__ import annotations

import math
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import ErrorCode, QuestionnaireError
from .files import atomic_write
from .model import Label, Level, Question, Questionnaire, QuestionType, ScoreNode
from .numbers import format_count

__all__ = ["read_xlsform", "write_xlsform", "LANGUAGE_NAMES"]

LANGUAGE_NAMES = {"vi": "Tiếng Việt (vi)", "en": "English (en)"}
_LANGUAGE_ALIASES = {"vietnamese": "vi", "tiếng việt": "vi", "tieng viet": "vi", "english": "en"}

# Columns that carry text in several languages, per sheet.
_TRANSLATED = {
    "survey": ("label", "hint", "constraint_message", "sipas_intro"),
    "choices": ("label",),
    "settings": ("sipas_title", "description"),
    "groups": ("label",),
    "scoring": ("label",),
}

# XLSForm features whose meaning this toolkit cannot keep: refused rather than silently dropped.
_UNSUPPORTED_COLUMNS = (
    "calculation",
    "choice_filter",
    "repeat_count",
    "default",
    "read_only",
    "readonly",
    "trigger",
    "required_message",
    "parameters",
)

_TYPES = {
    "integer": QuestionType.INTEGER,
    "int": QuestionType.INTEGER,
    "decimal": QuestionType.DECIMAL,
    "text": QuestionType.TEXT,
    "string": QuestionType.TEXT,
    "date": QuestionType.DATE,
    "note": QuestionType.NOTE,
    "start": QuestionType.START,
    "end": QuestionType.END,
    "today": QuestionType.TODAY,
}
_SELECTS = {"select_one": QuestionType.SINGLE, "select_multiple": QuestionType.MULTIPLE}
_BEGIN_GROUP = ("begin_group", "begin group")
_END_GROUP = ("end_group", "end group")
_LEVEL_CHILD_KEY = {"field": "fields", "element": "elements", "criterion": "criteria"}
_SPLIT = re.compile(r"[\s,;]+")

# Limits checked before a workbook is parsed: the longest shipped form has a few hundred rows and
# weighs ~30 KB, so these leave ample room while a hostile file is refused in well under a second.
MAX_XLSFORM_BYTES = 10_000_000
MAX_XLSFORM_UNPACKED_BYTES = 200_000_000  # the parts of the .xlsx archive, unpacked (a zip bomb)
MAX_SHEET_ROWS = 20_000  # rows per sheet, counting blank formatted rows


# ============================================================================================== read
class _Sheet:
    """One worksheet as a header and numbered rows of ``{column: value}``."""

    def __init__(self, name: str, rows: list[tuple[int, dict[Any, Any]]], columns: list[Any]):
        self.name = name
        self.rows = rows
        self.columns = columns


def read_xlsform(path: str | Path) -> dict:
    """Read an XLSForm workbook into the plain data that :func:`questionnaires.validate.validate` takes."""
    path = Path(path)
    file = str(path)
    sheets = _read_workbook(path)
    reader = _Reader(file, sheets)
    return reader.read(path)


def _read_workbook(path: Path) -> dict[str, list[tuple[int, tuple]]]:
    """Return each sheet (name lower-cased) as ``(excel row number, values)`` pairs."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    file = str(path)
    if not path.exists():
        raise QuestionnaireError(ErrorCode.INVALID_FILE, "file not found", file)
    _check_size(path)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it does not read (styles, data validation);
            # they do not matter for a form definition.
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                out: dict[str, list[tuple[int, tuple]]] = {}
                for ws in wb.worksheets:
                    out[ws.title.strip().lower()] = _sheet_rows(ws, file)
            finally:
                wb.close()
    except (
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        ValueError,
        TypeError,
        OSError,
        SyntaxError,  # broken XML inside the archive (ElementTree's and lxml's ParseError)
        EOFError,
        zlib.error,
    ) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE, f"not a readable Excel .xlsx workbook ({detail})", file
        ) from None
    return out


def _check_size(path: Path) -> None:
    """Refuse a workbook larger than MAX_XLSFORM_BYTES, or unpacking to more, before opening it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"cannot read file: {exc}", str(path)) from None
    if size > MAX_XLSFORM_BYTES:
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE,
            f"tệp lớn {format_count(size)} byte, quá giới hạn {format_count(MAX_XLSFORM_BYTES)} byte "
            "của một phiếu XLSForm "
            f"(file larger than the XLSForm limit of {MAX_XLSFORM_BYTES:,} bytes)",
            str(path),
        )
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not an archive: openpyxl's own message follows
    if unpacked > MAX_XLSFORM_UNPACKED_BYTES:
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE,
            f"nội dung giải nén {format_count(unpacked)} byte, quá giới hạn "
            f"{format_count(MAX_XLSFORM_UNPACKED_BYTES)} byte (the workbook unpacks to more than the limit "
            f"of {MAX_XLSFORM_UNPACKED_BYTES:,} bytes)",
            str(path),
        )


def _sheet_rows(ws: Any, file: str) -> list[tuple[int, tuple]]:
    """The rows of one read-only worksheet; more than MAX_SHEET_ROWS is refused as soon as it is seen."""
    where = f"sheet {ws.title}"
    declared = ws.max_row  # from the sheet's <dimension>, when the writer recorded one
    if isinstance(declared, int) and declared > MAX_SHEET_ROWS:
        raise _too_many_rows(file, where, declared)
    rows: list[tuple[int, tuple]] = []
    for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
        if i > MAX_SHEET_ROWS:
            raise _too_many_rows(file, where, None)
        rows.append((i, tuple(r)))
    return rows


def _too_many_rows(file: str, where: str, rows: int | None) -> QuestionnaireError:
    count = f"{format_count(rows)} dòng" if rows is not None else "nhiều dòng"
    return QuestionnaireError(
        ErrorCode.INVALID_FILE,
        f"{count}, quá giới hạn {format_count(MAX_SHEET_ROWS)} dòng mỗi trang tính "
        f"(more than the limit of {MAX_SHEET_ROWS:,} rows per sheet)",
        file,
        where,
    )


def _cell_text(value: Any) -> str | None:
    """A cell as text (``4.0`` -> ``"4"``), or None when empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = str(value).strip()
    return text or None


def _language(suffix: str) -> str | None:
    """The language code of a column suffix (``Tiếng Việt (vi)`` -> ``vi``), or None if unknown."""
    s = suffix.strip()
    m = re.search(r"\(([A-Za-z_-]+)\)\s*$", s)
    code = m.group(1).lower() if m else s.lower()
    code = _LANGUAGE_ALIASES.get(code, code)
    return code if code in LANGUAGE_NAMES else None


class _Reader:
    def __init__(self, file: str, sheets: dict[str, list[tuple[int, tuple]]]):
        self.file = file
        self.raw_sheets = sheets
        self.default_language = "vi"

    def fail(self, code: ErrorCode, message: str, where: str | None = None) -> QuestionnaireError:
        return QuestionnaireError(code, message, self.file, where)

    # -- sheets
    def sheet(self, name: str, required: bool = False) -> _Sheet | None:
        raw = self.raw_sheets.get(name)
        if raw is None:
            if required:
                found = ", ".join(sorted(self.raw_sheets)) or "none"
                raise self.fail(
                    ErrorCode.INVALID_FILE, f"the workbook has no '{name}' sheet (sheets found: {found})"
                )
            return None
        # The header is the first row that has anything in it.
        header_at = next((k for k, (_, vals) in enumerate(raw) if any(_cell_text(v) for v in vals)), None)
        if header_at is None:
            if required:
                raise self.fail(ErrorCode.MISSING_FIELD, f"the '{name}' sheet is empty", f"{name} sheet")
            return _Sheet(name, [], [])
        columns: list[Any] = []
        seen: set[Any] = set()
        for cell in raw[header_at][1]:
            header = _cell_text(cell)
            key = self.column_key(name, header) if header else None
            if key is not None and key in seen:
                raise self.fail(ErrorCode.BAD_VALUE, f"column {header!r} appears twice", f"{name} sheet")
            if key is not None:
                seen.add(key)
            columns.append(key)
        rows = []
        for number, values in raw[header_at + 1 :]:
            row = {}
            for key, value in zip(columns, values, strict=False):
                if key is not None and _cell_text(value) is not None:
                    row[key] = value
            if row:
                rows.append((number, row))
        return _Sheet(name, rows, columns)

    def column_key(self, sheet: str, header: str) -> Any:
        """``label::English (en)`` -> ``("label", "en")``; ``type`` -> ``"type"``."""
        base, sep, suffix = header.partition("::")
        base = base.strip().lower()
        translated = _TRANSLATED.get(sheet, ())
        if base in translated:
            if not sep:
                return (base, self.default_language)
            lang = _language(suffix)
            if lang is None:
                raise self.fail(
                    ErrorCode.BAD_VALUE,
                    f"column {header!r}: language {suffix.strip()!r} is not supported; "
                    f"use {LANGUAGE_NAMES['vi']} and {LANGUAGE_NAMES['en']}",
                    f"{sheet} sheet",
                )
            return (base, lang)
        if base == "form_title" and sep:
            # A translated form title is not XLSForm (pyxform fails on it); ours is sipas_title.
            lang = _language(suffix)
            return ("sipas_title", lang) if lang and lang != "vi" else "form_title"
        return header.strip().lower() if sep else base

    @staticmethod
    def label(row: dict, key: str) -> dict | None:
        out = {lang: _cell_text(row.get((key, lang))) for lang in LANGUAGE_NAMES}
        out = {k: v for k, v in out.items() if v is not None}
        return out or None

    # -- the whole workbook
    def read(self, path: Path) -> dict:
        settings = self.settings(path)
        survey = self.sheet("survey", required=True)
        assert survey is not None
        if "type" not in survey.columns:
            raise self.fail(ErrorCode.MISSING_FIELD, "the survey sheet has no 'type' column", "survey sheet")
        if "name" not in survey.columns:
            raise self.fail(ErrorCode.MISSING_FIELD, "the survey sheet has no 'name' column", "survey sheet")
        data: dict[str, Any] = dict(settings)
        data["groups"] = self.groups()
        data["choices"] = self.choices()
        data["sections"] = self.sections(survey)
        scoring = self.scoring()
        if scoring is not None:
            data["scoring"] = scoring
        return data

    def settings(self, path: Path) -> dict:
        sheet = self.sheet("settings")
        row: dict = {}
        where = "settings sheet"
        if sheet is not None and sheet.rows:
            number, row = sheet.rows[0]
            where = f"settings row {number}"
        default = _cell_text(row.get("default_language"))
        if default:
            self.default_language = _language(default) or "vi"
        out: dict[str, Any] = {}
        out["id"] = _cell_text(row.get("form_id")) or path.stem
        version = _cell_text(row.get("version"))
        if version is None:
            raise self.fail(ErrorCode.MISSING_FIELD, "'version' is required in the settings sheet", where)
        out["version"] = version
        title = {"vi": _cell_text(row.get("form_title"))}
        title.update(self.label(row, "sipas_title") or {})
        if not title.get("vi"):
            raise self.fail(ErrorCode.MISSING_LABEL, "the Vietnamese title (form_title) is missing", where)
        out["title"] = title
        out["description"] = self.label(row, "description")
        out["source"] = _cell_text(row.get("source"))
        languages = _cell_text(row.get("languages"))
        if languages:
            out["languages"] = _SPLIT.split(languages)
        else:
            # Without the setting, a form that has English columns is bilingual.
            survey = self.sheet("survey")
            english = survey is not None and any(
                isinstance(k, tuple) and k[1] == "en" for k in survey.columns
            )
            out["languages"] = ["vi", "en"] if english else ["vi"]
        return out

    def groups(self) -> list[dict]:
        sheet = self.sheet("groups")
        if sheet is None:
            return []
        return [
            {
                "_where": f"groups row {n}",
                "code": _cell_text(row.get("code")),
                "label": self.label(row, "label"),
            }
            for n, row in sheet.rows
        ]

    def choices(self) -> dict[str, list[dict]]:
        sheet = self.sheet("choices")
        out: dict[str, list[dict]] = {}
        if sheet is None:
            return out
        for n, row in sheet.rows:
            where = f"choices row {n}"
            list_name = _cell_text(row.get("list_name"))
            if list_name is None:
                raise self.fail(ErrorCode.MISSING_FIELD, "list_name is empty", where)
            name = _cell_text(row.get("name"))
            if name is None:
                raise self.fail(ErrorCode.MISSING_FIELD, "name (the choice code) is empty", where)
            out.setdefault(list_name, []).append(
                {"_where": where, "code": name, "label": self.label(row, "label")}
            )
        return out

    def sections(self, survey: _Sheet) -> list[dict]:
        sections: list[dict] = []
        current: dict | None = None  # the open section
        implicit = False  # whether ``current`` was opened for questions outside any group
        pending_metadata: list[dict] = []
        for n, row in survey.rows:
            where = f"survey row {n}"
            for column in _UNSUPPORTED_COLUMNS:
                if column in row:
                    raise self.fail(
                        ErrorCode.BAD_VALUE, f"the XLSForm column '{column}' is not supported", where
                    )
            raw_type = _cell_text(row.get("type"))
            if raw_type is None:
                raise self.fail(ErrorCode.MISSING_FIELD, "the type column is empty", where)
            kind = " ".join(raw_type.split()).lower()
            if kind in _BEGIN_GROUP:
                if current is not None and not implicit:
                    raise self.fail(
                        ErrorCode.BAD_VALUE,
                        f"a group inside the group at {current['_where']}: sections cannot be nested",
                        where,
                    )
                if current is not None:
                    sections.append(current)
                name = _cell_text(row.get("name"))
                if name is None:
                    raise self.fail(ErrorCode.MISSING_FIELD, "the name column is empty", where)
                current = {
                    "_where": where,
                    "code": name,
                    "label": self.label(row, "label"),
                    "intro": self.label(row, "sipas_intro"),
                    "relevant": _cell_text(row.get("relevant")),
                    "groups": _cell_text(row.get("sipas_groups")),
                    "questions": pending_metadata,
                }
                pending_metadata = []
                implicit = False
                continue
            if kind in _END_GROUP:
                if current is None or implicit:
                    raise self.fail(ErrorCode.BAD_VALUE, "end_group without a matching begin_group", where)
                sections.append(current)
                current = None
                continue
            question = self.question(row, kind, raw_type, where)
            if current is None:
                if QuestionType(question["type"]).is_metadata:
                    # Device metadata outside any group joins the section next to it.
                    if sections:
                        sections[-1]["questions"].append(question)
                    else:
                        pending_metadata.append(question)
                    continue
                number = len(sections) + 1
                current = {
                    "_where": where,
                    "code": f"phan_{number}",
                    "label": {"vi": f"Phần {number}", "en": f"Part {number}"},
                    "questions": pending_metadata,
                }
                pending_metadata = []
                implicit = True
            current["questions"].append(question)
        if current is not None:
            if not implicit:
                raise self.fail(
                    ErrorCode.BAD_VALUE, "this begin_group has no matching end_group", current["_where"]
                )
            sections.append(current)
        if pending_metadata and not sections:
            sections.append(
                {"_where": "survey sheet", "code": "phan_1", "label": {"vi": "Phần 1"}, "questions": []}
            )
            sections[0]["questions"].extend(pending_metadata)
        return sections

    def question(self, row: dict, kind: str, raw_type: str, where: str) -> dict:
        name = _cell_text(row.get("name"))
        if name is None:
            raise self.fail(ErrorCode.MISSING_FIELD, "the name column is empty", where)
        choices = None
        head, _, rest = kind.partition(" ")
        if head in _SELECTS:
            qtype = _SELECTS[head]
            choices = _cell_text(row.get("type")).split(None, 1)[1].strip() if rest.strip() else None
            if choices is None:
                raise self.fail(ErrorCode.MISSING_FIELD, f"'{raw_type}' needs a choice list name", where)
            if " " in choices:
                raise self.fail(ErrorCode.BAD_VALUE, f"'{raw_type}': a choice list name has no spaces", where)
        elif kind in _TYPES:
            qtype = _TYPES[kind]
        else:
            supported = "select_one, select_multiple, " + ", ".join(
                t for t in _TYPES if t not in ("int", "string")
            )
            raise self.fail(
                ErrorCode.UNKNOWN_TYPE,
                f"question type {raw_type!r} is not supported; use {supported}, begin_group, end_group",
                where,
            )
        required: Any = row.get("required")
        if not isinstance(required, bool):
            required = _cell_text(required)
        return {
            "_where": where,
            "code": name,
            "type": qtype.value,
            "label": self.label(row, "label"),
            "hint": self.label(row, "hint"),
            "choices": choices,
            "required": required,
            "relevant": _cell_text(row.get("relevant")),
            "constraint": _cell_text(row.get("constraint")),
            "constraint_message": self.label(row, "constraint_message"),
            "appearance": _cell_text(row.get("appearance")),
            "role": _cell_text(row.get("sipas_role")),
            "groups": _cell_text(row.get("sipas_groups")),
        }

    def scoring(self) -> dict | None:
        sheet = self.sheet("scoring")
        if sheet is None or not sheet.rows:
            return None
        out: dict[str, Any] | None = None
        nodes: dict[str, dict] = {}
        for n, row in sheet.rows:
            where = f"scoring row {n}"
            level = (_cell_text(row.get("level")) or "").lower()
            if level not in {lv.value for lv in Level}:
                raise self.fail(
                    ErrorCode.BAD_SCORING,
                    f"level {level or '(empty)'!r} is not one of index, field, element, criterion",
                    where,
                )
            node: dict[str, Any] = {"_where": where}
            code = _cell_text(row.get("code"))
            if code is not None:
                node["code"] = code
            label = self.label(row, "label")
            if label is not None:
                node["label"] = label
            for key in ("weight", "max_points"):
                if row.get(key) is not None:
                    node[key] = row[key] if isinstance(row[key], (int, float)) else _cell_text(row[key])
            gate = _cell_text(row.get("gate"))
            if gate is not None:
                node["gate"] = gate
            if level == "index":
                if out is not None:
                    raise self.fail(ErrorCode.BAD_SCORING, "only one row may have level 'index'", where)
                out = self.scoring_settings(row, where)
                out["index"] = node
            else:
                if out is None:
                    raise self.fail(
                        ErrorCode.BAD_SCORING, "the first row of the scoring sheet must be the index", where
                    )
                if level == "criterion":
                    items = _cell_text(row.get("items"))
                    node["items"] = _SPLIT.split(items) if items else []
                    method = _cell_text(row.get("method"))
                    if method is not None:
                        node["method"] = method
                    if row.get("values") is not None:
                        node["values"] = self.pairs(row.get("values"), where, "values")
                parent_code = _cell_text(row.get("parent"))
                parent = nodes.get(parent_code) if parent_code else out["index"]
                if parent is None:
                    raise self.fail(
                        ErrorCode.BAD_SCORING,
                        f"parent {parent_code!r} is not the code of an earlier row",
                        where,
                    )
                parent.setdefault(_LEVEL_CHILD_KEY[level], []).append(node)
            key = code if code is not None else (node.get("items") or [None])[0]
            if key is not None:
                nodes[key] = node
        return out

    def scoring_settings(self, row: dict, where: str) -> dict:
        out: dict[str, Any] = {"_where": where, "method": _cell_text(row.get("method"))}
        for key in ("valid", "positive", "scale"):
            text = _cell_text(row.get(key))
            if text is not None:
                out[key] = _SPLIT.split(text)
        if row.get("values") is not None:
            out["values"] = self.pairs(row["values"], where, "values")
        if row.get("group_weights") is not None:
            out["group_weights"] = self.pairs(row["group_weights"], where, "group_weights")
        for key in ("decimals", "min_n"):
            if row.get(key) is not None:
                out[key] = row[key] if isinstance(row[key], (int, float)) else _cell_text(row[key])
        for key in ("group_weighting", "points_total"):
            if _cell_text(row.get(key)) is not None:
                out[key] = _cell_text(row[key])
        return out

    def pairs(self, value: Any, where: str, what: str) -> dict[str, str]:
        """``"A=1 B=0.6"`` -> ``{"A": "1", "B": "0.6"}`` (numbers are checked by the validator)."""
        text = _cell_text(value) or ""
        out: dict[str, str] = {}
        for part in _SPLIT.split(text):
            key, sep, number = part.partition("=")
            if not sep:
                key, sep, number = part.partition(":")
            if not sep or not key or not number:
                raise self.fail(
                    ErrorCode.BAD_SCORING,
                    f"{what} must be code=number pairs separated by spaces (e.g. A=1 B=0.6), found {text!r}",
                    where,
                )
            out[key] = number
        return out


# ============================================================================================= write
def _number(value: float) -> str:
    """A number as short exact text: 1.0 -> "1", 0.6 -> "0.6"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _pairs(mapping: Any) -> str:
    return " ".join(f"{k}={_number(v)}" for k, v in mapping.items())


def _default_metadata_label(q: Question) -> bool:
    return q.type.is_metadata and q.label == Label(q.code, q.code)


class _Table:
    """Rows for one sheet, keyed by column name; the header is the union of columns in a fixed order."""

    def __init__(self, name: str, columns: Iterable[str]):
        self.name = name
        self.columns = list(columns)
        self.rows: list[dict[str, Any]] = []

    def add(self, **values: Any) -> None:
        self.rows.append({k: v for k, v in values.items() if v not in (None, "")})

    def add_row(self, values: dict[str, Any]) -> None:
        self.rows.append({k: v for k, v in values.items() if v not in (None, "")})


def _label_columns(base: str) -> list[str]:
    return [f"{base}::{LANGUAGE_NAMES[lang]}" for lang in LANGUAGE_NAMES]


def _label_values(base: str, label: Label | None) -> dict[str, str | None]:
    if label is None:
        return {}
    return {f"{base}::{LANGUAGE_NAMES['vi']}": label.vi, f"{base}::{LANGUAGE_NAMES['en']}": label.en}


def write_xlsform(questionnaire: Questionnaire, path: str | Path) -> Path:
    """Write ``questionnaire`` as an XLSForm workbook; the file appears whole or not at all."""
    path = Path(path)
    tables = [_survey(questionnaire), _choices(questionnaire), _settings(questionnaire)]
    if questionnaire.groups:
        tables.append(_groups(questionnaire))
    if questionnaire.scoring is not None:
        tables.append(_scoring(questionnaire))
    _write_tables(tables, path)
    return path


def _survey(q: Questionnaire) -> _Table:
    table = _Table(
        "survey",
        [
            "type",
            "name",
            *_label_columns("label"),
            *_label_columns("hint"),
            "required",
            "relevant",
            "constraint",
            *_label_columns("constraint_message"),
            "appearance",
            "sipas_role",
            "sipas_groups",
            *_label_columns("sipas_intro"),
        ],
    )
    for section in q.sections:
        table.add_row(
            {
                "type": "begin_group",
                "name": section.code,
                **_label_values("label", section.label),
                "relevant": section.relevant.text if section.relevant else None,
                "appearance": "field-list",
                "sipas_groups": " ".join(section.groups),
                **_label_values("sipas_intro", section.intro),
            }
        )
        for question in section.questions:
            if question.type.has_choices:
                kind = ("select_one " if question.type is QuestionType.SINGLE else "select_multiple ") + str(
                    question.choices
                )
            else:
                kind = question.type.value
            if question.required:
                required = "yes"
            elif question.required_if is not None:
                required = question.required_if.text
            else:
                required = None
            table.add_row(
                {
                    "type": kind,
                    "name": question.code,
                    **({} if _default_metadata_label(question) else _label_values("label", question.label)),
                    **_label_values("hint", question.hint),
                    "required": required,
                    "relevant": question.relevant.text if question.relevant else None,
                    "constraint": question.constraint.text if question.constraint else None,
                    **_label_values("constraint_message", question.constraint_message),
                    "appearance": question.appearance,
                    "sipas_role": question.role.value if question.role else None,
                    "sipas_groups": " ".join(question.groups),
                }
            )
        table.add(type="end_group", name=section.code)
    return table


def _choices(q: Questionnaire) -> _Table:
    table = _Table("choices", ["list_name", "name", *_label_columns("label")])
    for name, choice_list in q.choice_lists.items():
        for choice in choice_list.choices:
            table.add_row({"list_name": name, "name": choice.code, **_label_values("label", choice.label)})
    return table


def _settings(q: Questionnaire) -> _Table:
    table = _Table(
        "settings",
        [
            "form_title",
            "form_id",
            "version",
            "default_language",
            f"sipas_title::{LANGUAGE_NAMES['en']}",
            "source",
            *_label_columns("description"),
            "languages",
        ],
    )
    table.add_row(
        {
            "form_title": q.title.vi,
            "form_id": q.id,
            "version": q.version,
            "default_language": LANGUAGE_NAMES["vi"],
            f"sipas_title::{LANGUAGE_NAMES['en']}": q.title.en,
            "source": q.source,
            **_label_values("description", q.description),
            "languages": " ".join(q.languages),
        }
    )
    return table


def _groups(q: Questionnaire) -> _Table:
    table = _Table("groups", ["code", *_label_columns("label")])
    for group in q.groups:
        table.add_row({"code": group.code, **_label_values("label", group.label)})
    return table


def _scoring(q: Questionnaire) -> _Table:
    scoring = q.scoring
    assert scoring is not None
    table = _Table(
        "scoring",
        [
            "level",
            "code",
            "parent",
            "items",
            *_label_columns("label"),
            "weight",
            "gate",
            "max_points",
            "method",
            "values",
            "valid",
            "positive",
            "scale",
            "group_weights",
            "group_weighting",
            "points_total",
            "decimals",
            "min_n",
        ],
    )

    def visit(node: ScoreNode, parent: ScoreNode | None) -> Iterator[dict[str, Any]]:
        row: dict[str, Any] = {
            "level": node.level.value,
            "code": node.code,
            "parent": parent.code if parent is not None and parent is not scoring.tree else None,
            "items": " ".join(node.items),
            **_label_values("label", node.label),
            "weight": node.weight,
            "gate": node.gate.text if node.gate else None,
            "max_points": node.max_points,
            "method": node.method.value if node.method else None,
            "values": _pairs(node.values) if node.values else None,
        }
        if parent is None:
            row.update(
                method=scoring.method.value,
                values=_pairs(scoring.values) if scoring.values else None,
                valid=" ".join(scoring.valid),
                positive=" ".join(scoring.positive),
                scale=" ".join(_number(x) for x in scoring.scale),
                group_weights=_pairs(scoring.group_weights) if scoring.group_weights else None,
                group_weighting=scoring.group_weighting.value,
                points_total=scoring.points_total.value,
                decimals=scoring.decimals,
                min_n=scoring.min_n,
            )
        yield row
        for child in node.children:
            yield from visit(child, node)

    for row in visit(scoring.tree, None):
        table.add_row(row)
    return table


def _write_tables(tables: list[_Table], path: Path) -> None:
    """Write the tables as the sheets of a workbook at ``path``, whole or not at all."""
    import xlsxwriter.exceptions

    file = str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"folder {str(folder)!r} does not exist", file)
    try:
        atomic_write(path, lambda tmp: _write_workbook(tables, tmp, file), private=False)
    except (OSError, xlsxwriter.exceptions.FileCreateError) as exc:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"cannot write file: {exc}", file) from None


def _write_workbook(tables: list[_Table], tmp: Path, file: str) -> None:
    """Write the tables into a new workbook at ``tmp``, checking every XlsxWriter status."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False})
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7"})
    for table in tables:
        sheet = workbook.add_worksheet(table.name)
        for col, name in enumerate(table.columns):
            sheet.write_string(0, col, name, bold)
            sheet.set_column(col, col, 40 if "::" in name else 16)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(table.rows, start=1):
            unknown = set(row) - set(table.columns)
            assert not unknown, unknown  # a column missing from the header is a bug here
            for col, name in enumerate(table.columns):
                value = row.get(name)
                if value is None:
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    status = sheet.write_number(r, col, value)
                else:
                    # Always text: a label starting with "=" must never become a formula.
                    status = sheet.write_string(r, col, str(value))
                if status < 0:
                    raise QuestionnaireError(
                        ErrorCode.BAD_VALUE,
                        f"cannot write column {name!r} (XlsxWriter status {status}; text too long?)",
                        file,
                        f"{table.name} row {r + 1}",
                    )
    workbook.close()
