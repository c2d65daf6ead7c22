"""Staff accounts: password hashing, login with lockout, the logged-in user, roles, and the audit log.

Roles:

* ``admin`` — everything, including user accounts;
* ``analyst`` — campaigns, kiosks, exports, reports (not user accounts);
* ``enumerator`` — paper data entry and progress only.

``role_required("analyst")`` lets analysts *and admins* in: an admin may do everything.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import abort, current_app, g, has_request_context, redirect, request, session, url_for
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .db import get_session, write_lock
from .errors import UserError, json_error, wants_json
from .models import ROLES, AuditEvent, User
from .security import give_back_login_attempt, take_login_attempt
from .sessions import end_user_sessions
from .validation import has_control_characters

__all__ = [
    "ROLES",
    "MIN_PASSWORD_LENGTH",
    "audit",
    "authenticate",
    "create_user",
    "current_user",
    "generate_password",
    "login_user",
    "logout_everywhere",
    "logout_user",
    "role_required",
    "set_active",
    "set_password",
    "set_role",
]

MIN_PASSWORD_LENGTH = 10
PASSWORD_METHOD = "scrypt"
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# A real hash, so that a login with an unknown name costs as much time as one with a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16), method=PASSWORD_METHOD)

F = TypeVar("F", bound=Callable[..., Any])


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(stamp: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if stamp is not None and stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp


def generate_password() -> str:
    """A random password that is easy to read out: 4 groups of 4 letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự "
            f"(the password needs at least {MIN_PASSWORD_LENGTH} characters)"
        )
    if len(password) > 256:
        raise UserError("mật khẩu dài quá 256 ký tự (the password is longer than 256 characters)")


def create_user(
    session: Session, username: str, password: str, role: str, full_name: str | None = None
) -> User:
    """Create an active account with a scrypt password hash; flush, the caller commits."""
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError(
            f"tên đăng nhập {username!r} không hợp lệ: 2–64 ký tự a-z, 0-9, '.', '_', '-' "
            "(username: 2-64 lower-case letters, digits, . _ -)"
        )
    if role not in ROLES:
        raise UserError(f"vai trò {role!r} không hợp lệ; chọn một trong: {', '.join(ROLES)} (unknown role)")
    _check_password(password)
    full_name = (full_name or "").strip()
    if len(full_name) > 200 or has_control_characters(full_name):
        raise UserError(
            "họ và tên dài quá 200 ký tự hoặc có ký tự điều khiển "
            "(the full name is longer than 200 characters or has control characters)"
        )
    if session.scalar(select(User.id).where(func.lower(User.username) == username)) is not None:
        raise UserError(f"tên đăng nhập {username!r} đã có (username already exists)")
    user = User(
        username=username,
        password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
        role=role,
        full_name=full_name or None,
        active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace the user's password, lift any lockout and end all their sessions; flush, the caller commits."""
    _check_password(password)
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    end_user_sessions(session, user.id)


def set_active(session: Session, user: User, active: bool) -> None:
    """Activate or deactivate an account; deactivating ends its sessions; flush, the caller commits."""
    user.active = active
    if active:
        user.failed_logins = 0
        user.locked_until = None
    session.flush()
    if not active:
        end_user_sessions(session, user.id)


def set_role(session: Session, user: User, role: str) -> None:
    """Give the account another role and end its sessions; flush, the caller commits."""
    if role not in ROLES:
        raise UserError(f"vai trò {role!r} không hợp lệ; chọn một trong: {', '.join(ROLES)} (unknown role)")
    if role != user.role:
        user.role = role
        session.flush()
        end_user_sessions(session, user.id)


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Whether the account is locked out after too many failed logins."""
    until = _aware(user.locked_until)
    return until is not None and until > (now or _now())


def _normalised_name(username: str | None) -> str:
    name = (username or "").strip().lower()[:64]
    if has_control_characters(name):
        # Never a valid name (USERNAME_RE), and PostgreSQL refuses NUL in text: no lookup, a safe audit.
        name = "".join("\ufffd" if has_control_characters(ch) else ch for ch in name)
    return name


def _count_attempt(session: Session, user: User, now: datetime) -> int | None:
    """Count a password attempt on ``user`` in one atomic UPDATE; its number, or None while locked.

    The count is taken before the password is checked, so parallel requests on any host see each
    other's attempts: no more than ``LOGIN_MAX_FAILURES`` of them are ever checked.
    """
    unlocked = or_(User.locked_until.is_(None), User.locked_until <= now)
    with write_lock(session):
        count = session.execute(
            update(User)
            .where(User.id == user.id, unlocked)
            .values(failed_logins=func.coalesce(User.failed_logins, 0) + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar()
        session.commit()
    return count


def _refuse(
    session: Session,
    action: str,
    detail: dict[str, Any],
    user: User | None = None,
    *,
    lock_until: datetime | None = None,
) -> None:
    """Audit a refused login and commit; with ``lock_until``, lock the account (unless locked already)."""
    with write_lock(session):
        if user is not None and lock_until is not None:
            now = _now()
            session.execute(
                update(User)
                .where(User.id == user.id, or_(User.locked_until.is_(None), User.locked_until <= now))
                .values(locked_until=lock_until, failed_logins=0)
                .execution_options(synchronize_session=False)
            )
        audit(session, action, detail, user=user, security=True)
        session.commit()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the user when the name and password match an active, unlocked account; else None.

    Counts failures atomically in the database: after ``LOGIN_MAX_FAILURES`` in a row the account is
    locked for ``LOGIN_LOCKOUT_SECONDS`` on every host (even the right password is refused meanwhile).
    Writes an audit event for every attempt and commits, so that the count survives whatever the caller
    does next. Attempts also count against the client address and the account name
    (:class:`survey.security.LoginLimits`); over a limit the attempt is refused without a password check.
    """
    max_failures = int(current_app.config.get("LOGIN_MAX_FAILURES", 5))
    lockout = timedelta(seconds=int(current_app.config.get("LOGIN_LOCKOUT_SECONDS", 900)))
    name = _normalised_name(username)
    if has_request_context() and take_login_attempt(name):
        _refuse(session, "login_rate_limited", {"username": name})
        return None
    user = None
    if USERNAME_RE.match(name):
        user = session.scalars(select(User).where(func.lower(User.username) == name)).one_or_none()
    now = _now()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password or "")
        _refuse(session, "login_failed", {"username": name, "reason": "unknown_or_inactive"})
        return None
    count = _count_attempt(session, user, now) if max_failures > 0 else 0
    if count is None or (max_failures > 0 and count > max_failures):
        # Locked, or other attempts in flight have used up the allowance: no password check at all.
        check_password_hash(_DUMMY_HASH, password or "")
        until = now + lockout if count is not None else None
        _refuse(session, "login_refused_locked", {"username": user.username}, user, lock_until=until)
        return None
    if not check_password_hash(user.password_hash, password or ""):
        detail: dict[str, Any] = {"username": user.username, "failures": count}
        if 0 < max_failures <= count:
            detail["locked_until"] = (now + lockout).isoformat()
            _refuse(session, "login_locked", detail, user, lock_until=now + lockout)
        else:
            _refuse(session, "login_failed", detail, user)
        return None
    with write_lock(session):
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=0, locked_until=None, last_login_at=now)
            .execution_options(synchronize_session=False)
        )
        audit(session, "login", {"username": user.username}, user=user, security=True)
        session.commit()
    session.refresh(user)
    if has_request_context():
        give_back_login_attempt()
    return user


