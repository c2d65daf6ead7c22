"""Read an XLSForm (``.xlsx`` or ``.xls``) as pyxform reads it, into the plain data of a YAML definition.

pyxform is the reference implementation of XLSForm, so its own readers and alias tables are used:
the workbook backends (``.xlsx`` and ``.xls``), header aliases (``list name`` for ``list_name``,
``bind::relevant`` and ``relevance`` for ``relevant``, ``form_title``/``title``, ``form_id``/
``id_string``, ``label:English`` with one colon …), the type aliases (``select one from``,
``select all that apply``, ``int``, ``string`` …) and the begin/end group patterns.

Every column and setting of the workbook ends in one of three places, never silently nowhere:

* **carried** into the model and written back (type, name, labels, hints and spoken prompts —
  ``media::audio::<language>``, or pyxform's alias ``audio`` — in every language,
  ``guidance_hint``, ``required`` and ``required_message``, ``relevant``, ``constraint`` and its message,
  ``calculation``, ``default``, ``choice_filter``, ``read_only``, ``appearance``, the settings the model
  knows, and this toolkit's ``sipas_*`` columns);
* **kept verbatim** (``extra``) where the kiosk has no use for them but the workbook must keep them:
  other media columns (``image``, ``video``), ``rows``, ``autoplay``, other ``bind::*``/``instance::*``
  columns, unknown columns, other choice columns (which ``choice_filter`` reads) and other settings
  (``instance_name``, ``style`` …);
* **refused** with a message naming the sheet, row and column: repeats, nested groups, question types
  the kiosk cannot show (``geopoint``, ``image`` …), ``or_other``, ``select_one_external``,
  ``repeat_count``, ``parameters`` and ``trigger``.

All problems found are reported together (up to :data:`MAX_ERRORS`), each naming sheet, row and column.
The output feeds :func:`questionnaires.validate.validate` like a YAML file's data; entries carry
``_where`` (``"survey row 12"``) and the document carries ``_errors`` and ``_warnings`` found here.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.parsers.expat import ExpatError

from .errors import ErrorCode, QuestionnaireError, WarningCode
from .model import Level, QuestionType
from .numbers import format_count


@functools.cache
def _pyxform() -> SimpleNamespace:
    """pyxform's readers, alias tables and type patterns, imported on first use (a quarter of a second
    that the kiosk and the commands that never read a workbook do not pay)."""
    from pyxform import aliases
    from pyxform.errors import PyXFormError
    from pyxform.parsing.sheet_headers import RE_SMART_QUOTES, SMART_QUOTES, process_header
    from pyxform.question import MultipleChoiceQuestion, Option
    from pyxform.question_type_dictionary import QUESTION_TYPE_DICT
    from pyxform.survey import Survey
    from pyxform.xls2json import RE_BEGIN_CONTROL, RE_END_CONTROL, RE_SELECT
    from pyxform.xls2json_backends import get_xlsform

    return SimpleNamespace(
        aliases=aliases,
        PyXFormError=PyXFormError,
        RE_SMART_QUOTES=RE_SMART_QUOTES,
        SMART_QUOTES=SMART_QUOTES,
        process_header=process_header,
        MultipleChoiceQuestion=MultipleChoiceQuestion,
        Option=Option,
        QUESTION_TYPE_DICT=QUESTION_TYPE_DICT,
        Survey=Survey,
        RE_BEGIN_CONTROL=RE_BEGIN_CONTROL,
        RE_END_CONTROL=RE_END_CONTROL,
        RE_SELECT=RE_SELECT,
        get_xlsform=get_xlsform,
    )


class _Lazy:
    """``px.aliases`` and the rest, imported from pyxform when first read."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_pyxform(), name)


px = _Lazy()


__all__ = ["MAX_ERRORS", "XLSFORM_SUFFIXES", "language_code", "read_xlsform"]

XLSFORM_SUFFIXES = (".xlsx", ".xls")
MAX_ERRORS = 50  # problems listed in one message; the count of the rest follows

# Limits checked before a workbook is parsed: the longest shipped form has a few hundred rows and
# weighs ~30 KB, so these leave ample room while a hostile file is refused in well under a second.
MAX_XLSFORM_BYTES = 10_000_000
MAX_XLSFORM_UNPACKED_BYTES = 200_000_000  # the parts of the .xlsx archive, unpacked (a zip bomb)
MAX_SHEET_ROWS = 20_000  # rows per sheet, counting blank formatted rows
MAX_CHOICES_FILE_BYTES = 5_000_000
_EMPTY_ROWS_END = (
    60  # pyxform stops reading a sheet after this many empty rows in a row  # a select_one_from_file CSV
)

# The sheets of the workbook: pyxform's, then ours; any other sheet is ignored with a warning.
PYXFORM_SHEETS = ("survey", "choices", "settings", "external_choices", "entities", "osm")
OUR_SHEETS = ("groups", "scoring")

