"""Campaigns (survey rounds), their units and targets, kiosk links, and progress against targets.

A campaign freezes its questionnaire at creation (``Campaign.definition`` holds
``questionnaires.to_dict(q)``): editing the definition file later never changes what a running
campaign asks or how its answers are validated and scored.

Targets follow Quyết định 1383/QĐ-BNV (Slovin): ``n = ceil(N / (1 + N·e²))`` per unit, with N the
number of people served in the period and e the margin of error (0.05 by default); a target typed in
by the district wins over the computed one.

Service functions add and flush; the caller commits (``session_scope()`` in commands, ``commit()`` at
the end of a request), so a page can create a campaign and its kiosks in one transaction.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from questionnaires import (
    Questionnaire,
    QuestionnaireError,
    Role,
    from_data,
    load_questionnaire,
    load_units,
    to_dict,
)
from questionnaires.loader import definition_path
from questionnaires.numbers import NumberFormatError, format_count, parse_count

from .errors import CampaignError
from .models import Campaign, CampaignUnit, FrameCell, Kiosk, Response, User
from .validation import has_control_characters
from .web import VIETNAM_TZ

__all__ = [
    "MAX_UNIT_NUMBER",
    "STATUSES",
    "STATUS_LABELS",
    "CampaignNotOpen",
    "UnitProgress",
    "Progress",
    "StatusChange",
    "accepts_responses",
    "arrives_late",
    "campaign_questionnaire",
    "close_campaign",
    "create_campaign",
    "create_kiosk",
    "hash_token",
    "kiosk_for_token",
    "kiosk_url",
    "late_responses",
    "open_campaign",
    "progress",
    "refusal",
    "reopen_campaign",
    "revoke_kiosk",
    "slovin_target",
]


# The largest N or target a campaign unit takes. A local choice, not a rule of Quyết định 1383: the
# largest service population of one unit we expect (a province-level service of a big city) with room
# to spare; raise it here if a unit serves more. It must stay below 2_147_483_647, the largest value of
# the 32-bit Integer columns campaign_units.population/target and frame_cells.population on PostgreSQL.
MAX_UNIT_NUMBER = 10_000_000


def slovin_target(population: int, margin_of_error: float = 0.05) -> int:
    """The sample size ``ceil(N / (1 + N·e²))`` (Quyết định 1383/QĐ-BNV), computed exactly."""
    if population < 0:
        raise CampaignError(f"số người được phục vụ N phải ≥ 0 (population must be >= 0), not {population}")
    if population == 0:
        return 0
    e = Fraction(str(margin_of_error))
    return math.ceil(Fraction(population) / (1 + population * e * e))


def _iso_date(value: date | str | None, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise CampaignError(
            f"{what} phải là ngày dạng YYYY-MM-DD ({what} must be an ISO date), not {value!r}"
        ) from None


def _count(value: Any, what: str) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = parse_count(value, MAX_UNIT_NUMBER)
        except NumberFormatError as exc:
            raise CampaignError(f"{what}: {exc}") from None
    if number is None or number < 0:
        raise CampaignError(f"{what}: cần một số nguyên ≥ 0 (expected a whole number >= 0), not {value!r}")
    if number > MAX_UNIT_NUMBER:
        raise CampaignError(
            f"{what}: {number} lớn hơn giới hạn {format_count(MAX_UNIT_NUMBER)} "
            f"(larger than the limit {MAX_UNIT_NUMBER}, survey.campaigns.MAX_UNIT_NUMBER)"
        )
    return number


def create_campaign(
    session: Session,
    *,
    name: str,
    questionnaire: str | Path | Questionnaire,
    unit_list: str | Path | None = None,
    units: Sequence[tuple[str, str]] | None = None,
    period_start: date | str | None = None,
    period_end: date | str | None = None,
    populations: Mapping[str, int] | None = None,
    targets: Mapping[str, int] | None = None,
    margin_of_error: float = 0.05,
    strata: Sequence[Mapping[str, str]] | None = None,
    frame_cells: Mapping[tuple[str, str], int] | Iterable[tuple[str, str, int]] | None = None,
    created_by: User | int | None = None,
    draft: bool = False,
    double_entry: bool = False,
) -> Campaign:
    """Create a campaign with its units, targets and frame cells; flush, the caller commits.

    The campaign is open (collecting) at once, unless ``draft``: then it waits for :func:`open_campaign`.
    ``double_entry``: every paper form is keyed twice by two users before it counts (survey.double_entry).

    ``questionnaire`` is a shipped id, a file path or a loaded Questionnaire; units come from the unit
    list ``unit_list`` (id or path) or from ``units`` as ``(code, name)`` pairs. ``populations`` (N per
    unit) give Slovin targets unless ``targets`` has a number for that unit. ``strata`` defaults to the
    choices of the ``role: stratum`` question. Raises :class:`CampaignError` for any bad input.
    """
    name = _campaign_name(name)
    q = _questionnaire(questionnaire)
    if not 0 < margin_of_error < 1:
        raise CampaignError(f"sai số e phải trong khoảng (0, 1) (margin of error), not {margin_of_error}")
    unit_list_id, pairs = _unit_pairs(unit_list, units)
    codes = {code for code, _ in pairs}
    start, end = _period(period_start, period_end)
    populations = _numbers_per_unit(populations, "N của đơn vị", "populations", codes)
    targets = _numbers_per_unit(targets, "chỉ tiêu của đơn vị", "targets", codes)

    campaign = Campaign(
        name=name,
        questionnaire_id=q.id,
        questionnaire_version=q.version,
        definition=to_dict(q),
        unit_list_id=unit_list_id,
        period_start=start,
        period_end=end,
        margin_of_error=float(margin_of_error),
        strata=_strata(q, strata),
        status="draft" if draft else "open",
        opened_at=None if draft else datetime.now(UTC),
        double_entry=bool(double_entry),
        created_by=created_by.id if isinstance(created_by, User) else created_by,
    )
    for position, (code, unit_name) in enumerate(pairs):
        population = populations.get(code)
        target = targets.get(code)
        if target is None and population is not None:
            target = slovin_target(population, margin_of_error)
        campaign.units.append(
            CampaignUnit(
                unit_code=code, unit_name=unit_name, position=position, population=population, target=target
            )
        )
    session.add(campaign)
    session.flush()
    _add_frame_cells(session, campaign, frame_cells, codes)
    session.flush()
    _import_audio(session, campaign, q, questionnaire, created_by)
    return campaign


def _import_audio(
    session: Session,
    campaign: Campaign,
    q: Questionnaire,
    questionnaire: str | Path | Questionnaire,
    created_by: User | int | None,
) -> None:
    """Store the spoken prompts a definition file names (its ``media::audio`` files, beside it) as the
    campaign's approved clips, normalised like a recording."""
    if isinstance(questionnaire, Questionnaire) or not any(True for _ in q.audio_files()):
        return
    from .audio import AudioError
    from .prompts import import_definition_audio

    user = created_by if isinstance(created_by, User) else None
    try:
        import_definition_audio(session, campaign, q, definition_path(questionnaire).parent, user)
    except AudioError as exc:
        raise CampaignError(f"âm thanh của phiếu khảo sát (audio of the questionnaire): {exc}") from None


