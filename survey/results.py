"""A stored campaign's results, scored one way for the report download, the background report jobs and
the results dashboard.

:func:`score_design` is ``sipas report --campaign`` without the command line: the default scoring
options, flagged forms counted, and a previous period's results when one is given.
:func:`campaign_results` scores a campaign once per *data version* (:func:`data_version`: what was
received, reviewed, corrected and keyed, and where the campaign stands) and keeps the result in a small
in-process cache, so that repeated views of the dashboard and reports of the same data cost one query.
:func:`build_campaign_report` writes the ranked workbook, optionally compared with another campaign's
results (the CLI's ``--previous`` takes a results file; here it is another stored campaign).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Engine, case, func, select

from .design import CampaignDesign, read_design
from .errors import CampaignError
from .models import Campaign, CampaignUnit, FrameCell, PaperKeying, Response, ResponseRevision

if TYPE_CHECKING:
    from analysis import IndexTable
    from analysis.quality import Scorable

__all__ = [
    "CampaignResults",
    "build_campaign_report",
    "campaign_results",
    "clear_cache",
    "data_version",
    "score_design",
]

# matplotlib's settings (rcParams, which rc_context changes while a figure is drawn) are global to the
# process: report jobs and dashboard figures in threads of one process draw one at a time.
DRAWING = threading.Lock()
# How many scored campaigns a process keeps (each holds its responses table and index table).
CACHE_SIZE = 8
# A callback told how far a long task is: (fraction 0-1, what it is doing, in Vietnamese).
Step = Callable[[float, str], None]


def _no_step(fraction: float, label: str) -> None:
    return None


@dataclass(frozen=True)
class CampaignResults:
    """A campaign scored as its report is: the design read, the forms scored, and the index table."""

    campaign_id: int
    version: str
    design: CampaignDesign
    scoring: Scorable
    table: IndexTable


def data_version(engine: Engine, campaign_id: int) -> str:
    """A short digest of everything that changes a campaign's scores; equal digests, equal results."""
    with engine.connect() as connection:
        responses = connection.execute(
            select(
                func.count(Response.id),
                func.max(Response.id),
                func.max(Response.reviewed_at),
                func.sum(case((Response.late.is_(True), 1), else_=0)),
            ).where(Response.campaign_id == campaign_id)
        ).one()
        revisions = connection.execute(
            select(func.count(ResponseRevision.id), func.max(ResponseRevision.id))
            .join(Response, Response.id == ResponseRevision.response_id)
            .where(Response.campaign_id == campaign_id)
        ).one()
        keyings = connection.execute(
            select(
                func.count(PaperKeying.id), func.max(PaperKeying.id), func.max(PaperKeying.response_id)
            ).where(PaperKeying.campaign_id == campaign_id)
        ).one()
        campaign = connection.execute(
            select(
                Campaign.created_at,
                Campaign.status,
                Campaign.closed_at,
                Campaign.reopened_at,
                Campaign.margin_of_error,
            ).where(Campaign.id == campaign_id)
        ).one_or_none()
        # Targets, N and frame cells: an edit of the design changes the results too.
        units = connection.execute(
            select(
                func.count(CampaignUnit.id),
                func.sum(CampaignUnit.target),
                func.sum(CampaignUnit.population),
                func.max(CampaignUnit.id),
            ).where(CampaignUnit.campaign_id == campaign_id)
        ).one()
        cells = connection.execute(
            select(func.count(FrameCell.id), func.sum(FrameCell.population), func.max(FrameCell.id)).where(
                FrameCell.campaign_id == campaign_id
            )
        ).one()
        states = connection.execute(
            select(Response.review_state, func.count(Response.id))
            .where(Response.campaign_id == campaign_id)
            .group_by(Response.review_state)
            .order_by(Response.review_state)
        ).all()
    if campaign is None:
        raise CampaignError(f"không có đợt khảo sát {campaign_id} (no such campaign)")
    text = repr(
        (
            tuple(responses),
            tuple(revisions),
            tuple(keyings),
            tuple(campaign),
            tuple(units),
            tuple(cells),
            [tuple(s) for s in states],
        )
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def score_design(
    design: CampaignDesign, *, previous: IndexTable | None = None, check: bool = False
) -> tuple[Scorable, IndexTable]:
    """Score a campaign as ``sipas report --campaign`` does (flagged forms counted), with ``previous``."""
    # Imported here: workers that only store responses never load pandas and scipy.
    from analysis import score
    from analysis.options import ScoringOptions, score_arguments
    from analysis.quality import scorable

    arguments = score_arguments(ScoringOptions(campaign=design.campaign_id), design)
    scoring = scorable(
        arguments, quality=design.quality, integrity_settings=design.integrity_settings, check=check
    )
    if previous is not None:
        scoring.arguments["previous"] = previous
    return scoring, score(**scoring.arguments)


_cache: OrderedDict[tuple[str, int], CampaignResults] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple[str, int], threading.Lock] = {}


