"""Double entry of paper forms: each serial keyed by two users; it counts once the keyings agree.

In a campaign with ``double_entry`` on, a paper form is not stored as a response when it is keyed:
each keying is a :class:`~survey.models.PaperKeying`, checked like a response (the same rules, and the
serial is required). The first keying of a serial waits (``pending``) and counts nowhere. A second
keying by *another* user that agrees on every item (and on the marks, the date and the stratum) stores
the response, once; one that differs leaves both ``different`` until a reviewer chooses, item by
item, which keying was right (:func:`resolve`), with a reason. The same user may not key a serial
twice, and a third keying is refused. Every step is audited and is one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .campaigns import campaign_questionnaire
from .db import write_lock
from .errors import ItemError, ValidationFailed
from .models import Campaign, PaperKeying, Response, User
from .storage import build_response, normalise_serial, store_response
from .users import audit
from .web import VIETNAM_TZ

__all__ = [
    "BLANK_LABEL",
    "DoubleEntryError",
    "Keyed",
    "Pair",
    "differences",
    "find_pair",
    "key_paper_form",
    "keyed_values",
    "pairs_to_resolve",
    "pending_keyings",
    "resolve",
    "set_double_entry",
    "waiting",
]

_BLANK = "__blank__"  # how a choice between keyings names "marked blank" for an item
BLANK_LABEL = "Để trống / không đọc được"


class DoubleEntryError(Exception):
    """A resolution that cannot be made; the message (Vietnamese first) says why."""


@dataclass(frozen=True)
class Keyed:
    """What keying a paper form did: the stored response (when the serial now counts) and what to say."""

    keying: PaperKeying | None
    response: Response | None
    created: bool
    message: str
    category: str  # flash category: success | warning


@dataclass(frozen=True)
class Pair:
    """Two keyings of one serial that differ, and the items where they do."""

    first: PaperKeying
    second: PaperKeying
    items: list[str]  # item codes (questionnaire order), plus "submitted_at" / "stratum" when they differ


def _refuse(message: str, en: str, code: str = "double_entry") -> ValidationFailed:
    return ValidationFailed([ItemError("paper_serial", code, message, en)])


def keyed_values(keying: PaperKeying | Response) -> dict[str, Any]:
    """Each item's value as keyed (the answer, or the blank mark), with the date and the stratum."""
    out = _values(keying)
    out["submitted_at"] = _day(keying.submitted_at)
    out["stratum"] = keying.stratum
    return out


def _day(stamp: datetime | None) -> str | None:
    """The date on the paper (Vietnamese day) of a stored paper date."""
    stamp = _utc(stamp)
    return None if stamp is None else stamp.astimezone(VIETNAM_TZ).date().isoformat()


def _values(keying: PaperKeying | Response) -> dict[str, Any]:
    """An item's value as keyed: the answer, or the blank mark."""
    out: dict[str, Any] = dict(keying.answers or {})
    for code in keying.blank_items or []:
        out[code] = _BLANK
    return out


def differences(
    questionnaire: Any, first: PaperKeying | Response, second: PaperKeying | Response
) -> list[str]:
    """The items (and date, stratum) on which two keyings differ, in questionnaire order."""
    a, b = _values(first), _values(second)
    # Calculates follow the answers (a clock-based one would differ between two keyings for nothing).
    order = [q.code for q in questionnaire.questions() if not q.type.is_computed]
    items = [code for code in order if a.get(code) != b.get(code)]
    if _utc(first.submitted_at) != _utc(second.submitted_at):
        items.append("submitted_at")
    if first.stratum != second.stratum:
        items.append("stratum")
    return items


