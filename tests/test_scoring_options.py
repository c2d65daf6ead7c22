"""One set of scoring options for `sipas score`, `report` and `plot`; what a campaign's design defaults."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analysis import read_frame, read_responses
from analysis.cli import score
from analysis.options import LOADER_KEY, ScoringOptions, score_arguments
from questionnaires import Questionnaire, load_questionnaire
from reports.cli import plot, report
from survey.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
SIPAS_2017 = load_questionnaire("sipas-2017")
# Every spelling the commands took before they shared their options.
SPELLINGS_BEFORE = {
    score: "-q --questionnaire -r --responses --campaign --database-url --frame --margins --previous "
    "--unit-list --min-n --confidence --margin-of-error --trim --rank-probability -o --out",
    report: "-q --questionnaire --responses --campaign --frame --unit-list --confidence --threshold --title "
    "--previous -o --out --include-data --issuer --period --no-figures",
    plot: "-q --questionnaire --responses --campaign --frame --unit-list --confidence --threshold --title "
    "--kind -o --out",
}


@dataclass(frozen=True)
class Design:
    """A stored campaign's design, as the survey app's loader hands it over."""

    questionnaire: Questionnaire = SIPAS_2017
    responses: pd.DataFrame = field(
        default_factory=lambda: read_responses(FIXTURES / "design_responses.csv", SIPAS_2017)
    )
    frame: pd.DataFrame | None = field(default_factory=lambda: read_frame(FIXTURES / "design_frame.csv"))
    targets: dict[str, int] = field(default_factory=lambda: {"tra-xuan": 5})
    unit_names: dict[str, str] = field(default_factory=lambda: {"tra-xuan": "Thị trấn Trà Xuân"})
    units: list[str] = field(default_factory=lambda: ["tra-xuan", "tra-giang", "tra-thuy", "son-tra"])
    margin_of_error: float = 0.1
    name: str = "Đợt thử"
    period: str | None = "2024-01-01 – 2024-06-30"
    notes: tuple[str, ...] = ("thiếu N của một đơn vị",)
    quality: pd.DataFrame | None = None
    integrity_settings: dict | None = None
    status: str | None = None


@pytest.fixture(scope="module")
def design() -> Design:
    return Design()


def options_of(command) -> dict[str, dict]:
    return {param.name: param.to_info_dict() for param in command.params}


def test_report_and_plot_take_every_scoring_option_of_score_alike():
    scoring = [option.name for option in dataclasses.fields(ScoringOptions)]
    # --by is score's own output (one row per language); the workbook writes its language sheet itself.
    mine = {name: info for name, info in options_of(score).items() if name != "by"}
    assert set(scoring) < set(mine)
    for command in (report, plot):
        theirs = options_of(command)
        assert {name: theirs.get(name) for name in scoring} == {name: mine[name] for name in scoring}
        assert set(mine) <= set(theirs)  # --out too
        help_text = CliRunner().invoke(cli, [command.name, "--help"]).output
        for option in (opt for param in score.params if param.name != "by" for opt in param.opts):
            assert f"{option} " in help_text or f"{option}," in help_text, (command.name, option)
    for command, spellings in SPELLINGS_BEFORE.items():
        assert set(spellings.split()) <= {opt for param in command.params for opt in param.opts}


def test_a_campaign_gives_the_defaults(design):
    arguments = score_arguments(ScoringOptions(campaign=1), design)
    assert arguments.pop("questionnaire") is design.questionnaire
    assert arguments.pop("responses") is design.responses
    assert arguments.pop("frame") is design.frame
    assert arguments == {
        "targets": {"tra-xuan": 5},
        "unit_names": {"tra-xuan": "Thị trấn Trà Xuân"},
        "units": ["tra-xuan", "tra-giang", "tra-thuy", "son-tra"],
        "margin_of_error": 0.1,
        "min_n": None,
        "confidence": 0.95,
        "trim": None,
        "rank_probability": False,
    }


def test_options_override_the_campaign_except_its_targets(design, tmp_path):
    frame = tmp_path / "khung.csv"
    frame.write_text(
        "unit,population\ntra-xuan,1080\ntra-giang,485\ntra-thuy,600\nson-tra,300\n", encoding="utf-8"
    )
    options = ScoringOptions(
        campaign=1, frame=frame, unit_list="tra-bong-2023", margin_of_error=0.05, min_n=3
    )
    arguments = score_arguments(options, design)
    assert arguments["frame"].to_dict("list") == pd.read_csv(frame).to_dict("list")
    assert len(arguments["units"]) == 16 and arguments["unit_names"]["tra-bui"] == "Xã Trà Bùi"
    assert arguments["margin_of_error"] == 0.05 and arguments["min_n"] == 3
    assert arguments["targets"] == {"tra-xuan": 5}
    # A responses file: nothing of a campaign, and analysis.score's own default margin of error.
    plain = score_arguments(
        ScoringOptions(questionnaire="sipas-2017", responses=FIXTURES / "design_responses.csv")
    )
    assert "margin_of_error" not in plain and "frame" not in plain and "units" not in plain
    assert plain["responses"].equals(design.responses)


def slovin(population: int, e: float) -> int:
    return math.ceil(population / (1 + population * e * e))


@pytest.mark.parametrize("given", [None, 0.05])
def test_score_reads_a_campaign_through_the_loader_of_the_sipas_group(design, tmp_path, given):
    calls = []

    def load_campaign(campaign_id, database_url):
        calls.append((campaign_id, database_url))
        return design

    out = tmp_path / "c.json"
    args = ["score", "--campaign", "7", "--database-url", "sqlite:///x", "-o", str(out)]
    args += ["--margin-of-error", str(given)] if given else []
    result = CliRunner().invoke(score, args[1:], obj={LOADER_KEY: load_campaign})
    assert result.exit_code == 0, result.output
    assert calls == [(7, "sqlite:///x")]
    assert "cảnh báo (warning): thiếu N của một đơn vị" in result.output
    units = {u["unit"]: u for u in json.loads(out.read_text(encoding="utf-8"))["units"]}
    assert units["tra-xuan"]["target"] == 5  # stored with the campaign
    giang = sum(pd.read_csv(FIXTURES / "design_frame.csv").query("unit == 'tra-giang'")["population"])
    assert units["tra-giang"]["target"] == slovin(giang, given or design.margin_of_error)
    assert units["tra-xuan"]["name"] == "Thị trấn Trà Xuân" and set(units) == set(design.units)

    other = CliRunner().invoke(
        score, ["-q", "sipas-2023", "--campaign", "7", "-o", str(out)], obj={LOADER_KEY: load_campaign}
    )
    assert other.exit_code == 1 and "campaign 7 uses sipas-2017" in other.output
