"""The index of the whole area broken down by a column of the responses table (``sipas score --by``).

Domain estimation with the survey's own design: for each value of the column (e.g. ``language``: the
language the form was shown in), the responses outside the domain keep their rows, their design cells
and their weights, but their scored answers are left out. The engine's ratio estimator then sums over
the domain only, and its linearised variance counts the out-of-domain rows as zeros in their cells: the
usual subpopulation estimate (never a re-weighting of the domain as if it were a sample of its own).
The domain's size in each cell is random, which is why the variance is computed this way.

Rows without a value form their own domain, named :data:`NO_VALUE`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from questionnaires import Questionnaire, load_questionnaire

from .errors import ScoringError
from .results import csv_number

if TYPE_CHECKING:
    import pandas as pd

    from .results import IndexTable

__all__ = ["BY_COLUMNS", "NO_VALUE", "DomainResult", "DomainTable", "score_by"]

# The columns ``sipas score --by`` offers, with their Vietnamese and English names.
BY_COLUMNS = {"language": ("Ngôn ngữ hiển thị phiếu", "Language the form was shown in")}
NO_VALUE = "(không rõ)"


@dataclass(frozen=True)
class DomainResult:
    """The index of one domain (one value of the column), for the whole area."""

    domain: str
    n: int  # responses in the domain
    index: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    elements: Mapping[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "n": self.n,
            "index": self.index,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "elements": dict(self.elements),
        }


@dataclass(frozen=True)
class DomainTable:
    """The index by domain: one row per value of ``column``, then the whole area (``domain="overall"``)."""

    column: str
    questionnaire: str
    version: str
    confidence: float
    rows: tuple[DomainResult, ...]
    overall: DomainResult
    decimals: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.column,
            "questionnaire": self.questionnaire,
            "version": self.version,
            "confidence": self.confidence,
            "domains": [r.to_dict() for r in self.rows],
            "overall": self.overall.to_dict(),
        }

    def write(self, path: Path) -> None:
        """Write the table as ``.json`` or ``.csv`` (UTF-8 with BOM, one row per domain, then overall)."""
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
            return
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([self.column, "n", "index", "se", "ci_low", "ci_high"])
            for r in (*self.rows, self.overall):
                writer.writerow([r.domain, r.n, *(_csv(v) for v in (r.index, r.se, r.ci_low, r.ci_high))])


def _csv(value: float | None) -> Any:
    return "" if value is None else csv_number(value)


def _result(domain: str, n: int, table: IndexTable) -> DomainResult:
    o = table.overall
    return DomainResult(domain, n, o.index, o.se, o.ci_low, o.ci_high, dict(o.elements))


def score_by(column: str, arguments: Mapping[str, Any]) -> DomainTable:
    """Score ``arguments`` (those of :func:`analysis.score`) once per value of ``column``, same design."""
    from . import score

    responses: pd.DataFrame = arguments["responses"]
    if column not in responses.columns:
        raise ScoringError(
            f"bảng phiếu không có cột '{column}' để chia theo (the responses table has no '{column}' column)"
        )
    ref = arguments["questionnaire"]
    q: Questionnaire = ref if isinstance(ref, Questionnaire) else load_questionnaire(ref)
    if q.scoring is None:
        raise ScoringError(f"bảng hỏi {q.id} không có phần chấm điểm (questionnaire {q.id} has no scoring)")
    scored = [code for crit in q.scoring.criteria for code in crit.items if code in responses.columns]
    values = responses[column].astype(object).where(responses[column].notna(), NO_VALUE).astype(str)
    domains = sorted(set(values), key=lambda v: (v == NO_VALUE, v != "vi", v))
    overall = score(**arguments)
    rows = []
    for domain in domains:
        inside = (values == domain).to_numpy()
        masked = responses.copy()
        for code in scored:
            masked[code] = masked[code].astype(object).where(inside, None)
        table = score(**{**arguments, "responses": masked})
        rows.append(_result(domain, int(inside.sum()), table))
    return DomainTable(
        column=column,
        questionnaire=q.id,
        version=q.version,
        confidence=overall.confidence,
        rows=tuple(rows),
        overall=_result("overall", len(responses), overall),
        decimals=overall.decimals,
    )
