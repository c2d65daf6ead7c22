"""Storing responses (validated, idempotent, race-safe) and reading them back as the responses table.

Idempotency: the client generates an ``instance_id`` (a UUID) for each filled form and may send it any
number of times (flaky Wi-Fi, an offline queue). The first copy is stored; a later copy with the same
*content hash* is answered "duplicate" and nothing changes; a copy with different content is a
:class:`~survey.errors.DuplicateConflict`, and a copy for another campaign than the stored one is an
:class:`~survey.errors.InstanceInOtherCampaign` (a conflict too: the instance id is unique in the whole
database, as ODK's instanceID is a UUID meant to name one filled form anywhere, and the review pages,
paper keyings and audits name a response by it alone; so the copy is refused, never "duplicate", and
the tablet keeps it for staff). The hash covers what the respondent said and where:
questionnaire id, version, unit, stratum, respondent group, the normalised answers, ``started_at`` and
``submitted_at`` (see :func:`content_hash`). It leaves out how the copy travelled (source, kiosk, the
staff member who keyed it, the time it was received), so a retry through another path is still the
same response.

Races: the database decides. Every copy is written with ``INSERT … ON CONFLICT (instance_id) DO
NOTHING RETURNING id``: exactly one copy gets an id back (PostgreSQL makes a racing copy wait for the
first one's commit); the others insert nothing, re-read the stored row and compare hashes. That works
the same on SQLite and PostgreSQL, and a retry costs no error and no rollback.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from questionnaires import Questionnaire, QuestionType, Role
from questionnaires.languages import respondent_languages

from .db import write_lock
from .errors import CampaignError, DuplicateConflict, InstanceInOtherCampaign, ItemError, ValidationFailed
from .models import Campaign, CampaignUnit, Kiosk, Response, User
from .validation import (
    TimestampOutOfRange,
    check_blank_items,
    parse_timestamp,
    respondent_group,
    response_clock,
    timestamp_range_text,
    validate_answers,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EXTRA_COLUMNS",
    "SOURCES",
    "build_response",
    "campaign_frame",
    "content_hash",
    "engine_for",
    "normalise_instance_id",
    "normalise_serial",
    "responses_frame",
    "save_response",
    "store_response",
]

# import: a file of another collection tool (KoboToolbox, ODK Central) read by `sipas responses import`.
SOURCES = ("kiosk", "phone", "api", "paper", "import")
# Columns the responses table carries after the items (provenance, for analysts and audits).
# kiosk: the tablet link's id and counter ("12 (Quầy 1)"), enumerator: the username of who keyed a paper
# form, received_at: when the server stored it (UTC); the integrity checks read them (analysis.integrity).
# language: the BCP-47 tag of the language the form was shown in (vi when it was Vietnamese).
EXTRA_COLUMNS = (
    "questionnaire_version",
    "language",
    "source",
    "kiosk",
    "enumerator",
    "started_at",
    "submitted_at",
    "received_at",
)
_CHUNK = 1000
# How stale a kiosk's "last seen" may get before a response refreshes it (staff see minutes).
KIOSK_SEEN_RESOLUTION = timedelta(seconds=60)
# A code sent by a client (stratum): short, printable, nothing a database or a page could trip on.
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A paper serial (số phiếu) as printed or written: letters, digits and - / . _, at most 32 characters.
_SERIAL_RE = re.compile(r"[0-9A-Z][0-9A-Z/._-]{0,31}")


def normalise_serial(value: Any) -> str | None:
    """Return a paper serial stripped and upper-cased (None when empty); raise ValueError when malformed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Số phiếu phải là chữ hoặc số.")
    text = value.strip().upper()
    if not text:
        return None
    if not _SERIAL_RE.fullmatch(text):
        raise ValueError("Số phiếu chỉ gồm chữ, số và các dấu - / . _ (không dấu cách), tối đa 32 ký tự.")
    return text


