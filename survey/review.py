"""Looking after stored responses: list, open, correct, review, exclude and restore them.

A response keeps what was submitted (``answers``, ``content_hash``) for good, so a tablet that resends
the original still gets "duplicate". A correction is a :class:`~survey.models.ResponseRevision` (who,
when, why, old -> new per item, the full answers after it) and ``current_answers`` points at the
latest one, which is what scoring reads. The review state is one of ``received``, ``has_issues``,
``approved``, ``rejected``; a rejected response needs a reason and is left out of scoring.

Who may do what: admins and analysts everything; enumerators may list, open and correct only the paper
forms they keyed themselves in the units they are assigned (:mod:`survey.assignments`), and never set a
review state (the office being graded must not approve its own forms). ``user=None`` is the command line,
which has the database and so everything. Every action is one transaction and one audit event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from questionnaires import Question, Questionnaire, QuestionType, Role

from .assignments import is_scoped, may_enter
from .campaigns import campaign_questionnaire
from .db import write_lock
from .errors import ItemError, SurveyError
from .models import (
    REVIEW_STATES,
    Assignment,
    AuditEvent,
    Campaign,
    CampaignUnit,
    Kiosk,
    Response,
    ResponseRevision,
    User,
)
from .storage import SOURCES, normalise_instance_id
from .users import audit
from .validation import (
    check_blank_items,
    has_control_characters,
    respondent_group,
    response_clock,
    validate_answers,
)
from .web import VIETNAM_TZ

__all__ = [
    "REVIEW_ACTIONS",
    "REVIEW_STATES",
    "STATE_LABELS",
    "SOURCE_LABELS",
    "AccessDenied",
    "AnswerLine",
    "InvalidCorrection",
    "ReasonRequired",
    "ResponseFilter",
    "ResponseNotFound",
    "ResponsePage",
    "ReviewError",
    "detail",
    "exclude",
    "find_response",
    "latest_revision",
    "list_responses",
    "may_review",
    "may_see",
    "restore",
    "revise",
    "set_state",
    "set_states",
]

STATE_LABELS = {
    "received": "Đã nhận",
    "has_issues": "Cần xem lại",
    "approved": "Đã duyệt",
    "rejected": "Bị loại (không tính điểm)",
}
SOURCE_LABELS = {
    "kiosk": "Máy tính bảng",
    "phone": "Điện thoại người dân",
    "api": "Ứng dụng / API",
    "paper": "Phiếu giấy",
    "import": "Nhập từ tệp (KoboToolbox, ODK)",
}
# Audit actions that make a response's review history.
REVIEW_ACTIONS = ("response_reviewed", "response_excluded", "response_restored", "response_revised")
PER_PAGE = 50
MAX_REASON = 2000


class ReviewError(SurveyError):
    """A review action that cannot be done as asked; nothing was changed."""


class ResponseNotFound(ReviewError):
    """No stored response has this id."""

    def __init__(self, ref: Any):
        self.ref = ref
        super().__init__(f"không có phiếu {ref} (no response with id {ref})")


class ReasonRequired(ReviewError):
    """An action that needs a reason was asked without one (or with one that cannot be stored)."""


class AccessDenied(ReviewError):
    """The user's role does not allow this action on this response."""


class InvalidCorrection(ReviewError):
    """A correction whose answers do not pass the campaign's questionnaire; ``errors`` name the items."""

    def __init__(self, errors: Sequence[ItemError]):
        self.errors = list(errors)
        shown = "; ".join(
            f"{e.item}: {e.message}" + (f" ({e.message_en})" if e.message_en else "") for e in self.errors[:5]
        )
        more = f" (+{len(self.errors) - 5})" if len(self.errors) > 5 else ""
        super().__init__(f"sửa phiếu không hợp lệ / invalid correction: {shown}{more}")


