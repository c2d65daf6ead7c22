"""Load benchmark: many tablets posting complete sipas-2017 responses to the app under gunicorn.

Sets up its own database (PostgreSQL ``sipas_load``, or a SQLite file in WAL mode), migrates it,
creates a campaign over the 16 communes of Trà Bồng with one kiosk link per tablet, starts gunicorn
on 127.0.0.1, and lets ``--clients`` simulated tablets post responses through ``POST
/api/v1/responses`` over persistent HTTP/1.1 connections (one per tablet, an asyncio client), bounded
by ``--requests`` and ``--duration``. Every response carries a fresh UUID instance id and random valid
answers; a share of them (``--retry-share``) is deliberately sent a second time, as a tablet on flaky
Wi-Fi does, and must be answered ``200 duplicate``. A connection error is retried with the same body.

It prints the throughput (accepted responses per second: 201 and 200), latency percentiles, the
answers by status, the CPU used by the client and by the server, and then checks the database against
what was acknowledged: every instance id answered 201/200 is stored exactly once with the answers that
were sent; nothing was stored twice; nothing was stored that was never sent.

    .venv/bin/python benchmarks/load.py --db both --runs 3
    .venv/bin/python benchmarks/load.py --db sqlite --clients 64 --requests 6000 --duration 60

Exit status 1 when a response was lost, duplicated or altered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from questionnaires import Questionnaire, QuestionType, load_questionnaire  # noqa: E402
from survey.campaigns import create_campaign, create_kiosk  # noqa: E402
from survey.db import make_engine, upgrade  # noqa: E402
from survey.models import Response  # noqa: E402
from survey.validation import validate_answers  # noqa: E402

QUESTIONNAIRE = "sipas-2017"
UNIT_LIST = "tra-bong-2023"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/sipas_load"
COMMENTS = (
    "Cán bộ một cửa nhiệt tình, chu đáo.",
    "Nên có thêm ghế ngồi chờ.",
    "Thủ tục nhanh hơn trước — cảm ơn!",
    "Đề nghị niêm yết phí rõ hơn ở quầy số 2.",
    "",
)


# --------------------------------------------------------------------------------------- payloads
def random_answers(q: Questionnaire, rng: random.Random) -> dict[str, Any]:
    """Complete, valid random answers: every relevant item answered, as the server will store them."""
    for _ in range(20):
        raw: dict[str, Any] = {}
        for question in q.questions():
            if not question.type.is_answerable or question.type.is_metadata:
                continue
            kind = question.type
            if kind is QuestionType.SINGLE:
                raw[question.code] = rng.choice(q.choice_list(question).codes)
            elif kind is QuestionType.MULTIPLE:
                codes = q.choice_list(question).codes
                raw[question.code] = rng.sample(codes, rng.randint(1, min(3, len(codes))))
            elif kind is QuestionType.INTEGER:
                raw[question.code] = rng.randint(1, 5)
            elif kind is QuestionType.DECIMAL:
                raw[question.code] = round(rng.uniform(1, 5), 1)
            elif kind is QuestionType.DATE:
                raw[question.code] = "2024-05-02"
            else:
                comment = rng.choice(COMMENTS)
                if comment:
                    raw[question.code] = comment
        kept, errors = validate_answers(q, raw)
        if not errors:
            return kept
    raise RuntimeError(f"could not generate valid answers for {q.id}: {errors}")


@dataclass
class Tablet:
    unit: str
    token: str


def make_bodies(q: Questionnaire, tablets: list[Tablet], count: int, seed: int) -> list[bytes]:
    """``count`` request bodies, round-robin over the tablets, each with a fresh instance id."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    bodies = []
    for i in range(count):
        tablet = tablets[i % len(tablets)]
        begun = start + timedelta(seconds=37 * i)
        body = {
            "instance_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "kiosk_token": tablet.token,
            "questionnaire": q.id,
            "version": q.version,
            "answers": random_answers(q, rng),
            "started_at": begun.isoformat(),
            "submitted_at": (begun + timedelta(seconds=rng.randint(60, 400))).isoformat(),
        }
        bodies.append(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    return bodies


# --------------------------------------------------------------------------------------- database
@dataclass
class Database:
    url: str
    campaign_id: int
    tablets: list[Tablet]
    workdir: Path


def set_up_database(kind: str, clients: int, postgres_url: str, workdir: Path) -> Database:
    """A fresh, migrated database with a campaign over the 16 communes and one kiosk per tablet."""
    if kind == "postgresql":
        url = make_url(postgres_url)
        name = url.database or "sipas_load"
        if not name.startswith("sipas_"):
            raise SystemExit(f"refusing to recreate database {name!r}: its name must start with sipas_")
        admin = make_engine(
            url.set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
            pool_size=1,
            max_overflow=0,
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        database_url = url.render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{workdir / 'load.sqlite'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        campaign = create_campaign(
            session,
            name="Đo tải — Trà Bồng",
            questionnaire=QUESTIONNAIRE,
            unit_list=UNIT_LIST,
            period_start="2024-05-01",
            period_end="2024-05-31",
        )
        units = [u.unit_code for u in campaign.units]
        tablets = []
        for i in range(clients):
            unit = units[i % len(units)]
            _, token = create_kiosk(session, campaign, unit, counter=f"Máy {i + 1}")
            tablets.append(Tablet(unit, token))
        session.commit()
        campaign_id = campaign.id
    engine.dispose()
    return Database(database_url, campaign_id, tablets, workdir)


@dataclass
class Check:
    stored: int
    lost: list[str]
    duplicated: list[str]
    unexpected: list[str]
    altered: list[str]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.altered)


def check_database(db: Database, sent: dict[str, dict], acknowledged: set[str]) -> Check:
    """Compare the stored rows with what was sent and acknowledged."""
    engine = make_engine(db.url)
    with Session(engine) as session:
        rows = session.execute(
            select(Response.instance_id, Response.answers).where(Response.campaign_id == db.campaign_id)
        ).all()
        dupes = session.execute(
            select(Response.instance_id).group_by(Response.instance_id).having(func.count(Response.id) > 1)
        ).scalars()
        duplicated = sorted(dupes)
    engine.dispose()
    stored = Counter(r.instance_id for r in rows)
    answers = {r.instance_id: r.answers for r in rows}
    lost = sorted(acknowledged - set(stored))
    unexpected = sorted(set(stored) - set(sent))
    altered = sorted(iid for iid in answers if iid in sent and answers[iid] != sent[iid])
    duplicated = sorted(set(duplicated) | {iid for iid, n in stored.items() if n > 1})
    return Check(len(rows), lost, duplicated, unexpected, altered)


# ---------------------------------------------------------------------------------------- gunicorn
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the gunicorn master and its workers (from /proc)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in _process_tree(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine, all cores together (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds(url: str) -> float:
    """CPU of the PostgreSQL backends serving ``url``'s database (0 for SQLite, which runs in-process)."""
    name = make_url(url).database
    if not url.startswith("postgresql") or not name:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres:") or f" {name} " not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def start_gunicorn(db: Database, args: argparse.Namespace) -> Server:
    """Start ``gunicorn wsgi:app`` on 127.0.0.1 in its own process group and wait for /healthz."""
    port = args.port or free_port()
    log = db.workdir / "gunicorn.log"
    env = {
        **os.environ,
        "SIPAS_DATABASE_URL": db.url,
        "SIPAS_SECRET_KEY": secrets.token_urlsafe(32),
        "SIPAS_INSTANCE_PATH": str(db.workdir / "instance"),
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--keep-alive",
        "75",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        # The time each request spent in a worker, to tell it from the time spent waiting for one.
        "--access-logfile",
        str(db.workdir / "access.log"),
        "--access-logformat",
        "%(M)s",
        *(["--preload"] if args.preload else []),
        "--chdir",
        str(ROOT),
        "wsgi:app",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"gunicorn exited with {process.returncode}; see {log}:\n{log.read_text()[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise SystemExit(f"gunicorn did not answer /healthz within 30 s; see {log}")


# ------------------------------------------------------------------------------------------ client
@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, every answered request
    statuses: Counter = field(default_factory=Counter)  # status code (or "conn_error") -> count
    acknowledged: set[str] = field(default_factory=set)  # instance ids answered 201 or 200
    created: Counter = field(default_factory=Counter)  # instance id -> number of 201 answers
    retries_sent: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    @property
    def accepted(self) -> int:
        return self.statuses[201] + self.statuses[200]

    def percentile(self, p: float) -> float:
        return _percentile(sorted(self.latencies), p)


class Connection:
    """A minimal HTTP/1.1 keep-alive client connection (just enough for our JSON API)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        ).encode("ascii")
        self.writer.write(head + body)
        return await asyncio.wait_for(self._read(), timeout)

    async def _read(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_load(
    port: int,
    bodies: list[bytes],
    ids: list[str],
    args: argparse.Namespace,
    requests: int,
    duration: float,
    rate: float | None = None,
) -> Result:
    """Post ``bodies`` from ``args.clients`` tablets: at most ``requests`` posts in ``duration`` seconds.

    ``rate=None``: every tablet posts again as soon as it has its answer (the most the server takes).
    ``rate=R``: together the tablets post R times a second on a fixed schedule, and a post's latency
    counts from when it was due, so a server that falls behind shows it (no coordinated omission).
    """
    result = Result()
    rng = random.Random(args.seed + 1)
    deadline = time.monotonic() + duration
    budget = {"left": requests}
    queue = list(range(len(bodies)))
    queue.reverse()

    interval = args.clients / rate if rate else 0.0
    t0 = time.perf_counter()

    async def tablet(n: int) -> None:
        conn = Connection(port)
        retry: int | None = None
        due = t0 + interval * n / args.clients  # tablets spread evenly over one interval
        while budget["left"] > 0 and time.monotonic() < deadline:
            if rate:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            if retry is not None:
                index, retry = retry, None
                result.retries_sent += 1
            elif queue:
                index = queue.pop()
            else:
                break
            budget["left"] -= 1
            scheduled = due if rate else None
            due += interval
            while True:  # a connection error is retried with the same body (idempotent)
                started = scheduled if scheduled is not None else time.perf_counter()
                scheduled = None
                try:
                    status, _ = await conn.post("/api/v1/responses", bodies[index], args.timeout)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    conn.close()
                    result.statuses["conn_error"] += 1
                    if time.monotonic() > deadline + args.timeout:
                        return
                    await asyncio.sleep(0.05)
                    continue
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] += 1
                if status in (200, 201):
                    result.acknowledged.add(ids[index])
                    if status == 201:
                        result.created[ids[index]] += 1
                        if rng.random() < args.retry_share:
                            retry = index
                elif status == 503:
                    await asyncio.sleep(0.05)
                    continue
                break
        conn.close()

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(tablet(n) for n in range(args.clients)))
    result.elapsed = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return result


# -------------------------------------------------------------------------------------------- runs
@dataclass
class RunFigures:
    db: str
    accepted_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    accepted: int
    statuses: dict[str, int]
    client_cpu_pct: float  # of one core, during the load
    server_cpu_pct: float  # gunicorn master and workers
    server_cpu_ms: float  # gunicorn CPU per accepted response
    database_cpu_ms: float  # PostgreSQL backends' CPU per accepted response (0 for SQLite)
    machine_busy_pct: float  # every process on the machine (PostgreSQL and anything else running)
    load_average: float  # the 1-minute load average when the run started
    worker_p50_ms: float  # time spent inside a gunicorn worker (its access log), not waiting for one
    worker_p99_ms: float
    stored: int
    lost: int
    duplicated: int
    unexpected: int
    altered: int
    created_twice: int


def wait_for_quiet(busy_below: float, patience: float) -> float:
    """Wait until the rest of the machine is nearly idle (busy below ``busy_below`` % of all CPUs over
    3 s), at most ``patience`` seconds; return the busy share last seen. The VM is shared, and a run
    that starts while a neighbour compiles or runs its tests measures the neighbour."""
    cores = os.cpu_count() or 1
    give_up = time.monotonic() + patience
    while True:
        before = machine_busy_seconds()
        time.sleep(3)
        busy = 100 * (machine_busy_seconds() - before) / (3 * cores)
        if busy < busy_below or time.monotonic() > give_up:
            return busy
        print(f"  (waiting: the machine is {busy:.0f}% busy)", flush=True)
        time.sleep(10)


def one_run(kind: str, args: argparse.Namespace, run: int) -> RunFigures:
    q = load_questionnaire(QUESTIONNAIRE)
    workdir = Path(tempfile.mkdtemp(prefix=f"sipas-load-{kind}-"))
    try:
        db = set_up_database(kind, args.clients, args.postgres_url, workdir)
        bodies = make_bodies(q, db.tablets, args.warmup + args.requests, seed=args.seed + run)
        decoded = [json.loads(b) for b in bodies]
        ids = [d["instance_id"] for d in decoded]
        sent = {d["instance_id"]: d["answers"] for d in decoded}
        if args.quiet_below:
            wait_for_quiet(args.quiet_below, args.patience)
        server = start_gunicorn(db, args)
        try:
            # Warm-up (every worker booted, its pool filled, the campaign's questionnaire cached):
            # stored and checked like the rest, but not timed.
            warm = args.warmup
            warmed = asyncio.run(run_load(server.port, bodies[:warm], ids[:warm], args, warm, args.duration))
            load_average = os.getloadavg()[0]
            cpu_before = server.cpu_seconds()
            database_before = database_cpu_seconds(db.url)
            busy_before = machine_busy_seconds()
            result = asyncio.run(
                run_load(
                    server.port, bodies[warm:], ids[warm:], args, args.requests, args.duration, args.rate
                )
            )
            result.server_cpu = server.cpu_seconds() - cpu_before
            # Backends that ended during the run are missed: the pool keeps them open, so few do.
            database_cpu = database_cpu_seconds(db.url) - database_before
            busy = machine_busy_seconds() - busy_before
        finally:
            server.stop()
        check = check_database(db, sent, result.acknowledged | warmed.acknowledged)
        worker_ms = sorted(_worker_times(db.workdir / "access.log")[-len(result.latencies) :])
        figures = RunFigures(
            db=kind,
            accepted_per_s=result.accepted / result.elapsed,
            p50_ms=1000 * result.percentile(50),
            p95_ms=1000 * result.percentile(95),
            p99_ms=1000 * result.percentile(99),
            requests=len(result.latencies),
            accepted=result.accepted,
            statuses={str(k): v for k, v in sorted(result.statuses.items(), key=lambda kv: str(kv[0]))},
            client_cpu_pct=100 * result.client_cpu / result.elapsed,
            server_cpu_pct=100 * result.server_cpu / result.elapsed,
            server_cpu_ms=1000 * result.server_cpu / max(result.accepted, 1),
            database_cpu_ms=1000 * database_cpu / max(result.accepted, 1),
            machine_busy_pct=100 * busy / result.elapsed,
            load_average=load_average,
            worker_p50_ms=_percentile(worker_ms, 50),
            worker_p99_ms=_percentile(worker_ms, 99),
            stored=check.stored,
            lost=len(check.lost),
            duplicated=len(check.duplicated),
            unexpected=len(check.unexpected),
            altered=len(check.altered),
            created_twice=sum(1 for n in (result.created + warmed.created).values() if n > 1),
        )
        if not check.ok:
            print(
                f"  lost: {check.lost[:5]} duplicated: {check.duplicated[:5]} "
                f"unexpected: {check.unexpected[:5]} altered: {check.altered[:5]}"
            )
        return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _worker_times(path: Path) -> list[float]:
    try:
        return [float(line) for line in path.read_text().split() if line.strip()]
    except (OSError, ValueError):
        return []


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def print_run(f: RunFigures, run: int) -> None:
    statuses = ", ".join(f"{k}: {v}" for k, v in f.statuses.items())
    print(
        f"  run {run}: {f.accepted_per_s:7.1f} accepted/s  p50 {f.p50_ms:6.1f} ms  p95 {f.p95_ms:6.1f} ms  "
        f"p99 {f.p99_ms:6.1f} ms (in a worker: p50 {f.worker_p50_ms:.0f}, p99 {f.worker_p99_ms:.0f} ms)  "
        f"[{statuses}]  CPU: client {f.client_cpu_pct:.0f}%, gunicorn "
        f"{f.server_cpu_pct:.0f}% ({f.server_cpu_ms:.2f} ms/response), PostgreSQL {f.database_cpu_ms:.2f} "
        f"ms/response, machine {f.machine_busy_pct:.0f}% of "
        f"{100 * (os.cpu_count() or 1)}% (load average {f.load_average:.1f} at start)  stored {f.stored}, "
        f"lost {f.lost}, duplicated {f.duplicated}, unexpected {f.unexpected}, altered {f.altered}, "
        f"created twice {f.created_twice}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=64, help="simulated tablets (connections)")
    parser.add_argument("--requests", type=int, default=6000, help="posts in all, retries included")
    parser.add_argument("--duration", type=float, default=60, help="seconds at most per run")
    parser.add_argument("--retry-share", type=float, default=0.05, help="share of responses sent twice")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rate", type=float, help="posts per second from all tablets together (default: as fast as answered)"
    )
    parser.add_argument("--warmup", type=int, default=320, help="posts before the timed part (checked too)")
    parser.add_argument("--preload", action="store_true", help="gunicorn --preload (load the app once)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a client waits for an answer")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0,
        help="before each run, wait until the machine is less busy than this (%% of all CPUs)",
    )
    parser.add_argument("--patience", type=float, default=1800, help="seconds to wait for quiet, at most")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--postgres-url", default=os.environ.get("SIPAS_LOAD_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--json", type=Path, help="write every run's figures to this file")
    args = parser.parse_args(argv)
    # Stopped from outside: still stop gunicorn and remove the work folder on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    print(
        f"{args.clients} tablets, ≤ {args.requests} posts, ≤ {args.duration:.0f} s, "
        f"{f'{args.rate:g} posts/s offered' if args.rate else 'back to back'}, "
        f"gunicorn {args.worker_class} {args.workers} workers × {args.threads} threads"
        f"{' (preload)' if args.preload else ''}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    everything: dict[str, list[dict]] = {}
    failed = False
    for kind in kinds:
        print(f"{kind}:", flush=True)
        runs = []
        for run in range(1, args.runs + 1):
            figures = one_run(kind, args, run)
            print_run(figures, run)
            runs.append(figures)
            failed |= bool(figures.lost or figures.duplicated or figures.unexpected or figures.altered)
            failed |= figures.created_twice > 0
        med = {
            name: statistics.median(getattr(r, name) for r in runs)
            for name in (
                "accepted_per_s",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "client_cpu_pct",
                "server_cpu_pct",
                "server_cpu_ms",
                "machine_busy_pct",
            )
        }
        lost = sum(r.lost for r in runs)
        duplicated = sum(r.duplicated for r in runs)
        print(
            f"  median of {len(runs)}: {med['accepted_per_s']:.1f} accepted/s, p50 {med['p50_ms']:.1f} ms, "
            f"p95 {med['p95_ms']:.1f} ms, p99 {med['p99_ms']:.1f} ms, "
            f"client CPU {med['client_cpu_pct']:.0f}%, "
            f"gunicorn CPU {med['server_cpu_pct']:.0f}% ({med['server_cpu_ms']:.2f} ms/response), machine "
            f"{med['machine_busy_pct']:.0f}%; lost {lost}, duplicated {duplicated}",
            flush=True,
        )
        everything[kind] = [r.__dict__ for r in runs]
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, ensure_ascii=False), encoding="utf-8")
    if failed:
        print("FAILED: a response was lost, duplicated, altered or created twice", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