def normalise_instance_id(value: Any) -> str:
    """Return the canonical lower-case UUID text of ``value`` (``uuid:`` prefix allowed, as ODK sends)."""
    if not isinstance(value, str):
        raise ValueError("instance_id must be a UUID string")
    text = value.strip()
    if text.lower().startswith("uuid:"):
        text = text[5:]
    if len(text) not in (32, 36):
        raise ValueError(f"instance_id {value!r} is not a UUID")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f"instance_id {value!r} is not a UUID") from None


def _iso(stamp: datetime | None) -> str | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:  # SQLite gives back naive datetimes; we only ever store UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat()


def content_hash(
    *,
    questionnaire_id: str,
    version: str,
    unit_code: str,
    stratum: str | None,
    group: str | None,
    answers: Mapping[str, Any],
    started_at: datetime | None,
    submitted_at: datetime | None,
    paper_serial: str | None = None,
    blank_items: list[str] | None = None,
) -> str:
    """The sha256 (hex) of the canonical JSON of a response's content (keys sorted, UTF-8, UTC times).

    A paper serial and items marked blank are part of the content when present (and absent from the
    canonical text otherwise, so that hashes stored before they existed still match).
    """
    canonical = {
        "questionnaire": questionnaire_id,
        "version": version,
        "unit": unit_code,
        "stratum": stratum,
        "group": group,
        "answers": dict(answers),
        "started_at": _iso(started_at),
        "submitted_at": _iso(submitted_at),
    }
    if paper_serial is not None:
        canonical["paper_serial"] = paper_serial
    if blank_items:
        canonical["blank_items"] = list(blank_items)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stamp(field: str, value: Any, errors: list[ItemError]) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampOutOfRange:
        vi, en = timestamp_range_text()
        errors.append(ItemError(field, "out_of_range", f"'{field}' phải {vi}.", f"{field} must be {en}"))
        return None
    except ValueError:
        errors.append(
            ItemError(
                field,
                "wrong_type",
                f"'{field}' phải là thời điểm ISO 8601 (ví dụ 2024-05-01T08:30:00Z).",
                f"{field} must be an ISO 8601 timestamp",
            )
        )
        return None


def save_response(
    session: Session,
    *,
    campaign: Campaign,
    unit_code: str,
    instance_id: str,
    answers: Mapping[str, Any],
    questionnaire_id: str,
    version: str,
    started_at: datetime | str | None,
    submitted_at: datetime | str | None,
    stratum: str | None = None,
    group: str | None = None,
    source: str,
    kiosk: Kiosk | None = None,
    entered_by: User | int | None = None,
    paper_serial: str | None = None,
    blank_items: Collection[str] | None = None,
    paradata: Mapping[str, Any] | None = None,
    language: str | None = None,
    on_insert: Callable[[int], None] | None = None,
) -> tuple[Response, bool]:
    """Validate and store one response; return ``(response, created)``. Commits the session.

    ``on_insert``: see :func:`store_response` (an answer code is used there, in the response's transaction).

    ``paradata`` (kiosk forms): how the form was filled, already checked by the API; not part of the
    content hash, so a copy resent with or without it is the same response.

    :func:`build_response` validates (its rules below), :func:`store_response` stores.
    """
    response = build_response(
        session,
        campaign=campaign,
        unit_code=unit_code,
        instance_id=instance_id,
        answers=answers,
        questionnaire_id=questionnaire_id,
        version=version,
        started_at=started_at,
        submitted_at=submitted_at,
        stratum=stratum,
        group=group,
        source=source,
        kiosk=kiosk,
        entered_by=entered_by,
        paper_serial=paper_serial,
        blank_items=blank_items,
        language=language,
    )
    response.paradata = dict(paradata) if paradata else None
    return store_response(session, response, kiosk, on_insert=on_insert)


