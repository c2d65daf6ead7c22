"""Enumerator assignments: which campaigns and units an enumerator may see and key paper forms for.

Admins and analysts see every campaign and unit and need no assignment; ``user=None`` is the command
line, which has the database and so everything. An enumerator sees only the campaigns where they are
assigned at least one unit, keys forms only for those units, and sees (of their own paper forms) only
those of those units. An enumerator without any assignment sees nothing to enter and is told to ask
an admin (:data:`NOT_ASSIGNED`). Admins assign (:func:`assign`); every change is audited by the caller.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .errors import SurveyError
from .models import Assignment, Campaign, CampaignUnit, User

__all__ = [
    "NOT_ASSIGNED",
    "NOT_ASSIGNED_CAMPAIGN",
    "NOT_ASSIGNED_UNIT",
    "AssignmentError",
    "AssignmentChange",
    "assign",
    "assigned_units",
    "assignments_of",
    "is_scoped",
    "may_enter",
    "visible_campaign_ids",
]

NOT_ASSIGNED = (
    "Tài khoản của bạn chưa được phân công đợt khảo sát nào nên chưa có phiếu để nhập. "
    "Xin liên hệ quản trị viên để được phân công đợt khảo sát và xã, thị trấn cần nhập phiếu."
)
NOT_ASSIGNED_CAMPAIGN = (
    "Bạn chưa được phân công nhập phiếu cho đợt khảo sát này. Xin liên hệ quản trị viên để được phân công."
)
NOT_ASSIGNED_UNIT = (
    "Bạn chưa được phân công nhập phiếu cho xã, thị trấn này nên phiếu không được lưu. "
    "Xin chọn một đơn vị được phân công, hoặc liên hệ quản trị viên."
)


class AssignmentError(SurveyError):
    """An assignment that cannot be made as asked; nothing was changed."""


@dataclass(frozen=True)
class AssignmentChange:
    """What one :func:`assign` call changed, for the audit log and the confirmation message."""

    username: str
    campaign_id: int
    before: tuple[str, ...]
    after: tuple[str, ...]

    def to_audit(self) -> dict[str, object]:
        """Return the audit event's detail."""
        return {
            "username": self.username,
            "campaign_id": self.campaign_id,
            "units": list(self.after),
            "before": list(self.before),
        }


def is_scoped(user: User | None) -> bool:
    """Whether ``user`` sees only what they are assigned (enumerators; never the command line).

    A viewer sees every campaign, but only its results (the routes of its role)."""
    return user is not None and user.role not in ("admin", "analyst", "viewer")


def visible_campaign_ids(session: Session, user: User | None) -> set[int] | None:
    """The ids of the campaigns ``user`` may see; None: every campaign."""
    if not is_scoped(user):
        return None
    assert user is not None
    return set(session.scalars(select(Assignment.campaign_id).where(Assignment.user_id == user.id)))


def assigned_units(session: Session, user: User | None, campaign: Campaign) -> list[CampaignUnit]:
    """The units of ``campaign`` that ``user`` may key and see, in the campaign's order."""
    if not is_scoped(user):
        return list(campaign.units)
    codes = _codes(session, user, campaign.id)
    return [u for u in campaign.units if u.unit_code in codes]


def may_enter(session: Session, user: User | None, campaign_id: int, unit_code: str | None) -> bool:
    """Whether ``user`` may key and see forms of ``unit_code`` in the campaign ``campaign_id``."""
    if not is_scoped(user):
        return True
    return unit_code is not None and unit_code in _codes(session, user, campaign_id)


def _codes(session: Session, user: User | None, campaign_id: int) -> set[str]:
    assert user is not None
    return set(
        session.scalars(
            select(Assignment.unit_code).where(
                Assignment.user_id == user.id, Assignment.campaign_id == campaign_id
            )
        )
    )


def assignments_of(session: Session, user: User) -> dict[int, list[str]]:
    """The user's assignments: campaign id -> unit codes (sorted)."""
    out: dict[int, list[str]] = {}
    rows = session.execute(
        select(Assignment.campaign_id, Assignment.unit_code)
        .where(Assignment.user_id == user.id)
        .order_by(Assignment.campaign_id, Assignment.unit_code)
    )
    for campaign_id, unit_code in rows:
        out.setdefault(campaign_id, []).append(unit_code)
    return out


def assign(
    session: Session,
    user: User,
    campaign: Campaign,
    unit_codes: Iterable[str] | None,
    *,
    by: User | None = None,
) -> AssignmentChange:
    """Make ``unit_codes`` the units of ``campaign`` that ``user`` is assigned; flush, the caller commits.

    ``None`` assigns every unit of the campaign; an empty list removes the campaign from the user.
    Only enumerators are assigned (admins and analysts see everything); unknown unit codes are refused
    with a "did you mean", and nothing is changed.
    """
    if user.role != "enumerator":
        raise AssignmentError(
            f"chỉ điều tra viên mới cần phân công; tài khoản {user.username!r} có vai trò {user.role!r} "
            "và đã xem được mọi đợt khảo sát (only enumerators are assigned)"
        )
    known = [u.unit_code for u in campaign.units]
    wanted = known if unit_codes is None else _checked(list(unit_codes), known, campaign)
    before = tuple(sorted(_codes(session, user, campaign.id)))
    session.execute(
        delete(Assignment).where(Assignment.user_id == user.id, Assignment.campaign_id == campaign.id)
    )
    for code in wanted:
        session.add(
            Assignment(
                user_id=user.id,
                campaign_id=campaign.id,
                unit_code=code,
                created_by=by.id if by is not None else None,
            )
        )
    session.flush()
    return AssignmentChange(user.username, campaign.id, before, tuple(sorted(wanted)))


def _checked(codes: Sequence[str], known: Sequence[str], campaign: Campaign) -> list[str]:
    """The codes without repeats, in the campaign's order; AssignmentError naming an unknown one."""
    for code in codes:
        if code not in known:
            near = difflib.get_close_matches(code, known, n=1)
            hint = f"; có phải {near[0]!r}? (did you mean {near[0]!r}?)" if near else ""
            raise AssignmentError(
                f"đợt khảo sát {campaign.id} không có đơn vị {code!r}{hint} "
                f"(campaign {campaign.id} has no unit {code!r})"
            )
    chosen = set(codes)
    return [code for code in known if code in chosen]
