"""The ``sipas score`` command: files in, JSON/CSV out, one-line errors."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.cli import score as score_command
from survey.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"


def run(*args: str):
    return CliRunner().invoke(cli, ["score", *args], catch_exceptions=False)


def test_score_to_json_with_frame_and_unit_list(tmp_path):
    out = tmp_path / "ket_qua.json"
    result = run(
        "--questionnaire", "sipas-2017",
        "--responses", str(FIXTURES / "design_responses.csv"),
        "--frame", str(FIXTURES / "design_frame.csv"),
        "--unit-list", "tra-bong-2023",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["questionnaire"] == "sipas-2017" and data["method"] == "share_satisfied"
    assert len(data["units"]) == 16  # the whole unit list; 12 communes without responses
    xuan = next(u for u in data["units"] if u["unit"] == "tra-xuan")
    assert xuan["name"] == "Thị trấn Trà Xuân"
    expected = pd.read_csv(FIXTURES / "design_expected.csv").set_index("domain")
    assert xuan["index"] == pytest.approx(expected.loc["tra-xuan", "index"], abs=1e-9)
    assert data["overall"]["rank"] is None
    empty = next(u for u in data["units"] if u["unit"] == "tra-tay")
    assert empty["index"] is None and "no_data" in empty["flags"]
    for key in (
        "unit",
        "n",
        "index",
        "se",
        "ci_low",
        "ci_high",
        "rank",
        "deff",
        "elements",
        "criteria",
        "flags",
    ):
        assert key in xuan
    assert "16 đơn vị" in result.output


def test_score_to_csv_with_previous(tmp_path):
    first = tmp_path / "2022.json"
    args = ["-q", "sipas-2017", "-r", str(FIXTURES / "unweighted_responses.csv")]
    assert run(*args, "--out", str(first)).exit_code == 0
    out = tmp_path / "2023.csv"
    result = run(*args, "--previous", str(first), "--min-n", "40", "--rank-probability", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert len(table) == 5
    assert (table["change"] == 0).all() and (table["rank_change"] == 0).all()
    assert table["flags"].fillna("").str.contains("small_sample").sum() == 4  # only tra-thuy has 41
    assert table["rank_probability"].between(0, 1).all()
    assert "cảnh báo" in result.output  # tra-hiep has a criterion without answers


def test_points_questionnaire_from_a_file(tmp_path):
    out = tmp_path / "diem.json"
    result = run(
        "-q", str(FIXTURES / "points_questionnaire.yaml"),
        "-r", str(FIXTURES / "points_responses.csv"),
        "--frame", str(FIXTURES / "points_frame.csv"),
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["method"] == "points" and data["overall"]["max_points"] == 6.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-q", "sipas-2099", "-r", "x.csv", "--out", "o.json"], "sipas-2099"),
        (["-q", "sipas-2017", "--out", "o.json"], "--responses"),
        (["-q", "sipas-2017", "-r", "missing.csv", "--out", "o.json"], "not found"),
        (["-q", "sipas-2017", "-r", "{F}/design_responses.csv", "--out", "o.txt"], ".json or .csv"),
        (["-q", "sipas-2017", "-r", "{F}/points_responses.csv", "--out", "o.json"], "cd_1"),
        (
            [
                "-q",
                "sipas-2017",
                "-r",
                "{F}/design_responses.csv",
                "--frame",
                "{F}/points_frame.csv",
                "--out",
                "o.json",
            ],
            "frame",
        ),
        (
            [
                "-q",
                "sipas-2017",
                "-r",
                "{F}/design_responses.csv",
                "--unit-list",
                "nowhere",
                "--out",
                "o.json",
            ],
            "nowhere",
        ),
    ],
)
def test_errors_are_one_line_and_exit_1(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{F}", str(FIXTURES)) for a in args]
    result = CliRunner().invoke(cli, ["score", *args])
    assert result.exit_code in (1, 2), result.output
    if result.exit_code == 1:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert message in result.output
    assert not (tmp_path / "o.json").exists()


def test_campaign_reads_through_the_storage_function(tmp_path, monkeypatch):
    responses = pd.read_csv(
        FIXTURES / "unweighted_responses.csv", dtype=str, keep_default_na=False, na_values=[""]
    )
    calls = []

    def responses_frame(campaign_id, database_url=None):
        calls.append((campaign_id, database_url))
        return responses

    fake = types.ModuleType("survey.storage")
    fake.responses_frame = responses_frame
    monkeypatch.setitem(sys.modules, "survey.storage", fake)
    out = tmp_path / "c.json"
    result = CliRunner().invoke(
        score_command,
        ["-q", "sipas-2017", "--campaign", "7", "--database-url", "sqlite://", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert calls == [(7, "sqlite://")]
    assert len(json.loads(out.read_text(encoding="utf-8"))["units"]) == 5


def test_campaign_without_the_storage_function(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "survey.storage", None)  # import fails
    result = CliRunner().invoke(
        score_command, ["-q", "sipas-2017", "--campaign", "7", "--out", str(tmp_path / "c.json")]
    )
    assert result.exit_code == 1
    assert "responses_frame" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_campaign_and_responses_together_are_refused(tmp_path):
    result = CliRunner().invoke(
        score_command,
        [
            "-q",
            "sipas-2017",
            "--campaign",
            "1",
            "-r",
            str(FIXTURES / "design_responses.csv"),
            "--out",
            str(tmp_path / "x.json"),
        ],
    )
    assert result.exit_code == 1 and "--campaign" in result.output
