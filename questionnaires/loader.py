"""Load questionnaires and unit lists in three stages: read -> validate/normalise -> build.

* **read** turns a file into plain data (dicts and lists) without judging it: YAML here, XLSForm
  ``.xlsx`` in :mod:`questionnaires.xlsform`. Entries read from a sheet carry ``_where``
  (``"survey row 12"``) so that later messages can point at the row.
* **validate** checks that plain data against the rules below and returns it normalised (labels as
  ``{"vi", "en"}``, defaults filled in), plus the warnings it collected.
* **build** turns normalised data into the frozen dataclasses of :mod:`questionnaires.model`.

Every problem a user can cause raises :class:`~questionnaires.errors.QuestionnaireError`, whose
message names the file, the item and what is wrong.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import ErrorCode, LoadWarning, QuestionnaireError, WarningCode
from .expressions import Expression, ExpressionError, parse
from .model import (
    Choice,
    ChoiceList,
    Label,
    Level,
    Method,
    Question,
    Questionnaire,
    QuestionType,
    RespondentGroup,
    Role,
    ScoreNode,
    Scoring,
    Section,
    Unit,
    UnitList,
)

PACKAGE_DIR = Path(__file__).resolve().parent
DEFINITIONS_DIR = PACKAGE_DIR / "definitions"
UNITS_DIR = PACKAGE_DIR / "units"
EXTRA_PATH_ENV = "SIPAS_QUESTIONNAIRE_PATH"  # extra folders of definitions, os.pathsep-separated

CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UNIT_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LEVEL_KEYS = {"fields": Level.FIELD, "elements": Level.ELEMENT, "criteria": Level.CRITERION}

# The keys each kind of entry may have; anything else is a typo that would otherwise be ignored silently.
_KEYS = {
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
        "method", "valid", "positive", "scale", "values", "group_weights", "decimals", "min_n", "index",
    },
    "node": {"code", "label", "weight", "gate", "max_points", *_LEVEL_KEYS},
    "criterion": {"code", "item", "items", "label", "weight", "gate", "max_points", "method", "values"},
}  # fmt: skip


@dataclass
class LoadResult:
    questionnaire: Questionnaire
    warnings: list[LoadWarning] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- read
def read_yaml(path: str | Path) -> Any:
    """Read a YAML file into plain data; a file that is not valid YAML raises INVALID_FILE."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, "file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"cannot read file: {exc}", str(path)) from None
    try:
        return yaml.safe_load(text)
    except RecursionError:  # e.g. "[[[[…" thousands deep: PyYAML's composer recurses per level
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE, "not valid YAML: nested too deeply", str(path)
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise QuestionnaireError(
            ErrorCode.INVALID_FILE, f"not valid YAML: {problem}", str(path), where
        ) from None


