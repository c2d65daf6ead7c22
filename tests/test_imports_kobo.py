"""Exports of KoboToolbox and ODK Central: scored like our own table, imported once, refused with a reason.

One set of synthetic submissions on ``sipas-2017`` is written four ways (our responses CSV, a Kobo CSV
with XML values, a Kobo XLSX with labels, an ODK Central CSV); all four must score identically, and
importing one into a campaign stores exactly the rows of the file, once.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis import ScoringError, read_responses, score
from analysis.exports import convert_export, instance_id
from questionnaires import Questionnaire, from_data, load_questionnaire
from reports.synthetic import synthetic_responses
from survey.cli import cli
from survey.db import make_engine
from survey.models import AuditEvent, Response
from survey.storage import responses_frame
from tests.kobo_files import kobo_labels_xlsx, kobo_xml_csv, odk_csv, with_instance_ids

SIPAS_2017 = load_questionnaire("sipas-2017")
UNITS = ("tra-xuan", "tra-giang", "tra-thuy")


@pytest.fixture(scope="module")
def submissions() -> pd.DataFrame:
    return with_instance_ids(synthetic_responses(SIPAS_2017, UNITS, 12, seed=41))


@pytest.fixture(scope="module")
def files(submissions, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    own = folder / "phieu.csv"
    submissions.to_csv(own, index=False)
    return {
        "own": own,
        "kobo_xml": kobo_xml_csv(SIPAS_2017, submissions, folder / "kobo-xml.csv"),
        "kobo_labels": kobo_labels_xlsx(SIPAS_2017, submissions, folder / "kobo-labels.xlsx"),
        "kobo_labels_en": kobo_labels_xlsx(SIPAS_2017, submissions, folder / "kobo-en.xlsx", "en"),
        "odk": odk_csv(SIPAS_2017, submissions, folder / "odk.csv"),
    }


UNIT_OPTIONS = {
    "own": {},
    "kobo_xml": {"unit_column": "don_vi"},
    "kobo_labels": {"unit_column": "Đơn vị"},
    "kobo_labels_en": {"unit_column": "Đơn vị"},
    "odk": {},
}


# ------------------------------------------------------------------------------------------ scoring
def test_every_export_scores_exactly_like_our_own_table(files):
    expected = score(SIPAS_2017, read_responses(files["own"], SIPAS_2017)).to_frame(include_overall=True)
    assert expected["index"].notna().all() and (expected["se"] > 0).all()  # a real comparison
    for name in ("kobo_xml", "kobo_labels", "kobo_labels_en", "odk"):
        table = read_responses(files[name], SIPAS_2017, **UNIT_OPTIONS[name])
        got = score(SIPAS_2017, table).to_frame(include_overall=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)


def test_export_rows_carry_instance_ids_times_and_codes(files, submissions):
    table = read_responses(files["kobo_xml"], SIPAS_2017, unit_column="don_vi")
    assert table["response_id"].tolist() == submissions["response_id"].tolist()  # "uuid:" dropped
    assert table["unit"].tolist() == submissions["unit"].tolist()
    assert list(table.index[:2]) == [2, 3]  # file rows, for messages
    assert str(table["received_at"].dt.tz) == "UTC" and table["received_at"].iat[0].hour == 1
    assert table["started_at"].iat[0] == pd.Timestamp("2024-05-01T01:00:00Z")  # +07:00 → UTC
    labels = read_responses(files["kobo_labels"], SIPAS_2017, unit_column="Đơn vị")
    assert labels["tiep_can_1"].tolist() == submissions["tiep_can_1"].astype(str).tolist()


def test_score_command_reads_an_odk_export(files, tmp_path):
    runner = CliRunner()
    outs = {}
    for name, extra in (("own", []), ("odk", []), ("kobo_xml", ["--unit-column", "don_vi"])):
        out = tmp_path / f"{name}.json"
        args = ["score", "-q", "sipas-2017", "-r", str(files[name]), *extra, "-o", str(out)]
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outs[name] = json.loads(out.read_text(encoding="utf-8"))["units"]
    assert outs["odk"] == outs["own"] == outs["kobo_xml"]


def test_score_command_without_a_unit_says_to_pass_one(files):
    args = ["score", "-q", "sipas-2017", "-r", str(files["kobo_xml"]), "-o", "x.json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--unit-column" in result.output and "--unit MÃ" in result.output
    assert "thong_tin/don_vi" in result.output  # the column that might be it


def test_unit_options_go_with_a_responses_file_one_at_a_time(files):
    runner = CliRunner()
    both = ["score", "-q", "sipas-2017", "-r", str(files["odk"]), "--unit", "a", "--unit-column", "b"]
    both += ["-o", "x.json"]
    result = runner.invoke(cli, both)
    assert result.exit_code == 2 and "give --unit-column or --unit, not both" in result.output
    result = runner.invoke(cli, ["score", "--campaign", "1", "--unit", "a", "-o", "x.json"])
    assert result.exit_code == 2 and "--unit-column and --unit go with --responses" in result.output


# ----------------------------------------------------------------------------------- column mapping
def _multi() -> Questionnaire:
    return from_data(
        {
            "id": "kenh",
            "version": "1",
            "title": {"vi": "Kênh"},
            "languages": ["vi", "en"],
            "choices": {
                "kenh": [
                    {"code": "tv", "label": {"vi": "Ti vi", "en": "Television"}},
                    {"code": "bao", "label": {"vi": "Báo in", "en": "Newspaper"}},
                    {"code": "mxh", "label": {"vi": "Mạng xã hội", "en": "Social media"}},
                ],
                "likert5": [
                    {"code": i, "label": {"vi": f"Mức {i}", "en": f"Level {i}"}} for i in range(1, 6)
                ],
            },
            "sections": [
                {
                    "code": "b",
                    "label": {"vi": "Phần B", "en": "Part B"},
                    "questions": [
                        {"code": "kenh", "type": "multiple", "choices": "kenh", "label": {"vi": "Kênh"}},
                        {"code": "thu_tuc", "type": "single", "choices": "likert5", "label": {"vi": "TT"}},
                        {"code": "tuc", "type": "single", "choices": "likert5", "label": {"vi": "Tục"}},
                    ],
                }
            ],
        }
    ).questionnaire


def _table(data: dict) -> pd.DataFrame:
    frame = pd.DataFrame(data)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    frame.attrs.update(source="k.csv", row_numbers=True)
    return frame


def test_multiple_choice_codes_labels_and_option_columns():
    q = _multi()
    frame = _table(
        {
            "_uuid": ["a1", "a2", "a3", "a4"],
            "unit": ["x", "x", "y", "y"],
            "b/kenh": ["tv mxh", "Ti vi Mạng xã hội", "Báo in, Social media", None],
            "b/kenh/tv": [1, 1, 0, 0],  # Kobo's 0/1 column per option: recognised, skipped
            "b/kenh/Báo in": [0, 0, 1, 0],
            "b/c.d/thu_tuc": ["Mức 4", "Level 5", 3, None],  # nested groups, any separator
        }
    )
    export = convert_export(frame, q, where="k.csv: ")
    assert not export.problems and export.tool == "kobo"
    assert export.table["kenh"].tolist() == ["tv mxh", "tv mxh", "bao mxh", None]
    assert export.table["thu_tuc"].tolist() == ["4", "5", "3", None]
    assert "tuc" not in export.table.columns
    assert set(export.skipped) >= {"_uuid", "b/kenh/tv", "b/kenh/Báo in"}


def test_instance_ids_prefer_meta_then_key_then_uuid():
    q = _multi()
    upper = "5F0B3C1E-9A4B-4D6E-8F00-112233445566"
    frame = _table(
        {
            "KEY": ["uuid:k1", "uuid:k2", None],
            "meta-instanceID": [f"uuid:{upper}", None, None],
            "_uuid": ["u1", "u2", "u3"],
            "unit": ["x", "x", "x"],
            "b-tuc": [1, 2, 3],
        }
    )
    export = convert_export(frame, q)
    assert export.tool == "odk"
    assert export.table["response_id"].tolist() == [upper.lower(), "k2", "u3"]
    assert instance_id("uuid: abc") == "abc" and instance_id("  ") is None


# --------------------------------------------------------------------------------------- refusals
def test_unknown_column_is_named_with_the_prefix_hint(files, tmp_path):
    frame = pd.read_csv(files["kobo_xml"], sep=";", dtype=str)
    path = tmp_path / "bad.csv"
    frame.rename(columns={"tiep_can/tiep_can_1": "tiep_can/tiep_can_01"}).to_csv(path, sep=";", index=False)
    with pytest.raises(ScoringError) as caught:
        read_responses(path, SIPAS_2017, unit_column="don_vi")
    message = str(caught.value)
    assert message.startswith(f"{path}: cột không khớp câu hỏi nào của phiếu sipas-2017 (dòng 1")
    assert "tiep_can/tiep_can_01" in message and "tiền tố nhóm" in message and "group prefixes" in message


def test_unknown_label_is_named_with_column_row_and_value(files, tmp_path):
    frame = pd.read_excel(files["kobo_labels"], dtype=str)
    column = next(c for c in frame.columns if c.endswith("/Nơi ngồi chờ có đủ chỗ ngồi"))
    frame.loc[4, column] = "Tạm được"  # the sixth row of the file: header, then data from row 2
    path = tmp_path / "nhan.xlsx"
    frame.to_excel(path, index=False)
    with pytest.raises(ScoringError) as caught:
        read_responses(path, SIPAS_2017, unit_column="Đơn vị")
    message = str(caught.value)
    assert message.startswith(f"{path}: 1 ô không đọc được")
    assert f"dòng 6, cột {column}: 'Tạm được' không phải mã hay nhãn nào của câu tiep_can_1" in message
    assert "(mã: 1, 2, 3, 4, 5)" in message and "neither a code nor a label" in message


def test_missing_unit_and_a_unit_column_that_is_not_there(files):
    with pytest.raises(ScoringError, match="--unit-column TÊN_CỘT, hoặc một đơn vị cho cả tệp bằng --unit"):
        read_responses(files["kobo_labels"], SIPAS_2017)
    with pytest.raises(ScoringError, match=r"không có cột đơn vị xa \(--unit-column\) trong tệp \(dòng 1"):
        read_responses(files["odk"], SIPAS_2017, unit_column="xa")
    fixed = read_responses(files["odk"], SIPAS_2017, unit="tra-xuan")
    assert set(fixed["unit"]) == {"tra-xuan"}


def test_duplicate_instance_ids_are_named_by_row(files, tmp_path):
    frame = pd.read_csv(files["odk"], dtype=str)
    frame.loc[3, ["meta-instanceID", "KEY"]] = frame.loc[0, ["meta-instanceID", "KEY"]].tolist()
    path = tmp_path / "trung.csv"
    frame.to_csv(path, index=False)
    table = read_responses(path, SIPAS_2017)
    with pytest.raises(ScoringError) as caught:
        score(SIPAS_2017, table)
    message = str(caught.value)
    assert "response_id bị trùng" in message and "dòng/row 2" in message and "dòng/row 5" in message


# ------------------------------------------------------------------------------------------ import
@pytest.fixture
def sipas(database_url, tmp_path):
    runner = CliRunner()
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, expect=0):
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result.output

    return run


def _campaign(sipas, name: str) -> int:
    out = sipas(
        "campaign", "create", "--questionnaire", "sipas-2017", "--units", "tra-bong-2023", "--name", name
    )
    return int(re.search(r"#(\d+)", out).group(1))


def _count(database_url: str, campaign_id: int | None = None) -> int:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            query = select(func.count(Response.id))
            if campaign_id is not None:
                query = query.where(Response.campaign_id == campaign_id)
            return session.scalar(query)
    finally:
        engine.dispose()


@pytest.mark.db
def test_import_is_idempotent_and_stores_the_rows_of_the_file(sipas, database_url, files, submissions):
    campaign_id = _campaign(sipas, "SIPAS 2024")
    labels = str(files["kobo_labels"])
    first = sipas("responses", "import", "--campaign", str(campaign_id), labels, "--unit-column", "Đơn vị")
    n = len(submissions)
    assert f"đọc {n} phiếu, lưu mới {n}, đã có sẵn 0, bị từ chối 0" in first
    again = sipas("responses", "import", "--campaign", str(campaign_id), str(files["odk"]))
    assert f"lưu mới 0, đã có sẵn {n}, bị từ chối 0" in again and "không lưu thêm gì" in again

    stored = responses_frame(campaign_id, database_url).set_index("response_id")
    assert len(stored) == n and set(stored["source"]) == {"import"}
    expected = submissions.set_index("response_id")
    items = [q.code for q in SIPAS_2017.questions() if q.type.is_answerable and q.code in expected.columns]
    for code in items:
        want = expected[code].map(lambda v: None if v is None else str(v))
        got = stored.loc[want.index, code].map(lambda v: None if v is None or pd.isna(v) else str(v))
        assert got.tolist() == want.tolist(), code
    assert stored.loc[expected.index, "unit"].tolist() == expected["unit"].tolist()
    # the collecting server's time is kept as received_at; the device's end is the submission time
    first_id = submissions["response_id"].iat[0]
    assert stored.at[first_id, "received_at"] == pd.Timestamp("2024-05-01T01:00:00Z")
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "responses_imported").order_by(AuditEvent.id)
            ).all()
            assert [e.detail["stored"] for e in events] == [n, 0]
            assert [e.detail["tool"] for e in events] == ["kobo", "odk"]
            assert events[0].detail["via"] == "cli"
    finally:
        engine.dispose()


@pytest.mark.db
def test_import_refuses_ids_of_another_campaign_and_bad_rows(sipas, database_url, files, tmp_path):
    first = _campaign(sipas, "Đợt 1")
    second = _campaign(sipas, "Đợt 2")
    sipas("responses", "import", "--campaign", str(first), str(files["odk"]))
    out = sipas("responses", "import", "--campaign", str(second), str(files["odk"]), expect=1)
    first_id = uuid.UUID(int=1)
    assert f"{files['odk']}: dòng 2 (mã phiếu {first_id}): cột meta-instanceID, KEY: mã phiếu" in out
    assert "đã được lưu ở đợt khảo sát số" in out and "không lưu phiếu nào" in out

    frame = pd.read_csv(files["odk"], dtype=str)
    frame["meta-instanceID"] = frame["KEY"] = [f"uuid:{uuid.uuid4()}" for _ in range(len(frame))]
    frame.loc[2, "tiep_can-tiep_can_2"] = "7"  # row 4: not a code of likert5
    frame.loc[3, "thong_tin-gioi_tinh"] = None  # row 5: a required answer left blank
    frame.loc[5, ["meta-instanceID", "KEY"]] = frame.loc[4, ["meta-instanceID", "KEY"]].tolist()  # row 7
    frame.loc[5, "tiep_can-tiep_can_1"] = "1" if frame.loc[4, "tiep_can-tiep_can_1"] != "1" else "2"
    path = tmp_path / "odk-bad.csv"
    frame.to_csv(path, index=False)
    out = sipas("responses", "import", "--campaign", str(second), str(path), expect=1)
    assert f"{path}: dòng 4" in out and "cột tiep_can-tiep_can_2: 7 không phải mã hay nhãn" in out
    assert f"{path}: dòng 5" in out
    assert "cột thong_tin-gioi_tinh (câu gioi_tinh): Câu 'Giới tính' bắt buộc" in out
    assert f"{path}: dòng 7" in out and "cột meta-instanceID, KEY: mã phiếu" in out
    assert "trùng với dòng 6 nhưng khác nội dung" in out
    assert "--skip-refused" in out
    assert _count(database_url, second) == 0
    out = sipas("responses", "import", "--campaign", str(second), str(path), "--skip-refused")
    assert f"lưu mới {len(frame) - 3}, đã có sẵn 0, bị từ chối 3" in out
    assert _count(database_url, second) == len(frame) - 3


@pytest.mark.db
def test_import_refuses_a_closed_campaign(sipas, database_url, files):
    campaign_id = _campaign(sipas, "Đợt đã đóng")
    sipas("campaign", "close", "--campaign", str(campaign_id))
    out = sipas("responses", "import", "--campaign", str(campaign_id), str(files["odk"]), expect=1)
    assert out.startswith("Error: ") and len(out.strip().splitlines()) == 1
    assert f"{files['odk']}: Đợt khảo sát đã kết thúc" in out and "không lưu phiếu nào" in out
    assert _count(database_url) == 0