# ------------------------------------------------------------------------------------------ access
def may_see(user: User | None, response: Response) -> bool:
    """Whether ``user`` may open and correct ``response`` (enumerators: own paper forms, assigned units)."""
    if user is None or user.role in ("admin", "analyst"):
        return True
    if response.source != "paper" or response.entered_by != user.id:
        return False
    session = object_session(response)  # a response that was never stored is nobody's to open
    return session is not None and may_enter(session, user, response.campaign_id, response.unit_code)


def may_review(user: User | None) -> bool:
    """Whether ``user`` may set review states (admins and analysts; the command line)."""
    return user is None or user.role in ("admin", "analyst")


def _check_see(user: User | None, response: Response) -> None:
    if not may_see(user, response):
        raise AccessDenied(
            f"tài khoản {user.username if user else ''} chỉ được xem và sửa phiếu giấy do mình nhập, "
            f"của đơn vị được phân công (you may only open the paper forms you keyed, in your units)"
        )


def _check_review(user: User | None) -> None:
    if not may_review(user):
        raise AccessDenied(
            "chỉ quản trị và chuyên viên phân tích được duyệt hoặc loại phiếu "
            "(only admins and analysts may review responses)"
        )


def find_response(session: Session, ref: Any, user: User | None = None) -> Response:
    """Return the response with instance id ``ref`` that ``user`` may see; ResponseNotFound otherwise."""
    try:
        iid = normalise_instance_id(str(ref).strip())
    except ValueError:
        raise ResponseNotFound(ref) from None
    found = session.scalars(select(Response).where(Response.instance_id == iid)).one_or_none()
    if found is None:
        raise ResponseNotFound(ref)
    _check_see(user, found)
    return found


# -------------------------------------------------------------------------------------------- list
@dataclass(frozen=True)
class ResponseFilter:
    """What a list of responses is narrowed to; every field optional."""

    unit: str | None = None
    source: str | None = None
    state: str | None = None
    since: date | None = None  # submitted (else received) on or after this day, Vietnam time
    until: date | None = None  # … on or before this day
    text: str | None = None  # in the free-text answers (comments) and the review reason
    # Only these instance ids (e.g. the forms an integrity check flagged); None: no such restriction.
    response_ids: frozenset[str] | None = None

    def check(self) -> None:
        """Raise ReviewError for a source, state or date range that cannot match anything sensible."""
        if self.source and self.source not in SOURCES:
            raise ReviewError(
                f"nguồn phiếu {self.source!r} không hợp lệ; chọn: {', '.join(SOURCES)} (unknown source)"
            )
        if self.state and self.state not in REVIEW_STATES:
            raise ReviewError(
                f"trạng thái {self.state!r} không hợp lệ; chọn: {', '.join(REVIEW_STATES)} (unknown state)"
            )
        if self.since and self.until and self.since > self.until:
            raise ReviewError(
                f"ngày bắt đầu {self.since.isoformat()} sau ngày kết thúc {self.until.isoformat()} "
                "(the date range is reversed)"
            )


@dataclass(frozen=True)
class ResponseRow:
    """One line of a list of responses."""

    instance_id: str
    unit_code: str
    unit_name: str
    source: str
    state: str
    submitted_at: datetime | None
    received_at: datetime
    revisions: int
    entered_by: str | None
    counter: str | None
    paper_serial: str | None = None


@dataclass(frozen=True)
class ResponsePage:
    """One page of a filtered list."""

    rows: list[ResponseRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _vn_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=VIETNAM_TZ).astimezone(UTC)


def _when() -> Any:
    return func.coalesce(Response.submitted_at, Response.received_at)


def _filtered(campaign_id: int, filters: ResponseFilter, user: User | None) -> Select:
    query = select(Response.id).where(Response.campaign_id == campaign_id)
    if is_scoped(user):
        assert user is not None
        assigned = select(Assignment.unit_code).where(
            Assignment.user_id == user.id, Assignment.campaign_id == campaign_id
        )
        query = query.where(
            Response.source == "paper", Response.entered_by == user.id, Response.unit_code.in_(assigned)
        )
    if filters.unit:
        query = query.where(Response.unit_code == filters.unit)
    if filters.source:
        query = query.where(Response.source == filters.source)
    if filters.state:
        query = query.where(Response.review_state == filters.state)
    if filters.response_ids is not None:
        query = query.where(Response.instance_id.in_(sorted(filters.response_ids)))
    if filters.since:
        query = query.where(_when() >= _vn_start(filters.since))
    if filters.until:
        query = query.where(_when() < _vn_start(filters.until + timedelta(days=1)))
    return query


