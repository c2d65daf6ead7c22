"""Turn a KoboToolbox or ODK Central export into the responses table that scoring and storage read.

Districts often collect with KoboToolbox or ODK Collect before (or beside) the app. Their exports are
read here, in one place, by ``sipas score``/``report``/``plot -r`` (through
:func:`analysis.io.read_responses`) and by ``sipas responses import`` (which stores the rows).

What is read
------------
KoboToolbox CSV and XLSX
    "XML values and headers" (answers are choice codes, headers ``group/question``) and "labels"
    exports (answers are choice labels in one of the form's languages, headers may be question labels
    such as ``Nhóm/Câu hỏi``). The data is the first sheet of an XLSX export. Kobo's CSV is often
    separated by ``;``: :func:`analysis.io.read_table` finds the separator from the header line.
ODK Central CSV
    Headers ``group-question``, ``KEY``, ``SubmissionDate``, ``meta-instanceID``.

Columns
-------
A header is matched, in this order, to: an item code as written; one of the tool's system columns
(:data:`SYSTEM_COLUMNS`, anything starting with ``_``, anything in the ``meta`` or ``formhub`` group)
or device metadata (``start``, ``end``, ``deviceid`` …); an item code once the group prefixes are
stripped (separators ``/``, ``-`` and ``.``; the longest matching tail wins, so ``nhom/thu-tuc`` finds
an item ``thu-tuc`` before ``tuc``); a question label in any of the questionnaire's languages, with or
without group prefixes. Kobo's extra 0/1 column per option of a multiple-choice question
(``group/question/option``) is recognised and skipped: the question's own column, which holds the
chosen options, is the one read. Any other column is refused, with a hint about group prefixes when
the header has one.

Rows
----
The response id is the instance id, from ``meta/instanceID`` (``meta-instanceID``), else ``KEY``,
else ``_uuid``, the first one not blank in each row, without its ``uuid:`` prefix (a UUID in lower
case, as the app stores it). The submission time (``_submission_time``, ``SubmissionDate``) becomes
``submitted_at`` (UTC) and Kobo's/ODK's ``start`` becomes ``started_at`` when the questionnaire has no
item of its own for it. The unit comes from ``--unit-column`` (an item code or a header), a fixed
``--unit``, or a ``unit`` column.

Answers: a choice answer that is a code stays; otherwise it is looked up among the labels of the
question's choices (every language; case, spaces and Unicode form ignored). Multiple choice: codes
separated by spaces (XML values) or labels separated by spaces, commas or semicolons (labels
exports). An answer that is neither is a problem naming the file, column, row and value.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from questionnaires import ChoiceList, Question, Questionnaire, QuestionType

from .data import EXTRA_METADATA, _int_text, canonical_text
from .errors import ScoringError

__all__ = [
    "ExportProblem",
    "ExportTable",
    "SYSTEM_COLUMNS",
    "convert_export",
    "instance_id",
    "is_text_column",
]

# System columns of KoboToolbox (kpi/formpack exports) and ODK Central (CSV export): never answers.
KOBO_SYSTEM = frozenset(
    {
        "_id",
        "_uuid",
        "_submission_time",
        "_index",
        "_validation_status",
        "_notes",
        "_status",
        "_submitted_by",
        "__version__",
        "_tags",
        "_attachments",
        "_geolocation",
        "_xform_id_string",
        "_parent_index",
        "_parent_table_name",
        "_media_count",
        "_total_media",
        "_version_",
    }
)
ODK_SYSTEM = frozenset(
    {
        "KEY",
        "PARENT_KEY",
        "SubmissionDate",
        "SubmitterID",
        "SubmitterName",
        "AttachmentsPresent",
        "AttachmentsExpected",
        "Status",
        "ReviewState",
        "DeviceID",
        "Edits",
        "FormVersion",
    }
)
# XLSForm device metadata and the children of the meta/formhub groups (as the last part of a header).
DEVICE_METADATA = frozenset(
    {
        "start",
        "end",
        "today",
        "deviceid",
        "subscriberid",
        "simserial",
        "phonenumber",
        "username",
        "email",
        "audit",
        "instanceID",
        "instanceName",
        "deprecatedID",
        "rootUuid",
        "uuid",
    }
)
SYSTEM_COLUMNS = KOBO_SYSTEM | ODK_SYSTEM
SYSTEM_GROUPS = ("meta", "formhub")
# Where the instance id is, in order of preference (``meta/instanceID`` under any separator first).
ID_SOURCES = ("instanceID", "KEY", "_uuid")
SUBMISSION_TIME = ("_submission_time", "SubmissionDate")
SEPARATORS = "/-."
_SEPARATOR_RE = re.compile(r"[/.\-]")
_SPACES = re.compile(r"\s+")
_LIST_SPLIT = re.compile(r"\s*[,;]\s*")
MAX_LISTED = 10  # problems named in one message

# Our own layout's lead columns.
RESPONSE_ID, UNIT, STRATUM, GROUP = "response_id", "unit", "stratum", "group"


def _bilingual(vi: str, en: str) -> str:
    return f"{vi} ({en})"


@dataclass(frozen=True)
class ExportProblem:
    """One cell that cannot be read: the file row (header = 1), the column as headed, the value."""

    row: int
    column: str
    value: Any
    vi: str
    en: str

    def message(self) -> str:
        return f"dòng {self.row}, cột {self.column}: " + _bilingual(self.vi, self.en)


@dataclass(frozen=True)
class ExportTable:
    """A file read as the responses table, with what was found on the way.

    ``table``: ``response_id``, ``unit`` (and ``stratum``/``group`` when the file has them), one column
    per item found (choice codes as text), ``started_at``/``submitted_at``/``received_at`` when known
    (UTC timestamps); indexed by file
    row. ``tool``: ``"kobo"``, ``"odk"``, ``"export"`` (prefixed headers without a tool's system
    columns) or ``"sipas"`` (our own layout, passed through unchanged). ``columns``: header -> item
    code. ``skipped``: system, metadata and per-option columns. ``problems``: cells that cannot be
    read; their rows are still in ``table`` (with the cell blank), so a caller decides.
    """

    table: pd.DataFrame
    tool: str
    columns: Mapping[str, str] = field(default_factory=dict)
    id_columns: tuple[str, ...] = (RESPONSE_ID,)
    skipped: tuple[str, ...] = ()
    problems: tuple[ExportProblem, ...] = ()

    @property
    def bad_rows(self) -> frozenset[int]:
        return frozenset(p.row for p in self.problems)

    def raise_problems(self, where: str) -> None:
        """Raise one :class:`ScoringError` naming the first problems, when there are any."""
        if not self.problems:
            return
        shown = "; ".join(p.message() for p in self.problems[:MAX_LISTED])
        more = len(self.problems) - MAX_LISTED
        raise ScoringError(
            where
            + _bilingual(
                f"{len(self.problems)} ô không đọc được", f"{len(self.problems)} cells cannot be read"
            )
            + ": "
            + shown
            + (f"; … và {more} ô khác (and {more} more)" if more > 0 else "")
        )


# ------------------------------------------------------------------------------------------ text
def _norm(text: str) -> str:
    """Text as labels are compared: NFC, case-folded, spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip().casefold()


