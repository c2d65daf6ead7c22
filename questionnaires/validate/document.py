"""Validate the document and its settings: the top level, id, version, languages, title, groups, choices."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ErrorCode
from .context import CODE_RE, Context, is_number, number_text, where_of

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
WHERE = "top level"


def top_level(ctx: Context, raw: Any) -> dict:
    """Return the document as a mapping whose keys are all known."""
    if raw is None:
        raise ctx.fail(ErrorCode.INVALID_FILE, "the file is empty")
    raw = ctx.mapping(raw, WHERE)
    ctx.keys(raw, "questionnaire", WHERE)
    return raw


def header(ctx: Context, raw: Mapping) -> dict[str, Any]:
    """Return id, version, languages, title, description and source; set the context's languages."""
    out: dict[str, Any] = {}
    out["id"] = ctx.text(raw, "id", WHERE)
    if not ID_RE.match(out["id"]):
        raise ctx.fail(
            ErrorCode.BAD_CODE, f"id {out['id']!r} must be lower-case letters, digits, - or _", WHERE
        )
    out["version"] = ctx.text(raw, "version", WHERE)
    langs = raw.get("languages") or ["vi"]
    langs = langs.split() if isinstance(langs, str) else ctx.seq(langs, WHERE, "languages")
    if "vi" not in langs:
        raise ctx.fail(ErrorCode.BAD_VALUE, "languages must include 'vi'", WHERE)
    bad = [lang for lang in langs if lang not in ("vi", "en")]
    if bad:
        raise ctx.fail(ErrorCode.BAD_VALUE, f"unsupported language(s) {bad}; use vi and en", WHERE)
    ctx.languages = tuple(langs)
    out["languages"] = list(langs)
    out["title"] = ctx.label(raw.get("title"), WHERE, "title")
    out["description"] = ctx.label(raw.get("description"), WHERE, "description", required=False)
    out["source"] = ctx.text(raw, "source", WHERE, required=False)
    return out


def groups(ctx: Context, raw: Mapping) -> list[dict]:
    """Return the respondent groups, each code declared once."""
    out = []
    codes: set[str] = set()
    for i, g in enumerate(ctx.seq(raw.get("groups"), WHERE, "groups")):
        gw = where_of(g, f"groups[{i}]")
        g = ctx.mapping(g, gw)
        code = ctx.code(g, "code", gw)
        gw = where_of(g, f"group {code}")
        ctx.keys(g, "group", gw)
        if code in codes:
            raise ctx.fail(ErrorCode.DUPLICATE_ITEM, f"respondent group {code!r} is declared twice", gw)
        codes.add(code)
        out.append({"code": code, "label": ctx.label(g.get("label"), gw)})
    return out


def choice_lists(ctx: Context, raw: Mapping) -> dict[str, list[dict]]:
    """Return the choice lists by name, none empty and no code twice in one list."""
    raw_choices = raw.get("choices") or {}
    if not isinstance(raw_choices, Mapping):
        raise ctx.fail(ErrorCode.BAD_VALUE, "'choices' must map list names to lists of choices", WHERE)
    out = {}
    for name, items in raw_choices.items():
        name = str(name)
        lw = f"choice list {name}"
        if not CODE_RE.match(name):
            raise ctx.fail(ErrorCode.BAD_CODE, f"choice list name {name!r} is not a valid name", lw)
        out[name] = _choice_list(ctx, items, lw)
    return out


def _choice_list(ctx: Context, items: Any, lw: str) -> list[dict]:
    """Return the choices of one list."""
    seen: set[str] = set()
    choices = []
    items = ctx.seq(items, lw, "a choice list")
    if not items:
        raise ctx.fail(ErrorCode.BAD_VALUE, "the choice list is empty", lw)
    for j, c in enumerate(items):
        cw = where_of(c, f"{lw}, choice {j + 1}")
        c = ctx.mapping(c, cw)
        code = ctx.text(c, "code", cw)
        if is_number(c.get("code")):
            code = number_text(c["code"])
        cw = where_of(c, f"{lw}, choice {code}")
        ctx.keys(c, "choice", cw)
        if code in seen:
            raise ctx.fail(ErrorCode.DUPLICATE_CHOICE, f"choice code {code!r} appears twice", cw)
        seen.add(code)
        choices.append({"code": code, "label": ctx.label(c.get("label"), cw)})
    return choices
