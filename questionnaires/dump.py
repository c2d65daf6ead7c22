"""A questionnaire back to plain data in the YAML layout, and to YAML text: the loader run backwards.

Defaults are left out (a weight of 1, ``required: false``, empty groups), so that a dumped definition
reads like one written by hand.
"""

from __future__ import annotations

from typing import Any

import yaml

from .expressions import Expression
from .model import (
    ChoiceList,
    Label,
    Level,
    Question,
    Questionnaire,
    ScoreNode,
    Scoring,
    Section,
    UnaskedStratum,
)

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
    if q.language_names:
        out["language_names"] = dict(q.language_names)
    if q.default_language:
        out["default_language"] = q.default_language
    if q.settings:
        out["settings"] = dict(q.settings)
    if q.groups:
        out["groups"] = [{"code": g.code, "label": _label(g.label)} for g in q.groups]
    out["choices"] = {name: _choice_list(cl) for name, cl in q.choice_lists.items()}
    out["sections"] = [_section(s) for s in q.sections]
    if q.scoring:
        out["scoring"] = _scoring(q.scoring)
    return out


def dump_yaml(q: Questionnaire) -> str:
    """Return the questionnaire as YAML text (UTF-8, Vietnamese kept as is)."""
    return yaml.safe_dump(to_dict(q), allow_unicode=True, sort_keys=False, width=110)


def _label(lb: Label | None) -> Any:
    if lb is None or not lb.texts:
        return None
    return lb.as_dict()


def _choice_list(cl: ChoiceList) -> Any:
    choices = []
    for c in cl.choices:
        d: dict[str, Any] = {"code": c.code, "label": _label(c.label)}
        if c.extra:
            d["extra"] = dict(c.extra)
        if c.audio:
            d["audio"] = dict(c.audio)
        choices.append(d)
    return {"file": cl.file, "choices": choices} if cl.file else choices


def _expr(e: Expression | None) -> str | None:
    return e.text if e else None


def _section(s: Section) -> dict:
    d: dict[str, Any] = {"code": s.code}
    if s.label.texts:
        d["label"] = _label(s.label)
    if not s.wrapped:
        d["wrapped"] = False
    elif s.appearance != "field-list":
        d["appearance"] = s.appearance  # None (no appearance) is written as null
    if s.intro:
        d["intro"] = _label(s.intro)
    if s.relevant:
        d["relevant"] = s.relevant.text
    if s.groups:
        d["groups"] = list(s.groups)
    if s.extra:
        d["extra"] = dict(s.extra)
    if s.audio:
        d["audio"] = dict(s.audio)
    d["questions"] = [_question(qn) for qn in s.questions]
    return d


def _question(qn: Question) -> dict:
    d: dict[str, Any] = {"code": qn.code, "type": qn.type.value}
    if qn.label.texts:
        d["label"] = _label(qn.label)
    for key in ("hint", "guidance_hint", "required_message"):
        if getattr(qn, key):
            d[key] = _label(getattr(qn, key))
    if qn.choices:
        d["choices"] = qn.choices
    if qn.required:
        d["required"] = True
    elif qn.required_if:
        d["required"] = qn.required_if.text
    for key in ("relevant", "constraint", "calculation", "choice_filter"):
        if getattr(qn, key):
            d[key] = _expr(getattr(qn, key))
    if qn.default is not None:
        d["default"] = qn.default
    if qn.read_only:
        d["read_only"] = True
    if qn.constraint_message:
        d["constraint_message"] = _label(qn.constraint_message)
    if qn.appearance:
        d["appearance"] = qn.appearance
    if qn.role:
        d["role"] = qn.role.value
    if qn.groups:
        d["groups"] = list(qn.groups)
    if qn.extra:
        d["extra"] = dict(qn.extra)
    if qn.audio:
        d["audio"] = dict(qn.audio)
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
        **(
            {"unasked_stratum": sc.unasked_stratum.value}
            if sc.unasked_stratum is not UnaskedStratum.REFUSE
            else {}
        ),
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
