"""Who gets in: every route walked from ``app.url_map`` against anonymous users, each role, kiosk tokens
and forged (token-less) forms; security headers on every page; session cookies; login rate limiting
and lockout; the secret-key rule; and the audit log of logins, exports and setting changes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import full_answers, submission
from flask import url_for
from sqlalchemy import func, select, update

from questionnaires import load_questionnaire
from survey import create_app
from survey.assignments import assign
from survey.campaigns import create_campaign, create_kiosk
from survey.cli import cli
from survey.db import session_scope
from survey.models import AuditEvent, Campaign, Kiosk, RateLimitCounter, ReportJob, Response, User
from survey.security import ConfigurationError, DatabaseCounterStore, LoginLimits, safe_redirect_target
from survey.storage import save_response
from survey.users import authenticate, create_user

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parent.parent
SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORD = "mật-khẩu-đủ-dài-1"
STAFF = frozenset({"admin", "analyst", "enumerator"})  # those who work on forms
EVERYONE = STAFF | {"viewer"}  # viewer: leadership reading results, nothing else
ANALYSTS = frozenset({"admin", "analyst"})
RESULTS = frozenset({"admin", "analyst", "viewer"})
ADMINS = frozenset({"admin"})
# Who may use each staff route. A new route under /admin or /api/v1/campaigns must be added here,
# or test_every_staff_route_is_classified fails: nobody forgets to decide who may use it.
ACCESS: dict[str, frozenset[str]] = {
    "admin.dashboard": EVERYONE,  # the campaign list (a viewer's links lead to the results)
    "admin.campaign": STAFF,
    "admin.entry": STAFF,  # enumerators key paper forms; analysts and admins may too
    "admin.double_entry": ANALYSTS,  # reviewers resolve differing keyings
    "admin.double_entry_resolve": ANALYSTS,
    "admin.double_entry_setting": ANALYSTS,
    # Answer codes ("mỗi hồ sơ một phiếu"): analysts turn the rule on and issue codes; commune staff print
    # the day's slips and the counter poster of the units they are assigned to.
    "admin.codes_setting": ANALYSTS,
    "admin.codes_issue": ANALYSTS,
    "admin.code_slips": STAFF,
    "admin.code_poster": STAFF,
    "admin.campaign_new": ANALYSTS,
    "admin.kiosk_create": ANALYSTS,
    "admin.kiosk_display": ANALYSTS,
    "admin.kiosk_revoke": ANALYSTS,
    "admin.campaign_open": ANALYSTS,
    "admin.campaign_close": ANALYSTS,
    "admin.campaign_reopen": ANALYSTS,
    "admin.export_csv": ANALYSTS,
    "admin.export_xlsx": ANALYSTS,
    "admin.report": ANALYSTS,
    # The report built in the background: started by analysts; its page, status and file are the
    # starter's own (others get 404, tested in test_results_dashboard).
    "admin.report_start": ANALYSTS,
    "admin.report_job": ANALYSTS,
    "admin.report_job_status": ANALYSTS,
    "admin.report_job_file": ANALYSTS,
    # The results dashboard: scores and counts only, for analysts and leadership (viewer).
    "admin.results": RESULTS,
    "admin.results_version": RESULTS,
    "admin.results_unit": RESULTS,
    "admin.results_figure": RESULTS,
    "admin.results_unit_figure": RESULTS,
    # Case files of the one-stop system: the frame, its upload and the target rule.
    "admin.dossiers": ANALYSTS,
    "admin.dossiers_confirm": ANALYSTS,
    "admin.dossiers_allocation": ANALYSTS,
    # Enumerators see and correct only the paper forms they keyed (the seeded one is theirs); reviewing
    # a form's state, bulk changes and the correction history are for analysts.
    "admin.responses": STAFF,
    "admin.response_detail": STAFF,
    "admin.response_edit": STAFF,
    "admin.response_review": ANALYSTS,
    "admin.responses_bulk": ANALYSTS,
    "admin.responses_revisions": ANALYSTS,
    # Integrity flags and their settings: analysts and admins only (the graded office must not see flags).
    "admin.integrity": ANALYSTS,
    "admin.integrity_settings": ANALYSTS,
    # Spoken prompts: analysts and admins record, listen to and approve them, and set auto-read.
    "admin.audio_overview": ANALYSTS,
    "admin.audio_settings": ANALYSTS,
    "admin.audio_language": ANALYSTS,
    "admin.audio_upload": ANALYSTS,
    "admin.audio_approve": ANALYSTS,
    "admin.audio_delete": ANALYSTS,
    "admin.audio_clip": ANALYSTS,
    "admin.users": ADMINS,
    "admin.user_active": ADMINS,
    "admin.user_password": ADMINS,
    "admin.user_sessions_end": ADMINS,  # "log out everywhere" for another account
    "admin.user_assignments": ADMINS,  # which campaigns and units an enumerator keys
    "api.campaign_progress": STAFF,
}
# Logging out (of this session, or of every session of oneself) needs no role: anonymous, it does nothing.
PUBLIC = {"admin.login", "admin.logout", "admin.logout_all"}


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    """Cheap hashes for the many accounts made here (scrypt itself is tested in test_api_auth)."""
    monkeypatch.setattr("survey.users.PASSWORD_METHOD", "pbkdf2:sha256:1000")


class World:
    """An app with one account per role, a victim account, a campaign with stored responses and kiosks."""

    def __init__(self, app):
        self.app = app
        with app.app_context(), session_scope() as session:
            self.users = {
                role: create_user(session, f"{role}-1", PASSWORD, role).id for role in sorted(EVERYONE)
            }
            self.victim = create_user(session, "nan-nhan", PASSWORD, "enumerator").id
            campaign = create_campaign(
                session, name="Khảo sát <b>SIPAS</b>", questionnaire="sipas-2017", unit_list="tra-bong-2023"
            )
            self.campaign_id = campaign.id
            kiosk, self.token = create_kiosk(session, campaign, "tra-xuan", counter="Quầy 1")
            self.kiosk_id = kiosk.id
            spare, _ = create_kiosk(session, campaign, "tra-giang")
            self.spare_kiosk_id = spare.id
            # The enumerator keys tra-xuan (survey.assignments): it reaches the campaign's pages.
            assign(session, session.get(User, self.users["enumerator"]), campaign, ["tra-xuan"])
            # One paper form keyed by the enumerator, for the routes of a stored response.
            paper, _ = save_response(
                session,
                campaign=campaign,
                unit_code="tra-xuan",
                instance_id=str(uuid.uuid4()),
                answers=full_answers(SIPAS_2017),
                questionnaire_id=campaign.questionnaire_id,
                version=campaign.questionnaire_version,
                started_at=None,
                submitted_at=None,
                source="paper",
                entered_by=self.users["enumerator"],
            )
            self.response_ref = paper.instance_id
            # A finished report job of the analyst (and so of admins too), for the routes of a job.
            self.job_id = "job-" + uuid.uuid4().hex
            session.add(
                ReportJob(
                    id=self.job_id,
                    campaign_id=campaign.id,
                    user_id=self.users["analyst"],
                    state="done",
                    progress=1.0,
                    filename="bao-cao.xlsx",
                    content=b"PK not really a workbook",
                    size=24,
                )
            )
        self.seeded_responses = 1

    def values(self, rule) -> dict[str, object]:
        known = {
            "campaign_id": self.campaign_id,
            "kiosk_id": self.spare_kiosk_id,
            "user_id": self.victim,
            "token": self.token,
            "filename": "css/app.css",
            "response_ref": self.response_ref,
            "keying_id": 1,  # no such keying: the resolution page says so and changes nothing
            "lang": "vi",
            "clip_id": 1,  # no such clip: 404
            "sha": "0" * 64,
            "ext": "mp3",
            "job_id": self.job_id,
            "unit_code": "tra-xuan",
            "name": "ranking",
        }
        return {name: known[name] for name in rule.arguments}

    def url(self, rule) -> str:
        with self.app.test_request_context():
            return url_for(rule.endpoint, **self.values(rule))

    def client(self, role: str | None = None):
        client = self.app.test_client()
        if role is not None:
            with client.session_transaction() as sess:
                sess["user_id"] = self.users[role]
        return client

    def staff_rules(self):
        for rule in self.app.url_map.iter_rules():
            if rule.rule.startswith(("/admin", "/api/v1/campaigns")) and rule.endpoint not in PUBLIC:
                yield rule


@pytest.fixture
def world(make_app):
    return World(make_app(WTF_CSRF_ENABLED=False))


@pytest.fixture
def csrf_world(make_app):
    return World(make_app(WTF_CSRF_ENABLED=True))


def _methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _call(client, method: str, url: str, **kwargs):
    reply = client.open(url, method=method, **kwargs)
    reply.get_data()
    reply.close()  # downloads are streamed files
    return reply


def _is_login_redirect(reply) -> bool:
    return reply.status_code == 302 and reply.headers["Location"].startswith("/admin/login")


def _counts(app) -> dict[str, int]:
    with app.app_context(), session_scope() as session:
        revoked = session.scalar(select(func.count()).select_from(Kiosk).where(Kiosk.revoked_at.is_not(None)))
        active = session.scalar(select(func.count()).select_from(User).where(User.active.is_(True)))
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (User, Campaign, Kiosk, Response, AuditEvent)
        }
        hashes = sorted(session.scalars(select(User.password_hash)))
    return counts | {"revoked": revoked, "active": active, "hashes": hash(tuple(hashes))}


# ------------------------------------------------------------------------------------ roles on routes
def test_every_staff_route_is_classified(world):
    staff = {rule.endpoint for rule in world.staff_rules()}
    assert staff == set(ACCESS), "classify new staff routes in ACCESS (who may use them)"
    for rule in world.app.url_map.iter_rules():
        if rule.endpoint in ACCESS:
            assert rule.rule.startswith(("/admin/", "/api/v1/campaigns/"))


def test_anonymous_users_are_sent_to_the_login_page_or_get_401(world):
    client = world.client()
    before = _counts(world.app)
    checked = 0
    for rule in world.staff_rules():
        for method in _methods(rule):
            reply = _call(client, method, world.url(rule))
            if rule.rule.startswith("/api/"):
                assert reply.status_code == 401, (rule.rule, method)
                assert reply.is_json and reply.get_json()["error"] == "unauthorized"
            else:
                assert _is_login_redirect(reply), (rule.rule, method, reply.status_code)
            checked += 1
    assert checked >= len(ACCESS)
    assert _counts(world.app) == before  # nothing was changed by anybody


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_each_role_gets_exactly_its_routes(world, role):
    client = world.client(role)
    for rule in world.staff_rules():
        allowed = role in ACCESS[rule.endpoint]
        for method in _methods(rule):
            reply = _call(client, method, world.url(rule))
            where = (role, rule.rule, method, reply.status_code)
            if allowed:
                assert reply.status_code not in (401, 403) and not _is_login_redirect(reply), where
                assert reply.status_code < 500, where
            else:
                assert reply.status_code == 403, where
                if rule.rule.startswith("/api/"):
                    assert reply.get_json()["error"] == "forbidden"


def test_a_deactivated_account_loses_its_routes_at_once(world):
    client = world.client("admin")
    assert client.get("/admin/users").status_code == 200
    with world.app.app_context(), session_scope() as session:
        session.get(User, world.users["admin"]).active = False
    assert _is_login_redirect(client.get("/admin/users"))
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}/progress").status_code == 401


# ------------------------------------------------------------------------------------ kiosk tokens
def test_a_kiosk_token_opens_no_staff_route(world):
    token = world.token
    client = world.client()
    body = submission(SIPAS_2017, token, full_answers(SIPAS_2017))
    assert client.post("/api/v1/responses", json=body).status_code == 201  # the token itself works
    client.set_cookie("kiosk_token", token)
    client.set_cookie("token", token)
    for rule in world.staff_rules():
        url = world.url(rule)
        for method in _methods(rule):
            for kwargs in (
                {"headers": {"Authorization": f"Bearer {token}"}},
                {"query_string": {"kiosk_token": token, "token": token}},
                {"json": {"kiosk_token": token}},
                {"data": {"kiosk_token": token}},
            ):
                reply = _call(client, method, url, **kwargs)
                if rule.rule.startswith("/api/"):
                    assert reply.status_code == 401, (rule.rule, kwargs)
                else:
                    assert _is_login_redirect(reply), (rule.rule, method, kwargs, reply.status_code)
    assert _counts(world.app)["Response"] == world.seeded_responses + 1


def test_a_kiosk_token_only_submits_for_its_own_unit(world):
    client = world.client()
    answers = full_answers(SIPAS_2017)
    wrong_unit = client.post(
        "/api/v1/responses", json=submission(SIPAS_2017, world.token, answers, unit="tra-giang")
    )
    assert wrong_unit.status_code == 400
    assert wrong_unit.get_json()["errors"][0]["code"] == "wrong_unit"
    staff_cookie = world.client("admin")  # a logged-in browser without a kiosk token cannot submit
    reply = staff_cookie.post("/api/v1/responses", json=submission(SIPAS_2017, None, answers))
    assert reply.status_code == 401
    assert _counts(world.app)["Response"] == world.seeded_responses


# -------------------------------------------------------------------------------------------- CSRF
@pytest.mark.parametrize("role", [None, "admin"])
def test_every_form_post_outside_the_api_needs_a_csrf_token(csrf_world, role):
    client = csrf_world.client(role)
    before = _counts(csrf_world.app)
    posts = 0
    for rule in csrf_world.app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        url = csrf_world.url(rule)
        data = {
            "username": "admin-1",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": "admin",
            "active": "0",
            "unit": "tra-thuy",
            "name": "Giả mạo",
        }
        for forged in ({}, {"csrf_token": "giả-mạo"}):
            reply = client.post(url, data={**data, **forged})
            assert reply.status_code == 400, (rule.rule, forged, reply.status_code)
            assert "Phiên làm việc đã hết hạn" in reply.get_data(as_text=True)
        posts += 1
    assert posts >= 8
    assert _counts(csrf_world.app) == before


def test_a_form_with_its_csrf_token_is_accepted(csrf_world):
    client = csrf_world.client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    reply = client.post(
        "/admin/login", data={"username": "admin-1", "password": PASSWORD, "csrf_token": token}
    )
    assert reply.status_code == 302 and client.get("/admin/users").status_code == 200
    # The token belongs to the session it was issued to: another browser cannot reuse it.
    other = csrf_world.client()
    stolen = other.post(
        "/admin/login", data={"username": "admin-1", "password": PASSWORD, "csrf_token": token}
    )
    assert stolen.status_code == 400


# ---------------------------------------------------------------------------------- security headers
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
SCRIPT_WITH_BODY = re.compile(r"<script[^>]*>\s*[^<\s]", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def _csp(reply) -> dict[str, list[str]]:
    policy = reply.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def _check_headers(reply, where) -> None:
    csp = _csp(reply)
    assert csp, f"{where}: no Content-Security-Policy"
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("default-src") == ["'self'"], where
    scripts = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts and "*" not in scripts, where
    assert reply.headers.get("X-Content-Type-Options") == "nosniff", where
    assert reply.headers.get("X-Frame-Options") == "DENY", where
    assert reply.headers.get("Referrer-Policy") == "no-referrer", where
    if reply.mimetype == "text/html":
        html = reply.get_data(as_text=True)
        assert not INLINE_SCRIPT.search(html), f"{where}: inline <script>"
        assert not SCRIPT_WITH_BODY.search(html), f"{where}: script with a body"
        assert not EVENT_HANDLER.search(html), f"{where}: on…= event handler attribute"
        assert "javascript:" not in html.lower(), where
        styles = csp.get("style-src", csp["default-src"])
        if "'unsafe-inline'" not in styles:
            assert "<style" not in html.lower(), f"{where}: <style> element blocked by the CSP"
            assert not STYLE_ATTRIBUTE.search(html), f"{where}: style= attribute blocked by the CSP"


@pytest.mark.parametrize("role", [None, "admin", "enumerator"])
def test_security_headers_on_every_page(world, role):
    client = world.client(role)
    seen = 0
    for rule in world.app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        reply = _call(client, "GET", world.url(rule))
        _check_headers(reply, (role, rule.rule, reply.status_code))
        seen += 1
    assert seen >= 12
    for url in ("/khong-co", "/api/v1/khong-co", "/admin/users/999999/password", "/k/khong-hop-le"):
        _check_headers(client.get(url), (role, url))
    _check_headers(client.delete("/admin/login"), (role, "DELETE /admin/login"))


def test_security_headers_on_error_pages_when_the_database_is_down(make_app):
    app = make_app(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2",
        WTF_CSRF_ENABLED=False,
    )
    client = app.test_client()
    # A cookie that names a server-side session: looking it up needs the database.
    client.set_cookie("sipas_session", app.session_interface.signed_id(app, "any-session-id"))
    for url in ("/admin/", "/k/abc", "/healthz"):
        reply = client.get(url)
        assert reply.status_code == 503, url
        assert b"Traceback" not in reply.data
        _check_headers(reply, url)


# ---------------------------------------------------------------------------------------- cookies
def _login_reply(app, username="admin-1", password=PASSWORD, **kwargs):
    return app.test_client().post("/admin/login", data={"username": username, "password": password}, **kwargs)


def _cookie_attributes(reply) -> set[str]:
    header = next(h for h in reply.headers.getlist("Set-Cookie") if h.startswith("sipas_session="))
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]} | {
        part.strip().lower() for part in header.split(";")[1:] if part.strip().lower().startswith("samesite")
    }


def test_the_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(world):
    reply = _login_reply(world.app)
    assert reply.status_code == 302
    attributes = _cookie_attributes(reply)
    assert {"httponly", "samesite=lax", "path"} <= attributes
    assert "secure" not in attributes
    assert "Strict-Transport-Security" not in reply.headers


@pytest.mark.parametrize(
    "config", [{"SESSION_COOKIE_SECURE": True}, {"PUBLIC_URL": "https://sipas.trabong.gov.vn"}]
)
def test_the_session_cookie_is_secure_behind_https(make_app, config):
    app = World(make_app(WTF_CSRF_ENABLED=False, **config)).app
    reply = _login_reply(app, base_url="https://sipas.trabong.gov.vn")
    assert reply.status_code == 302
    assert {"httponly", "samesite=lax", "secure"} <= _cookie_attributes(reply)
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


def test_https_seen_through_a_trusted_proxy(make_app):
    app = World(make_app(WTF_CSRF_ENABLED=False, TRUSTED_PROXIES=1)).app
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    reply = app.test_client().get("/admin/login", headers=headers)
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
    _login_reply(app, headers=headers)
    with app.app_context(), session_scope() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
        assert event.remote_addr == "203.0.113.9"


# ------------------------------------------------------------------------------ login rate limiting
def test_the_database_counter_is_a_fixed_window_per_key(app):
    store = DatabaseCounterStore(app.extensions["sipas.engine"])
    assert [store.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert store.incr("b", 60) == 1  # another key is not affected
    assert store.incr("a", 60, -1) == 2  # a successful login gives its attempt back
    assert 55 < store.get_expiry("a") - time.time() <= 60
    assert abs(store.get_expiry("never") - time.time()) < 5
    # A window that has ended starts again at the amount, with a new expiry.
    with app.app_context(), session_scope() as session:
        session.execute(update(RateLimitCounter).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert store.incr("a", 60) == 1
    assert store.purge() == 1  # "b" had ended too; "a" has a fresh window
    with app.app_context(), session_scope() as session:
        assert session.scalars(select(RateLimitCounter.key)).all() == ["a"]


def test_login_limits_count_before_the_check_per_address_and_per_account(app):
    limits = LoginLimits(DatabaseCounterStore(app.extensions["sipas.engine"]), 3, 2, 300)
    assert [limits.acquire("10.0.0.1", "lan") for _ in range(2)] == [0, 0]
    assert 0 < limits.acquire("10.0.0.2", "lan") <= 300  # the account's limit, from any address
    assert limits.acquire("10.0.0.1", "minh") == 0  # third attempt from 10.0.0.1
    assert limits.acquire("10.0.0.1", "hoa") > 0  # the address's limit, for any account
    assert limits.acquire("10.0.0.3", "hoa") == 0
    limits.release("10.0.0.3", "hoa")
    assert limits.acquire("10.0.0.3", "hoa") == 0  # given back: the count stayed at 1


def test_two_hosts_on_one_database_share_the_address_limit(make_app):
    host_a = World(make_app(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT=4, LOGIN_MAX_FAILURES=100)).app
    host_b = make_app(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT=4, LOGIN_MAX_FAILURES=100)
    attacker = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    codes = [
        _login_reply(host, "admin-1", "sai-mat-khau-roi", **attacker).status_code
        for host in (host_a, host_b) * 4
    ]
    assert codes == [401] * 4 + [429] * 4  # before: each host (each worker) counted only its own


def test_too_many_failed_logins_from_one_address_get_429(make_app):
    app = World(make_app(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT=3, LOGIN_MAX_FAILURES=100)).app
    attacker = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    for username in ("admin-1", "analyst-1", "khong-co"):
        assert _login_reply(app, username, "sai-mat-khau-roi", **attacker).status_code == 401
    blocked = _login_reply(app, "admin-1", PASSWORD, **attacker)  # even the right password
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    page = blocked.get_data(as_text=True)
    assert "Đăng nhập sai quá nhiều lần" in page and "Traceback" not in page
    _check_headers(blocked, "429")
    colleague = _login_reply(app, "admin-1", PASSWORD, environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert colleague.status_code == 302
    # A forged X-Forwarded-For does not get around the limit without a trusted proxy.
    forged = _login_reply(app, "admin-1", PASSWORD, headers={"X-Forwarded-For": "192.0.2.1"}, **attacker)
    assert forged.status_code == 429
    with app.app_context(), session_scope() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.remote_addr).order_by(AuditEvent.id)
        ).all()
        # The blocked attempts never reached the password check, so no account counted them.
        assert session.scalar(select(User.failed_logins).where(User.username == "admin-1")) == 0
    assert [tuple(e) for e in events] == [
        ("login_failed", "198.51.100.7"),
        ("login_failed", "198.51.100.7"),
        ("login_failed", "198.51.100.7"),
        ("login", "198.51.100.8"),
    ]


def test_authenticate_itself_refuses_an_address_over_the_limit(make_app):
    app = World(make_app(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT=2)).app
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        from survey.db import get_session

        assert authenticate(get_session(), "admin-1", "sai-mat-khau-roi") is None
        assert authenticate(get_session(), "admin-1", "sai-mat-khau-roi") is None
        assert authenticate(get_session(), "admin-1", PASSWORD) is None
        actions = get_session().scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login_failed", "login_failed", "login_rate_limited"]


def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(make_app):
    app = World(make_app(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT=2, TRUSTED_PROXIES=1)).app
    for _ in range(2):
        _login_reply(app, "admin-1", "sai-mat-khau-roi", headers={"X-Forwarded-For": "203.0.113.1"})
    assert _login_reply(app, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    assert _login_reply(app, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 302


# ------------------------------------------------------------------------------------------ lockout
def _login_error(reply) -> str:
    match = re.search(r'<p class="alert alert--error" role="alert">(.*?)</p>', reply.get_data(as_text=True))
    assert match, reply.get_data(as_text=True)
    return match.group(1)


def test_a_locked_account_gets_the_same_answer_as_a_wrong_password(make_app):
    app = World(make_app(WTF_CSRF_ENABLED=False, LOGIN_MAX_FAILURES=3, LOGIN_RATE_LIMIT=100)).app
    wrong = _login_reply(app, "analyst-1", "sai-mat-khau-roi")
    unknown = _login_reply(app, "khong-ai-co-ten-nay", PASSWORD)
    for _ in range(2):
        _login_reply(app, "analyst-1", "sai-mat-khau-roi")
    locked = _login_reply(app, "analyst-1", PASSWORD)  # the right password, but locked out
    assert wrong.status_code == unknown.status_code == locked.status_code == 401
    assert _login_error(wrong) == _login_error(unknown) == _login_error(locked)
    assert "Set-Cookie" not in locked.headers or "user_id" not in str(locked.headers)
    with app.app_context(), session_scope() as session:
        user = session.scalars(select(User).where(User.username == "analyst-1")).one()
        assert user.locked_until is not None
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login_failed", "login_failed", "login_failed", "login_locked", "login_refused_locked"]
    # The other accounts are not affected.
    assert _login_reply(app, "admin-1", PASSWORD).status_code == 302


# -------------------------------------------------------------------------------------- secret key
def _bare_config(tmp_path, **extra):
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
        "INSTANCE_PATH": str(tmp_path / "inst"),
    } | extra


@pytest.fixture
def no_secret_in_env(monkeypatch):
    monkeypatch.delenv("SIPAS_SECRET_KEY", raising=False)
    monkeypatch.delenv("SIPAS_ENV", raising=False)


def test_production_refuses_to_start_without_a_secret_key(tmp_path, no_secret_in_env):
    with pytest.raises(ConfigurationError) as caught:
        create_app(_bare_config(tmp_path))
    message = str(caught.value)
    assert "SIPAS_SECRET_KEY" in message and "secrets.token_urlsafe" in message
    assert "production" in message
    assert not (tmp_path / "inst" / "secret_key").exists()  # nothing invented behind the operator's back


def test_production_refuses_a_short_secret_key(tmp_path, no_secret_in_env):
    with pytest.raises(ConfigurationError, match="quá ngắn"):
        create_app(_bare_config(tmp_path, SECRET_KEY="changeme"))
    app = create_app(_bare_config(tmp_path, SECRET_KEY="k" * 32))
    assert app.config["SECRET_KEY"] == "k" * 32
    app.extensions["sipas.engine"].dispose()


def test_production_names_a_key_left_by_development(tmp_path, no_secret_in_env):
    dev = create_app(_bare_config(tmp_path, ENV="development"))
    dev.extensions["sipas.engine"].dispose()
    with pytest.raises(ConfigurationError) as caught:
        create_app(_bare_config(tmp_path))
    assert str(tmp_path / "inst" / "secret_key") in str(caught.value)


def test_development_keeps_a_per_instance_key(tmp_path, no_secret_in_env):
    first = create_app(_bare_config(tmp_path, ENV="development"))
    second = create_app(_bare_config(tmp_path, ENV="development"))
    key_file = tmp_path / "inst" / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text()
    assert len(first.config["SECRET_KEY"]) >= 48
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = create_app(_bare_config(tmp_path / "other", ENV="development"))
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]  # never a built-in default
    for app in (first, second, other):
        app.extensions["sipas.engine"].dispose()


def test_commands_that_only_use_the_database_need_no_key(tmp_path, no_secret_in_env):
    env = {
        "SIPAS_INSTANCE_PATH": str(tmp_path / "inst"),
        "SIPAS_DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite",
    }
    runner = CliRunner()
    for args in (["db", "upgrade"], ["user", "create", "--username", "an", "--role", "admin"]):
        result = runner.invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert not (tmp_path / "inst" / "secret_key").exists()
    app = create_app(_bare_config(tmp_path), serving=False)
    assert len(app.config["SECRET_KEY"]) >= 48
    app.extensions["sipas.engine"].dispose()


def _clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPAS_")}
    env |= {
        "SIPAS_INSTANCE_PATH": str(tmp_path / "inst"),
        "SIPAS_DATABASE_URL": f"sqlite:///{tmp_path}/w.sqlite",
    }
    return env | {"PYTHONPATH": str(ROOT)}


def test_gunicorn_refuses_to_start_without_a_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1", "wsgi:app"],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SIPAS_SECRET_KEY" in result.stderr and "secrets.token_urlsafe" in result.stderr


def test_the_wsgi_module_starts_with_a_key(tmp_path):
    env = _clean_env(tmp_path) | {"SIPAS_SECRET_KEY": "k" * 40}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import wsgi; print(wsgi.app.config['ENV'], len(wsgi.app.config['SECRET_KEY']))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["production", "40"]


# ------------------------------------------------------------------------------------------ audit
def _events(app, *, since: int = 0) -> list[tuple[str, str | None, dict]]:
    with app.app_context(), session_scope() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)).all()
        return [(e.action, e.username, e.detail or {}, e.remote_addr) for e in rows]


def _last_event_id(app) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.max(AuditEvent.id))) or 0


def test_staff_pages_audit_logins_exports_and_every_setting_change(world):
    app = world.app
    client = app.test_client()
    assert client.post("/admin/login", data={"username": "admin-1", "password": "sai"}).status_code == 401
    assert client.post("/admin/login", data={"username": "admin-1", "password": PASSWORD}).status_code == 302
    campaign = world.campaign_id

    def step(method, url, expect, action, **data):
        mark = _last_event_id(app)
        reply = _call(client, method, url, data=data)
        assert reply.status_code == expect, (url, reply.status_code)
        events = _events(app, since=mark)
        assert [e[0] for e in events] == [action], (url, events)
        assert events[0][1] == "admin-1" and events[0][3] is None  # who; no address for everyday actions
        return events[0][2]

    made = step(
        "POST",
        "/admin/campaigns/new",
        302,
        "campaign_created",
        name="Đợt kiểm tra",
        questionnaire="sipas-2017",
        unit_list="tra-bong-2023",
        margin_of_error="0.05",
    )
    assert made["name"] == "Đợt kiểm tra"
    kiosk = step("POST", f"/admin/campaigns/{campaign}/kiosks", 201, "kiosk_created", unit="tra-thuy")
    step("POST", f"/admin/campaigns/{campaign}/kiosks/{kiosk['kiosk_id']}/revoke", 302, "kiosk_revoked")
    step(
        "POST",
        "/admin/users",
        302,
        "user_created",
        username="moi-1",
        role="analyst",
        password=PASSWORD,
        confirm=PASSWORD,
    )
    step("POST", f"/admin/users/{world.victim}/active", 302, "user_deactivated", active="0")
    step("POST", f"/admin/users/{world.victim}/active", 302, "user_activated", active="1")
    step(
        "POST",
        f"/admin/users/{world.victim}/password",
        302,
        "password_reset",
        password=PASSWORD,
        confirm=PASSWORD,
    )
    settings_url = f"/admin/campaigns/{campaign}/integrity/settings"
    integrity = step("POST", settings_url, 302, "integrity_settings_changed", burst_forms="6")
    assert integrity["changes"]["burst_forms"] == {"old": 5, "new": 6}
    assert step("GET", f"/admin/campaigns/{campaign}/responses.csv", 200, "export")["format"] == "csv"
    assert step("GET", f"/admin/campaigns/{campaign}/responses.xlsx", 200, "export")["format"] == "xlsx"
    step("POST", "/admin/logout", 302, "logout")

    logins = [e for e in _events(app) if e[0].startswith("login")]
    assert [(e[0], e[1], e[3]) for e in logins] == [
        ("login_failed", "admin-1", "127.0.0.1"),
        ("login", "admin-1", "127.0.0.1"),
    ]
    for _action, _, detail, _ in _events(app):
        assert "password" not in {k.lower() for k in detail} and PASSWORD not in str(detail)


def test_commands_audit_every_setting_change_and_export(world, database_url, tmp_path):
    app = world.app
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "inst")}
    runner = CliRunner()

    def sipas(*args):
        mark = _last_event_id(app)
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output, _events(app, since=mark)

    _, events = sipas("user", "create", "--username", "cli-user", "--role", "analyst", "--password", PASSWORD)
    assert [(e[0], e[2]["username"], e[2]["via"]) for e in events] == [("user_created", "cli-user", "cli")]
    _, events = sipas(
        "campaign", "create", "--questionnaire", "sipas-2017", "--units", "tra-bong-2023", "--name", "CLI"
    )
    assert [(e[0], e[2]["name"]) for e in events] == [("campaign_created", "CLI")]
    new_campaign = events[0][2]["campaign_id"]
    _, events = sipas(
        "kiosk", "create", "--campaign", str(new_campaign), "--unit", "tra-xuan", "--unit", "tra-bui"
    )
    assert [(e[0], e[2]["unit"]) for e in events] == [
        ("kiosk_created", "tra-xuan"),
        ("kiosk_created", "tra-bui"),
    ]
    _, events = sipas("kiosk", "revoke", "--id", str(events[0][2]["kiosk_id"]))
    assert [(e[0], e[2]["unit"]) for e in events] == [("kiosk_revoked", "tra-xuan")]
    _, events = sipas(
        "campaign", "settings", "--campaign", str(world.campaign_id), "--integrity", "burst_forms=7"
    )
    assert [(e[0], e[2]["changes"], e[2]["via"]) for e in events] == [
        ("integrity_settings_changed", {"burst_forms": {"old": 5, "new": 7}}, "cli")
    ]
    _, events = sipas("export", "--campaign", str(world.campaign_id), "--out", str(tmp_path / "out.csv"))
    assert [(e[0], e[2]["format"], e[2]["campaign_id"]) for e in events] == [
        ("export", "csv", world.campaign_id)
    ]


def test_a_unique_instance_never_leaks_into_another_request(world):
    """The logged-in user is per request: a kiosk submission right after a staff request is anonymous."""
    staff = world.client("admin")
    assert staff.get("/admin/").status_code == 200
    body = submission(SIPAS_2017, world.token, full_answers(SIPAS_2017), instance_id=str(uuid.uuid4()))
    assert world.client().post("/api/v1/responses", json=body).status_code == 201
    with world.app.app_context(), session_scope() as session:
        stored = session.scalars(select(Response).where(Response.instance_id == body["instance_id"])).one()
        assert stored.entered_by is None and stored.source == "kiosk"


# ------------------------------------------------------------------------------ redirects after login
# `next` as an attacker puts it in a link (the raw query string), each a known open-redirect trick.
HOSTILE_NEXT = [
    "/%09/evil.example/phish",  # before: Location //evil.example/phish (the tab dropped)
    "/%0d/x",  # before: a 500 (CR in a header)
    "/%0a/x",
    "/admin/%0d%0aSet-Cookie:%20x=1",
    "//evil.example",
    "///evil.example",
    "/%5Cevil.example",  # /\evil.example
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "/%2F/evil.example",  # //evil.example once decoded
    "/%252F%252Fevil.example",  # twice encoded
    "/%25%32%66/evil.example",
    "/%EF%BC%8Fevil.example",  # full-width solidus
    "/%E2%88%95evil.example",  # division slash
    "/%E2%81%84evil.example",  # fraction slash
    "/%E2%80%8B/evil.example",  # zero-width space
    "%E3%80%80//evil.example",  # ideographic space first
    "%20//evil.example",  # a leading space
    "%20/admin/",
    "https://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt%3Aalert(1)",
    "data:text/html,x",
    "evil.example",
    "/" + "a" * 3000,
    "",
]
SAFE_NEXT = [
    ("/admin/campaigns/1", "/admin/campaigns/1"),
    ("/admin/responses%3Fcampaign%3D1%26page%3D2", "/admin/responses?campaign=1&page=2"),
]


@pytest.mark.parametrize("raw", HOSTILE_NEXT)
def test_login_never_redirects_off_site(world, raw):
    reply = world.app.test_client().post(
        f"/admin/login?next={raw}", data={"username": "admin-1", "password": PASSWORD}
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)
    assert reply.headers["Location"] == "/admin/"
    # Logged in already, the login page redirects the same way.
    again = world.client("admin").get(f"/admin/login?next={raw}")
    assert again.status_code == 302 and again.headers["Location"] == "/admin/"


@pytest.mark.parametrize("raw, location", SAFE_NEXT)
def test_login_goes_on_to_a_page_of_this_site(world, raw, location):
    reply = world.app.test_client().post(
        f"/admin/login?next={raw}", data={"username": "admin-1", "password": PASSWORD}
    )
    assert reply.status_code == 302 and reply.headers["Location"] == location


@pytest.mark.parametrize(
    "target",
    ["/\t/evil", "/\\evil", "\\\\evil", " /x", "/\uff0fevil", "/\u2215evil", "//x", "/%2f/x", None, 7],
)
def test_safe_redirect_target_refuses_what_a_browser_could_read_as_another_site(target):
    assert safe_redirect_target(target) is None


def _redis_url() -> str:
    url = os.environ.get("SIPAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    redis = pytest.importorskip("redis", reason="the optional extra sipas-toolkit[redis] is not installed")
    pytest.importorskip("limits")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is unreachable at {url}: {exc}")
    return url


def test_two_hosts_share_the_address_limit_in_redis(make_app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the counters are in Redis: one database backend is enough")
    url = _redis_url()
    config = {"WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": 3, "RATELIMIT_STORAGE": url}
    host_a = World(make_app(**config)).app
    host_b = make_app(**config)
    attacker = {"environ_base": {"REMOTE_ADDR": f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"}}
    codes = [
        _login_reply(host, f"khong-co-{uuid.uuid4().hex[:6]}", "sai", **attacker).status_code
        for host in (host_a, host_b) * 3
    ]
    assert codes == [401] * 3 + [429] * 3
    with host_a.app_context(), session_scope() as session:
        assert session.scalar(select(func.count()).select_from(RateLimitCounter)) == 0  # not in the database


def test_an_unknown_rate_limit_store_is_a_clear_configuration_error(make_app):
    with pytest.raises(ConfigurationError, match="SIPAS_RATELIMIT_STORAGE"):
        make_app(RATELIMIT_STORAGE="memcached://127.0.0.1:11211")