def _text_items(questionnaire: Questionnaire) -> list[str]:
    return [q.code for q in questionnaire.questions() if q.type is QuestionType.TEXT]


def _matches(
    needle: str, answers: Mapping[str, Any] | None, items: Iterable[str], reason: str | None
) -> bool:
    texts = [str((answers or {}).get(code) or "") for code in items]
    texts.append(reason or "")
    return any(needle in t.casefold() for t in texts)


def list_responses(
    session: Session,
    campaign: Campaign,
    filters: ResponseFilter | None = None,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    user: User | None = None,
) -> ResponsePage:
    """Return one page (newest first) of the responses matching ``filters`` that ``user`` may see."""
    filters = filters or ResponseFilter()
    filters.check()
    page = max(1, int(page))
    query = _filtered(campaign.id, filters, user)
    needle = (filters.text or "").strip().casefold()
    if needle:
        # In Python, not SQL: JSON text is stored with \\u escapes on SQLite, and LIKE folds only ASCII.
        items = _text_items(campaign_questionnaire(campaign))
        candidates = session.execute(
            select(Response.id, Response.answers, Response.current_answers, Response.review_reason)
            .where(Response.id.in_(query.scalar_subquery()))
            .order_by(Response.id.desc())
            .execution_options(yield_per=1000)
        )
        ids = [
            row.id
            for row in candidates
            if _matches(
                needle,
                row.current_answers if row.current_answers is not None else row.answers,
                items,
                row.review_reason,
            )
        ]
        total = len(ids)
        wanted = ids[(page - 1) * per_page : page * per_page]
    else:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        wanted = list(
            session.scalars(query.order_by(Response.id.desc()).offset((page - 1) * per_page).limit(per_page))
        )
    return ResponsePage(_rows(session, campaign, wanted), total, page, per_page)


def _rows(session: Session, campaign: Campaign, ids: list[int]) -> list[ResponseRow]:
    if not ids:
        return []
    names = {u.unit_code: u.unit_name for u in campaign.units}
    counts = dict(
        session.execute(
            select(ResponseRevision.response_id, func.count(ResponseRevision.id))
            .where(ResponseRevision.response_id.in_(ids))
            .group_by(ResponseRevision.response_id)
        ).all()
    )
    found = session.execute(
        select(Response, User.username, Kiosk.counter)
        .outerjoin(User, User.id == Response.entered_by)
        .outerjoin(Kiosk, Kiosk.id == Response.kiosk_id)
        .where(Response.id.in_(ids))
    ).all()
    by_id = {r.id: (r, username, counter) for r, username, counter in found}
    rows = []
    for rid in ids:
        r, username, counter = by_id[rid]
        rows.append(
            ResponseRow(
                instance_id=r.instance_id,
                unit_code=r.unit_code,
                unit_name=names.get(r.unit_code, r.unit_code),
                source=r.source,
                state=r.review_state,
                submitted_at=_aware(r.submitted_at),
                received_at=_aware(r.received_at),
                revisions=counts.get(r.id, 0),
                entered_by=username,
                counter=counter,
                paper_serial=r.paper_serial,
            )
        )
    return rows