def clear_cache() -> None:
    """Forget every scored campaign (tests; a changed questionnaire file)."""
    with _cache_lock:
        _cache.clear()


def campaign_results(engine: Engine, campaign_id: int) -> CampaignResults:
    """The campaign scored for its current data, from the cache when nothing changed since.

    Raises the scoring errors of :data:`analysis.options.SCORING_ERRORS` (an empty campaign, say).
    """
    key = (engine.url.render_as_string(hide_password=True), campaign_id)
    with _cache_lock:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:  # two viewers of the same campaign wait for one scoring, not two
        version = data_version(engine, campaign_id)
        with _cache_lock:
            found = _cache.get(key)
            if found is not None and found.version == version:
                _cache.move_to_end(key)
                return found
        design = read_design(engine, campaign_id)
        scoring, table = score_design(design)
        results = CampaignResults(campaign_id, version, design, scoring, table)
        with _cache_lock:
            _cache[key] = results
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return results


def build_campaign_report(
    engine: Engine,
    campaign_id: int,
    out: IO[bytes],
    *,
    previous_campaign_id: int | None = None,
    step: Step = _no_step,
) -> dict[str, Any]:
    """Score the campaign and write its ranked workbook to ``out``; what the audit log records of it.

    With ``previous_campaign_id`` the ranking sheet compares each unit with that campaign's results
    (its index and rank, the change), as ``sipas report --previous`` does with a results file.
    """
    from reports.quality import language_arguments, quality_arguments
    from reports.workbook import build_report

    step(0.05, "Đang đọc dữ liệu của đợt khảo sát")
    design = read_design(engine, campaign_id)
    previous = None
    if previous_campaign_id is not None:
        if previous_campaign_id == campaign_id:
            raise CampaignError("kỳ trước phải là một đợt khảo sát khác (the previous campaign must differ)")
        step(0.15, "Đang tính kết quả của đợt so sánh (kỳ trước)")
        previous = campaign_results(engine, previous_campaign_id).table
    step(0.35, "Đang tính chỉ số, khoảng tin cậy và xếp hạng")
    # As `sipas report --campaign`: flagged forms counted, the checks run for the quality sheet.
    scoring, table = score_design(design, previous=previous, check=True)
    step(0.6, "Đang lập bảng tính Excel và vẽ biểu đồ")
    with DRAWING:
        build_report(
            table,
            design.questionnaire,
            out,
            unit_names=scoring.arguments["unit_names"],
            responses=design.responses,
            title=design.name,
            period=design.period,
            status=design.status,
            response_rates=design.response_rates,
            frame_note=design.frame_note,
            **quality_arguments(scoring, table),
            **language_arguments(scoring),
        )
    step(0.95, "Đang lưu tệp báo cáo")
    return {
        "campaign_id": campaign_id,
        "rows": len(design.responses),
        "left_out": scoring.left_out,
        "previous_campaign_id": previous_campaign_id,
    }
