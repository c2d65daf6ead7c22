"""Languages as data: the kiosk's catalogue and fallback, translation counts, the stored language, scoring by
language.

The Hrê texts of tests/fixtures/languages/lang-test.yaml are test placeholders marked "[test]", not Hrê.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import full_answers, submission
from pyxform import xls2xform
from sqlalchemy import select

from analysis import score
from analysis.domains import score_by
from questionnaires import load_file, load_questionnaire
from questionnaires.dump import to_dict
from questionnaires.languages import (
    is_language_tag,
    missing_translations,
    respondent_languages,
    translation_counts,
)
from questionnaires.xlsform import write_xlsform
from survey.cli import cli
from survey.db import session_scope
from survey.kiosk_texts import catalogue, language_choices, texts_for
from survey.models import Response

FIXTURE = Path(__file__).parent / "fixtures" / "languages" / "lang-test.yaml"
LANG_TEST = load_file(FIXTURE).questionnaire
SIPAS_2023 = load_questionnaire("sipas-2023")
STATIC = Path(__file__).parents[1] / "survey" / "static" / "kiosk"
XF = "{http://www.w3.org/2002/xforms}"


# ------------------------------------------------------------------------------------ language tags
@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("vi", True),
        ("hre", True),
        ("sed", True),
        ("zh-Hant-TW", True),
        ("sed-x-cadong", True),
        ("x-cadong", True),
        ("default", False),
        ("Swahili", False),
        ("Tiếng Việt", False),
        ("", False),
    ],
)
def test_language_tags(code, ok):
    assert is_language_tag(code) is ok


def test_vietnamese_is_always_offered_first_and_bare_xlsform_names_never():
    assert respondent_languages(SIPAS_2023) == ("vi", "en", "cua", "hre", "sed")
    assert respondent_languages(LANG_TEST) == ("vi", "en", "hre")
    odd = LANG_TEST.__class__(**{**LANG_TEST.__dict__, "languages": ("en", "Swahili", "default", "hre")})
    assert respondent_languages(odd) == ("vi", "en", "hre")


# ------------------------------------------------------------------------------- counting, fallback
def test_translation_counts_of_the_test_form_match_a_hand_count():
    counts = translation_counts(LANG_TEST)
    got = {lang: {k: (c.present, c.missing) for k, c in kinds.items()} for lang, kinds in counts.items()}
    # 2 questions, 5 choices (one list), 2 hints; [test] Hrê: cau_1 yes / cau_2 no, choice 3 missing,
    # cau_2's hint only.
    assert got == {
        "vi": {"questions": (2, 0), "choices": (5, 0), "hints": (2, 0)},
        "en": {"questions": (2, 0), "choices": (5, 0), "hints": (2, 0)},
        "hre": {"questions": (1, 1), "choices": (4, 1), "hints": (1, 1)},
    }
    assert missing_translations(LANG_TEST, "hre") == ["cau_1 (hint)", "likert5.3", "cau_2"]


def test_the_shipped_minority_languages_are_empty_and_fall_back_to_vietnamese():
    counts = translation_counts(SIPAS_2023)
    answered = counts["vi"]["questions"].present
    assert answered == counts["en"]["questions"].present > 0
    for lang in ("cua", "hre", "sed"):
        assert counts[lang]["questions"].present == 0 and counts[lang]["questions"].missing == answered
        assert counts[lang]["choices"].present == 0
    question = next(q for q in SIPAS_2023.questions() if q.type.is_answerable)
    assert question.label.get("hre") == question.label.vi  # what the kiosk shows


def test_show_languages_counts_present_and_missing_per_language():
    result = CliRunner().invoke(cli, ["questionnaires", "show", str(FIXTURE), "--languages"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(line for line in lines if line.startswith("Hrê (hre)"))
    assert row.split()[-3:] == ["1/1", "4/1", "1/1"]
    result = CliRunner().invoke(cli, ["questionnaires", "show", "sipas-2023", "--languages"])
    assert "hre: chưa có bản dịch nào" in result.output
    assert "en: chưa" not in result.output


# ------------------------------------------------------------------------------- the kiosk catalogue
def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_catalogue_is_complete_in_vietnamese_and_english_and_empty_in_minority_languages():
    texts = catalogue()["texts"]
    assert set(texts["vi"]) == set(texts["en"])
    for key, vi in texts["vi"].items():
        assert vi.strip() and texts["en"][key].strip()
        assert _placeholders(vi) == _placeholders(texts["en"][key]), key
    for lang in ("cua", "hre", "sed"):
        assert texts[lang] == {}  # never invented
        assert catalogue()["names"][lang]["own"] is None  # no autonym we could check
    assert texts["vi"]["thanksText"].startswith("Đã ghi nhận")


def test_every_text_the_kiosk_asks_for_is_in_the_catalogue():
    source = (STATIC / "kiosk.js").read_text(encoding="utf-8")
    keys = set(re.findall(r'\bT\("(\w+)"', source))
    assert {"next", "back", "submit", "restart", "idleText", "thanksText"} <= keys
    assert keys <= set(catalogue()["texts"]["vi"])


def test_texts_and_language_buttons_for_a_campaign():
    texts = texts_for(respondent_languages(SIPAS_2023))
    assert list(texts) == ["vi", "en", "cua", "hre", "sed"]
    assert texts["hre"] == {} and texts["en"]["next"] == "Continue"
    assert language_choices(SIPAS_2023) == [
        {"code": "vi", "name": "Tiếng Việt", "name_lang": "vi"},
        {"code": "en", "name": "English", "name_lang": "en"},
        {"code": "cua", "name": "Tiếng Cor", "name_lang": "vi"},
        {"code": "hre", "name": "Tiếng Hrê", "name_lang": "vi"},
        {"code": "sed", "name": "Tiếng Ca Dong", "name_lang": "vi"},  # the form's own name for sed
    ]


def test_the_service_worker_keeps_the_language_module():
    from survey.kiosk import KIOSK_ASSETS

    assert "kiosk/i18n.js" in KIOSK_ASSETS
    assert KIOSK_ASSETS.index("kiosk/i18n.js") < KIOSK_ASSETS.index("kiosk/kiosk.js")


# ------------------------------------------------------------------------------------------ XLSForm
@pytest.mark.parametrize("q", [LANG_TEST, SIPAS_2023], ids=["lang-test", "sipas-2023"])
def test_translations_round_trip_through_xlsform_and_pyxform_accepts_them(q, tmp_path):
    path = write_xlsform(q, tmp_path / f"{q.id}.xlsx")
    back = load_file(path)
    assert back.warnings == []
    assert back.questionnaire == q and to_dict(back.questionnaire) == to_dict(q)
    warnings: list[str] = []
    xform = ET.fromstring(xls2xform.convert(str(path), warnings=warnings).xform)
    translations = {t.get("lang"): t for t in xform.iter(f"{XF}translation")}
    if q is LANG_TEST:
        assert "Hrê (hre)" in translations
        assert "[test] hre: câu 1" in {v.text for v in translations["Hrê (hre)"].iter(f"{XF}value")}


# --------------------------------------------------------------------------------------- the API
@pytest.mark.db
def test_the_kiosk_stores_the_language_and_refuses_one_the_campaign_lacks(app, client, make_campaign):
    campaign_id, tokens = make_campaign("sipas-2023")
    token = tokens["tra-xuan"]
    definition = client.get(f"/api/v1/kiosk/{token}/definition").get_json()
    assert [lang["code"] for lang in definition["languages"]] == ["vi", "en", "cua", "hre", "sed"]
    assert definition["texts"]["hre"] == {} and definition["texts"]["vi"]["submit"] == "Gửi phiếu"

    answers = full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "2"})
    in_hre = submission(SIPAS_2023, token, answers, language="hre")
    old_tablet = submission(SIPAS_2023, token, answers)  # a page from before languages: Vietnamese
    wrong = submission(SIPAS_2023, token, answers, language="fr")
    assert client.post("/api/v1/responses", json=in_hre).status_code == 201
    assert client.post("/api/v1/responses", json=old_tablet).status_code == 201
    reply = client.post("/api/v1/responses", json=wrong)
    assert reply.status_code == 400
    assert [(e["item"], e["code"]) for e in reply.get_json()["errors"]] == [("language", "invalid_code")]

    with app.app_context(), session_scope() as session:
        rows = dict(session.execute(select(Response.instance_id, Response.language)).all())
        assert rows == {in_hre["instance_id"]: "hre", old_tablet["instance_id"]: "vi"}
        from survey.storage import campaign_frame

        frame = campaign_frame(session.get_bind(), campaign_id)
    assert dict(zip(frame["response_id"], frame["language"], strict=True)) == rows


@pytest.mark.db
def test_a_paper_form_is_vietnamese_and_an_import_has_no_language(app, make_campaign):
    from survey.models import Campaign
    from survey.storage import save_response

    campaign_id, _ = make_campaign("sipas-2023", kiosk_units=())
    answers = full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "2"})
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        common = dict(
            campaign=campaign,
            unit_code="tra-xuan",
            answers=answers,
            questionnaire_id="sipas-2023",
            version="2023.1",
            started_at="2024-05-02T08:00:00+07:00",
            submitted_at="2024-05-02T08:05:00+07:00",
        )
        paper, _ = save_response(session, instance_id=str(uuid.uuid4()), source="paper", **common)
        imported, _ = save_response(session, instance_id=str(uuid.uuid4()), source="import", **common)
        assert (paper.language, imported.language) == ("vi", None)


# ------------------------------------------------------------------------------- scoring by language
RESPONSES = pd.DataFrame(
    {
        "response_id": [f"r{i}" for i in range(1, 8)],
        "unit": ["tra-xuan"] * 7,
        "group": ["citizen"] * 7,
        "cau_1": ["5", "4", "2", "1", "5", "5", "1"],
        "cau_2": ["4", "4", "3", "5", "2", "4", "4"],
        "language": ["vi", "vi", "vi", "vi", "hre", "hre", "hre"],
    }
)


def _domain_se(domain: np.ndarray) -> float:
    """The domain index's linearised SE, worked out here: mean of two shares, one stratum, weights 1."""
    y = RESPONSES[["cau_1", "cau_2"]].astype(int).isin([4, 5]).to_numpy(float)
    x = np.ones_like(y)
    d = domain.astype(float)[:, None]
    ratio = (y * d).sum(0) / (x * d).sum(0)
    z = 100 * 0.5 * (((y - ratio * x) * d) / (x * d).sum(0)).sum(1)  # zero outside the domain
    n = len(z)
    return float(np.sqrt(n / (n - 1) * ((z - z.mean()) ** 2).sum()))


