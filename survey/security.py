"""Security settings that are not a page: the secret key rule, proxies, cookies, login rate limiting.

* **Secret key.** In production (``ENV=production``, the default, as under ``gunicorn wsgi:app``) the
  app refuses to start without ``SECRET_KEY`` (``SIPAS_SECRET_KEY``): a key invented on the spot or
  shipped with the code would let anyone who has it forge staff sessions. Development (``sipas serve``,
  ``sipas demo``) keeps a random per-instance key in the instance folder.
* **Proxies.** Behind nginx or another reverse proxy, ``TRUSTED_PROXIES = n`` trusts the last *n*
  ``X-Forwarded-For``/``-Proto``/``-Host`` hops, so that the client address (rate limiting, the audit
  log) and the scheme (Secure cookies) are the real ones. Never set it without a proxy in front: the
  headers would then come from the client.
* **Cookies.** The session cookie is HttpOnly and SameSite=Lax (config defaults), and Secure when
  ``SESSION_COOKIE_SECURE`` is set, ``PUBLIC_URL`` is an https address, or the request itself came over
  HTTPS as seen through the trusted proxies (:mod:`survey.sessions`). Responses over HTTPS also get
  ``Strict-Transport-Security``.
* **Redirects.** After login only a path on this site is followed (:func:`safe_redirect_target`).
* **Login rate limiting.** Login attempts are counted per client address (``LOGIN_RATE_LIMIT``) and per
  account name (``LOGIN_ACCOUNT_RATE_LIMIT``) in fixed windows of ``LOGIN_RATE_WINDOW`` seconds, before
  the password is checked; past a limit the login form answers 429 until the window ends. The counters
  live where every host sees them: the app database by default (one atomic upsert per attempt), or Redis
  when ``RATELIMIT_STORAGE`` (``SIPAS_RATELIMIT_STORAGE``) is ``redis://…``, through the ``limits``
  library (the optional extra ``sipas-toolkit[redis]``). Flask-Limiter has no SQL store and counts a
  failed request only after it ran (``deduct_when``), which parallel guesses get past.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import Engine, case, delete, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import ErrorText, SurveyError, error_response
from .models import RateLimitCounter
from .sessions import DatabaseSessionInterface

log = logging.getLogger(__name__)

__all__ = [
    "ConfigurationError",
    "CounterStore",
    "DatabaseCounterStore",
    "LoginLimits",
    "check_secret_key",
    "client_address",
    "counter_store",
    "give_back_login_attempt",
    "init_app",
    "login_limits",
    "safe_redirect_target",
    "take_login_attempt",
]

MIN_SECRET_KEY_LENGTH = 16
# Endpoints whose POST is a password check; the rate limit answers 429 before the view runs.
LOGIN_ENDPOINTS = ("admin.login",)
HSTS = "max-age=31536000"


class ConfigurationError(SurveyError, RuntimeError):
    """The app cannot start with this configuration; the message says what to set and how."""


def check_secret_key(config: dict, instance_path: str) -> None:
    """Refuse a production configuration without a proper ``SECRET_KEY``; say how to set one."""
    if config.get("ENV", "production") != "production":
        return
    key = config.get("SECRET_KEY")
    how = (
        "Tạo khóa: python -c 'import secrets; print(secrets.token_urlsafe(48))', rồi đặt biến môi trường "
        "SIPAS_SECRET_KEY=<khóa> cho gunicorn (hoặc SECRET_KEY = '<khóa>' trong "
        f"{Path(instance_path) / 'config.py'}). Mọi tiến trình máy chủ phải dùng cùng một khóa. "
        "/ Generate a key with: python -c 'import secrets; print(secrets.token_urlsafe(48))' and set "
        "SIPAS_SECRET_KEY=<key> in gunicorn's environment (or SECRET_KEY in the instance config.py); every "
        "server process must use the same key. (`sipas serve` and `sipas demo` are for development and "
        "make their own.)"
    )
    generated = Path(instance_path) / "secret_key"
    if generated.is_file():
        how += (
            f" Khóa do chế độ phát triển tạo trước đây nằm ở {generated} "
            f"(a key made earlier in development is in {generated}: SIPAS_SECRET_KEY=$(cat {generated}))."
        )
    if not key:
        raise ConfigurationError(
            "Chưa đặt khóa bí mật (SECRET_KEY): ứng dụng không khởi động ở chế độ production khi thiếu khóa "
            "/ no SECRET_KEY: the app does not start in production without one. " + how
        )
    if not isinstance(key, str | bytes) or (len(key) < MIN_SECRET_KEY_LENGTH and not config.get("TESTING")):
        raise ConfigurationError(
            f"Khóa bí mật (SECRET_KEY) quá ngắn: cần ít nhất {MIN_SECRET_KEY_LENGTH} ký tự ngẫu nhiên "
            f"/ SECRET_KEY is too short: use at least {MIN_SECRET_KEY_LENGTH} random characters. " + how
        )


# ------------------------------------------------------------------------------------- addresses
def client_address() -> str:
    """The client's address as the app sees it (the real one behind a trusted proxy)."""
    if not has_request_context():
        return ""
    return request.remote_addr or ""