def _campaign_name(name: str | None) -> str:
    """Return the name stripped; CampaignError when it is empty, too long or has control characters."""
    name = (name or "").strip()
    if not name:
        raise CampaignError("tên đợt khảo sát không được để trống (campaign name is required)")
    if len(name) > 200:
        raise CampaignError(
            "tên đợt khảo sát dài quá 200 ký tự (campaign name is longer than 200 characters)"
        )
    if has_control_characters(name):
        raise CampaignError(
            "tên đợt khảo sát có ký tự điều khiển (the campaign name contains control characters)"
        )
    return name


def _questionnaire(questionnaire: str | Path | Questionnaire) -> Questionnaire:
    """Return the questionnaire given, loading an id or a path."""
    if isinstance(questionnaire, Questionnaire):
        return questionnaire
    try:
        return load_questionnaire(questionnaire)
    except QuestionnaireError as exc:
        raise CampaignError(f"không đọc được phiếu khảo sát: {exc}") from None


def _unit_pairs(
    unit_list: str | Path | None, units: Sequence[tuple[str, str]] | None
) -> tuple[str | None, list[tuple[str, str]]]:
    """Return the unit list id (None for ``units``) and the checked ``(code, name)`` pairs, in order."""
    if (unit_list is None) == (units is None):
        raise CampaignError("cần đúng một trong hai: danh sách đơn vị (unit_list) hoặc units")
    unit_list_id = None
    if unit_list is not None:
        try:
            loaded = load_units(unit_list)
        except QuestionnaireError as exc:
            raise CampaignError(f"không đọc được danh sách đơn vị: {exc}") from None
        unit_list_id = loaded.id
        pairs = [(u.code, u.name) for u in loaded.units]
    else:
        pairs = [(str(code).strip(), str(unit_name).strip()) for code, unit_name in units or ()]
    if not pairs:
        raise CampaignError("đợt khảo sát cần ít nhất một đơn vị (a campaign needs at least one unit)")
    seen: set[str] = set()
    for code, unit_name in pairs:
        if not code or len(code) > 64 or not unit_name or has_control_characters(code + unit_name):
            raise CampaignError(
                f"đơn vị {code!r}: cần mã (≤ 64 ký tự) và tên, không có ký tự điều khiển "
                "(unit needs a code and a name, without control characters)"
            )
        if code in seen:
            raise CampaignError(f"đơn vị {code!r} xuất hiện hai lần (unit listed twice)")
        seen.add(code)
    return unit_list_id, pairs


