"""Faults: nothing acknowledged is lost and nothing is stored twice, whatever breaks.

(a) The server (gunicorn, its whole process group) is killed with SIGKILL in the middle of a load of
    tablets that retry on connection errors, then started again; on SQLite and PostgreSQL.
(b) PostgreSQL drops the app's connections in the middle (``pg_terminate_backend`` on the test's own
    database, never a restart of the shared server): the pool recovers, a request in flight may get a
    clear 503, and the tablet's retry is stored exactly once.
(c) A read-only database and a full disk (SQLite ``max_page_count``): a clear 503 in Vietnamese and
    English, never a 500 with a traceback, and nothing half-written; once the fault is gone the same
    submission is stored once.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from conftest import full_answers, submission
from gunicorn_helpers import Gunicorn, server_env
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from questionnaires import load_questionnaire
from survey.db import make_engine, session_scope
from survey.models import Kiosk, Response

pytestmark = [pytest.mark.db, pytest.mark.slow]

SIPAS_2017 = load_questionnaire("sipas-2017")
UNITS = ("tra-xuan", "tra-giang", "tra-thuy", "tra-hiep")
TABLETS = 12
PER_TABLET = 25
DEADLINE = 60  # seconds for a whole load, restarts included; the tests normally take a few


# ---------------------------------------------------------------------------------------- gunicorn
@pytest.fixture
def gunicorn(database_url, tmp_path):
    servers: list[Gunicorn] = []

    def factory(**kwargs) -> Gunicorn:
        server = Gunicorn(server_env(database_url), tmp_path, **kwargs)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()


# ----------------------------------------------------------------------------------------- tablets
@dataclass
class Load:
    """What the tablets sent and what they were told."""

    bodies: dict[str, dict] = field(default_factory=dict)  # instance id -> body
    statuses: Counter = field(default_factory=Counter)
    created: Counter = field(default_factory=Counter)  # instance id -> number of 201 answers
    acknowledged: set[str] = field(default_factory=set)
    gave_up: list[str] = field(default_factory=list)
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def acks(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _bodies(tokens: dict[str, str]) -> list[list[dict]]:
    fields = ("dat_dai", "ho_tich", "chung_thuc", "xay_dung")
    per_tablet = []
    for t in range(TABLETS):
        unit = UNITS[t % len(UNITS)]
        per_tablet.append(
            [
                submission(
                    SIPAS_2017,
                    tokens[unit],
                    full_answers(
                        SIPAS_2017,
                        {
                            "linh_vuc": fields[k % 4],
                            "tiep_can_1": str(1 + (t + k) % 5),
                            "gop_y": f"Máy {t}, phiếu {k}",
                        },
                    ),
                )
                for k in range(PER_TABLET)
            ]
        )
    return per_tablet


def _tablet(port: int, bodies: list[dict], load: Load, deadline: float, retry_503: bool = True) -> None:
    """Send each form until it is acknowledged; a dropped connection or a 503 is retried, same body."""
    conn: http.client.HTTPConnection | None = None
    for body in bodies:
        payload = json.dumps(body).encode()
        iid = body["instance_id"]
        while True:
            if time.monotonic() > deadline:
                load.gave_up.append(iid)
                break
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                conn.request("POST", "/api/v1/responses", payload, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                data = reply.read()
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                with load.lock:
                    load.statuses["connection error"] += 1
                time.sleep(0.05)
                continue
            status = reply.status
            with load.lock:
                load.statuses[status] += 1
                if status in (200, 201):
                    load.acknowledged.add(iid)
                    if status == 201:
                        load.created[iid] += 1
            if status in (200, 201):
                break
            if status == 503 and retry_503:
                answer = json.loads(data)
                assert answer["error"] in ("database_unavailable", "unavailable"), answer
                assert answer["message"] and answer["message_en"]
                time.sleep(0.05)
                continue
            with load.lock:
                load.unexpected.append((status, data.decode("utf-8", "replace")[:300]))
            break
    if conn is not None:
        conn.close()


def _run_tablets(port: int, tokens: dict[str, str], load: Load, during=None) -> None:
    deadline = time.monotonic() + DEADLINE
    per_tablet = _bodies(tokens)
    for bodies in per_tablet:
        for body in bodies:
            load.bodies[body["instance_id"]] = body
    threads = [threading.Thread(target=_tablet, args=(port, b, load, deadline)) for b in per_tablet]
    for thread in threads:
        thread.start()
    if during is not None:
        during()
    for thread in threads:
        thread.join(DEADLINE + 30)


def _check_every_response_stored_once(app, load: Load) -> None:
    intended = set(load.bodies)
    assert not load.gave_up, f"{len(load.gave_up)} forms never acknowledged; statuses {load.statuses}"
    assert not load.unexpected, load.unexpected[:3]
    assert load.statuses[500] == 0
    assert load.acknowledged == intended  # every tablet got its answer in the end
    assert max(load.created.values()) == 1  # no form was "created" twice
    with app.app_context(), session_scope() as session:
        rows = session.execute(select(Response.instance_id, Response.answers)).all()
        kiosks_seen = session.scalar(
            select(func.count()).select_from(Kiosk).where(Kiosk.last_seen_at.is_not(None))
        )
    stored = Counter(r.instance_id for r in rows)
    assert set(stored) == intended  # nothing acknowledged is missing, nothing unasked is there
    assert max(stored.values()) == 1  # and nothing is there twice
    for row in rows:
        assert row.answers == load.bodies[row.instance_id]["answers"]
    assert kiosks_seen == len(UNITS)


# ----------------------------------------------------------------------------------- (a) SIGKILL
def test_sigkill_of_the_server_under_load_loses_and_duplicates_nothing(app, make_campaign, gunicorn):
    _, tokens = make_campaign("sipas-2017", kiosk_units=UNITS)
    server = gunicorn()
    load = Load()
    restarts = []

    def kill_in_the_middle() -> None:
        intended = TABLETS * PER_TABLET
        give_up = time.monotonic() + DEADLINE
        for fraction in (0.25, 0.6):
            while load.acks < intended * fraction and time.monotonic() < give_up:
                time.sleep(0.005)
            server.kill()
            time.sleep(0.3)  # tablets find the door closed for a moment
            server.start()
            restarts.append(load.acks)

    _run_tablets(server.port, tokens, load, during=kill_in_the_middle)
    assert len(restarts) == 2 and restarts[0] < TABLETS * PER_TABLET
    assert load.statuses["connection error"] > 0, load.statuses  # the kills did hit the tablets
    _check_every_response_stored_once(app, load)


# ------------------------------------------------------------------- (b) PostgreSQL drops connections
def _terminate_backends(database_url: str) -> int:
    """Terminate every other connection to this test's own database (never other databases)."""
    name = make_url(database_url).database
    assert name and name.startswith("sipas_")
    engine = make_engine(database_url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).all()
            )
    finally:
        engine.dispose()


