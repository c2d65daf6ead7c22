"""Server-side staff sessions: what the cookie carries, what the row holds, and every way a session ends
(logout, password reset, deactivation, role change, "log out everywhere", absolute and idle expiry), seen
by a second app on the same database as by the first; CSRF on top; Secure cookies behind a proxy."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update

from survey.db import session_scope
from survey.models import StaffSession, User
from survey.users import create_user, set_password, set_role

pytestmark = pytest.mark.db

PASSWORD = "mật-khẩu-đủ-dài-1"


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    monkeypatch.setattr("survey.users.PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def hosts(make_app):
    """Two apps on one database, as two gunicorn hosts behind a load balancer; an admin and an analyst."""
    first = make_app(WTF_CSRF_ENABLED=False)
    second = make_app(WTF_CSRF_ENABLED=False)
    with first.app_context(), session_scope() as session:
        for name, role in (("quan-tri", "admin"), ("phan-tich", "analyst")):
            create_user(session, name, PASSWORD, role)
    return first, second


def _login(app, username="phan-tich", password=PASSWORD):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": password})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


def _cookie(client) -> str:
    return client.get_cookie("sipas_session").value


def _carry(cookie: str, app):
    """A client of ``app`` that presents ``cookie`` (the same browser, talking to another host)."""
    client = app.test_client()
    client.set_cookie("sipas_session", cookie)
    return client


def _logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def _rows(app, *where) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count()).select_from(StaffSession).where(*where))


def _user_id(app, username) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(User.id).where(User.username == username))


def test_the_cookie_carries_only_a_random_id_stored_hashed(hosts):
    first, second = hosts
    client = _login(first)
    cookie = _cookie(client)
    payload = first.session_interface.get_signing_serializer(first).loads(cookie)
    assert set(payload) == {"_sid"} and len(payload["_sid"]) >= 40  # no user id, role or CSRF token
    with first.app_context(), session_scope() as session:
        row = session.scalars(select(StaffSession)).one()
        assert row.id_hash == hashlib.sha256(payload["_sid"].encode()).hexdigest()
        assert payload["_sid"] not in row.id_hash
        assert row.user_id == _user_id(first, "phan-tich")
        created = row.created_at.replace(tzinfo=UTC) if row.created_at.tzinfo is None else row.created_at
        absolute = row.absolute_expires_at.replace(tzinfo=created.tzinfo)
        assert timedelta(hours=11, minutes=59) < absolute - created <= timedelta(hours=12)
    assert _logged_in(_carry(cookie, second))  # another host knows the session


def test_login_gives_a_new_id_and_anonymous_visits_write_nothing(hosts):
    first, _ = hosts
    client = first.test_client()
    for _ in range(3):
        client.get("/admin/login")
    assert _rows(first) == 0
    # A session id planted by an attacker (session fixation) is not the one the login gets.
    planted = first.session_interface.signed_id(first, "chosen-by-the-attacker")
    client.set_cookie("sipas_session", planted)
    reply = client.post("/admin/login", data={"username": "phan-tich", "password": PASSWORD})
    assert reply.status_code == 302
    assert _cookie(client) != planted and _logged_in(client)
    assert not _logged_in(_carry(planted, first))
    assert _rows(first) == 1


def test_logout_on_one_host_is_refused_on_the_other(hosts):
    first, second = hosts
    client = _login(first)
    cookie = _cookie(client)
    other = _login(first)  # a second device of the same user
    assert client.post("/admin/logout").status_code == 302
    replay = _carry(cookie, second)
    assert not _logged_in(replay)  # before: the signed cookie still logged in after logout
    assert _logged_in(other)  # logout ends this session only


@pytest.mark.parametrize("how", ["password_reset", "deactivate_reactivate", "role_change"])
def test_a_password_reset_deactivation_or_role_change_ends_every_session(hosts, how):
    first, second = hosts
    devices = [_login(first), _login(second)]
    admin = _login(first, "quan-tri")
    victim = _user_id(first, "phan-tich")
    if how == "password_reset":
        new = "mat-khau-moi-du-dai"
        reply = admin.post(f"/admin/users/{victim}/password", data={"password": new, "confirm": new})
        assert reply.status_code == 302, reply.get_data(as_text=True)
    elif how == "deactivate_reactivate":
        assert admin.post(f"/admin/users/{victim}/active", data={"active": "0"}).status_code == 302
        assert admin.post(f"/admin/users/{victim}/active", data={"active": "1"}).status_code == 302
    else:
        with first.app_context(), session_scope() as session:
            set_role(session, session.get(User, victim), "enumerator")
    assert not any(_logged_in(device) for device in devices)
    assert _rows(first, StaffSession.user_id == victim) == 0
    assert _logged_in(admin)


def test_set_password_ends_the_sessions_in_the_same_commit(hosts):
    first, _ = hosts
    client = _login(first)
    with first.app_context(), session_scope() as session:
        user = session.scalars(select(User).where(User.username == "phan-tich")).one()
        set_password(session, user, "x" * 12)
        session.rollback()  # the reset did not happen: the sessions stay
    assert _logged_in(client)


def test_a_role_changed_behind_the_apps_back_logs_out(hosts):
    first, _ = hosts
    client = _login(first)
    with first.app_context(), session_scope() as session:
        session.execute(update(User).where(User.username == "phan-tich").values(role="admin"))
    assert not _logged_in(client)  # the session was made for an analyst


def test_log_out_everywhere_for_another_account_and_for_oneself(hosts):
    first, second = hosts
    devices = [_login(first), _login(second)]
    admin = _login(first, "quan-tri")
    admin_elsewhere = _login(second, "quan-tri")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Đăng xuất khỏi mọi thiết bị" in page
    victim = _user_id(first, "phan-tich")
    assert admin.post(f"/admin/users/{victim}/sessions/end").status_code == 302
    assert not any(_logged_in(device) for device in devices)
    assert _logged_in(admin)
    # An analyst may not end somebody else's sessions.
    analyst = _login(first)
    assert analyst.post(f"/admin/users/{_user_id(first, 'quan-tri')}/sessions/end").status_code == 403
    assert _logged_in(admin_elsewhere)
    assert admin.post("/admin/logout/everywhere").status_code == 302
    assert not _logged_in(admin) and not _logged_in(admin_elsewhere)
    assert _logged_in(analyst)
    # Every staff member has the button for their own sessions in the page header.
    header = analyst.get("/admin/").get_data(as_text=True)
    assert 'action="/admin/logout/everywhere"' in header and "Đăng xuất mọi thiết bị" in header
    second_device = _login(second)
    assert analyst.post("/admin/logout/everywhere").status_code == 302
    assert not _logged_in(analyst) and not _logged_in(second_device)


def _age(app, **delta):
    """Move every session's clock back by ``delta``: created, last seen and expiries."""
    shift = timedelta(**delta)
    with app.app_context(), session_scope() as session:
        for row in session.scalars(select(StaffSession)):
            row.created_at -= shift
            row.last_seen_at -= shift
            row.absolute_expires_at -= shift
            row.expires_at -= shift


