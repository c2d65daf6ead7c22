import sqlite3
import uuid

import pytest
from sqlalchemy import select

from survey.backup import BackupError, backup, inspect_file, restore
from survey.cli import cli
from survey.db import make_engine, session_scope, upgrade
from survey.models import Campaign, Response

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _seed(app, n: int) -> list[dict]:
    """Store n responses with Vietnamese text; return what was stored."""
    sent = []
    with session_scope(app) as session:
        campaign = Campaign(
            name="Khảo sát SIPAS 2024 — Trà Bồng",
            questionnaire_id="sipas-2017",
            questionnaire_version="2017.1",
            definition={"id": "sipas-2017"},
        )
        session.add(campaign)
        session.flush()
        for i in range(n):
            answers = {"tiep_can_1": str(1 + i % 5), "gop_y": f"Cán bộ xã Hương Trà nhiệt tình #{i}"}
            row = Response(
                instance_id=str(uuid.uuid4()),
                campaign_id=campaign.id,
                questionnaire_id="sipas-2017",
                questionnaire_version="2017.1",
                unit_code="huong-tra",
                answers=answers,
                content_hash=f"{i:064d}",
                source="kiosk",
            )
            session.add(row)
            sent.append({"instance_id": row.instance_id, "answers": answers})
    return sent


def _responses(url: str) -> dict[str, dict]:
    eng = make_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(select(Response.instance_id, Response.answers, Response.unit_code)).all()
    eng.dispose()
    return {r.instance_id: {"answers": r.answers, "unit": r.unit_code} for r in rows}


def test_backup_then_restore_into_a_fresh_instance_keeps_every_response(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite'}")
    upgrade(app.config["DATABASE_URL"])
    sent = _seed(app, 57)
    summary = backup(app.config["DATABASE_URL"], tmp_path / "backups" / "b1.sqlite")
    assert summary.counts["responses"] == 57 and summary.counts["campaigns"] == 1
    assert not (tmp_path / "backups" / "b1.sqlite-wal").exists()

    fresh_url = f"sqlite:///{tmp_path / 'fresh' / 'sipas.sqlite'}"
    restored, safety = restore(fresh_url, summary.path)
    assert safety is None
    assert restored.counts == summary.counts
    assert _responses(fresh_url) == _responses(app.config["DATABASE_URL"])
    assert {r["instance_id"] for r in sent} == set(_responses(fresh_url))
    assert (
        _responses(fresh_url)[sent[3]["instance_id"]]["answers"]["gop_y"]
        == "Cán bộ xã Hương Trà nhiệt tình #3"
    )


def test_restore_refuses_to_overwrite_responses_without_force_and_keeps_a_safety_copy(make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    app = make_app(DATABASE_URL=url)
    upgrade(url)
    _seed(app, 3)
    snapshot = backup(url, tmp_path / "b.sqlite")
    _seed(app, 2)  # the live database moves on
    with pytest.raises(BackupError, match="already holds 5 responses"):
        restore(url, snapshot.path)
    assert len(_responses(url)) == 5  # nothing touched
    restored, safety = restore(url, snapshot.path, force=True)
    assert restored.counts["responses"] == 3
    assert inspect_file(safety).counts["responses"] == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database", "not a SQLite database"),
        (None, "not a sipas database"),
    ],
)
def test_restore_rejects_files_that_are_not_sipas_backups(tmp_path, content, message):
    bad = tmp_path / "bad.sqlite"
    if content is None:
        sqlite3.connect(bad).execute("CREATE TABLE other (x)").connection.commit()
    else:
        bad.write_bytes(content)
    target = tmp_path / "target.sqlite"
    with pytest.raises(BackupError, match=message):
        restore(f"sqlite:///{target}", bad)
    assert not target.exists()


def test_backup_of_postgresql_points_to_pg_dump(tmp_path):
    with pytest.raises(BackupError, match="pg_dump"):
        backup(POSTGRES_URL, tmp_path / "x.sqlite")


def test_commands_print_one_line_errors(tmp_path):
    from click.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["restore", str(tmp_path / "missing.sqlite"), "--database-url", f"sqlite:///{tmp_path / 't.sqlite'}"],
    )
    assert result.exit_code == 1
    assert "file not found" in result.output and "Traceback" not in result.output
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    result = runner.invoke(cli, ["backup", "--out", str(tmp_path / "copy.sqlite"), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "responses 0" in result.output
