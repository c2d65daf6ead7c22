"""Two app hosts on one PostgreSQL database, as a province runs them behind a load balancer: two
``gunicorn wsgi:app`` (2 workers x 2 threads each) on two loopback ports, one fresh database, one secret
key. Logins, lockout, the address rate limit, sessions and idempotency must hold across both."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from conftest import POSTGRES_URL, _postgres_error, full_answers, submission
from gunicorn_helpers import Gunicorn, server_env
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from questionnaires import load_questionnaire
from survey import create_app
from survey.campaigns import create_campaign, create_kiosk
from survey.db import make_engine, session_scope, upgrade
from survey.models import AuditEvent, Response, User
from survey.users import create_user

pytestmark = [pytest.mark.slow, pytest.mark.db]

PASSWORD = "mật-khẩu-đủ-dài-1"
MAX_FAILURES = 5
ADDRESS_LIMIT = 10
WORKERS, THREADS = 2, 2
SIPAS_2017 = load_questionnaire("sipas-2017")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie jar and a client address (X-Forwarded-For through the one trusted proxy hop)."""

    def __init__(self, address: str = "203.0.113.1"):
        self.jar = http.cookiejar.CookieJar()
        self.address = address
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, url: str, data: dict | None = None, body: bytes | None = None, json_body=None):
        headers = {"X-Forwarded-For": self.address}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
        try:
            with self.opener.open(req, timeout=20) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def login_form(self, host: Gunicorn) -> str:
        status, page = self.request(host.base + "/admin/login")
        assert status == 200, page
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def login(self, host: Gunicorn, username: str, password: str, token: str | None = None) -> int:
        token = token or self.login_form(host)
        status, _ = self.request(
            host.base + "/admin/login", data={"username": username, "password": password, "csrf_token": token}
        )
        return status

    def logged_in(self, host: Gunicorn) -> bool:
        return self.request(host.base + "/admin/")[0] == 200

    def csrf(self, host: Gunicorn, page: str = "/admin/users") -> str:
        status, html = self.request(host.base + page)
        assert status == 200, html
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def database(tmp_path) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, migrated; dropped at the end."""
    error = _postgres_error()
    if error:
        pytest.skip(f"PostgreSQL is unreachable at {POSTGRES_URL}: {error}")
    name = f"sipas_multihost_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _parallel(jobs) -> list:
    """Run the callables at the same moment, one thread each; their results in order."""
    start = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        start.wait()
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_gunicorn_hosts_on_one_database(database, tmp_path):
    app = create_app({"DATABASE_URL": database, "INSTANCE_PATH": str(tmp_path / "setup")}, serving=False)
    with app.app_context(), session_scope() as session:
        for name, role in (("lan", "analyst"), ("quan-tri", "admin"), ("phan-tich", "analyst")):
            create_user(session, name, PASSWORD, role)
        campaign = create_campaign(
            session, name="Khảo sát", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        _, token = create_kiosk(session, campaign, "tra-xuan")
    env = server_env(
        database,
        TRUSTED_PROXIES="1",
        LOGIN_MAX_FAILURES=str(MAX_FAILURES),
        LOGIN_RATE_LIMIT=str(ADDRESS_LIMIT),
        LOGIN_ACCOUNT_RATE_LIMIT="1000",
    )
    hosts = [Gunicorn(env, tmp_path, WORKERS, THREADS) for _ in range(2)]
    try:
        for host in hosts:
            host.launch()
        for host in hosts:
            host.wait_ready()
        _lockout_holds_across_hosts(app, hosts)
        _the_address_limit_holds_across_hosts(hosts)
        _sessions_end_on_every_host(hosts)
        _an_instance_id_is_stored_once(app, hosts, token)
    finally:
        for host in hosts:
            host.stop()
        app.extensions["sipas.engine"].dispose()


def _lockout_holds_across_hosts(app, hosts: list[Gunicorn]) -> None:
    """24 parallel wrong passwords over both hosts, each from its own address: the account locks."""
    guesses = 24
    browsers = [Browser(f"203.0.113.{i + 10}") for i in range(guesses)]
    tokens = [browser.login_form(hosts[i % 2]) for i, browser in enumerate(browsers)]
    jobs = [
        (lambda b=b, h=hosts[i % 2], t=tokens[i], i=i: b.login(h, "lan", f"sai-mat-khau-{i}", t))
        for i, b in enumerate(browsers)
    ]
    assert Counter(_parallel(jobs)) == {401: guesses}
    with app.app_context(), session_scope() as session:
        actions = Counter(
            session.scalars(select(AuditEvent.action).where(AuditEvent.username == "lan")).all()
        )
        locked = session.scalar(select(User.locked_until).where(User.username == "lan"))
    checked = actions["login_failed"] + actions["login_locked"]
    # Before: all 24 were checked, the counter ended at 3 and the right password then logged in.
    assert checked <= MAX_FAILURES + 2 * WORKERS * THREADS, actions
    assert actions["login_locked"] >= 1 and locked is not None, actions
    assert Browser("203.0.113.200").login(hosts[1], "lan", PASSWORD) == 401  # refused while locked


def _the_address_limit_holds_across_hosts(hosts: list[Gunicorn]) -> None:
    """Failed logins from one address, alternating the hosts: the limit counts them all."""
    attacker = Browser("198.51.100.7")
    token = attacker.login_form(hosts[0])
    codes = [
        attacker.login(hosts[i % 2], f"khong-co-{i}", "sai-mat-khau", token) for i in range(3 * ADDRESS_LIMIT)
    ]
    # Before: 4 workers each counted their own, so 40 of 60 were checked with a limit of 10.
    assert codes == [401] * ADDRESS_LIMIT + [429] * (2 * ADDRESS_LIMIT)


def _sessions_end_on_every_host(hosts: list[Gunicorn]) -> None:
    """A session logged out on one host, or ended by an admin there, is refused on the other."""
    a, b = hosts
    me = Browser("203.0.113.50")
    assert me.login(a, "quan-tri", PASSWORD) == 302
    assert me.logged_in(b)  # the same cookie works on the other host
    cookie = next(iter(me.jar))
    stolen = Browser("203.0.113.66")
    stolen.jar.set_cookie(cookie)
    assert stolen.logged_in(b)
    status, _ = me.request(a.base + "/admin/logout", data={"csrf_token": me.csrf(a)})
    assert status == 302
    assert not stolen.logged_in(b) and not stolen.logged_in(a)  # before: still logged in after logout
    admin, analyst = Browser("203.0.113.51"), Browser("203.0.113.52")
    assert admin.login(a, "quan-tri", PASSWORD) == 302
    assert analyst.login(b, "phan-tich", PASSWORD) == 302
    assert analyst.logged_in(b)
    status, page = admin.request(a.base + "/admin/users")
    victim = re.search(r'action="/admin/users/(\d+)/sessions/end"', page).group(1)
    status, _ = admin.request(
        a.base + f"/admin/users/{victim}/sessions/end", data={"csrf_token": admin.csrf(a)}
    )
    assert status == 302
    assert not analyst.logged_in(b) and not analyst.logged_in(a)
    assert admin.logged_in(b)


def _an_instance_id_is_stored_once(app, hosts: list[Gunicorn], token: str) -> None:
    body = submission(SIPAS_2017, token, full_answers(SIPAS_2017))
    kiosk = Browser("203.0.113.80")
    replies = _parallel(
        [lambda h=h: kiosk.request(h.base + "/api/v1/responses", json_body=body) for h in hosts]
    )
    assert sorted(status for status, _ in replies) == [200, 201], replies
    with app.app_context(), session_scope() as session:
        stored = session.scalar(
            select(func.count()).select_from(Response).where(Response.instance_id == body["instance_id"])
        )
    assert stored == 1
