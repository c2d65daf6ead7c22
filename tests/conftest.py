"""Shared fixtures. Database tests run on SQLite and on PostgreSQL (the `database_url` fixture).

PostgreSQL: $SIPAS_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test. When it is
unreachable the PostgreSQL tests are skipped locally, and fail loudly in CI (CI set) or with
SIPAS_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from survey import create_app
from survey.db import make_engine, upgrade
from survey.models import Base

POSTGRES_URL = os.environ.get("SIPAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = bool(os.environ.get("CI") or os.environ.get("SIPAS_REQUIRE_POSTGRES"))
BACKENDS = ("sqlite", "postgresql")


def _postgres_error() -> str | None:
    try:
        eng = make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped at the end."""
    error = _postgres_error()
    if error:
        message = f"PostgreSQL is unreachable at {POSTGRES_URL}: {error}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (required in CI)", pytrace=False)
        pytest.skip(message)
    name = f"sipas_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A migrated SQLite file that each test copies (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return str(path)


def _truncate_all(url: str) -> None:
    eng = make_engine(url, pool_size=1, max_overflow=0)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """An empty, migrated database: a copy of the SQLite template, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        path = tmp_path / "sipas.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_template")
    _truncate_all(url)
    return url


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on the test database; keyword arguments override config."""
    apps = []

    def factory(**overrides):
        config = {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["sipas.engine"].dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
