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
  ``SESSION_COOKIE_SECURE`` is set or ``PUBLIC_URL`` is an https address. Responses over HTTPS also get
  ``Strict-Transport-Security``.
* **Login rate limiting.** Failed logins are counted per client address in a sliding window
  (``LOGIN_RATE_LIMIT`` failures per ``LOGIN_RATE_WINDOW`` seconds). Past the limit the login form
  answers 429 until the window has moved on. The count lives in each worker process; the account
  lockout in the database (:func:`survey.users.authenticate`) is the limit that holds across workers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, current_app, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import ErrorText, SurveyError, error_response

log = logging.getLogger(__name__)

__all__ = [
    "ConfigurationError",
    "LoginRateLimiter",
    "check_secret_key",
    "client_address",
    "init_app",
    "login_allowed",
    "record_login_failure",
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


# ----------------------------------------------------------------------------- login rate limiting
class LoginRateLimiter:
    """Failed logins per client address in a sliding window; thread-safe, bounded in memory."""

    def __init__(
        self,
        limit: int,
        window: float,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = int(limit)
        self.window = float(window)
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        stamps = self._failures.get(address)
        if stamps is None:
            return None
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[address]
            return None
        return stamps

    def failures(self, address: str) -> int:
        """Failed logins from ``address`` within the window."""
        with self._lock:
            stamps = self._recent(address, self.clock())
            return len(stamps) if stamps else 0

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may try now."""
        if self.limit <= 0:
            return 0
        with self._lock:
            now = self.clock()
            stamps = self._recent(address, now)
            if stamps is None or len(stamps) < self.limit:
                return 0
            # The attempt that fell out of the window lets the next one in.
            return max(1, math.ceil(stamps[-self.limit] + self.window - now))

    def record_failure(self, address: str) -> int:
        """Count one failed login from ``address``; return the failures within the window."""
        with self._lock:
            now = self.clock()
            stamps = self._recent(address, now)
            if stamps is None:
                stamps = self._failures[address] = deque()
                while len(self._failures) > self.max_addresses:
                    self._failures.popitem(last=False)  # the address seen least recently
            self._failures.move_to_end(address)
            stamps.append(now)
            if len(stamps) > self.limit > 0:
                stamps.popleft()  # only the last `limit` matter
            return len(stamps)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


def _limiter(app: Flask | None = None) -> LoginRateLimiter | None:
    return (app or current_app).extensions.get("sipas.login_limiter")


def login_allowed(address: str | None = None) -> bool:
    """Whether the client (default: this request's) may try a password now."""
    limiter = _limiter()
    if limiter is None:
        return True
    return limiter.retry_after(address if address is not None else client_address()) == 0


def record_login_failure(address: str | None = None) -> int:
    """Count a failed login for the client (default: this request's); return its recent failures."""
    limiter = _limiter()
    if limiter is None:
        return 0
    address = address if address is not None else client_address()
    count = limiter.record_failure(address)
    if count == limiter.limit:
        log.warning("login rate limit reached for %s", address)
    return count


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
    limiter = _limiter()
    if limiter is None:
        return None
    wait = limiter.retry_after(client_address())
    if wait:
        return _rate_limited(wait)
    return None


def _https_headers(response: Response) -> Response:
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


# ------------------------------------------------------------------------------------------- setup
def init_app(app: Flask) -> None:
    """Proxies, Secure cookies behind HTTPS, HSTS, and the login rate limit."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    if str(app.config.get("PUBLIC_URL") or "").lower().startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.extensions["sipas.login_limiter"] = LoginRateLimiter(
        int(app.config.get("LOGIN_RATE_LIMIT", 10)), float(app.config.get("LOGIN_RATE_WINDOW", 300))
    )
    app.before_request(_before_login)
    app.after_request(_https_headers)
