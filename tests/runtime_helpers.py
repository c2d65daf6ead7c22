"""Inline questionnaires with calculates, defaults and choice filters, for the tests of the runtime side.

``questionnaire(raw)`` takes the plain dict the loader takes, with the keys the loader is gaining:
``calculation``, ``default`` and ``choice_filter`` on a question (``type: calculate``) and ``extra`` on
a choice. Until the loader reads them, they are taken out, the rest is loaded with ``from_data``, and
the model objects are completed with ``dataclasses.replace``.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from questionnaires import Questionnaire, QuestionType, from_data, parse, parse_choice_filter

RUNTIME_KEYS = ("calculation", "default", "choice_filter")


def questionnaire(raw: dict[str, Any]) -> Questionnaire:
    """Load ``raw`` (see the module's docstring) into a Questionnaire."""
    raw = copy.deepcopy(raw)
    extra: dict[str, dict[str, Any]] = {}
    for section in raw["sections"]:
        for q in section["questions"]:
            found = {key: q.pop(key) for key in RUNTIME_KEYS if key in q}
            if q["type"] == "calculate":
                q["type"] = "text"
                q.setdefault("label", q["code"])
                found["type"] = "calculate"
            if found:
                extra[q["code"]] = found
    columns: dict[tuple[str, str], dict[str, str]] = {}
    for name, items in raw.get("choices", {}).items():
        for choice in items:
            if "extra" in choice:
                columns[(name, str(choice["code"]))] = choice.pop("extra")
    loaded = from_data(raw).questionnaire

    def question(q):
        found = extra.get(q.code)
        if not found:
            return q
        return replace(
            q,
            type=QuestionType(found.get("type", q.type)),
            calculation=parse(found["calculation"]) if "calculation" in found else None,
            default=found.get("default"),
            choice_filter=parse_choice_filter(found["choice_filter"]) if "choice_filter" in found else None,
        )

    lists = {
        name: replace(
            cl,
            choices=tuple(
                replace(c, extra=MappingProxyType(columns[key])) if (key := (name, c.code)) in columns else c
                for c in cl.choices
            ),
        )
        for name, cl in loaded.choice_lists.items()
    }
    sections = tuple(replace(s, questions=tuple(question(q) for q in s.questions)) for s in loaded.sections)
    return replace(loaded, sections=sections, choice_lists=MappingProxyType(lists))


# Provinces, districts and communes (a few real names), for cascading selects.
PLACES = {
    "tinh": [
        {"code": "qng", "label": "Quảng Ngãi"},
        {"code": "qnm", "label": "Quảng Nam"},
    ],
    "huyen": [
        {"code": "tb", "label": "Trà Bồng", "extra": {"tinh": "qng"}},
        {"code": "st", "label": "Sơn Tịnh", "extra": {"tinh": "qng"}},
        {"code": "tm", "label": "Tây Giang", "extra": {"tinh": "qnm"}},
    ],
    "xa": [
        {"code": "tx", "label": "Thị trấn Trà Xuân", "extra": {"tinh": "qng", "huyen": "tb"}},
        {"code": "tp", "label": "Xã Trà Phú", "extra": {"tinh": "qng", "huyen": "tb"}},
        {"code": "tbinh", "label": "Xã Tịnh Bình", "extra": {"tinh": "qng", "huyen": "st"}},
        {"code": "ax", "label": "Xã A Xan", "extra": {"tinh": "qnm", "huyen": "tm"}},
    ],
}
