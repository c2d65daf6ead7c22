"""Server-side staff sessions: the cookie carries a random id, the database holds everything else.

Why our own table rather than Flask-Session: its SQLAlchemy backend needs Flask-SQLAlchemy (it builds its
model on ``db.Model`` and writes through ``db.session``), which this app does not use, and it keeps the
session id itself as the key and nothing per user, so "end every session of this user" would be a scan of
pickled blobs. Here a row holds the SHA-256 of the id (a database dump logs nobody in), the user, when it
was created and last seen, its absolute expiry (``SESSION_LIFETIME_SECONDS``) and its idle expiry
(``SESSION_IDLE_SECONDS``); ending a user's sessions is one ``DELETE … WHERE user_id``, seen at once by
every app host.

Only a logged-in session gets a row. Before login the session holds the login form's CSRF token and
flashed messages, kept as today in the signed cookie: an anonymous visitor never writes to the database.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.datastructures import CallbackDict

from .models import StaffSession

log = logging.getLogger(__name__)

__all__ = ["DatabaseSessionInterface", "ServerSession", "end_user_sessions", "hash_session_id", "init_app"]

SID_KEY = "_sid"
# A request refreshes "last seen" at most this often: idle expiry to the minute, not a write per request.
TOUCH_SECONDS = 60


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(stamp: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def hash_session_id(sid: str) -> str:
    """The key a session id is stored under: its SHA-256, hex."""
    return hashlib.sha256(sid.encode("ascii")).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    """The session of one request; ``sid`` is set when it has a database row."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None):
        def on_update(self: ServerSession) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.modified = False
        self.accessed = False
        self.rotate = False  # set by login: a new id, the old row (if any) deleted
        self.last_seen: datetime | None = None
        self.absolute_expiry: datetime | None = None
        self.load_error: SQLAlchemyError | None = None  # the store could not be read: refuse, keep cookie

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)


def end_user_sessions(db: Session | Connection, user_id: int) -> int:
    """Delete every session of ``user_id`` (on every host at once); the caller commits."""
    result = db.execute(delete(StaffSession).where(StaffSession.user_id == user_id))
    return int(result.rowcount or 0)


