"""Database models (SQLAlchemy 2). The schema itself is managed by Alembic (`sipas db upgrade`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so that Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")

# viewer: leadership reading results (the dashboard) and nothing else: no forms, exports or settings.
ROLES = ("admin", "analyst", "enumerator", "viewer")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A staff account. Roles: admin (everything), analyst (campaigns, exports), enumerator (data entry),
    viewer (the results dashboard only)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    full_name: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Campaign(Base):
    """A survey round: one questionnaire version (frozen at creation), a period and a list of units."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[str] = mapped_column(String(32))
    # The definition as it was when the campaign was created (questionnaires.to_dict), so that later
    # edits of the file never change what a running campaign asks or how it is scored.
    # Deferred: 17-35 KB of JSON that only a cache miss in campaign_questionnaire() needs;
    # loading it with every kiosk submission would decode it on every request.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, deferred=True)
    unit_list_id: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[str | None] = mapped_column(String(10))  # ISO date
    period_end: Mapped[str | None] = mapped_column(String(10))
    margin_of_error: Mapped[float] = mapped_column(Float, default=0.05)  # e in n = N / (1 + N e^2)
    strata: Mapped[list[Any] | None] = mapped_column(JSONType)  # optional [{code, label}] procedure fields
    # draft -> open -> closed (-> open again, "reopened", with a reason): see survey.campaigns.
    status: Mapped[str] = mapped_column(String(16), default="open")  # draft | open | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The latest transitions (the full history is in the audit log).
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    close_reason: Mapped[str | None] = mapped_column(Text)
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reopen_reason: Mapped[str | None] = mapped_column(Text)
    # Each paper serial keyed twice by two users; it counts once they agree (survey.double_entry).
    double_entry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Integrity checks (survey.integrity): the settings changed from analysis.integrity's documented
    # defaults, {name: value}; None or {}: every default.
    integrity_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Spoken prompts (survey.prompts): the kiosk reads each question aloud as it appears, and where a
    # language has no recorded clip the tablet's own Vietnamese voice may read the Vietnamese text.
    audio_autoplay: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    audio_speech_synthesis: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "Mỗi hồ sơ một phiếu": every kiosk, phone and API form needs an unused answer code (survey.codes).
    answer_codes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Targets from the imported case files (survey.dossiers): None or "unit": Slovin per unit only;
    # "proportional": each unit's target also split across procedure fields in proportion to N.
    field_allocation: Mapped[str | None] = mapped_column(String(16))

    units: Mapped[list[CampaignUnit]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignUnit.position"
    )


class CampaignUnit(Base):
    """A unit surveyed in a campaign, with the number served (N) and the target number of responses."""

    __tablename__ = "campaign_units"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", name="uq_campaign_units_campaign_unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(String(64))
    unit_name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int | None] = mapped_column(Integer)  # N served in the period
    target: Mapped[int | None] = mapped_column(Integer)

    campaign: Mapped[Campaign] = relationship(back_populates="units")


class FrameCell(Base):
    """The number served N_h in one cell (unit x stratum) of a campaign's sampling frame."""

    __tablename__ = "frame_cells"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", "stratum", name="uq_frame_cells_cell"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(String(64))
    stratum: Mapped[str] = mapped_column(String(64), default="")
    population: Mapped[int] = mapped_column(Integer)


