"""The survey app's user errors, and the one place where the app answers errors.

Everything a user (a tablet, a staff member, a command line) can cause is a :class:`SurveyError`;
commands turn it into ``click.ClickException`` and the API into a JSON error.

Every error answer goes through here: :func:`wants_json` decides between JSON (``/api/…``,
``/healthz``, a client that accepts JSON but not HTML) and the Vietnamese page ``errors/error.html``;
:data:`ERROR_TEXTS` holds the words per status. :func:`http_error` answers HTTP errors (CSRF failures
with their own words), :func:`internal_error` answers unexpected errors and database errors: 503 with
``Retry-After`` for a database that is down or read-only, 500 otherwise, logged, never a traceback.
Both roll the request's database session back first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
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


class InstanceInOtherCampaign(DuplicateConflict):
    """An instance id that is already stored in another campaign: never "the same response" here."""

    def __init__(self, instance_id: str, existing: StoredResponse | None = None):
        super().__init__(instance_id, existing)
        self.args = (
            f"mã phiếu {instance_id} đã được lưu ở một đợt khảo sát khác "
            f"(instance id {instance_id} is already stored in another campaign)",
        )


class CampaignError(SurveyError):
    """A campaign, unit, kiosk or target that cannot be created or used as asked."""


class UserError(SurveyError):
    """An account that cannot be created or changed as asked."""


# ------------------------------------------------------------------------------------ HTTP answers
@dataclass(frozen=True)
class ErrorText:
    """What an error answer says: a page title and text in Vietnamese, English, and a JSON code."""

    title: str  # the page's heading, Vietnamese
    text: str  # the explanation, Vietnamese; the JSON "message"
    text_en: str  # for analysts and programs; the JSON "message_en"
    code: str  # the JSON "error", stable for programs


ERROR_TEXTS: dict[int, ErrorText] = {
    400: ErrorText(
        "Yêu cầu không hợp lệ",
        "Máy chủ không hiểu yêu cầu này. Xin quay lại trang trước và thử lại.",
        "The request could not be understood.",
        "bad_request",
    ),
    401: ErrorText(
        "Cần đăng nhập",
        "Cần đăng nhập hoặc mã máy trạm để mở địa chỉ này.",
        "A login or a kiosk token is required.",
        "unauthorized",
    ),
    403: ErrorText(
        "Không có quyền truy cập",
        "Tài khoản của bạn không được phép mở trang này.",
        "Your account may not open this.",
        "forbidden",
    ),
    404: ErrorText(
        "Không tìm thấy trang",
        "Địa chỉ này không tồn tại hoặc đã bị gỡ bỏ. Xin kiểm tra lại đường dẫn.",
        "There is nothing at this address.",
        "not_found",
    ),
    405: ErrorText(
        "Thao tác không được hỗ trợ",
        "Trang này không nhận kiểu yêu cầu vừa gửi.",
        "This address does not accept this method.",
        "method_not_allowed",
    ),
    409: ErrorText(
        "Xung đột dữ liệu",
        "Dữ liệu gửi lên mâu thuẫn với dữ liệu đã lưu; không có gì được lưu.",
        "The request conflicts with what is stored; nothing was stored.",
        "conflict",
    ),
    413: ErrorText(
        "Dữ liệu quá lớn",
        "Dữ liệu gửi lên vượt quá giới hạn cho phép. Không có gì được lưu.",
        "The body is larger than allowed; nothing was stored.",
        "too_large",
    ),
    415: ErrorText(
        "Kiểu dữ liệu không được hỗ trợ",
        "Kiểu dữ liệu gửi lên không được hỗ trợ (cần JSON).",
        "Unsupported media type (JSON is expected).",
        "unsupported_media_type",
    ),
    429: ErrorText(
        "Quá nhiều yêu cầu",
        "Máy này đã gửi quá nhiều yêu cầu. Xin thử lại sau ít phút.",
        "Too many requests; please retry later.",
        "too_many_requests",
    ),
    500: ErrorText(
        "Lỗi hệ thống",
        "Đã có lỗi ngoài dự kiến; không có dữ liệu nào bị lưu dở. Lỗi đã được ghi lại, xin thử lại sau.",
        "An unexpected error occurred; nothing was half-stored. It has been logged.",
        "internal_error",
    ),
    503: ErrorText(
        "Tạm thời gián đoạn",
        "Máy chủ tạm thời không sẵn sàng. Xin thử lại sau ít phút.",
        "The server is temporarily unavailable. Please retry shortly.",
        "unavailable",
    ),
}
# Two causes with their own words: a form without a valid CSRF token (400) and a database that is
# down or read-only (503, with Retry-After).
CSRF_FAILED = ErrorText(
    "Phiên làm việc đã hết hạn",
    "Biểu mẫu đã quá hạn hoặc thiếu mã bảo vệ, nên không có gì được lưu. "
    "Xin tải lại trang, đăng nhập nếu cần, rồi gửi lại.",
    "The form has expired or lacks its CSRF token; nothing was stored. Reload the page and send again.",
    "csrf_failed",
)
DATABASE_UNAVAILABLE = ErrorText(
    "Tạm thời gián đoạn",
    "Cơ sở dữ liệu tạm thời không sẵn sàng (mất kết nối hoặc chỉ cho phép đọc). Phiếu chưa được lưu; "
    "xin thử lại sau ít phút.",
    "The database is unavailable or read-only; nothing was stored. Please retry shortly.",
    "database_unavailable",
)
RETRY_AFTER_SECONDS = 30

# SQLSTATE classes that mean "the database cannot take writes now", not "your data is wrong":
# 25006 read_only_sql_transaction, 57P0x shutdown/cannot connect now, 53xxx insufficient resources,
# 08xxx connection exceptions.
_UNAVAILABLE_SQLSTATES = ("25006", "57P", "53", "08")


def error_text(status: int) -> ErrorText:
    """Return the words for ``status``, a generic text for a status without its own."""
    known = ERROR_TEXTS.get(status)
    if known is not None:
        return known
    return ErrorText(f"Lỗi {status}", "Yêu cầu này không thực hiện được.", f"HTTP error {status}.", "error")


def is_api_path() -> bool:
    """Whether the request is for the JSON API or the health check (token-authenticated, never HTML)."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def wants_json() -> bool:
    """Whether to answer the request in JSON: an API path, or a client that accepts JSON but not HTML."""
    accept = request.accept_mimetypes
    return is_api_path() or (accept.best == "application/json" and not accept.accept_html)


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
    status: int, message: str, message_en: str = "", *, code: str | None = None, **extra: Any
) -> Response:
    """Return the JSON error ``{"status": "error", "error", "message", "message_en", **extra}``."""
    body: dict[str, Any] = {"status": "error", "error": code or error_text(status).code, "message": message}
    if message_en:
        body["message_en"] = message_en
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def error_page(status: int, words: ErrorText, english: str | None = None) -> Response:
    """Return the Vietnamese error page, or a plain escaped one when the template cannot render."""
    english = english or words.text_en
    try:
        html = render_template(
            "errors/error.html", status=status, title=words.title, text=words.text, text_en=english
        )
    except Exception:  # whatever broke the page (no app context, a context processor, the database)
        log.exception("the error page for %s could not be rendered", status)
        html = (
            '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
            f"<title>{escape(words.title)}</title></head><body><h1>{escape(words.title)}</h1>"
            f'<p>{escape(words.text)}</p><p lang="en">{escape(english)}</p></body></html>'
        )
    return Response(html, status=status, mimetype="text/html")


