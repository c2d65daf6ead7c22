"""The results of scoring: frozen dataclasses read by reports, the API and the JSON/CSV writers.

Values are percentages (0-100) at full precision; rounding is for display only. ``None`` means "not
computable" (e.g. a criterion with no valid answer in the unit), and the unit's ``flags`` say why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from questionnaires.files import atomic_write

from .io import neutralise, restore

# Flags a unit result can carry (stable codes; reports translate them).
FLAG_SMALL_SAMPLE = "small_sample"  # fewer responses than the scoring's min_n
FLAG_BELOW_TARGET = "below_target"  # fewer responses than the campaign/frame target
FLAG_MISSING_CRITERIA = "missing_criteria"  # some criterion had no valid answer and was left out
FLAG_NO_DATA = "no_data"  # no valid answer at all
FLAG_LONELY_CELL = "lonely_cell"  # a cell (unit × stratum) with one response: its variance is approximated
# criterion_means: a criterion had valid answers from some of its weighted groups only (the others' weight
# went to the groups that answered)
FLAG_MISSING_GROUP = "missing_group"
# answers given by respondents of a group that the question is not asked of: not counted
FLAG_NOT_ASKED = "answers_not_asked"

# Significant digits of the numbers in a CSV file: 12 keep a percentage to 1e-10, far below any published
# precision, and drop the noise of floating-point arithmetic (about 1e-15 relative).
CSV_SIGNIFICANT_DIGITS = 12

FLAG_LABELS_VI: Mapping[str, str] = MappingProxyType(
    {
        FLAG_SMALL_SAMPLE: "Mẫu nhỏ",
        FLAG_BELOW_TARGET: "Chưa đủ số phiếu mục tiêu",
        FLAG_MISSING_CRITERIA: "Thiếu tiêu chí",
        FLAG_NO_DATA: "Không có dữ liệu",
        FLAG_LONELY_CELL: "Có ô chỉ 1 phiếu",
        FLAG_MISSING_GROUP: "Tiêu chí thiếu nhóm đối tượng",
        FLAG_NOT_ASKED: "Có trả lời của nhóm không được hỏi",
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
    points: float | None = None  # points method: the score in points (index is % of max_points)
    max_points: float | None = None  # the points it is scored out of (points_total: asked = criteria asked)
    flags: tuple[str, ...] = ()
    previous_index: float | None = None
    previous_rank: int | None = None
    change: float | None = None  # index - previous_index
    rank_change: int | None = None  # previous_rank - rank (positive = moved up)
    rank_probability: float | None = None  # P(true rank within shown rank ± 1)
    rank_low: int | None = None  # the rank interval at the table's confidence (simulated ranks)
    rank_high: int | None = None
    rank_group: str | None = None  # letters: units sharing a letter cannot be told apart ("a", "ab")
    name: str | None = None  # display name, when a unit list is known
    df: int | None = None  # design degrees of freedom: responses minus cells
    node_points: Mapping[str, float | None] = field(default_factory=_empty)  # points method: node -> points
    node_max_points: Mapping[str, float | None] = field(default_factory=_empty)  # node -> out of

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
            "rank_low": self.rank_low,
            "rank_high": self.rank_high,
            "rank_group": self.rank_group,
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
            "df": self.df,
            "node_points": dict(self.node_points),
            "node_max_points": dict(self.node_max_points),
        }
        return {k: _clean(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UnitResult:
        """Rebuild a result from :meth:`to_dict` output (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in d.items() if k in known}
        for key in ("fields", "elements", "criteria", "criteria_n", "node_points", "node_max_points"):
            kwargs[key] = MappingProxyType(dict(kwargs.get(key) or {}))
        kwargs["flags"] = tuple(kwargs.get("flags") or ())
        kwargs["unit"] = str(kwargs["unit"])
        kwargs["n"] = int(kwargs.get("n") or 0)
        return cls(**kwargs)


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
    group_weighted: bool = False  # respondent groups weighted by Scoring.group_weights
    group_weighting: str | None = None  # criterion_means | respondents, when group weighted
    points_total: str | None = None  # points method: asked | scaled
    # unit_cell when responses not asked the stratum question were weighted as a cell of their unit
    unasked_stratum: str | None = None
    decimals: int = 2  # published precision (Scoring.decimals); ranks tie at this precision
    min_n: int | None = None  # units with fewer responses are flagged small_sample

    def unit(self, code: str) -> UnitResult:
        for u in self.units:
            if u.unit == code:
                return u
        raise KeyError(code)

    def to_frame(self, include_overall: bool = False) -> pd.DataFrame:
        """One row per unit: headline columns, then ``field:``/``element:``/``criterion:`` columns."""
        rows = []
        for u in (*self.units, self.overall) if include_overall else self.units:
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
            "group_weighted": self.group_weighted,
            "group_weighting": self.group_weighting,
            "points_total": self.points_total,
            "unasked_stratum": self.unasked_stratum,
            "decimals": self.decimals,
            "min_n": self.min_n,
            "labels": dict(self.labels),
            "levels": dict(self.levels),
        }

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> IndexTable:
        """Rebuild a table from :meth:`to_json_dict` output."""
        units = tuple(UnitResult.from_dict(u) for u in d.get("units") or ())
        overall = d.get("overall") or {"unit": "overall", "n": sum(u.n for u in units), "index": None}
        return cls(
            questionnaire=str(d.get("questionnaire") or ""),
            version=str(d.get("version") or ""),
            method=str(d.get("method") or ""),
            units=units,
            overall=UnitResult.from_dict(overall),
            warnings=tuple(d.get("warnings") or ()),
            weighting=str(d.get("weighting") or "none"),
            ci_method=str(d.get("ci_method") or "korn-graubard"),
            confidence=float(d.get("confidence") or 0.95),
            labels=MappingProxyType(dict(d.get("labels") or {})),
            levels=MappingProxyType(dict(d.get("levels") or {})),
            group_weighted=bool(d.get("group_weighted", False)),
            group_weighting=d.get("group_weighting"),
            points_total=d.get("points_total"),
            unasked_stratum=d.get("unasked_stratum"),
            decimals=int(d.get("decimals") if d.get("decimals") is not None else 2),
            min_n=d.get("min_n"),
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> IndexTable:
        """Rebuild a table (units only, headline columns and node values) from :meth:`to_frame` output."""
        if "unit" not in frame.columns or "index" not in frame.columns:
            raise ValueError("the table needs columns 'unit' and 'index'")
        units = []
        for record in frame.to_dict("records"):
            d: dict[str, Any] = {"fields": {}, "elements": {}, "criteria": {}}
            for key, value in record.items():
                value = None if _is_missing(value) else value
                prefix, _, code = str(key).partition(":")
                if code and prefix in ("field", "element", "criterion"):
                    d[{"field": "fields", "element": "elements", "criterion": "criteria"}[prefix]][code] = (
                        value
                    )
                else:
                    d[str(key)] = value
            d["flags"] = tuple(f for f in str(d.get("flags") or "").split(";") if f)
            for key in ("n", "rank", "rank_low", "rank_high", "previous_rank", "rank_change", "target", "df"):
                if d.get(key) is not None:
                    d[key] = int(d[key])
            d["unit"] = str(d["unit"])
            units.append(UnitResult.from_dict(d))
        total = sum(u.n for u in units)
        return cls("", "", "", tuple(units), UnitResult("overall", total, None))

    @classmethod
    def read(cls, path: str | Path) -> IndexTable:
        """Read a table written by :meth:`write_json` or :meth:`write_csv`."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            return cls.from_json_dict(json.loads(path.read_text(encoding="utf-8")))
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(
                path,
                encoding="utf-8-sig",
                dtype={"unit": str, "name": str, "flags": str, "rank_group": str},
            )
            for column in frame.columns:
                if not pd.api.types.is_numeric_dtype(frame[column].dtype):
                    frame[column] = frame[column].map(lambda v: restore(v) if isinstance(v, str) else v)
            return cls.from_frame(frame)
        raise ValueError(f"unsupported file type {path.suffix or '(none)'}; use .json or .csv")

    def write(self, path: str | Path) -> None:
        """Write JSON or CSV, by the file's extension."""
        suffix = Path(path).suffix.lower()
        if suffix == ".json":
            self.write_json(path)
        elif suffix == ".csv":
            self.write_csv(path)
        else:
            raise ValueError(f"unsupported output type {suffix or '(none)'}; use .json or .csv")

    def write_json(self, path: str | Path) -> None:
        """Write the JSON document: headline keys on their own lines, one line per unit.

        The layout keeps a file of 10,000 units quick to write (the compact C encoder per unit) and
        still easy to read and to diff.
        """
        data = self.to_json_dict()

        def dump(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)

        lines = ["{"]
        keys = list(data)
        for i, key in enumerate(keys):
            end = "," if i < len(keys) - 1 else ""
            if key == "units":
                units = data["units"]
                if not units:
                    lines.append(f'  "units": []{end}')
                    continue
                lines.append('  "units": [')
                lines.extend(f"    {dump(u)}{',' if j < len(units) - 1 else ''}" for j, u in enumerate(units))
                lines.append(f"  ]{end}")
            else:
                lines.append(f"  {dump(key)}: {dump(data[key])}{end}")
        lines.append("}")
        text = "\n".join(lines) + "\n"
        atomic_write(path, lambda tmp: tmp.write_bytes(text.encode("utf-8")))

    def write_csv(self, path: str | Path) -> None:
        """Write one row per unit (:meth:`to_frame`), formula-like text neutralised.

        Numbers are written rounded to ``CSV_SIGNIFICANT_DIGITS`` significant digits, as the shortest text
        that reads back to that rounded value (``84.0``, not the float noise ``84.00000000000001``); the
        JSON keeps full precision.
        """
        frame = self.to_frame()
        for column in frame.columns:
            if pd.api.types.is_float_dtype(frame[column].dtype):
                frame[column] = [csv_number(v) for v in frame[column].tolist()]
            elif not pd.api.types.is_numeric_dtype(frame[column].dtype):
                frame[column] = frame[column].astype(object).map(neutralise)
        # UTF-8 with BOM so that Excel shows Vietnamese correctly.
        data = frame.to_csv(index=False).encode("utf-8-sig")
        atomic_write(path, lambda tmp: tmp.write_bytes(data))


def csv_number(value: float) -> float:
    """``value`` rounded to ``CSV_SIGNIFICANT_DIGITS`` significant digits (NaN and infinities as they are)."""
    if not math.isfinite(value):
        return value
    return float(f"{value:.{CSV_SIGNIFICANT_DIGITS}g}")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _clean(value: Any) -> Any:
    """NaN -> None, so that JSON stays valid."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value