def test_postgresql_dropping_connections_mid_load_loses_and_duplicates_nothing(
    app, make_campaign, gunicorn, database_url
):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no server connections to drop")
    _, tokens = make_campaign("sipas-2017", kiosk_units=UNITS)
    server = gunicorn()
    load = Load()
    terminated = []

    def drop_connections() -> None:
        intended = TABLETS * PER_TABLET
        give_up = time.monotonic() + DEADLINE
        for fraction in (0.2, 0.4, 0.6, 0.8):
            while load.acks < intended * fraction and time.monotonic() < give_up:
                time.sleep(0.005)
            terminated.append(_terminate_backends(database_url))

    _run_tablets(server.port, tokens, load, during=drop_connections)
    assert sum(terminated) > 0  # the app's pooled connections were there, and were cut
    _check_every_response_stored_once(app, load)

    # The pool has recovered: after one more cut, fresh forms go straight through, first try.
    _terminate_backends(database_url)
    after = Load()
    for body in _bodies(tokens)[0][:10]:
        after.bodies[body["instance_id"]] = body
    _tablet(server.port, list(after.bodies.values()), after, time.monotonic() + DEADLINE, retry_503=False)
    assert after.statuses == Counter({201: 10}), after.statuses


# ------------------------------------------------------------------- (c) read-only and full disks
def _kiosk_seen(app):
    with app.app_context(), session_scope() as session:
        return session.scalars(select(Kiosk.last_seen_at)).one()


def _count(app) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count(Response.id)))


