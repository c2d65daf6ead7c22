"""A stored campaign as scoring sees it: the one loader behind `sipas score/report/plot --campaign` and
the admin report download.

:func:`read_design` reads the campaign's frozen questionnaire, its responses table and its design
(sampling frame, targets, unit names, margin of error) into a plain :class:`CampaignDesign`;
:func:`sampling_frame` is the one rule that turns the stored frame cells and unit populations into the
frame ``analysis.score`` weights by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from questionnaires import Questionnaire

from .campaigns import campaign_questionnaire
from .models import Campaign, FrameCell
from .storage import campaign_frame, engine_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CampaignDesign", "FrameRow", "campaign_design", "read_design", "sampling_frame"]

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


def read_design(bind: Engine | Connection, campaign_id: int) -> CampaignDesign:
    """Read a campaign's questionnaire, responses and design; CampaignError when there is no such campaign."""
    responses = campaign_frame(bind, campaign_id)
    with Session(bind) as session:
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
    frame, notes = sampling_frame(list(cells), [(u.unit_code, u.population) for u in units])
    return CampaignDesign(
        campaign_id=campaign_id,
        name=name,
        period=period,
        questionnaire=questionnaire,
        responses=responses,
        frame=frame,
        targets={u.unit_code: u.target for u in units if u.target is not None},
        unit_names={u.unit_code: u.unit_name for u in units},
        units=[u.unit_code for u in units],
        margin_of_error=margin_of_error,
        notes=notes,
    )


def campaign_design(campaign_id: int, database_url: str | None = None) -> CampaignDesign:
    """Read a campaign's design from ``database_url``, else the current or the configured app's database."""
    with engine_for(database_url) as engine:
        return read_design(engine, campaign_id)