def build_response(
    session: Session,
    *,
    campaign: Campaign,
    unit_code: str,
    instance_id: str,
    answers: Mapping[str, Any],
    questionnaire_id: str,
    version: str,
    started_at: datetime | str | None,
    submitted_at: datetime | str | None,
    stratum: str | None = None,
    group: str | None = None,
    source: str,
    kiosk: Kiosk | None = None,
    entered_by: User | int | None = None,
    paper_serial: str | None = None,
    blank_items: Collection[str] | None = None,
    language: str | None = None,
) -> Response:
    """Validate one response and return it unsaved (``id`` None); nothing is written.

    Raises :class:`ValidationFailed` (nothing stored) when the answers or the submission fields are
    invalid: questionnaire/version not the campaign's, a unit outside the campaign (or not the
    kiosk's), an instance id that is not a UUID, bad timestamps, per-item errors. An instance id
    already stored with the same content returns the stored row with ``created=False``; with other
    content it raises :class:`DuplicateConflict`. The stratum defaults to the answer of the
    ``role: stratum`` question, the group to the ``role: group`` answer (or the only declared group).
    Any other pending change in ``session`` is committed (or rolled back) together with the response.

    A campaign that is not open raises :class:`~survey.campaigns.CampaignNotOpen` (nothing stored),
    except for a kiosk form filled (its own ``submitted_at``) before the campaign closed: that one is
    stored with ``late=True``, kept apart from progress and scoring, so nothing a respondent filled in
    is lost.

    Paper forms only (``source="paper"``): ``paper_serial``, unique per campaign and unit, and
    ``blank_items``, the items marked blank or illegible (they satisfy ``required`` and stay missing).

    ``language``: the language the form was shown in, one of the campaign's respondent languages
    (:func:`questionnaires.languages.respondent_languages`); a kiosk or paper form without one was in
    Vietnamese (``vi``), a file imported or sent through the API without one has none. It is how the
    form was read, not what was answered: it is left out of the content hash, as the paradata is.
    """
    from .campaigns import (  # campaigns imports storage for the demo data
        CampaignNotOpen,
        accepts_responses,
        arrives_late,
        campaign_questionnaire,
    )

    errors: list[ItemError] = []
    try:
        iid = normalise_instance_id(instance_id)
    except ValueError as exc:
        iid = ""
        errors.append(
            ItemError("instance_id", "wrong_type", "Mã phiếu (instance_id) phải là một UUID.", str(exc))
        )
    if questionnaire_id != campaign.questionnaire_id or str(version) != campaign.questionnaire_version:
        errors.append(
            ItemError(
                "questionnaire",
                "wrong_questionnaire",
                f"Phiếu {questionnaire_id} {version} không phải phiếu của đợt khảo sát này "
                f"({campaign.questionnaire_id} {campaign.questionnaire_version}); xin tải lại trang.",
                f"questionnaire {questionnaire_id} {version} is not this campaign's "
                f"({campaign.questionnaire_id} {campaign.questionnaire_version})",
            )
        )
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")  # a programming error
    if source != "paper" and (paper_serial is not None or blank_items):
        raise ValueError("only paper forms have a serial or items marked blank")  # a programming error
    try:
        serial = normalise_serial(paper_serial)
    except ValueError as exc:
        serial = None
        errors.append(ItemError("paper_serial", "wrong_type", str(exc), "malformed paper serial"))
    if kiosk is not None:
        # A kiosk is only ever created for a unit of its campaign (create_kiosk checks).
        if kiosk.campaign_id != campaign.id or kiosk.unit_code != unit_code:
            errors.append(
                ItemError(
                    "unit",
                    "wrong_unit",
                    f"Máy trạm này thuộc đơn vị {kiosk.unit_code}, không phải {unit_code}.",
                    f"this kiosk belongs to unit {kiosk.unit_code}, not {unit_code}",
                )
            )
    elif not _campaign_has_unit(session, campaign, unit_code):
        errors.append(
            ItemError(
                "unit",
                "unknown_unit",
                f"Đơn vị '{unit_code}' không thuộc đợt khảo sát này.",
                f"unit {unit_code!r} is not part of this campaign",
            )
        )
    started = _stamp("started_at", started_at, errors)
    submitted = _stamp("submitted_at", submitted_at, errors)
    late = False
    if not accepts_responses(campaign):
        # Only a queued tablet form may come in after closing; paper is keyed and files are imported by
        # staff, who can reopen.
        late = source not in ("paper", "import") and arrives_late(campaign, submitted)
        if not late:
            raise CampaignNotOpen(campaign)

    questionnaire = campaign_questionnaire(campaign)
    normalised, item_errors = validate_answers(
        questionnaire, answers, group=group, blank=blank_items or (), now=response_clock(submitted)
    )
    errors.extend(item_errors)
    blank, blank_errors = check_blank_items(questionnaire, normalised, blank_items, group=group)
    errors.extend(blank_errors)
    if serial is not None:
        errors.extend(_serial_taken(session, campaign, unit_code, serial, iid))
    if stratum is None:
        item = questionnaire.role_item(Role.STRATUM)
        stratum = normalised.get(item.code) if item is not None else None
    elif not isinstance(stratum, str) or not _CODE_RE.fullmatch(stratum):
        errors.append(
            ItemError(
                "stratum", "wrong_type", "Tầng (stratum) phải là một mã ngắn.", "stratum must be a short code"
            )
        )
    elif campaign.strata and stratum not in {s.get("code") for s in campaign.strata}:
        known = ", ".join(str(s.get("code")) for s in campaign.strata)
        errors.append(
            ItemError(
                "stratum",
                "invalid_code",
                f"Tầng '{stratum}' không có trong đợt khảo sát (có: {known}).",
                f"stratum {stratum!r} is not one of the campaign's ({known})",
            )
        )
    group = respondent_group(questionnaire, normalised, group)
    language = _language(questionnaire, language, source, errors)
    if errors:
        raise ValidationFailed(errors)

    digest = content_hash(
        questionnaire_id=questionnaire_id,
        version=str(version),
        unit_code=unit_code,
        stratum=stratum,
        group=group,
        answers=normalised,
        started_at=started,
        submitted_at=submitted,
        paper_serial=serial,
        blank_items=blank,
    )
    return Response(
        instance_id=iid,
        campaign_id=campaign.id,
        questionnaire_id=questionnaire_id,
        questionnaire_version=str(version),
        unit_code=unit_code,
        stratum=stratum,
        respondent_group=group,
        answers=normalised,
        content_hash=digest,
        source=source,
        kiosk_id=kiosk.id if kiosk is not None else None,
        entered_by=entered_by.id if isinstance(entered_by, User) else entered_by,
        started_at=started,
        submitted_at=submitted,
        received_at=datetime.now(UTC),
        late=late,
        paper_serial=serial,
        blank_items=blank or None,
        language=language,
    )