# Supported simple types, by pyxform's definition of the type (so that every alias pyxform accepts —
# ``int``, ``q int``, ``add integer prompt`` — reads as the same type).
_CANONICAL = {
    "integer": QuestionType.INTEGER,
    "decimal": QuestionType.DECIMAL,
    "text": QuestionType.TEXT,
    "date": QuestionType.DATE,
    "note": QuestionType.NOTE,
    "start": QuestionType.START,
    "end": QuestionType.END,
    "today": QuestionType.TODAY,
    "calculate": QuestionType.CALCULATE,
}

# Survey columns carried into the model: pyxform's dealiased header tokens -> our key. A translated
# column has a language token after these.
_SURVEY_FIELDS: dict[tuple[str, ...], str] = {
    ("type",): "type",
    ("name",): "name",
    ("bind", "relevant"): "relevant",
    ("bind", "required"): "required",
    ("bind", "constraint"): "constraint",
    ("bind", "calculate"): "calculation",
    ("bind", "readonly"): "read_only",
    ("control", "appearance"): "appearance",
    ("default",): "default",
    ("choice_filter",): "choice_filter",
    ("sipas_role",): "role",
    ("sipas_groups",): "groups",
}
_SURVEY_TRANSLATED: dict[tuple[str, ...], str] = {
    ("label",): "label",
    ("hint",): "hint",
    ("guidance_hint",): "guidance_hint",
    ("bind", "jr:constraintMsg"): "constraint_message",
    ("bind", "jr:requiredMsg"): "required_message",
    ("sipas_intro",): "intro",
    ("media", "audio"): "audio",  # the spoken prompt (pyxform reads ``audio`` as ``media::audio``)
}
# Columns whose meaning the kiosk cannot keep: refused where a row uses them.
_SURVEY_REFUSED: dict[tuple[str, ...], str] = {
    ("control", "jr:count"): "repeat_count belongs to repeats, which are not supported",
    ("parameters",): "question parameters (randomize, seed, ranges, image sizes …) are not supported",
    ("trigger",): "triggers (recompute a value when another changes) are not supported",
}
# Pass-through columns that change what ODK does, so a warning says the kiosk does not apply them.
_BEHAVIOURAL = ("bind", "instance", "control")
_EXPRESSION_KEYS = ("relevant", "required", "constraint", "calculation", "choice_filter", "default")
_SETTINGS_FIELDS = {
    ("title",): "title",
    ("id_string",): "id",
    ("version",): "version",
    ("default_language",): "default_language",
    ("source",): "source",
    ("languages",): "languages",
}
_SETTINGS_TRANSLATED = {("sipas_title",): "title", ("description",): "description"}
_LIST_NAME = (("list_name",), ("list name",))  # pyxform dealiases list_name to "list name"
_LEVEL_CHILD_KEY = {"field": "fields", "element": "elements", "criterion": "criteria"}
_SPLIT = re.compile(r"[\s,;]+")
_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


# ============================================================================================= helpers
@dataclass
class _Problems:
    """The errors and warnings found while reading, in the order found."""

    file: str
    errors: list[QuestionnaireError] = field(default_factory=list)
    warnings: list[tuple[WarningCode, str, str | None]] = field(default_factory=list)

    def error(self, code: ErrorCode, message: str, where: str | None = None) -> None:
        self.errors.append(QuestionnaireError(code, message, self.file, where))

    def warn(self, code: WarningCode, message: str, where: str | None = None) -> None:
        self.warnings.append((code, message, where))


def language_code(name: str, taken: Mapping[str, str] | None = None) -> str:
    """The code of an XLSForm language name: its BCP-47 tag in brackets, else the name as written.

    ``English (en)`` -> ``en``; ``Tiếng Việt (vi)`` -> ``vi``; ``Swahili`` -> ``Swahili`` (no tag is
    guessed); ``default`` (the bare ``label`` column) -> ``default``. When two names carry the same tag
    (``taken`` maps codes already given to their names), the later one keeps its whole name.
    """
    name = name.strip()
    match = re.search(r"\(([^()]+)\)\s*$", name)
    code = name
    if match and _TAG.match(match.group(1).strip()):
        head, *rest = match.group(1).strip().split("-")
        code = "-".join([head.lower(), *rest])
    if not name:
        code = "default"
    if taken is not None and code in taken and taken[code] != name:
        return name
    return code


def _where(sheet: str, row: int, column: str | None = None) -> str:
    return f"{sheet} row {row}" + (f", column {column!r}" if column else "")


