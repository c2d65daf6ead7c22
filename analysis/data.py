"""Check a responses table against its questionnaire and turn it into arrays of small integer codes.

Every answer column becomes an integer array indexing the column's distinct canonical values (the
choice codes, for a choice item), with ``len(values)`` meaning "no answer". Codes may arrive as text or
numbers (``"4"``, ``4``, ``4.0``, ``"'-1"`` from a neutralised CSV): they are normalised against the
questionnaire's codes. Everything a user can get wrong is collected and raised as one
:class:`~analysis.errors.ScoringError` naming columns, rows and response ids; nothing is dropped
silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from questionnaires import ChoiceList, Question, Questionnaire, QuestionType, Role

from .errors import ScoringError
from .io import restore

RESPONSE_ID = "response_id"
UNIT = "unit"
STRATUM = "stratum"
GROUP = "group"
META_COLUMNS = (RESPONSE_ID, UNIT, STRATUM, GROUP)

# Columns the app and common survey tools add beside the answers; they are not answers and are ignored.
# Columns whose name starts with "_" (ODK/Kobo: _uuid, _submission_time …) are ignored too.
EXTRA_METADATA = frozenset(
    {
        "questionnaire",
        "questionnaire_id",
        "questionnaire_version",
        "version",
        "campaign",
        "campaign_id",
        "instance_id",
        "source",
        "started_at",
        "submitted_at",
        "created_at",
        "received_at",
        "completed_at",
        "device",
        "device_id",
        "kiosk",
        "kiosk_id",
        "enumerator",
        "mode",
        "channel",
        "language",
        "lang",
        "unit_name",
        "stratum_name",
        "group_name",
        "status",
    }
)

MAX_LISTED = 5  # rows named in one message
_SPLIT_MULTI = re.compile(r"[\s,;]+")


def bilingual(vi: str, en: str) -> str:
    """A message in Vietnamese with the English in brackets."""
    return f"{vi} ({en})"


# ------------------------------------------------------------------------------------------ values
def canonical_text(value: Any) -> str | None:
    """The text of a stored value, or None when it is blank.

    Numbers that are whole become integer text (``4.0`` -> ``"4"``); text is stripped, and the ``'``
    that CSV exports put before formula-like text (``"'-1"``) is removed (:func:`analysis.io.restore`);
    a list (multiple choice) is its codes joined by spaces.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        s = restore(value.lstrip()).strip()
        return s or None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return None
        if v.is_integer() and abs(v) < 2**53:
            return str(int(v))
        return repr(v)
    if isinstance(value, list | tuple | np.ndarray):
        parts = [t for t in (canonical_text(v) for v in value) if t is not None]
        return " ".join(parts) or None
    s = str(value).strip()
    return s or None


def number_text(value: float) -> str:
    """A number as code text: ``4.0`` -> ``"4"``, ``4.5`` -> ``"4.5"``."""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _ascii_float(text: str) -> float:
    """``float(text)`` for ASCII text only: other digits (``"١٢٠"``) and ``"1_0"`` raise ValueError."""
    if not text.isascii() or "_" in text:
        raise ValueError(f"not an ASCII number: {text!r}")
    return float(text)


def _int_text(s: str) -> str | None:
    """Integer text of a numeric-looking string (``"04"``, ``"4.0"``, ``"+4"``), else None."""
    try:
        v = _ascii_float(s)
    except ValueError:
        return None
    if math.isfinite(v) and v.is_integer():
        return str(int(v))
    return None


# ------------------------------------------------------------------------------------------ result
@dataclass
class ItemColumn:
    """One answer column as integer codes into ``values``; ``len(values)`` means no answer."""

    code: str
    kind: str  # choice | multiple | number | text
    codes: np.ndarray
    values: list[Any]  # str for choice/multiple/text, float for number

    @property
    def blank(self) -> int:
        return len(self.values)

    @property
    def texts(self) -> list[str]:
        """Each value as code text, as scoring settings name them."""
        if self.kind == "number":
            return [number_text(v) for v in self.values]
        return [str(v) for v in self.values]

    def gate_values(self) -> list[Any]:
        """Each value as the expression language sees an answer; the last entry is 'no answer'."""
        return [*self.values, None]