def _language(
    questionnaire: Questionnaire, language: str | None, source: str, errors: list[ItemError]
) -> str | None:
    """The response's language: one of the campaign's; ``vi`` for a kiosk or paper form without one."""
    if language is None:
        return "vi" if source in ("kiosk", "paper") else None
    offered = respondent_languages(questionnaire)
    if language not in offered:
        shown = str(language)[:40]
        errors.append(
            ItemError(
                "language",
                "invalid_code",
                f"Ngôn ngữ '{shown}' không có trong đợt khảo sát (có: {', '.join(offered)}).",
                f"language {shown!r} is not one of the campaign's ({', '.join(offered)})",
            )
        )
        return None
    return language


def store_response(
    session: Session,
    response: Response,
    kiosk: Kiosk | None = None,
    *,
    on_insert: Callable[[int], None] | None = None,
) -> tuple[Response, bool]:
    """Store a response from :func:`build_response`; return ``(response, created)``. Commits the session.

    ``on_insert(id)`` runs after the insert and before the commit, only when the row is new: what it
    changes is committed with the response, in one transaction.
    """
    iid, digest = response.instance_id, response.content_hash
    # One statement decides, in the database: INSERT … ON CONFLICT (instance_id) DO NOTHING RETURNING
    # id stores the first copy and leaves a retry (or a copy racing it) untouched, on SQLite and on
    # PostgreSQL alike, without a look-up first and without an IntegrityError to recover from.
    values = {key: getattr(response, key) for key in _RESPONSE_COLUMNS}
    with write_lock(session):
        try:
            new_id = session.execute(_insert_unless_stored(session), values).scalar_one_or_none()
        except IntegrityError:
            # Only the serial can clash here (the instance id never raises): a paper form with the same
            # serial, stored by someone else since the check in build_response.
            session.rollback()
            if response.paper_serial is None:
                raise
            raise ValidationFailed(
                _serial_taken(session, response.campaign_id, response.unit_code, response.paper_serial, iid)
                or [_serial_error(response.unit_code, response.paper_serial)]
            ) from None
        if new_id is not None and kiosk is not None and _stale(kiosk.last_seen_at, response.received_at):
            # Written with the response, or not at all; and only to the minute staff see, so that a
            # busy tablet does not rewrite its kiosk row with every form.
            kiosk.last_seen_at = response.received_at
        if new_id is not None and on_insert is not None:
            on_insert(new_id)
        session.commit()
    if new_id is None:
        existing = session.scalars(select(Response).where(Response.instance_id == iid)).one_or_none()
        if existing is None:  # stored a moment ago and gone again: nothing a retry should paper over
            raise RuntimeError(f"response {iid} conflicted on insert but is not stored")
        return _same_or_conflict(existing, response.campaign_id, digest, iid), False
    response.id = new_id
    return response, True