# ================================================================================================ read
def read_xlsform(path: str | Path) -> dict:
    """Read an XLSForm workbook into the plain data that :func:`questionnaires.validate.validate` takes."""
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise QuestionnaireError(ErrorCode.INVALID_FILE, "file not found", file)
    _check_size(path)
    _check_rows(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl on styles and data validation it does not read
            book = px.get_xlsform(str(path))
    except (
        px.PyXFormError,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,  # a header cell that is not text (TRUE, a number) inside pyxform's reader
        IndexError,
        OSError,
        EOFError,
        SyntaxError,  # broken XML inside the archive (ElementTree's ParseError)
        ExpatError,
        zlib.error,
    ) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE,
            f"không đọc được bảng tính Excel (not a readable Excel .xlsx or .xls workbook: {detail})",
            file,
        ) from None
    own = _read_own_sheets(path, book.sheet_names or [])
    return _Reader(path, book, own).read()


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
        return  # not an archive (.xls, or not a workbook): the reader's own message follows
    if unpacked > MAX_XLSFORM_UNPACKED_BYTES:
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE,
            f"nội dung giải nén {format_count(unpacked)} byte, quá giới hạn "
            f"{format_count(MAX_XLSFORM_UNPACKED_BYTES)} byte (the workbook unpacks to more than the limit "
            f"of {MAX_XLSFORM_UNPACKED_BYTES:,} bytes)",
            str(path),
        )


def _too_many_rows(file: str, sheet: str, rows: int | None) -> QuestionnaireError:
    count = f"{format_count(rows)} dòng" if rows is not None else "nhiều dòng"
    return QuestionnaireError(
        ErrorCode.INVALID_FILE,
        f"{count}, quá giới hạn {format_count(MAX_SHEET_ROWS)} dòng mỗi trang tính "
        f"(more than the limit of {MAX_SHEET_ROWS:,} rows per sheet)",
        file,
        f"sheet {sheet}",
    )


def _check_rows(path: Path) -> None:
    """Refuse a sheet of more than MAX_SHEET_ROWS rows before the whole workbook is parsed."""
    file = str(path)
    if path.suffix.lower() == ".xls":
        try:
            import xlrd

            book = xlrd.open_workbook(file, on_demand=True)
        except Exception:  # noqa: BLE001 - any failure here is reported by the reader proper
            return
        try:
            for name in book.sheet_names():
                rows = book.sheet_by_name(name).nrows
                if rows > MAX_SHEET_ROWS:
                    raise _too_many_rows(file, name, rows)
        finally:
            book.release_resources()
        return
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any failure here is reported by the reader proper
        return
    try:
        for ws in wb.worksheets:
            declared = ws.max_row  # from the sheet's <dimension>, when the writer recorded one
            if isinstance(declared, int) and declared <= MAX_SHEET_ROWS:
                continue
            # No dimension, or a large one (a sheet formatted to row 1,048,576): count the rows as pyxform
            # reads them, up to a run of empty rows.
            rows = empty = 0
            for values in ws.iter_rows(values_only=True):
                if any(v not in (None, "") for v in values):
                    rows += 1
                    empty = 0
                    if rows > MAX_SHEET_ROWS:
                        raise _too_many_rows(file, ws.title, None)
                else:
                    empty += 1
                    if empty > _EMPTY_ROWS_END:
                        break
    finally:
        wb.close()