def error_response(status: int, words: ErrorText, english: str | None = None) -> Response:
    """Answer an error as JSON or as the error page, as the request wants."""
    if wants_json():
        return json_error(status, words.text, english or words.text_en, code=words.code)
    return error_page(status, words, english)


def rollback_session() -> None:
    """Roll back the request's database session, if it has one, so that an error answer stores nothing."""
    session = g.get("db_session")
    if session is None:
        return
    try:
        session.rollback()
    except sa_exc.SQLAlchemyError:  # the connection may be gone already; the answer matters more
        log.exception("rollback failed")


def _own_description(exc: HTTPException) -> str | None:
    """Return the description the raiser gave (CSRF's reason, an ``abort`` text), not Werkzeug's default."""
    description = exc.description
    return description if description and description != type(exc).description else None


def http_error(exc: HTTPException) -> Response:
    """Answer an HTTP error (404, 405, 413, a CSRF failure, …) with its status and headers, rolled back."""
    rollback_session()
    status = exc.code or 500
    words = CSRF_FAILED if isinstance(exc, CSRFError) else error_text(status)
    response = error_response(status, words, _own_description(exc))
    for key, value in exc.get_headers():  # e.g. Allow on 405
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def internal_error(exc: Exception) -> Response:
    """Answer an unexpected error: 503 when the database is unavailable, else 500; never a traceback."""
    cause = exc.original_exception if isinstance(exc, InternalServerError) else exc
    rollback_session()
    if isinstance(cause, sa_exc.SQLAlchemyError) and database_unavailable(cause):
        first_line = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        log.warning("database unavailable: %s", first_line)
        response = error_response(503, DATABASE_UNAVAILABLE)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if cause is exc:  # a database error handled here directly; Flask logs what reaches it as a 500
        log.error("database error", exc_info=exc)
    return error_response(500, ERROR_TEXTS[500])


def init_app(app: Flask) -> None:
    """Register the app's error handlers, once, for every blueprint and path."""
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, internal_error)
    app.register_error_handler(sa_exc.SQLAlchemyError, internal_error)
