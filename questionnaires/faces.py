"""Scales drawn as faces: which choices of a list are the scale, and where each sits on it.

A ``single`` question with the ``faces`` appearance (or, in a campaign that asks for it, a scored
``likert`` question) is drawn on the kiosk as a row of faces from the least to the most satisfied.
The faces are presentation only: the codes stored and scored never change.

:func:`face_levels` places each scale choice between 0 (least satisfied: a frown, brows raised inside)
and 1 (most satisfied: a broad smile), evenly by rank, so a 3-, 4- or 5-point scale gets faces
interpolated between those two ends. A choice that is not on the scale (``Không biết`` and any code
the questionnaire's scoring does not count as valid) gets no level: the kiosk draws it as a plain
button beside the faces.

Which end is "satisfied", in this order of evidence:

1. the scoring's option values (``scoring.values``, the points method): a higher value is better;
2. integer codes (``1``–``5``): a larger code is better, unless the scoring's ``positive`` codes are the
   small ones;
3. otherwise the list's order: the last choice is the best, unless the ``positive`` codes come first.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Question, Questionnaire, QuestionType, _is_int_literal

__all__ = ["FACES", "LIKERT", "face_levels", "is_face_question"]

FACES = "faces"
LIKERT = "likert"


def is_face_question(questionnaire: Questionnaire, question: Question, *, likert_faces: bool = False) -> bool:
    """Whether the kiosk draws ``question`` as faces.

    Yes for a ``faces`` appearance. With ``likert_faces`` (a campaign setting), also for a ``likert``
    question the scoring scores (a satisfaction item; without a scoring, every ``likert`` question):
    an unscored Likert scale such as "how interested are you" or "how much do you expect" is not a
    satisfaction scale, and a smiling or frowning face would change what it asks. Only a single choice
    from an unfiltered list qualifies (a filtered list changes from answer to answer, so its faces would
    not keep their meaning).
    """
    if question.type is not QuestionType.SINGLE or not question.choices or question.choice_filter is not None:
        return False
    if question.has_appearance(FACES):
        return True
    if not (likert_faces and question.has_appearance(LIKERT)):
        return False
    scoring = questionnaire.scoring
    return scoring is None or any(question.code in c.items for c in scoring.criteria)


def _scale_codes(questionnaire: Questionnaire, codes: Sequence[str]) -> list[str]:
    scoring = questionnaire.scoring
    if scoring is not None and any(code in scoring.valid for code in codes):
        return [code for code in codes if code in scoring.valid]
    return list(codes)


def _best_first(questionnaire: Questionnaire, scale: list[str]) -> bool:
    """Whether the ``positive`` codes sit in the first half of ``scale`` (as ordered so far)."""
    scoring = questionnaire.scoring
    if scoring is None:
        return False
    ranks = [i for i, code in enumerate(scale) if code in scoring.positive]
    return bool(ranks) and sum(ranks) / len(ranks) < (len(scale) - 1) / 2


def face_levels(questionnaire: Questionnaire, list_name: str) -> dict[str, float] | None:
    """``{code: level}`` for the scale choices of ``list_name``, 0 = least and 1 = most satisfied.

    None when the list has fewer than two scale choices (no scale to draw). Choices off the scale are
    absent from the mapping.
    """
    choice_list = questionnaire.choice_lists.get(list_name)
    if choice_list is None:
        return None
    scale = _scale_codes(questionnaire, choice_list.codes)
    if len(scale) < 2:
        return None
    values = questionnaire.scoring.values if questionnaire.scoring is not None else {}
    if all(code in values for code in scale) and len({values[c] for c in scale}) > 1:
        ordered = sorted(scale, key=lambda c: (values[c], scale.index(c)))  # worst to best
    elif all(_is_int_literal(code) for code in scale):
        ordered = sorted(scale, key=int)
        if _best_first(questionnaire, ordered):
            ordered.reverse()
    else:
        ordered = list(scale)
        if _best_first(questionnaire, ordered):
            ordered.reverse()
    last = len(ordered) - 1
    return {code: round(rank / last, 6) for rank, code in enumerate(ordered)}