_RESPONSE_COLUMNS = tuple(c.key for c in Response.__table__.columns if c.key != "id")
_INSERTS: dict[str, Any] = {}


def _insert_unless_stored(session: Session) -> Any:
    """``INSERT … ON CONFLICT (instance_id) DO NOTHING RETURNING id``, built once per dialect."""
    dialect = session.get_bind().dialect.name
    statement = _INSERTS.get(dialect)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise NotImplementedError(f"responses are stored in SQLite or PostgreSQL, not {dialect}")
        table = Response.__table__
        statement = (
            insert(table).on_conflict_do_nothing(index_elements=[table.c.instance_id]).returning(table.c.id)
        )
        _INSERTS[dialect] = statement
    return statement


def _stale(seen: datetime | None, now: datetime) -> bool:
    if seen is None:
        return True
    if seen.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        seen = seen.replace(tzinfo=UTC)
    return now - seen >= KIOSK_SEEN_RESOLUTION


def _same_or_conflict(existing: Response, campaign_id: int, digest: str, iid: str) -> Response:
    """The stored copy when it is this response; a conflict when it differs or is another campaign's."""
    if existing.campaign_id != campaign_id:
        # The content hash leaves the campaign out, so without this a copy posted to campaign 4 of a
        # form stored in campaign 1 would be "duplicate" and the tablet would drop a form never stored.
        raise InstanceInOtherCampaign(iid, existing)
    if existing.content_hash != digest:
        raise DuplicateConflict(iid, existing)
    return existing


def _serial_error(unit_code: str, serial: str) -> ItemError:
    return ItemError(
        "paper_serial",
        "duplicate_serial",
        f"Số phiếu {serial} của đơn vị {unit_code} đã được nhập rồi: xin kiểm tra lại số trên phiếu.",
        f"paper serial {serial} of unit {unit_code} is already stored",
    )


