"""Server-side validation of a respondent's answers: the server, not the tablet, decides what is stored.

:func:`validate_answers` checks a dict of answers against a questionnaire and returns the answers
*normalised* (what is stored) with a list of :class:`~survey.errors.ItemError`. The rules, in order:

0. **Bounded work.** More answer keys than the questionnaire could ever use (:func:`max_answer_keys`)
   -> one ``too_many_items`` error and nothing else is looked at; callers that answer a client list at
   most :data:`MAX_ERRORS` errors (:func:`cap_errors`), and every value echoed in a message is
   shortened (:func:`shorten`), so a small hostile body never costs a large answer.
1. **Known items only.** A key that is not an item code -> ``unknown_item``. Notes cannot be answered
   (``not_answerable``). Metadata filled by the device are accepted: ``start``/``end`` as ISO
   timestamps (normalised to ISO 8601 with offset), ``today`` as an ISO date; all three within
   :data:`EARLIEST_TIMESTAMP` and :data:`FUTURE_TOLERANCE` after now (``out_of_range`` otherwise).
2. **Type.** ``single``: a code of the question's choice list; ``4`` and ``"4"`` are the same answer and
   are stored as the string ``"4"`` (``invalid_code`` when not in the list). ``multiple``: a list of
   codes (a space-separated string is accepted, as ODK sends it), no repeats (``duplicate_code``),
   stored in the choice list's order. ``integer``: an int or an integer string (``"12"``), never a
   boolean. ``decimal``: a finite number or numeric string, stored as float. ``text``: a string of at
   most :data:`TEXT_MAX_LENGTH` characters without control characters (tabs and new lines allowed),
   stripped. ``date``: ISO ``YYYY-MM-DD``. A wrong type -> ``wrong_type``; an empty value
   (``None``, ``""``, ``[]``) means "not answered" and is left out.
   Type errors are reported whether or not the question turns out relevant: a client that sends a
   malformed value has a bug worth seeing.
3. **Relevance (skip logic)**, by :func:`questionnaires.drop_inapplicable`: a question is asked when
   its section's ``relevant`` and its own are true over the answers, and the respondent's group is
   among the section's and question's ``groups`` (empty = every group). An answer to a question that
   is not asked is **dropped** from what is stored, as ODK does: the person never saw it, so it is not
   their answer, and keeping it would let a stale value (e.g. Câu 9 service items after switching
   Câu 8 to "no") reach the scoring. Dropping can make further questions irrelevant, so relevance is
   evaluated until nothing changes. The respondent group is the ``group`` argument, else the answer
   of the ``role: group`` question among the kept answers, else the only declared group; when it is
   unknown, group-restricted questions are not relevant.
4. **Required** (``required: true`` or ``required_if``) is checked only for relevant questions,
   against the kept answers -> ``required``. Only a paper form may say "required, but left blank or
   illegible on the paper" (``blank``): such an item satisfies ``required`` and stays a missing answer.
   Kiosk and API submissions never pass ``blank``, so ``required`` binds them fully.
5. **Constraints** are evaluated with ``.`` = the value, over the kept answers -> ``constraint``,
   with the questionnaire's ``constraint_message`` when it has one.
6. **Calculates** are the server's: a value the device sends for a ``calculate`` item (any JSON scalar;
   ``wrong_type`` otherwise) is never stored. The server computes every calculate from the answers
   (:func:`questionnaires.settle`, together with the skip logic of rule 3, since relevance may read a
   calculate) and stores its own value, so a device with an old script or a wrong clock cannot change
   them. ``now()`` and ``today()`` read ``now``: the response's submission time in Vietnam
   (:func:`response_clock`; the callers pass it), the server's time when not given.
7. **Choice filters** (cascading selects): a ``single``/``multiple`` answer must be among the choices its
   ``choice_filter`` offers with the kept answers -> ``not_offered``, naming the item.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from questionnaires import (
    Question,
    Questionnaire,
    QuestionType,
    Role,
    applicable,
    offered_codes,
    respondent_group,
    settle,
)

from .errors import ItemError
from .web import VIETNAM_TZ

__all__ = [
    "EARLIEST_TIMESTAMP",
    "FUTURE_TOLERANCE",
    "ItemError",
    "MAX_ERRORS",
    "TEXT_MAX_LENGTH",
    "TimestampOutOfRange",
    "cap_errors",
    "check_blank_items",
    "has_control_characters",
    "max_answer_keys",
    "validate_answers",
    "parse_timestamp",
    "respondent_group",
    "response_clock",
    "shorten",
    "timestamp_range_text",
]

TEXT_MAX_LENGTH = 4000
_INT_LIMIT = 10**15  # beyond any count a respondent gives; keeps numbers exact in JSON and float
_INT_RE = re.compile(r"[+-]?\d+")
_DEC_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The error list a client is sent: the first MAX_ERRORS errors, then one entry saying how many more.
MAX_ERRORS = 50
# A value echoed in a message (an unknown key, a wrong code) is cut to this many characters.
SHOWN_LENGTH = 80
# The times a device may report (started_at, submitted_at, start/end, today): a local choice, not a
# standard. Nothing of this survey was filled before 2000, and a tablet clock may run a little ahead
# (time zones, a clock set by hand) but not by more than a day. Outside this range the clock is wrong
# and the form is refused with a clear 400, instead of a year-1 or year-9999 time reaching the database.
# The earliest is 1 January 2000 in the earliest time zone (UTC+14), so that it is that day anywhere:
# a paper form dated 2000-01-01 is Vietnamese midnight, 1999-12-31 17:00 UTC.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=14)))
FUTURE_TOLERANCE = timedelta(days=1)


class TimestampOutOfRange(ValueError):
    """A well-formed timestamp outside :data:`EARLIEST_TIMESTAMP` … now + :data:`FUTURE_TOLERANCE`."""


def shorten(value: Any, limit: int = SHOWN_LENGTH) -> str:
    """Return ``str(value)`` cut to ``limit`` characters (with "…"), for echoing input in a message."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def max_answer_keys(questionnaire: Questionnaire) -> int:
    """The most answer keys a submission may carry: 4 × the questionnaire's items + 50.

    Far more than any honest client sends (each item at most once, plus a few stale or misspelt keys),
    and small enough that checking them all costs next to nothing.
    """
    return 4 * sum(1 for _ in questionnaire.questions()) + 50


