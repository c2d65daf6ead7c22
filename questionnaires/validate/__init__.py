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

from typing import Any

from ..errors import LoadWarning
from .context import Context
from .document import choice_lists, groups, header, top_level
from .references import check_choice_use, check_expressions, check_roles
from .scoring import scoring_tree
from .sections import section_layout

__all__ = ["Context", "validate"]


def validate(raw: Any, file: str | None = None) -> tuple[dict, list[LoadWarning]]:
    """Check plain data read from a definition; return it normalised, with the warnings collected."""
    ctx = Context(file)
    raw = top_level(ctx, raw)
    out = header(ctx, raw)
    out["groups"] = groups(ctx, raw)
    group_codes = {g["code"] for g in out["groups"]}
    out["choices"] = choice_lists(ctx, raw)
    layout = section_layout(ctx, raw, out["choices"], group_codes)
    out["sections"] = layout.sections
    items = layout.items
    check_expressions(ctx, layout, items)
    check_choice_use(ctx, items, out["choices"])
    check_roles(ctx, layout, items, out["choices"], group_codes)
    out["scoring"] = None
    if raw.get("scoring"):
        out["scoring"] = scoring_tree(ctx, raw["scoring"], items, out["choices"], group_codes)
    return out, ctx.warnings
