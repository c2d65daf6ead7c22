"""The one exception type of the questionnaires package, with its error codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """What can be wrong with a questionnaire or unit-list file. Values are stable, for scripts."""

    INVALID_FILE = "invalid-file"  # unreadable, not YAML, not an xlsx workbook
    MISSING_FIELD = "missing-field"  # a required key or column is absent
    BAD_VALUE = "bad-value"  # a value of the wrong type or outside what is allowed
    UNKNOWN_TYPE = "unknown-type"  # a question type we do not know
    DUPLICATE_ITEM = "duplicate-item"  # two questions (or sections) share a code
    BAD_CODE = "bad-code"  # an item/section/choice-list code that is not a valid name
    UNKNOWN_CHOICE_LIST = "unknown-choice-list"  # a question names a choice list that does not exist
    DUPLICATE_CHOICE = "duplicate-choice"  # a choice code repeated within one list
    MISSING_LABEL = "missing-vi-label"  # the Vietnamese label is missing or empty
    BAD_EXPRESSION = "bad-expression"  # relevant/required/constraint/gate that does not parse
    UNKNOWN_REFERENCE = "unknown-reference"  # an expression names an item that does not exist
    UNKNOWN_GROUP = "unknown-group"  # a respondent group that is not declared
    SCORING_UNKNOWN_ITEM = "scoring-unknown-item"  # a scoring criterion names a missing item
    BAD_SCORING = "bad-scoring"  # any other inconsistency in the scoring tree
    NOT_FOUND = "not-found"  # no shipped definition with that id
    UNSUPPORTED = "unsupported"  # an XLSForm feature the kiosk cannot keep (repeats, geopoint, …)

    @property
    def vi(self) -> str:
        """Return what is wrong in Vietnamese, the lead of every message with this code."""
        return _VI[self]


# The users are district staff: each message opens in Vietnamese, then gives the English detail (which
# stays as it is, so that a message can be looked up by its English text).
_VI = {
    ErrorCode.INVALID_FILE: "tệp không hợp lệ",
    ErrorCode.MISSING_FIELD: "thiếu thông tin bắt buộc",
    ErrorCode.BAD_VALUE: "giá trị không hợp lệ",
    ErrorCode.UNKNOWN_TYPE: "loại câu hỏi không được hỗ trợ",
    ErrorCode.DUPLICATE_ITEM: "mã bị trùng",
    ErrorCode.BAD_CODE: "mã không hợp lệ",
    ErrorCode.UNKNOWN_CHOICE_LIST: "không có danh sách lựa chọn này",
    ErrorCode.DUPLICATE_CHOICE: "mã lựa chọn bị trùng",
    ErrorCode.MISSING_LABEL: "thiếu nhãn tiếng Việt",
    ErrorCode.BAD_EXPRESSION: "biểu thức không hợp lệ",
    ErrorCode.UNKNOWN_REFERENCE: "biểu thức nhắc đến câu hỏi không có",
    ErrorCode.UNKNOWN_GROUP: "nhóm đối tượng chưa được khai báo",
    ErrorCode.SCORING_UNKNOWN_ITEM: "chấm điểm một câu hỏi không có",
    ErrorCode.BAD_SCORING: "cách chấm điểm không hợp lệ",
    ErrorCode.NOT_FOUND: "không tìm thấy",
    ErrorCode.UNSUPPORTED: "tính năng XLSForm chưa được hỗ trợ",
}


class WarningCode(StrEnum):
    MISSING_EN_LABEL = "missing-en-label"
    UNUSED_CHOICE_LIST = "unused-choice-list"
    UNSCORED_LIKERT = "unscored-likert"
    NO_VIETNAMESE = "no-vietnamese"  # the form has no Vietnamese texts: the kiosk shows its first language
    DEFAULTED = "defaulted"  # an XLSForm setting left out, given a default (id, version, title)
    PASSED_THROUGH = "passed-through"  # an XLSForm column kept verbatim that the kiosk does not apply
    CURLY_QUOTES = "curly-quotes"  # curly quotes in an expression read as straight ones
    IGNORED_SHEET = "ignored-sheet"  # a sheet (or settings row) that XLSForm does not read


@dataclass(frozen=True)
class LoadWarning:
    code: WarningCode
    message: str
    file: str | None = None
    where: str | None = None

    def __str__(self) -> str:
        return _line(self.file, self.where, self.message, self.code)


class QuestionnaireError(Exception):
    """A questionnaire or unit-list file that cannot be used; the message names file and item.

    One error may stand for several found together (``problems``, each a QuestionnaireError): its code,
    file and place are the first one's, and its message lists them all.
    """

    def __init__(self, code: ErrorCode, message: str, file: str | None = None, where: str | None = None):
        self.code = code
        self.reason = message
        self.file = file
        self.where = where
        self.problems: tuple[QuestionnaireError, ...] = (self,)
        super().__init__(_line(file, where, f"{code.vi} — {message}", code))

    @classmethod
    def of(cls, problems: list[QuestionnaireError], more: int = 0) -> QuestionnaireError:
        """One error standing for ``problems`` (and ``more`` not listed), or the only one itself."""
        if len(problems) == 1 and not more:
            return problems[0]
        first = problems[0]
        total = len(problems) + more
        lines = [f"{total} lỗi ({total} problems):", *(f"  {p}" for p in problems)]
        if more:
            lines.append(f"  … và {more} lỗi nữa (and {more} more)")
        error = cls(first.code, first.reason, first.file, first.where)
        error.problems = tuple(problems)
        Exception.__init__(error, "\n".join(lines))
        return error


def _line(file: str | None, where: str | None, message: str, code: StrEnum) -> str:
    parts = [p for p in (file, where) if p]
    prefix = ": ".join(parts)
    text = f"{prefix}: {message}" if prefix else message
    return f"{text} [{code.value}]"
