"""Reading and checking the inputs of scoring: files, codes, and the errors a user can cause."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis import ScoringError, read_frame, read_margins, read_previous, read_responses, score
from analysis.io import neutralise, restore
from questionnaires import from_data, load_questionnaire

LIKERT = [{"code": i, "label": {"vi": f"Mức {i}"}} for i in range(1, 6)]


def questionnaire():
    return from_data(
        {
            "id": "io",
            "version": "1",
            "title": {"vi": "Phiếu đọc tệp"},
            "groups": [{"code": "citizen", "label": {"vi": "Người dân"}}],
            "choices": {
                "likert5": LIKERT,
                "linh_vuc": [
                    {"code": "dat_dai", "label": {"vi": "Đất đai"}},
                    {"code": "ho_tich", "label": {"vi": "Hộ tịch"}},
                ],
                "kenh": [
                    {"code": "tv", "label": {"vi": "Ti vi"}},
                    {"code": "internet", "label": {"vi": "Internet"}},
                ],
                "dk": [{"code": -1, "label": {"vi": "Không biết"}}, {"code": 1, "label": {"vi": "Có"}}],
            },
            "sections": [
                {
                    "code": "s",
                    "label": {"vi": "S"},
                    "questions": [
                        {"code": "bat_dau", "type": "start"},
                        {
                            "code": "linh_vuc",
                            "type": "single",
                            "choices": "linh_vuc",
                            "role": "stratum",
                            "label": {"vi": "Lĩnh vực"},
                        },
                        {
                            "code": "kenh",
                            "type": "multiple",
                            "choices": "kenh",
                            "label": {"vi": "Kênh thông tin"},
                        },
                        {"code": "so_lan", "type": "integer", "label": {"vi": "Số lần đi lại"}},
                        {"code": "dk", "type": "single", "choices": "dk", "label": {"vi": "Biết không?"}},
                        {"code": "y1", "type": "single", "choices": "likert5", "label": {"vi": "Hài lòng 1"}},
                        {"code": "y2", "type": "single", "choices": "likert5", "label": {"vi": "Hài lòng 2"}},
                        {"code": "gop_y", "type": "text", "label": {"vi": "Góp ý"}},
                    ],
                }
            ],
            "scoring": {
                "method": "share_satisfied",
                "index": {
                    "code": "i",
                    "label": {"vi": "Chỉ số"},
                    "elements": [
                        {"code": "e1", "label": {"vi": "E1"}, "criteria": ["y1"]},
                        {
                            "code": "e2",
                            "label": {"vi": "E2"},
                            "gate": "selected(${kenh}, 'tv')",
                            "criteria": ["y2"],
                        },
                    ],
                },
            },
        }
    ).questionnaire


def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "response_id": ["a1", "a2", "a3", "a4"],
            "unit": ["tra-xuan", "tra-xuan", "tra-giang", "tra-giang"],
            "group": ["citizen"] * 4,
            "linh_vuc": ["dat_dai", "ho_tich", "dat_dai", "dat_dai"],
            "kenh": ["tv internet", "internet", "tv", None],
            "so_lan": [1, 2, None, 3],
            "dk": [-1, 1, 1, None],
            "y1": ["5", "4", "2", "4"],
            "y2": ["4", "1", "5", "5"],
            "gop_y": ["Cán bộ nhiệt tình, chu đáo", None, "=1+1", None],
            "submitted_at": ["2023-10-01T08:00:00Z"] * 4,
            "_uuid": ["x", "y", "z", "w"],
        }
    )


def expected_scores(table):
    # tra-xuan: y1 5,4 -> 100%; y2 gated to kenh containing tv: a1 "4" -> 100%
    # tra-giang: y1 2,4 -> 50%; y2: a3 (tv) "5" -> 100%; a4 has no kenh -> not counted
    assert table.unit("tra-xuan").index == pytest.approx(100.0)
    assert table.unit("tra-giang").criteria["y2"] == pytest.approx(100.0)
    assert table.unit("tra-giang").criteria_n["y2"] == 1
    assert table.unit("tra-giang").index == pytest.approx(75.0)


def test_dataframe_with_codes_as_text():
    expected_scores(score(questionnaire(), rows()))


@pytest.mark.parametrize(
    "codes", [["5", "4", "2", "4"], [5, 4, 2, 4], [5.0, 4.0, 2.0, 4.0], ["5.0", " 4", "02", "4"]]
)
def test_codes_as_numbers_or_text_are_normalised(codes):
    expected_scores(score(questionnaire(), rows().assign(y1=codes)))


def test_nullable_and_categorical_codes():
    df = rows()
    df["y1"] = pd.array([5, 4, 2, 4], dtype="Int8")
    df["y2"] = pd.Categorical(["4", "1", "5", "5"], categories=["1", "2", "3", "4", "5"])
    df["unit"] = pd.Categorical(df["unit"])
    expected_scores(score(questionnaire(), df))
    df["y1"] = pd.array([5, None, 2, 4], dtype="Int8")
    assert score(questionnaire(), df).unit("tra-xuan").criteria_n["y1"] == 1


def test_csv_with_and_without_bom(tmp_path):
    for encoding in ("utf-8", "utf-8-sig"):
        path = tmp_path / f"r-{encoding}.csv"
        rows().to_csv(path, index=False, encoding=encoding)
        df = read_responses(path, questionnaire())
        assert list(df.columns)[:2] == ["response_id", "unit"]
        assert df.loc[2, "gop_y"] == "Cán bộ nhiệt tình, chu đáo"  # row 2 = first data row
        expected_scores(score(questionnaire(), df))


def test_csv_keeps_leading_zeros_of_unit_codes(tmp_path):
    path = tmp_path / "r.csv"
    rows().assign(unit=["007", "007", "08", "08"]).to_csv(path, index=False)
    t = score(questionnaire(), read_responses(path))
    assert {u.unit for u in t.units} == {"007", "08"}


def test_xlsx_reads_the_data_sheet(tmp_path):
    path = tmp_path / "r.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Hướng dẫn"
    book.active.append(["Đọc kỹ trước khi nhập"])
    sheet = book.create_sheet("Dữ liệu")
    df = rows()
    sheet.append(list(df.columns))
    for record in df.itertuples(index=False):
        sheet.append([None if (isinstance(v, float) and np.isnan(v)) else v for v in record])
    sheet.append([None] * len(df.columns))  # a formatted empty row
    book.save(path)
    read = read_responses(path)
    assert len(read) == 4
    expected_scores(score(questionnaire(), read))


def test_parquet(tmp_path):
    path = tmp_path / "r.parquet"
    df = rows()
    df["y1"] = pd.array([5, 4, 2, 4], dtype="Int8")
    df.to_parquet(path)
    expected_scores(score(questionnaire(), read_responses(path)))


def test_multiple_choice_as_lists_from_parquet(tmp_path):
    df = rows()
    df["kenh"] = [["tv", "internet"], ["internet"], ["tv"], None]
    path = tmp_path / "r.parquet"
    df.to_parquet(path)
    expected_scores(score(questionnaire(), read_responses(path)))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+84905", "'+84905"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'; DROP TABLE", "'; DROP TABLE"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_restore_undoes_neutralise(value, written):
    assert neutralise(value) == written
    assert restore(written) == value


@pytest.mark.parametrize("value", [-5, 3.5, None])
def test_neutralise_leaves_other_values_alone(value):
    assert neutralise(value) == value


def test_neutralised_codes_from_a_csv_export():
    df = rows().assign(dk=["'-1", "1", "1", None])  # the export prefixes "'" to "-1"
    score(questionnaire(), df)


def test_codes_outside_the_choices_name_rows_and_ids(tmp_path):
    path = tmp_path / "r.csv"
    rows().assign(y1=["5", "7", "2", "x"]).to_csv(path, index=False)
    with pytest.raises(ScoringError) as err:
        score(questionnaire(), read_responses(path))
    message = str(err.value)
    assert "r.csv" in message and "y1" in message
    assert "row 3 (response_id a2): '7'" in message
    assert "row 5 (response_id a4): 'x'" in message
    assert "2" in message  # how many


def test_many_bad_rows_are_counted_not_all_listed():
    df = pd.DataFrame({"response_id": range(40), "unit": "u", "y1": [9] * 40, "y2": [1] * 40})
    with pytest.raises(ScoringError) as err:
        score(questionnaire(), df)
    assert "40" in str(err.value) and "+35" in str(err.value)


def test_unknown_columns_are_an_error_but_metadata_is_not():
    with pytest.raises(ScoringError, match="cau_la"):
        score(questionnaire(), rows().assign(cau_la=1))
    # device metadata (start), text items, known export columns and _-prefixed columns are ignored
    score(questionnaire(), rows().assign(bat_dau="2023-10-01T08:00:00", questionnaire_version="1", _id=3))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns="unit"), "unit"),
        (lambda df: df.drop(columns="response_id"), "response_id"),
        (lambda df: df.drop(columns="y2"), "y2"),
        (lambda df: df.drop(columns="kenh"), "kenh"),  # read by a gate
        (lambda df: df.assign(response_id=["a1", "a1", "a3", "a3"]), "a1"),
        (lambda df: df.assign(response_id=["a1", None, "a3", "a4"]), "row 2"),
        (lambda df: df.assign(unit=["tra-xuan", None, "tra-giang", " "]), "blank unit"),
        (lambda df: df.assign(so_lan=[1, "hai", None, 3]), "so_lan"),
        (lambda df: df.assign(so_lan=[1, 2.5, None, 3]), "whole"),
        (lambda df: df.assign(kenh=["tv radio", "tv", "tv", None]), "kenh"),
        (lambda df: df.assign(group=["citizen", "dan", "citizen", "citizen"]), "dan"),
        (lambda df: df.iloc[0:0], "no rows"),
    ],
)
def test_bad_input_is_named(change, message):
    with pytest.raises(ScoringError, match=message):
        score(questionnaire(), change(rows()))


def test_all_problems_are_reported_at_once():
    df = rows().assign(y1=["5", "9", "2", "4"], y2=["4", "1", "0", "5"], extra=1)
    with pytest.raises(ScoringError) as err:
        score(questionnaire(), df)
    text = str(err.value)
    assert "y1" in text and "y2" in text and "extra" in text


def test_stratum_falls_back_to_the_role_item():
    q = questionnaire()
    frame = pd.DataFrame(
        {
            "unit": ["tra-xuan", "tra-xuan", "tra-giang"],
            "stratum": ["dat_dai", "ho_tich", "dat_dai"],
            "population": [10, 30, 5],
        }
    )
    t = score(q, rows(), frame)  # no "stratum" column: linh_vuc (role stratum) gives it
    # tra-xuan: a1 (dat_dai, w = 10, y1 = 5) and a2 (ho_tich, w = 30, y1 = 4): y1 = 100%
    assert t.unit("tra-xuan").criteria["y1"] == pytest.approx(100.0)
    assert t.weighting == "design"


def test_read_frame_and_margins(tmp_path):
    path = tmp_path / "frame.csv"
    path.write_text(
        "unit,stratum,population\ntra-xuan,dat_dai,120\ntra-xuan,ho_tich,80\n", encoding="utf-8-sig"
    )
    frame = read_frame(path)
    assert frame["population"].tolist() == [120, 80]
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,so_luong\nx,1\n", encoding="utf-8")
    with pytest.raises(ScoringError, match="population"):
        read_frame(bad)
    margins = tmp_path / "m.csv"
    margins.write_text("variable,category,population\ngioi_tinh,1,60\ngioi_tinh,2,40\n", encoding="utf-8")
    assert len(read_margins(margins)) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.txt", b"x", "csv"),
        ("missing.csv", None, "not found"),
        ("r.csv", b"response_id,unit\n\xff\xfe,\xff\n", "UTF-8"),
        ("r.csv", b"", "empty"),
        ("r.xlsx", b"not a workbook", "cannot read"),
        ("r.parquet", b"not parquet", "cannot read"),
        ("r.csv", b"response_id,unit,unit\n1,a,b\n", "unit"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScoringError, match=message):
        read_responses(path)


def test_read_previous_from_json_and_csv(tmp_path):
    q = load_questionnaire("sipas-2017")
    from reports.synthetic import synthetic_responses

    t = score(q, synthetic_responses(q, ["a", "b", "c"], 35, seed=3))
    t.write(tmp_path / "p.json")
    t.write(tmp_path / "p.csv")
    for name in ("p.json", "p.csv"):
        previous = read_previous(tmp_path / name)
        again = score(q, synthetic_responses(q, ["a", "b", "c"], 35, seed=3), previous=previous)
        # JSON keeps full precision; CSV holds 12 significant digits (no float noise), so the change is
        # 0 to within 1e-9 there.
        exact = name.endswith(".json")
        assert all((u.change == 0.0 if exact else abs(u.change) < 1e-9) for u in again.units)
        assert all(u.rank_change == 0 for u in again.units)
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ScoringError, match="broken.json"):
        read_previous(tmp_path / "broken.json")
    with pytest.raises(ScoringError, match="not found"):
        read_previous(tmp_path / "none.json")
    data = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert set(data) >= {"questionnaire", "method", "units", "overall", "warnings"}


@pytest.mark.parametrize("dtype", ["str", object])
def test_text_response_ids_of_one_width(dtype):
    # Equal-width text ids (UUIDs, zero-padded numbers) take a hashed path; the outcome is the same.
    ids = pd.Series([f"R{i:06d}" for i in range(2000)], dtype=dtype)
    df = pd.DataFrame({"response_id": ids, "unit": "u", "kenh": "tv", "y1": 5, "y2": 4})
    assert score(questionnaire(), df).unit("u").n == 2000
    twice = df.copy()
    twice.loc[1500, "response_id"] = "R000007"
    twice.loc[42, "response_id"] = "       "
    with pytest.raises(ScoringError) as err:
        score(questionnaire(), twice)
    text = str(err.value)
    assert "R000007" in text and "row 8" in text and "row 1501" in text
    assert "blank response_id" in text and "row 43" in text