def _assert_clear_503(reply) -> None:
    assert reply.status_code == 503, reply.get_data(as_text=True)
    data = reply.get_json()
    assert data["error"] == "database_unavailable"
    assert "Cơ sở dữ liệu" in data["message"] and "nothing was stored" in data["message_en"]
    assert reply.headers["Retry-After"]
    assert b"Traceback" not in reply.data


def _read_only_app(make_app, database_url):
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        return make_app(DATABASE_URL=f"sqlite:///file:{path}?mode=ro&uri=true", WTF_CSRF_ENABLED=False)
    sep = "&" if "?" in database_url else "?"
    return make_app(
        DATABASE_URL=f"{database_url}{sep}options=-c%20default_transaction_read_only%3Don",
        WTF_CSRF_ENABLED=False,
    )


def test_a_read_only_database_answers_503_and_writes_nothing(app, make_app, make_campaign, database_url):
    _, tokens = make_campaign("sipas-2017")
    body = submission(SIPAS_2017, tokens["tra-xuan"], full_answers(SIPAS_2017))
    read_only = _read_only_app(make_app, database_url)
    client = read_only.test_client()
    for _ in range(2):  # and again: the pool is not left in a broken state
        _assert_clear_503(client.post("/api/v1/responses", json=body))
    health = client.get("/healthz")  # it answers reads, but a host that cannot store a form is not healthy
    assert health.status_code == 503 and health.headers["Retry-After"]
    assert health.get_json()["error"] == "database_read_only"
    assert "chỉ cho phép đọc" in health.get_json()["message"]
    page = client.get(f"/k/{tokens['tra-xuan']}")  # the kiosk page records "last seen": a write
    assert page.status_code in (200, 503) and b"Traceback" not in page.data
    assert _count(app) == 0 and _kiosk_seen(app) is None
    # Writable again: the tablet's retry of the very same form is stored, once.
    writable = app.test_client()
    assert writable.post("/api/v1/responses", json=body).status_code == 201
    assert writable.post("/api/v1/responses", json=body).status_code == 200
    assert _count(app) == 1


