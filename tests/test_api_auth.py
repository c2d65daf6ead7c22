"""Staff accounts: hashing, login lockout, audit, and roles on routes (survey.users)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import g, session
from sqlalchemy import select

import survey.users
from survey.db import get_session, session_scope
from survey.errors import UserError
from survey.models import AuditEvent, User
from survey.users import (
    authenticate,
    create_user,
    current_user,
    generate_password,
    login_user,
    logout_user,
    role_required,
)

pytestmark = pytest.mark.db
PASSWORD = "mật-khẩu-đủ-dài"


def _user(app, username, role, password=PASSWORD, **kwargs):
    with app.app_context(), session_scope() as s:
        return create_user(s, username, password, role, **kwargs).id


def _events(app):
    with app.app_context(), session_scope() as s:
        return [(e.action, e.username) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_passwords_are_hashed_with_scrypt(app):
    user_id = _user(app, "Thu.Ha", "analyst", full_name="Nguyễn Thu Hà")
    with app.app_context(), session_scope() as s:
        user = s.get(User, user_id)
        assert user.username == "thu.ha"  # names are case-insensitive, kept lower-case
        assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
        assert user.full_name == "Nguyễn Thu Hà" and user.active


@pytest.mark.parametrize(
    "username, role, password, message",
    [
        ("a", "admin", PASSWORD, "tên đăng nhập"),
        ("Hà Nội", "admin", PASSWORD, "tên đăng nhập"),
        ("ok-name", "boss", PASSWORD, "vai trò"),
        ("ok-name", "admin", "ngắn", "ít nhất 10"),
        ("existing", "admin", PASSWORD, "đã có"),
    ],
)
def test_create_user_refuses_bad_accounts(app, username, role, password, message):
    _user(app, "existing", "admin")
    with app.app_context(), session_scope() as s:
        with pytest.raises(UserError, match=message):
            create_user(s, username, password, role)


def test_generated_passwords_are_long_enough_and_differ():
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20 and all(len(p) >= 16 for p in passwords)


def test_login_failures_lock_the_account_then_it_unlocks(make_app):
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_SECONDS=600)
    _user(app, "lan", "analyst")
    with app.test_request_context("/admin/login", environ_base={"REMOTE_ADDR": "10.0.0.7"}):
        s = get_session()
        assert authenticate(s, "lan", "sai-mat-khau-1") is None
        assert authenticate(s, "LAN", "sai-mat-khau-2") is None
        assert s.scalars(select(User)).one().failed_logins == 2
        assert authenticate(s, "lan", "sai-mat-khau-3") is None  # third failure: locked
        user = s.scalars(select(User)).one()
        locked_until = (
            user.locked_until if user.locked_until.tzinfo else user.locked_until.replace(tzinfo=UTC)
        )
        assert timedelta(seconds=590) < locked_until - datetime.now(UTC) <= timedelta(seconds=600)
        assert authenticate(s, "lan", PASSWORD) is None  # the right password is refused while locked
        assert authenticate(s, "khong-co", PASSWORD) is None
        # The lockout ends.
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        s.commit()
        found = authenticate(s, "lan", PASSWORD)
        assert found is not None and found.failed_logins == 0 and found.last_login_at is not None
    assert _events(app) == [
        ("login_failed", "lan"),
        ("login_failed", "lan"),
        ("login_locked", "lan"),
        ("login_refused_locked", "lan"),
        ("login_failed", None),
        ("login", "lan"),
    ]
    with app.app_context(), session_scope() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
        assert event.remote_addr == "10.0.0.7" and event.detail == {"username": "lan"}
        unknown = s.scalars(select(AuditEvent).where(AuditEvent.username.is_(None))).one()
        assert unknown.detail == {"username": "khong-co", "reason": "unknown_or_inactive"}


def test_inactive_accounts_cannot_log_in_and_lose_their_session(app):
    user_id = _user(app, "cu", "enumerator")
    with app.test_request_context("/"):
        s = get_session()
        user = s.get(User, user_id)
        login_user(user)
        assert current_user() is user
        user.active = False
        s.commit()
        g.pop("current_user")
        assert current_user() is None
        assert authenticate(s, "cu", PASSWORD) is None


def test_login_starts_a_fresh_session_and_logout_ends_it(app):
    user_id = _user(app, "minh", "admin")
    with app.test_request_context("/"):
        session["csrf_token"] = "old"
        session["next"] = "/somewhere"
        login_user(get_session().get(User, user_id))
        assert dict(session) == {"user_id": user_id, "role": "admin", "_permanent": True}
        logout_user()
        assert dict(session) == {} and current_user() is None


# -------------------------------------------------------------------------------------------- roles
@pytest.fixture
def guarded(make_app):
    app = make_app(WTF_CSRF_ENABLED=False)

    @role_required("admin")
    def manage_users():
        return "users"

    @role_required("analyst")
    def manage_campaigns():
        return "campaigns"

    @role_required()
    def any_staff():
        return "staff"

    app.add_url_rule("/test/users", "test_users", manage_users)
    app.add_url_rule("/test/campaigns", "test_campaigns", manage_campaigns)
    app.add_url_rule("/test/staff", "test_staff", any_staff)
    app.add_url_rule("/api/v1/test/users", "test_api_users", manage_users)
    return app


def _client_as(app, role):
    client = app.test_client()
    if role is not None:
        user_id = _user(app, f"{role}-user", role)
        with client.session_transaction() as sess:
            sess["user_id"] = user_id
    return client


@pytest.mark.parametrize(
    "role, users, campaigns, staff",
    [
        ("admin", 200, 200, 200),
        ("analyst", 403, 200, 200),
        ("enumerator", 403, 403, 200),
    ],
)
def test_roles_on_routes(guarded, role, users, campaigns, staff):
    client = _client_as(guarded, role)
    assert client.get("/test/users").status_code == users
    assert client.get("/test/campaigns").status_code == campaigns
    assert client.get("/test/staff").status_code == staff
    api = client.get("/api/v1/test/users")
    assert api.status_code == users
    if users == 403:
        assert api.is_json and api.get_json()["error"] == "forbidden"


def test_not_logged_in_goes_to_the_login_page_or_gets_401_json(guarded):
    client = _client_as(guarded, None)
    page = client.get("/test/users?x=1")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/admin/login?next=")
    assert page.headers["Location"] == "/admin/login?next=/test/users?x%3D1"
    api = client.get("/api/v1/test/users")
    assert api.status_code == 401 and api.is_json and api.get_json()["error"] == "unauthorized"


def test_an_analyst_cannot_reach_the_user_pages(guarded):
    analyst = _client_as(guarded, "analyst")
    assert analyst.get("/admin/users").status_code == 403
    assert analyst.post("/admin/users", data={"username": "moi", "role": "admin"}).status_code == 403


def test_a_session_of_a_deleted_or_forged_user_is_not_logged_in(guarded):
    client = guarded.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = 9999
    assert client.get("/test/staff").status_code == 302
    with client.session_transaction() as sess:
        sess["user_id"] = "1"  # not an int: never trusted
    assert client.get("/test/staff").status_code == 302


def test_unknown_roles_are_a_programming_error():
    with pytest.raises(ValueError):
        role_required("superuser")


@pytest.mark.parametrize("threads", [16])
def test_parallel_wrong_passwords_lock_the_account_with_at_most_the_limit_checked(
    make_app, monkeypatch, database_url, threads
):
    """Before: the counter was read then written back, so all parallel guesses were checked, the count
    ended far below the limit and the right password still logged in."""
    if not database_url.startswith("postgresql"):
        pytest.skip("races between connections: PostgreSQL (SQLite takes one writer at a time)")
    app = make_app(LOGIN_MAX_FAILURES=5, LOGIN_RATE_LIMIT=1000, LOGIN_ACCOUNT_RATE_LIMIT=1000)
    _user(app, "lan", "analyst")
    with app.app_context(), session_scope() as s:
        real_hash = s.scalars(select(User.password_hash)).one()
    checked = []
    original = survey.users.check_password_hash

    def counting(stored: str, password: str) -> bool:
        if stored == real_hash:
            checked.append(password)
        time.sleep(0.05)  # a slow hash keeps the requests in flight together
        return original(stored, password)

    monkeypatch.setattr(survey.users, "check_password_hash", counting)
    start = threading.Barrier(threads)
    results = []

    def guess(i: int) -> None:
        with app.test_request_context("/admin/login", environ_base={"REMOTE_ADDR": f"10.0.1.{i}"}):
            start.wait()
            results.append(authenticate(get_session(), "lan", f"sai-mat-khau-{i}"))

    workers = [threading.Thread(target=guess, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [None] * threads
    assert len(checked) <= 5  # every attempt was counted before any password was checked
    with app.test_request_context("/admin/login", environ_base={"REMOTE_ADDR": "10.0.2.1"}):
        s = get_session()
        user = s.scalars(select(User)).one()
        assert user.locked_until is not None
        assert authenticate(s, "lan", PASSWORD) is None  # the right password is refused while locked
    assert PASSWORD not in checked
    actions = [action for action, _ in _events(app)]
    assert actions.count("login_locked") + actions.count("login_refused_locked") >= threads - 5