def cap_errors(errors: list[ItemError], limit: int = MAX_ERRORS) -> list[ItemError]:
    """Return the first ``limit`` errors, and one last entry "… và N lỗi khác" when there are more."""
    if len(errors) <= limit:
        return list(errors)
    more = len(errors) - limit
    return [
        *errors[:limit],
        ItemError(
            None,
            "more_errors",
            f"… và {more} lỗi khác (chỉ liệt kê {limit} lỗi đầu tiên).",
            f"… and {more} more errors (only the first {limit} are listed)",
        ),
    ]


class _Bad(Exception):
    def __init__(self, code: str, vi: str, en: str):
        self.code, self.vi, self.en = code, vi, en


def validate_answers(
    questionnaire: Questionnaire,
    answers: Any,
    *,
    group: str | None = None,
    blank: Collection[str] = (),
    now: datetime | None = None,
) -> tuple[dict[str, Any], list[ItemError]]:
    """Check ``answers`` against ``questionnaire``; return the normalised answers to store and the errors.

    The answers are valid when the error list is empty; then the returned dict is exactly what must
    be stored (non-relevant answers dropped, codes as strings, multiple choices in list order).
    ``blank`` (paper forms only) holds the items marked blank or illegible: they satisfy ``required``.
    ``now`` is the clock of calculations (``now()``, ``today()``); the server's, in Vietnam, by default.
    """
    errors: list[ItemError] = []
    if not isinstance(answers, Mapping):
        return {}, [
            ItemError(
                "answers",
                "wrong_type",
                "Câu trả lời phải là một đối tượng JSON {mã câu: giá trị}.",
                "answers must be a JSON object {item code: value}",
            )
        ]
    most = max_answer_keys(questionnaire)
    if len(answers) > most:
        # Refused before any key is looked at: a body like this is not a form, and listing each key
        # would turn a small request into a large answer.
        return {}, [
            ItemError(
                "answers",
                "too_many_items",
                f"Phiếu gửi lên có {len(answers)} câu trả lời, nhiều hơn mức tối đa {most} của phiếu "
                f"{questionnaire.id} {questionnaire.version}; không câu nào được xét.",
                f"answers has {len(answers)} keys, more than the {most} questionnaire "
                f"{questionnaire.id} {questionnaire.version} allows; none was checked",
            )
        ]
    questions = {q.code: q for q in questionnaire.questions()}
    values: dict[str, Any] = {}
    for key, raw in answers.items():
        if not isinstance(key, str) or key not in questions:
            shown = shorten(key)
            errors.append(
                ItemError(
                    shown,
                    "unknown_item",
                    f"Câu hỏi '{shown}' không có trong phiếu {questionnaire.id} {questionnaire.version}.",
                    f"item {shown!r} is not in questionnaire {questionnaire.id} {questionnaire.version}",
                )
            )
            continue
        question = questions[key]
        try:
            value = _normalise(questionnaire, question, raw)
        except _Bad as bad:
            errors.append(ItemError(key, bad.code, bad.vi, bad.en))
            continue
        if value is not None:
            values[key] = value

    invalid = {e.item for e in errors}  # already reported: not also "required"
    given = _given_group(questionnaire, values, group, errors)
    kept, _ = settle(questionnaire, values, given, now=now or response_clock(None))
    respondent = respondent_group(questionnaire, kept, given)

    for section in questionnaire.sections:
        for question in section.questions:
            if not question.type.is_answerable:
                continue
            code = question.code
            if code in kept and question.choice_filter is not None:
                error = _not_offered(questionnaire, question, kept)
                if error is not None:
                    errors.append(error)
                    continue
            if code in kept:
                if question.constraint is not None and not question.constraint.truthy(kept, kept[code]):
                    msg = question.constraint_message
                    errors.append(
                        ItemError(
                            code,
                            "constraint",
                            msg.vi
                            if msg
                            else f"Giá trị của câu '{code}' không thỏa điều kiện {question.constraint}.",
                            (
                                msg.en
                                if msg and msg.en
                                else f"value fails the constraint {question.constraint}"
                            ),
                        )
                    )
            elif (
                code not in invalid
                and code not in blank
                and applicable(section, question, kept, respondent)
                and question.is_required(kept)
            ):
                errors.append(
                    ItemError(
                        code,
                        "required",
                        f"Câu '{question.label.vi}' bắt buộc trả lời.",
                        f"item {code!r} is required",
                    )
                )
    return kept, errors