def test_a_full_disk_answers_503_and_writes_nothing(app, make_app, make_campaign, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("a full disk is simulated with SQLite's max_page_count")
    _, tokens = make_campaign("sipas-2017")
    full = make_app(WTF_CSRF_ENABLED=False)

    @event.listens_for(full.extensions["sipas.engine"], "connect")
    def _no_room(dbapi_conn, _record) -> None:  # dbapi_conn: the DB-API connection
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages}")  # not one page more: the disk is full
        cur.close()

    client = full.test_client()
    bodies = [
        submission(SIPAS_2017, tokens["tra-xuan"], full_answers(SIPAS_2017, {"gop_y": "ý kiến " * 300}))
    ]
    bodies += [
        submission(SIPAS_2017, tokens["tra-xuan"], full_answers(SIPAS_2017, {"gop_y": str(i) * 2000}))
        for i in range(5)
    ]
    answers = [client.post("/api/v1/responses", json=b) for b in bodies]
    refused = [b for b, r in zip(bodies, answers, strict=True) if r.status_code == 503]
    assert refused, [r.status_code for r in answers]  # the disk did fill up
    for reply in answers:
        assert reply.status_code in (201, 503)
        if reply.status_code == 503:
            _assert_clear_503(reply)
    stored = _count(app)
    assert stored == len(bodies) - len(refused)  # what was refused is not half there
    with app.app_context(), session_scope() as session:
        ids = set(session.scalars(select(Response.instance_id)))
    assert ids.isdisjoint(b["instance_id"] for b in refused)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.headers["Retry-After"]
    assert health.get_json()["error"] == "database_full" and "đã đầy" in health.get_json()["message"]
    entry = full.test_client()
    with entry.session_transaction() as sess:
        sess["user_id"] = 1  # nobody: still a clean answer, not a traceback
    assert b"Traceback" not in entry.get("/admin/").data
    # Room again: the refused forms go through on retry, each exactly once.
    for body in refused:
        assert app.test_client().post("/api/v1/responses", json=body).status_code == 201
    assert _count(app) == len(bodies)
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_healthz_says_full_before_the_disk_is(make_app, database_url):
    """Less free space beside the SQLite file than HEALTHZ_MIN_FREE_BYTES is "full" (a real ENOSPC only
    shows when WAL frames are written, which a rolled-back probe never does)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's disk is the server's, not this host's")
    reply = make_app(HEALTHZ_MIN_FREE_BYTES=2**62).test_client().get("/healthz")
    assert reply.status_code == 503 and reply.get_json()["error"] == "database_full"
    assert make_app(HEALTHZ_MIN_FREE_BYTES=0).test_client().get("/healthz").status_code == 200


def test_healthz_says_busy_when_another_program_holds_the_write_lock(app, database_url, monkeypatch):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    import sqlite3

    import survey.api

    monkeypatch.setattr(survey.api, "HEALTHZ_BUSY_MS", 50)
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # e.g. a restore or a command that writes for a long time
        reply = app.test_client().get("/healthz")
        assert reply.status_code == 503 and reply.get_json()["error"] == "database_busy"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert app.test_client().get("/healthz").status_code == 200
    with app.extensions["sipas.engine"].connect() as conn:  # the probe's busy timeout was put back
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_healthz_writes_nothing(app):
    from sqlalchemy import inspect

    for _ in range(3):
        assert app.test_client().get("/healthz").get_json() == {"status": "ok"}
    assert "_sipas_healthz_probe" not in inspect(app.extensions["sipas.engine"]).get_table_names()


def test_a_database_that_goes_away_gives_503_pages_not_tracebacks(make_app):
    app = make_app(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2",
        WTF_CSRF_ENABLED=False,
    )
    client = app.test_client()
    for url in ("/admin/login", "/k/abc"):
        reply = (
            client.get(url)
            if url != "/admin/login"
            else client.post(url, data={"username": "a", "password": "b"})
        )
        assert reply.status_code == 503 and reply.mimetype == "text/html"
        assert "Tạm thời gián đoạn" in reply.get_data(as_text=True) and b"Traceback" not in reply.data


# ------------------------------------------------------------------- a kiosk's last contact is kept
def test_a_busy_kiosk_keeps_its_last_contact_to_the_minute(app, make_campaign):
    """A response refreshes its kiosk's "last seen" only when it is a minute old (what staff see)."""
    from datetime import UTC, datetime, timedelta

    from survey.storage import KIOSK_SEEN_RESOLUTION

    _, tokens = make_campaign("sipas-2017")
    client = app.test_client()

    def post() -> datetime:
        body = submission(SIPAS_2017, tokens["tra-xuan"], full_answers(SIPAS_2017))
        assert client.post("/api/v1/responses", json=body).status_code == 201
        with app.app_context(), session_scope() as session:
            received = session.scalars(
                select(Response.received_at).where(Response.instance_id == body["instance_id"])
            ).one()
        return received if received.tzinfo else received.replace(tzinfo=UTC)

    def seen() -> datetime:
        stamp = _kiosk_seen(app)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    first = post()
    assert seen() == first
    post()
    assert seen() == first  # seconds later: the kiosk row is not rewritten
    with app.app_context(), session_scope() as session:
        session.scalars(select(Kiosk)).one().last_seen_at = first - KIOSK_SEEN_RESOLUTION
    third = post()
    assert seen() == third  # a minute on, the next form refreshes it
    assert datetime.now(UTC) - seen() < timedelta(minutes=1)


def test_sqlite_commits_reach_the_disk_before_the_answer(app, database_url):
    """WAL with synchronous=FULL: an acknowledged response survives a power cut, not only a crash."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL is durable on commit by its own configuration")
    with app.extensions["sipas.engine"].connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_writers_of_different_workers_take_turns(tmp_path):
    """The writer lock is a file lock beside the database: one process at a time, reopened after fork."""
    import fcntl

    from survey.db import WriterLock

    path = tmp_path / "sipas.sqlite-writer"
    lock = WriterLock(path)
    with lock:
        assert path.exists()
        pid = os.fork()
        if pid == 0:  # a second gunicorn worker, forked while the first one writes
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os._exit(0)  # held by the other process: it has to wait its turn
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    # Released: another process gets it at once; and the forked copy of a lock opens its own file.
    pid = os.fork()
    if pid == 0:
        try:
            with lock:
                os._exit(0 if lock._pid == os.getpid() else 1)
        except Exception:  # noqa: BLE001 - the child only reports through its exit status
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
