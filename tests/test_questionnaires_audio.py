"""Spoken prompts in the definition: ``media::audio::<language>`` columns and YAML ``audio`` mappings, read,
checked beside the definition, written back, and accepted by pyxform."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import openpyxl
import pytest
import yaml
from pyxform import xls2xform

from questionnaires import ErrorCode, QuestionnaireError, dump_yaml, load_file, prompt_key, to_dict
from questionnaires.xlsform import write_xlsform

XF = "{http://www.w3.org/2002/xforms}"


def workbook(path, **sheets) -> str:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return str(path)


def touch(folder, *names) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"ID3 not really audio")  # the loader checks presence, not content


VI_NAME = "Tiếng Việt (vi)"
HRE_NAME = "Hrê (hre)"
DEFINITION = {
    "id": "nghe",
    "version": "1",
    "title": {"vi": "Phiếu có đọc câu hỏi"},
    "languages": ["vi", "hre"],
    "language_names": {"hre": HRE_NAME},
    "choices": {
        "co_khong": [
            {
                "code": "1",
                "label": {"vi": "Có"},
                "audio": {"vi": "am-thanh/co.mp3", "hre": "am-thanh/co-hre.mp3"},
            },
            {"code": "2", "label": {"vi": "Không"}},
        ]
    },
    "sections": [
        {
            "code": "A",
            "label": {"vi": "Phần A"},
            "audio": {"vi": "am-thanh/phan-a.mp3"},
            "questions": [
                {
                    "code": "q1",
                    "type": "single",
                    "label": {"vi": "Ông/Bà đã làm thủ tục chưa?"},  # no Hrê text: none is invented
                    "choices": "co_khong",
                    "audio": {"vi": "am-thanh/q1.mp3", "hre": "am-thanh/q1-hre.mp3"},
                },
                {"code": "q2", "type": "text", "label": {"vi": "Góp ý"}},
            ],
        }
    ],
}
FILES = (
    "am-thanh/co.mp3",
    "am-thanh/co-hre.mp3",
    "am-thanh/phan-a.mp3",
    "am-thanh/q1.mp3",
    "am-thanh/q1-hre.mp3",
)


@pytest.fixture
def definition(tmp_path):
    touch(tmp_path, *FILES)
    path = tmp_path / "nghe.yaml"
    path.write_text(yaml.safe_dump(DEFINITION, allow_unicode=True), encoding="utf-8")
    return path


def test_yaml_audio_reads_into_the_model_and_dumps_back(definition):
    q = load_file(definition).questionnaire
    assert dict(q.question("q1").audio) == {"vi": "am-thanh/q1.mp3", "hre": "am-thanh/q1-hre.mp3"}
    assert dict(q.question("q2").audio) == {}
    assert dict(q.sections[0].audio) == {"vi": "am-thanh/phan-a.mp3"}
    assert dict(q.choice_lists["co_khong"].choices[0].audio) == {
        "vi": "am-thanh/co.mp3",
        "hre": "am-thanh/co-hre.mp3",
    }
    assert q.question("q1").label.text("hre") is None
    assert sorted(q.audio_files()) == sorted(
        [
            ("s:A", "vi", "am-thanh/phan-a.mp3"),
            ("q:q1", "vi", "am-thanh/q1.mp3"),
            ("q:q1", "hre", "am-thanh/q1-hre.mp3"),
            ("c:co_khong:1", "vi", "am-thanh/co.mp3"),
            ("c:co_khong:1", "hre", "am-thanh/co-hre.mp3"),
        ]
    )
    data = yaml.safe_load(dump_yaml(q))
    assert data["sections"][0]["questions"][0]["audio"] == {
        "vi": "am-thanh/q1.mp3",
        "hre": "am-thanh/q1-hre.mp3",
    }
    assert "audio" not in data["sections"][0]["questions"][1]
    assert prompt_key("choice", "co_khong", "1") == "c:co_khong:1"


def test_yaml_to_xlsform_to_yaml_keeps_the_audio_and_pyxform_accepts_it(definition, tmp_path):
    q = load_file(definition).questionnaire
    path = write_xlsform(q, tmp_path / "nghe.xlsx")  # beside the audio files, as ODK Collect wants them
    wb = openpyxl.load_workbook(path)
    survey_header = [c.value for c in wb["survey"][1]]
    choices_header = [c.value for c in wb["choices"][1]]
    assert f"media::audio::{VI_NAME}" in survey_header
    assert f"media::audio::{HRE_NAME}" in survey_header
    assert f"media::audio::{HRE_NAME}" in choices_header
    rows = {r[1]: r for r in ([c.value for c in row] for row in wb["survey"].iter_rows(min_row=2))}
    assert rows["q1"][survey_header.index(f"media::audio::{HRE_NAME}")] == "am-thanh/q1-hre.mp3"
    back = load_file(path)
    assert back.questionnaire == q
    assert to_dict(back.questionnaire) == to_dict(q)
    warnings: list[str] = []
    xform = ET.fromstring(xls2xform.convert(str(path), warnings=warnings).xform)
    audio = {v.text for v in xform.iter(f"{XF}value") if v.get("form") == "audio"}
    assert {
        "jr://audio/am-thanh/q1.mp3",
        "jr://audio/am-thanh/q1-hre.mp3",
        "jr://audio/am-thanh/co.mp3",
    } <= audio


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("audio", "vi"),
        ("media::audio", "vi"),
        (f"media::audio::{HRE_NAME}", "hre"),
        (f"audio::{HRE_NAME}", "hre"),
    ],
)
def test_xlsform_audio_columns_and_pyxforms_alias_read_as_spoken_prompts(tmp_path, header, language):
    touch(tmp_path, "q1.ogg")
    path = workbook(
        tmp_path / "f.xlsx",
        survey=[
            ["type", "name", "label", f"label::{HRE_NAME}", header],
            ["text", "q1", "Tên xã", None, "q1.ogg"],
        ],
        settings=[["form_id", "version", "default_language"], ["f", "1", VI_NAME]],
    )
    q = load_file(path).questionnaire
    assert dict(q.question("q1").audio) == {language: "q1.ogg"}


def test_a_language_with_only_audio_is_one_of_the_forms_languages(tmp_path):
    touch(tmp_path, "q1-hre.mp3")
    path = workbook(
        tmp_path / "f.xlsx",
        survey=[
            ["type", "name", f"label::{VI_NAME}", f"media::audio::{HRE_NAME}"],
            ["text", "q1", "Tên", "q1-hre.mp3"],
        ],
        settings=[["form_id", "version"], ["f", "1"]],
    )
    q = load_file(path).questionnaire
    assert "hre" in q.languages
    assert dict(q.question("q1").audio) == {"hre": "q1-hre.mp3"}
    assert q.question("q1").label.text("hre") is None


def test_a_missing_audio_file_names_the_row_and_column(tmp_path):
    path = workbook(
        tmp_path / "f.xlsx",
        survey=[
            ["type", "name", f"label::{VI_NAME}", f"media::audio::{VI_NAME}"],
            ["text", "q1", "Tên", None],
            ["text", "q2", "Tuổi", "thieu.mp3"],
        ],
        choices=[["list_name", "name", f"label::{VI_NAME}", f"media::audio::{VI_NAME}"]],
        settings=[["form_id", "version"], ["f", "1"]],
    )
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    problem = info.value.problems[0]
    assert problem.code is ErrorCode.INVALID_FILE
    assert problem.where == f"survey row 3, column 'media::audio::{VI_NAME}'"
    assert "thieu.mp3" in str(info.value) and "không tìm thấy tệp âm thanh" in str(info.value)


def test_a_missing_yaml_audio_file_names_the_item_and_language(definition):
    (definition.parent / "am-thanh/q1-hre.mp3").unlink()
    with pytest.raises(QuestionnaireError) as info:
        load_file(definition)
    assert info.value.problems[0].where == "item q1, audio hre"
    assert "am-thanh/q1-hre.mp3" in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("../ngoai.mp3", "relative to the definition's folder"),
        ("/etc/passwd.mp3", "relative to the definition's folder"),
        ("https://x.vn/a.mp3", "relative to the definition's folder"),
        ("anh.png", "not an audio file"),
    ],
)
def test_audio_paths_outside_the_folder_or_not_audio_are_refused(tmp_path, value, message):
    data = {**DEFINITION, "choices": {"co_khong": [{"code": "1", "label": "Có"}]}}
    data["sections"] = [
        {
            "code": "A",
            "label": "A",
            "questions": [
                {"code": "q1", "type": "single", "choices": "co_khong", "label": "Q", "audio": {"vi": value}}
            ],
        }
    ]
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    assert message in str(info.value)
    assert info.value.problems[0].where == "item q1, audio vi"


def test_audio_in_a_language_the_form_does_not_have_is_refused(tmp_path):
    touch(tmp_path, "q1.mp3")
    data = {**DEFINITION, "choices": {"co_khong": [{"code": "1", "label": "Có"}]}}
    data["sections"] = [
        {
            "code": "A",
            "label": "A",
            "questions": [{"code": "q1", "type": "text", "label": "Q", "audio": {"cor": "q1.mp3"}}],
        }
    ]
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="unknown language 'cor'"):
        load_file(path)


def test_convert_copies_the_audio_files_beside_the_output(definition, tmp_path):
    from click.testing import CliRunner

    from survey.cli import cli

    out = tmp_path / "ra" / "nghe.xlsx"
    out.parent.mkdir()
    result = CliRunner().invoke(
        cli, ["questionnaires", "convert", str(definition), str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "copied 5 audio file(s)" in result.output
    for name in FILES:
        assert (out.parent / name).read_bytes() == (definition.parent / name).read_bytes()
    assert load_file(out).questionnaire == load_file(definition).questionnaire  # the output finds its files