def _cell_text(value: Any) -> str | None:
    """A cell as text (``4.0`` -> ``"4"``), or None when empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = str(value).strip()
    return text or None


def _read_own_sheets(path: Path, sheet_names: list[str]) -> dict[str, list[tuple[int, tuple]]]:
    """This toolkit's own sheets (groups, scoring), which pyxform does not read, as numbered rows."""
    wanted = {n for n in sheet_names if n.strip().lower() in OUR_SHEETS}
    if not wanted:
        return {}
    out: dict[str, list[tuple[int, tuple]]] = {}
    if path.suffix.lower() == ".xls":
        import xlrd

        book = xlrd.open_workbook(str(path))
        for name in wanted:
            sheet = book.sheet_by_name(name)
            out[name.strip().lower()] = [(r + 1, tuple(sheet.row_values(r))) for r in range(sheet.nrows)]
        return out
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            if ws.title in wanted:
                out[ws.title.strip().lower()] = [
                    (i, tuple(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)
                ]
    finally:
        wb.close()
    return out


@dataclass
class _Column:
    """One column of a pyxform sheet: the header as written and as pyxform splits and dealiases it."""

    header: str
    tokens: tuple[str, ...]

    @property
    def canonical(self) -> str:
        """The header as this toolkit writes it back: the tokens joined by ``::``."""
        return "::".join(self.tokens)


def _columns(headers: list[dict] | None, aliases_: dict, known: set[str]) -> list[_Column]:
    names = list(headers[0]) if headers else []
    double = any("::" in h for h in names)
    out = []
    for header in names:
        _, tokens = px.process_header(header, double, aliases_, known)
        out.append(_Column(header, tuple(tokens)))
    return out


class _Reader:
    def __init__(self, path: Path, book: Any, own: dict[str, list[tuple[int, tuple]]]):
        self.path = path
        self.file = str(path)
        self.book = book
        self.own = own
        self.problems = _Problems(self.file)
        self.default_name = "default"  # the language of bare label columns (settings default_language)
        self.language_order: list[str] = []  # language names in the order first seen
        self.choice_lists: dict[str, Any] = {}
        self.skipped: set[str] = set()  # names of rows refused, so later checks do not repeat them
        self.warned_columns: set[str] = set()
        self.bare_seen = False  # whether any text column is bare (``label``, not ``label::…``)

    # -------------------------------------------------------------------------------------- the whole
    def read(self) -> dict:
        self.check_sheets()
        data: dict[str, Any] = self.settings()
        survey_columns = _columns(
            self.book.survey_header, px.aliases.survey_header, set(px.MultipleChoiceQuestion.get_slot_names())
        )
        choice_columns = _columns(
            self.book.choices_header, px.aliases.list_header, set(px.Option.get_slot_names())
        )
        self.see_languages(
            survey_columns, ("label", "hint", "guidance_hint", "bind", "sipas_intro", "media")
        )
        self.see_languages(choice_columns, ("label", "media"))
        if self.book.survey is None:
            found = ", ".join(self.book.sheet_names or []) or "none"
            raise QuestionnaireError(
                ErrorCode.INVALID_FILE,
                f"the workbook has no 'survey' sheet (sheets found: {found})",
                self.file,
            )
        for required in ("type", "name"):
            if not any(c.tokens == (required,) for c in survey_columns):
                raise QuestionnaireError(
                    ErrorCode.MISSING_FIELD,
                    f"the survey sheet has no '{required}' column",
                    self.file,
                    "survey sheet",
                )
        data["choices"] = self.choices(choice_columns)
        data["sections"] = self.sections(survey_columns)
        data["choices"].update(self.choice_lists)  # lists read from files (select_one_from_file)
        data["groups"] = self.groups()
        scoring = self.scoring()
        if scoring is not None:
            data["scoring"] = scoring
        codes: dict[str, str] = {}
        for name in self.language_order:
            codes.setdefault(language_code(name, codes), name)
        data["languages"] = data.get("languages") or list(codes)
        data["language_names"] = {code: ("" if name == "default" else name) for code, name in codes.items()}
        self.name_to_code = {name: code for code, name in codes.items()}
        _relabel(data, self.name_to_code)
        if self.default_name != "default" or "default_language" in data:
            data["default_language"] = self.name_to_code.get(self.default_name, self.default_name)
        if self.bare_seen and self.default_name != "default":
            # Bare columns in a named default language: pyxform writes them as plain labels (no itext),
            # so they are written back bare, with the setting as it was.
            data["language_names"][data["default_language"]] = ""
            data.setdefault("settings", {})["default_language"] = self.default_name
        data["_xlsform"] = True
        data["_errors"] = self.problems.errors
        data["_warnings"] = self.problems.warnings
        data["_skipped"] = sorted(self.skipped)
        return data

    def check_sheets(self) -> None:
        for name in self.book.sheet_names or []:
            low = name.strip().lower()
            if low not in PYXFORM_SHEETS and low not in OUR_SHEETS:
                self.problems.warn(
                    WarningCode.IGNORED_SHEET,
                    f"sheet {name!r} is not part of an XLSForm and is ignored (as pyxform ignores it)",
                    f"sheet {name}",
                )
        if self.book.entities:
            self.problems.error(
                ErrorCode.UNSUPPORTED,
                "the 'entities' sheet (ODK entities) is not supported",
                "entities sheet",
            )
        if self.book.osm:
            self.problems.error(ErrorCode.UNSUPPORTED, "the 'osm' sheet is not supported", "osm sheet")

    def see_languages(self, columns: list[_Column], translated: tuple[str, ...]) -> None:
        """Note the language of every translated column, in the order the columns come."""
        for column in columns:
            lang = self.language_of(column)
            if lang is not None and lang not in self.language_order and column.tokens[0] in translated:
                self.language_order.append(lang)

    def language_of(self, column: _Column) -> str | None:
        """The language a translated column is in (its last token), or the default for a bare one."""
        tokens = column.tokens
        for fields in (_SURVEY_TRANSLATED,):
            for head in fields:
                if tokens[: len(head)] == head:
                    if len(tokens) == len(head):
                        self.bare_seen = True
                        return self.default_name
                    if len(tokens) == len(head) + 1:
                        return tokens[-1]
        return None

    # ------------------------------------------------------------------------------------- settings
    def settings(self) -> dict:
        rows = self.book.settings or []
        columns = _columns(
            self.book.settings_header, px.aliases.settings_header, set(px.Survey.get_slot_names())
        )
        row = rows[0] if rows else {}
        where = "settings row 2"
        out: dict[str, Any] = {"_where": where}
        extra: dict[str, str] = {}
        titles: dict[str, str] = {}
        description: dict[str, str] = {}
        for column in columns:
            value = _cell_text(row.get(column.header))
            if value is None:
                continue
            key = _SETTINGS_FIELDS.get(column.tokens)
            if key is not None:
                out[key] = value
            elif column.tokens[:1] in (("sipas_title",), ("description",)) and len(column.tokens) <= 2:
                lang = column.tokens[1] if len(column.tokens) == 2 else None
                target = titles if column.tokens[0] == "sipas_title" else description
                target[lang or "default"] = value
            else:
                extra[column.canonical] = value
        if len(rows) > 1:
            self.problems.warn(
                WarningCode.IGNORED_SHEET,
                "only the first row of the settings sheet is read (as pyxform does)",
                "settings row 3",
            )
        if out.get("languages"):
            out["languages"] = _SPLIT.split(out["languages"])
        if out.get("default_language"):
            self.default_name = out["default_language"]
            self.language_order.append(self.default_name)
        if not out.get("id"):
            out["id"] = self.path.stem
            self.problems.warn(
                WarningCode.DEFAULTED,
                f"no form_id in the settings: the form's id is the file name {out['id']!r}",
                where,
            )
        if not out.get("version"):
            out["version"] = "1"
            self.problems.warn(
                WarningCode.DEFAULTED,
                "no version in the settings: version '1' is used (and written back); set one to choose",
                where,
            )
        title = out.pop("title", None)
        if title is None:
            title = out["id"]
            self.problems.warn(
                WarningCode.DEFAULTED,
                f"no form_title in the settings: the title is the form's id {title!r}",
                where,
            )
        out["title"] = {"__default__": title, **titles}
        if description:
            out["description"] = description
        if extra:
            out["settings"] = extra
        return out

    # --------------------------------------------------------------------------------------- choices
    def choices(self, columns: list[_Column]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        if not columns:
            return out
        if not any(c.tokens in _LIST_NAME for c in columns):
            self.problems.error(
                ErrorCode.MISSING_FIELD, "the choices sheet has no 'list_name' column", "choices sheet"
            )
            return out
        for i, row in enumerate(self.book.choices or [], start=2):
            if not row:
                continue
            fields: dict[str, Any] = {}
            label: dict[str, str] = {}
            audio: dict[str, str] = {}
            extra: dict[str, str] = {}
            for column in columns:
                value = _cell_text(row.get(column.header))
                if value is None:
                    continue
                if column.tokens in _LIST_NAME:
                    fields["list_name"] = value
                elif column.tokens == ("name",):
                    fields["name"] = value
                elif column.tokens[0] == "label" and len(column.tokens) <= 2:
                    label[self.language_of(column) or self.default_name] = value
                elif column.tokens[:2] == ("media", "audio") and len(column.tokens) <= 3:
                    audio[self.language_of(column) or self.default_name] = value
                else:
                    extra[column.canonical] = value
            where = f"choices row {i}"
            list_name = fields.get("list_name")
            if list_name is None:
                self.problems.error(
                    ErrorCode.MISSING_FIELD, "list_name is empty", _where("choices", i, "list_name")
                )
                continue
            if fields.get("name") is None:
                self.problems.error(
                    ErrorCode.MISSING_FIELD, "name (the choice code) is empty", _where("choices", i, "name")
                )
                continue
            entry: dict[str, Any] = {"_where": where, "code": fields["name"], "label": label or None}
            if audio:
                entry["audio"] = audio
            if extra:
                entry["extra"] = extra
            out.setdefault(list_name, []).append(entry)
        return out

    # --------------------------------------------------------------------------------------- survey
    def sections(self, columns: list[_Column]) -> list[dict]:
        sections: list[dict] = []
        stack: list[dict] = []  # open groups: a section, or a refused container being skipped
        top: dict | None = None  # the open run of questions outside any group
        rows = self.book.survey or []
        for i, row in enumerate(rows, start=2):
            if not row:
                continue
            entry = self.survey_row(i, row, columns)
            if entry is None:
                if stack and _cell_text(row.get("type")):
                    stack[-1]["_refused_questions"] = True  # a refused question: its group may end empty
                continue
            kind = entry.pop("_kind")
            if kind == "begin":
                if stack:
                    outer = stack[-1]
                    if not outer.get("_refused"):
                        self.problems.error(
                            ErrorCode.UNSUPPORTED,
                            f"a group inside the group {outer['code']!r} (begun at {outer['_where']}): "
                            "nested groups are not supported; close the outer group first",
                            _where("survey", i, "type"),
                        )
                    entry["_refused"] = True
                    stack.append(entry)
                    continue
                top = None
                stack.append(entry)
                if not entry.get("_refused"):
                    sections.append(entry)
            elif kind == "end":
                if not stack:
                    self.problems.error(
                        ErrorCode.BAD_VALUE,
                        "end_group without a matching begin_group",
                        _where("survey", i, "type"),
                    )
                    continue
                stack.pop()
            else:
                if stack:
                    if stack[-1].get("_refused"):
                        self.skipped.add(entry["code"])
                        continue
                    stack[-1]["questions"].append(entry)
                    continue
                if top is None:
                    top = {
                        "_where": entry["_where"],
                        "code": self.top_code(len(sections) + 1),
                        "wrapped": False,
                        "appearance": None,
                        "questions": [],
                    }
                    sections.append(top)
                top["questions"].append(entry)
        for group in stack:
            self.problems.error(
                ErrorCode.BAD_VALUE, "this begin_group has no matching end_group", group["_where"]
            )
        # A group left empty only because its questions were refused is not reported again as empty.
        sections = [s for s in sections if s["questions"] or not s.pop("_refused_questions", False)]
        for s in sections:
            s.pop("_refused", None)
            s.pop("_refused_questions", None)
        return sections

    def top_code(self, number: int) -> str:
        """A section code for questions outside any group; never written to the workbook."""
        names = {_cell_text(r.get("name")) for r in self.book.survey or []}
        code = f"_ngoai_nhom_{number}"
        while code in names:
            code += "_"
        return code

    def row_columns(self, i: int, row: dict, columns: list[_Column]) -> tuple[dict, dict, dict, bool]:
        """Sort one survey row's cells: fields the model carries, texts by language, cells kept verbatim,
        and whether a refused column is used."""
        fields: dict[str, Any] = {}
        texts: dict[str, dict[str, str]] = {}
        extra: dict[str, str] = {}
        refused = False
        for column in columns:
            value = _cell_text(row.get(column.header))
            if value is None:
                continue
            key = _SURVEY_FIELDS.get(column.tokens)
            translated = self.translated_key(column)
            if key is not None:
                if key in _EXPRESSION_KEYS:
                    value = self.straighten(value, i, column.header)
                fields[key] = value
            elif translated is not None:
                key, lang = translated
                texts.setdefault(key, {})[lang] = value
            elif column.tokens in _SURVEY_REFUSED:
                self.problems.error(
                    ErrorCode.UNSUPPORTED, _SURVEY_REFUSED[column.tokens], _where("survey", i, column.header)
                )
                refused = True
            else:
                extra[column.canonical] = value
                self.note_pass_through(column)
        return fields, texts, extra, refused

    def survey_row(self, i: int, row: dict, columns: list[_Column]) -> dict | None:
        """One survey row: a question, a group's begin or end, or None (refused, with the reason noted)."""
        fields, texts, extra, refused = self.row_columns(i, row, columns)
        raw_type = fields.get("type")
        name = fields.get("name")
        where = f"survey row {i}"
        if raw_type is None:
            if fields or texts:
                self.problems.error(
                    ErrorCode.MISSING_FIELD, "the type column is empty", _where("survey", i, "type")
                )
                if name:
                    self.skipped.add(name)
            return None
        kind = " ".join(raw_type.split())
        kind = px.aliases._type_alias_map.get(kind, kind)
        end = px.RE_END_CONTROL.search(kind)
        if end:
            return {"_kind": "end"}
        begin = px.RE_BEGIN_CONTROL.search(kind)
        if begin:
            return self.group_row(i, px.aliases.control[begin.group("type")], raw_type, fields, texts, extra)
        if name is None:
            self.problems.error(
                ErrorCode.MISSING_FIELD, "the name column is empty", _where("survey", i, "name")
            )
            return None
        qtype, choices = self.question_type(kind, raw_type, i)
        if qtype is None or refused:
            self.skipped.add(name)
            return None
        entry = {"_kind": "question", "_where": where, "code": name, "type": qtype.value}
        if choices is not None:
            entry["choices"] = choices
        for key in ("required", "relevant", "constraint", "calculation", "default", "choice_filter",
                    "appearance", "role", "groups", "read_only"):  # fmt: skip
            if key in fields:
                entry[key] = fields[key]
        for key, value in texts.items():
            if key == "intro":
                self.problems.error(
                    ErrorCode.BAD_VALUE,
                    "sipas_intro belongs on a begin_group row",
                    _where("survey", i, "sipas_intro"),
                )
                continue
            entry[key] = value
        if extra:
            entry["extra"] = extra
        return entry

    def group_row(
        self, i: int, container: str, raw_type: str, fields: dict, texts: dict, extra: dict
    ) -> dict:
        """A begin_group row as a section without its questions (a repeat is refused, and marked so)."""
        name = fields.get("name")
        where = f"survey row {i}"
        entry = {
            "_kind": "begin",
            "_where": where,
            "code": name,
            "label": texts.get("label"),
            "intro": texts.get("intro"),
            "relevant": fields.get("relevant"),
            "groups": fields.get("groups"),
            "appearance": fields.get("appearance"),
            "questions": [],
        }
        if texts.get("audio"):
            entry["audio"] = texts["audio"]
        if extra:
            entry["extra"] = extra
        if container != "group":
            self.problems.error(
                ErrorCode.UNSUPPORTED,
                f"'{raw_type}': repeats are not supported (a satisfaction form asks each question once); "
                "ask the repeated questions as separate items",
                _where("survey", i, "type"),
            )
            entry["_refused"] = True
        leftover = {k for k in fields if k not in ("type", "name", "relevant", "groups", "appearance")}
        for key in sorted(leftover):
            self.problems.error(
                ErrorCode.UNSUPPORTED, f"a group cannot have '{key}'", _where("survey", i, key)
            )
        if name is None:
            self.problems.error(
                ErrorCode.MISSING_FIELD, "the name column is empty", _where("survey", i, "name")
            )
            entry["code"] = f"_nhom_{i}"
        return entry

    def translated_key(self, column: _Column) -> tuple[str, str] | None:
        for head, key in _SURVEY_TRANSLATED.items():
            if column.tokens[: len(head)] == head and len(column.tokens) in (len(head), len(head) + 1):
                lang = column.tokens[-1] if len(column.tokens) > len(head) else self.default_name
                return key, lang
        return None

    def note_pass_through(self, column: _Column) -> None:
        """Warn once per column kept verbatim that would change what ODK does."""
        if column.tokens[0] in _BEHAVIOURAL and column.canonical not in self.warned_columns:
            self.warned_columns.add(column.canonical)
            self.problems.warn(
                WarningCode.PASSED_THROUGH,
                f"column {column.header!r} is kept in the workbook but not applied by the kiosk",
                "survey sheet",
            )

    def straighten(self, value: str, row: int, header: str) -> str:
        """Curly quotes in an expression read as straight ones, as pyxform reads them, with a warning."""
        if px.RE_SMART_QUOTES.search(value):
            self.problems.warn(
                WarningCode.CURLY_QUOTES,
                f"curly quotes in {value!r} are read as straight quotes",
                _where("survey", row, header),
            )
            return px.RE_SMART_QUOTES.sub(lambda m: px.SMART_QUOTES[m.group(0)], value)
        return value

    def question_type(self, kind: str, raw_type: str, row: int) -> tuple[QuestionType | None, str | None]:
        """The type of a question row and its choice list, or (None, None) when refused."""
        where = _where("survey", row, "type")
        select = px.RE_SELECT.search(kind)
        if select:
            command = select.group("select_command")
            list_name = select.group("list_name")
            if select.group("specify_other"):
                self.problems.error(
                    ErrorCode.UNSUPPORTED,
                    f"'{raw_type}': or_other is not supported; add an 'other' choice to the list and a text "
                    f"question with relevant selected(${{name}}, 'other')",
                    where,
                )
                return None, None
            target = px.aliases.select[command]
            if target == "select one external":
                self.problems.error(
                    ErrorCode.UNSUPPORTED,
                    f"'{raw_type}': select_one_external (choices in external_choices) is not supported; "
                    "use select_one with choice_filter",
                    where,
                )
                return None, None
            if target == "rank":
                self.problems.error(
                    ErrorCode.UNSUPPORTED, f"'{raw_type}': rank questions are not supported", where
                )
                return None, None
            qtype = QuestionType.SINGLE if target == "select one" else QuestionType.MULTIPLE
            if command in px.aliases.select_from_file:
                list_name = self.choices_from_file(list_name, row)
                if list_name is None:
                    return None, None
            return qtype, list_name
        for candidate in (kind, kind.lower()):
            spec = px.QUESTION_TYPE_DICT.get(candidate)
            if spec is None:
                continue
            for canonical, qtype in _CANONICAL.items():
                if spec == px.QUESTION_TYPE_DICT[canonical]:
                    return qtype, None
            self.problems.error(
                ErrorCode.UNKNOWN_TYPE,
                f"question type {raw_type!r} is not supported by the kiosk; supported: select_one, "
                f"select_multiple, select_one_from_file, {', '.join(_CANONICAL)}, begin_group, end_group",
                where,
            )
            return None, None
        head = kind.split(" ")[0]
        if head in px.aliases.select or any(kind.startswith(s + " ") for s in px.aliases.select):
            self.problems.error(ErrorCode.BAD_VALUE, f"'{raw_type}' needs one choice list name", where)
        else:
            self.problems.error(
                ErrorCode.UNKNOWN_TYPE,
                f"question type {raw_type!r} is not an XLSForm type; supported: select_one <list>, "
                f"select_multiple <list>, select_one_from_file <file.csv>, {', '.join(_CANONICAL)}, "
                "begin_group, end_group",
                where,
            )
        return None, None

    def choices_from_file(self, file_name: str, row: int) -> str | None:
        """Read the choices of ``select_one_from_file <file>`` from a CSV beside the workbook."""
        where = _where("survey", row, "type")
        if file_name in self.choice_lists:
            return file_name
        if not file_name.lower().endswith(".csv"):
            self.problems.error(
                ErrorCode.UNSUPPORTED,
                f"choices from {file_name!r}: only .csv files (columns name, label) are supported",
                where,
            )
            return None
        source = self.path.parent / file_name
        try:
            if source.stat().st_size > MAX_CHOICES_FILE_BYTES:
                self.problems.error(
                    ErrorCode.INVALID_FILE,
                    f"{file_name} is larger than {MAX_CHOICES_FILE_BYTES:,} bytes",
                    where,
                )
                return None
            text = source.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.error(
                ErrorCode.INVALID_FILE,
                f"không đọc được tệp lựa chọn {file_name} cạnh bảng tính "
                f"(cannot read the choices file {file_name} beside the workbook: {exc})",
                where,
            )
            return None
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        if "name" not in header:
            self.problems.error(
                ErrorCode.MISSING_FIELD, f"{file_name} has no 'name' column (header: {header})", where
            )
            return None
        items = []
        for n, record in enumerate(reader, start=2):
            code = (record.get("name") or "").strip()
            if not code:
                continue
            label: dict[str, str] = {}
            extra: dict[str, str] = {}
            for key, value in record.items():
                if key is None or key == "name" or value is None or not value.strip():
                    continue
                if key == "label" or key.startswith("label::"):
                    lang = key.partition("::")[2] or self.default_name
                    label[lang] = value.strip()
                else:
                    extra[key] = value.strip()
            entry: dict[str, Any] = {"_where": f"{file_name} row {n}", "code": code, "label": label or None}
            if extra:
                entry["extra"] = extra
            items.append(entry)
        self.choice_lists[file_name] = {"file": file_name, "choices": items}
        return file_name

    # ------------------------------------------------------------------------ our sheets: groups, scoring
    def own_sheet(self, name: str) -> tuple[list[tuple[int, dict]], list[Any]]:
        """Rows of one of our sheets as ``(row number, {column: value})``; columns like ``label::en``
        become ``("label", language name)``."""
        raw = self.own.get(name)
        if not raw:
            return [], []
        header_at = next((k for k, (_, vals) in enumerate(raw) if any(_cell_text(v) for v in vals)), None)
        if header_at is None:
            return [], []
        columns: list[Any] = []
        for cell in raw[header_at][1]:
            header = _cell_text(cell)
            if header is None:
                columns.append(None)
                continue
            base, sep, suffix = header.partition("::")
            base = base.strip().lower()
            if base == "label":
                lang = suffix.strip() if sep else self.default_name
                if lang not in self.language_order:
                    self.language_order.append(lang)
                columns.append(("label", lang))
            else:
                columns.append(header.strip().lower())
        rows = []
        for number, values in raw[header_at + 1 :]:
            row = {}
            for key, value in zip(columns, values, strict=False):
                if key is not None and _cell_text(value) is not None:
                    row[key] = value
            if row:
                rows.append((number, row))
        return rows, columns

    @staticmethod
    def own_label(row: dict) -> dict | None:
        out = {k[1]: _cell_text(v) for k, v in row.items() if isinstance(k, tuple) and k[0] == "label"}
        out = {k: v for k, v in out.items() if v}
        return out or None

    def groups(self) -> list[dict]:
        rows, _ = self.own_sheet("groups")
        return [
            {"_where": f"groups row {n}", "code": _cell_text(row.get("code")), "label": self.own_label(row)}
            for n, row in rows
        ]

    def scoring(self) -> dict | None:
        rows, _ = self.own_sheet("scoring")
        if not rows:
            return None
        out: dict[str, Any] | None = None
        nodes: dict[str, dict] = {}
        for n, row in rows:
            where = f"scoring row {n}"
            level = (_cell_text(row.get("level")) or "").lower()
            if level not in {lv.value for lv in Level}:
                self.problems.error(
                    ErrorCode.BAD_SCORING,
                    f"level {level or '(empty)'!r} is not one of index, field, element, criterion",
                    where,
                )
                continue
            node: dict[str, Any] = {"_where": where}
            code = _cell_text(row.get("code"))
            if code is not None:
                node["code"] = code
            label = self.own_label(row)
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
                    self.problems.error(ErrorCode.BAD_SCORING, "only one row may have level 'index'", where)
                    continue
                out = self.scoring_settings(row, where)
                out["index"] = node
                continue
            if out is None:
                self.problems.error(
                    ErrorCode.BAD_SCORING, "the first row of the scoring sheet must be the index", where
                )
                return None
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
                self.problems.error(
                    ErrorCode.BAD_SCORING, f"parent {parent_code!r} is not the code of an earlier row", where
                )
                continue
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
        for key in ("values", "group_weights"):
            if row.get(key) is not None:
                out[key] = self.pairs(row[key], where, key)
        for key in ("decimals", "min_n"):
            if row.get(key) is not None:
                out[key] = row[key] if isinstance(row[key], (int, float)) else _cell_text(row[key])
        for key in ("group_weighting", "points_total", "unasked_stratum"):
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
                self.problems.error(
                    ErrorCode.BAD_SCORING,
                    f"{what} must be code=number pairs separated by spaces (e.g. A=1 B=0.6), found {text!r}",
                    where,
                )
                return out
            out[key] = number
        return out


def _relabel(node: Any, codes: Mapping[str, str]) -> None:
    """Key every label of the read data by language code instead of the XLSForm language name."""
    if isinstance(node, list):
        for item in node:
            _relabel(item, codes)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        if key in ("label", "hint", "guidance_hint", "constraint_message", "required_message", "intro",
                   "title", "description", "audio") and isinstance(value, dict):  # fmt: skip
            node[key] = {codes.get(lang, lang): text for lang, text in value.items()}
        elif key not in ("extra", "settings", "_errors", "_warnings"):
            _relabel(value, codes)