class DatabaseSessionInterface(SecureCookieSessionInterface):
    """Sessions with a user in the database (cookie: a signed random id); others in the signed cookie."""

    salt = "sipas-session"

    @staticmethod
    def _engine(app: Flask):
        return app.extensions["sipas.engine"]

    @staticmethod
    def _lifetimes(app: Flask) -> tuple[timedelta, timedelta]:
        absolute = timedelta(seconds=int(app.config.get("SESSION_LIFETIME_SECONDS", 12 * 3600)))
        idle = timedelta(seconds=int(app.config.get("SESSION_IDLE_SECONDS", 2 * 3600)))
        return absolute, idle

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured, or when this request came over HTTPS (as seen through trusted proxies)."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (request.is_secure if request else False)

    def signed_id(self, app: Flask, sid: str) -> str:
        """The cookie value that names session ``sid``."""
        serializer = self.get_signing_serializer(app)
        assert serializer is not None  # create_app refuses to start without a secret key
        return serializer.dumps({SID_KEY: sid})

    def open_session(self, app: Flask, request) -> ServerSession | None:  # type: ignore[override]
        """Read the cookie; a session id there is looked up in the database (expired: a fresh session)."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        if app.static_url_path and request.path.startswith(app.static_url_path + "/"):
            # Stylesheets, scripts and icons never use the session: no database look-up for them.
            return self.make_null_session(app)
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return ServerSession()
        absolute, _ = self._lifetimes(app)
        try:
            data = serializer.loads(value, max_age=int(absolute.total_seconds()))
        except BadSignature:
            return ServerSession()
        if not isinstance(data, dict):
            return ServerSession()
        sid = data.get(SID_KEY)
        if not isinstance(sid, str):
            return ServerSession(data)
        try:
            return self._load(app, sid)
        except SQLAlchemyError as exc:
            log.warning("session store unreachable: %s", exc)
            failed = ServerSession()
            failed.load_error = exc
            return failed

    def _load(self, app: Flask, sid: str) -> ServerSession:
        now = _now()
        table = StaffSession.__table__
        with self._engine(app).connect() as conn:
            row = conn.execute(
                select(table.c.data, table.c.last_seen_at, table.c.absolute_expires_at).where(
                    table.c.id_hash == hash_session_id(sid), table.c.expires_at > now
                )
            ).first()
        if row is None:
            gone = ServerSession()
            gone.modified = True  # the cookie names an ended session: delete it
            return gone
        try:
            data = self.serializer.loads(row.data)
        except ValueError:
            data = {}
        session = ServerSession(data if isinstance(data, dict) else {}, sid=sid)
        session.last_seen = _aware(row.last_seen_at)
        session.absolute_expiry = _aware(row.absolute_expires_at)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write the row (new id at login), refresh "last seen" now and then, or keep data in the cookie."""
        if not isinstance(session, ServerSession) or session.load_error is not None:
            return
        if session.accessed:
            response.vary.add("Cookie")
        if "user_id" in session:
            self._save_server_side(app, session, response)
            return
        if session.sid is not None:  # logged out: the row goes, on every host
            with self._engine(app).begin() as conn:
                conn.execute(delete(StaffSession).where(StaffSession.id_hash == hash_session_id(session.sid)))
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session:
            if session.modified or session.sid is not None:
                response.delete_cookie(
                    name,
                    domain=domain,
                    path=path,
                    secure=self.get_cookie_secure(app),
                    httponly=self.get_cookie_httponly(app),
                    samesite=self.get_cookie_samesite(app),
                )
            return
        if not (session.modified or session.sid is not None):
            return
        serializer = self.get_signing_serializer(app)
        assert serializer is not None
        self._set_cookie(app, response, serializer.dumps(dict(session)), expires=None)

    def _set_cookie(self, app: Flask, response: Response, value: str, expires: datetime | None) -> None:
        response.set_cookie(
            self.get_cookie_name(app),
            value,
            expires=expires,
            httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            partitioned=self.get_cookie_partitioned(app),
        )

    def _save_server_side(self, app: Flask, session: ServerSession, response: Response) -> None:
        now = _now()
        absolute, idle = self._lifetimes(app)
        user_id = session.get("user_id")
        values = {
            "user_id": user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
            "data": self.serializer.dumps(dict(session)),
            "last_seen_at": now,
        }
        table = StaffSession.__table__
        if session.sid is None or session.rotate:
            old = session.sid
            session.sid = secrets.token_urlsafe(32)
            session.absolute_expiry = now + absolute
            with self._engine(app).begin() as conn:
                if old is not None:
                    conn.execute(delete(table).where(table.c.id_hash == hash_session_id(old)))
                conn.execute(delete(table).where(table.c.expires_at <= now))  # purge: indexed, cheap
                conn.execute(
                    insert(table).values(
                        id_hash=hash_session_id(session.sid),
                        created_at=now,
                        absolute_expires_at=session.absolute_expiry,
                        expires_at=min(session.absolute_expiry, now + idle),
                        **values,
                    )
                )
            self._set_cookie(app, response, self.signed_id(app, session.sid), expires=session.absolute_expiry)
            return
        stale = session.last_seen is None or now - session.last_seen >= timedelta(seconds=TOUCH_SECONDS)
        if not (session.modified or stale):
            return
        expiry = min(session.absolute_expiry or now + absolute, now + idle)
        if not session.modified:
            del values["data"], values["user_id"]
        try:
            with self._engine(app).begin() as conn:
                # Never re-creates a row: a session ended meanwhile (logout elsewhere, revoked) stays ended.
                conn.execute(
                    update(table)
                    .where(table.c.id_hash == hash_session_id(session.sid), table.c.expires_at > now)
                    .values(expires_at=expiry, **values)
                )
        except SQLAlchemyError as exc:
            # A database that cannot take a write (disk full) still serves pages; the login itself fails.
            log.warning("session %s… not refreshed: %s", hash_session_id(session.sid)[:8], exc)


def init_app(app: Flask) -> None:
    """Use database-backed sessions for ``app``."""
    app.session_interface = DatabaseSessionInterface()