def current_user() -> User | None:
    """The logged-in, active user of this request (from ``session["user_id"]``), cached on ``g``.

    A session whose recorded role is no longer the account's is not logged in (the role changed).
    """
    if "current_user" in g:
        return g.current_user
    error = getattr(session, "load_error", None)
    if error is not None:
        raise error  # the session store is unreachable: the database error page (503), not a login page
    user = None
    user_id = session.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        found = get_session().get(User, user_id)
        role = session.get("role")
        if found is not None and found.active and (role is None or role == found.role):
            user = found
    g.current_user = user
    return user


def login_user(user: User) -> None:
    """Start a fresh session for ``user``: a new id, nothing (no CSRF token) carried over from before."""
    session.clear()
    session["user_id"] = user.id
    session["role"] = user.role
    session.permanent = True
    session.rotate = True  # type: ignore[attr-defined]  # survey.sessions.ServerSession: a new id
    g.current_user = user


def logout_user() -> None:
    """End this session (its row is deleted: refused on every host)."""
    session.clear()
    g.current_user = None


def logout_everywhere(db: Session, user: User) -> int:
    """End every session of ``user``, this one included; commit; the number ended."""
    with write_lock(db):
        ended = end_user_sessions(db, user.id)
        db.commit()
    return ended


def role_required(*roles: str) -> Callable[[F], F]:
    """Protect a view: not logged in -> login page (401 JSON for the API); wrong role -> 403.

    ``admin`` always passes. With no roles given, any logged-in user passes.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if wants_json():
                    return json_error(401, "Cần đăng nhập.", "Login required.")
                return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
            if roles and user.role != "admin" and user.role not in roles:
                if wants_json():
                    return json_error(403, "Không có quyền truy cập.", "Your role does not allow this.")
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def audit(
    session: Session,
    action: str,
    detail: Mapping[str, Any] | None = None,
    user: User | None = None,
    *,
    security: bool = False,
) -> AuditEvent:
    """Record an audit event (who, what, when); flush, the caller commits.

    ``user`` defaults to the logged-in user. The client address is kept only for security events
    (``security=True``: logins and failed logins), not for everyday actions.
    """
    if user is None and has_request_context():
        user = current_user()
    event = AuditEvent(
        at=_now(),
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else None,
        action=action[:64],
        detail=dict(detail) if detail is not None else None,
        remote_addr=request.remote_addr if security and has_request_context() else None,
    )
    session.add(event)
    session.flush()
    return event
