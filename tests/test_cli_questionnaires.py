"""``sipas questionnaires``: list, show, validate, convert and units, through the real ``sipas`` command."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from questionnaires import load_file, load_questionnaire
from questionnaires.loader import DEFINITIONS_DIR
from survey.cli import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["questionnaires", *args], catch_exceptions=False)

    return invoke


def one_line_error(result) -> str:
    """The error output of a failed command: exactly one line, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_list_shows_each_definition_with_its_counts(run):
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "Phiên"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"par-xa-2023", "sipas-2017", "sipas-2023"}
    for qid, line in rows.items():
        q = load_questionnaire(qid)
        items = sum(1 for qn in q.questions() if qn.type.is_answerable)
        assert line.split()[1:4] == [q.version, str(items), str(len(q.scoring.criteria))]
        assert line.endswith(str(DEFINITIONS_DIR / f"{qid}.yaml"))
    assert "2017.1          31        22  Phiếu khảo sát sự hài lòng" in rows["sipas-2017"]


def test_list_reports_a_broken_definition_and_keeps_going(run, tmp_path, monkeypatch):
    (tmp_path / "hong.yaml").write_text("id: hong\nversion: [1\n", encoding="utf-8")
    monkeypatch.setenv("SIPAS_QUESTIONNAIRE_PATH", str(tmp_path))
    result = run("list")
    assert result.exit_code == 0
    assert any(line.startswith("hong ") for line in result.stdout.splitlines())
    assert "sipas-2023" in result.stdout
    assert "hong.yaml" in result.stderr and "invalid-file" in result.stderr


def test_show_prints_sections_questions_and_the_scoring_tree(run):
    result = run("show", "sipas-2023")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("sipas-2023 2023.1 — Phiếu khảo sát ý kiến người dân")
    assert "[phan_a] Phần A. Thông tin về người trả lời" in out
    assert "linh_vuc" in out and "role: stratum" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("phan_anh_1 "))
    assert "single likert5(1/2/3/4/5)" in line
    assert "bắt buộc" in line and "relevant: ${da_thuc_hien_tthc} = 1 and ${da_gop_y} = 1" in line
    assert "34 tiêu chí (criteria)" in out
    assert "  field dich_vu — Sự hài lòng đối với việc cung ứng dịch vụ hành chính công" in out
    assert "[gate: ${da_thuc_hien_tthc} = 1]" in out
    assert "      criterion chat_luong_9 — Chính sách cải cách hành chính nhà nước" in out


def test_show_in_english_and_the_points_settings(run):
    result = run("show", "par-xa-2023", "--lang", "en")
    assert result.exit_code == 0
    assert "[chi_dao] I. Leadership and direction of administrative reform" in result.stdout
    assert "values A=1 B=0.6 C=0.2 D=0" in result.stdout
    assert "criterion sipas_xa — Commune satisfaction index  [items: hl_1 hl_2 hl_3 hl_4 hl_5; max 2;" in (
        result.stdout
    )


def test_show_an_unknown_id(run):
    line = one_line_error(run("show", "sipas-1999"))
    assert "no questionnaire with id 'sipas-1999'" in line and "[not-found]" in line


