"""The *validate* stage: plain data read from a definition -> normalised data plus warnings.

The checks run in the order of the document, each step in its own module:

* :mod:`.document` — the top level and settings (id, version, languages, title), respondent groups
  and choice lists;
* :mod:`.sections` — each section and question on its own (codes, types, choices, required, role);
* :mod:`.references` — what entries say about each other: expressions name existing items, choice
  lists are used, the respondent-group question matches the groups;
* :mod:`.scoring` — the scoring settings and the tree index -> fields -> elements -> criteria.

The output has labels as ``{"vi", "en"}``, codes as text, expressions as their normalised text and
defaults filled in: the input of :func:`questionnaires.build.build`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LoadWarning, QuestionnaireError
from .context import Context
from .document import choice_lists, groups, header, top_level
from .references import check_choice_use, check_expressions, check_labels, check_roles
from .scoring import scoring_tree
from .sections import section_layout

__all__ = ["Context", "validate"]


def validate(
    raw: Any, file: str | None = None, base_dir: str | Path | None = None
) -> tuple[dict, list[LoadWarning]]:
    """Check plain data read from a definition; return it normalised, with the warnings collected.

    Every problem found is reported, together, in one QuestionnaireError (see ``problems``); an entry
    with a problem is left out of the later checks so that one mistake is not reported many times.
    """
    ctx = Context(file)
    ctx.base_dir = Path(base_dir) if base_dir is not None else None
    raw = top_level(ctx, raw)
    ctx.errors.extend(raw.get("_errors") or [])
    for code, message, where in raw.get("_warnings") or []:
        ctx.warn(code, message, where)
    ctx.skipped.update(raw.get("_skipped") or [])
    try:
        out = header(ctx, raw)
    except QuestionnaireError as exc:
        ctx.errors.extend(exc.problems)
        ctx.raise_errors()
        raise
    out["groups"] = groups(ctx, raw)
    group_codes = {g["code"] for g in out["groups"]}
    duplicates = out["settings"].get("allow_choice_duplicates", "").strip().lower() in (
        "yes",
        "true",
        "true()",
    )
    out["choices"], out["choice_files"] = choice_lists(ctx, raw, duplicates)
    ctx.choice_lists = out["choices"]
    layout = section_layout(ctx, raw, out["choices"], group_codes)
    out["sections"] = layout.sections
    items = layout.items
    check_expressions(ctx, layout, items)
    check_labels(ctx, layout, items)
    with ctx.attempt():
        check_choice_use(ctx, items, out["choices"])
    with ctx.attempt():
        check_roles(ctx, layout, items, out["choices"], group_codes)
    out["scoring"] = None
    if raw.get("scoring"):
        with ctx.attempt():
            out["scoring"] = scoring_tree(ctx, raw["scoring"], items, out["choices"], group_codes)
    ctx.raise_errors()
    return out, ctx.warnings