def _aware(stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        return stamp.replace(tzinfo=UTC)
    return stamp


# ------------------------------------------------------------------------------------------ detail
@dataclass(frozen=True)
class AnswerLine:
    """One item of a response: the answer now, its label, and the submitted one when it differs."""

    code: str
    label: str
    section: str
    value: Any
    value_label: str
    original: Any
    original_label: str

    @property
    def changed(self) -> bool:
        return self.value != self.original


@dataclass(frozen=True)
class ResponseDetail:
    """Everything the detail page and ``sipas responses show`` print about one response."""

    response: Response
    campaign: Campaign
    unit_name: str
    counter: str | None
    entered_by: str | None
    reviewed_by: str | None
    answers: list[AnswerLine]
    revisions: list[ResponseRevision]
    history: list[AuditEvent]
    current: dict[str, Any] = field(default_factory=dict)  # the answers scoring reads

    @property
    def duration(self) -> timedelta | None:
        started, submitted = _aware(self.response.started_at), _aware(self.response.submitted_at)
        if started is None or submitted is None:
            return None
        return submitted - started


def answer_label(questionnaire: Questionnaire, question: Question, value: Any) -> str:
    """The answer as a person reads it: choice labels for codes, the value itself otherwise."""
    if value is None:
        return ""
    choice_list = questionnaire.choice_list(question)
    if choice_list is not None and question.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        labels = {c.code: c.label.vi for c in choice_list.choices}
        codes = value if isinstance(value, list) else [value]
        return "; ".join(f"{code} — {labels.get(str(code), '?')}" for code in codes)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def current_answers(response: Response) -> dict[str, Any]:
    """The answers scoring reads: the latest correction, else the submitted ones."""
    return dict(response.current_answers if response.current_answers is not None else response.answers or {})


def detail(session: Session, response: Response, user: User | None = None) -> ResponseDetail:
    """Return a response with its labelled answers, metadata, revisions and review history."""
    _check_see(user, response)
    campaign = session.get(Campaign, response.campaign_id)
    questionnaire = campaign_questionnaire(campaign)
    now, original = current_answers(response), dict(response.answers or {})
    lines = []
    for section in questionnaire.sections:
        for q in section.questions:
            if not (q.type.is_answerable or q.type.is_computed):
                continue
            if q.code not in now and q.code not in original:
                continue
            lines.append(
                AnswerLine(
                    code=q.code,
                    label=q.label.vi,
                    section=section.label.vi,
                    value=now.get(q.code),
                    value_label=answer_label(questionnaire, q, now.get(q.code)),
                    original=original.get(q.code),
                    original_label=answer_label(questionnaire, q, original.get(q.code)),
                )
            )
    unit_name = session.scalar(
        select(CampaignUnit.unit_name).where(
            CampaignUnit.campaign_id == campaign.id, CampaignUnit.unit_code == response.unit_code
        )
    )
    counter = (
        session.scalar(select(Kiosk.counter).where(Kiosk.id == response.kiosk_id))
        if response.kiosk_id
        else None
    )
    history = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action.in_(REVIEW_ACTIONS),
            AuditEvent.detail["response_id"].as_string() == response.instance_id,
        )
        .order_by(AuditEvent.id)
    ).all()
    revisions = session.scalars(
        select(ResponseRevision)
        .where(ResponseRevision.response_id == response.id)
        .order_by(ResponseRevision.number)
    ).all()
    return ResponseDetail(
        response=response,
        campaign=campaign,
        unit_name=unit_name or response.unit_code,
        counter=counter,
        entered_by=_username(session, response.entered_by),
        reviewed_by=_username(session, response.reviewed_by),
        answers=lines,
        revisions=list(revisions),
        history=list(history),
        current=now,
    )