# ------------------------------------------------------------------------------------- redirects
# Characters a browser may drop or read as a slash before it parses a Location: controls (tab, CR, LF),
# whitespace and format characters, backslashes; and look-alike slashes that NFKC folds to "/".
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")


def _unsafe(text: str) -> bool:
    if "\\" in text or any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in text):
        return True
    return unicodedata.normalize("NFKC", text) != text


def safe_redirect_target(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (other origins, controls, odd slashes)."""
    if not isinstance(target, str) or not target or len(target) > 2048:
        return None
    if not target.startswith("/") or not target.isascii():
        return None
    decoded = target
    for _ in range(3):  # whatever a proxy or browser may decode once or twice more
        if _unsafe(decoded) or decoded.startswith("//") or decoded.startswith("/\\"):
            return None
        decoded = unquote(decoded)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


# ----------------------------------------------------------------------------- login rate limiting
class CounterStore(Protocol):
    """What a rate-limit store does: the two methods of ``limits.storage.Storage`` we use."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int: ...

    def get_expiry(self, key: str) -> float: ...


class DatabaseCounterStore:
    """Fixed-window counters in the app database: one atomic upsert per hit, seen by every host."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.table = RateLimitCounter.__table__

    def _insert(self):
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql_insert(self.table)
        if dialect == "sqlite":
            return sqlite_insert(self.table)
        raise ConfigurationError(f"rate limits in the database need PostgreSQL or SQLite, not {dialect}")

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s count (a new window when the old one has ended); the new count."""
        now = datetime.now(UTC)
        until = literal(now + timedelta(seconds=expiry), self.table.c.expires_at.type)
        ended = self.table.c.expires_at <= now
        stmt = (
            self._insert()
            .values(key=key, count=amount, expires_at=until)
            .on_conflict_do_update(
                index_elements=[self.table.c.key],
                set_={
                    "count": case((ended, amount), else_=self.table.c.count + amount),
                    "expires_at": case((ended, until), else_=self.table.c.expires_at),
                },
            )
            .returning(self.table.c.count)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).scalar_one())

    def get_expiry(self, key: str) -> float:
        """When ``key``'s window ends, in seconds since the epoch (now when there is none)."""
        with self.engine.connect() as conn:
            until = conn.execute(select(self.table.c.expires_at).where(self.table.c.key == key)).scalar()
        if until is None:
            return time.time()
        return (until if until.tzinfo else until.replace(tzinfo=UTC)).timestamp()

    def forget_spent(self, keys: list[str]) -> int:
        """Delete those of ``keys`` whose count is back to zero (every try given back)."""
        with self.engine.begin() as conn:
            stmt = delete(self.table).where(self.table.c.key.in_(keys), self.table.c.count <= 0)
            return int(conn.execute(stmt).rowcount or 0)

    def purge(self) -> int:
        """Delete the counters whose window has ended."""
        with self.engine.begin() as conn:
            now = datetime.now(UTC)
            return int(conn.execute(delete(self.table).where(self.table.c.expires_at <= now)).rowcount or 0)


def counter_store(app: Flask) -> CounterStore:
    """The store named by ``RATELIMIT_STORAGE``: the database (default) or ``redis://…`` via ``limits``."""
    uri = str(app.config.get("RATELIMIT_STORAGE") or "").strip()
    if not uri or uri == "database":
        return DatabaseCounterStore(app.extensions["sipas.engine"])
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        try:
            from limits.storage import storage_from_string
        except ImportError as exc:
            raise ConfigurationError(
                "SIPAS_RATELIMIT_STORAGE=redis://… cần gói tùy chọn: pip install 'sipas-toolkit[redis]' "
                "/ a Redis rate-limit store needs the optional extra: pip install 'sipas-toolkit[redis]'"
            ) from exc
        return storage_from_string(uri)  # type: ignore[return-value]
    raise ConfigurationError(
        f"SIPAS_RATELIMIT_STORAGE={uri!r} không hợp lệ: để trống (cơ sở dữ liệu) hoặc redis://máy:6379/0 "
        "/ unknown rate-limit store: leave it unset (the database) or give redis://host:6379/0"
    )


