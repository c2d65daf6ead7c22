"""How a campaign's tablets show the questionnaire: one question per screen, Likert scales as faces.

Both are presentation only: the questions asked, their order, the checks, the review step and the
answers sent are the same whichever way the form is shown (the kiosk's tests compare the stored rows).

* ``one_question``: each question that applies is a screen of its own (a note goes with the question
  after it), for respondents who read slowly; off, each section is a page.
* ``idle_seconds``: a form nobody touches for this long is wiped (the last ``KIOSK_IDLE_WARNING_SECONDS``
  show a countdown); unset, the server's ``KIOSK_IDLE_SECONDS`` (75) holds. Between
  :data:`IDLE_MIN` and :data:`IDLE_MAX` seconds: long enough to read a question aloud, short enough
  that the next person in the queue never sees a previous respondent's answers.
* ``likert_faces``: the scored Likert questions (the satisfaction items) are drawn as faces, from a
  frown to a broad smile, the label under each face; a question whose appearance says ``faces`` is
  drawn so in every campaign (:func:`questionnaires.is_face_question`).

The settings live in the campaign's settings JSON (``Campaign.integrity_settings``, which otherwise
holds the integrity checks' settings) under the one key :data:`KIOSK_DISPLAY_KEY`, only when changed
from the defaults (both off). A tablet reads them with the definition, so a change reaches it at its
next form's load of the page (or when it comes back online).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from .models import Campaign, User
from .users import audit

__all__ = [
    "AUDIT_ACTION",
    "IDLE_MAX",
    "IDLE_MIN",
    "KIOSK_DISPLAY_KEY",
    "KioskDisplay",
    "display_for",
    "set_display",
    "stored_checks",
]

KIOSK_DISPLAY_KEY = "kiosk_display"
IDLE_MIN, IDLE_MAX = 30, 600  # seconds: the range a campaign's idle timeout may take
AUDIT_ACTION = "kiosk_display_changed"


@dataclass(frozen=True)
class KioskDisplay:
    one_question: bool = False  # each question on a screen of its own
    likert_faces: bool = False  # scored Likert questions drawn as faces
    idle_seconds: int | None = None  # wipe an untouched form after this long; None: the server's setting

    @property
    def paging(self) -> str:
        """What the kiosk pages by: ``"question"`` or ``"section"``."""
        return "question" if self.one_question else "section"

    def to_client(self) -> dict[str, Any]:
        return {"paging": self.paging, "likert_faces": self.likert_faces}


DEFAULT = KioskDisplay()


def stored_checks(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The integrity checks' part of a campaign's stored settings (without the kiosk's display)."""
    return {k: v for k, v in (stored or {}).items() if k != KIOSK_DISPLAY_KEY}


def display_for(campaign: Campaign) -> KioskDisplay:
    """The campaign's kiosk display settings (anything unreadable counts as the default)."""
    stored = (campaign.integrity_settings or {}).get(KIOSK_DISPLAY_KEY)
    if not isinstance(stored, Mapping):
        return DEFAULT
    flags = {f.name: stored.get(f.name) is True for f in fields(KioskDisplay) if f.name != "idle_seconds"}
    return KioskDisplay(**flags, idle_seconds=valid_idle_seconds(stored.get("idle_seconds")))


def valid_idle_seconds(value: Any) -> int | None:
    """``value`` as an idle timeout in seconds when it is a whole number in range, else None (default)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if IDLE_MIN <= value <= IDLE_MAX else None


def set_display(
    session: Session,
    campaign: Campaign,
    *,
    one_question: bool,
    likert_faces: bool,
    user: User | None,
    audited: bool = True,
    idle_seconds: int | None | object = ...,
) -> dict[str, dict[str, Any]]:
    """Change the campaign's kiosk display; audit the change (unless the caller does); the caller commits.

    Returns ``{setting: {"old": …, "new": …}}`` for what changed (empty: nothing did); the audit event
    ``kiosk_display_changed`` holds the campaign and these changes. ``idle_seconds`` left out keeps the
    current timeout; None returns to the server's; a number outside ``IDLE_MIN``–``IDLE_MAX`` is a
    ``ValueError``.
    """
    old = display_for(campaign)
    if idle_seconds is ...:
        idle = old.idle_seconds
    else:
        idle = None if idle_seconds is None else valid_idle_seconds(idle_seconds)
        if idle_seconds is not None and idle is None:
            raise ValueError(
                f"thời gian chờ phải từ {IDLE_MIN} đến {IDLE_MAX} giây "
                f"(idle timeout must be {IDLE_MIN}-{IDLE_MAX} s)"
            )
    new = KioskDisplay(one_question=bool(one_question), likert_faces=bool(likert_faces), idle_seconds=idle)
    changes = {
        name: {"old": value, "new": getattr(new, name)}
        for name, value in asdict(old).items()
        if value != getattr(new, name)
    }
    if not changes:
        return {}
    others = stored_checks(campaign.integrity_settings)
    chosen = {name: value for name, value in asdict(new).items() if value}
    # A new dict: the JSON column sees the change.
    campaign.integrity_settings = {**others, **({KIOSK_DISPLAY_KEY: chosen} if chosen else {})} or None
    if audited:
        audit(session, AUDIT_ACTION, {"campaign_id": campaign.id, "changes": changes}, user=user)
    return changes