@dataclass
class ResponseData:
    """A checked responses table as arrays. ``unit``/``stratum``/``group`` index into their lists."""

    n: int
    unit: np.ndarray
    units: list[str]
    stratum: np.ndarray | None
    strata: list[str] | None
    group: np.ndarray | None
    groups: list[str] | None
    items: dict[str, ItemColumn]
    rows: RowNames
    source: str | None = None

    def where(self) -> str:
        """The source of the table as a message prefix (``"phieu.csv: "``), or nothing."""
        return f"{self.source}: " if self.source else ""

    def role_column(self, role: str, code: str) -> ItemColumn | None:
        """The ``stratum`` or ``group`` column as a choice column named ``code``; None when absent."""
        codes, labels = (self.stratum, self.strata) if role == STRATUM else (self.group, self.groups)
        if codes is None or labels is None:
            return None
        return ItemColumn(code, "choice", np.where(codes < 0, len(labels), codes), list(labels))


class RowNames:
    """Names rows in messages: the file row (header = row 1) or the 1-based position, and the response id."""

    def __init__(self, df: pd.DataFrame, ids: pd.Series | None):
        self.numbered = bool(df.attrs.get("row_numbers"))
        self.index = df.index
        self.ids = ids

    def row(self, pos: int) -> int:
        return int(self.index[pos]) if self.numbered else pos + 1

    def name(self, pos: int) -> str:
        text = f"dòng/row {self.row(pos)}"
        if self.ids is not None:
            rid = canonical_text(self.ids.iat[pos])
            if rid is not None:
                text += f" (response_id {rid})"
        return text

    def describe(self, positions: Sequence[int] | np.ndarray, raw: pd.Series | None = None) -> str:
        positions = list(positions)
        parts = []
        for pos in positions[:MAX_LISTED]:
            part = self.name(int(pos))
            if raw is not None:
                part += f": {_show(raw.iat[int(pos)])}"
            parts.append(part)
        text = "; ".join(parts)
        if len(positions) > MAX_LISTED:
            text += f"; … +{len(positions) - MAX_LISTED}"
        return text


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value.item() if isinstance(value, np.generic) else value)


# ----------------------------------------------------------------------------------------- prepare
def prepare_responses(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    *,
    needed_items: Iterable[str] = (),
    stratum_required: bool = False,
    blank_stratum_allowed: bool = False,
    group_required: bool = False,
) -> ResponseData:
    """Check ``responses`` against ``questionnaire`` and encode it.

    Parameters
    ----------
    questionnaire
        The questionnaire the responses answer.
    responses
        The responses table (see :mod:`analysis.io`).
    needed_items
        Item codes that must be columns (the scored items and those read by gates).
    stratum_required, group_required
        Whether every response needs a stratum (the frame is by stratum) or a respondent group
        (``group_weights`` are set).
    blank_stratum_allowed
        Whether a required stratum may be blank (``unasked_stratum: unit_cell``: the caller checks that
        the stratum question was not asked of those responses).

    Returns
    -------
    ResponseData

    Raises
    ------
    ScoringError
        Listing every problem found: missing or unknown columns, blank or duplicated response ids, blank
        units, codes outside an item's choices (first rows named), non-numeric numbers.
    """
    if not isinstance(responses, pd.DataFrame):
        raise ScoringError(
            bilingual("bảng phiếu trả lời phải là một DataFrame", "responses must be a DataFrame")
        )
    source = responses.attrs.get("source")
    where = f"{source}: " if source else ""
    columns = [str(c).strip() for c in responses.columns]
    if len(set(columns)) != len(columns):
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        raise ScoringError(where + bilingual(f"cột bị lặp tên {', '.join(dupes)}", "duplicated column names"))
    if len(responses) == 0:
        raise ScoringError(where + bilingual("không có phiếu trả lời nào", "the responses table has no rows"))
    col = {c: responses.iloc[:, i] for i, c in enumerate(columns)}

    missing = [c for c in (RESPONSE_ID, UNIT) if c not in col]
    if missing:
        raise ScoringError(
            where
            + bilingual(
                f"thiếu cột bắt buộc {', '.join(missing)}", f"missing required column(s) {', '.join(missing)}"
            )
        )
    rows = RowNames(responses, col[RESPONSE_ID])
    questions = {q.code: q for q in questionnaire.questions()}
    needed = list(dict.fromkeys(needed_items))
    problems = _column_problems(questionnaire, columns, questions, needed)
    problems += _response_id_problems(col[RESPONSE_ID], rows)
    unit_codes, units = text_codes(col[UNIT])
    blank_units = np.flatnonzero(unit_codes < 0)
    if len(blank_units):
        problems.append(bilingual("unit để trống", "blank unit") + ": " + rows.describe(blank_units))
    stratum, strata = _role_column(col, STRATUM, questionnaire, Role.STRATUM)
    if stratum_required:
        problems += _stratum_problems(stratum, rows, blank_stratum_allowed)
    group, groups = _role_column(col, GROUP, questionnaire, Role.GROUP)
    problems += _group_problems(col, questionnaire, group, groups, group_required, rows)
    items: dict[str, ItemColumn] = {}
    for name in columns:
        q = questions.get(name)
        kind = _kind(q) if q is not None else None
        if q is None or kind is None or (kind == "text" and name not in needed):
            continue
        item, problem = _encode(col[name], q, questionnaire.choice_list(q), kind, rows)
        if problem:
            problems.append(problem)
        else:
            items[name] = item
    if problems:
        raise ScoringError(where + "; ".join(problems))
    # A role item stands in for a missing stratum/group column and vice versa (gates may name either).
    return ResponseData(
        n=len(responses),
        unit=unit_codes.astype(np.int32, copy=False),
        units=units,
        stratum=stratum,
        strata=strata,
        group=group,
        groups=groups,
        items=items,
        rows=rows,
        source=source,
    )


