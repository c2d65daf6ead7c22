"""The survey app's user errors, and the app-wide handlers that keep tracebacks away from users.

Everything a user (a tablet, a staff member, a command line) can cause is a :class:`SurveyError`;
commands turn it into ``click.ClickException`` and the API into a JSON error. The handlers below make
sure that a database that is down or read-only answers 503 with a clear message (JSON under ``/api/``,
a Vietnamese page elsewhere), and that an unexpected error answers 500 without a traceback, after the
request's database session has been rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request, url_for
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

if TYPE_CHECKING:
    from .models import Response as StoredResponse

log = logging.getLogger(__name__)


class SurveyError(Exception):
    """Input the survey app cannot use; the message (Vietnamese, then English) says what and where."""


@dataclass(frozen=True)
class ItemError:
    """What is wrong with one item (or one field of a submission)."""

    item: str | None  # item code, or the submission field ("instance_id", "unit"); None = the body
    code: str  # stable, for programs: unknown_item, invalid_code, wrong_type, required, constraint, ...
    message: str  # Vietnamese, for the person at the tablet
    message_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "code": self.code, "message": self.message, "message_en": self.message_en}

    def __str__(self) -> str:
        where = f"{self.item}: " if self.item else ""
        return f"{where}{self.message}"


class ValidationFailed(SurveyError):
    """A submission with per-item errors; nothing was stored."""

    def __init__(self, errors: Sequence[ItemError]):
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5})" if len(self.errors) > 5 else ""
        super().__init__(f"phiếu không hợp lệ / invalid response: {shown}{more}")


class DuplicateConflict(SurveyError):
    """An instance id that is already stored with different content."""

    def __init__(self, instance_id: str, existing: StoredResponse | None = None):
        self.instance_id = instance_id
        self.existing = existing
        super().__init__(
            f"mã phiếu {instance_id} đã được gửi với nội dung khác "
            f"(instance id {instance_id} was already submitted with different content)"
        )


class CampaignError(SurveyError):
    """A campaign, unit, kiosk or target that cannot be created or used as asked."""


class UserError(SurveyError):
    """An account that cannot be created or changed as asked."""


# ------------------------------------------------------------------------------------ HTTP handlers
DB_UNAVAILABLE_VI = (
    "Cơ sở dữ liệu tạm thời không sẵn sàng (mất kết nối hoặc chỉ cho phép đọc). Phiếu chưa được lưu; "
    "xin thử lại sau ít phút."
)
DB_UNAVAILABLE_EN = "The database is unavailable or read-only; nothing was stored. Please retry shortly."
INTERNAL_VI = "Đã có lỗi ngoài dự kiến. Quản trị viên đã được ghi nhận lỗi; xin thử lại sau."
INTERNAL_EN = "An unexpected error occurred; it has been logged."

# SQLSTATE classes that mean "the database cannot take writes now", not "your data is wrong":
# 25006 read_only_sql_transaction, 57P0x shutdown/cannot connect now, 53xxx insufficient resources.
_UNAVAILABLE_SQLSTATES = ("25006", "57P", "53", "08")


def is_api_request() -> bool:
    """Whether the current request is for the JSON API (answer JSON, never HTML)."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database exception means the database is down, locked or read-only."""
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if sqlstate and str(sqlstate).startswith(_UNAVAILABLE_SQLSTATES):
            return True
    return False


def json_error(
    status: int, message: str, message_en: str = "", *, code: str | None = None, **extra
) -> Response:
    """A JSON error body ``{"status", "error", "message", "message_en"}`` with ``status``."""
    body = {"status": "error", "error": code or _status_code_name(status), "message": message}
    if message_en:
        body["message_en"] = message_en
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def _status_code_name(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        415: "unsupported_media_type",
        429: "too_many_requests",
        500: "internal_error",
        503: "unavailable",
    }.get(status, "error")


_HTTP_VI = {
    400: "Yêu cầu không hợp lệ.",
    401: "Cần đăng nhập hoặc mã máy trạm.",
    403: "Không có quyền truy cập.",
    404: "Không tìm thấy trang hoặc tài nguyên.",
    405: "Phương thức không được hỗ trợ.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Kiểu dữ liệu không được hỗ trợ (cần JSON).",
}


def _rollback_request_session() -> None:
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except Exception:  # the connection may already be gone; the 5xx answer matters more
            log.exception("rollback failed")


def _page(status: int, title: str, text: str, text_en: str) -> Response:
    html = (
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title>"
        # The app's stylesheet, not an inline <style>: the CSP (style-src 'self') would block that.
        f"<link rel='stylesheet' href='{escape(_stylesheet())}'></head><body>"
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p><p class='en' lang='en'>{escape(text_en)}</p>"
        "</body></html>"
    )
    return Response(html, status=status, mimetype="text/html")


def _stylesheet() -> str:
    try:
        return url_for("static", filename="css/app.css")
    except Exception:  # noqa: BLE001 - outside a request, or without static files: an unstyled page
        return "/static/css/app.css"


def _unavailable(exc: BaseException) -> Response:
    log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    _rollback_request_session()
    if is_api_request():
        response = json_error(503, DB_UNAVAILABLE_VI, DB_UNAVAILABLE_EN, code="database_unavailable")
    else:
        response = _page(503, "Tạm thời gián đoạn", DB_UNAVAILABLE_VI, DB_UNAVAILABLE_EN)
    response.headers["Retry-After"] = "30"
    return response


def _internal(exc: BaseException) -> Response:
    _rollback_request_session()
    if is_api_request():
        return json_error(500, INTERNAL_VI, INTERNAL_EN)
    return _page(500, "Lỗi hệ thống", INTERNAL_VI, INTERNAL_EN)


def init_app(app: Flask) -> None:
    """Register the handlers: 503 for an unavailable database, JSON errors under /api, a plain 500."""

    app.register_error_handler(sa_exc.SQLAlchemyError, database_error)
    app.register_error_handler(HTTPException, http_error)


def database_error(exc: sa_exc.SQLAlchemyError) -> Response:
    """503 when the database is down or read-only; otherwise a 500 without a traceback."""
    if database_unavailable(exc):
        return _unavailable(exc)
    log.error("database error", exc_info=exc)
    return _internal(exc)


def http_error(exc: HTTPException) -> Response | HTTPException:
    """JSON for the API (HTML pages keep Flask's answer); a 500 rolls back and hides the traceback."""
    if isinstance(exc, InternalServerError):
        original = exc.original_exception
        if isinstance(original, sa_exc.SQLAlchemyError):
            return database_error(original)
        if original is not None:
            log.error("unhandled error", exc_info=original)
        return _internal(exc)
    if not is_api_request():
        return exc
    status = exc.code or 500
    response = json_error(status, _HTTP_VI.get(status, exc.name), exc.description or exc.name)
    for key, value in exc.get_headers():  # e.g. Allow on 405
        if key.lower() != "content-type":
            response.headers[key] = value
    return response
