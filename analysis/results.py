"""The results of scoring: frozen dataclasses read by reports, the API and the JSON/CSV writers.

Values are percentages (0-100) at full precision; rounding is for display only. ``None`` means "not
computable" (e.g. a criterion with no valid answer in the unit), and the unit's ``flags`` say why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

# Flags a unit result can carry (stable codes; reports translate them).
FLAG_SMALL_SAMPLE = "small_sample"  # fewer responses than the scoring's min_n
FLAG_BELOW_TARGET = "below_target"  # fewer responses than the campaign/frame target
FLAG_MISSING_CRITERIA = "missing_criteria"  # some criterion had no valid answer and was left out
FLAG_NO_DATA = "no_data"  # no valid answer at all

FLAG_LABELS_VI: Mapping[str, str] = MappingProxyType(
    {
        FLAG_SMALL_SAMPLE: "Mẫu nhỏ",
        FLAG_BELOW_TARGET: "Chưa đủ số phiếu mục tiêu",
        FLAG_MISSING_CRITERIA: "Thiếu tiêu chí",
        FLAG_NO_DATA: "Không có dữ liệu",
    }
)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class UnitResult:
    """The scores of one unit, or of the whole area (``unit == "overall"``, ``rank is None``)."""

    unit: str
    n: int  # responses used
    index: float | None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rank: int | None = None
    deff: float | None = None  # Kish design effect of the weights
    n_eff: float | None = None  # Kish effective sample size
    target: int | None = None  # target number of responses, when known
    population: float | None = None  # N served in the period, when a frame is given
    fields: Mapping[str, float | None] = field(default_factory=_empty)
    elements: Mapping[str, float | None] = field(default_factory=_empty)
    criteria: Mapping[str, float | None] = field(default_factory=_empty)
    criteria_n: Mapping[str, int] = field(default_factory=_empty)  # valid answers per criterion
    points: float | None = None  # points method: the score in points (index is % of max points)
    max_points: float | None = None
    flags: tuple[str, ...] = ()
    previous_index: float | None = None
    previous_rank: int | None = None
    change: float | None = None  # index - previous_index
    rank_change: int | None = None  # previous_rank - rank (positive = moved up)
    rank_probability: float | None = None  # P(true rank within shown rank ± 1)
    name: str | None = None  # display name, when a unit list is known

    def to_dict(self) -> dict[str, Any]:
        d = {
            "unit": self.unit,
            "name": self.name,
            "n": self.n,
            "index": self.index,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "rank": self.rank,
            "deff": self.deff,
            "n_eff": self.n_eff,
            "target": self.target,
            "population": self.population,
            "fields": dict(self.fields),
            "elements": dict(self.elements),
            "criteria": dict(self.criteria),
            "criteria_n": dict(self.criteria_n),
            "points": self.points,
            "max_points": self.max_points,
            "flags": list(self.flags),
            "previous_index": self.previous_index,
            "previous_rank": self.previous_rank,
            "change": self.change,
            "rank_change": self.rank_change,
            "rank_probability": self.rank_probability,
        }
        return {k: _clean(v) for k, v in d.items()}


@dataclass(frozen=True)
class IndexTable:
    """Scores for every unit and for the whole area, with what an analyst needs to read them."""

    questionnaire: str  # id
    version: str
    method: str  # share_satisfied | mean_score | points
    units: tuple[UnitResult, ...]  # sorted by rank (then unit code)
    overall: UnitResult
    warnings: tuple[str, ...] = ()
    weighting: str = "none"  # none | design | poststratified | raked
    ci_method: str = "korn-graubard"
    confidence: float = 0.95
    labels: Mapping[str, str] = field(default_factory=_empty)  # node code -> Vietnamese label
    levels: Mapping[str, str] = field(default_factory=_empty)  # node code -> index/field/element/criterion

    def unit(self, code: str) -> UnitResult:
        for u in self.units:
            if u.unit == code:
                return u
        raise KeyError(code)

    def to_frame(self) -> pd.DataFrame:
        """One row per unit: headline columns, then ``field:``/``element:``/``criterion:`` columns."""
        rows = []
        for u in self.units:
            d = u.to_dict()
            row = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
            row["flags"] = ";".join(u.flags)
            for prefix, values in (("field", u.fields), ("element", u.elements), ("criterion", u.criteria)):
                for code, value in values.items():
                    row[f"{prefix}:{code}"] = value
            rows.append(row)
        return pd.DataFrame(rows)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "questionnaire": self.questionnaire,
            "version": self.version,
            "method": self.method,
            "weighting": self.weighting,
            "ci_method": self.ci_method,
            "confidence": self.confidence,
            "units": [u.to_dict() for u in self.units],
            "overall": self.overall.to_dict(),
            "warnings": list(self.warnings),
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

    def write_csv(self, path: str | Path) -> None:
        # UTF-8 with BOM so that Excel shows Vietnamese correctly.
        self.to_frame().to_csv(path, index=False, encoding="utf-8-sig")


def _clean(value: Any) -> Any:
    """NaN -> None, so that JSON stays valid."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value