def _column_problems(
    questionnaire: Questionnaire, columns: list[str], questions: Mapping[str, Question], needed: list[str]
) -> list[str]:
    """Columns that are neither items nor known metadata, and scored or gate items that are missing."""
    problems: list[str] = []
    unknown = [
        c
        for c in columns
        if c not in META_COLUMNS and c not in questions and c not in EXTRA_METADATA and not c.startswith("_")
    ]
    if unknown:
        shown = ", ".join(unknown[:10]) + (f", … +{len(unknown) - 10}" if len(unknown) > 10 else "")
        problems.append(
            bilingual(
                f"cột không có trong phiếu {questionnaire.id}: {shown}",
                f"columns that are not items of questionnaire {questionnaire.id} nor known metadata",
            )
        )
    present = set(columns)
    absent = [c for c in needed if c not in present]
    if absent:
        problems.append(
            bilingual(
                f"thiếu cột của câu hỏi dùng để tính điểm: {', '.join(absent)}",
                "items used by the scoring are not columns of the table",
            )
        )
    return problems


def _response_id_problems(ids: pd.Series, rows: RowNames) -> list[str]:
    """Blank and duplicated response ids, the first rows named."""
    problems: list[str] = []
    blank_ids, dup = _id_problems(ids)
    if len(blank_ids):
        problems.append(
            bilingual("response_id để trống", "blank response_id") + ": " + rows.describe(blank_ids)
        )
    if len(dup):
        values = sorted({str(canonical_text(ids.iat[int(p)])) for p in dup})
        shown = ", ".join(values[:MAX_LISTED]) + (
            f", … +{len(values) - MAX_LISTED}" if len(values) > MAX_LISTED else ""
        )
        first = "; ".join(f"dòng/row {rows.row(int(p))}" for p in dup[:MAX_LISTED])
        problems.append(
            bilingual(f"response_id bị trùng: {shown}", f"duplicated response ids, {len(dup)} rows")
            + f": {first}"
        )
    return problems


def _stratum_problems(stratum: np.ndarray | None, rows: RowNames, blank_allowed: bool = False) -> list[str]:
    """A frame by stratum needs a stratum column and, unless blanks are allowed, a stratum in every row."""
    if stratum is None:
        return [
            bilingual(
                "khung mẫu chia theo tầng nên bảng phiếu cần cột stratum",
                "the frame gives populations by stratum, so the responses need a 'stratum' column",
            )
        ]
    blank = np.flatnonzero(stratum < 0)
    if len(blank) and not blank_allowed:
        return [bilingual("stratum để trống", "blank stratum") + ": " + rows.describe(blank)]
    return []