def _period(period_start: date | str | None, period_end: date | str | None) -> tuple[str | None, str | None]:
    """Return the period as ISO dates; CampaignError when it ends before it starts."""
    start = _iso_date(period_start, "period_start")
    end = _iso_date(period_end, "period_end")
    if start and end and end < start:
        raise CampaignError(f"ngày kết thúc {end} trước ngày bắt đầu {start} (period ends before it starts)")
    return start, end


def _numbers_per_unit(
    numbers: Mapping[str, int] | None, label: str, what: str, codes: set[str]
) -> dict[str, int]:
    """Return whole numbers >= 0 per unit of the campaign (``label`` names one in a message)."""
    checked = {k: _count(v, f"{label} {k}") for k, v in (numbers or {}).items()}
    unknown = sorted(set(checked) - codes)
    if unknown:
        raise CampaignError(
            f"{what}: đơn vị không có trong danh sách (units not in the campaign): {', '.join(unknown)}"
        )
    return checked


def _strata(q: Questionnaire, strata: Sequence[Mapping[str, str]] | None) -> list[dict[str, str]] | None:
    """Return the campaign's strata: those given, else the choices of the ``role: stratum`` question."""
    if strata is not None:
        return [{"code": str(s["code"]), "label": str(s.get("label") or s["code"])} for s in strata]
    item = q.role_item(Role.STRATUM)
    choice_list = q.choice_list(item) if item is not None else None
    return [{"code": c.code, "label": c.label.vi} for c in choice_list.choices] if choice_list else None


def _add_frame_cells(
    session: Session,
    campaign: Campaign,
    frame_cells: Mapping[tuple[str, str], int] | Iterable[tuple[str, str, int]] | None,
    codes: set[str],
) -> None:
    """Add the frame cells (unit × stratum -> N) of a campaign that has an id."""
    for unit_code, stratum, population in _cells(frame_cells):
        if unit_code not in codes:
            raise CampaignError(
                f"khung mẫu: đơn vị {unit_code!r} không có trong đợt khảo sát (frame cell unit)"
            )
        session.add(
            FrameCell(
                campaign_id=campaign.id,
                unit_code=unit_code,
                stratum=stratum or "",
                population=_count(population, f"khung mẫu {unit_code}/{stratum}"),
            )
        )


def _cells(
    frame_cells: Mapping[tuple[str, str], int] | Iterable[tuple[str, str, int]] | None,
) -> Iterator[tuple[str, str, Any]]:
    if frame_cells is None:
        return
    if isinstance(frame_cells, Mapping):
        for (unit_code, stratum), population in frame_cells.items():
            yield unit_code, stratum, population
    else:
        for unit_code, stratum, population in frame_cells:
            yield unit_code, stratum, population


# ------------------------------------------------------------------------------------------ lifecycle
STATUSES = ("draft", "open", "closed")
STATUS_LABELS = {"draft": "Bản nháp (chưa thu phiếu)", "open": "Đang thu phiếu", "closed": "Đã kết thúc"}
REASON_MAX = 2000


class CampaignNotOpen(CampaignError):
    """A submission to a campaign that does not take forms now (a draft, or closed)."""

    def __init__(self, campaign: Campaign):
        self.campaign_id = campaign.id
        self.code, self.message, self.message_en = refusal(campaign)
        super().__init__(self.message)


@dataclass(frozen=True)
class StatusChange:
    """One transition of a campaign, as the audit log records it."""

    campaign_id: int
    action: str  # campaign_opened | campaign_closed | campaign_reopened
    old: str
    new: str
    reason: str | None

    def to_audit(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "from": self.old, "to": self.new, "reason": self.reason}


