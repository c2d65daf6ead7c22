"""Skip logic: which questions a respondent is asked, and which answers it drops.

A question is *applicable* when the respondent group is among its section's ``groups`` and its own
(empty = every group) and its section's ``relevant`` and its own are true over the answers. An answer
to a question that is not applicable is dropped, as ODK does: the person never saw the question, so it
is not their answer. Dropping one answer can make further questions inapplicable, so
:func:`drop_inapplicable` repeats until nothing changes (the cascade), reading the respondent group
again from the answers it keeps on every pass.

The respondent group is the one given with the response, else the answer of the ``role: group``
question, else the only declared group; when it is unknown, group-restricted questions are not asked.

The kiosk and the paper-entry form apply the very same rules in the browser (``SipasExpr.applicable``
and ``SipasExpr.dropInapplicable`` in ``survey/static/kiosk/expr.js``); a test holds the two to agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import Question, Questionnaire, Role, Section

__all__ = ["applicable", "drop_inapplicable", "respondent_group", "section_applicable"]


def respondent_group(
    questionnaire: Questionnaire, answers: Mapping[str, Any], group: str | None = None
) -> str | None:
    """Return ``group`` if given, else the ``role: group`` question's answer, else the only declared group."""
    if group:
        return group
    item = questionnaire.role_item(Role.GROUP)
    if item is not None and isinstance(answers.get(item.code), str):
        return answers[item.code]
    if len(questionnaire.groups) == 1:
        return questionnaire.groups[0].code
    return None


def section_applicable(section: Section, answers: Mapping[str, Any], group: str | None) -> bool:
    """Return whether ``section`` is shown to a respondent of ``group`` with these answers."""
    if section.groups and group not in section.groups:
        return False
    return section.relevant is None or section.relevant.truthy(answers)


def applicable(section: Section, question: Question, answers: Mapping[str, Any], group: str | None) -> bool:
    """Return whether ``question`` of ``section`` is asked of a respondent of ``group`` with these answers."""
    if not section_applicable(section, answers, group):
        return False
    if question.groups and group not in question.groups:
        return False
    return question.relevant is None or question.relevant.truthy(answers)


def drop_inapplicable(
    questionnaire: Questionnaire, answers: Mapping[str, Any], group: str | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Drop the answers to questions that are not asked, until nothing changes; return (kept, dropped codes).

    ``group`` is the respondent group given with the response (it wins over the answers). The kept
    answers follow the questionnaire's order, so that stored JSON reads like the form; the dropped
    codes too. Notes, metadata and keys that are not item codes are never dropped.
    """
    kept = dict(answers)
    while True:  # each pass drops at least one answer, or stops
        respondent = respondent_group(questionnaire, kept, group)
        dropping = [
            q.code
            for s in questionnaire.sections
            for q in s.questions
            if q.code in kept and q.type.is_answerable and not applicable(s, q, kept, respondent)
        ]
        if not dropping:
            break
        for code in dropping:
            del kept[code]
    order = {code: i for i, code in enumerate(questionnaire.item_codes)}
    dropped = tuple(code for code in order if code in answers and code not in kept)
    return dict(sorted(kept.items(), key=lambda kv: order.get(kv[0], len(order)))), dropped
