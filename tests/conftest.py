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
            # Test scripts tap faster than any finger: the kiosk's double-tap guard is tested on its own.
            "KIOSK_TAP_GUARD_MS": 0,
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        pool = app.extensions.get("sipas.report_executor")  # reports still being built (survey.jobs)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        app.extensions["sipas.engine"].dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


# ------------------------------------------------------------------------- survey app: data fixtures
@pytest.fixture
def make_campaign(app):
    """Create a campaign (default: sipas-2017 over the Trà Bồng communes) and one kiosk per unit given.

    Returns ``(campaign_id, {unit_code: token})``.
    """
    from survey.campaigns import create_campaign, create_kiosk
    from survey.db import session_scope

    def factory(questionnaire="sipas-2017", kiosk_units=("tra-xuan",), **kwargs):
        kwargs.setdefault("name", f"Khảo sát {questionnaire} — Trà Bồng")
        if "units" not in kwargs:
            kwargs.setdefault("unit_list", "tra-bong-2023")
        with app.app_context(), session_scope() as session:
            campaign = create_campaign(session, questionnaire=questionnaire, **kwargs)
            tokens = {unit: create_kiosk(session, campaign, unit)[1] for unit in kiosk_units}
            return campaign.id, tokens

    return factory


def full_answers(questionnaire, overrides=None, *, likert="4"):
    """A complete, valid set of answers: every relevant answerable item filled, ``overrides`` first."""
    from questionnaires import QuestionType
    from reports.synthetic import fill_answers

    def value(q, choice_list):
        if q.type is QuestionType.SINGLE:
            return likert if likert in choice_list.codes else choice_list.codes[0]
        if q.type is QuestionType.MULTIPLE:
            return list(choice_list.codes[:2])
        if q.type is QuestionType.INTEGER:
            return 2
        if q.type is QuestionType.DECIMAL:
            return 2.5
        if q.type is QuestionType.DATE:
            return "2024-05-02"
        return "Cán bộ một cửa rất nhiệt tình — cảm ơn!"

    answers = fill_answers(questionnaire, value, overrides)
    return {k: v for k, v in answers.items() if v is not None}


def submission(questionnaire, token, answers, **extra):
    """A kiosk POST body for ``answers``."""
    body = {
        "instance_id": str(uuid.uuid4()),
        "kiosk_token": token,
        "questionnaire": questionnaire.id,
        "version": questionnaire.version,
        "answers": answers,
        "started_at": "2024-05-02T08:01:00+07:00",
        "submitted_at": "2024-05-02T08:04:10+07:00",
    }
    body.update(extra)
    return body


def assign_enumerators(app, campaign_id=None) -> None:
    """Assign every enumerator account to every unit of ``campaign_id`` (None: of every campaign)."""
    from sqlalchemy import select

    from survey.assignments import assign
    from survey.db import session_scope
    from survey.models import Campaign, User

    with app.app_context(), session_scope() as session:
        campaigns = session.scalars(select(Campaign)).all()
        for user in session.scalars(select(User).where(User.role == "enumerator")).all():
            for campaign in campaigns:
                if campaign_id is None or campaign.id == campaign_id:
                    assign(session, user, campaign, None)
