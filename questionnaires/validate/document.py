"""Validate the document and its settings: the top level, id, version, languages, title, groups, choices."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ErrorCode, WarningCode
from ..model import LANGUAGE_NAMES
from .context import NAME_RE, Context, is_number, number_text, where_of

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
WHERE = "top level"


def top_level(ctx: Context, raw: Any) -> dict:
    """Return the document as a mapping whose keys are all known."""
    if raw is None:
        raise ctx.fail(ErrorCode.INVALID_FILE, "the file is empty")
    raw = ctx.mapping(raw, WHERE)
    ctx.keys(raw, "questionnaire", WHERE)
    return raw


def header(ctx: Context, raw: Mapping) -> dict[str, Any]:
    """Return id, version, languages, title, description, source and settings; set the context's languages."""
    where = where_of(raw, WHERE)  # an XLSForm's settings row
    out: dict[str, Any] = {}
    out["id"] = ctx.text(raw, "id", where)
    if not ID_RE.match(out["id"]):
        raise ctx.fail(
            ErrorCode.BAD_CODE,
            f"id {out['id']!r} must be letters, digits, '.', '-' or '_', starting with a letter or digit",
            where,
        )
    out["version"] = ctx.text(raw, "version", where)
    out.update(_languages(ctx, raw))
    out["title"] = ctx.label(_titled(raw.get("title"), ctx), where, "title")
    out["description"] = ctx.label(raw.get("description"), where, "description", required=False)
    out["source"] = ctx.text(raw, "source", where, required=False)
    settings = raw.get("settings") or {}
    if not isinstance(settings, Mapping) or not all(
        isinstance(v, (str, int, float)) for v in settings.values()
    ):
        raise ctx.fail(ErrorCode.BAD_VALUE, "settings must map XLSForm setting names to text", where)
    out["settings"] = {str(k): str(v) for k, v in settings.items()}
    return out


def _titled(title: Any, ctx: Context) -> Any:
    """An XLSForm title comes as ``{"__default__": form_title, lang: sipas_title…}``: key form_title by the
    default language (else the first language)."""
    if isinstance(title, Mapping) and "__default__" in title:
        title = dict(title)
        text = title.pop("__default__")
        lang = ctx.default_language if ctx.default_language in ctx.languages else ctx.languages[0]
        title.setdefault(lang, text)
    return title


def _languages(ctx: Context, raw: Mapping) -> dict[str, Any]:
    """The languages (codes), how XLSForm columns name them, and the default language."""
    langs = raw.get("languages") or ["vi"]
    langs = langs.split() if isinstance(langs, str) else ctx.seq(langs, WHERE, "languages")
    langs = [str(lang) for lang in langs]
    if len(set(langs)) != len(langs):
        raise ctx.fail(ErrorCode.BAD_VALUE, f"a language is listed twice in {langs}", WHERE)
    names = raw.get("language_names") or {}
    if not isinstance(names, Mapping):
        raise ctx.fail(ErrorCode.BAD_VALUE, "language_names must map language codes to names", WHERE)
    unknown = [str(k) for k in names if k not in langs]
    if unknown:
        raise ctx.fail(ErrorCode.BAD_VALUE, f"language_names names languages not listed: {unknown}", WHERE)
    default = raw.get("default_language")
    if default is None and "vi" in langs and not raw.get("_xlsform"):
        default = "vi"  # a YAML definition's Vietnamese is the default language of its XLSForm
    if default is not None and str(default) not in langs:
        langs.append(str(default))  # XLSForm allows a default language that no column uses
    ctx.languages = tuple(langs)
    ctx.default_language = str(default) if default is not None else None
    ctx.language_names = {str(k): str(v or "") for k, v in names.items()}
    ctx.from_xlsform = bool(raw.get("_xlsform"))
    if "vi" not in langs:
        ctx.warn(
            WarningCode.NO_VIETNAMESE,
            f"no Vietnamese texts (languages: {', '.join(langs)}): the kiosk shows {langs[0]!r}; add "
            "label::Tiếng Việt (vi) columns for Vietnamese respondents",
            WHERE,
        )
    return {
        "languages": langs,
        "language_names": {
            str(k): str(v or "") for k, v in names.items() if str(v or "") != _standard(str(k))
        },
        "default_language": ctx.default_language,
    }


def _standard(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def groups(ctx: Context, raw: Mapping) -> list[dict]:
    """Return the respondent groups, each code declared once."""
    out = []
    codes: set[str] = set()
    for i, g in enumerate(ctx.seq(raw.get("groups"), WHERE, "groups")):
        with ctx.attempt():
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


def choice_lists(
    ctx: Context, raw: Mapping, allow_duplicates: bool = False
) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Return the choice lists by name, none empty, and the file each list read from a file came from; a
    code appears once in a list unless the XLSForm setting allow_choice_duplicates says yes."""
    raw_choices = raw.get("choices") or {}
    if not isinstance(raw_choices, Mapping):
        raise ctx.fail(ErrorCode.BAD_VALUE, "'choices' must map list names to lists of choices", WHERE)
    out = {}
    files: dict[str, str] = {}
    for name, items in raw_choices.items():
        name = str(name)
        lw = f"choice list {name}"
        with ctx.attempt():
            file = None
            if isinstance(items, Mapping):
                ctx.keys(items, "choice_file", lw)
                file = ctx.text(items, "file", lw)
                items = items.get("choices")
            if file is None and not NAME_RE.match(name):
                raise ctx.fail(ErrorCode.BAD_CODE, f"choice list name {name!r} is not a valid name", lw)
            out[name] = _choice_list(ctx, items, lw, allow_duplicates)
            if file is not None:
                files[name] = file
    return out, files


def _choice_list(ctx: Context, items: Any, lw: str, allow_duplicates: bool) -> list[dict]:
    """Return the choices of one list."""
    seen: set[str] = set()
    choices = []
    items = ctx.seq(items, lw, "a choice list")
    if not items:
        raise ctx.fail(ErrorCode.BAD_VALUE, "the choice list is empty", lw)
    for j, c in enumerate(items):
        with ctx.attempt():
            cw = where_of(c, f"{lw}, choice {j + 1}")
            c = ctx.mapping(c, cw)
            code = ctx.text(c, "code", cw)
            if is_number(c.get("code")):
                code = number_text(c["code"])
            cw = where_of(c, f"{lw}, choice {code}")
            ctx.keys(c, "choice", cw)
            if code in seen and not allow_duplicates:
                raise ctx.fail(
                    ErrorCode.DUPLICATE_CHOICE,
                    f"choice code {code!r} appears twice (allow it with the XLSForm setting "
                    "allow_choice_duplicates: yes)",
                    cw,
                )
            seen.add(code)
            choices.append(
                {
                    "code": code,
                    "label": ctx.label(c.get("label"), cw),
                    "extra": _extra(ctx, c.get("extra"), cw),
                    "audio": ctx.audio(c.get("audio"), cw),
                }
            )
    return choices


def _extra(ctx: Context, value: Any, where: str) -> dict[str, str]:
    """Columns kept verbatim: a mapping of header to text."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise ctx.fail(ErrorCode.BAD_VALUE, "'extra' must map column headers to text", where)
    return {str(k): str(v) for k, v in value.items() if v is not None and str(v) != ""}


extra_columns = _extra