def instance_id(value: Any) -> str | None:
    """The response id of an instance id cell: no ``uuid:`` prefix, a UUID in lower case; None if blank."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    if text.lower().startswith("uuid:"):
        text = text[5:].strip()
    if not text:
        return None
    if len(text) in (32, 36):
        try:
            return str(uuid.UUID(text))
        except ValueError:
            pass
    return text


def _tails(header: str) -> list[str]:
    """The header, then what follows each group separator in it, longest first."""
    return [header] + [header[m.end() :] for m in _SEPARATOR_RE.finditer(header) if header[m.end() :]]


def _last_part(header: str) -> str:
    return _SEPARATOR_RE.split(header)[-1]


def _is_system(header: str) -> bool:
    """A column Kobo or ODK Central adds (``_uuid``, ``KEY``, ``meta/instanceID`` …): never an answer."""
    if header in SYSTEM_COLUMNS or header.startswith("_"):
        return True
    parts = _SEPARATOR_RE.split(header)
    return len(parts) > 1 and parts[0] in SYSTEM_GROUPS


def _is_device_metadata(header: str) -> bool:
    """XLSForm device metadata (``start``, ``end``, ``deviceid`` …), with or without a group prefix."""
    return _last_part(header) in DEVICE_METADATA


def is_text_column(header: str, unit_column: str | None = None) -> bool:
    """Whether a column must be read as text (ids and units keep leading zeros: ``01`` is not ``1``)."""
    name = header.strip()
    if name in (RESPONSE_ID, UNIT, STRATUM, GROUP, "KEY", "_uuid") or _last_part(name) == "instanceID":
        return True
    if unit_column is not None and (name == unit_column or _last_part(name) == unit_column):
        return True
    return _last_part(name) == UNIT


def looks_like_export(columns: Iterable[str]) -> bool:
    """A table in a tool's layout rather than ours: no ``response_id``, and a tool's column or a group.

    A tool's column is a system column (``_uuid``, ``KEY``, ``meta/instanceID`` …); a group shows as a
    ``/`` in a header. A table with neither stays ours, and a missing ``response_id`` is said as such.
    """
    names = [str(c).strip() for c in columns]
    if RESPONSE_ID in names:
        return False
    return any(_is_system(n) or "/" in n for n in names)


# --------------------------------------------------------------------------------------- columns
@dataclass
class _Columns:
    """How each header of a file is read."""

    items: dict[str, str] = field(default_factory=dict)  # header -> item code
    by_label: set[str] = field(default_factory=set)  # headers matched through a question label
    roles: dict[str, str] = field(default_factory=dict)  # unit/stratum/group -> header
    skipped: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _label_index(questionnaire: Questionnaire) -> dict[str, str | None]:
    """Normalised question label (every language) -> item code; None when two questions share it."""
    index: dict[str, str | None] = {}
    for q in questionnaire.questions():
        for _, text in q.label.texts:
            key = _norm(text)
            if key in index and index[key] != q.code:
                index[key] = None
            else:
                index[key] = q.code
    return index


def _match_item(
    header: str, codes: Mapping[str, Question], labels: Mapping[str, str | None]
) -> tuple[str | None, bool]:
    """The item code a header names (by code, then by label) and whether a label matched."""
    tails = _tails(header)
    for tail in tails:
        if tail in codes:
            return tail, False
    for tail in tails:
        code = labels.get(_norm(tail))
        if code is not None:
            return code, True
    return None, False


def _option_column(
    header: str, questionnaire: Questionnaire, codes: Mapping[str, Question], labels: Mapping[str, str | None]
) -> bool:
    """A Kobo per-option column ``question/option`` of a multiple-choice question."""
    for m in reversed(list(_SEPARATOR_RE.finditer(header))):
        head, option = header[: m.start()], header[m.end() :]
        code, _ = _match_item(head, codes, labels)
        if code is None:
            continue
        q = codes[code]
        choices = questionnaire.choice_list(q)
        if q.type is not QuestionType.MULTIPLE or choices is None:
            continue
        if option in choices.codes or _norm(option) in _choice_labels(choices):
            return True
    return False


def _classify(questionnaire: Questionnaire, headers: Sequence[str], unit_column: str | None) -> _Columns:
    """Sort the headers into items, roles (unit, stratum, group), skipped and unknown columns."""
    codes = {q.code: q for q in questionnaire.questions()}
    labels = _label_index(questionnaire)
    out = _Columns()
    for header in headers:
        if header in codes:
            out.items[header] = header
        elif header in (UNIT, STRATUM, GROUP):
            out.roles.setdefault(header, header)
        elif header in EXTRA_METADATA or _is_system(header):
            out.skipped.append(header)
        else:
            _classify_one(header, questionnaire, codes, labels, out)
    if unit_column is not None:
        # --unit-column names a header, or an item (its codes are the units), or a header's last part;
        # it replaces a ``unit`` column, and naming nothing is an error (see _unit_column).
        out.roles.pop(UNIT, None)
        header = next((h for h in headers if h == unit_column), None)
        header = header or next((h for h, code in out.items.items() if code == unit_column), None)
        header = header or next((h for h in headers if _last_part(h) == unit_column), None)
        if header is not None:
            out.roles[UNIT] = header
            if header in out.unknown:
                out.unknown.remove(header)
            if header in out.skipped:
                out.skipped.remove(header)
    return out


def _classify_one(
    header: str,
    questionnaire: Questionnaire,
    codes: Mapping[str, Question],
    labels: Mapping[str, str | None],
    out: _Columns,
) -> None:
    code = next((t for t in _tails(header) if t in codes), None)
    if code is not None:
        out.items[header] = code
        return
    last = _last_part(header)
    if _is_device_metadata(header):
        out.skipped.append(header)
        return
    code, by_label = _match_item(header, codes, labels)
    if code is not None:
        out.items[header] = code
        if by_label:
            out.by_label.add(header)
    elif last in (UNIT, STRATUM, GROUP) and last not in out.roles:
        out.roles[last] = header
    elif _option_column(header, questionnaire, codes, labels):
        out.skipped.append(header)
    else:
        out.unknown.append(header)


def _tool(headers: Sequence[str]) -> str:
    names = set(headers)
    if names & ODK_SYSTEM or any(_SEPARATOR_RE.split(h)[0] == "meta" and "-" in h for h in headers):
        return "odk"
    if names & KOBO_SYSTEM or any(h.startswith(("meta/", "formhub/")) for h in headers):
        return "kobo"
    return "export"


def _column_errors(questionnaire: Questionnaire, columns: _Columns) -> list[str]:
    problems: list[str] = []
    if columns.unknown:
        shown = ", ".join(columns.unknown[:MAX_LISTED]) + (
            f", … +{len(columns.unknown) - MAX_LISTED}" if len(columns.unknown) > MAX_LISTED else ""
        )
        text = _bilingual(
            f"cột không khớp câu hỏi nào của phiếu {questionnaire.id} (dòng 1, tiêu đề): {shown}",
            f"columns that match no item of questionnaire {questionnaire.id} (row 1, the header)",
        )
        if any(_SEPARATOR_RE.search(h) for h in columns.unknown):
            text += "; " + _bilingual(
                "tiền tố nhóm (nhom/cau, nhom-cau, nhom.cau) đã được bỏ mà tên câu vẫn không khớp mã câu "
                "hỏi nào: hãy kiểm tra tên (name) các câu trong biểu mẫu Kobo/ODK so với phiếu",
                "group prefixes (group/question, group-question, group.question) were stripped and the "
                "names still match no item code: check the question names of the Kobo/ODK form against "
                "the questionnaire",
            )
        problems.append(text)
    seen: dict[str, str] = {}
    for header, code in columns.items.items():
        if code in seen:
            problems.append(
                _bilingual(
                    f"hai cột {seen[code]} và {header} cùng là câu {code} (dòng 1, tiêu đề)",
                    f"columns {seen[code]} and {header} are both item {code}",
                )
            )
        else:
            seen[code] = header
    return problems


# ---------------------------------------------------------------------------------------- values
def _choice_labels(choices: ChoiceList) -> dict[str, str]:
    """Normalised choice label (every language) and normalised code -> code."""
    index: dict[str, str] = {}
    for choice in choices.choices:
        for _, text in choice.label.texts:
            index.setdefault(_norm(text), choice.code)
    return index


def _cell_text(value: Any) -> str | None:
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return canonical_text(value)


def _one_choice(text: str, choices: ChoiceList, by_label: Mapping[str, str]) -> str | None:
    """The code of one answer given as a code or a label; None when it is neither."""
    if text in choices.codes:
        return text
    if choices.is_numeric:
        alt = _int_text(text)
        if alt is not None and alt in choices.codes:
            return alt
    return by_label.get(_norm(text))


def _many_choices(text: str, choices: ChoiceList, by_label: Mapping[str, str]) -> list[str] | None:
    """The codes of a multiple-choice answer (codes or labels); None when it cannot be read."""
    parts = text.split()
    codes = [_one_choice(p, choices, {}) for p in parts]
    if all(c is not None for c in codes):
        return [c for c in codes if c is not None]
    if "," in text or ";" in text:
        listed = [_one_choice(p, choices, by_label) for p in _LIST_SPLIT.split(text.strip()) if p]
        if listed and all(c is not None for c in listed):
            return [c for c in listed if c is not None]
    return _segment(parts, choices, by_label)


def _segment(words: list[str], choices: ChoiceList, by_label: Mapping[str, str]) -> list[str] | None:
    """Labels joined by spaces, split back into choices (labels have spaces of their own)."""
    n = len(words)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(end - 1, -1, -1):  # the longest label ending here first
            before = best[start]
            if before is None:
                continue
            code = _one_choice(" ".join(words[start:end]), choices, by_label)
            if code is not None:
                best[end] = [*before, code]
                break
    return best[n]


def _convert_choices(
    series: pd.Series, header: str, q: Question, choices: ChoiceList, problems: list[ExportProblem]
) -> pd.Series:
    """A choice column as codes (text; multiple: codes joined by spaces); unreadable cells blank."""
    by_label = _choice_labels(choices)
    raw_codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped: list[str | None] = []
    bad: set[int] = set()
    for j, value in enumerate(uniques):
        text = _cell_text(value)
        if text is None:
            mapped.append(None)
            continue
        if q.type is QuestionType.MULTIPLE:
            many = _many_choices(text, choices, by_label)
            code = " ".join(dict.fromkeys(many)) if many else None
        else:
            code = _one_choice(text, choices, by_label)
        if code is None:
            bad.add(j)
        mapped.append(code)
    lookup = np.array([*mapped, None], dtype=object)
    out = pd.Series(lookup[np.asarray(raw_codes)], index=series.index, dtype=object)
    if bad:
        shown = ", ".join(choices.codes[:12]) + (" …" if len(choices.codes) > 12 else "")
        for pos in np.flatnonzero(np.isin(raw_codes, list(bad))):
            problems.append(
                ExportProblem(
                    row=int(series.index[pos]),
                    column=header,
                    value=series.iat[pos],
                    vi=f"{_show(series.iat[pos])} không phải mã hay nhãn nào của câu {q.code} (mã: {shown})",
                    en=f"{_show(series.iat[pos])} is neither a code nor a label of item {q.code}'s choices",
                )
            )
    return out


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value.item() if isinstance(value, np.generic) else value)


def _convert_other(series: pd.Series, q: Question) -> pd.Series:
    """Dates and times (an XLSX cell may hold a datetime) as ISO text; other answers as read."""
    if q.type in (QuestionType.DATE, QuestionType.TODAY):
        return series.map(lambda v: v.date().isoformat() if isinstance(v, datetime) else v)
    if q.type.is_metadata:
        return series.map(lambda v: v.isoformat() if isinstance(v, datetime) else v)
    return series


def _times(series: pd.Series) -> pd.Series:
    """Submission or start times as UTC timestamps (naive = UTC, as Kobo writes ``_submission_time``)."""
    text = series.map(lambda v: v.isoformat() if isinstance(v, datetime) else v)
    return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")


# ------------------------------------------------------------------------------------------- ids
def _id_headers(headers: Sequence[str], columns: _Columns) -> list[str]:
    """The columns holding instance ids, in order of preference."""
    found: list[str] = []
    for source in ID_SOURCES:
        for h in headers:
            if h in columns.items:
                continue
            if (source == "instanceID" and _last_part(h) == "instanceID") or h == source:
                found.append(h)
    return found


def _response_ids(df: pd.DataFrame, id_headers: Sequence[str], problems: list[ExportProblem]) -> pd.Series:
    ids = pd.Series([None] * len(df), index=df.index, dtype=object)
    for header in id_headers:
        missing = ids.isna()
        if not missing.any():
            break
        ids[missing] = df.loc[missing, header].map(instance_id)
    for row in ids.index[ids.isna()]:
        problems.append(
            ExportProblem(
                int(row),
                id_headers[0],
                None,
                "không có mã phiếu (instance id)",
                "no instance id",
            )
        )
    return ids


# ------------------------------------------------------------------------------------------ unit
def _no_unit(where: str, unit_column: str | None, unknown: Sequence[str]) -> ScoringError:
    """No unit for the rows: ``--unit-column`` names no column, or there is no ``unit`` column."""
    if unit_column is not None:
        return ScoringError(
            where
            + _bilingual(
                f"không có cột đơn vị {unit_column} (--unit-column) trong tệp (dòng 1, tiêu đề)",
                f"no unit column {unit_column!r} (--unit-column) in the file header",
            )
        )
    candidates = ", ".join(unknown[:MAX_LISTED])
    return ScoringError(
        where
        + _bilingual(
            "không biết phiếu thuộc đơn vị nào: tệp không có cột unit; hãy cho biết cột chứa mã đơn vị "
            "bằng --unit-column TÊN_CỘT, hoặc một đơn vị cho cả tệp bằng --unit MÃ"
            + (f" (cột chưa rõ nghĩa, dòng 1: {candidates})" if candidates else ""),
            "the file has no 'unit' column: name the column holding the unit code with "
            "--unit-column NAME, or give one unit for the whole file with --unit CODE",
        )
    )


def _unit_column(
    columns: _Columns, df: pd.DataFrame, converted: Mapping[str, pd.Series]
) -> tuple[pd.Series, str]:
    """The unit of each row, from the column ``--unit-column`` or ``unit`` named (choice labels as codes)."""
    header = columns.roles[UNIT]
    values = converted[header] if header in converted else df[header].map(_cell_text)
    return values.map(lambda v: None if v is None or pd.isna(v) else str(v).strip() or None), header


def _blank_units(units: pd.Series, header: str, problems: list[ExportProblem]) -> None:
    for row in units.index[units.isna()]:
        problems.append(ExportProblem(int(row), header, None, "đơn vị để trống", "blank unit"))


# ---------------------------------------------------------------------------------------- convert
def convert_export(
    df: pd.DataFrame,
    questionnaire: Questionnaire | None,
    *,
    unit_column: str | None = None,
    unit: str | None = None,
    where: str = "",
) -> ExportTable:
    """Read a table as read from a file (see :func:`analysis.io.read_table`) as the responses table.

    Parameters
    ----------
    df
        The file's table, indexed by file row, headers stripped.
    questionnaire
        The questionnaire the answers belong to; needed for an export (not for our own layout).
    unit_column, unit
        Where the unit is: a column (an item code or a header) or one unit code for every row; at
        most one of them.
    where
        The message prefix naming the file (``"phieu.csv: "``).

    Returns
    -------
    ExportTable
        Our own layout (see :func:`looks_like_export`) comes back unchanged, but for the unit options.

    Raises
    ------
    ScoringError
        For what makes the whole file unreadable: unknown columns (with the group-prefix hint), two
        columns for one item, no instance id column, no unit. Problems of single cells are returned.
    """
    if unit_column is not None and unit is not None:
        raise ScoringError(
            where + _bilingual("chỉ dùng một trong --unit-column và --unit", "give --unit-column or --unit")
        )
    headers = [str(c) for c in df.columns]
    if not looks_like_export(headers):
        return _own_layout(df, unit_column, unit, where)
    if questionnaire is None:
        raise ScoringError(
            where
            + _bilingual(
                "tệp xuất từ Kobo/ODK (không có cột response_id) cần biết bảng hỏi để đọc",
                "an export without a response_id column is read against a questionnaire; pass one",
            )
        )
    columns = _classify(questionnaire, headers, None if unit is not None else unit_column)
    if unit is None and UNIT not in columns.roles:
        raise _no_unit(where, unit_column, columns.unknown)
    errors = _column_errors(questionnaire, columns)
    if errors:
        raise ScoringError(where + "; ".join(errors))
    id_headers = _id_headers(headers, columns)
    if not id_headers:
        raise ScoringError(
            where
            + _bilingual(
                "thiếu cột bắt buộc response_id; tệp xuất Kobo/ODK cần một cột mã phiếu meta/instanceID, "
                "meta-instanceID, KEY hoặc _uuid",
                "missing required column(s) response_id; a Kobo/ODK export needs an instance id column "
                "(meta/instanceID, meta-instanceID, KEY or _uuid)",
            )
        )
    problems: list[ExportProblem] = []
    codes = {q.code: q for q in questionnaire.questions()}
    converted: dict[str, pd.Series] = {}
    for header, code in columns.items.items():
        q = codes[code]
        choices = questionnaire.choice_list(q)
        if q.type.has_choices and choices is not None:
            converted[header] = _convert_choices(df[header], header, q, choices, problems)
        else:
            converted[header] = _convert_other(df[header], q)
    out: dict[str, pd.Series] = {RESPONSE_ID: _response_ids(df, id_headers, problems)}
    if unit is not None:
        out[UNIT] = pd.Series(unit, index=df.index, dtype=object)
    else:
        units, unit_header = _unit_column(columns, df, converted)
        _blank_units(units, unit_header, problems)
        out[UNIT] = units
    for role in (STRATUM, GROUP):
        if role in columns.roles:
            out[role] = df[columns.roles[role]].map(_cell_text)
    for header, code in columns.items.items():
        out[code] = converted[header]
    _add_times(df, headers, columns, questionnaire, out)
    table = pd.DataFrame(out, index=df.index)
    table.attrs.update(df.attrs)
    problems.sort(key=lambda p: (p.row, p.column))
    return ExportTable(
        table=table,
        tool=_tool(headers),
        columns=dict(columns.items),
        id_columns=tuple(id_headers),
        skipped=tuple(columns.skipped),
        problems=tuple(problems),
    )


def _add_times(
    df: pd.DataFrame,
    headers: Sequence[str],
    columns: _Columns,
    questionnaire: Questionnaire,
    out: dict[str, pd.Series],
) -> None:
    """``started_at``/``submitted_at`` from the device's start and end, ``received_at`` from the server.

    The device times are the form's ``start``/``end`` metadata (Kobo ``start``, ODK ``…-start``) or the
    questionnaire's own start/end items; the submission time (``_submission_time``, ``SubmissionDate``)
    is when the collecting server received the form, and stands in for ``submitted_at`` without an end.
    """
    kinds = {q.code: q.type for q in questionnaire.questions()}

    def device(kind: QuestionType, name: str) -> str | None:
        own = next((h for h, code in columns.items.items() if kinds[code] is kind), None)
        return own or next((h for h in headers if _last_part(h) == name and h not in columns.items), None)

    received = next((h for h in SUBMISSION_TIME if h in headers), None)
    started, ended = device(QuestionType.START, "start"), device(QuestionType.END, "end")
    if started is not None:
        out["started_at"] = _times(df[started])
    if ended is not None:
        out["submitted_at"] = _times(df[ended])
    if received is not None:
        out["received_at"] = _times(df[received])
        if ended is None:
            out["submitted_at"] = out["received_at"]


def _own_layout(df: pd.DataFrame, unit_column: str | None, unit: str | None, where: str) -> ExportTable:
    """Our own responses table: unchanged, but for the unit options."""
    if unit is None and unit_column is None:
        return ExportTable(table=df, tool="sipas")
    table = df.copy()
    table.attrs.update(df.attrs)
    if unit is not None:
        table[UNIT] = unit
    else:
        assert unit_column is not None
        if unit_column not in table.columns:
            raise ScoringError(
                where
                + _bilingual(
                    f"không có cột đơn vị {unit_column} (--unit-column) trong tệp (dòng 1, tiêu đề)",
                    f"no unit column {unit_column!r} (--unit-column) in the file header",
                )
            )
        table[UNIT] = table[unit_column].map(_cell_text)
    return ExportTable(table=table, tool="sipas")
