"""The `sipas` group: subcommands imported on first use, and scoring a file never loads Flask."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from questionnaires import load_questionnaire
from survey import cli as sipas


def test_score_and_report_of_a_file_never_import_flask(tmp_path):
    questionnaire = load_questionnaire("sipas-2017")
    likert = [q for q in questionnaire.questions() if q.appearance == "likert"]
    rng = np.random.default_rng(11)
    rows = []
    for i, unit in enumerate(["tra-xuan", "tra-bui", "son-tra"] * 8):
        row = {
            "response_id": f"R{i:03d}",
            "unit": unit,
            "da_gop_y": 2,
        }  # 2: no complaint, so phan_anh_* blank
        rows.append(row | {q.code: None if q.relevant else int(rng.integers(1, 6)) for q in likert})
    responses = tmp_path / "phieu.csv"
    pd.DataFrame(rows).to_csv(responses, index=False)
    script = textwrap.dedent(
        f"""
        import atexit, sys
        atexit.register(lambda: print("flask imported:", "flask" in sys.modules))
        from survey.cli import cli, main
        cli.main(["score", "-q", "sipas-2017", "-r", {str(responses)!r}, "-o", "chi-so.json"],
                 standalone_mode=False)
        main(["report", "-q", "sipas-2017", "-r", {str(responses)!r}, "--no-figures", "-o", "bao-cao.xlsx"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("flask imported: False"), done.stdout
    assert "3 đơn vị, 24 phiếu" in done.stdout and "Đã ghi bao-cao.xlsx (3 đơn vị" in done.stdout
    assert (tmp_path / "chi-so.json").stat().st_size and (tmp_path / "bao-cao.xlsx").stat().st_size


def test_a_subcommand_whose_module_is_missing_is_an_error_not_a_gap(monkeypatch, capsys):
    monkeypatch.setitem(sipas.COMMANDS, "ghost", "survey.no_such_module:ghost")
    result = CliRunner().invoke(sipas.cli, ["ghost"])
    assert isinstance(result.exception, ModuleNotFoundError)
    assert "ghost" in sipas.cli.list_commands(click.Context(sipas.cli))
    with pytest.raises(SystemExit) as exited:
        sipas.main(["ghost"])
    assert exited.value.code == 2
    assert "internal error: ModuleNotFoundError" in capsys.readouterr().err