def _group_problems(
    col: Mapping[str, pd.Series],
    questionnaire: Questionnaire,
    group: np.ndarray | None,
    groups: list[str] | None,
    required: bool,
    rows: RowNames,
) -> list[str]:
    """Respondent groups the questionnaire does not declare; blank groups when group weights are set."""
    problems: list[str] = []
    if group is not None and questionnaire.groups:
        declared = {g.code for g in questionnaire.groups}
        bad_groups = [i for i, g in enumerate(groups or []) if g not in declared]
        if bad_groups:
            pos = np.flatnonzero(np.isin(group, bad_groups))
            problems.append(
                bilingual(
                    f"nhóm người trả lời không có trong phiếu (có: {', '.join(sorted(declared))})",
                    "respondent group not declared by the questionnaire",
                )
                + ": "
                + rows.describe(pos, _column_for(col, GROUP, questionnaire, Role.GROUP))
            )
    if not required:
        return problems
    if group is None:
        problems.append(
            bilingual(
                "phiếu có trọng số nhóm (group_weights) nên bảng phiếu cần cột group",
                "scoring sets group_weights, so the responses need a 'group' column",
            )
        )
    else:
        blank = np.flatnonzero(group < 0)
        if len(blank):
            problems.append(
                bilingual("group để trống", "blank respondent group") + ": " + rows.describe(blank)
            )
    return problems


def _kind(q: Question) -> str | None:
    if q.type is QuestionType.SINGLE:
        return "choice"
    if q.type is QuestionType.MULTIPLE:
        return "multiple"
    if q.type in (QuestionType.INTEGER, QuestionType.DECIMAL):
        return "number"
    if q.type in (QuestionType.TEXT, QuestionType.DATE, QuestionType.CALCULATE):
        return "text"  # read only when a criterion, gate or setting names the item (see the caller)
    return None  # notes and device metadata: never answers


def _column_for(col: Mapping[str, pd.Series], name: str, q: Questionnaire, role: Role) -> pd.Series | None:
    if name in col:
        return col[name]
    item = q.role_item(role)
    if item is not None and item.code in col:
        return col[item.code]
    return None


def _role_column(
    col: Mapping[str, pd.Series], name: str, q: Questionnaire, role: Role
) -> tuple[np.ndarray | None, list[str] | None]:
    series = _column_for(col, name, q, role)
    if series is None:
        return None, None
    codes, labels = text_codes(series)
    return codes.astype(np.int32, copy=False), labels


