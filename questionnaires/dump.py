"""A questionnaire back to plain data in the YAML layout, and to YAML text: the loader run backwards.

Defaults are left out (a weight of 1, ``required: false``, empty groups), so that a dumped definition
reads like one written by hand.
"""

from __future__ import annotations

from typing import Any

import yaml

from .expressions import Expression
from .model import Label, Level, Question, Questionnaire, ScoreNode, Scoring, Section

__all__ = ["dump_yaml", "to_dict"]

_CHILD_KEY = {Level.FIELD: "fields", Level.ELEMENT: "elements", Level.CRITERION: "criteria"}


def to_dict(q: Questionnaire) -> dict:
    """Return the questionnaire as plain data in the YAML layout; ``from_data(to_dict(q))`` gives ``q``."""
    out: dict[str, Any] = {"id": q.id, "version": q.version, "title": _label(q.title)}
    if q.description:
        out["description"] = _label(q.description)
    if q.source:
        out["source"] = q.source
    out["languages"] = list(q.languages)
    if q.groups:
        out["groups"] = [{"code": g.code, "label": _label(g.label)} for g in q.groups]
    out["choices"] = {
        name: [{"code": c.code, "label": _label(c.label)} for c in cl.choices]
        for name, cl in q.choice_lists.items()
    }
    out["sections"] = [_section(s) for s in q.sections]
    if q.scoring:
        out["scoring"] = _scoring(q.scoring)
    return out


def dump_yaml(q: Questionnaire) -> str:
    """Return the questionnaire as YAML text (UTF-8, Vietnamese kept as is)."""
    return yaml.safe_dump(to_dict(q), allow_unicode=True, sort_keys=False, width=110)


def _label(lb: Label | None) -> Any:
    if lb is None:
        return None
    return {"vi": lb.vi, "en": lb.en} if lb.en else {"vi": lb.vi}


def _expr(e: Expression | None) -> str | None:
    return e.text if e else None


def _section(s: Section) -> dict:
    d: dict[str, Any] = {"code": s.code, "label": _label(s.label)}
    if s.intro:
        d["intro"] = _label(s.intro)
    if s.relevant:
        d["relevant"] = s.relevant.text
    if s.groups:
        d["groups"] = list(s.groups)
    d["questions"] = [_question(qn) for qn in s.questions]
    return d


def _question(qn: Question) -> dict:
    d: dict[str, Any] = {"code": qn.code, "type": qn.type.value, "label": _label(qn.label)}
    if qn.hint:
        d["hint"] = _label(qn.hint)
    if qn.choices:
        d["choices"] = qn.choices
    if qn.required:
        d["required"] = True
    elif qn.required_if:
        d["required"] = qn.required_if.text
    for key in ("relevant", "constraint"):
        if getattr(qn, key):
            d[key] = _expr(getattr(qn, key))
    if qn.constraint_message:
        d["constraint_message"] = _label(qn.constraint_message)
    if qn.appearance:
        d["appearance"] = qn.appearance
    if qn.role:
        d["role"] = qn.role.value
    if qn.groups:
        d["groups"] = list(qn.groups)
    return d


def _scoring(sc: Scoring) -> dict:
    return {
        "method": sc.method.value,
        "valid": list(sc.valid),
        "positive": list(sc.positive),
        "scale": list(sc.scale),
        **({"values": dict(sc.values)} if sc.values else {}),
        **({"group_weights": dict(sc.group_weights)} if sc.group_weights else {}),
        "group_weighting": sc.group_weighting.value,
        "points_total": sc.points_total.value,
        "decimals": sc.decimals,
        "min_n": sc.min_n,
        "index": _node(sc.tree),
    }


def _node(n: ScoreNode) -> dict:
    d: dict[str, Any] = {}
    if n.level is Level.CRITERION:
        if len(n.items) == 1:
            d["item"] = n.items[0]
            if n.code != n.items[0]:
                d["code"] = n.code
        else:
            d["code"] = n.code
            d["items"] = list(n.items)
    else:
        d["code"] = n.code
    d["label"] = _label(n.label)
    if n.weight != 1.0:
        d["weight"] = n.weight
    if n.gate:
        d["gate"] = n.gate.text
    if n.max_points is not None:
        d["max_points"] = n.max_points
    if n.method:
        d["method"] = n.method.value
    if n.values:
        d["values"] = dict(n.values)
    if n.children:
        d[_CHILD_KEY[n.children[0].level]] = [_node(c) for c in n.children]
    return d