def read(path: str | Path) -> Any:
    """Read a definition file of any supported format into plain data."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return read_yaml(path)
    if suffix == ".xlsx":
        from .xlsform import read_xlsform

        return read_xlsform(path)
    raise QuestionnaireError(
        ErrorCode.INVALID_FILE, f"unsupported file type {suffix or '(none)'}; use .yaml or .xlsx", str(path)
    )


# ------------------------------------------------------------------------------------------ validate
class _Validator:
    def __init__(self, file: str | None):
        self.file = file
        self.warnings: list[LoadWarning] = []
        self.languages: tuple[str, ...] = ("vi",)

    def fail(self, code: ErrorCode, message: str, where: str | None = None) -> QuestionnaireError:
        return QuestionnaireError(code, message, self.file, where)

    def warn(self, code: WarningCode, message: str, where: str | None = None) -> None:
        self.warnings.append(LoadWarning(code, message, self.file, where))

    # -- small helpers
    def mapping(self, value: Any, where: str) -> dict:
        if not isinstance(value, Mapping):
            raise self.fail(ErrorCode.BAD_VALUE, f"expected a mapping, found {_kind(value)}", where)
        return dict(value)

    def keys(self, raw: Mapping, kind: str, where: str) -> None:
        """Refuse keys this kind of entry does not have (a typo would otherwise be ignored)."""
        for key in raw:
            if key != "_where" and key not in _KEYS[kind]:
                close = difflib.get_close_matches(str(key), sorted(_KEYS[kind]), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(ErrorCode.BAD_VALUE, f"unknown key {key!r}{hint}", where)

    def integer(self, raw: Mapping, key: str, default: int, lo: int, hi: int, where: str) -> int:
        value = raw.get(key, default)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(ErrorCode.BAD_SCORING, f"'{key}' must be a whole number from {lo} to {hi}", where)
        return value

    def seq(self, value: Any, where: str, what: str) -> list:
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise self.fail(ErrorCode.BAD_VALUE, f"{what} must be a list, found {_kind(value)}", where)
        return list(value)

    def text(self, raw: Mapping, key: str, where: str, required: bool = True) -> str | None:
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(ErrorCode.MISSING_FIELD, f"'{key}' is required", where)
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(ErrorCode.BAD_VALUE, f"'{key}' must be text, found {_kind(value)}", where)
        return str(value).strip()

    def code(self, raw: Mapping, key: str, where: str) -> str:
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
        if value is None or value == "":
            if required:
                raise self.fail(ErrorCode.MISSING_LABEL, f"the Vietnamese {what} (vi) is missing", where)
            return None
        if isinstance(value, str):
            value = {"vi": value}
        if not isinstance(value, Mapping):
            raise self.fail(
                ErrorCode.BAD_VALUE, f"{what} must be text or {{vi, en}}, found {_kind(value)}", where
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
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "true()" if value else "false()"
        try:
            return parse(str(value)).text
        except ExpressionError as exc:
            raise self.fail(ErrorCode.BAD_EXPRESSION, f"{what}: {exc}", where) from None

    def groups(self, value: Any, where: str, declared: set[str]) -> list[str]:
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

    # -- the questionnaire
    def questionnaire(self, raw: Any) -> dict:
        if raw is None:
            raise self.fail(ErrorCode.INVALID_FILE, "the file is empty")
        raw = self.mapping(raw, "top level")
        self.keys(raw, "questionnaire", "top level")
        where = "top level"
        out: dict[str, Any] = {}
        out["id"] = self.text(raw, "id", where)
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", out["id"]):
            raise self.fail(
                ErrorCode.BAD_CODE, f"id {out['id']!r} must be lower-case letters, digits, - or _", where
            )
        out["version"] = self.text(raw, "version", where)
        langs = raw.get("languages") or ["vi"]
        langs = langs.split() if isinstance(langs, str) else self.seq(langs, where, "languages")
        if "vi" not in langs:
            raise self.fail(ErrorCode.BAD_VALUE, "languages must include 'vi'", where)
        bad = [lang for lang in langs if lang not in ("vi", "en")]
        if bad:
            raise self.fail(ErrorCode.BAD_VALUE, f"unsupported language(s) {bad}; use vi and en", where)
        self.languages = tuple(langs)
        out["languages"] = list(langs)
        out["title"] = self.label(raw.get("title"), where, "title")
        out["description"] = self.label(raw.get("description"), where, "description", required=False)
        out["source"] = self.text(raw, "source", where, required=False)

        out["groups"] = []
        group_codes: set[str] = set()
        for i, g in enumerate(self.seq(raw.get("groups"), where, "groups")):
            gw = _where(g, f"groups[{i}]")
            g = self.mapping(g, gw)
            code = self.code(g, "code", gw)
            gw = _where(g, f"group {code}")
            self.keys(g, "group", gw)
            if code in group_codes:
                raise self.fail(ErrorCode.DUPLICATE_ITEM, f"respondent group {code!r} is declared twice", gw)
            group_codes.add(code)
            out["groups"].append({"code": code, "label": self.label(g.get("label"), gw)})

        out["choices"] = {}
        raw_choices = raw.get("choices") or {}
        if not isinstance(raw_choices, Mapping):
            raise self.fail(ErrorCode.BAD_VALUE, "'choices' must map list names to lists of choices", where)
        for name, items in raw_choices.items():
            name = str(name)
            lw = f"choice list {name}"
            if not CODE_RE.match(name):
                raise self.fail(ErrorCode.BAD_CODE, f"choice list name {name!r} is not a valid name", lw)
            seen: set[str] = set()
            choices = []
            items = self.seq(items, lw, "a choice list")
            if not items:
                raise self.fail(ErrorCode.BAD_VALUE, "the choice list is empty", lw)
            for j, c in enumerate(items):
                cw = _where(c, f"{lw}, choice {j + 1}")
                c = self.mapping(c, cw)
                code = self.text(c, "code", cw)
                if _is_number(c.get("code")):
                    code = _number_text(c["code"])
                cw = _where(c, f"{lw}, choice {code}")
                self.keys(c, "choice", cw)
                if code in seen:
                    raise self.fail(ErrorCode.DUPLICATE_CHOICE, f"choice code {code!r} appears twice", cw)
                seen.add(code)
                choices.append({"code": code, "label": self.label(c.get("label"), cw)})
            out["choices"][name] = choices

        out["sections"] = []
        item_where: dict[str, str] = {}
        section_where: list[str] = []
        section_codes: set[str] = set()
        sections = self.seq(raw.get("sections"), where, "sections")
        if not sections:
            raise self.fail(ErrorCode.MISSING_FIELD, "'sections' is required and must not be empty", where)
        for i, s in enumerate(sections):
            sw0 = _where(s, f"sections[{i}]")
            s = self.mapping(s, sw0)
            scode = self.code(s, "code", sw0)
            sw = _where(s, f"section {scode}")
            self.keys(s, "section", sw)
            if scode in section_codes:
                raise self.fail(ErrorCode.DUPLICATE_ITEM, f"section code {scode!r} is used twice", sw)
            if scode in item_where:
                raise self.fail(
                    ErrorCode.DUPLICATE_ITEM,
                    f"section code {scode!r} is also an item code (at {item_where[scode]})",
                    sw,
                )
            section_codes.add(scode)
            section_where.append(sw)
            sec = {
                "code": scode,
                "label": self.label(s.get("label"), sw),
                "intro": self.label(s.get("intro"), sw, "intro", required=False),
                "relevant": self.expression(s.get("relevant"), sw, "relevant"),
                "groups": self.groups(s.get("groups"), sw, group_codes),
                "questions": [],
            }
            questions = self.seq(s.get("questions"), sw, "questions")
            if not questions:
                raise self.fail(ErrorCode.MISSING_FIELD, "a section needs at least one question", sw)
            for j, q in enumerate(questions):
                qw0 = _where(q, f"{sw}, question {j + 1}")
                q = self.mapping(q, qw0)
                qcode = self.code(q, "code", qw0)
                qw = _where(q, f"item {qcode}")
                self.keys(q, "question", qw)
                if qcode in item_where or qcode in section_codes:
                    also = item_where.get(qcode) or f"section {qcode}"
                    raise self.fail(
                        ErrorCode.DUPLICATE_ITEM, f"item code {qcode!r} is used twice (also at {also})", qw
                    )
                item_where[qcode] = qw
                question = self.question(q, qcode, qw, out["choices"], group_codes)
                if sec["groups"] and not set(question["groups"]) <= set(sec["groups"]):
                    raise self.fail(
                        ErrorCode.UNKNOWN_GROUP,
                        f"groups {question['groups']} are not among its section's groups {sec['groups']}",
                        qw,
                    )
                sec["questions"].append(question)
            out["sections"].append(sec)

        items = {q["code"]: q for s in out["sections"] for q in s["questions"]}
        # Expressions may only name items that exist; only a constraint may read "." (its own value).
        for s, sw in zip(out["sections"], section_where, strict=True):
            self.check_refs(s.get("relevant"), items, sw, "relevant")
            for q in s["questions"]:
                for key in ("relevant", "constraint", "required_if"):
                    self.check_refs(
                        q.get(key),
                        items,
                        item_where[q["code"]],
                        key,
                        q["code"],
                        allow_current=key == "constraint",
                    )

        used = {q["choices"] for q in items.values() if q.get("choices")}
        for name in out["choices"]:
            if name not in used:
                self.warn(
                    WarningCode.UNUSED_CHOICE_LIST, "no question uses this choice list", f"choice list {name}"
                )

        role_items: dict[str, str] = {}
        for q in items.values():
            role = q.get("role")
            if not role:
                continue
            if role in role_items:
                raise self.fail(
                    ErrorCode.BAD_VALUE,
                    f"more than one question has role {role!r} (also {role_items[role]!r})",
                    item_where[q["code"]],
                )
            role_items[role] = q["code"]
            if role == Role.GROUP.value:
                for code in (c["code"] for c in out["choices"][q["choices"]]):
                    if code not in group_codes:
                        raise self.fail(
                            ErrorCode.UNKNOWN_GROUP,
                            f"option {code!r} of the respondent-group question is not declared in 'groups'",
                            item_where[q["code"]],
                        )
        restricted = [s["code"] for s in out["sections"] if s["groups"]] + [
            q["code"] for q in items.values() if q["groups"]
        ]
        if restricted and Role.GROUP.value not in role_items:
            raise self.fail(
                ErrorCode.UNKNOWN_GROUP,
                f"{restricted[0]!r} is shown to some respondent groups only, "
                "but no question has role 'group'",
                item_where.get(restricted[0], f"section {restricted[0]}"),
            )

        out["scoring"] = (
            self.scoring(raw["scoring"], items, out["choices"], group_codes) if raw.get("scoring") else None
        )
        return out

    def question(self, q: dict, code: str, where: str, choices: dict, group_codes: set[str]) -> dict:
        raw_type = self.text(q, "type", where)
        try:
            qtype = QuestionType(raw_type)
        except ValueError:
            raise self.fail(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown question type {raw_type!r}; use one of {', '.join(t.value for t in QuestionType)}",
                where,
            ) from None
        out: dict[str, Any] = {"code": code, "type": qtype.value}
        if qtype.is_metadata:
            out["label"] = self.label(q.get("label") or {"vi": code, "en": code}, where)
        else:
            out["label"] = self.label(q.get("label"), where)
        out["hint"] = self.label(q.get("hint"), where, "hint", required=False)
        if qtype.has_choices:
            name = self.text(q, "choices", where)
            if name not in choices:
                raise self.fail(ErrorCode.UNKNOWN_CHOICE_LIST, f"choice list {name!r} does not exist", where)
            out["choices"] = name
        elif q.get("choices"):
            raise self.fail(ErrorCode.BAD_VALUE, f"a {qtype.value} question cannot have choices", where)
        else:
            out["choices"] = None
        req = q.get("required", False)
        if isinstance(req, str) and req.strip().lower() in ("yes", "true", "true()"):
            req = True
        elif isinstance(req, str) and req.strip().lower() in ("no", "false", "false()", ""):
            req = False
        if isinstance(req, bool):
            out["required"], out["required_if"] = req, None
        else:
            out["required"], out["required_if"] = False, self.expression(req, where, "required")
        if (out["required"] or out["required_if"]) and not qtype.is_answerable:
            raise self.fail(ErrorCode.BAD_VALUE, f"a {qtype.value} question cannot be required", where)
        out["relevant"] = self.expression(q.get("relevant"), where, "relevant")
        out["constraint"] = self.expression(q.get("constraint"), where, "constraint")
        out["constraint_message"] = self.label(
            q.get("constraint_message"), where, "constraint message", False
        )
        appearance = q.get("appearance")
        out["appearance"] = str(appearance).strip() if appearance else None
        role = q.get("role")
        if role:
            try:
                out["role"] = Role(role).value
            except ValueError:
                raise self.fail(
                    ErrorCode.BAD_VALUE, f"unknown role {role!r}; use stratum or group", where
                ) from None
            if qtype is not QuestionType.SINGLE:
                raise self.fail(
                    ErrorCode.BAD_VALUE, f"a question with role {role!r} must be single choice", where
                )
        else:
            out["role"] = None
        out["groups"] = self.groups(q.get("groups"), where, group_codes)
        return out

    def check_refs(
        self,
        text: str | None,
        items: Mapping[str, Any],
        where: str,
        what: str,
        own_code: str | None = None,
        allow_current: bool = False,
    ) -> None:
        if not text:
            return
        expression = parse(text)
        for ref in sorted(expression.references):
            if ref not in items:
                raise self.fail(
                    ErrorCode.UNKNOWN_REFERENCE, f"{what} refers to unknown item ${{{ref}}}", where
                )
            if (
                not QuestionType(items[ref]["type"]).is_answerable
                and not QuestionType(items[ref]["type"]).is_metadata
            ):
                raise self.fail(
                    ErrorCode.BAD_EXPRESSION, f"{what} refers to ${{{ref}}}, a note that has no value", where
                )
            if ref == own_code and what != "constraint":
                raise self.fail(
                    ErrorCode.BAD_EXPRESSION,
                    f"{what} refers to the item itself; a question's own value is '.' in its constraint",
                    where,
                )
        if expression.uses_current and not allow_current:
            raise self.fail(ErrorCode.BAD_EXPRESSION, f"{what} cannot use '.'; only a constraint can", where)

    # -- scoring
    def scoring(self, raw: Any, items: dict, choices: dict, group_codes: set[str]) -> dict:
        where = _where(raw, "scoring")
        raw = self.mapping(raw, where)
        self.keys(raw, "scoring", where)
        method = self.text(raw, "method", where)
        try:
            method = Method(method).value
        except ValueError:
            raise self.fail(
                ErrorCode.BAD_SCORING,
                f"unknown method {method!r}; use {', '.join(m.value for m in Method)}",
                where,
            ) from None
        out: dict[str, Any] = {"method": method}
        out["valid"] = [_number_text(v) for v in self.seq(raw.get("valid", [1, 2, 3, 4, 5]), where, "valid")]
        out["positive"] = [_number_text(v) for v in self.seq(raw.get("positive", [4, 5]), where, "positive")]
        for key in ("valid", "positive"):
            if not out[key]:
                raise self.fail(ErrorCode.BAD_SCORING, f"'{key}' must list at least one answer code", where)
        scale = self.seq(raw.get("scale", [1, 5]), where, "scale")
        if len(scale) != 2 or not all(_is_number(x) for x in scale) or float(scale[0]) >= float(scale[1]):
            raise self.fail(ErrorCode.BAD_SCORING, "'scale' must be [min, max] with min < max", where)
        out["scale"] = [float(scale[0]), float(scale[1])]
        out["values"] = self.values(raw.get("values"), where)
        gw = raw.get("group_weights") or {}
        gw = self.mapping(gw, where)
        for g, w in gw.items():
            if g not in group_codes:
                raise self.fail(ErrorCode.UNKNOWN_GROUP, f"group_weights names undeclared group {g!r}", where)
            if not _is_number(w) or float(w) < 0:
                raise self.fail(ErrorCode.BAD_SCORING, f"group weight for {g!r} must be a number >= 0", where)
        out["group_weights"] = {str(g): float(w) for g, w in gw.items()}
        out["decimals"] = self.integer(raw, "decimals", 2, 0, 10, where)
        out["min_n"] = self.integer(raw, "min_n", 30, 0, 1_000_000, where)
        index = raw.get("index")
        if index is None:
            raise self.fail(
                ErrorCode.MISSING_FIELD, "'index' (the root of the scoring tree) is required", where
            )
        seen: set[str] = set()
        out["index"] = self.node(index, Level.INDEX, "scoring index", items, method, seen, out, choices)
        if not any(n.get("level") == "criterion" for n in _walk_dict(out["index"])):
            raise self.fail(ErrorCode.BAD_SCORING, "the scoring tree has no criteria", where)
        methods = {method} | {n["method"] for n in _walk_dict(out["index"]) if n.get("method")}
        # 'positive' only matters where a criterion counts satisfied answers.
        if Method.SHARE_SATISFIED.value in methods and not set(out["positive"]) <= set(out["valid"]):
            raise self.fail(ErrorCode.BAD_SCORING, "every 'positive' code must also be 'valid'", where)
        # A question on the same answer list as scored items, but scored nowhere, is usually forgotten.
        scored = {it for n in _walk_dict(out["index"]) for it in n["items"]}
        scored_lists = {items[it].get("choices") for it in scored} - {None}
        for code, q in items.items():
            if code not in scored and q.get("choices") in scored_lists and q["type"] == "single":
                self.warn(
                    WarningCode.UNSCORED_LIKERT,
                    f"uses the answer list {q['choices']!r} of scored items but is in no scoring criterion",
                    f"item {code}",
                )
        return out

    def values(self, raw: Any, where: str) -> dict[str, float]:
        if not raw:
            return {}
        raw = self.mapping(raw, where)
        out = {}
        for code, v in raw.items():
            if not _is_number(v) or not 0 <= float(v) <= 1:
                raise self.fail(
                    ErrorCode.BAD_SCORING, f"value of option {code!r} must be a fraction in [0, 1]", where
                )
            out[_number_text(code)] = float(v)
        return out

    def node(
        self,
        raw: Any,
        level: Level,
        where: str,
        items: dict,
        method: str,
        seen: set,
        sc: dict,
        choices: dict,
    ) -> dict:
        if level is Level.CRITERION and isinstance(raw, str):
            raw = {"item": raw}
        where = _where(raw, where)
        raw = self.mapping(raw, where)
        out: dict[str, Any] = {"level": level.value}
        if level is Level.CRITERION:
            if raw.get("item") and raw.get("items"):
                raise self.fail(ErrorCode.BAD_SCORING, "a criterion has 'item' or 'items', not both", where)
            item_list = raw.get("items") or ([raw["item"]] if raw.get("item") else [])
            item_list = [_number_text(i) for i in self.seq(item_list, where, "items")]
            if not item_list:
                raise self.fail(ErrorCode.BAD_SCORING, "a criterion needs 'item' or 'items'", where)
            code = self.code(raw, "code", where) if raw.get("code") else item_list[0]
            where = _where(raw, f"scoring criterion {code}")
            self.keys(raw, "criterion", where)
            if len(set(item_list)) != len(item_list):
                raise self.fail(ErrorCode.BAD_SCORING, "an item is listed twice in 'items'", where)
            for it in item_list:
                if it not in items:
                    raise self.fail(
                        ErrorCode.SCORING_UNKNOWN_ITEM, f"scoring refers to unknown item {it!r}", where
                    )
                q = items[it]
                if q["type"] not in ("single", "integer", "decimal"):
                    raise self.fail(
                        ErrorCode.BAD_SCORING, f"item {it!r} of type {q['type']} cannot be scored", where
                    )
            out["items"] = item_list
            label = raw.get("label") or items[item_list[0]]["label"]
            crit_method = raw.get("method")
            if crit_method:
                try:
                    crit_method = Method(crit_method).value
                except ValueError:
                    raise self.fail(ErrorCode.BAD_SCORING, f"unknown method {crit_method!r}", where) from None
            out["method"] = crit_method
            out["values"] = self.values(raw.get("values"), where) or None
            effective = crit_method or method
            if effective == "points" and not (out["values"] or sc["values"]):
                raise self.fail(ErrorCode.BAD_SCORING, "the points method needs option 'values'", where)
            self.check_criterion_options(item_list, items, choices, effective, out["values"], sc, where)
        else:
            code = self.code(raw, "code", where)
            where = _where(raw, f"scoring {level.value} {code}")
            self.keys(raw, "node", where)
            label = raw.get("label")
            out["items"] = []
            out["method"] = None
            out["values"] = None
        if code in seen:
            raise self.fail(ErrorCode.BAD_SCORING, f"scoring node code {code!r} is used twice", where)
        seen.add(code)
        out["code"] = code
        if level is Level.CRITERION and not raw.get("label"):
            out["label"] = dict(label)  # the item's label, already checked (and warned about) there
        else:
            out["label"] = self.label(label, where)
        weight = raw.get("weight", 1)
        if not _is_number(weight) or float(weight) < 0:
            raise self.fail(ErrorCode.BAD_SCORING, "weight must be a number >= 0", where)
        out["weight"] = float(weight)
        out["gate"] = self.expression(raw.get("gate"), where, "gate")
        self.check_refs(out["gate"], items, where, "gate")
        if out["gate"] and level is Level.INDEX:
            raise self.fail(
                ErrorCode.BAD_SCORING, "the index cannot have a gate; gate a field or element", where
            )
        mp = raw.get("max_points")
        if mp is not None and (not _is_number(mp) or float(mp) < 0):
            raise self.fail(ErrorCode.BAD_SCORING, "max_points must be a number >= 0", where)
        out["max_points"] = float(mp) if mp is not None else None
        if level is Level.CRITERION and (out["method"] or method) == "points" and out["max_points"] is None:
            raise self.fail(
                ErrorCode.BAD_SCORING, "the points method needs max_points on every criterion", where
            )
        child_keys = [k for k in _LEVEL_KEYS if k in raw]
        if level is Level.CRITERION:
            if child_keys:
                raise self.fail(ErrorCode.BAD_SCORING, "a criterion cannot have children", where)
            out["children"] = []
            return out
        if len(child_keys) != 1:
            raise self.fail(
                ErrorCode.BAD_SCORING, "a node needs exactly one of 'fields', 'elements' or 'criteria'", where
            )
        child_level = _LEVEL_KEYS[child_keys[0]]
        if list(Level).index(child_level) <= list(Level).index(level):
            raise self.fail(ErrorCode.BAD_SCORING, f"a {level.value} cannot contain {child_keys[0]}", where)
        kids = self.seq(raw[child_keys[0]], where, child_keys[0])
        if not kids:
            raise self.fail(ErrorCode.BAD_SCORING, f"'{child_keys[0]}' is empty", where)
        out["children"] = [
            self.node(
                k, child_level, f"{where}, {child_level.value} {i + 1}", items, method, seen, sc, choices
            )
            for i, k in enumerate(kids)
        ]
        return out

    def check_criterion_options(
        self,
        item_list: list[str],
        items: dict,
        choices: dict,
        method: str,
        values: dict | None,
        sc: dict,
        where: str,
    ) -> None:
        """Make sure the criterion's answers can be scored by its method."""
        valid = set(sc["valid"])
        for it in item_list:
            q = items[it]
            if q["type"] != "single":
                if method != Method.MEAN_SCORE.value:
                    raise self.fail(
                        ErrorCode.BAD_SCORING,
                        f"item {it!r} is a {q['type']} question; only mean_score can score numbers",
                        where,
                    )
                continue
            codes = [c["code"] for c in choices[q["choices"]]]
            valid_codes = [c for c in codes if c in valid]
            if not valid_codes:
                raise self.fail(
                    ErrorCode.BAD_SCORING,
                    f"no option of item {it!r} ({', '.join(codes)}) is among the valid codes "
                    f"({', '.join(sc['valid'])})",
                    where,
                )
            if method == Method.POINTS.value:
                table = values or sc["values"]
                missing = [c for c in valid_codes if c not in table]
                if missing:
                    raise self.fail(
                        ErrorCode.BAD_SCORING,
                        f"valid option(s) {', '.join(missing)} of item {it!r} "
                        "have no value (fraction of points)",
                        where,
                    )
            elif method == Method.MEAN_SCORE.value and not all(_is_number(c) for c in valid_codes):
                raise self.fail(
                    ErrorCode.BAD_SCORING,
                    f"mean_score needs numeric valid options; item {it!r} has others",
                    where,
                )