def accepts_responses(campaign: Campaign) -> bool:
    """Return whether ``campaign`` takes new forms now (it is open)."""
    return campaign.status == "open"


def arrives_late(campaign: Campaign, submitted_at: datetime | None) -> bool:
    """Return whether a form filled at ``submitted_at`` (tablet time) predates ``campaign``'s closing."""
    closed = _aware(campaign.closed_at)
    if campaign.status != "closed" or closed is None or submitted_at is None:
        return False
    return _aware(submitted_at) < closed


def refusal(campaign: Campaign) -> tuple[str, str, str]:
    """Return ``(code, Vietnamese message, English message)`` for a form ``campaign`` does not take."""
    if campaign.status == "draft":
        return (
            "campaign_not_open",
            "Đợt khảo sát chưa mở nhận phiếu. Xin báo cán bộ phụ trách.",
            "the campaign is not open yet (draft)",
        )
    closed = _aware(campaign.closed_at)
    when = f" ngày {closed.astimezone(VIETNAM_TZ):%d/%m/%Y}" if closed else ""
    return (
        "campaign_closed",
        f"Đợt khảo sát đã kết thúc{when}; phiếu không còn được nhận.",
        "the campaign is closed",
    )


def open_campaign(session: Session, campaign: Campaign, user: User | None = None) -> StatusChange:
    """Open a draft campaign for forms; flush, the caller audits (``to_audit``) and commits."""
    campaign = _locked(session, campaign)
    if campaign.status != "draft":
        hint = " Dùng “mở lại” (reopen) kèm lý do." if campaign.status == "closed" else ""
        raise CampaignError(
            f"đợt khảo sát '{campaign.name}' đang ở trạng thái “{STATUS_LABELS[campaign.status]}”, "
            f"chỉ mở được bản nháp (only a draft can be opened).{hint}"
        )
    campaign.status = "open"
    campaign.opened_at = datetime.now(UTC)
    session.flush()
    return StatusChange(campaign.id, "campaign_opened", "draft", "open", None)


def close_campaign(
    session: Session, campaign: Campaign, user: User | None = None, reason: str | None = None
) -> StatusChange:
    """Close an open campaign (``reason`` optional); flush, the caller audits and commits."""
    campaign = _locked(session, campaign)
    if campaign.status != "open":
        already = "đã kết thúc rồi" if campaign.status == "closed" else "chưa mở"
        raise CampaignError(
            f"đợt khảo sát '{campaign.name}' {already}, không đóng được (only an open campaign can be closed)"
        )
    campaign.status = "closed"
    campaign.closed_at = datetime.now(UTC)
    campaign.closed_by = user.id if user is not None else None
    campaign.close_reason = _reason(reason, required=False)
    session.flush()
    return StatusChange(campaign.id, "campaign_closed", "open", "closed", campaign.close_reason)


def reopen_campaign(
    session: Session, campaign: Campaign, user: User | None, reason: str | None
) -> StatusChange:
    """Open a closed campaign again; ``reason`` is required. Flush, the caller audits and commits."""
    campaign = _locked(session, campaign)
    if campaign.status != "closed":
        raise CampaignError(
            f"đợt khảo sát '{campaign.name}' chưa kết thúc, không cần mở lại "
            "(only a closed campaign can be reopened)"
        )
    text = _reason(reason, required=True)
    campaign.status = "open"
    campaign.reopened_at = datetime.now(UTC)
    campaign.reopened_by = user.id if user is not None else None
    campaign.reopen_reason = text
    session.flush()
    return StatusChange(campaign.id, "campaign_reopened", "closed", "open", text)


