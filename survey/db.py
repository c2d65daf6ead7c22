"""Database engine and sessions for the app, and schema migrations (Alembic)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL mode, foreign keys and a busy timeout for concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        plain_file = bool(database) and database != ":memory:" and not database.startswith("file:")
        _WRITE_LOCKS[engine] = WriterLock(Path(database + "-writer") if plain_file else None)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # dbapi_conn: the DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # FULL: every commit reaches the disk before the tablet is told "stored", so an answered
            # response survives a power cut too (NORMAL only survives a crash of the app).
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class WriterLock:
    """One writer at a time on a SQLite file, queued in the kernel rather than by polling.

    SQLite lets one writer in and makes the others poll, sleeping up to 100 ms between tries, which
    is where slow answers come from when several workers store responses at once. Threads of one
    process queue on a ``threading.Lock``; processes (gunicorn workers) on ``flock`` of a file next to
    the database, which wakes the next writer as soon as the lock is free. SQLite's own locking still
    guards everything else (admin pages, commands, other programs); this only orders our writers.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._pid != os.getpid():  # opened anew in each process: a forked fd would share the lock
            self._fd = None
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            except OSError:  # a read-only folder: SQLite will refuse the write and say so
                self.path = None
        return self._fd

    def __enter__(self) -> WriterLock:
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


_WRITE_LOCKS: WeakKeyDictionary[Engine, WriterLock] = WeakKeyDictionary()


def write_lock(session: Session) -> AbstractContextManager:
    """A lock to hold while ``session`` writes and commits: the engine's for SQLite, none otherwise."""
    bind = session.get_bind()
    lock = _WRITE_LOCKS.get(getattr(bind, "engine", bind))
    return lock if lock is not None else nullcontext()


def init_app(app: Flask) -> None:
    """Attach an engine and a session factory to ``app``; close the request's session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["sipas.engine"] = engine
    app.extensions["sipas.sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["sipas.engine"]


def get_session() -> Session:
    """The session of the current request (or app context), created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["sipas.sessionmaker"]()
    return g.db_session


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """A session outside a request (commands, scripts): commit on success, roll back on error."""
    factory = (app or current_app).extensions["sipas.sessionmaker"]
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> AlembicConfig:
    # Imported here: web workers never migrate, and Alembic is a second or so of start-up.
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision`` (Alembic)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def is_current(eng: Engine) -> bool:
    """Whether the database has our tables (used to tell the user to run `sipas db upgrade`)."""
    return inspect(eng).has_table("alembic_version")