def _walk_dict(node: dict):
    yield node
    for c in node.get("children", []):
        yield from _walk_dict(c)


def _where(raw: Any, default: str) -> str:
    if isinstance(raw, Mapping) and raw.get("_where"):
        return str(raw["_where"])
    return default


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
        return True
    except ValueError:
        return False


def _number_text(value: Any) -> str:
    """A code as text: 4 -> "4", 4.0 -> "4", "A" -> "A"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def validate(raw: Any, file: str | None = None) -> tuple[dict, list[LoadWarning]]:
    """Check plain data read from a definition; return it normalised, with the warnings collected."""
    v = _Validator(file)
    return v.questionnaire(raw), v.warnings


# --------------------------------------------------------------------------------------------- build
def _label(d: dict | None) -> Label | None:
    return Label(d["vi"], d.get("en")) if d else None


def _expr(text: str | None) -> Expression | None:
    return parse(text) if text else None


def _node(d: dict) -> ScoreNode:
    return ScoreNode(
        code=d["code"],
        level=Level(d["level"]),
        label=_label(d["label"]),
        weight=d["weight"],
        children=tuple(_node(c) for c in d["children"]),
        items=tuple(d["items"]),
        gate=_expr(d["gate"]),
        max_points=d["max_points"],
        method=Method(d["method"]) if d["method"] else None,
        values=MappingProxyType(dict(d["values"])) if d["values"] else None,
    )


def build(data: dict) -> Questionnaire:
    """Build the model from normalised data (the output of :func:`validate`)."""
    sc = data.get("scoring")
    scoring = None
    if sc:
        scoring = Scoring(
            method=Method(sc["method"]),
            tree=_node(sc["index"]),
            valid=tuple(sc["valid"]),
            positive=tuple(sc["positive"]),
            scale=(sc["scale"][0], sc["scale"][1]),
            values=MappingProxyType(dict(sc["values"])),
            group_weights=MappingProxyType(dict(sc["group_weights"])),
            decimals=sc["decimals"],
            min_n=sc["min_n"],
        )
    return Questionnaire(
        id=data["id"],
        version=data["version"],
        title=_label(data["title"]),
        languages=tuple(data["languages"]),
        description=_label(data.get("description")),
        source=data.get("source"),
        groups=tuple(RespondentGroup(g["code"], _label(g["label"])) for g in data["groups"]),
        choice_lists=MappingProxyType(
            {
                name: ChoiceList(name, tuple(Choice(c["code"], _label(c["label"])) for c in items))
                for name, items in data["choices"].items()
            }
        ),
        sections=tuple(
            Section(
                code=s["code"],
                label=_label(s["label"]),
                intro=_label(s.get("intro")),
                relevant=_expr(s.get("relevant")),
                groups=tuple(s["groups"]),
                questions=tuple(
                    Question(
                        code=q["code"],
                        type=QuestionType(q["type"]),
                        label=_label(q["label"]),
                        hint=_label(q.get("hint")),
                        choices=q.get("choices"),
                        required=q["required"],
                        required_if=_expr(q.get("required_if")),
                        relevant=_expr(q.get("relevant")),
                        constraint=_expr(q.get("constraint")),
                        constraint_message=_label(q.get("constraint_message")),
                        appearance=q.get("appearance"),
                        role=Role(q["role"]) if q.get("role") else None,
                        groups=tuple(q["groups"]),
                    )
                    for q in s["questions"]
                ),
            )
            for s in data["sections"]
        ),
        scoring=scoring,
    )


# ----------------------------------------------------------------------------------------- the API
def from_data(raw: Any, file: str | None = None) -> LoadResult:
    """Validate and build from plain data (e.g. a snapshot kept in the database)."""
    data, warnings = validate(raw, file)
    return LoadResult(build(data), warnings)


def load_file(path: str | Path) -> LoadResult:
    """Load a definition file (.yaml or .xlsx) through all three stages."""
    return from_data(read(path), str(path))


def search_path() -> list[Path]:
    """Folders searched for definitions by id: $SIPAS_QUESTIONNAIRE_PATH first, then the shipped ones."""
    extra = [Path(p) for p in os.environ.get(EXTRA_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, DEFINITIONS_DIR]


def definition_path(ref: str | Path) -> Path:
    """Resolve a questionnaire id or a file path to a file."""
    path = Path(ref)
    if path.suffix.lower() in (".yaml", ".yml", ".xlsx") or path.exists():
        return path
    for folder in search_path():
        for suffix in (".yaml", ".yml", ".xlsx"):
            candidate = folder / f"{ref}{suffix}"
            if candidate.exists():
                return candidate
    known = ", ".join(list_questionnaires()) or "none"
    raise QuestionnaireError(ErrorCode.NOT_FOUND, f"no questionnaire with id {str(ref)!r} (known: {known})")


def load_questionnaire(ref: str | Path) -> Questionnaire:
    """Load a questionnaire by shipped id (``sipas-2017``) or by path."""
    return load_file(definition_path(ref)).questionnaire


def list_questionnaires() -> list[str]:
    """Ids of the definitions found on the search path, sorted."""
    ids: set[str] = set()
    for folder in search_path():
        if folder.is_dir():
            for p in folder.iterdir():
                if p.suffix.lower() in (".yaml", ".yml", ".xlsx"):
                    ids.add(p.stem)
    return sorted(ids)


# ----------------------------------------------------------------------------------------- dumping
def to_dict(q: Questionnaire) -> dict:
    """The questionnaire as plain data in the YAML layout; ``from_data(to_dict(q))`` gives back ``q``."""

    def label(lb: Label | None) -> Any:
        if lb is None:
            return None
        return {"vi": lb.vi, "en": lb.en} if lb.en else {"vi": lb.vi}

    def expr(e: Expression | None) -> str | None:
        return e.text if e else None

    def node(n: ScoreNode) -> dict:
        d: dict[str, Any] = {}
        if n.level is Level.CRITERION:
            if len(n.items) == 1:
                d["item"] = n.items[0]
                if n.code != n.items[0]:
                    d["code"] = n.code
            else:
                d["code"] = n.code
                d["items"] = list(n.items)
        else:
            d["code"] = n.code
        d["label"] = label(n.label)
        if n.weight != 1.0:
            d["weight"] = n.weight
        if n.gate:
            d["gate"] = n.gate.text
        if n.max_points is not None:
            d["max_points"] = n.max_points
        if n.method:
            d["method"] = n.method.value
        if n.values:
            d["values"] = dict(n.values)
        if n.children:
            key = {Level.FIELD: "fields", Level.ELEMENT: "elements", Level.CRITERION: "criteria"}[
                n.children[0].level
            ]
            d[key] = [node(c) for c in n.children]
        return d

    def question(qn: Question) -> dict:
        d: dict[str, Any] = {"code": qn.code, "type": qn.type.value, "label": label(qn.label)}
        if qn.hint:
            d["hint"] = label(qn.hint)
        if qn.choices:
            d["choices"] = qn.choices
        if qn.required:
            d["required"] = True
        elif qn.required_if:
            d["required"] = qn.required_if.text
        for key in ("relevant", "constraint"):
            if getattr(qn, key):
                d[key] = expr(getattr(qn, key))
        if qn.constraint_message:
            d["constraint_message"] = label(qn.constraint_message)
        if qn.appearance:
            d["appearance"] = qn.appearance
        if qn.role:
            d["role"] = qn.role.value
        if qn.groups:
            d["groups"] = list(qn.groups)
        return d

    out: dict[str, Any] = {"id": q.id, "version": q.version, "title": label(q.title)}
    if q.description:
        out["description"] = label(q.description)
    if q.source:
        out["source"] = q.source
    out["languages"] = list(q.languages)
    if q.groups:
        out["groups"] = [{"code": g.code, "label": label(g.label)} for g in q.groups]
    out["choices"] = {
        name: [{"code": c.code, "label": label(c.label)} for c in cl.choices]
        for name, cl in q.choice_lists.items()
    }
    sections = []
    for s in q.sections:
        sd: dict[str, Any] = {"code": s.code, "label": label(s.label)}
        if s.intro:
            sd["intro"] = label(s.intro)
        if s.relevant:
            sd["relevant"] = s.relevant.text
        if s.groups:
            sd["groups"] = list(s.groups)
        sd["questions"] = [question(qn) for qn in s.questions]
        sections.append(sd)
    out["sections"] = sections
    if q.scoring:
        sc = q.scoring
        out["scoring"] = {
            "method": sc.method.value,
            "valid": list(sc.valid),
            "positive": list(sc.positive),
            "scale": list(sc.scale),
            **({"values": dict(sc.values)} if sc.values else {}),
            **({"group_weights": dict(sc.group_weights)} if sc.group_weights else {}),
            "decimals": sc.decimals,
            "min_n": sc.min_n,
            "index": node(sc.tree),
        }
    return out


def dump_yaml(q: Questionnaire) -> str:
    """The questionnaire as YAML text (UTF-8, Vietnamese kept as is)."""
    return yaml.safe_dump(to_dict(q), allow_unicode=True, sort_keys=False, width=110)


# --------------------------------------------------------------------------------------- unit lists
def units_path(ref: str | Path) -> Path:
    path = Path(ref)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return path
    candidate = UNITS_DIR / f"{ref}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(list_unit_lists()) or "none"
    raise QuestionnaireError(ErrorCode.NOT_FOUND, f"no unit list with id {str(ref)!r} (known: {known})")


def list_unit_lists() -> list[str]:
    return sorted(p.stem for p in UNITS_DIR.glob("*.yaml"))


def load_units(ref: str | Path) -> UnitList:
    """Load a dated unit list (``units/tra-bong-2023``) by id or path."""
    path = units_path(ref)
    file = str(path)
    v = _Validator(file)
    raw = v.mapping(read_yaml(path), "top level")
    where = "top level"
    if hasattr(raw.get("valid_from"), "isoformat"):  # YAML reads an unquoted date as a date
        raw["valid_from"] = raw["valid_from"].isoformat()
    uid = v.text(raw, "id", where)
    title = v.text(raw, "title", where)
    valid_from = v.text(raw, "valid_from", where)
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", str(valid_from)):
        raise v.fail(ErrorCode.BAD_VALUE, "valid_from must be an ISO date YYYY-MM-DD", where)
    units = []
    seen: set[str] = set()
    raw_units = v.seq(raw.get("units"), where, "units")
    if not raw_units:
        raise v.fail(ErrorCode.MISSING_FIELD, "'units' is required and must not be empty", where)
    for i, u in enumerate(raw_units):
        uw = f"units[{i}]"
        u = v.mapping(u, uw)
        code = v.text(u, "code", uw)
        uw = f"unit {code}"
        if not UNIT_CODE_RE.match(code):
            raise v.fail(
                ErrorCode.BAD_CODE, f"unit code {code!r} must be lower-case letters, digits, - or _", uw
            )
        if code in seen:
            raise v.fail(ErrorCode.DUPLICATE_ITEM, f"unit code {code!r} appears twice", uw)
        seen.add(code)
        units.append(
            Unit(code=code, name=v.text(u, "name", uw), kind=v.text(u, "kind", uw, required=False) or "xa")
        )
    return UnitList(
        id=uid,
        title=title,
        valid_from=str(valid_from),
        units=tuple(units),
        source=v.text(raw, "source", where, False),
    )
