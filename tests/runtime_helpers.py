"""Inline questionnaires with calculates, defaults and choice filters, for the tests of the runtime side.

``questionnaire(raw)`` loads the plain dict the loader takes (``calculation``, ``default`` and
``choice_filter`` on a question, ``type: calculate``, ``extra`` on a choice) through the whole loader.
"""

from __future__ import annotations

from typing import Any

from questionnaires import Questionnaire, from_data


def questionnaire(raw: dict[str, Any]) -> Questionnaire:
    """Load ``raw`` through the loader into a Questionnaire."""
    return from_data(raw).questionnaire


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