class Kiosk(Base):
    """A tablet link for (campaign, unit[, counter]). Only a hash of its token is stored."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(String(64))
    counter: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    token_hint: Mapped[str] = mapped_column(String(8))  # first characters, to tell links apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    campaign: Mapped[Campaign] = relationship()


REVIEW_STATES = ("received", "has_issues", "approved", "rejected")


class AnswerCode(Base):
    """A one-time answer code of a case file (hồ sơ): only its keyed hash, its cell and whether it is used.

    Deliberately absent (survey.codes, docs/answer-codes.md): the code, its unkeyed hash, the case code
    or the case file's row, the response that used it, and when it was used. Rows are inserted in the
    order of their hash, so their ids do not follow the order of the case files either.
    """

    __tablename__ = "answer_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 hex, key from config
    unit_code: Mapped[str] = mapped_column(String(64))
    stratum: Mapped[str | None] = mapped_column(String(64))
    used: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Response(Base):
    """One submitted questionnaire. ``instance_id`` (a client UUID) makes submission idempotent.

    ``answers`` and ``content_hash`` are the submission as received and never change, so a resent
    original is still recognised as a duplicate; a correction stores a :class:`ResponseRevision` and
    points ``current_answers`` at the answers after it (None: never corrected). ``review_state`` is
    one of :data:`REVIEW_STATES`; a ``rejected`` response is left out of scoring and exports.
    """

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_campaign_unit", "campaign_id", "unit_code"),
        # NULL serials are distinct on SQLite and PostgreSQL alike: only real serials are bound.
        UniqueConstraint("campaign_id", "unit_code", "paper_serial", name="uq_responses_paper_serial"),
    )

    def __init__(self, **kwargs: Any):
        # The submission path inserts every column explicitly (ON CONFLICT DO NOTHING), so a
        # column default would be written as NULL: the review state needs its value up front.
        kwargs.setdefault("review_state", "received")
        super().__init__(**kwargs)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str] = mapped_column(String(64))
    stratum: Mapped[str | None] = mapped_column(String(64))
    respondent_group: Mapped[str | None] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical submitted content
    source: Mapped[str] = mapped_column(String(16))  # kiosk | api | paper | import (survey.storage.SOURCES)
    # The BCP-47 tag of the language the form was shown in (one of the campaign's; vi for Vietnamese);
    # None for a file imported or sent through the API without one.
    language: Mapped[str | None] = mapped_column(String(35))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id"))
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # paper forms
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A tablet form filled before its campaign closed but received after: kept apart, never scored.
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Review: the state, and who set it, when and why (the history is in the audit log).
    review_state: Mapped[str] = mapped_column(String(16), default="received", server_default="received")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_reason: Mapped[str | None] = mapped_column(Text)
    # The answers after the latest correction; None while the submitted answers stand.
    current_answers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Paper forms: the serial printed or written on the form, and the items marked "để trống / không
    # đọc được" (blank or illegible): missing answers, never codes in ``answers``. None: none marked.
    paper_serial: Mapped[str | None] = mapped_column(String(32))
    blank_items: Mapped[list[str] | None] = mapped_column(JSONType)
    # Kiosk paradata (survey.api): {"pages": [{"page", "ms", "taps"}, …]}, numbers only; None: none sent.
    paradata: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    revisions: Mapped[list[ResponseRevision]] = relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="ResponseRevision.number"
    )


class ResponseRevision(Base):
    """One correction of a response: who, when, why, old -> new per item, and the answers after it."""

    __tablename__ = "response_revisions"
    __table_args__ = (UniqueConstraint("response_id", "number", name="uq_response_revisions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … per response
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)  # [{item, old, new}]
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the full answers after this revision

    response: Mapped[Response] = relationship(back_populates="revisions")


KEYING_STATES = ("pending", "different", "matched", "resolved")


class PaperKeying(Base):
    """One keying of a paper serial in a double-entry campaign; it becomes a response only by agreement.

    ``pending``: the first keying, waiting for another user's; ``different``: two keyings that differ,
    waiting for a reviewer; ``matched``/``resolved``: the serial counts as ``response_id``.
    """

    __tablename__ = "paper_keyings"
    __table_args__ = (
        UniqueConstraint("campaign_id", "unit_code", "paper_serial", "user_id", name="uq_paper_keyings_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(String(64))
    paper_serial: Mapped[str] = mapped_column(String(32))
    instance_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the date on paper
    stratum: Mapped[str | None] = mapped_column(String(64))
    respondent_group: Mapped[str | None] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    blank_items: Mapped[list[str] | None] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="SET NULL"))


class AuditEvent(Base):
    """Who did what and when: logins, exports, setting changes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    remote_addr: Mapped[str | None] = mapped_column(Text)  # kept only for security events (logins)