def late_responses(
    session: Session, campaign: Campaign, limit: int | None = None
) -> tuple[int, list[Response]]:
    """Return the number of ``campaign``'s late forms and the latest ``limit`` of them (all when None)."""
    count = session.scalar(
        select(func.count(Response.id)).where(Response.campaign_id == campaign.id, Response.late.is_(True))
    )
    query = (
        select(Response)
        .where(Response.campaign_id == campaign.id, Response.late.is_(True))
        .order_by(Response.received_at.desc(), Response.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return int(count or 0), list(session.scalars(query))


def _locked(session: Session, campaign: Campaign) -> Campaign:
    """Re-read ``campaign`` locked for update (PostgreSQL), so that two transitions never interleave."""
    found = session.get(Campaign, campaign.id, with_for_update=True, populate_existing=True)
    if found is None:
        raise CampaignError(f"không có đợt khảo sát số {campaign.id} (no campaign with id {campaign.id})")
    return found


def _reason(reason: str | None, *, required: bool) -> str | None:
    """Return the reason stripped (None when empty and optional); CampaignError when it is unusable."""
    text = (reason or "").strip()
    if not text:
        if required:
            raise CampaignError("cần ghi lý do mở lại đợt khảo sát (a reason is required to reopen)")
        return None
    if len(text) > REASON_MAX:
        raise CampaignError(
            f"lý do dài quá {REASON_MAX} ký tự (the reason is longer than {REASON_MAX} characters)"
        )
    if has_control_characters(text.replace("\n", "").replace("\r", "").replace("\t", "")):
        raise CampaignError("lý do có ký tự điều khiển (the reason contains control characters)")
    return text


def _aware(stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp.tzinfo is None:  # SQLite gives back naive datetimes; we store UTC
        return stamp.replace(tzinfo=UTC)
    return stamp


# ------------------------------------------------------------------------------- the frozen definition
_CACHE: OrderedDict[tuple, Questionnaire] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def campaign_questionnaire(campaign: Campaign) -> Questionnaire:
    """The questionnaire a campaign was created with, rebuilt from its snapshot (cached)."""
    created = campaign.created_at.isoformat() if campaign.created_at else ""
    # The id alone is not enough: two databases (tests, a restored backup) reuse ids.
    key = (campaign.id, campaign.questionnaire_id, campaign.questionnaire_version, created)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    try:
        q = from_data(campaign.definition, file=f"campaign {campaign.id}").questionnaire
    except QuestionnaireError as exc:
        raise CampaignError(f"đợt khảo sát {campaign.id}: bản lưu phiếu khảo sát hỏng: {exc}") from None
    with _CACHE_LOCK:
        _CACHE[key] = q
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return q


# ------------------------------------------------------------------------------------------- kiosks
def hash_token(token: str) -> str:
    """The sha256 hex digest under which a kiosk token is stored."""
    # surrogatepass: a token from JSON may hold a lone surrogate; it matches nothing, but must not crash.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_kiosk(
    session: Session,
    campaign: Campaign,
    unit_code: str,
    counter: str | None = None,
    created_by: User | int | None = None,
) -> tuple[Kiosk, str]:
    """Create a kiosk link for one unit of ``campaign``; return it with its token (shown only now).

    Only the token's sha256 and its first 6 characters (to tell links apart) are stored. Flushes;
    the caller commits.
    """
    # A draft may get its links ahead of the opening day; they take forms once it opens.
    if campaign.status == "closed":
        raise CampaignError(f"đợt khảo sát '{campaign.name}' đã đóng (campaign is closed)")
    units = {u.unit_code for u in campaign.units}
    if unit_code not in units:
        raise CampaignError(
            f"đơn vị {unit_code!r} không thuộc đợt khảo sát '{campaign.name}' "
            f"(unit not in the campaign; known: {', '.join(sorted(units))})"
        )
    counter = (counter or "").strip() or None
    if counter is not None and len(counter) > 100:
        raise CampaignError("tên quầy dài quá 100 ký tự (counter name is longer than 100 characters)")
    if counter is not None and has_control_characters(counter):
        raise CampaignError("tên quầy có ký tự điều khiển (the counter name contains control characters)")
    token = secrets.token_urlsafe(32)
    kiosk = Kiosk(
        campaign_id=campaign.id,
        unit_code=unit_code,
        counter=counter,
        token_hash=hash_token(token),
        token_hint=token[:6],
        created_by=created_by.id if isinstance(created_by, User) else created_by,
    )
    session.add(kiosk)
    session.flush()
    return kiosk, token


def kiosk_for_token(session: Session, token: str | None) -> Kiosk | None:
    """The kiosk of ``token``, or None when the token is unknown or revoked."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    # The campaign comes in the same query: every caller needs it next.
    kiosk = session.scalars(
        select(Kiosk).options(joinedload(Kiosk.campaign)).where(Kiosk.token_hash == hash_token(token))
    ).one_or_none()
    if kiosk is None or kiosk.revoked_at is not None:
        return None
    return kiosk


def revoke_kiosk(session: Session, kiosk: Kiosk) -> Kiosk:
    """Revoke a kiosk link (its token stops working at once); idempotent. Flushes; the caller commits."""
    if kiosk.revoked_at is None:
        kiosk.revoked_at = datetime.now(UTC)
        session.flush()
    return kiosk


def kiosk_url(token: str, base_url: str) -> str:
    """The address a tablet opens: ``{base_url}/k/{token}``."""
    return f"{base_url.rstrip('/')}/k/{token}"


# ----------------------------------------------------------------------------------------- progress
@dataclass(frozen=True)
class UnitProgress:
    """One unit's progress. ``population`` and ``target`` are those in force: from the imported case
    files when there are any (survey.dossiers), else as typed; ``typed_*`` keep the typed numbers."""

    unit_code: str
    unit_name: str
    population: int | None
    target: int | None
    responses: int
    percent: float | None  # responses / target × 100, None without a target
    last_response_at: datetime | None
    typed_population: int | None = None
    typed_target: int | None = None
    from_dossiers: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "population": self.population,
            "target": self.target,
            "responses": self.responses,
            "percent": self.percent,
            "last_response_at": self.last_response_at.isoformat() if self.last_response_at else None,
            "typed_population": self.typed_population,
            "typed_target": self.typed_target,
            "from_dossiers": self.from_dossiers,
        }


@dataclass(frozen=True)
class Progress:
    """Responses per unit against target, and the campaign totals."""

    campaign_id: int
    units: list[UnitProgress] = field(default_factory=list)

    @property
    def responses(self) -> int:
        return sum(u.responses for u in self.units)

    @property
    def target(self) -> int | None:
        targets = [u.target for u in self.units if u.target is not None]
        return sum(targets) if targets else None

    @property
    def percent(self) -> float | None:
        return _percent(self.responses, self.target)

    @property
    def last_response_at(self) -> datetime | None:
        stamps = [u.last_response_at for u in self.units if u.last_response_at is not None]
        return max(stamps) if stamps else None

    @property
    def totals(self) -> dict[str, Any]:
        last = self.last_response_at
        return {
            "target": self.target,
            "responses": self.responses,
            "percent": self.percent,
            "units": len(self.units),
            "units_done": sum(1 for u in self.units if u.target and u.responses >= u.target),
            "last_response_at": last.isoformat() if last else None,
        }

    def __iter__(self):
        return iter(self.units)

    def __len__(self) -> int:
        return len(self.units)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "units": [u.to_dict() for u in self.units],
            "totals": self.totals,
        }


def _percent(responses: int, target: int | None) -> float | None:
    if not target:
        return None
    return round(100.0 * responses / target, 1)


def progress(session: Session, campaign: Campaign) -> Progress:
    """Responses per unit against target, in the campaign's unit order (late and rejected ones left out)."""
    count = func.count(Response.id)
    last = func.max(Response.received_at)
    rows = session.execute(
        select(
            CampaignUnit.unit_code,
            CampaignUnit.unit_name,
            CampaignUnit.population,
            CampaignUnit.target,
            count,
            last,
        )
        .outerjoin(
            Response,
            (Response.campaign_id == CampaignUnit.campaign_id)
            & (Response.unit_code == CampaignUnit.unit_code)
            & Response.late.is_(False)  # late forms are kept apart (late_responses)
            & (Response.review_state != "rejected"),  # a rejected form does not count towards the target
        )
        .where(CampaignUnit.campaign_id == campaign.id)
        .group_by(
            CampaignUnit.id,
            CampaignUnit.unit_code,
            CampaignUnit.unit_name,
            CampaignUnit.population,
            CampaignUnit.target,
            CampaignUnit.position,
        )
        .order_by(CampaignUnit.position, CampaignUnit.id)
    ).all()
    from .dossiers import dossier_frame, dossier_targets, unit_populations  # dossiers imports this module

    imported = dossier_frame(session, campaign)
    from_dossiers = imported is not None
    if imported is not None:
        imported_n = unit_populations(imported)
        imported_targets = dossier_targets(campaign, imported).units
    units = []
    for code, unit_name, typed_population, typed_target, n, stamp in rows:
        population, target = typed_population, typed_target
        if imported is not None:  # the case files replace the typed numbers
            population = imported_n.get(code, 0)
            target = imported_targets.get(code, 0)
        if isinstance(stamp, str):  # SQLite returns max() of a datetime column as text
            stamp = datetime.fromisoformat(stamp)
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        units.append(
            UnitProgress(
                code,
                unit_name,
                population,
                target,
                int(n),
                _percent(int(n), target),
                stamp,
                typed_population,
                typed_target,
                from_dossiers,
            )
        )
    return Progress(campaign.id, units)
