"""Validate what entries say about each other: expressions, choice lists in use, roles and groups."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ErrorCode, WarningCode
from ..expressions import parse, parse_choice_filter
from ..model import QuestionType, Role
from .context import Context
from .sections import Layout


def check_refs(
    ctx: Context,
    text: str | None,
    items: Mapping[str, Any],
    where: str,
    what: str,
    own_code: str | None = None,
    allow_current: bool = False,
) -> None:
    """Refuse an expression that names a missing item or a note, or reads '.' outside a constraint."""
    if not text:
        return
    expression = parse_choice_filter(text) if what == "choice_filter" else parse(text)
    for ref in sorted(expression.references):
        if ref in ctx.skipped and ref not in items:
            continue  # refused already, with its own message
        if ref not in items:
            raise ctx.fail(ErrorCode.UNKNOWN_REFERENCE, f"{what} refers to unknown item ${{{ref}}}", where)
        if QuestionType(items[ref]["type"]) is QuestionType.NOTE:
            raise ctx.fail(
                ErrorCode.BAD_EXPRESSION, f"{what} refers to ${{{ref}}}, a note that has no value", where
            )
        if ref == own_code and what != "constraint":
            raise ctx.fail(
                ErrorCode.BAD_EXPRESSION,
                f"{what} refers to the item itself; a question's own value is '.' in its constraint",
                where,
            )
    if expression.uses_current and not allow_current:
        raise ctx.fail(ErrorCode.BAD_EXPRESSION, f"{what} cannot use '.'; only a constraint can", where)


def check_expressions(ctx: Context, layout: Layout, items: Mapping[str, dict]) -> None:
    """Expressions may only name items that exist; only a constraint may read "." (its own value)."""
    for s, sw in zip(layout.sections, layout.section_where, strict=True):
        with ctx.attempt():
            check_refs(ctx, s.get("relevant"), items, sw, "relevant")
        for q in s["questions"]:
            for key in ("relevant", "constraint", "required_if", "calculation", "choice_filter"):
                with ctx.attempt():
                    check_refs(
                        ctx,
                        q.get(key),
                        items,
                        layout.item_where[q["code"]],
                        key,
                        q["code"],
                        allow_current=key in ("constraint", "choice_filter"),
                    )
            with ctx.attempt():
                _check_filter_columns(ctx, q, layout.item_where[q["code"]])


def _check_filter_columns(ctx: Context, q: dict, where: str) -> None:
    """A choice filter's bare names must be columns of its choice list (or ``name``/``label``)."""
    if not q.get("choice_filter"):
        return
    columns = {"name", "label"}
    for choice in ctx.choice_lists.get(q["choices"], ()):
        columns.update(choice.get("extra") or {})
    missing = sorted(parse_choice_filter(q["choice_filter"]).choice_columns - columns)
    if missing:
        raise ctx.fail(
            ErrorCode.UNKNOWN_REFERENCE,
            f"choice_filter reads column(s) {missing} that the choice list {q['choices']!r} does not have",
            where,
        )


_LABEL_REF = re.compile(r"\$\{([^}]*)\}")


def check_labels(ctx: Context, layout: Layout, items: Mapping[str, dict]) -> None:
    """A ``${name}`` in a label or hint (shown as the answer) must name an item that exists."""
    for s, sw in zip(layout.sections, layout.section_where, strict=True):
        entries = [(s, sw, ("label", "intro"))] + [
            (
                q,
                layout.item_where[q["code"]],
                ("label", "hint", "guidance_hint", "constraint_message", "required_message"),
            )  # fmt: skip
            for q in s["questions"]
        ]
        for entry, where, keys in entries:
            with ctx.attempt():
                for key in keys:
                    for lang, text in (entry.get(key) or {}).items():
                        for name in _LABEL_REF.findall(text):
                            if name not in items and name not in ctx.skipped:
                                raise ctx.fail(
                                    ErrorCode.UNKNOWN_REFERENCE,
                                    f"{key} ({lang}) shows ${{{name}}}, which names no question",
                                    where,
                                )


def check_choice_use(ctx: Context, items: Mapping[str, dict], choices: Mapping[str, list]) -> None:
    """Warn about each choice list that no question uses."""
    used = {q["choices"] for q in items.values() if q.get("choices")}
    for name in choices:
        if name not in used:
            ctx.warn(
                WarningCode.UNUSED_CHOICE_LIST, "no question uses this choice list", f"choice list {name}"
            )


def check_roles(
    ctx: Context,
    layout: Layout,
    items: Mapping[str, dict],
    choices: Mapping[str, list],
    group_codes: set[str],
) -> None:
    """One question per role; the group question offers declared groups, and is there if groups are used."""
    role_items: dict[str, str] = {}
    for q in items.values():
        role = q.get("role")
        if not role:
            continue
        if role in role_items:
            raise ctx.fail(
                ErrorCode.BAD_VALUE,
                f"more than one question has role {role!r} (also {role_items[role]!r})",
                layout.item_where[q["code"]],
            )
        role_items[role] = q["code"]
        if role == Role.GROUP.value:
            for code in (c["code"] for c in choices[q["choices"]]):
                if code not in group_codes:
                    raise ctx.fail(
                        ErrorCode.UNKNOWN_GROUP,
                        f"option {code!r} of the respondent-group question is not declared in 'groups'",
                        layout.item_where[q["code"]],
                    )
    restricted = [s["code"] for s in layout.sections if s["groups"]] + [
        q["code"] for q in items.values() if q["groups"]
    ]
    if restricted and Role.GROUP.value not in role_items:
        raise ctx.fail(
            ErrorCode.UNKNOWN_GROUP,
            f"{restricted[0]!r} is shown to some respondent groups only, but no question has role 'group'",
            layout.item_where.get(restricted[0], f"section {restricted[0]}"),
        )
