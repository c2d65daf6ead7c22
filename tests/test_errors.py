"""The one error module: every error answered as the Vietnamese page or as JSON, rolled back, no traceback."""

from __future__ import annotations

import pytest
from flask import abort, g, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from survey import blueprints
from survey.app import create_app
from survey.db import get_session, session_scope
from survey.errors import ErrorText, error_page, wants_json
from survey.models import AuditEvent

PENDING = "test-pending-row"
# How a browser, the API and a JSON client (outside /api) ask for the same thing.
WAYS = {
    "browser": ("/test", {}),
    "api": ("/api/test", {}),
    "json client": ("/test", {"Accept": "application/json"}),
}


def _write_then(kind: str):
    """Leave a flushed, uncommitted row in the request's session, then fail as ``kind`` says."""
    get_session().add(AuditEvent(action=PENDING))
    get_session().flush()
    if kind == "404":
        abort(404)
    if kind == "503":
        raise OperationalError("INSERT INTO audit_events", {}, Exception("server closed the connection"))
    raise RuntimeError("secret detail of a bug")


def _form():
    return f"{len(request.form)} fields"


def _csrf():
    raise CSRFError("The CSRF token is missing.")


@pytest.fixture
def error_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=True, PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=1024)
    for prefix in ("/test", "/api/test"):
        name = prefix.strip("/").replace("/", "_")
        app.add_url_rule(f"{prefix}/write-then/<kind>", f"{name}_write_then", _write_then)
        app.add_url_rule(f"{prefix}/form", f"{name}_form", _form, methods=["POST"])
        app.add_url_rule(f"{prefix}/csrf", f"{name}_csrf", _csrf, methods=["POST"])
    app.extensions["test.in_transaction_after"] = seen = []

    @app.after_request
    def _note_session(response):
        session = g.get("db_session")
        if session is not None:
            seen.append(session.in_transaction())
        return response

    return app


def _pending_rows(app) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == PENDING))


# (method, path under the prefix, request arguments, status, Vietnamese title, JSON error code)
CASES = {
    "404": ("GET", "/khong-co", {}, 404, "Không tìm thấy trang", "not_found"),
    "404 after a write": ("GET", "/write-then/404", {}, 404, "Không tìm thấy trang", "not_found"),
    "405": ("GET", "/form", {}, 405, "Thao tác không được hỗ trợ", "method_not_allowed"),
    "413": ("POST", "/form", {"data": {"x": "y" * 5000}}, 413, "Dữ liệu quá lớn", "too_large"),
    "csrf": ("POST", "/csrf", {"data": {"x": "1"}}, 400, "Phiên làm việc đã hết hạn", "csrf_failed"),
    "500": ("GET", "/write-then/500", {}, 500, "Lỗi hệ thống", "internal_error"),
    "503": ("GET", "/write-then/503", {}, 503, "Tạm thời gián đoạn", "database_unavailable"),
}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("case", list(CASES))
def test_each_error_is_a_vietnamese_page_or_json_as_the_request_wants(error_app, case, way):
    method, path, kwargs, status, title, code = CASES[case]
    prefix, headers = WAYS[way]
    reply = error_app.test_client().open(prefix + path, method=method, headers=headers, **kwargs)

    assert reply.status_code == status
    assert reply.headers["X-Frame-Options"] == "DENY"  # the security headers are on error answers too
    assert b"Traceback" not in reply.data and b"secret detail" not in reply.data
    if way == "browser":
        assert reply.mimetype == "text/html"
        page = reply.get_data(as_text=True)
        assert f"<h1>{title}</h1>" in page and f"Lỗi {status}" in page
        assert 'lang="en"' in page  # the English line, for analysts
    else:
        assert reply.is_json
        body = reply.get_json()
        assert set(body) == {"status", "error", "message", "message_en"}
        assert body["status"] == "error" and body["error"] == code
        assert body["message"] and body["message_en"]
    if case == "405":
        assert set(reply.headers["Allow"].split(", ")) >= {"POST"}
    if case == "503":
        assert reply.headers["Retry-After"] == "30"
        if way != "browser":
            assert "Cơ sở dữ liệu" in body["message"] and "nothing was stored" in body["message_en"]
    if case == "csrf" and way != "browser":
        assert body["message_en"] == "The CSRF token is missing."
    if "write-then" in path:
        # Rolled back before the answer went out, and nothing of it reached the database.
        assert error_app.extensions["test.in_transaction_after"] == [False]
        assert _pending_rows(error_app) == 0


def test_the_same_form_post_on_the_api_path_needs_no_csrf_token(error_app):
    # Kiosks authenticate with tokens, not cookies: the API path is CSRF-exempt.
    assert error_app.test_client().post("/api/test/form", data={"x": "1"}).get_data() == b"1 fields"


@pytest.mark.parametrize(
    ("path", "accept", "expected"),
    [
        ("/api/v1/responses", None, True),
        ("/healthz", None, True),
        ("/admin/", "application/json", True),
        ("/admin/", "application/json, text/html;q=0.9", False),
        ("/admin/", "*/*", False),
        ("/admin/", "text/html,application/xhtml+xml", False),
        ("/admin/", None, False),
        ("/apix", None, False),
    ],
)
def test_wants_json(app, path, accept, expected):
    headers = {"Accept": accept} if accept else {}
    with app.test_request_context(path, headers=headers):
        assert wants_json() is expected


def test_a_page_that_cannot_render_falls_back_to_a_plain_escaped_page(make_app):
    outside = error_page(404, ErrorText("<b>Không</b>", "Văn bản & chi tiết", "text", "not_found"))
    assert outside.status_code == 404 and outside.mimetype == "text/html"
    html = outside.get_data(as_text=True)
    assert "<title>&lt;b&gt;Không&lt;/b&gt;</title>" in html and "Văn bản &amp; chi tiết" in html

    app = make_app()

    @app.context_processor
    def _broken():
        raise RuntimeError("a template helper fails")

    reply = app.test_client().get("/khong-co")
    assert reply.status_code == 404 and reply.mimetype == "text/html"
    assert "<h1>Không tìm thấy trang</h1>" in reply.get_data(as_text=True)
    assert b"a template helper fails" not in reply.data and b"Traceback" not in reply.data
    assert reply.headers["X-Frame-Options"] == "DENY"


def test_a_part_that_does_not_import_stops_the_app(monkeypatch, database_url, tmp_path):
    monkeypatch.setattr(blueprints, "PARTS", (*blueprints.PARTS, "survey.khong_co"))
    config = {"DATABASE_URL": database_url, "SECRET_KEY": "k" * 32, "INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ModuleNotFoundError, match="survey.khong_co"):
        create_app(config)
