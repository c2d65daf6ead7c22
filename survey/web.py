"""The app-wide web layer: CSRF protection, security headers, template filters, the landing page.

Error answers, pages and JSON alike, live in :mod:`survey.errors`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request, session
from flask_wtf.csrf import CSRFProtect

from .errors import is_api_path

csrf = CSRFProtect()
bp = Blueprint("web", __name__)

# Vietnam keeps UTC+7 all year (no daylight saving time), so a fixed offset is exact.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    # blob: for audio: the kiosk plays a spoken prompt from the bytes it keeps offline, the recording
    # page plays back what was just recorded.
    "media-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# The staff page that records spoken prompts needs this page's own microphone (and nothing else).
MICROPHONE_PERMISSIONS = "camera=(), microphone=(self), geolocation=(), payment=()"
# Endpoints that take a larger body than MAX_CONTENT_LENGTH (an audio file): endpoint -> bytes.
UPLOAD_LIMITS: dict[str, int] = {}
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Kiosk links carry their token in the path: never send it anywhere as a referrer.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@bp.route("/")
def index():
    """The landing page: what this is and where staff log in."""
    return render_template("index.html")


# Endpoints whose forms carry a file larger than MAX_CONTENT_LENGTH (the case-file upload).
LARGE_UPLOADS = frozenset({"admin.dossiers"})


def _csrf_protect() -> None:
    # The JSON API authenticates each request with a kiosk or API token, never with the session
    # cookie, so a forged cross-site request has nothing to ride on there; every other POST needs
    # the form's CSRF token.
    limit = UPLOAD_LIMITS.get(request.endpoint or "")
    if limit is not None and session.get("user_id"):  # staff only; before the CSRF check reads the body
        request.max_content_length = limit
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    if is_api_path():
        return None
    if request.endpoint in LARGE_UPLOADS:  # before the form is read: a one-stop export is a few MB
        request.max_content_length = current_app.config["DOSSIER_UPLOAD_MAX_BYTES"]
    csrf.protect()
    return None


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def vi_datetime(value: Any, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """Format a timestamp in Vietnam time (dd/mm/yyyy hh:mm); '' for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:  # we store UTC; SQLite hands it back naive
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VIETNAM_TZ).strftime(fmt)


def vi_number(value: Any, decimals: int = 0) -> str:
    """Format a number the Vietnamese way: 1.234,5 (dot for thousands, comma for decimals)."""
    if value is None or value == "":
        return "—"
    text = f"{float(value):,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def init_app(app: Flask) -> None:
    """CSRF for every form (the token-authenticated API excepted), headers, filters, landing page."""
    # Referrer-Policy: no-referrer means browsers send no Referer (and Origin "null") with form posts,
    # so Flask-WTF's HTTPS referrer check would refuse every form behind HTTPS. The CSRF token, the
    # SameSite=Lax session cookie and form-action 'self' protect the forms instead.
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked by _csrf_protect, which exempts the API
    csrf.init_app(app)
    app.before_request(_csrf_protect)
    app.after_request(_security_headers)
    app.add_template_filter(vi_datetime, "vi_datetime")
    app.add_template_filter(vi_number, "vi_number")
    app.register_blueprint(bp)
