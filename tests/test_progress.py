"""The terminal progress bar of score, report, plot and export: silent when not on a terminal (pipes,
cron, CliRunner), drawn when forced, and only once the work has lasted the delay."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis.progress import Progress, progress_enabled
from survey.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
SOURCE = [
    "--questionnaire", "sipas-2017",
    "--responses", str(FIXTURES / "design_responses.csv"),
    "--frame", str(FIXTURES / "design_frame.csv"),
]  # fmt: skip
COMMANDS = {
    "score": ("ket_qua.json", []),
    "report": ("bao_cao.xlsx", ["--no-figures"]),
    "plot": ("xep_hang.svg", []),
}


def _run(command: str, tmp_path: Path, env: dict[str, str]):
    name, extra = COMMANDS[command]
    out = tmp_path / name
    result = CliRunner().invoke(cli, [command, *SOURCE, *extra, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    return result


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_bar_when_not_on_a_terminal(command, tmp_path):
    result = _run(command, tmp_path, {"SIPAS_PROGRESS": None, "SIPAS_PROGRESS_DELAY": "0"})
    assert "\r" not in result.output and "[#" not in result.output and "%" not in result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_bar_is_drawn_when_forced(command, tmp_path):
    result = _run(command, tmp_path, {"SIPAS_PROGRESS": "1", "SIPAS_PROGRESS_DELAY": "0"})
    lines = [line for line in result.stderr.split("\r") if line.strip()]
    assert lines[0].startswith(f"sipas {command} [") and "  0 %" in lines[0]
    last = lines[-1]
    assert last.startswith(f"sipas {command} [##########") and "100 %" in last and "xong" in last
    assert result.stderr.endswith("\n")  # the line is ended: later output starts on its own line
    assert "\r" not in result.stdout


def test_forced_off_wins_over_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("SIPAS_PROGRESS", raising=False)
    assert progress_enabled(Tty()) and not progress_enabled(io.StringIO())
    monkeypatch.setenv("SIPAS_PROGRESS", "0")
    assert not progress_enabled(Tty())


def test_quick_work_shows_nothing_and_slow_work_shows_time(monkeypatch, capsys):
    monkeypatch.setenv("SIPAS_PROGRESS", "1")
    with Progress("nhanh", delay=5) as bar:
        bar.step("một", 0.5)
    assert capsys.readouterr().err == ""
    with Progress("chậm", delay=0.3) as bar:
        bar.step("bước dài", 0.4)
        time.sleep(0.8)
    err = capsys.readouterr().err
    assert "chậm [" in err and " 40 %" in err and "bước dài" in err and err.endswith("\n")
    assert err.split("\r")[-1].rstrip().endswith("100 %  0 s  xong")


def test_a_failure_leaves_the_bar_where_it_stopped(monkeypatch, capsys):
    monkeypatch.setenv("SIPAS_PROGRESS", "1")
    with pytest.raises(RuntimeError), Progress("lỗi", delay=0) as bar:
        bar.step("tính", 0.3)
        raise RuntimeError("x")
    err = capsys.readouterr().err
    assert " 30 %" in err.split("\r")[-1] and "xong" not in err


@pytest.mark.db
def test_export_draws_the_bar_only_when_forced(make_app, database_url, tmp_path):
    from survey.campaigns import create_campaign
    from survey.db import session_scope

    app = make_app()
    with app.app_context(), session_scope() as session:
        cid = create_campaign(
            session, name="Xuất", questionnaire="sipas-2017", units=[("tra-xuan", "Thị trấn Trà Xuân")]
        ).id
    out = str(tmp_path / "d.csv")
    args = ["export", "--campaign", str(cid), "--out", out, "--database-url", database_url]
    quiet = CliRunner().invoke(cli, args, env={"SIPAS_PROGRESS": None, "SIPAS_PROGRESS_DELAY": "0"})
    assert quiet.exit_code == 0, quiet.output
    assert "\r" not in quiet.output and "[" not in quiet.stderr
    forced = CliRunner().invoke(cli, args, env={"SIPAS_PROGRESS": "1", "SIPAS_PROGRESS_DELAY": "0"})
    assert forced.exit_code == 0, forced.output
    assert forced.stderr.split("\r")[-1].rstrip().endswith("xong") and "sipas export [" in forced.stderr
