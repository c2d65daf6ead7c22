"""The app-wide web layer: CSRF protection, security headers, Vietnamese error pages, the landing page."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

csrf = CSRFProtect()
bp = Blueprint("web", __name__)

# Vietnam keeps UTC+7 all year (no daylight saving time), so a fixed offset is exact.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Kiosk links carry their token in the path: never send it anywhere as a referrer.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# (title, explanation) per status, for people; the API answers JSON instead (survey.errors).
ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Yêu cầu không hợp lệ", "Máy chủ không hiểu yêu cầu này. Xin quay lại trang trước và thử lại."),
    403: ("Không có quyền truy cập", "Tài khoản của bạn không được phép mở trang này."),
    404: ("Không tìm thấy trang", "Địa chỉ này không tồn tại hoặc đã bị gỡ bỏ. Xin kiểm tra lại đường dẫn."),
    405: ("Thao tác không được hỗ trợ", "Trang này không nhận kiểu yêu cầu vừa gửi."),
    413: ("Dữ liệu quá lớn", "Dữ liệu gửi lên vượt quá giới hạn cho phép. Không có gì được lưu."),
    503: ("Tạm thời gián đoạn", "Máy chủ tạm thời không sẵn sàng. Xin thử lại sau ít phút."),
    500: (
        "Lỗi hệ thống",
        "Đã có lỗi ngoài dự kiến; không có dữ liệu nào bị lưu dở. Lỗi đã được ghi lại, xin thử lại sau.",
    ),
}
CSRF_TEXT = (
    "Phiên làm việc đã hết hạn",
    "Biểu mẫu đã quá hạn hoặc thiếu mã bảo vệ, nên không có gì được lưu. "
    "Xin tải lại trang, đăng nhập nếu cần, rồi gửi lại.",
)


def is_api_request() -> bool:
    """Whether the request is for the JSON API (answered in JSON, never HTML)."""
    return request.path.startswith("/api/")


@bp.route("/")
def index():
    """The landing page: what this is and where staff log in."""
    return render_template("index.html")


def _csrf_protect() -> None:
    # The JSON API authenticates each request with a kiosk or API token, never with the session
    # cookie, so a forged cross-site request has nothing to ride on there; every other POST needs
    # the form's CSRF token.
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    if is_api_request():
        return None
    csrf.protect()
    return None


def _security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _error_page(status: int, title: str | None = None, text: str | None = None):
    default_title, default_text = ERROR_TEXTS.get(status, (f"Lỗi {status}", ""))
    return (
        render_template(
            "errors/error.html", status=status, title=title or default_title, text=text or default_text
        ),
        status,
    )


def _json_error(status: int, exc: HTTPException | None = None):
    from .errors import json_error

    title, text = ERROR_TEXTS.get(status, (f"Lỗi {status}", ""))
    english = (exc.description if exc is not None and exc.description else "") or (exc.name if exc else "")
    return json_error(status, title + ". " + text if text else title, english)


def _rollback() -> None:
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; the error page matters more
            log.exception("rollback failed")


def _wants_json() -> bool:
    from .errors import is_api_request as api_or_health

    return api_or_health()


def _handle_http(exc: HTTPException):
    status = exc.code or 500
    if _wants_json():
        response = _json_error(status, exc)
        for key, value in exc.get_headers():
            if key.lower() != "content-type":
                response.headers[key] = value
        return response
    if isinstance(exc, CSRFError):
        return _error_page(400, *CSRF_TEXT)
    return _error_page(status)


def _handle_500(exc: InternalServerError):
    _rollback()
    original = getattr(exc, "original_exception", None)
    if original is not None:
        from sqlalchemy.exc import SQLAlchemyError

        from .errors import DB_UNAVAILABLE_VI, database_unavailable

        if isinstance(original, SQLAlchemyError) and database_unavailable(original):
            if _wants_json():
                return _json_error(503)
            return _error_page(503, "Tạm thời gián đoạn", DB_UNAVAILABLE_VI)
        log.error("unhandled error", exc_info=original)
    if _wants_json():
        return _json_error(500)
    return _error_page(500)


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
    """CSRF for every form (the token-authenticated API excepted), headers, error pages, landing page."""
    # Referrer-Policy: no-referrer means browsers send no Referer (and Origin "null") with form posts,
    # so Flask-WTF's HTTPS referrer check would refuse every form behind HTTPS. The CSRF token, the
    # SameSite=Lax session cookie and form-action 'self' protect the forms instead.
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked by _csrf_protect, which exempts the API
    csrf.init_app(app)
    app.before_request(_csrf_protect)
    app.after_request(_security_headers)
    for status in (400, 403, 404, 405, 413):
        app.register_error_handler(status, _handle_http)
    app.register_error_handler(InternalServerError, _handle_500)
    app.add_template_filter(vi_datetime, "vi_datetime")
    app.add_template_filter(vi_number, "vi_number")
    app.register_blueprint(bp)