def check_blank_items(
    questionnaire: Questionnaire, kept: Mapping[str, Any], blank: Any, *, group: str | None = None
) -> tuple[list[str], list[ItemError]]:
    """Check the items a paper form marks blank or illegible; return them (asked ones, in order) and errors.

    A mark names an answerable item of the questionnaire and has no answer beside it (``answered_blank``:
    the clerk must choose one). A mark on a question that is not asked is dropped, like its answer.
    """
    if blank is None:
        return [], []
    if isinstance(blank, str) or not isinstance(blank, Collection):
        return [], [
            ItemError(
                "blank_items",
                "wrong_type",
                "Danh sách câu để trống phải là danh sách mã câu.",
                "blank_items must be a list of item codes",
            )
        ]
    questions = {q.code: q for q in questionnaire.questions()}
    errors: list[ItemError] = []
    marked: set[str] = set()
    for code in blank:
        question = questions.get(code) if isinstance(code, str) else None
        if question is None or not question.type.is_answerable:
            errors.append(
                ItemError(
                    shorten(code),
                    "unknown_item",
                    f"Câu '{shorten(code)}' không có trong phiếu nên không đánh dấu để trống được.",
                    f"item {shorten(code)!r} cannot be marked blank",
                )
            )
        elif code in kept:
            errors.append(
                ItemError(
                    code,
                    "answered_blank",
                    "Câu này vừa có câu trả lời vừa được đánh dấu “để trống / không đọc được”: "
                    "xin bỏ một trong hai.",
                    f"item {code!r} has an answer and is marked blank",
                )
            )
        else:
            marked.add(code)
    respondent = respondent_group(questionnaire, kept, group)
    asked = [
        q.code
        for section in questionnaire.sections
        for q in section.questions
        if q.code in marked and applicable(section, q, kept, respondent)
    ]
    return asked, errors


def response_clock(submitted_at: datetime | None) -> datetime:
    """The clock of a response's calculations: when it was submitted (now if unknown), in Vietnam time."""
    stamp = submitted_at or datetime.now(UTC)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(VIETNAM_TZ)


