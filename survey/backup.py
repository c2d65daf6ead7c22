"""Backups of the SQLite default database with SQLite's online backup API (safe while the app runs).

PostgreSQL deployments back up with the server's own tools (``pg_dump``); these commands say so.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from questionnaires.files import atomic_write

from .models import Base

# The tables of the first schema (0001): a backup from any release has them, and restoring it upgrades
# it to the current schema (later tables, e.g. response_revisions, are added then).
REQUIRED_TABLES = frozenset(
    {"users", "audit_events", "campaigns", "campaign_units", "frame_cells", "kiosks", "responses"}
) | {"alembic_version"}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    revision: str
    counts: dict[str, int]

    def describe(self) -> str:
        parts = ", ".join(f"{table} {n}" for table, n in sorted(self.counts.items()))
        return f"{self.path} (schema {self.revision}; {parts})"


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite URL; a clear error for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"backup/restore work on the SQLite default database; this one is {url.get_backend_name()} "
            "— use the server's tools (for PostgreSQL: pg_dump / pg_restore)"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def inspect_file(path: Path) -> BackupSummary:
    """Check that ``path`` is a sound sipas database and count its rows."""
    if not path.is_file():
        raise BackupError(f"{path}: file not found")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open as SQLite: {exc}") from None
    try:
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path}: not a SQLite database ({exc})") from None
        if check != "ok":
            raise BackupError(f"{path}: the database is damaged (integrity check: {check})")
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(f"{path}: not a sipas database (missing tables: {', '.join(sorted(missing))})")
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        counts = {
            t.name: conn.execute(f'SELECT COUNT(*) FROM "{t.name}"').fetchone()[0]
            for t in Base.metadata.sorted_tables
            if t.name in tables
        }
    finally:
        conn.close()
    return BackupSummary(path=path, revision=revision[0] if revision else "?", counts=counts)


def _copy(source: Path, dest: Path) -> None:
    """Copy a live SQLite database page by page (consistent even while others write)."""
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dst = sqlite3.connect(str(dest))
        try:
            src.backup(dst, pages=1024)
            # A backup file must stand alone: no -wal/-shm companions.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def backup(database_url: str, out: Path) -> BackupSummary:
    """Write a consistent copy of the database to ``out`` (atomically) and verify it."""
    source = sqlite_path(database_url)
    if not source.is_file():
        raise BackupError(f"{source}: no database here yet (run `sipas db upgrade` or `sipas demo` first)")
    out = Path(out)
    if out.resolve() == source.resolve():
        raise BackupError("the backup file cannot be the database itself")
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = atomic_write(out, lambda tmp: _copy_and_inspect(source, tmp))
    return BackupSummary(path=out, revision=summary.revision, counts=summary.counts)


def _copy_and_inspect(source: Path, dest: Path) -> BackupSummary:
    """Copy the database to ``dest`` and check the copy before it takes the backup's name."""
    _copy(source, dest)
    return inspect_file(dest)


def restore(database_url: str, source: Path, *, force: bool = False) -> tuple[BackupSummary, Path | None]:
    """Replace the database with the backup ``source``; the current one is saved first.

    Returns the restored summary and the path of the safety copy of what was replaced (if any).
    A database that already holds responses is only replaced with ``force``.
    """
    target = sqlite_path(database_url)
    incoming = inspect_file(Path(source))
    safety: Path | None = None
    if target.is_file():
        try:
            current = inspect_file(target)
        except BackupError:
            current = None
        if current and current.counts.get("responses", 0) and not force:
            raise BackupError(
                f"{target} already holds {current.counts['responses']} responses; "
                "add --force to replace it (a safety copy is kept)"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safety = target.with_name(f"{target.stem}.before-restore-{stamp}{target.suffix}")
        _copy(target, safety)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    # Restore through the backup API into the live file, so open connections see a consistent switch.
    src = sqlite3.connect(f"file:{incoming.path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(str(target), timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()
    from .db import upgrade

    upgrade(database_url)  # a backup from an older release gets the newer schema
    return inspect_file(target), safety


def _database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    from .app import create_app

    return create_app(serving=False).config["DATABASE_URL"]


@click.command("backup")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Backup file."
)
@click.option("--database-url", envvar="SIPAS_DATABASE_URL", help="Default: the instance SQLite database.")
def backup_command(out: Path, database_url: str | None) -> None:
    """Sao lưu cơ sở dữ liệu SQLite — back up the SQLite database (safe while the app runs)."""
    try:
        summary = backup(_database_url(database_url), out)
    except (BackupError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Đã sao lưu / backed up: {summary.describe()}")


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds responses.")
@click.option("--database-url", envvar="SIPAS_DATABASE_URL", help="Default: the instance SQLite database.")
def restore_command(source: Path, force: bool, database_url: str | None) -> None:
    """Khôi phục từ bản sao lưu — restore the SQLite database from a backup file."""
    try:
        summary, safety = restore(_database_url(database_url), source, force=force)
    except (BackupError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if safety:
        click.echo(f"Bản trước khi khôi phục / previous database kept at: {safety}")
    click.echo(f"Đã khôi phục / restored: {summary.describe()}")