def _utc(stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp


def _keying(response: Response, user: User) -> PaperKeying:
    return PaperKeying(
        campaign_id=response.campaign_id,
        unit_code=response.unit_code,
        paper_serial=response.paper_serial,
        instance_id=response.instance_id,
        user_id=user.id,
        username=user.username,
        created_at=datetime.now(UTC),
        submitted_at=response.submitted_at,
        stratum=response.stratum,
        respondent_group=response.respondent_group,
        answers=dict(response.answers),
        blank_items=list(response.blank_items or []) or None,
        state="pending",
    )


def key_paper_form(session: Session, **fields: Any) -> Keyed:
    """Record one keying of a paper form of a double-entry campaign (``fields`` as for save_response).

    Raises :class:`ValidationFailed` (nothing stored) for the form's own errors, a missing serial, a
    serial already counted, keyed by the same user before, or keyed twice already. Commits.
    """
    user = fields.get("entered_by")
    if not isinstance(user, User):
        raise ValueError("double entry needs the user who keys the form")  # a programming error
    try:
        serial = normalise_serial(fields.get("paper_serial"))
    except ValueError:
        serial = "?"  # build_response reports the malformed serial
    if serial is None:
        raise _refuse(
            "Đợt khảo sát này nhập mỗi phiếu hai lần: cần ghi số phiếu để đối chiếu hai lần nhập.",
            "double entry: the paper serial is required",
            "required",
        )
    response = build_response(session, **fields)
    campaign: Campaign = fields["campaign"]
    questionnaire = campaign_questionnaire(campaign)
    keying = _keying(response, user)
    stored = session.scalars(
        select(PaperKeying).where(PaperKeying.instance_id == response.instance_id)
    ).first()
    if stored is not None:  # a resent POST: the keying is stored already
        same = (stored.unit_code, stored.paper_serial) == (keying.unit_code, keying.paper_serial)
        if not same or differences(questionnaire, stored, keying):
            raise ValidationFailed(
                [
                    ItemError(
                        None,
                        "conflict",
                        "Lần nhập này đã được lưu trước đó với nội dung khác, nên lần gửi này không được "
                        "lưu. Mở một phiếu trống mới để nhập tiếp.",
                        f"keying {response.instance_id} was stored with other content",
                    )
                ]
            )
        return Keyed(
            stored, None, False, "Lần nhập này đã được lưu trước đó; không lưu thêm lần nữa", "warning"
        )
    earlier = list(
        session.scalars(
            select(PaperKeying)
            .where(
                PaperKeying.campaign_id == campaign.id,
                PaperKeying.unit_code == response.unit_code,
                PaperKeying.paper_serial == response.paper_serial,
            )
            .order_by(PaperKeying.id)
        )
    )
    serial = response.paper_serial
    if any(k.user_id == user.id for k in earlier):
        raise _refuse(
            f"Bạn đã nhập phiếu số {serial} của đơn vị này rồi; lần nhập thứ hai phải do một người khác "
            "thực hiện.",
            f"paper serial {serial} was keyed by the same user already",
            "same_user",
        )
    if len(earlier) >= 2:
        raise _refuse(
            f"Phiếu số {serial} đã được nhập hai lần và đang chờ người duyệt đối chiếu; không nhập thêm.",
            f"paper serial {serial} was keyed twice already",
        )
    subject = {"campaign_id": campaign.id, "unit": response.unit_code, "paper_serial": serial}
    if not earlier:
        with write_lock(session):
            session.add(keying)
            audit(session, "paper_keyed", {**subject, "keying": 1}, user=user)
            _commit(session, serial)
        return Keyed(
            keying,
            None,
            True,
            f"Đã lưu lần nhập thứ nhất của phiếu số {serial}; phiếu chỉ được tính khi một người khác "
            "nhập lại và khớp",
            "success",
        )
    first = earlier[0]
    differ = differences(questionnaire, first, keying)
    if differ:
        keying.state = first.state = "different"
        with write_lock(session):
            session.add(keying)
            audit(session, "paper_keyed", {**subject, "keying": 2, "differences": differ}, user=user)
            _commit(session, serial)
        return Keyed(
            keying,
            None,
            True,
            f"Lần nhập thứ hai của phiếu số {serial} khác lần thứ nhất ở {len(differ)} câu; phiếu chưa được "
            "tính cho đến khi người duyệt đối chiếu",
            "warning",
        )
    keying.state = first.state = "matched"
    session.add(keying)

    def link(response_id: int) -> None:
        keying.response_id = first.response_id = response_id
        audit(session, "paper_keyed", {**subject, "keying": 2, "matched": response.instance_id}, user=user)

    stored_response, created = store_response(session, response, on_insert=link)
    return Keyed(
        keying,
        stored_response,
        created,
        f"Lần nhập thứ hai của phiếu số {serial} khớp với lần thứ nhất: phiếu đã được tính",
        "success",
    )


def _commit(session: Session, serial: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # the same user keyed the serial in another tab a moment ago
        session.rollback()
        raise _refuse(
            f"Phiếu số {serial} vừa được nhập cùng lúc ở nơi khác; xin tải lại trang để xem.",
            f"paper serial {serial} was keyed at the same moment elsewhere",
        ) from None


def pairs_to_resolve(session: Session, campaign: Campaign) -> list[Pair]:
    """The serials of ``campaign`` keyed twice with differences, oldest first."""
    questionnaire = campaign_questionnaire(campaign)
    rows = session.scalars(
        select(PaperKeying)
        .where(PaperKeying.campaign_id == campaign.id, PaperKeying.state == "different")
        .order_by(PaperKeying.unit_code, PaperKeying.paper_serial, PaperKeying.id)
    )
    by_serial: dict[tuple[str, str], list[PaperKeying]] = {}
    for row in rows:
        by_serial.setdefault((row.unit_code, row.paper_serial), []).append(row)
    return [
        Pair(first, second, differences(questionnaire, first, second))
        for first, second in (pair[:2] for pair in by_serial.values() if len(pair) >= 2)
    ]


def pending_keyings(session: Session, campaign: Campaign) -> list[PaperKeying]:
    """The first keyings of ``campaign`` still waiting for a second one, oldest first."""
    return list(
        session.scalars(
            select(PaperKeying)
            .where(PaperKeying.campaign_id == campaign.id, PaperKeying.state == "pending")
            .order_by(PaperKeying.created_at, PaperKeying.id)
        )
    )


def find_pair(session: Session, campaign: Campaign, keying_id: int) -> Pair | None:
    """The pair to resolve that holds the keying ``keying_id`` (None when there is none)."""
    return next(
        (p for p in pairs_to_resolve(session, campaign) if keying_id in (p.first.id, p.second.id)), None
    )


def resolve(
    session: Session,
    campaign: Campaign,
    pair: Pair,
    choices: Mapping[str, str],
    reason: str | None,
    *,
    user: User,
) -> Response:
    """Store the response of a differing pair: per differing item, ``choices[item]`` is "1" or "2".

    The chosen values are checked like any paper form; the reason is required; audited. Commits.
    """
    why = (reason or "").strip()
    if not why:
        raise DoubleEntryError("cần ghi lý do đối chiếu (a reason is required)")
    if len(why) > 2000:
        raise DoubleEntryError("lý do dài quá 2000 ký tự (the reason is too long)")
    missing = [item for item in pair.items if choices.get(item) not in ("1", "2")]
    if missing:
        raise DoubleEntryError(
            "chưa chọn lần nhập đúng cho: " + ", ".join(missing) + f" (no choice for {', '.join(missing)})"
        )
    base = pair.first
    values = _values(pair.first)
    second = _values(pair.second)
    submitted_at, stratum = pair.first.submitted_at, pair.first.stratum
    for item in pair.items:
        if choices[item] != "2":
            continue
        if item == "submitted_at":
            submitted_at = pair.second.submitted_at
        elif item == "stratum":
            stratum = pair.second.stratum
        elif item in second:
            values[item] = second[item]
        else:
            values.pop(item, None)
    answers = {k: v for k, v in values.items() if v != _BLANK}
    blank = [k for k, v in values.items() if v == _BLANK]
    # The response takes the instance id of the keying most of whose differing items were chosen.
    chosen = pair.second if sum(choices[i] == "2" for i in pair.items) * 2 > len(pair.items) else pair.first
    entered_by = session.get(User, chosen.user_id)
    response = build_response(
        session,
        campaign=campaign,
        unit_code=base.unit_code,
        instance_id=chosen.instance_id,
        answers=answers,
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at=None,
        submitted_at=_utc(submitted_at),
        stratum=stratum,
        source="paper",
        entered_by=entered_by,
        paper_serial=base.paper_serial,
        blank_items=blank,
    )

    def link(response_id: int) -> None:
        for keying in (pair.first, pair.second):
            keying.state = "resolved"
            keying.response_id = response_id
        audit(
            session,
            "double_entry_resolved",
            {
                "campaign_id": campaign.id,
                "unit": base.unit_code,
                "paper_serial": base.paper_serial,
                "response_id": response.instance_id,
                "choices": {item: choices[item] for item in pair.items},
                "keyed_by": [pair.first.username, pair.second.username],
                "reason": why,
            },
            user=user,
        )

    stored, created = store_response(session, response, on_insert=link)
    if not created:
        raise DoubleEntryError("phiếu này đã được đối chiếu rồi (already resolved)")
    return stored


def waiting(session: Session, campaign: Campaign) -> dict[str, int]:
    """How many keyings of ``campaign`` wait: ``pending`` (for a second keying), ``different`` (pairs)."""
    counts = {"pending": 0, "different": 0}
    for state in session.scalars(
        select(PaperKeying.state).where(
            PaperKeying.campaign_id == campaign.id, PaperKeying.state.in_(("pending", "different"))
        )
    ):
        counts[state] += 1
    counts["different"] //= 2
    return counts


def set_double_entry(session: Session, campaign: Campaign, on: bool, *, user: User | None) -> bool:
    """Turn double entry on or off for ``campaign``; audit; the caller commits. Return whether it changed.

    Turning it off while keyings wait would leave them counted nowhere: refused until they are resolved.
    """
    on = bool(on)
    if campaign.double_entry == on:
        return False
    if not on:
        left = waiting(session, campaign)
        if left["pending"] or left["different"]:
            raise DoubleEntryError(
                f"còn {left['pending']} phiếu mới nhập một lần và {left['different']} cặp khác nhau chờ "
                "đối chiếu; xử lý xong rồi mới tắt nhập hai lần (keyings are still waiting)"
            )
    campaign.double_entry = on
    audit(
        session,
        "campaign_double_entry_changed",
        {"campaign_id": campaign.id, "double_entry": on},
        user=user,
    )
    return True