class StaffSession(Base):
    """A logged-in staff session: the cookie holds a random id, this row its SHA-256 and the data."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's id
    # No foreign key: a session row is disposable, and tests may name a user that does not exist.
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    data: Mapped[str] = mapped_column(Text)  # Flask's tagged JSON of the session dict
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    absolute_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # min(absolute expiry, last seen + idle lifetime): one indexed column to refuse and purge by.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RateLimitCounter(Base):
    """A fixed-window counter (login attempts per address or account), shared by every app host."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Assignment(Base):
    """An enumerator's assignment to one unit of one campaign: the forms they may see and key there.

    Admins and analysts need none (they see everything); an enumerator without any sees no campaign.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "campaign_id", "unit_code", name="uq_assignments_user_campaign_unit"),
        Index("ix_assignments_campaign_unit", "campaign_id", "unit_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


AUDIO_STATES = ("draft", "approved")


class AudioClip(Base):
    """A spoken prompt of a campaign: one clip per language and prompt (question, choice, section or
    screen message), normalised by survey.audio; only approved clips go to the kiosk."""

    __tablename__ = "audio_clips"
    __table_args__ = (
        UniqueConstraint("campaign_id", "language", "prompt", name="uq_audio_clips_campaign_language_prompt"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(String(255))  # questionnaires.prompt_key: q:<item>, c:<list>:<code> …
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | approved
    sha256: Mapped[str] = mapped_column(String(64))  # of ``data``: the clip's address changes with it
    mime: Mapped[str] = mapped_column(String(40))
    ext: Mapped[str] = mapped_column(String(8))
    # Deferred: listing a campaign's clips must not load every clip's bytes.
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    loudness_in: Mapped[float | None] = mapped_column(Float)  # LUFS as received (before normalisation)
    source: Mapped[str] = mapped_column(String(16), default="recorded")  # recorded | uploaded | definition
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


REPORT_JOB_STATES = ("queued", "running", "done", "failed")


class ReportJob(Base):
    """A ranked report built in the background: who asked, how far it is, and the file once done.

    The file is kept in the database (``content``, deferred), so that whichever host or worker answers
    the download finds it; jobs are purged after ``REPORT_JOB_KEEP_HOURS``.
    """

    __tablename__ = "report_jobs"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)  # random, unguessable
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    previous_campaign_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0-1
    stage: Mapped[str | None] = mapped_column(Text)  # what it is doing, in Vietnamese
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in Vietnamese
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    filename: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class DossierImport(Base):
    """One import of a one-stop system's export of case files (survey.dossiers): the file and its outcome."""

    __tablename__ = "dossier_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))  # of the file's bytes
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)  # data rows of the file (blank lines excluded)
    added: Mapped[int] = mapped_column(Integer, default=0)  # new case files stored
    unchanged: Mapped[int] = mapped_column(Integer, default=0)  # already stored with the same data
    conflicts: Mapped[int] = mapped_column(
        Integer, default=0
    )  # already stored with different data: kept as was
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # bad rows left out (confirmed by the user)


class Dossier(Base):
    """One case file (hồ sơ) of the one-stop system, by the code printed on its receipt.

    The case files of a campaign's period are its sampling frame: N per unit × procedure field
    (``stratum``, "" when the campaign has no fields). ``unit_code`` is a code of the campaign's units.
    """

    __tablename__ = "dossiers"
    __table_args__ = (
        UniqueConstraint("campaign_id", "case_code", name="uq_dossiers_campaign_case"),
        Index("ix_dossiers_campaign_unit_stratum", "campaign_id", "unit_code", "stratum"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    case_code: Mapped[str] = mapped_column(String(64))  # mã hồ sơ, as on the receipt (trimmed)
    unit_code: Mapped[str] = mapped_column(String(64))
    procedure: Mapped[str | None] = mapped_column(String(500))  # the procedure's name as exported
    stratum: Mapped[str] = mapped_column(String(64), default="")  # procedure field code; "" without fields
    received_on: Mapped[date | None] = mapped_column(Date)  # ngày tiếp nhận
    returned_on: Mapped[date | None] = mapped_column(Date)  # ngày trả kết quả
    import_id: Mapped[int | None] = mapped_column(ForeignKey("dossier_imports.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