def _serial_taken(
    session: Session, campaign: Campaign | int, unit_code: str, serial: str, iid: str
) -> list[ItemError]:
    """The error for a serial already stored in this campaign and unit by another form (none: [])."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.id
    other = session.scalar(
        select(Response.instance_id).where(
            Response.campaign_id == campaign_id,
            Response.unit_code == unit_code,
            Response.paper_serial == serial,
            Response.instance_id != iid,
        )
    )
    return [] if other is None else [_serial_error(unit_code, serial)]


def _campaign_has_unit(session: Session, campaign: Campaign, unit_code: Any) -> bool:
    if not isinstance(unit_code, str):
        return False
    found = session.scalar(
        select(CampaignUnit.id).where(
            CampaignUnit.campaign_id == campaign.id, CampaignUnit.unit_code == unit_code
        )
    )
    return found is not None


# ------------------------------------------------------------------------------ the responses table
def responses_frame(campaign_id: int, database_url: str | None = None) -> pd.DataFrame:
    """Return a campaign's responses as the responses table (one row per response).

    Columns: ``response_id`` (the instance id), ``unit``, ``stratum`` and ``group`` (when the
    questionnaire has such a role or any response carries one), one column per answerable item in
    questionnaire order (single choice: the code as text; multiple: codes joined by spaces; integer:
    nullable Int64; decimal: float; text/date: text; blank = no answer), then ``questionnaire_version``,
    ``language`` (the BCP-47 tag of the language shown), ``source``, ``kiosk`` (id and counter),
    ``enumerator`` (who keyed a paper form), ``started_at``, ``submitted_at`` and ``received_at`` (UTC
    timestamps). Rows are read in chunks, so a large campaign never sits in memory as ORM objects.
    ``database_url=None`` uses the app's configuration (``SIPAS_DATABASE_URL`` or the instance SQLite
    database), inside or outside a request.
    """
    with engine_for(database_url) as engine:
        return campaign_frame(engine, campaign_id)


@contextmanager
def engine_for(database_url: str | None) -> Iterator[Engine]:
    """Yield the engine of ``database_url``, else of the current app, else of the configured app."""
    from .db import make_engine

    if database_url is None:
        from flask import current_app, has_app_context

        if has_app_context():
            yield current_app.extensions["sipas.engine"]
            return
        from .app import create_app

        app = create_app(serving=False)
        try:
            yield app.extensions["sipas.engine"]
        finally:
            app.extensions["sipas.engine"].dispose()
        return
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def campaign_frame(
    bind: Engine | Connection, campaign_id: int, *, include_late: bool = False
) -> pd.DataFrame:
    """Build the responses table of ``campaign_id`` (latest answers, rejected left out) from a bind.

    Late forms (filled before the campaign closed, received after) are left out of scoring; with
    ``include_late`` (exports) they are kept and a ``late`` column marks them, when there are any.
    """
    from .campaigns import campaign_questionnaire

    with Session(bind) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignError(f"không có đợt khảo sát số {campaign_id} (no campaign with id {campaign_id})")
        questionnaire = campaign_questionnaire(campaign)
        rows = session.execute(
            select(
                Response.instance_id,
                Response.unit_code,
                Response.stratum,
                Response.respondent_group,
                Response.answers,
                Response.current_answers,
                Response.questionnaire_version,
                Response.language,
                Response.source,
                Response.started_at,
                Response.submitted_at,
                Response.received_at,
                Response.kiosk_id,
                Kiosk.counter.label("kiosk_counter"),
                User.username.label("enumerator"),
            )
            .outerjoin(Kiosk, Kiosk.id == Response.kiosk_id)
            .outerjoin(User, User.id == Response.entered_by)
            # A rejected response is kept for the record but never counted (survey.review).
            .where(Response.campaign_id == campaign_id, Response.review_state != "rejected")
            .where(true() if include_late else Response.late.is_(False))
            .order_by(Response.id)
            .execution_options(yield_per=_CHUNK)
        )
        frame = _build_frame(questionnaire, rows)
        if include_late:
            _mark_late(session, campaign_id, frame)
        return frame


def _mark_late(session: Session, campaign_id: int, frame: pd.DataFrame) -> None:
    """Add the ``late`` column (True for a late form) to ``frame`` when the campaign has late forms."""
    late = set(
        session.scalars(
            select(Response.instance_id).where(Response.campaign_id == campaign_id, Response.late.is_(True))
        )
    )
    if late:
        frame["late"] = frame["response_id"].isin(late)


def _build_frame(questionnaire: Questionnaire, rows: Iterator[Any]) -> pd.DataFrame:
    import pandas as pd  # here, not at the top: web workers that only store responses never load it

    # Answers and calculates (stored as text; scoring reads a calculate only when a criterion names it).
    items = [q for q in questionnaire.questions() if q.type.is_answerable or q.type.is_computed]
    lead = ("response_id", "unit", "stratum", "group")
    data: dict[str, list[Any]] = {name: [] for name in (*lead, *(q.code for q in items), *EXTRA_COLUMNS)}
    # Interning: the same few codes repeat in every row; keep one string object per code.
    pool: dict[str, str] = {}
    multiple = {q.code for q in items if q.type is QuestionType.MULTIPLE}
    for row in rows:
        data["response_id"].append(row.instance_id)
        data["unit"].append(pool.setdefault(row.unit_code, row.unit_code))
        data["stratum"].append(None if row.stratum is None else pool.setdefault(row.stratum, row.stratum))
        group = row.respondent_group
        data["group"].append(None if group is None else pool.setdefault(group, group))
        # The latest correction when there is one; the submitted answers otherwise.
        answers = (row.answers if row.current_answers is None else row.current_answers) or {}
        for q in items:
            value = answers.get(q.code)
            if value is not None and q.code in multiple:
                value = " ".join(value) if isinstance(value, list) else str(value)
            if isinstance(value, str) and len(value) <= 32:
                value = pool.setdefault(value, value)
            data[q.code].append(value)
        data["questionnaire_version"].append(row.questionnaire_version)
        data["language"].append(None if row.language is None else pool.setdefault(row.language, row.language))
        data["source"].append(row.source)
        data["started_at"].append(_utc(row.started_at))
        data["submitted_at"].append(_utc(row.submitted_at))
        data["received_at"].append(_utc(row.received_at))
        data["kiosk"].append(_kiosk_name(row.kiosk_id, row.kiosk_counter, pool))
        enumerator = row.enumerator
        data["enumerator"].append(None if enumerator is None else pool.setdefault(enumerator, enumerator))

    columns: dict[str, Any] = {}
    roles = {q.role for q in questionnaire.questions() if q.role is not None}
    for name in lead:
        values = data[name]
        wanted = name in ("response_id", "unit")
        wanted = wanted or (name == "stratum" and Role.STRATUM in roles)
        wanted = wanted or (name == "group" and (Role.GROUP in roles or bool(questionnaire.groups)))
        if wanted or any(v is not None for v in values):
            columns[name] = pd.Series(values, dtype=object)
    for q in items:
        values = data[q.code]
        if q.type is QuestionType.INTEGER:
            columns[q.code] = pd.array(values, dtype="Int64")
        elif q.type is QuestionType.DECIMAL:
            columns[q.code] = pd.array(
                [float("nan") if v is None else float(v) for v in values], dtype="float64"
            )
        else:
            columns[q.code] = pd.Series(values, dtype=object)
    columns["questionnaire_version"] = pd.Series(data["questionnaire_version"], dtype=object)
    columns["language"] = pd.Series(data["language"], dtype=object)
    columns["source"] = pd.Series(data["source"], dtype=object)
    columns["kiosk"] = pd.Series(data["kiosk"], dtype=object)
    columns["enumerator"] = pd.Series(data["enumerator"], dtype=object)
    for name in ("started_at", "submitted_at", "received_at"):
        columns[name] = pd.to_datetime(pd.Series(data[name], dtype=object), utc=True)
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _kiosk_name(kiosk_id: int | None, counter: str | None, pool: dict[str, str]) -> str | None:
    """A kiosk as the responses table names it: its id (unique in the database) and its counter."""
    if kiosk_id is None:
        return None
    name = f"{kiosk_id} ({counter})" if counter else str(kiosk_id)
    return pool.setdefault(name, name)


def _utc(stamp: datetime | None) -> datetime | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)