# ---------------------------------------------------------------------------------------- encoders
def _factorize(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (-1 = missing) and the distinct raw values of a column."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), list(series.cat.categories)
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # lists (multiple choice from Parquet) are not hashable
        codes, uniques = pd.factorize(
            series.map(lambda v: canonical_text(v) if isinstance(v, list | tuple | np.ndarray) else v),
            use_na_sentinel=True,
        )
    return np.asarray(codes), list(uniques)


def text_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes (-1 = blank) into the sorted distinct canonical texts of a column."""
    raw_codes, uniques = _factorize(series)
    texts = [canonical_text(u) for u in uniques]
    labels = sorted({t for t in texts if t is not None})
    pos = {t: i for i, t in enumerate(labels)}
    lut = np.array([pos[t] if t is not None else -1 for t in texts] + [-1], dtype=np.int64)
    return np.take(lut, raw_codes.astype(np.intp, copy=False)), labels


def _id_problems(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions of blank response ids and of rows whose id is used more than once."""
    empty = np.empty(0, dtype=np.int64)
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        values = series.to_numpy()
        if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
            return empty, empty  # strictly increasing integers: no blanks, no duplicates, no hashing
    if isinstance(dtype, pd.StringDtype):
        # Text ids (often millions): vectorised, never a Python object per id.
        fast = _fixed_width_id_problems(series)
        if fast is not None:
            return fast
        blank_mask = (series.isna() | (series.str.strip() == "")).to_numpy(dtype=bool)
        codes, uniques = pd.factorize(series.mask(blank_mask), use_na_sentinel=True)
        codes = np.asarray(codes)
    else:
        codes, uniques = _factorize(series)
        if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
            texts = [canonical_text(u) for u in uniques] if len(uniques) <= 100_000 else None
            if texts is None:
                values = np.asarray(uniques, dtype=object)
                blank_values = np.flatnonzero((values == "") | pd.isna(values))
            else:
                blank_values = np.array([i for i, t in enumerate(texts) if t is None], dtype=np.int64)
            if len(blank_values):
                codes = np.where(np.isin(codes, blank_values), -1, codes)
    blank = np.flatnonzero(codes < 0)
    distinct = len(np.unique(codes[codes >= 0])) if len(uniques) < len(codes) else len(uniques)
    if distinct == len(codes) - len(blank):
        return blank, empty
    dup = pd.Series(codes).duplicated(keep=False).to_numpy() & (codes >= 0)
    return blank, np.flatnonzero(dup)


def _fixed_width_id_problems(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Blank and duplicated ids among text ids of one length (UUIDs, zero-padded numbers), fast.

    The bytes of each id are hashed with a random linear 64-bit hash over the Arrow buffer and the
    hashes sorted; only ids whose hashes collide are compared as text. None when the ids are not one
    Arrow buffer of equal-length, non-null strings (the caller then hashes the strings themselves).
    """
    try:
        import pyarrow as pa

        chunked = series.array.__arrow_array__()
        array = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    except (AttributeError, TypeError, ImportError):
        return None
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) or array.null_count:
        return None
    _, offsets_buffer, data_buffer = array.buffers()
    if data_buffer is None or len(array) == 0:
        return None
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset : array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    if lengths.min() != lengths.max() or lengths[0] == 0:
        return None
    width = int(lengths[0])
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(len(array), width)
    # blank = only whitespace; look closer only at ids that start with whitespace
    spaces = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)
    maybe = np.flatnonzero(np.isin(data[:, 0], spaces))
    blank = maybe[np.isin(data[maybe], spaces).all(axis=1)] if len(maybe) else np.empty(0, dtype=np.int64)
    multipliers = np.random.default_rng(0x5195).integers(1, 2**63, size=width, dtype=np.uint64) | np.uint64(1)
    hashes = np.zeros(len(array), dtype=np.uint64)
    for j in range(width):
        hashes += data[:, j].astype(np.uint64) * multipliers[j]
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated) == 0:
        return blank, np.empty(0, dtype=np.int64)
    candidates = np.flatnonzero(np.isin(hashes, repeated))
    candidates = candidates[~np.isin(candidates, blank)]
    same = series.iloc[candidates].reset_index(drop=True).duplicated(keep=False).to_numpy()
    return blank, candidates[same]


def _small(codes: np.ndarray, n_values: int) -> np.ndarray:
    """Codes in the smallest integer type that holds ``n_values`` + 2 (blank and 'not counted')."""
    if n_values + 2 <= np.iinfo(np.int8).max:
        return codes.astype(np.int8, copy=False)
    if n_values + 2 <= np.iinfo(np.int16).max:
        return codes.astype(np.int16, copy=False)
    return codes.astype(np.int32, copy=False)


def _encode(
    series: pd.Series, q: Question, choices: ChoiceList | None, kind: str, rows: RowNames
) -> tuple[ItemColumn | None, str | None]:
    if kind == "choice":
        assert choices is not None
        return _encode_choice(series, q, choices, rows)
    if kind == "multiple":
        assert choices is not None
        return _encode_multiple(series, q, choices, rows)
    if kind == "number":
        return _encode_number(series, q, rows)
    raw_codes, uniques = _factorize(series)
    texts = [canonical_text(u) for u in uniques]
    values = sorted({t for t in texts if t is not None})
    pos = {t: i for i, t in enumerate(values)}
    lut = np.array([pos[t] if t is not None else len(values) for t in texts] + [len(values)], dtype=np.int64)
    return ItemColumn(q.code, "text", _small(lut[raw_codes], len(values)), values), None


def _choice_index(choices: ChoiceList) -> dict[str, int]:
    return {c: i for i, c in enumerate(choices.codes)}


def _match_code(text: str | None, index: Mapping[str, int], numeric: bool) -> int | None:
    """The choice position of a canonical text; -1 when it is not a code; None when blank."""
    if text is None:
        return None
    if text in index:
        return index[text]
    if numeric:
        alt = _int_text(text)
        if alt is not None and alt in index:
            return index[alt]
    return -1


def _bad_message(q: Question, choices: ChoiceList, rows: RowNames, bad: np.ndarray, series: pd.Series) -> str:
    codes = ", ".join(choices.codes)
    return (
        bilingual(
            f"câu {q.code}: {len(bad)} câu trả lời không thuộc các mã {codes} của danh sách {choices.name}",
            f"item {q.code}: {len(bad)} answers are not codes of choice list {choices.name}",
        )
        + ": "
        + rows.describe(bad, series)
    )


def _encode_choice(
    series: pd.Series, q: Question, choices: ChoiceList, rows: RowNames
) -> tuple[ItemColumn | None, str | None]:
    index = _choice_index(choices)
    k = len(choices.codes)
    numeric = choices.is_numeric
    dtype = series.dtype
    out: np.ndarray
    if (
        numeric
        and pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    ):
        out = _numeric_choice_codes(series, choices)
        if out.min(initial=0) >= 0:  # every value is a code or blank: no need to look for bad ones
            return ItemColumn(q.code, "choice", _small(out, k), list(choices.codes)), None
    else:
        raw_codes, uniques = _factorize(series)
        lut = np.empty(len(uniques) + 1, dtype=np.int64)
        for j, u in enumerate(uniques):
            m = _match_code(canonical_text(u), index, numeric)
            lut[j] = k if m is None else m
        lut[-1] = k  # the missing-value sentinel -1 lands here
        out = lut[raw_codes]
    bad = np.flatnonzero(out < 0)
    if len(bad):
        return None, _bad_message(q, choices, rows, bad, series)
    return ItemColumn(q.code, "choice", _small(out, k), list(choices.codes)), None


def _numeric_choice_codes(series: pd.Series, choices: ChoiceList) -> np.ndarray:
    """Choice positions for a numeric column, without hashing (-1 = not a code, ``k`` = blank)."""
    k = len(choices.codes)
    code_ints = [int(c) for c in choices.codes]
    dtype = series.dtype
    bad: np.ndarray | None = None
    missing: np.ndarray | None = None
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        values = series.to_numpy()
    elif pd.api.types.is_integer_dtype(dtype):  # nullable Int8/Int16 …: keep the narrow integers
        array = series.array
        # The masked array's own buffers, when pandas exposes them, save two copies of a large column.
        values = getattr(array, "_data", None)
        missing = getattr(array, "_mask", None)
        if not isinstance(values, np.ndarray) or not isinstance(missing, np.ndarray):
            missing = np.asarray(array.isna())
            values = array.to_numpy(dtype=dtype.numpy_dtype, na_value=0)
    else:
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(floats)
        filled = np.where(missing, 0.0, floats)
        bad = (filled != np.floor(filled)) | (np.abs(filled) > 2**62)
        values = np.where(bad, 0.0, filled).astype(np.int64)
    if len(values) == 0:
        return np.empty(0, dtype=np.int8)
    info = np.iinfo(values.dtype)
    first = code_ints[0]
    consecutive = code_ints == list(range(first, first + k))
    if consecutive and info.min <= first and first + k - 1 <= info.max:
        # Codes 1..k in order (the usual scale): position = value - first, no table needed.
        small = values.dtype.itemsize == 1 and k + 2 <= 127 and -100 <= first <= 100
        out = values.astype(np.int8 if small else np.int64, copy=True)
        out -= first
        if values.min() < first or values.max() > first + k - 1:
            # Blanks hold arbitrary values in a masked array, so they are excluded before judging.
            outside = (values < first) | (values > first + k - 1)
            if missing is not None:
                outside &= ~missing
            if outside.any():
                out[outside] = -1
    else:
        wide = values.astype(np.int64)
        lo, hi = int(wide.min()), int(wide.max())
        if hi - lo <= 1_000_000:
            lut = np.full(hi - lo + 1, -1, dtype=np.int16 if k < 32000 else np.int64)
            for pos, ci in enumerate(code_ints):
                if lo <= ci <= hi:
                    lut[ci - lo] = pos
            out = lut[wide - lo]
        else:
            sorted_ints = np.array(sorted(code_ints), dtype=np.int64)
            order = np.argsort(np.array(code_ints, dtype=np.int64))
            idx = np.clip(np.searchsorted(sorted_ints, wide), 0, k - 1)
            out = np.where(sorted_ints[idx] == wide, order[idx], -1)
    if bad is not None and bad.any():
        out[bad] = -1
    if missing is not None:
        np.putmask(out, missing, k)
    return out


def _encode_multiple(
    series: pd.Series, q: Question, choices: ChoiceList, rows: RowNames
) -> tuple[ItemColumn | None, str | None]:
    index = _choice_index(choices)
    numeric = choices.is_numeric
    raw_codes, uniques = _factorize(series)
    values: list[str] = []
    value_pos: dict[str, int] = {}
    lut = np.empty(len(uniques) + 1, dtype=np.int64)
    for j, u in enumerate(uniques):
        text = canonical_text(u)
        if text is None:
            lut[j] = -2
            continue
        picked = []
        ok = True
        for part in _SPLIT_MULTI.split(text):
            if not part:
                continue
            m = _match_code(canonical_text(part), index, numeric)
            if m is None or m < 0:
                ok = False
                break
            picked.append(choices.codes[m])
        if not ok:
            lut[j] = -1
            continue
        canon = " ".join(dict.fromkeys(picked))
        if not canon:
            lut[j] = -2
            continue
        lut[j] = value_pos.setdefault(canon, len(values))
        if lut[j] == len(values):
            values.append(canon)
    lut[-1] = -2
    out = lut[raw_codes]
    bad = np.flatnonzero(out == -1)
    if len(bad):
        return None, _bad_message(q, choices, rows, bad, series)
    out[out == -2] = len(values)
    return ItemColumn(q.code, "multiple", _small(out, len(values)), values), None


def _encode_number(series: pd.Series, q: Question, rows: RowNames) -> tuple[ItemColumn | None, str | None]:
    dtype = series.dtype
    if (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    ):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isinf(numbers))
    else:
        raw_codes, uniques = _factorize(series)
        lut = np.empty(len(uniques) + 1, dtype=np.float64)
        bad_lut = np.zeros(len(uniques) + 1, dtype=bool)
        for j, u in enumerate(uniques):
            text = canonical_text(u)
            if text is None:
                lut[j] = np.nan
                continue
            try:
                v = (
                    _ascii_float(text.replace(",", "."))
                    if text.count(",") == 1 and "." not in text
                    else _ascii_float(text)
                )
            except ValueError:
                v = math.nan
                bad_lut[j] = True
            if not math.isfinite(v):
                bad_lut[j] = True
            lut[j] = v
        lut[-1] = np.nan
        bad_lut[-1] = False
        numbers = lut[raw_codes]
        bad = np.flatnonzero(bad_lut[raw_codes])
    if len(bad):
        return None, bilingual(
            f"câu {q.code}: {len(bad)} câu trả lời không phải là số",
            f"item {q.code}: {len(bad)} answers are not numbers",
        ) + ": " + rows.describe(bad, series)
    if q.type is QuestionType.INTEGER:
        frac = np.flatnonzero(~np.isnan(numbers) & (numbers != np.floor(numbers)))
        if len(frac):
            return None, bilingual(
                f"câu {q.code}: {len(frac)} câu trả lời không phải số nguyên",
                f"item {q.code}: {len(frac)} answers are not whole numbers",
            ) + ": " + rows.describe(frac, series)
    codes, uniques = pd.factorize(numbers, use_na_sentinel=True)
    values = [float(v) for v in uniques]
    codes = np.where(codes < 0, len(values), codes)
    return ItemColumn(q.code, "number", _small(codes, len(values)), values), None
