"""Many tablets at once, with retries racing the originals: every response is stored exactly once.

A real HTTP server (werkzeug, one thread per request) on 127.0.0.1 and real client threads, on SQLite
and on PostgreSQL. 50 threads send 20 forms each; 20% of the forms are also sent, at the same moment,
by another thread (a retry racing its original), so the UNIQUE constraint on the instance id is what
decides. The database must end with exactly 1000 responses, each with the content that was sent.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter

import pytest
from conftest import full_answers, submission
from sqlalchemy import select
from werkzeug.serving import make_server

from questionnaires import load_questionnaire
from survey.db import session_scope
from survey.models import Response

pytestmark = [pytest.mark.db, pytest.mark.slow]

THREADS = 50
PER_THREAD = 20
RETRIED = 4  # 20% of each thread's forms are also sent by the next thread
UNITS = ("tra-xuan", "tra-giang", "tra-thuy", "tra-hiep", "tra-binh")
SIPAS_2017 = load_questionnaire("sipas-2017")


@pytest.fixture
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    thread.join(10)


def _bodies(tokens) -> list[list[dict]]:
    fields = ("dat_dai", "ho_tich", "chung_thuc", "xay_dung")
    bodies = []
    for t in range(THREADS):
        unit = UNITS[t % len(UNITS)]
        mine = []
        for k in range(PER_THREAD):
            answers = full_answers(
                SIPAS_2017,
                {
                    "linh_vuc": fields[k % 4],
                    "tiep_can_1": str(1 + (t + k) % 5),
                    "gop_y": f"Phiếu {t}-{k}: ổn",
                },
            )
            mine.append(submission(SIPAS_2017, tokens[unit], answers))
        bodies.append(mine)
    return bodies


def test_concurrent_submissions_with_racing_retries_store_each_response_once(app, server, make_campaign):
    campaign_id, tokens = make_campaign("sipas-2017", kiosk_units=UNITS)
    bodies = _bodies(tokens)
    barrier = threading.Barrier(THREADS)
    statuses: Counter[int] = Counter()
    created_ids: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def send(conn: http.client.HTTPConnection, body: dict) -> None:
        payload = json.dumps(body).encode()
        conn.request("POST", "/api/v1/responses", payload, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = json.loads(reply.read())
        with lock:
            statuses[reply.status] += 1
            if reply.status == 201:
                created_ids.append(data["instance_id"])
            elif reply.status != 200:
                failures.append(f"{reply.status}: {data}")

    def worker(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=120)
        retries = bodies[(t + 1) % THREADS][:RETRIED]  # the next thread's first forms, sent at the same time
        barrier.wait()
        try:
            for k, body in enumerate(bodies[t]):
                send(conn, body)
                if k < RETRIED:
                    send(conn, retries[k])
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread
            with lock:
                failures.append(f"thread {t}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert not failures, failures[:5]
    total = THREADS * PER_THREAD
    assert statuses == {201: total, 200: THREADS * RETRIED}
    assert len(created_ids) == len(set(created_ids)) == total

    sent = {body["instance_id"]: body for mine in bodies for body in mine}
    with app.app_context(), session_scope() as session:
        rows = session.execute(select(Response.instance_id, Response.answers, Response.campaign_id)).all()
    assert len(rows) == total
    assert {r.instance_id for r in rows} == set(sent) == set(created_ids)
    for row in rows:
        assert row.campaign_id == campaign_id
        assert row.answers["gop_y"] == sent[row.instance_id]["answers"]["gop_y"]
        assert row.answers["tiep_can_1"] == sent[row.instance_id]["answers"]["tiep_can_1"]