def test_the_index_by_language_matches_a_hand_worked_value():
    table = score_by("language", {"questionnaire": LANG_TEST, "responses": RESPONSES})
    rows = {r.domain: r for r in table.rows}
    assert list(rows) == ["vi", "hre"]  # Vietnamese first
    # vi: cau_1 2/4 satisfied, cau_2 3/4 -> (50 + 75) / 2; hre: 2/3 and 2/3; all: 4/7 and 5/7.
    assert rows["vi"].index == pytest.approx(62.5)
    assert rows["hre"].index == pytest.approx(200 / 3)
    assert table.overall.index == pytest.approx((400 / 7 + 500 / 7) / 2)
    assert (rows["vi"].n, rows["hre"].n, table.overall.n) == (4, 3, 7)
    language = RESPONSES["language"].to_numpy()
    assert rows["vi"].se == pytest.approx(_domain_se(language == "vi"))
    assert rows["hre"].se == pytest.approx(_domain_se(language == "hre"))
    assert table.overall.index == pytest.approx(score(LANG_TEST, RESPONSES).overall.index)


def test_sipas_score_by_language_writes_one_row_per_language(tmp_path):
    responses = tmp_path / "responses.csv"
    RESPONSES.to_csv(responses, index=False)
    out = tmp_path / "by-language.json"
    result = CliRunner().invoke(
        cli, ["score", "-q", str(FIXTURE), "-r", str(responses), "--by", "language", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [(d["domain"], d["n"]) for d in data["domains"]] == [("vi", 4), ("hre", 3)]
    assert data["domains"][0]["index"] == pytest.approx(62.5)
    assert "language hre: 3 phiếu" in result.output


def test_scoring_by_a_missing_column_is_a_clear_error(tmp_path):
    responses = tmp_path / "responses.csv"
    RESPONSES.drop(columns="language").to_csv(responses, index=False)
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "-q",
            str(FIXTURE),
            "-r",
            str(responses),
            "--by",
            "language",
            "-o",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code != 0
    assert "không có cột 'language'" in result.output


# ----------------------------------------------------------------------------------- i18n.js (Node)
I18N_JS = r"""
const fs = require("fs");
const attrs = {};
global.window = global;
global.document = {
  documentElement: { lang: "" },
  createElement: (tag) => ({ tag, attrs: {}, setAttribute(k, v) { this.attrs[k] = v; }, textContent: "" }),
};
eval(fs.readFileSync(process.argv[2], "utf8"));
const I = window.SipasI18n;
const def = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const out = {};
I.setup(def);
out.start = [I.lang(), document.documentElement.lang, I.t("next"), I.chromeLang()];
out.unknown = I.setLang("fr");
I.setLang("en");
out.en = [I.t("next"), I.t("pageErrors", { n: 3 }), I.chromeLang(), I.label({ vi: "Có", en: "Yes" })];
I.setLang("hre");
const badged = I.labelNodes({ vi: "Bình thường", en: "Neutral" });
out.hre = [
  document.documentElement.lang, I.t("next"), I.chrome("next").lang, I.chromeLang(),
  I.t("idleText", { s: 9 }),
  I.label({ vi: "Câu 1", hre: "[test] hre: câu 1" }), I.label({ vi: "Câu 2", en: "Q2" }),
  [badged[0], badged[1].textContent, badged[1].attrs["aria-hidden"]],
  I.labelNodes({ vi: "Câu 1", hre: "[test] x" })[1],
];
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_i18n_js_switches_languages_and_falls_back_to_marked_vietnamese(tmp_path):
    definition = {
        "languages": language_choices(LANG_TEST),
        "texts": texts_for(respondent_languages(LANG_TEST)),
    }
    (tmp_path / "def.json").write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "run.js").write_text(I18N_JS, encoding="utf-8")
    done = subprocess.run(
        [shutil.which("node"), str(tmp_path / "run.js"), str(STATIC / "i18n.js"), str(tmp_path / "def.json")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    out = json.loads(done.stdout)
    assert out["start"] == ["vi", "vi", "Tiếp tục", "vi"]
    assert out["unknown"] == "vi"  # a language the campaign does not offer is never chosen
    assert out["en"] == [
        "Continue",
        "3 question(s) still need an answer or a correction (marked in red).",
        "en",
        {"text": "Yes", "lang": "en", "fallback": False},
    ]
    assert out["hre"] == [
        "hre",
        "Tiếp tục",  # no Hrê catalogue: the Vietnamese text
        "vi",
        "vi",
        "Phiếu chưa gửi sẽ được xoá sau 9 giây nếu không có thao tác.",
        {"text": "[test] hre: câu 1", "lang": "hre", "fallback": False},
        {"text": "Câu 2", "lang": "vi", "fallback": True},
        ["Bình thường", "VI", "true"],
        None,
    ]


# ------------------------------------------------------------------------------- the campaign page
@pytest.mark.db
def test_the_campaign_page_marks_missing_translations(app, client, make_campaign):
    from survey.users import create_user

    with app.app_context(), session_scope() as session:
        user_id = create_user(session, "analyst1", "mat-khau-dai-du-10", "analyst").id
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
    test_id, _ = make_campaign(LANG_TEST, kiosk_units=(), name="Thử ngôn ngữ")
    shipped_id, _ = make_campaign("sipas-2023", kiosk_units=())

    page = client.get(f"/admin/campaigns/{test_id}").get_data(as_text=True)
    rows = re.findall(r'<tr data-lang="(\w+)">(.*?)</tr>', page, flags=re.S)
    assert [code for code, _ in rows] == ["vi", "en", "hre"]
    hre = dict(rows)["hre"]
    assert re.findall(r'class="num">([^<]*)<', hre) == ["1/2", "4/5", "1/2"]
    assert "Thiếu 3 — hiện tiếng Việt" in hre
    assert "<code>cau_1 (hint)</code>, <code>likert5.3</code>, <code>cau_2</code>" in hre
    assert "Đủ" in dict(rows)["en"]

    page = client.get(f"/admin/campaigns/{shipped_id}").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-lang="(\w+)">(.*?)</tr>', page, flags=re.S))
    assert list(rows) == ["vi", "en", "cua", "hre", "sed"]
    for lang in ("cua", "hre", "sed"):
        assert "Chưa có bản dịch — hiện tiếng Việt" in rows[lang]
    assert "Tiếng Ca Dong" in rows["sed"]


def test_the_report_has_a_language_sheet_only_when_forms_came_in_several_languages(tmp_path):
    import openpyxl

    both = tmp_path / "both.csv"
    RESPONSES.to_csv(both, index=False)
    only_vi = tmp_path / "vi.csv"
    RESPONSES.assign(language="vi").to_csv(only_vi, index=False)
    for source, out in ((both, tmp_path / "both.xlsx"), (only_vi, tmp_path / "vi.xlsx")):
        result = CliRunner().invoke(
            cli, ["report", "-q", str(FIXTURE), "-r", str(source), "--no-figures", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "both.xlsx", read_only=True)
    assert book.sheetnames.index("Theo ngôn ngữ") == book.sheetnames.index("Theo tiêu chí") + 1
    rows = [r for r in book["Theo ngôn ngữ"].iter_rows(values_only=True) if r[0] and r[1] is not None]
    assert [r[:3] for r in rows[1:]] == [
        ("Tiếng Việt (vi)", 4, pytest.approx(62.5)),
        ("Hrê (hre)", 3, pytest.approx(200 / 3)),
        ("Toàn huyện", 7, pytest.approx(450 / 7)),
    ]
    assert rows[1][3] == pytest.approx(_domain_se(RESPONSES["language"].to_numpy() == "vi"))
    assert "Theo ngôn ngữ" not in openpyxl.load_workbook(tmp_path / "vi.xlsx", read_only=True).sheetnames


# ----------------------------------------------------------------------------------- the migration
def test_the_migration_gives_kiosk_and_paper_forms_vietnamese_and_imports_none(tmp_path):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    from survey.db import alembic_config, make_engine, upgrade
    from survey.models import Base

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0007")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO campaigns (id, name, questionnaire_id, questionnaire_version, definition, "
                    "margin_of_error, status, created_at, double_entry) VALUES (1, 'Cũ', 'sipas-2023', "
                    "'2023.1', '{}', 0.05, 'open', '2024-01-01T00:00:00+00:00', 0)"
                )
            )
            for i, source in enumerate(("kiosk", "paper", "import", "api"), start=1):
                conn.execute(
                    text(
                        "INSERT INTO responses (instance_id, campaign_id, questionnaire_id, "
                        "questionnaire_version, unit_code, answers, content_hash, source, received_at, late, "
                        "review_state) VALUES (:iid, 1, 'sipas-2023', '2023.1', 'tra-xuan', '{}', 'h', "
                        ":source, '2024-01-01T00:00:00+00:00', 0, 'received')"
                    ),
                    {"iid": f"00000000-0000-4000-8000-00000000000{i}", "source": source},
                )
        upgrade(url)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT source, language FROM responses")).all())
            assert got == {"kiosk": "vi", "paper": "vi", "import": None, "api": None}
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        command.downgrade(alembic_config(url), "0007")
        with engine.connect() as conn:
            columns = [row[1] for row in conn.execute(text("PRAGMA table_info(responses)"))]
            assert "language" not in columns and "source" in columns
    finally:
        engine.dispose()