def _username(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id is not None else None


# ----------------------------------------------------------------------------------------- actions
def _reason(reason: str | None, *, required: bool, what: str) -> str | None:
    text = (reason or "").strip()
    if not text:
        if required:
            raise ReasonRequired(f"cần ghi lý do khi {what} (a reason is required)")
        return None
    if len(text) > MAX_REASON or has_control_characters(text, {"\n", "\r", "\t"}):
        raise ReasonRequired(
            f"lý do dài quá {MAX_REASON} ký tự hoặc có ký tự điều khiển "
            f"(the reason is longer than {MAX_REASON} characters or has control characters)"
        )
    return text


def _changes(
    questionnaire: Questionnaire, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[dict[str, Any]]:
    changes = []
    for q in questionnaire.questions():
        if old.get(q.code) != new.get(q.code):
            changes.append({"item": q.code, "old": old.get(q.code), "new": new.get(q.code)})
    return changes


BLANK_MARK = "(để trống / không đọc được)"  # how a change log shows an item marked blank on paper


def _blank_changes(
    questionnaire: Questionnaire, changes: list[dict[str, Any]], before: set[str], after: set[str]
) -> list[dict[str, Any]]:
    """The changes with the blank marks shown, and a change for each item whose mark alone changed."""
    by_item = {c["item"]: c for c in changes}
    out = []
    for q in questionnaire.questions():
        change = by_item.get(q.code)
        if change is None and (q.code in before) == (q.code in after):
            continue
        change = dict(change or {"item": q.code, "old": None, "new": None})
        if q.code in before and change["old"] is None:
            change["old"] = BLANK_MARK
        if q.code in after and change["new"] is None:
            change["new"] = BLANK_MARK
        out.append(change)
    return out


def revise(
    session: Session,
    response: Response,
    answers: Mapping[str, Any],
    reason: str | None,
    *,
    user: User | None = None,
    via: Mapping[str, Any] | None = None,
    based_on: int | None = None,
    blank: Sequence[str] | None = None,
) -> ResponseRevision:
    """Store a correction of ``response`` as its next revision; commit. The submitted answers stay.

    ``blank`` (paper forms): the items now marked blank or illegible; None keeps the marks as they are
    (less any item that now has an answer). A changed mark is a change of its item.

    The new answers are checked against the campaign's frozen questionnaire like a submission;
    the stratum and respondent group follow the corrected answers when the questionnaire asks them.
    ``based_on`` is the revision number the editor started from (0: the submitted answers): when
    someone else has corrected the response since, nothing is stored and ReviewError says so.
    """
    _check_see(user, response)
    why = _reason(reason, required=True, what="sửa phiếu")
    campaign = session.get(Campaign, response.campaign_id)
    questionnaire = campaign_questionnaire(campaign)
    group_item = questionnaire.role_item(Role.GROUP)
    given = None if group_item is not None else response.respondent_group
    if blank is not None and response.source != "paper":
        raise ReviewError("chỉ phiếu giấy mới đánh dấu câu để trống được (only paper forms have blank marks)")
    marks_given = [c for c in (response.blank_items or []) if c not in answers] if blank is None else blank
    normalised, errors = validate_answers(
        questionnaire, answers, group=given, blank=marks_given, now=response_clock(response.submitted_at)
    )
    marks, mark_errors = check_blank_items(questionnaire, normalised, marks_given, group=given)
    errors = [*errors, *mark_errors]
    if errors:
        raise InvalidCorrection(errors)
    old = current_answers(response)
    changes = _changes(questionnaire, old, normalised)
    changes = _blank_changes(questionnaire, changes, set(response.blank_items or []), set(marks))
    if not changes:
        raise ReviewError("không có câu trả lời nào thay đổi; không lưu bản sửa (nothing changed)")
    latest = latest_revision(session, response)
    if based_on is not None and based_on != latest:
        raise ReviewError(
            f"phiếu đã được sửa (bản số {latest}) sau khi bạn mở trang; xin mở lại để xem bản mới nhất "
            f"(the response was corrected meanwhile, revision {latest})"
        )
    number = latest + 1
    revision = ResponseRevision(
        response_id=response.id,
        number=number,
        created_at=datetime.now(UTC),
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else None,
        reason=why,
        changes=changes,
        answers=normalised,
    )
    with write_lock(session):
        session.add(revision)
        response.current_answers = normalised
        response.blank_items = marks or None
        stratum_item = questionnaire.role_item(Role.STRATUM)
        if stratum_item is not None:
            response.stratum = normalised.get(stratum_item.code)
        response.respondent_group = respondent_group(questionnaire, normalised, given)
        audit(
            session,
            "response_revised",
            {
                **_subject(response),
                "revision": number,
                "items": [c["item"] for c in changes],
                "reason": why,
                **(via or {}),
            },
            user=user,
        )
        try:
            session.commit()
        except IntegrityError:  # another correction took this number a moment ago
            session.rollback()
            raise ReviewError(
                "phiếu vừa được người khác sửa cùng lúc; không lưu bản sửa này, xin mở lại trang "
                "(the response was corrected by someone else at the same moment)"
            ) from None
    return revision


def latest_revision(session: Session, response: Response) -> int:
    """The number of the response's latest revision; 0 when it was never corrected."""
    return (
        session.scalar(
            select(func.max(ResponseRevision.number)).where(ResponseRevision.response_id == response.id)
        )
        or 0
    )


def _subject(response: Response) -> dict[str, Any]:
    return {
        "campaign_id": response.campaign_id,
        "response_id": response.instance_id,
        "unit": response.unit_code,
    }


def _apply_state(
    session: Session,
    response: Response,
    state: str,
    why: str | None,
    user: User | None,
    via: Mapping[str, Any],
) -> None:
    before = response.review_state
    response.review_state = state
    response.reviewed_by = user.id if user is not None else None
    response.reviewed_at = datetime.now(UTC)
    response.review_reason = why
    if state == "rejected":
        action = "response_excluded"
    elif before == "rejected":
        action = "response_restored"
    else:
        action = "response_reviewed"
    audit(
        session,
        action,
        {**_subject(response), "from": before, "state": state, "reason": why, **via},
        user=user,
    )


def _checked_state(state: str, reason: str | None) -> str | None:
    if state not in REVIEW_STATES:
        raise ReviewError(
            f"trạng thái {state!r} không hợp lệ; chọn: {', '.join(REVIEW_STATES)} (unknown review state)"
        )
    return _reason(reason, required=state == "rejected", what="loại phiếu")


def set_state(
    session: Session,
    response: Response,
    state: str,
    reason: str | None = None,
    *,
    user: User | None = None,
    via: Mapping[str, Any] | None = None,
) -> Response:
    """Set the review state of ``response`` (a reason is required for ``rejected``); commit."""
    _check_review(user)
    _check_see(user, response)
    why = _checked_state(state, reason)
    with write_lock(session):
        _apply_state(session, response, state, why, user, via or {})
        session.commit()
    return response


def set_states(
    session: Session,
    responses: Sequence[Response],
    state: str,
    reason: str | None = None,
    *,
    user: User | None = None,
    via: Mapping[str, Any] | None = None,
) -> int:
    """Set the review state of several responses at once, all or none; return how many; commit."""
    _check_review(user)
    why = _checked_state(state, reason)
    if not responses:
        raise ReviewError("chưa chọn phiếu nào (no responses selected)")
    for response in responses:
        _check_see(user, response)
    with write_lock(session):
        for response in responses:
            _apply_state(session, response, state, why, user, {**(via or {}), "bulk": len(responses)})
        session.commit()
    return len(responses)


def exclude(
    session: Session,
    response: Response,
    reason: str | None,
    *,
    user: User | None = None,
    via: Mapping[str, Any] | None = None,
) -> Response:
    """Reject ``response`` with a reason: it is kept but left out of scoring; commit."""
    return set_state(session, response, "rejected", reason, user=user, via=via)


def restore(
    session: Session,
    response: Response,
    reason: str | None = None,
    *,
    user: User | None = None,
    via: Mapping[str, Any] | None = None,
) -> Response:
    """Bring a rejected response back into scoring (state ``received``); commit."""
    _check_review(user)
    _check_see(user, response)
    if response.review_state != "rejected":
        raise ReviewError(
            f"phiếu {response.instance_id} không bị loại (đang: {STATE_LABELS[response.review_state]}); "
            f"không có gì để khôi phục (the response is not rejected)"
        )
    return set_state(session, response, "received", reason, user=user, via=via)