def has_control_characters(text: str, allowed: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether ``text`` has control characters (NUL included) or lone surrogates, ``allowed`` aside.

    Neither belongs in anything a person typed; PostgreSQL refuses NUL in text and UTF-8 cannot encode
    a lone surrogate (which JSON's ``\\ud800`` escapes can produce).
    """
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in text)


def parse_timestamp(value: Any, *, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive = UTC) into an aware UTC datetime.

    Raises ``ValueError`` for anything else, and :class:`TimestampOutOfRange` (a ``ValueError``) for a
    time before :data:`EARLIEST_TIMESTAMP` or more than :data:`FUTURE_TOLERANCE` after ``now``.
    """
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str) and 10 <= len(value.strip()) <= 40 and value.strip().isprintable():
        # isprintable: CPython's fromisoformat stops at a NUL, so "…08:00\x00junk" would pass.
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {shorten(value)!r}") from None
        if not re.match(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"not an ISO 8601 timestamp: {shorten(value)!r}")
    else:
        raise ValueError(f"not an ISO 8601 timestamp: {shorten(value)!r}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    try:
        stamp = stamp.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        raise TimestampOutOfRange(f"timestamp out of range: {shorten(value)!r}") from None
    latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
    if not EARLIEST_TIMESTAMP <= stamp <= latest:
        raise TimestampOutOfRange(f"timestamp out of range: {shorten(value)!r}")
    return stamp


def timestamp_range_text() -> tuple[str, str]:
    """The accepted range of device times, in Vietnamese and in English, for error messages."""
    days = FUTURE_TOLERANCE.days
    earliest = EARLIEST_TIMESTAMP.date().isoformat()
    return (
        f"từ {earliest} đến không quá {days} ngày sau thời điểm hiện tại; đồng hồ của máy có thể bị sai",
        f"between {earliest} and {days} day(s) after now; the device's clock may be wrong",
    )


# --------------------------------------------------------------------------------------- internals
def _given_group(
    questionnaire: Questionnaire, values: Mapping[str, Any], group: str | None, errors: list[ItemError]
) -> str | None:
    """Return the respondent group given with the response when it is acceptable; report it otherwise."""
    declared = {g.code for g in questionnaire.groups}
    if group is not None and not declared and not _GROUP_RE.fullmatch(str(group)):
        errors.append(
            ItemError(
                "group",
                "wrong_type",
                "Nhóm người trả lời phải là một mã ngắn.",
                "the respondent group must be a short code",
            )
        )
        return None
    if group is not None and declared and group not in declared:
        errors.append(
            ItemError(
                "group",
                "invalid_code",
                f"Nhóm người trả lời '{shorten(group)}' không có trong phiếu "
                f"(có: {', '.join(sorted(declared))}).",
                f"respondent group {shorten(group)!r} is not declared (known: {', '.join(sorted(declared))})",
            )
        )
        return None
    item = questionnaire.role_item(Role.GROUP)
    if group is not None and item is not None and item.code in values and values[item.code] != group:
        errors.append(
            ItemError(
                item.code,
                "mismatch",
                f"Nhóm người trả lời '{shorten(group)}' khác với câu trả lời '{values[item.code]}'.",
                f"respondent group {shorten(group)!r} differs from the answer {values[item.code]!r}",
            )
        )
    return group


def _not_offered(
    questionnaire: Questionnaire, question: Question, kept: Mapping[str, Any]
) -> ItemError | None:
    """The error for a choice answer its choice filter does not offer with these answers, or None."""
    value = kept[question.code]
    chosen = value if isinstance(value, list) else [value]
    offered = set(offered_codes(questionnaire, question, kept))
    refused = [code for code in chosen if code not in offered]
    if not refused:
        return None
    shown = ", ".join(shorten(code) for code in refused)
    return ItemError(
        question.code,
        "not_offered",
        f"Lựa chọn '{shown}' của câu '{question.label.vi}' ({question.code}) không có trong danh sách "
        "được đưa ra theo các câu trả lời trước đó; xin chọn lại.",
        f"choice {shown!r} of item {question.code!r} is not offered by its choice filter "
        f"{question.choice_filter} with these answers",
    )


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "") or (isinstance(raw, list) and not raw)


def _normalise(questionnaire: Questionnaire, question: Question, raw: Any) -> Any:
    """Return the stored form of one answer, ``None`` for "not answered"; raise ``_Bad`` otherwise."""
    qtype = question.type
    if qtype is QuestionType.NOTE:
        raise _Bad(
            "not_answerable",
            f"Câu '{question.code}' là lời dẫn, không có câu trả lời.",
            "a note cannot be answered",
        )
    if qtype is QuestionType.CALCULATE:
        if isinstance(raw, Mapping | list | tuple):
            raise _Bad(
                "wrong_type",
                f"Câu '{question.code}' là giá trị tính toán, chỉ nhận một giá trị đơn.",
                "a calculate takes a single value",
            )
        return None  # computed by the server (rule 6), whatever the device sent
    if _empty(raw):
        return None
    if qtype in (QuestionType.START, QuestionType.END):
        try:
            return parse_timestamp(raw).isoformat()
        except TimestampOutOfRange:
            raise _out_of_range(question) from None
        except ValueError:
            raise _Bad(
                "wrong_type",
                f"Câu '{question.code}' cần thời điểm dạng ISO 8601.",
                "expected an ISO 8601 timestamp",
            ) from None
    if qtype is QuestionType.TODAY:
        day = _date(question, raw)
        latest = (datetime.now(UTC) + FUTURE_TOLERANCE).date()
        if not EARLIEST_TIMESTAMP.date() <= date.fromisoformat(day) <= latest:
            raise _out_of_range(question)
        return day
    if qtype is QuestionType.DATE:
        return _date(question, raw)
    if qtype is QuestionType.SINGLE:
        code = _code(raw)
        if code is None:
            raise _Bad(
                "wrong_type", f"Câu '{question.code}' cần một mã lựa chọn.", "expected one choice code"
            )
        _check_code(questionnaire, question, code)
        return code
    if qtype is QuestionType.MULTIPLE:
        return _multiple(questionnaire, question, raw)
    if qtype is QuestionType.INTEGER:
        return _integer(question, raw)
    if qtype is QuestionType.DECIMAL:
        return _decimal(question, raw)
    if qtype is QuestionType.TEXT:
        return _text(question, raw)
    raise AssertionError(qtype)  # pragma: no cover - QuestionType has no other member


def _out_of_range(question: Question) -> _Bad:
    vi, en = timestamp_range_text()
    return _Bad("out_of_range", f"Thời điểm ở câu '{question.code}' phải {vi}.", f"the time must be {en}")


def _code(raw: Any) -> str | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        return str(int(raw))
    return None


def _check_code(questionnaire: Questionnaire, question: Question, code: str) -> None:
    choice_list = questionnaire.choice_list(question)
    codes = choice_list.codes if choice_list else ()
    if code not in codes:
        shown = ", ".join(codes[:12]) + (" …" if len(codes) > 12 else "")
        raise _Bad(
            "invalid_code",
            f"Mã '{shorten(code)}' không thuộc các lựa chọn của câu '{question.code}' ({shown}).",
            f"code {shorten(code)!r} is not one of the choices ({shown})",
        )


def _multiple(questionnaire: Questionnaire, question: Question, raw: Any) -> list[str] | None:
    items = raw.split() if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise _Bad(
            "wrong_type", f"Câu '{question.code}' cần danh sách mã lựa chọn.", "expected a list of codes"
        )
    codes: list[str] = []
    for item in items:
        code = _code(item)
        if not code:
            raise _Bad(
                "wrong_type", f"Câu '{question.code}' cần danh sách mã lựa chọn.", "expected a list of codes"
            )
        if code in codes:
            raise _Bad(
                "duplicate_code",
                f"Mã '{code}' được chọn hai lần ở câu '{question.code}'.",
                f"code {code!r} is chosen twice",
            )
        _check_code(questionnaire, question, code)
        codes.append(code)
    if not codes:
        return None
    choice_list = questionnaire.choice_list(question)
    order = {c: i for i, c in enumerate(choice_list.codes)} if choice_list else {}
    return sorted(codes, key=lambda c: order.get(c, len(order)))


def _integer(question: Question, raw: Any) -> int:
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and _INT_RE.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None or abs(value) >= _INT_LIMIT:
        raise _Bad("wrong_type", f"Câu '{question.code}' cần một số nguyên.", "expected an integer")
    return value


def _decimal(question: Question, raw: Any) -> float:
    value: float | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str) and _DEC_RE.fullmatch(raw.strip()):
        value = float(raw.strip())
    if value is None or not math.isfinite(value) or abs(value) >= _INT_LIMIT:
        raise _Bad("wrong_type", f"Câu '{question.code}' cần một số.", "expected a number")
    return value


def _text(question: Question, raw: Any) -> str | None:
    if not isinstance(raw, str):
        raise _Bad("wrong_type", f"Câu '{question.code}' cần một đoạn văn bản.", "expected text")
    # NFC: the same Vietnamese word typed on two keyboards is the same text (and the same hash).
    text = unicodedata.normalize("NFC", raw.strip())
    if has_control_characters(text, allowed=_ALLOWED_CONTROLS):
        raise _Bad(
            "wrong_type",
            f"Câu '{question.code}' chứa ký tự điều khiển không hợp lệ.",
            "text contains control characters",
        )
    if len(text) > TEXT_MAX_LENGTH:
        raise _Bad(
            "too_long",
            f"Câu '{question.code}' dài quá {TEXT_MAX_LENGTH} ký tự.",
            f"text is longer than {TEXT_MAX_LENGTH} characters",
        )
    return text or None


def _date(question: Question, raw: Any) -> str:
    if isinstance(raw, str) and _DATE_RE.fullmatch(raw.strip()):
        try:
            return date.fromisoformat(raw.strip()).isoformat()
        except ValueError:
            pass
    raise _Bad("wrong_type", f"Câu '{question.code}' cần ngày dạng YYYY-MM-DD.", "expected a date YYYY-MM-DD")