def test_an_idle_session_ends_and_a_busy_one_ends_at_its_absolute_expiry(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, SESSION_IDLE_SECONDS=600, SESSION_LIFETIME_SECONDS=3600)
    with app.app_context(), session_scope() as session:
        create_user(session, "phan-tich", PASSWORD, "analyst")
    idle = _login(app)
    _age(app, minutes=11)
    assert not _logged_in(idle)  # 11 minutes without a request > 10 minutes idle
    busy = _login(app)
    for _ in range(6):  # a request every 9 minutes keeps it alive (54 minutes) ...
        _age(app, minutes=9)
        assert _logged_in(busy)
    _age(app, minutes=9)  # ... but not past one hour after login (63 minutes), however busy
    assert not _logged_in(busy)
    # A new login purges the expired rows (the idle one went at the busy one's login).
    assert _rows(app) == 1 and _rows(app, StaffSession.expires_at <= datetime.now(UTC)) == 1
    _login(app)
    assert _rows(app) == 1 and _rows(app, StaffSession.expires_at <= datetime.now(UTC)) == 0


def test_csrf_works_with_server_side_sessions(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context(), session_scope() as session:
        create_user(session, "quan-tri", PASSWORD, "admin")
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/admin/login", data={"username": "quan-tri", "password": PASSWORD}).status_code == 400
    form = {"username": "quan-tri", "password": PASSWORD, "csrf_token": token}
    reply = client.post("/admin/login", data=form)
    assert reply.status_code == 302
    assert client.post("/admin/logout").status_code == 400  # the old (pre-login) token is gone too
    page = client.get("/admin/users").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert not _logged_in(client)


@pytest.mark.parametrize(
    "proxies, headers, secure",
    [
        (1, {"X-Forwarded-Proto": "https"}, True),  # before: HSTS sent but the cookie not Secure
        (0, {"X-Forwarded-Proto": "https"}, False),  # no trusted proxy: the header is the client's
        (1, {}, False),
    ],
)
def test_the_cookie_is_secure_when_https_is_seen_through_a_trusted_proxy(make_app, proxies, headers, secure):
    app = make_app(WTF_CSRF_ENABLED=False, TRUSTED_PROXIES=proxies)
    with app.app_context(), session_scope() as session:
        create_user(session, "phan-tich", PASSWORD, "analyst")
    reply = app.test_client().post(
        "/admin/login", data={"username": "phan-tich", "password": PASSWORD}, headers=headers
    )
    assert reply.status_code == 302
    cookie = next(h for h in reply.headers.getlist("Set-Cookie") if h.startswith("sipas_session="))
    assert ("; Secure" in cookie) is secure
    assert ("Strict-Transport-Security" in reply.headers) is secure


def test_static_files_never_look_the_session_up(hosts):
    """A page's stylesheet, scripts and icons cost no session query (a logged-in page loads several)."""
    first, _ = hosts
    client = _login(first)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = first.extensions["sipas.engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in ("/static/css/app.css", "/static/admin/admin.js", "/static/favicon.svg"):
            reply = client.get(path)
            assert reply.status_code == 200, path
            reply.close()
        assert statements == []
        assert _logged_in(client)  # the session itself is untouched
        assert any("staff_sessions" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
