"""The questionnaire as the browser needs it: plain JSON with expressions as syntax trees."""

from __future__ import annotations

from typing import Any

from questionnaires import (
    Choice,
    Expression,
    Label,
    Question,
    Questionnaire,
    Section,
    default_answer,
    face_levels,
    is_face_question,
)


def _label(label: Label | None) -> dict[str, str] | None:
    """Every language's text; ``vi`` is the Vietnamese, or the form's first language when it has none."""
    if label is None or not label.texts:
        return None
    return {**label.as_dict(), "vi": label.vi}


def _tree(expr: Expression | None) -> list | None:
    return expr.to_json() if expr is not None else None


def _question(q: Question) -> dict[str, Any]:
    return {
        "code": q.code,
        "type": str(q.type),
        "label": _label(q.label),
        "hint": _label(q.hint),
        "choices": q.choices,
        "required": q.required,
        "required_if": _tree(q.required_if),
        "relevant": _tree(q.relevant),
        "constraint": _tree(q.constraint),
        "constraint_message": _label(q.constraint_message),
        "appearance": q.appearance,
        "role": str(q.role) if q.role else None,
        "groups": list(q.groups),
        "calculation": _tree(q.calculation),
        "default": default_answer(q),  # typed as the answer is stored
        "choice_filter": _tree(q.choice_filter),
    }


def _choice(c: Choice) -> dict[str, Any]:
    out: dict[str, Any] = {"code": c.code, "label": _label(c.label)}
    if c.extra:  # the columns a choice filter reads
        out["extra"] = dict(c.extra)
    return out


def _section(s: Section) -> dict[str, Any]:
    return {
        "code": s.code,
        "label": _label(s.label),
        "intro": _label(s.intro),
        "relevant": _tree(s.relevant),
        "groups": list(s.groups),
        "questions": [_question(q) for q in s.questions],
    }


def _faces(
    questionnaire: Questionnaire, sections: list[dict[str, Any]], likert_faces: bool
) -> dict[str, Any]:
    """Mark the questions drawn as faces (``"faces": true``) and return each of their lists' face levels.

    A question whose list has no scale to draw (fewer than two scale choices) stays as it was.
    """
    levels: dict[str, dict[str, float]] = {}
    by_code = {q.code: q for q in questionnaire.questions()}
    for section in sections:
        for item in section["questions"]:
            question = by_code[item["code"]]
            if not is_face_question(questionnaire, question, likert_faces=likert_faces):
                continue
            found = levels.get(question.choices) or face_levels(questionnaire, question.choices)
            if found:
                levels[question.choices] = found
                item["faces"] = True
    return levels


def client_definition(questionnaire: Questionnaire, *, likert_faces: bool = False) -> dict[str, Any]:
    """Return the questionnaire for the kiosk: sections, questions, choice lists, labels, expression trees.

    ``likert_faces`` (a campaign's kiosk setting): its scored Likert questions are drawn as faces too,
    not only those whose appearance says ``faces``. ``faces`` maps each list drawn as faces to its
    scale choices' levels (0 least, 1 most satisfied; :func:`questionnaires.face_levels`).
    """
    q = questionnaire
    sections = [_section(s) for s in q.sections]
    faces = _faces(q, sections, likert_faces)
    return {
        "id": q.id,
        "version": q.version,
        "title": _label(q.title),
        "description": _label(q.description),
        "source": q.source,
        "languages": list(q.languages),
        "groups": [{"code": g.code, "label": _label(g.label)} for g in q.groups],
        "choice_lists": {name: [_choice(c) for c in cl.choices] for name, cl in q.choice_lists.items()},
        "sections": sections,
        "faces": faces,
    }
