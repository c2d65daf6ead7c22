"""The results dashboard's content: the ranking, one unit's drill-down, and the collection's progress.

Every number comes from :func:`survey.results.campaign_results`, the scoring of the report download, so
the dashboard and the workbook agree; figures are the reports' own (``reports.charts``,
``reports.live``) rendered as SVG. What is drawn is cached with the results' data version: repeated
views of unchanged data draw nothing. No raw data is shown: counts and scores only (a viewer sees this).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from questionnaires import QuestionType, Role

from .models import Campaign
from .results import CampaignResults, campaign_results
from .storage import SOURCES
from .web import VIETNAM_TZ

__all__ = [
    "DailyProgress",
    "FieldProgress",
    "comments_count",
    "daily_progress",
    "field_progress",
    "figure_svg",
    "trend",
    "unit_rows",
]

_SVG_CACHE_SIZE = 64
_svg_cache: OrderedDict[tuple, bytes] = OrderedDict()
_svg_lock = threading.Lock()


def figure_svg(key: tuple, draw: Callable[[], Any]) -> bytes:
    """A figure of the reports rendered as SVG, drawn once per key (a key carries the data version)."""
    with _svg_lock:
        found = _svg_cache.get(key)
        if found is not None:
            _svg_cache.move_to_end(key)
            return found
    from reports.charts import render

    from .results import DRAWING

    with DRAWING:
        data = render(draw(), "svg")
    with _svg_lock:
        _svg_cache[key] = data
        while len(_svg_cache) > _SVG_CACHE_SIZE:
            _svg_cache.popitem(last=False)
    return data


def unit_rows(results: CampaignResults) -> list[dict[str, Any]]:
    """The ranking table's rows: every unit of the index table, in rank order, with its display name."""
    names = results.scoring.arguments.get("unit_names") or {}
    return [{"result": u, "name": names.get(u.unit) or u.name or u.unit} for u in results.table.units]


@dataclass(frozen=True)
class DailyProgress:
    days: list[dt.date]
    counts: dict[str, list[int]]  # source -> forms per day
    totals: dict[str, int]  # source -> forms
    total: int
    target: int | None


def daily_progress(results: CampaignResults) -> DailyProgress:
    """Forms scored per day (Vietnam time, the day received) and per source, with the campaign's target."""
    responses = results.design.responses
    target = sum(results.design.targets.values()) or None
    if not len(responses):
        return DailyProgress([], {}, {}, 0, target)
    import pandas as pd

    stamps = pd.to_datetime(responses["received_at"], utc=True).dt.tz_convert(VIETNAM_TZ)
    days_of = stamps.dt.date
    first, last = days_of.min(), days_of.max()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    position = {d: i for i, d in enumerate(days)}
    counts = {s: [0] * len(days) for s in SOURCES}
    for day, source in zip(days_of, responses["source"], strict=True):
        counts.setdefault(source, [0] * len(days))[position[day]] += 1
    totals = {s: sum(v) for s, v in counts.items()}
    return DailyProgress(days, counts, totals, len(responses), target)


@dataclass(frozen=True)
class FieldProgress:
    code: str
    label: str
    n: int
    population: int | None
    target: int | None  # the campaign's target shared out in proportion to N (see field_progress)


def field_progress(results: CampaignResults) -> list[FieldProgress]:
    """Forms per procedure field (the stratum), with N and the target shared out in proportion to N.

    The campaign sets targets per unit only; the share per field is the dashboard's reading aid (stated
    on the page), proportional allocation of the unit targets by the frame's N per field.
    """
    design = results.design
    item = design.questionnaire.role_item(Role.STRATUM)
    responses = design.responses
    if item is None or "stratum" not in responses.columns:
        return []
    choices = design.questionnaire.choice_list(item)
    counts = responses["stratum"].value_counts(dropna=True).to_dict()
    populations: dict[str, int] = {}
    shares: dict[str, float] = {}
    frame = design.frame
    if frame is not None and "stratum" in frame.columns:
        for unit, cells in frame.groupby("unit"):
            unit_n = float(cells["population"].sum())
            target = design.targets.get(str(unit))
            for stratum, population in zip(cells["stratum"], cells["population"], strict=True):
                if stratum is None:
                    continue
                populations[stratum] = populations.get(stratum, 0) + int(population)
                if target is not None and unit_n > 0:
                    shares[stratum] = shares.get(stratum, 0.0) + target * float(population) / unit_n
    codes = list(choices.codes) if choices is not None else sorted(counts)
    codes += [c for c in counts if c not in codes]
    rows = []
    for code in codes:
        label = choices.label_of(code) if choices is not None else None
        rows.append(
            FieldProgress(
                code=str(code),
                label=label.vi if label is not None else str(code),
                n=int(counts.get(code, 0)),
                population=populations.get(code),
                target=round(shares[code]) if code in shares else None,
            )
        )
    return [r for r in rows if r.n or r.population]


def comments_count(results: CampaignResults, unit: str) -> int:
    """How many of the unit's scored forms carry a written comment (any free-text answer)."""
    questionnaire = results.design.questionnaire
    texts = [q.code for q in questionnaire.questions() if q.type is QuestionType.TEXT and q.role is None]
    responses = results.design.responses
    texts = [c for c in texts if c in responses.columns]
    if not texts or not len(responses):
        return 0
    mine = responses.loc[responses["unit"] == unit, texts]
    written = mine.apply(lambda column: column.map(lambda v: isinstance(v, str) and bool(v.strip())))
    return int(written.any(axis=1).sum())


def trend(engine: Engine, campaign: Campaign, unit: str) -> list[tuple[Campaign, Any, Any]]:
    """The unit's result in each campaign of the same questionnaire up to this one, oldest first.

    Returns (campaign, its unit result or None, its overall result); campaigns that cannot be scored
    (no forms yet) are left out.
    """
    from analysis.options import SCORING_ERRORS

    with Session(engine) as session:
        campaigns = session.scalars(
            select(Campaign)
            .where(
                Campaign.questionnaire_id == campaign.questionnaire_id,
                Campaign.created_at <= campaign.created_at,
            )
            .order_by(Campaign.created_at, Campaign.id)
        ).all()
        session.expunge_all()
    points = []
    for other in campaigns:
        try:
            results = campaign_results(engine, other.id)
        except SCORING_ERRORS:
            continue
        try:
            mine = results.table.unit(unit)
        except KeyError:
            mine = None
        points.append((other, mine, results.table.overall))
    return points