class LoginLimits:
    """Login attempts per client address and per account name, in fixed windows of a shared store.

    An attempt is counted *before* its password is checked, so parallel requests on any number of
    hosts get no more checks than the limit; a successful login gives its own count back, so what
    accumulates are failures (and refused attempts).
    """

    def __init__(
        self, store: CounterStore, address_limit: int, account_limit: int, window: int, prefix: str = "login"
    ):
        self.prefix = prefix
        self.store = store
        self.address_limit = int(address_limit)
        self.account_limit = int(account_limit)
        self.window = max(1, int(window))

    def _keys(self, address: str, account: str) -> list[tuple[str, int]]:
        keys = []
        if self.address_limit > 0:
            keys.append((f"{self.prefix}:addr:{address}"[:255], self.address_limit))
        if self.account_limit > 0 and account:
            digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()[:32]
            keys.append((f"{self.prefix}:user:{digest}", self.account_limit))
        return keys

    def acquire(self, address: str, account: str) -> int:
        """Count one attempt; 0 when it may go on, else the seconds until the window ends."""
        wait = 0
        for key, limit in self._keys(address, account):
            if self.store.incr(key, self.window) > limit:
                wait = max(wait, max(1, math.ceil(self.store.get_expiry(key) - time.time())))
        if wait:
            log.warning("%s rate limit reached for %s", self.prefix, address)
        return wait

    def release(self, address: str, account: str, *, forget: bool = False) -> None:
        """Give back the attempt of a successful login; ``forget``: drop counters back at zero."""
        keys = self._keys(address, account)
        for key, _ in keys:
            self.store.incr(key, self.window, -1)
        forget_spent = getattr(self.store, "forget_spent", None)
        if forget and forget_spent is not None:
            forget_spent([key for key, _ in keys])


def login_limits(app: Flask | None = None) -> LoginLimits | None:
    """The app's login limits (None when not set up)."""
    return (app or current_app).extensions.get("sipas.login_limits")


def _attempt_account() -> str:
    name = request.form.get("username", "") if request.method == "POST" else ""
    return name.strip().lower()[:64]


def take_login_attempt(account: str) -> int:
    """Count a login attempt (once per password check); 0 when allowed, else seconds to wait."""
    if "sipas_login_wait" in g:  # counted already, before the view ran (_before_login)
        return g.pop("sipas_login_wait")
    limits = login_limits()
    g.sipas_login_attempt = (client_address(), account)
    return limits.acquire(client_address(), account) if limits is not None else 0


def give_back_login_attempt() -> None:
    """A successful login: return the attempt counted for this request."""
    limits = login_limits()
    attempt = g.pop("sipas_login_attempt", None)
    if limits is not None and attempt is not None:
        limits.release(*attempt)
        purge = getattr(limits.store, "purge", None)
        if purge is not None:  # the database store: ended windows go at each login (Redis expires its own)
            purge()


RATE_LIMITED_VI = "Đăng nhập sai quá nhiều lần từ máy này. Xin thử lại sau {minutes} phút."
RATE_LIMITED_EN = "Too many failed logins from this address. Try again in {minutes} minute(s)."


def _rate_limited(retry_after: int) -> Response:
    minutes = max(1, math.ceil(retry_after / 60))
    words = ErrorText(
        "Tạm khóa đăng nhập",
        RATE_LIMITED_VI.format(minutes=minutes),
        RATE_LIMITED_EN.format(minutes=minutes),
        "too_many_requests",
    )
    response = error_response(429, words)
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _before_login() -> Response | None:
    if request.method != "POST" or request.endpoint not in LOGIN_ENDPOINTS:
        return None
    wait = take_login_attempt(_attempt_account())
    if wait:
        return _rate_limited(wait)
    g.sipas_login_wait = 0  # authenticate() must not count this attempt a second time
    return None


def _https_headers(response: Response) -> Response:
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


# ------------------------------------------------------------------------------------------- setup
def init_app(app: Flask) -> None:
    """Proxies, Secure cookies behind HTTPS, HSTS, and the shared login limits."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    if str(app.config.get("PUBLIC_URL") or "").lower().startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.extensions["sipas.login_limits"] = LoginLimits(
        counter_store(app),
        int(app.config.get("LOGIN_RATE_LIMIT", 10)),
        int(app.config.get("LOGIN_ACCOUNT_RATE_LIMIT", 20)),
        int(app.config.get("LOGIN_RATE_WINDOW", 300)),
    )
    # Answer codes (survey.codes): tries per client address and per campaign, counted before the code
    # is looked up; a code that admits a form gives its try back, so what accumulates are wrong codes.
    app.extensions["sipas.code_limits"] = LoginLimits(
        app.extensions["sipas.login_limits"].store,
        int(app.config.get("CODE_RATE_LIMIT", 10)),
        int(app.config.get("CODE_CAMPAIGN_RATE_LIMIT", 100)),
        int(app.config.get("CODE_RATE_WINDOW", 900)),
        prefix="code",
    )
    app.session_interface = DatabaseSessionInterface()
    app.before_request(_before_login)
    app.after_request(_https_headers)
