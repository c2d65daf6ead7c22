"""Validate sections and their questions, each on its own: codes, types, choices, required, role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode, QuestionnaireError
from ..model import QuestionType, Role
from .context import Context, where_of
from .document import WHERE, extra_columns


@dataclass
class Layout:
    """The normalised sections, their questions by code, and where in the file each one is."""

    sections: list[dict] = field(default_factory=list)
    section_where: list[str] = field(default_factory=list)
    item_where: dict[str, str] = field(default_factory=dict)

    @property
    def items(self) -> dict[str, dict]:
        """Return every question by code, in questionnaire order."""
        return {q["code"]: q for s in self.sections for q in s["questions"]}


def section_layout(ctx: Context, raw: Mapping, choices: dict, group_codes: set[str]) -> Layout:
    """Return the sections with their questions, every section and item code used once."""
    out = Layout()
    section_codes: set[str] = set()
    raw_sections = ctx.seq(raw.get("sections"), WHERE, "sections")
    if not raw_sections and not ctx.errors:
        raise ctx.fail(ErrorCode.MISSING_FIELD, "'sections' is required and must not be empty", WHERE)
    for i, s in enumerate(raw_sections):
        with ctx.attempt():
            sec, sw = _section(ctx, s, i, out, section_codes, group_codes)
            _questions(ctx, s, sec, sw, out, section_codes, choices, group_codes)
            out.section_where.append(sw)
            out.sections.append(sec)
    return out


def _section(
    ctx: Context, s: Any, i: int, out: Layout, section_codes: set[str], group_codes: set[str]
) -> tuple[dict, str]:
    """Return one section without its questions, and where it is."""
    sw0 = where_of(s, f"sections[{i}]")
    s = ctx.mapping(s, sw0)
    scode = ctx.code(s, "code", sw0)
    sw = where_of(s, f"section {scode}")
    ctx.keys(s, "section", sw)
    if scode in section_codes:
        raise ctx.fail(ErrorCode.DUPLICATE_ITEM, f"section code {scode!r} is used twice", sw)
    if scode in out.item_where:
        raise ctx.fail(
            ErrorCode.DUPLICATE_ITEM,
            f"section code {scode!r} is also an item code (at {out.item_where[scode]})",
            sw,
        )
    section_codes.add(scode)
    wrapped = s.get("wrapped", True)
    if not isinstance(wrapped, bool):
        raise ctx.fail(ErrorCode.BAD_VALUE, "'wrapped' must be true or false", sw)
    # A YAML section is a kiosk page: an ODK field-list unless it says otherwise (null for none).
    appearance = s.get("appearance", "field-list") if wrapped else None
    sec = {
        "code": scode,
        "label": ctx.label(s.get("label"), sw, required=False),
        "intro": ctx.label(s.get("intro"), sw, "intro", required=False),
        "relevant": ctx.expression(s.get("relevant"), sw, "relevant"),
        "groups": ctx.groups(s.get("groups"), sw, group_codes),
        "appearance": str(appearance).strip() if appearance else None,
        "wrapped": wrapped,
        "extra": extra_columns(ctx, s.get("extra"), sw),
        "audio": ctx.audio(s.get("audio"), sw),
        "questions": [],
    }
    if not wrapped and (sec["relevant"] or sec["intro"] or sec["extra"] or sec["groups"] or sec["audio"]):
        raise ctx.fail(ErrorCode.BAD_VALUE, "questions outside any group cannot have group settings", sw)
    return sec, sw


def _questions(
    ctx: Context,
    raw: dict,
    sec: dict,
    sw: str,
    layout: Layout,
    section_codes: set[str],
    choices: dict,
    group_codes: set[str],
) -> None:
    """Append the questions of one section to ``sec``, noting where each item is."""
    questions = ctx.seq(raw.get("questions"), sw, "questions")
    if not questions:
        raise ctx.fail(ErrorCode.MISSING_FIELD, "a section needs at least one question", sw)
    for j, q in enumerate(questions):
        with ctx.attempt():
            qw0 = where_of(q, f"{sw}, question {j + 1}")
            q = ctx.mapping(q, qw0)
            qcode = ctx.code(q, "code", qw0)
            qw = where_of(q, f"item {qcode}")
            if qcode in layout.item_where or qcode in section_codes:
                also = layout.item_where.get(qcode) or f"section {qcode}"
                raise ctx.fail(
                    ErrorCode.DUPLICATE_ITEM, f"item code {qcode!r} is used twice (also at {also})", qw
                )
            layout.item_where[qcode] = qw
            try:
                ctx.keys(q, "question", qw)
                out = question(ctx, q, qcode, qw, choices, group_codes)
            except QuestionnaireError:
                ctx.skipped.add(qcode)
                raise
            if sec["groups"] and not set(out["groups"]) <= set(sec["groups"]):
                raise ctx.fail(
                    ErrorCode.UNKNOWN_GROUP,
                    f"groups {out['groups']} are not among its section's groups {sec['groups']}",
                    qw,
                )
            sec["questions"].append(out)


def question(ctx: Context, q: dict, code: str, where: str, choices: dict, group_codes: set[str]) -> dict:
    """Return one question normalised."""
    raw_type = ctx.text(q, "type", where)
    try:
        qtype = QuestionType(raw_type)
    except ValueError:
        raise ctx.fail(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown question type {raw_type!r}; use one of {', '.join(t.value for t in QuestionType)}",
            where,
        ) from None
    out: dict[str, Any] = {"code": code, "type": qtype.value}
    if qtype.is_metadata or qtype.is_computed:
        out["label"] = ctx.label(q.get("label"), where, required=False)
    else:
        out["label"] = ctx.label(q.get("label"), where)
    for key in ("hint", "guidance_hint", "constraint_message", "required_message"):
        out[key] = ctx.label(q.get(key), where, key.replace("_", " "), required=False)
    out["choices"] = _choices(ctx, q, qtype, where, choices)
    out["required"], out["required_if"] = _required(ctx, q.get("required", False), where)
    if (out["required"] or out["required_if"]) and not qtype.is_answerable:
        raise ctx.fail(ErrorCode.BAD_VALUE, f"a {qtype.value} question cannot be required", where)
    out["relevant"] = ctx.expression(q.get("relevant"), where, "relevant")
    out["constraint"] = ctx.expression(q.get("constraint"), where, "constraint")
    out["calculation"] = ctx.expression(q.get("calculation"), where, "calculation")
    if qtype.is_computed and not out["calculation"]:
        raise ctx.fail(ErrorCode.MISSING_FIELD, "a calculate question needs a calculation", where)
    if out["calculation"] and not qtype.is_computed:
        raise ctx.fail(
            ErrorCode.UNSUPPORTED,
            f"a calculation on a {qtype.value} question (a dynamic default) is not supported; use a "
            "calculate question",
            where,
        )
    out["choice_filter"] = ctx.expression(q.get("choice_filter"), where, "choice_filter")
    if out["choice_filter"] and not qtype.has_choices:
        raise ctx.fail(ErrorCode.BAD_VALUE, f"a {qtype.value} question cannot have a choice_filter", where)
    default = q.get("default")
    out["default"] = ctx.text(q, "default", where, required=False) if default not in (None, "") else None
    read_only = q.get("read_only", False)
    if isinstance(read_only, str):
        read_only = read_only.strip().lower() in ("yes", "true", "true()")
    out["read_only"] = bool(read_only)
    appearance = q.get("appearance")
    out["appearance"] = str(appearance).strip() if appearance else None
    out["role"] = _role(ctx, q.get("role"), qtype, where)
    out["groups"] = ctx.groups(q.get("groups"), where, group_codes)
    out["extra"] = extra_columns(ctx, q.get("extra"), where)
    out["audio"] = ctx.audio(q.get("audio"), where)
    return out


def _choices(ctx: Context, q: dict, qtype: QuestionType, where: str, choices: dict) -> str | None:
    """Return the name of the question's choice list: one that exists, and only for a choice question."""
    if qtype.has_choices:
        name = ctx.text(q, "choices", where)
        if name not in choices:
            raise ctx.fail(ErrorCode.UNKNOWN_CHOICE_LIST, f"choice list {name!r} does not exist", where)
        return name
    if q.get("choices"):
        raise ctx.fail(ErrorCode.BAD_VALUE, f"a {qtype.value} question cannot have choices", where)
    return None


def _required(ctx: Context, req: Any, where: str) -> tuple[bool, str | None]:
    """Return ``(required, required_if)`` from yes/no/true/false or an expression."""
    if isinstance(req, str) and req.strip().lower() in ("yes", "true", "true()"):
        req = True
    elif isinstance(req, str) and req.strip().lower() in ("no", "false", "false()", ""):
        req = False
    if isinstance(req, bool):
        return req, None
    return False, ctx.expression(req, where, "required")


def _role(ctx: Context, role: Any, qtype: QuestionType, where: str) -> str | None:
    """Return the question's role (stratum or group), which only a single-choice question may have."""
    if not role:
        return None
    try:
        value = Role(role).value
    except ValueError:
        raise ctx.fail(ErrorCode.BAD_VALUE, f"unknown role {role!r}; use stratum or group", where) from None
    if qtype is not QuestionType.SINGLE:
        raise ctx.fail(ErrorCode.BAD_VALUE, f"a question with role {role!r} must be single choice", where)
    return value