def test_validate_ok_lists_warnings(run, tmp_path):
    path = tmp_path / "thu.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            id: thu
            version: "1"
            title: {vi: "Phiếu thử", en: "Test"}
            languages: [vi, en]
            sections:
              - code: s1
                label: "Phần 1"
                questions:
                  - {code: y_kien, type: text, label: {vi: "Ý kiến", en: "Comment"}}
            """
        ),
        encoding="utf-8",
    )
    result = run("validate", str(path))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"OK: {path} — thu 1, 1 câu hỏi (items), 0 tiêu chí (criteria)"
    assert lines[1:] == [f"Cảnh báo — warning: {path}: section s1: no English label [missing-en-label]"]


def test_validate_a_shipped_definition(run):
    result = run("validate", str(DEFINITIONS_DIR / "sipas-2017.yaml"))
    assert result.exit_code == 0
    assert result.stdout.startswith("OK: ") and "22 tiêu chí" in result.stdout
    assert "warning" not in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("id: thu\nversion: [1\n", "not valid YAML"),
        (
            "id: thu\nversion: '1'\ntitle: Phiếu\nsections:\n"
            "  - {code: s1, label: 'Phần', questions: [{code: a, type: text, label: 'A'},"
            " {code: a, type: text, label: 'B'}]}\n",
            "item code 'a' is used twice",
        ),
    ],
)
def test_validate_errors_are_one_line_naming_the_file(run, tmp_path, content, expected):
    path = tmp_path / "thu.yaml"
    path.write_text(content, encoding="utf-8")
    line = one_line_error(run("validate", str(path)))
    assert line.startswith(f"Error: {path}: ")
    assert expected in line


def test_validate_a_broken_workbook_names_the_row(run, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    for row in (["type", "name", "label"], ["text", "a", "A"], ["select_one khong_co", "b", "B"]):
        ws.append(row)
    settings = wb.create_sheet("settings")
    settings.append(["form_title", "version"])
    settings.append(["Phiếu", "1"])
    path = tmp_path / "thu.xlsx"
    wb.save(path)
    line = one_line_error(run("validate", str(path)))
    assert line == (
        f"Error: {path}: survey row 3: không có danh sách lựa chọn này — "
        "choice list 'khong_co' does not exist [unknown-choice-list]"
    )


def test_validate_a_text_file_named_xlsx(run, tmp_path):
    path = tmp_path / "thu.xlsx"
    path.write_text("không phải Excel", encoding="utf-8")
    line = one_line_error(run("validate", str(path)))
    assert "not a readable Excel .xlsx or .xls workbook" in line and str(path) in line


def test_convert_yaml_to_xlsform_and_back(run, tmp_path):
    xlsx = tmp_path / "sipas-2023.xlsx"
    result = run("convert", "sipas-2023", str(xlsx))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Đã ghi — written: {xlsx}"
    yaml_path = tmp_path / "lai.yaml"
    assert run("convert", str(xlsx), str(yaml_path)).exit_code == 0
    original = load_questionnaire("sipas-2023")
    assert load_file(xlsx).questionnaire == original
    assert load_file(yaml_path).questionnaire == original
    assert "Câu 9. Mức độ hài lòng" in yaml_path.read_text(encoding="utf-8")


def test_convert_refuses_to_overwrite_without_force(run, tmp_path):
    target = tmp_path / "out.yaml"
    target.write_text("giữ nguyên", encoding="utf-8")
    line = one_line_error(run("convert", "sipas-2017", str(target)))
    assert "file exists; use --force" in line
    assert target.read_text(encoding="utf-8") == "giữ nguyên"
    assert run("convert", "sipas-2017", str(target), "--force").exit_code == 0
    assert load_file(target).questionnaire == load_questionnaire("sipas-2017")


def test_convert_errors(run, tmp_path):
    line = one_line_error(run("convert", "sipas-2017", str(tmp_path / "out.csv")))
    assert "unsupported output type .csv" in line
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: thu\nversion: '1'\ntitle: Phiếu\nsections: []\n", encoding="utf-8")
    target = tmp_path / "bad.xlsx"
    line = one_line_error(run("convert", str(bad), str(target)))
    assert "'sections' is required" in line
    assert not target.exists()


def test_units(run):
    result = run("units")
    assert result.exit_code == 0
    assert result.stdout.startswith("tra-bong-2023  16 đơn vị (units), từ 2023-01-01")
    result = run("units", "tra-bong-2023")
    lines = result.stdout.splitlines()
    assert len(lines) == 17
    assert lines[1].split(None, 1) == ["tra-xuan", "Thị trấn Trà Xuân"]
    assert lines[-1].split(None, 1) == ["tra-tay", "Xã Trà Tây"]
    assert "[not-found]" in one_line_error(run("units", "khong-co"))


def test_help_is_listed_under_sipas(run):
    result = CliRunner().invoke(cli, ["--help"])
    assert "questionnaires" in result.stdout
    result = run("--help")
    for command in ("list", "show", "validate", "convert", "units"):
        assert command in result.stdout
