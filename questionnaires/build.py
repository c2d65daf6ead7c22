"""The *build* stage: normalised data (the output of :func:`questionnaires.validate.validate`) -> model.

Nothing is checked here any more; every value has been validated, so this only constructs the frozen
dataclasses of :mod:`questionnaires.model`.
"""

from __future__ import annotations

from types import MappingProxyType

from .expressions import Expression, parse, parse_choice_filter
from .model import (
    Choice,
    ChoiceList,
    GroupWeighting,
    Label,
    Level,
    Method,
    PointsTotal,
    Question,
    Questionnaire,
    QuestionType,
    RespondentGroup,
    Role,
    ScoreNode,
    Scoring,
    Section,
    UnaskedStratum,
)

__all__ = ["build"]


def build(data: dict) -> Questionnaire:
    """Build the model from normalised data (the output of :func:`~questionnaires.validate.validate`)."""
    files = data.get("choice_files") or {}
    return Questionnaire(
        id=data["id"],
        version=data["version"],
        title=_label(data["title"]),
        languages=tuple(data["languages"]),
        language_names=MappingProxyType(dict(data.get("language_names") or {})),
        default_language=data.get("default_language"),
        settings=MappingProxyType(dict(data.get("settings") or {})),
        description=_label(data.get("description")),
        source=data.get("source"),
        groups=tuple(RespondentGroup(g["code"], _label(g["label"])) for g in data["groups"]),
        choice_lists=MappingProxyType(
            {
                name: ChoiceList(
                    name,
                    tuple(
                        Choice(c["code"], _label(c["label"]), _extra(c.get("extra")), _extra(c.get("audio")))
                        for c in items
                    ),
                    files.get(name),
                )
                for name, items in data["choices"].items()
            }
        ),
        sections=tuple(_section(s) for s in data["sections"]),
        scoring=_scoring(data["scoring"]) if data.get("scoring") else None,
    )


def _label(d: dict | None) -> Label | None:
    return Label(texts=d) if d else None


def _extra(d: dict | None) -> MappingProxyType:
    return MappingProxyType(dict(d or {}))


def _expr(text: str | None) -> Expression | None:
    return parse(text) if text else None


def _section(s: dict) -> Section:
    return Section(
        code=s["code"],
        label=_label(s["label"]) or Label(),
        intro=_label(s.get("intro")),
        relevant=_expr(s.get("relevant")),
        groups=tuple(s["groups"]),
        questions=tuple(_question(q) for q in s["questions"]),
        appearance=s.get("appearance", "field-list"),
        wrapped=s.get("wrapped", True),
        extra=_extra(s.get("extra")),
        audio=_extra(s.get("audio")),
    )


def _question(q: dict) -> Question:
    return Question(
        code=q["code"],
        type=QuestionType(q["type"]),
        label=_label(q["label"]) or Label(),
        hint=_label(q.get("hint")),
        choices=q.get("choices"),
        required=q["required"],
        required_if=_expr(q.get("required_if")),
        relevant=_expr(q.get("relevant")),
        constraint=_expr(q.get("constraint")),
        constraint_message=_label(q.get("constraint_message")),
        appearance=q.get("appearance"),
        role=Role(q["role"]) if q.get("role") else None,
        groups=tuple(q["groups"]),
        calculation=_expr(q.get("calculation")),
        default=q.get("default"),
        choice_filter=parse_choice_filter(q["choice_filter"]) if q.get("choice_filter") else None,
        guidance_hint=_label(q.get("guidance_hint")),
        required_message=_label(q.get("required_message")),
        read_only=q.get("read_only", False),
        extra=_extra(q.get("extra")),
        audio=_extra(q.get("audio")),
    )


def _scoring(sc: dict) -> Scoring:
    return Scoring(
        method=Method(sc["method"]),
        tree=_node(sc["index"]),
        valid=tuple(sc["valid"]),
        positive=tuple(sc["positive"]),
        scale=(sc["scale"][0], sc["scale"][1]),
        values=MappingProxyType(dict(sc["values"])),
        group_weights=MappingProxyType(dict(sc["group_weights"])),
        group_weighting=GroupWeighting(sc.get("group_weighting", GroupWeighting.CRITERION_MEANS.value)),
        points_total=PointsTotal(sc.get("points_total", PointsTotal.ASKED.value)),
        unasked_stratum=UnaskedStratum(sc.get("unasked_stratum", UnaskedStratum.REFUSE.value)),
        decimals=sc["decimals"],
        min_n=sc["min_n"],
    )


def _node(d: dict) -> ScoreNode:
    return ScoreNode(
        code=d["code"],
        level=Level(d["level"]),
        label=_label(d["label"]),
        weight=d["weight"],
        children=tuple(_node(c) for c in d["children"]),
        items=tuple(d["items"]),
        gate=_expr(d["gate"]),
        max_points=d["max_points"],
        method=Method(d["method"]) if d["method"] else None,
        values=MappingProxyType(dict(d["values"])) if d["values"] else None,
    )
