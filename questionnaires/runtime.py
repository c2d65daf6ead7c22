"""What the answers imply while a form is filled: calculate values, offered choices and defaults.

* **Calculates** (``type: calculate``) are computed from the answers in document order, so that a
  calculate may read earlier calculates; a calculate that is not asked (its section's or its own
  ``relevant`` is false, or the respondent's group is not among its ``groups``) has no value. The value
  stored is the result as the expression language prints it (:func:`stored_value`): ``2.5``, ``"3"``
  for 3.0, ``"true"``/``"false"`` for a test; NaN, infinities and ``''`` store nothing. Values the
  answers carry for calculates (a device's) are never read: they are computed again.
* :func:`settle` joins them to the skip logic of :mod:`questionnaires.applicability`: calculates are
  computed, answers to questions no longer asked are dropped (relevance may read calculates), and the
  two repeat until nothing changes.
* **Choice filters** (XLSForm ``choice_filter``): a choice is offered when the filter is true for the
  answers and the choice's row (:func:`choice_row`: ``name`` is its code, its other columns by header).
* **Defaults**: the answer a question starts with (:func:`default_answer`), typed as answers are stored.

The kiosk applies the same rules in the browser (``SipasExpr.settle``, ``SipasExpr.offeredChoices`` in
``survey/static/kiosk/expr.js``, defaults sent typed by ``survey.client``); a test holds them to agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .applicability import applicable, drop_inapplicable, respondent_group
from .expressions import to_text
from .model import Choice, Question, Questionnaire, QuestionType

__all__ = [
    "calculate",
    "choice_row",
    "default_answer",
    "offered_choices",
    "offered_codes",
    "settle",
    "stored_value",
]

_INT = re.compile(r"[+-]?\d+")
_DEC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def stored_value(value: Any) -> str | None:
    """The stored form of a calculation's result: its text, or None for NaN, infinities and ''."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = to_text(value)
    return text or None


def calculate(
    questionnaire: Questionnaire,
    answers: Mapping[str, Any],
    group: str | None = None,
    *,
    now: datetime | str | None = None,
) -> dict[str, Any]:
    """Return the answers with every calculate asked computed, in document order.

    ``group`` is the respondent group given with the response; ``now`` fixes the clock of ``now()`` and
    ``today()``. Values ``answers`` holds for calculates are replaced (or removed when not asked).
    """
    computed_codes = {q.code for q in questionnaire.questions() if q.type.is_computed}
    out = {code: value for code, value in answers.items() if code not in computed_codes}
    for section in questionnaire.sections:
        for question in section.questions:
            if not question.type.is_computed or question.calculation is None:
                continue
            if not applicable(section, question, out, respondent_group(questionnaire, out, group)):
                continue
            value = stored_value(question.calculation.evaluate(out, now=now))
            if value is not None:
                out[question.code] = value
    return out


def settle(
    questionnaire: Questionnaire,
    answers: Mapping[str, Any],
    group: str | None = None,
    *,
    now: datetime | str | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Compute the calculates and drop the answers not asked, until nothing changes.

    Returns (kept answers with the calculates, in questionnaire order; the dropped answer codes).
    Each round either drops an answer or stops, so it ends.
    """
    computed_codes = {q.code for q in questionnaire.questions() if q.type.is_computed}
    current = dict(answers)
    while True:
        full = calculate(questionnaire, current, group, now=now)
        kept, dropped = drop_inapplicable(questionnaire, full, group)
        if not dropped:
            break
        current = {code: value for code, value in kept.items() if code not in computed_codes}
    gone = tuple(
        code
        for code in questionnaire.item_codes
        if code in answers and code not in kept and code not in computed_codes
    )
    return kept, gone


def choice_row(choice: Choice) -> dict[str, str]:
    """The columns a choice filter reads of a choice: its extra columns, and ``name`` = its code."""
    return {**choice.extra, "name": choice.code}


def offered_choices(
    questionnaire: Questionnaire, question: Question, answers: Mapping[str, Any]
) -> tuple[Choice, ...]:
    """The choices of ``question`` offered with these answers (all of them without a choice filter)."""
    choice_list = questionnaire.choice_list(question)
    if choice_list is None:
        return ()
    if question.choice_filter is None:
        return choice_list.choices
    test = question.choice_filter
    return tuple(c for c in choice_list.choices if test.truthy(answers, choice=choice_row(c)))


def offered_codes(
    questionnaire: Questionnaire, question: Question, answers: Mapping[str, Any]
) -> tuple[str, ...]:
    """The codes of :func:`offered_choices`."""
    return tuple(c.code for c in offered_choices(questionnaire, question, answers))


def default_answer(question: Question) -> Any:
    """The answer ``question`` starts with, typed as stored (None: no default, or one of the wrong type).

    ``multiple``: the space-separated codes as a list; ``integer``: an int; ``decimal``: a float;
    other answerable types: the text. Notes, metadata and calculates have no default answer.
    """
    text = (question.default or "").strip()
    if not text or not question.type.is_answerable:
        return None
    if question.type is QuestionType.MULTIPLE:
        return text.split()
    if question.type is QuestionType.INTEGER:
        return int(text) if _INT.fullmatch(text) else None
    if question.type is QuestionType.DECIMAL:
        return float(text) if _DEC.fullmatch(text) else None
    return text
