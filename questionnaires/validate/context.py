"""What every validation step shares: the file being checked, the warnings so far, and shape checks."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ErrorCode, LoadWarning, QuestionnaireError, WarningCode
from ..expressions import ExpressionError, parse
from ..model import Level

CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LEVEL_KEYS = {"fields": Level.FIELD, "elements": Level.ELEMENT, "criteria": Level.CRITERION}

# The keys each kind of entry may have; anything else is a typo that would otherwise be ignored silently.
KEYS = {
    "questionnaire": {
        "id", "version", "title", "description", "source", "languages", "groups", "choices", "sections",
        "scoring",
    },
    "group": {"code", "label"},
    "choice": {"code", "label"},
    "section": {"code", "label", "intro", "relevant", "groups", "questions"},
    "question": {
        "code", "type", "label", "hint", "choices", "required", "relevant", "constraint",
        "constraint_message", "appearance", "role", "groups",
    },
    "scoring": {
        "method", "valid", "positive", "scale", "values", "group_weights", "group_weighting", "points_total",
        "decimals", "min_n", "index",
    },
    "node": {"code", "label", "weight", "gate", "max_points", *LEVEL_KEYS},
    "criterion": {"code", "item", "items", "label", "weight", "gate", "max_points", "method", "values"},
}  # fmt: skip


class Context:
    """The file under validation, the warnings collected and the checks of single values."""

    def __init__(self, file: str | None):
        self.file = file
        self.warnings: list[LoadWarning] = []
        self.languages: tuple[str, ...] = ("vi",)

    def fail(self, code: ErrorCode, message: str, where: str | None = None) -> QuestionnaireError:
        """Return the error to raise, naming this file."""
        return QuestionnaireError(code, message, self.file, where)

    def warn(self, code: WarningCode, message: str, where: str | None = None) -> None:
        """Collect a warning about this file."""
        self.warnings.append(LoadWarning(code, message, self.file, where))

    def mapping(self, value: Any, where: str) -> dict:
        """Return ``value`` as a dict, or refuse it."""
        if not isinstance(value, Mapping):
            raise self.fail(ErrorCode.BAD_VALUE, f"expected a mapping, found {kind_of(value)}", where)
        return dict(value)

    def keys(self, raw: Mapping, kind: str, where: str) -> None:
        """Refuse keys this kind of entry does not have (a typo would otherwise be ignored)."""
        for key in raw:
            if key != "_where" and key not in KEYS[kind]:
                close = difflib.get_close_matches(str(key), sorted(KEYS[kind]), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(ErrorCode.BAD_VALUE, f"unknown key {key!r}{hint}", where)

    def integer(self, raw: Mapping, key: str, default: int, lo: int, hi: int, where: str) -> int:
        """Return ``raw[key]`` as a whole number from ``lo`` to ``hi``."""
        value = raw.get(key, default)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(ErrorCode.BAD_SCORING, f"'{key}' must be a whole number from {lo} to {hi}", where)
        return value

    def seq(self, value: Any, where: str, what: str) -> list:
        """Return ``value`` as a list (nothing is an empty list), or refuse it."""
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise self.fail(ErrorCode.BAD_VALUE, f"{what} must be a list, found {kind_of(value)}", where)
        return list(value)

    def text(self, raw: Mapping, key: str, where: str, required: bool = True) -> str | None:
        """Return ``raw[key]`` as stripped text, None when absent and not required."""
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(ErrorCode.MISSING_FIELD, f"'{key}' is required", where)
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(ErrorCode.BAD_VALUE, f"'{key}' must be text, found {kind_of(value)}", where)
        return str(value).strip()

    def code(self, raw: Mapping, key: str, where: str) -> str:
        """Return ``raw[key]`` as a valid name (an item, section or node code)."""
        value = self.text(raw, key, where)
        assert value is not None
        if not CODE_RE.match(value):
            raise self.fail(
                ErrorCode.BAD_CODE,
                f"{key} {value!r} is not a valid name (letters, digits and _, not starting with a digit)",
                where,
            )
        return value

    def label(self, value: Any, where: str, what: str = "label", required: bool = True) -> dict | None:
        """Return a label as ``{"vi", "en"}``; warn when a bilingual definition lacks the English."""
        if value is None or value == "":
            if required:
                raise self.fail(ErrorCode.MISSING_LABEL, f"the Vietnamese {what} (vi) is missing", where)
            return None
        if isinstance(value, str):
            value = {"vi": value}
        if not isinstance(value, Mapping):
            raise self.fail(
                ErrorCode.BAD_VALUE, f"{what} must be text or {{vi, en}}, found {kind_of(value)}", where
            )
        unknown = set(value) - {"vi", "en"}
        if unknown:
            raise self.fail(ErrorCode.BAD_VALUE, f"{what} has unknown language(s) {sorted(unknown)}", where)
        vi = value.get("vi")
        if not isinstance(vi, str) or not vi.strip():
            raise self.fail(ErrorCode.MISSING_LABEL, f"the Vietnamese {what} (vi) is missing", where)
        en = value.get("en")
        if en is not None and not isinstance(en, str):
            raise self.fail(ErrorCode.BAD_VALUE, f"English {what} must be text", where)
        en = en.strip() if isinstance(en, str) and en.strip() else None
        if en is None and "en" in self.languages:
            self.warn(WarningCode.MISSING_EN_LABEL, f"no English {what}", where)
        return {"vi": vi.strip(), "en": en}

    def expression(self, value: Any, where: str, what: str) -> str | None:
        """Return an expression's normalised text (a YAML true/false as ``true()``/``false()``)."""
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "true()" if value else "false()"
        try:
            return parse(str(value)).text
        except ExpressionError as exc:
            raise self.fail(ErrorCode.BAD_EXPRESSION, f"{what}: {exc}", where) from None

    def groups(self, value: Any, where: str, declared: set[str]) -> list[str]:
        """Return the respondent groups named by ``value`` (a list or space-separated text)."""
        if value is None or value == "":
            return []
        items = value.split() if isinstance(value, str) else self.seq(value, where, "groups")
        out = [str(g) for g in items]
        for g in out:
            if g not in declared:
                raise self.fail(
                    ErrorCode.UNKNOWN_GROUP, f"respondent group {g!r} is not declared in 'groups'", where
                )
        return out


def where_of(raw: Any, default: str) -> str:
    """Return the ``_where`` an XLSForm entry carries (``"survey row 12"``), else ``default``."""
    if isinstance(raw, Mapping) and raw.get("_where"):
        return str(raw["_where"])
    return default


def kind_of(value: Any) -> str:
    """Name the kind of a plain value for a message (``"a mapping"``, ``"text"``)."""
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def is_number(value: Any) -> bool:
    """Tell whether ``value`` is a number or text that reads as one (not true/false)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
        return True
    except ValueError:
        return False


def number_text(value: Any) -> str:
    """Return a code as text: 4 -> "4", 4.0 -> "4", "A" -> "A"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
