"""The ``sipas score`` command: files in, JSON/CSV out, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def _store_campaign(database_url: str) -> dict[str, list[int]]:
    """A sipas-2017 campaign of three communes with N known; return the tiep_can_1 answers stored per unit."""
    import uuid

    from sqlalchemy.orm import Session

    from survey.campaigns import create_campaign
    from survey.db import make_engine
    from survey.storage import save_response

    rng = np.random.default_rng(7)
    units = [("tra-xuan", "Thị trấn Trà Xuân"), ("tra-bui", "Xã Trà Bùi"), ("son-tra", "Xã Sơn Trà")]
    counts = {"tra-xuan": 12, "tra-bui": 9, "son-tra": 15}
    stored: dict[str, list[int]] = {code: [] for code, _ in units}
    engine = make_engine(database_url)
    with Session(engine) as session:
        campaign = create_campaign(
            session,
            name="Đợt thử",
            questionnaire="sipas-2017",
            units=units,
            populations={"tra-xuan": 900, "tra-bui": 300, "son-tra": 1200},
        )
        session.commit()
        items = [c.items[0] for c in campaign_questionnaire_criteria()]
        for code, n in counts.items():
            for _ in range(n):
                answers = {
                    item: str(int(rng.integers(1, 6))) for item in items if not item.startswith("phan_anh")
                }
                answers.update({"linh_vuc": "ho_tich", "gioi_tinh": "2", "do_tuoi": "3", "da_gop_y": "2"})
                save_response(
                    session,
                    campaign=campaign,
                    unit_code=code,
                    instance_id=str(uuid.uuid4()),
                    answers=answers,
                    questionnaire_id="sipas-2017",
                    version=campaign.questionnaire_version,
                    started_at=None,
                    submitted_at=None,
                    source="paper",
                )
                stored[code].append(int(answers["tiep_can_1"]))
    engine.dispose()
    return stored


def campaign_questionnaire_criteria():
    from questionnaires import load_questionnaire

    return load_questionnaire("sipas-2017").scoring.criteria


def test_campaign_is_scored_with_its_own_frame_targets_and_names(database_url, tmp_path):
    stored = _store_campaign(database_url)
    out = tmp_path / "c.json"
    result = run("--campaign", "1", "--database-url", database_url, "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["questionnaire"] == "sipas-2017" and data["weighting"] == "design"
    units = {u["unit"]: u for u in data["units"]}
    assert units["tra-bui"]["name"] == "Xã Trà Bùi"
    assert units["tra-bui"]["population"] == 300
    # Slovin target for N = 300, e = 0.05: ceil(300 / (1 + 300 * 0.0025)) = ceil(171.43) = 172.
    assert units["tra-bui"]["target"] == 172 and "below_target" in units["tra-bui"]["flags"]
    # Criterion tiep_can_1 within one unit: design weights are equal, so it is the plain share of 4-5.
    for code, answers in stored.items():
        share = 100 * sum(a >= 4 for a in answers) / len(answers)
        assert units[code]["criteria"]["tiep_can_1"] == pytest.approx(share, abs=1e-9)
    # Pooled over units, each response weighs N_h / n_h.
    weights = {"tra-xuan": 900 / 12, "tra-bui": 300 / 9, "son-tra": 1200 / 15}
    num = sum(weights[c] * sum(a >= 4 for a in stored[c]) for c in stored)
    den = sum(weights[c] * len(stored[c]) for c in stored)
    assert data["overall"]["criteria"]["tiep_can_1"] == pytest.approx(100 * num / den, abs=1e-9)


def test_campaign_with_another_questionnaire_is_refused(database_url, tmp_path):
    _store_campaign(database_url)
    out = tmp_path / "x.json"
    result = run("-q", "sipas-2023", "--campaign", "1", "--database-url", database_url, "--out", str(out))
    assert result.exit_code == 1
    assert "campaign 1 uses sipas-2017" in result.output


def test_a_campaign_needs_the_sipas_group_to_be_read(tmp_path):
    """The command alone (not run through `sipas`) has no campaign loader, and says so in one line."""
    result = CliRunner().invoke(score_command, ["--campaign", "7", "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 1
    assert "sipas score|report|plot --campaign" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_campaign_and_responses_together_are_refused(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["score", "-q", "sipas-2017", "--campaign", "1", "-r", str(FIXTURES / "design_responses.csv"),
         "--out", str(tmp_path / "x.json")],
    )  # fmt: skip
    assert result.exit_code == 2 and "--responses" in result.output and "--campaign" in result.output
    assert not (tmp_path / "x.json").exists()
