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
}


class WarningCode(StrEnum):
    MISSING_EN_LABEL = "missing-en-label"
    UNUSED_CHOICE_LIST = "unused-choice-list"
    UNSCORED_LIKERT = "unscored-likert"


@dataclass(frozen=True)
class LoadWarning:
    code: WarningCode
    message: str
    file: str | None = None
    where: str | None = None

    def __str__(self) -> str:
        return _line(self.file, self.where, self.message, self.code)


class QuestionnaireError(Exception):
    """A questionnaire or unit-list file that cannot be used; the message names file and item."""

    def __init__(self, code: ErrorCode, message: str, file: str | None = None, where: str | None = None):
        self.code = code
        self.reason = message
        self.file = file
        self.where = where
        super().__init__(_line(file, where, f"{code.vi} — {message}", code))


def _line(file: str | None, where: str | None, message: str, code: StrEnum) -> str:
    parts = [p for p in (file, where) if p]
    prefix = ": ".join(parts)
    text = f"{prefix}: {message}" if prefix else message
    return f"{text} [{code.value}]"
