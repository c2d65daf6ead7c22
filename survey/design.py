"""A stored campaign as scoring sees it: the one loader behind `sipas score/report/plot --campaign` and
the admin report download.

:func:`read_design` reads the campaign's frozen questionnaire, its responses table and its design
(sampling frame, targets, unit names, margin of error) into a plain :class:`CampaignDesign`, with the
per-unit counts of what was received and what the responses table leaves out (rejected, late, paper
forms whose double entry is not settled), read in one transaction with the table so that they agree;
:func:`sampling_frame` is the one rule that turns the stored frame cells and unit populations into the
frame ``analysis.score`` weights by.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.orm import Session

from questionnaires import Questionnaire

from .campaigns import campaign_questionnaire
from .dossiers import ALLOCATIONS, RateRow, dossier_frame, dossier_targets, response_rates
from .kiosk_display import stored_checks
from .models import Campaign, FrameCell, PaperKeying, Response
from .storage import SOURCES, campaign_frame, engine_for
from .web import vi_datetime

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "QUALITY_COLUMNS",
    "CampaignDesign",
    "FrameRow",
    "campaign_design",
    "quality_counts",
    "read_design",
    "sampling_frame",
]

# The per-unit counts of CampaignDesign.quality: forms received (stored responses plus paper serials
# still waiting for their double entry), by source, and those the responses table leaves out.
# "double_entry": paper serials keyed once, or twice with differences (survey.models.PaperKeying).
QUALITY_COLUMNS = ("received", *SOURCES, "rejected", "late", "double_entry", "scored")
# A keying in one of these states has become the response it agreed on (survey.models.KEYING_STATES).
_SETTLED_KEYINGS = ("matched", "resolved")

# (unit, stratum or ""/None, population): one cell of a sampling frame as stored.
FrameRow = tuple[str, str | None, int]


@dataclass(frozen=True)
class CampaignDesign:
    """What scoring and the report need from a campaign: its questionnaire, responses and design."""

    campaign_id: int
    name: str  # the campaign's name, the report's title
    period: str | None  # "start – end" as stored (ISO dates), None when neither is set
    questionnaire: Questionnaire  # the frozen definition the campaign was created with
    responses: pd.DataFrame  # the responses table (see survey.storage.responses_frame)
    frame: pd.DataFrame | None  # unit, [stratum], population; None when some unit has no N
    targets: dict[str, int]  # unit -> target number of responses
    unit_names: dict[str, str]  # unit -> full name
    units: list[str]  # every unit of the campaign, in its order (units without responses included)
    margin_of_error: float  # e of Slovin's n = N / (1 + N·e²), as the campaign was created with
    notes: tuple[str, ...] = ()  # why the frame was left out, for a command to print
    # Per unit (index, every unit of the campaign): QUALITY_COLUMNS (see quality_counts); None: not read.
    quality: pd.DataFrame | None = None
    # The campaign's integrity-check settings as stored (IntegritySettings.to_dict); None: the defaults.
    integrity_settings: Mapping[str, Any] | None = None
    # Where the campaign stands (open, closed on a date, draft), in a sentence for the report.
    status: str | None = None
    # "dossiers": the frame counts the case files imported from the one-stop system (survey.dossiers);
    # "typed": the numbers typed in (frame cells, N per unit); None: no frame.
    frame_source: str | None = None
    # Per unit × procedure field: unit, unit_name, stratum, stratum_label, cases (case files in the
    # frame; missing without an import), codes (answer codes issued), received (forms counted);
    # None when there is neither an import nor an answer code.
    response_rates: pd.DataFrame | None = None
    # Where the frame came from and how the targets were set, in a sentence for the method sheet.
    frame_note: str | None = None


def sampling_frame(
    cells: Sequence[FrameRow], units: Sequence[tuple[str, int | None]]
) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """Return the frame to weight by, from the frame cells or else N per unit, and notes on what is missing.

    Frame cells win; a ``stratum`` column is kept only when some cell has a stratum. Without cells, N per
    unit is the frame when every unit has one (0 counts: it is a known number); when only some have one,
    there is no frame and a note says which units lack N.
    """
    import pandas as pd  # here, not at the top: web workers that only store responses never load it

    if cells:
        strata = [stratum or None for _, stratum, _ in cells]
        columns = {"unit": [unit for unit, _, _ in cells]}
        if any(s is not None for s in strata):
            columns["stratum"] = strata
        columns["population"] = [population for _, _, population in cells]
        return pd.DataFrame(columns), ()
    missing = [code for code, population in units if population is None]
    if units and not missing:
        frame = pd.DataFrame(
            {"unit": [code for code, _ in units], "population": [population for _, population in units]}
        )
        return frame, ()
    if len(missing) < len(units):
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        return None, (
            f"không dùng trọng số thiết kế vì thiếu số người được phục vụ (N) của: {shown} "
            "(design weights left out: some units have no population N)",
        )
    return None, ()


def quality_counts(
    session: Session, campaign_id: int, units: Sequence[str], responses: pd.DataFrame
) -> pd.DataFrame:
    """Count per unit the forms received, by source, rejected, late, awaiting double entry, and scored.

    ``received`` = stored responses + paper serials keyed but not yet agreed by double entry (their
    ``paper`` count too); ``rejected`` counts every rejected form, ``late`` the late ones not rejected,
    so ``received - rejected - late - double_entry`` is what the responses table holds: ``scored``,
    counted from ``responses`` itself. Units with nothing stored get zeros.
    """
    import pandas as pd  # here, not at the top: web workers that only store responses never load it

    rejected = Response.review_state == "rejected"
    rows = session.execute(
        select(Response.unit_code, Response.source, rejected, Response.late, func.count())
        .where(Response.campaign_id == campaign_id)
        .group_by(Response.unit_code, Response.source, rejected, Response.late)
    ).all()
    extra = [u for u in dict.fromkeys(r[0] for r in rows) if u not in set(units)]
    index = pd.Index([*units, *extra], name="unit")
    counts = pd.DataFrame(0, index=index, columns=list(QUALITY_COLUMNS))
    for unit, source, is_rejected, late, n in rows:
        counts.loc[unit, "received"] += n
        if source in SOURCES:
            counts.loc[unit, source] += n
        if is_rejected:
            counts.loc[unit, "rejected"] += n
        elif late:
            counts.loc[unit, "late"] += n
    for unit, n in _unsettled_serials(session, campaign_id).items():
        if unit not in counts.index:
            counts.loc[unit] = 0
        counts.loc[unit, ["received", "paper", "double_entry"]] += n
    scored = responses["unit"].value_counts() if len(responses) else pd.Series(dtype=int)
    counts["scored"] = scored.reindex(counts.index, fill_value=0).astype(int)
    return counts.astype(int)


def _unsettled_serials(session: Session, campaign_id: int) -> dict[str, int]:
    """Paper serials per unit whose double entry has not agreed yet."""
    keying = PaperKeying
    settled = func.max(case((keying.state.in_(_SETTLED_KEYINGS), 1), else_=0))
    rows = session.execute(
        select(keying.unit_code, keying.paper_serial, settled)
        .where(keying.campaign_id == campaign_id)
        .group_by(keying.unit_code, keying.paper_serial)
    ).all()
    out: dict[str, int] = {}
    for unit, _, done in rows:
        if not done:
            out[unit] = out.get(unit, 0) + 1
    return out


@contextmanager
def _snapshot(bind: Engine | Connection) -> Iterator[Connection]:
    """One read transaction (a snapshot on PostgreSQL and SQLite's WAL), so counts and table agree."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            if connection.dialect.name == "sqlite":
                # pysqlite opens no transaction for a SELECT: open one, so every statement reads the
                # same WAL snapshot (a deferred BEGIN takes no lock).
                connection.exec_driver_sql("BEGIN")
            yield connection


def read_design(bind: Engine | Connection, campaign_id: int) -> CampaignDesign:
    """Read a campaign's questionnaire, responses and design; CampaignError when there is no such campaign."""
    with _snapshot(bind) as connection:
        responses = campaign_frame(connection, campaign_id)
        with Session(connection) as session:
            campaign = session.get(Campaign, campaign_id)
            questionnaire = campaign_questionnaire(campaign)
            units = list(campaign.units)
            cells = session.execute(
                select(FrameCell.unit_code, FrameCell.stratum, FrameCell.population)
                .where(FrameCell.campaign_id == campaign_id)
                .order_by(FrameCell.id)
            ).all()
            name, margin_of_error = campaign.name, campaign.margin_of_error
            period = " – ".join(p for p in (campaign.period_start, campaign.period_end) if p) or None
            quality = quality_counts(session, campaign_id, [u.unit_code for u in units], responses)
            integrity_settings = stored_checks(campaign.integrity_settings)  # {} keeps the defaults
            status = status_text(campaign)
            imported = dossier_frame(session, campaign)
            allocation = campaign.field_allocation or "unit"
            targets = {u.unit_code: u.target for u in units if u.target is not None}
            if imported is not None:  # the case files replace the typed numbers
                cells = [(unit, stratum, n) for (unit, stratum), n in imported.items()]
                targets = dossier_targets(campaign, imported).units
            rows = response_rates(session, campaign)
            # A rate needs a denominator: case files imported, or answer codes issued.
            rates = _rates_frame(rows) if any(r.cases is not None or r.codes for r in rows) else None
    frame, notes = sampling_frame(list(cells), [(u.unit_code, u.population) for u in units])
    source = None if frame is None else ("dossiers" if imported is not None else "typed")
    frame_note = None
    if source == "dossiers":
        frame_note = (
            "N của mỗi đơn vị × lĩnh vực = số hồ sơ tiếp nhận trong thời gian của đợt khảo sát, theo tệp "
            "xuất từ Hệ thống thông tin giải quyết thủ tục hành chính (một cửa). Chỉ tiêu: "
            f"{ALLOCATIONS[allocation]} (lựa chọn của địa phương)."
        )
    elif source == "typed":
        frame_note = "N theo số liệu nhập tay khi tạo đợt khảo sát."
    return CampaignDesign(
        campaign_id=campaign_id,
        name=name,
        period=period,
        questionnaire=questionnaire,
        responses=responses,
        frame=frame,
        targets=targets,
        unit_names={u.unit_code: u.unit_name for u in units},
        units=[u.unit_code for u in units],
        margin_of_error=margin_of_error,
        notes=notes,
        quality=quality,
        integrity_settings=dict(integrity_settings) if integrity_settings else None,
        status=status,
        frame_source=source,
        response_rates=rates,
        frame_note=frame_note,
    )


def _rates_frame(rows: Sequence[RateRow]) -> pd.DataFrame:
    import pandas as pd

    columns = ["unit", "unit_name", "stratum", "stratum_label", "cases", "codes", "received"]
    return pd.DataFrame(
        [(r.unit_code, r.unit_name, r.stratum, r.stratum_label, r.cases, r.codes, r.received) for r in rows],
        columns=columns,
    ).astype({"cases": "Int64", "codes": "int64", "received": "int64"})


def status_text(campaign: Campaign) -> str:
    """Say where the campaign stands, with the date it closed, for the report's cover and method sheet."""
    if campaign.status == "closed":
        closed = f" ngày {vi_datetime(campaign.closed_at, '%d/%m/%Y')}" if campaign.closed_at else ""
        return f"Đợt khảo sát đã kết thúc{closed}; số liệu là kết quả cuối cùng của đợt."
    if campaign.status == "draft":
        return "Đợt khảo sát chưa bắt đầu thu phiếu (bản nháp); số liệu chỉ để thử."
    now = vi_datetime(datetime.now(UTC), "%d/%m/%Y %H:%M")
    return f"Đợt khảo sát đang thu phiếu (số liệu tạm tính đến {now}); kết quả có thể còn thay đổi."


def campaign_design(campaign_id: int, database_url: str | None = None) -> CampaignDesign:
    """Read a campaign's design from ``database_url``, else the current or the configured app's database."""
    with engine_for(database_url) as engine:
        return read_design(engine, campaign_id)
