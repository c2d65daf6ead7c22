"""What every validation step shares: the file being checked, the warnings so far, and shape checks."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ErrorCode, LoadWarning, QuestionnaireError, WarningCode
from ..expressions import ExpressionError, parse, parse_choice_filter
from ..model import LANGUAGE_NAMES, Level

CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# XLSForm names may also hold '-' and '.' after the first character (pyxform's XML name rule, ASCII).
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# What ODK Collect plays, and what the toolkit's normaliser reads.
AUDIO_SUFFIXES = (".mp3", ".ogg", ".opus", ".oga", ".wav", ".m4a", ".aac", ".webm", ".amr", ".3gp", ".flac")
MAX_ERRORS = 50  # problems listed in one message; the count of the rest follows
LEVEL_KEYS = {"fields": Level.FIELD, "elements": Level.ELEMENT, "criteria": Level.CRITERION}

# The keys each kind of entry may have; anything else is a typo that would otherwise be ignored silently.
KEYS = {
    "questionnaire": {
        "id", "version", "title", "description", "source", "languages", "groups", "choices", "sections",
        "scoring", "language_names", "default_language", "settings",
    },
    "group": {"code", "label"},
    "choice": {"code", "label", "extra", "audio"},
    "choice_file": {"file", "choices"},
    "section": {
        "code", "label", "intro", "relevant", "groups", "questions", "appearance", "wrapped", "extra",
        "audio",
    },
    "question": {
        "code", "type", "label", "hint", "choices", "required", "relevant", "constraint",
        "constraint_message", "appearance", "role", "groups", "calculation", "default", "choice_filter",
        "guidance_hint", "required_message", "read_only", "extra", "audio",
    },
    "scoring": {
        "method", "valid", "positive", "scale", "values", "group_weights", "group_weighting", "points_total",
        "unasked_stratum", "decimals", "min_n", "index",
    },
    "node": {"code", "label", "weight", "gate", "max_points", *LEVEL_KEYS},
    "criterion": {"code", "item", "items", "label", "weight", "gate", "max_points", "method", "values"},
}  # fmt: skip


class Context:
    """The file under validation, the warnings collected and the checks of single values."""

    def __init__(self, file: str | None):
        self.file = file
        self.warnings: list[LoadWarning] = []
        self.errors: list[QuestionnaireError] = []
        self.skipped: set[str] = set()  # items refused earlier: references to them are not errors again
        self.languages: tuple[str, ...] = ("vi",)
        self.default_language: str | None = None
        self.choice_lists: dict[str, list[dict]] = {}  # normalised, once read
        self.base_dir: Path | None = None  # the definition's folder: audio files are looked up there
        self.language_names: dict[str, str] = {}  # how XLSForm columns name each language
        self.from_xlsform = False

    def fail(self, code: ErrorCode, message: str, where: str | None = None) -> QuestionnaireError:
        """Return the error to raise, naming this file."""
        return QuestionnaireError(code, message, self.file, where)

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """Run one entry's checks; an error is noted and the checks of the next entry go on."""
        try:
            yield
        except QuestionnaireError as exc:
            self.errors.extend(exc.problems)

    def raise_errors(self) -> None:
        """Raise every error noted so far, together (at most MAX_ERRORS listed)."""
        if self.errors:
            listed = self.errors[:MAX_ERRORS]
            raise QuestionnaireError.of(listed, more=len(self.errors) - len(listed))

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
            if not str(key).startswith("_") and key not in KEYS[kind]:
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

    def audio(self, value: Any, where: str) -> dict[str, str]:
        """Return the spoken prompt files ``{language: file}``: relative paths, in a known language, with
        an audio suffix, and (when the definition's folder is known) files that exist there."""
        if value is None or value == {}:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(
                ErrorCode.BAD_VALUE, f"audio must be {{language: file}}, found {kind_of(value)}", where
            )
        out: dict[str, str] = {}
        for lang, file in value.items():
            lang = str(lang)
            column = self.audio_column(lang)
            at = f"{where}, column {column!r}" if self.from_xlsform else f"{where}, audio {lang}"
            if lang not in self.languages:
                raise self.fail(
                    ErrorCode.BAD_VALUE,
                    f"audio in unknown language {lang!r}; the form's languages are {list(self.languages)}",
                    at,
                )
            if file is None or str(file).strip() == "":
                continue
            if isinstance(file, bool) or not isinstance(file, str):
                raise self.fail(
                    ErrorCode.BAD_VALUE, f"an audio file must be a file name, found {kind_of(file)}", at
                )
            name = file.strip()
            pure = PurePosixPath(name.replace("\\", "/"))
            if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name) or "://" in name:
                raise self.fail(
                    ErrorCode.BAD_VALUE,
                    f"audio file {name!r} must be a path relative to the definition's folder (no '..', "
                    "no drive, no address)",
                    at,
                )
            if pure.suffix.lower() not in AUDIO_SUFFIXES:
                raise self.fail(
                    ErrorCode.BAD_VALUE,
                    f"audio file {name!r} is not an audio file (expected {', '.join(AUDIO_SUFFIXES)})",
                    at,
                )
            if self.base_dir is not None and not (self.base_dir / pure).is_file():
                raise self.fail(
                    ErrorCode.INVALID_FILE,
                    f"không tìm thấy tệp âm thanh {name!r} (audio file not found in {self.base_dir})",
                    at,
                )
            out[lang] = str(pure)
        return out

    def audio_column(self, lang: str) -> str:
        """The XLSForm column of the audio in ``lang`` (``media::audio::Tiếng Việt (vi)``)."""
        name = self.language_names.get(lang, LANGUAGE_NAMES.get(lang, lang))
        return f"media::audio::{name}" if name else "media::audio"

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
        """Return a label as ``{language: text}`` in the questionnaire's language order.

        Text alone is in the first language. Where Vietnamese is the first language it is required;
        otherwise a required label needs a text in some language. A bilingual definition without the
        English text gets a warning.
        """
        primary = self.languages[0]
        if value is None or value == "":
            if required:
                raise self.fail(ErrorCode.MISSING_LABEL, self.missing(what), where)
            return None
        if isinstance(value, str):
            value = {primary: value}
        if not isinstance(value, Mapping):
            raise self.fail(
                ErrorCode.BAD_VALUE,
                f"{what} must be text or {{language: text}}, found {kind_of(value)}",
                where,
            )
        unknown = [str(k) for k in value if k not in self.languages]
        if unknown:
            raise self.fail(
                ErrorCode.BAD_VALUE,
                f"{what} has unknown language(s) {sorted(unknown)}; the form's languages are "
                f"{list(self.languages)}",
                where,
            )
        out: dict[str, str] = {}
        for lang in self.languages:
            text = value.get(lang)
            if text is None:
                continue
            if not isinstance(text, (str, int, float)) or isinstance(text, bool):
                raise self.fail(ErrorCode.BAD_VALUE, f"{what} ({lang}) must be text", where)
            if str(text).strip():
                out[lang] = str(text).strip()
        if not out or (primary == "vi" and "vi" not in out):
            if required or out:
                raise self.fail(ErrorCode.MISSING_LABEL, self.missing(what), where)
            return None
        if "en" in self.languages and "en" not in out and primary == "vi":
            self.warn(WarningCode.MISSING_EN_LABEL, f"no English {what}", where)
        return out

    def missing(self, what: str) -> str:
        if self.languages[0] == "vi":
            return f"the Vietnamese {what} (vi) is missing"
        return f"the {what} is missing (in every language: {', '.join(self.languages)})"

    def expression(self, value: Any, where: str, what: str) -> str | None:
        """Return an expression's normalised text (a YAML true/false as ``true()``/``false()``)."""
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "true()" if value else "false()"
        try:
            if what == "choice_filter":
                return parse_choice_filter(str(value)).text
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
