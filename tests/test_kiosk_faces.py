"""Faces for satisfaction scales and one question per screen: everything but the browser.

Which questions are faces and where each choice sits on the scale (questionnaires.faces), the
``faces`` appearance through YAML and XLSForm, the campaign's kiosk display setting (stored beside the
integrity checks' settings without disturbing them, audited, sent with the definition), the faces'
geometry (static/kiosk/faces.js run in Node: the shape, not only the fill, changes with the level) and
the WCAG contrast of the colours faces.css and faces.js use.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from questionnaires import (
    face_levels,
    from_data,
    is_face_question,
    load_file,
    load_questionnaire,
    read_xlsform,
    to_dict,
    write_xlsform,
)
from survey.cli import cli
from survey.client import client_definition
from survey.db import session_scope
from survey.integrity import change_settings, settings_for
from survey.kiosk_display import KIOSK_DISPLAY_KEY, KioskDisplay, display_for, set_display
from survey.models import AuditEvent, Campaign
from survey.users import create_user

STATIC = Path(__file__).resolve().parents[1] / "survey" / "static" / "kiosk"
SIPAS_2017 = load_questionnaire("sipas-2017")
SIPAS_2023 = load_questionnaire("sipas-2023")
PAR_XA = load_questionnaire("par-xa-2023")


def _questionnaire(choices: list, *, appearance: str = "faces", scoring: dict | None = None, **question):
    """A one-question questionnaire whose list ``scale`` has ``choices`` ([code, label] pairs)."""
    data = {
        "id": "thu-mat",
        "version": "1",
        "title": {"vi": "Thử"},
        "choices": {"scale": [{"code": c, "label": {"vi": label}} for c, label in choices]},
        "sections": [
            {
                "code": "s",
                "label": {"vi": "Phần"},
                "questions": [
                    {"code": "hl", "type": "single", "choices": "scale", "label": {"vi": "Hài lòng?"}}
                    | ({"appearance": appearance} if appearance else {})
                    | question
                ],
            }
        ],
    }
    if scoring is not None:
        data["scoring"] = {
            "method": "share_satisfied",
            "index": {
                "code": "idx",
                "label": {"vi": "Chỉ số"},
                "elements": [{"code": "e", "label": {"vi": "Yếu tố"}, "criteria": ["hl"]}],
            },
        } | scoring
    return from_data(data, file="thu.yaml").questionnaire


# ------------------------------------------------------------------------------------- levels
def test_the_shipped_likert_scale_runs_from_frown_to_smile_by_code():
    assert face_levels(SIPAS_2017, "likert5") == {"1": 0.0, "2": 0.25, "3": 0.5, "4": 0.75, "5": 1.0}


def test_dont_know_is_off_the_scale_and_option_values_say_which_end_is_best():
    # par-xa-2023: A (1.0 of the points) is the best, D (0.0) the worst; KB is not a valid answer.
    levels = face_levels(PAR_XA, "muc_tot")
    assert levels == {"D": 0.0, "C": pytest.approx(1 / 3), "B": pytest.approx(2 / 3), "A": 1.0}
    assert "KB" not in levels


@pytest.mark.parametrize(
    ("choices", "scoring", "expected"),
    [
        # Three and four points: the expressions are interpolated evenly by rank.
        ([("1", "Không hài lòng"), ("2", "Bình thường"), ("3", "Hài lòng")], None, [0.0, 0.5, 1.0]),
        ([("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")], None, [0.0, 1 / 3, 2 / 3, 1.0]),
        # Codes are ordered as numbers, not as text ("10" after "9").
        ([("9", "a"), ("10", "b")], None, [0.0, 1.0]),
        # The scoring's positive codes are the small ones: 1 is the happiest face.
        (
            [("1", "Rất hài lòng"), ("2", "Hài lòng"), ("3", "Không hài lòng")],
            {"valid": [1, 2, 3], "positive": [1, 2]},
            [1.0, 0.5, 0.0],
        ),
        # Text codes keep the list's order; the last is the best unless the positive codes come first.
        ([("kem", "Kém"), ("tot", "Tốt")], None, [0.0, 1.0]),
        ([("tot", "Tốt"), ("kem", "Kém")], {"valid": ["tot", "kem"], "positive": ["tot"]}, [1.0, 0.0]),
    ],
)
def test_levels_for_other_lengths_and_directions(choices, scoring, expected):
    q = _questionnaire(choices, scoring=scoring)
    levels = face_levels(q, "scale")
    assert [levels[code] for code, _ in choices] == pytest.approx(expected)


def test_a_code_the_scoring_does_not_count_is_a_plain_button():
    choices = [("1", "a"), ("2", "b"), ("3", "c"), ("9", "Không biết")]
    q = _questionnaire(choices, scoring={"valid": [1, 2, 3], "positive": [3]})
    assert face_levels(q, "scale") == {"1": 0.0, "2": 0.5, "3": 1.0}
    # Without a scoring nothing says 9 is off the scale: every choice is a face.
    assert set(face_levels(_questionnaire(choices), "scale")) == {"1", "2", "3", "9"}
    # Fewer than two scale choices: no scale to draw.
    assert face_levels(_questionnaire([("1", "Có")]), "scale") is None
    assert face_levels(q, "no_such_list") is None


# ------------------------------------------------------------------------------ which questions
def test_which_questions_are_faces():
    scored = SIPAS_2023.question("tiep_can_1")
    interest = SIPAS_2023.question("quan_tam_1")  # a Likert scale of interest, not of satisfaction
    assert scored.has_appearance("likert") and interest.has_appearance("likert")
    assert not is_face_question(SIPAS_2023, scored)  # the campaign did not ask for faces
    assert is_face_question(SIPAS_2023, scored, likert_faces=True)
    assert not is_face_question(SIPAS_2023, interest, likert_faces=True)
    assert not is_face_question(SIPAS_2023, SIPAS_2023.question("gioi_tinh"), likert_faces=True)
    # The appearance asks for faces in any campaign, written alone or beside "likert".
    assert is_face_question(
        _questionnaire([("1", "a"), ("2", "b")]), _questionnaire([("1", "a")]).question("hl")
    )
    both = _questionnaire([("1", "a"), ("2", "b")], appearance="likert  faces")
    assert both.question("hl").appearances == ("likert", "faces") and is_face_question(
        both, both.question("hl")
    )
    # Neither a multiple choice nor a filtered list is drawn as faces.
    multiple = _questionnaire([("1", "a"), ("2", "b")], type="multiple")
    assert not is_face_question(multiple, multiple.question("hl"))


def test_the_client_definition_marks_faces_and_keeps_every_code():
    plain = client_definition(SIPAS_2023)
    faces = client_definition(SIPAS_2023, likert_faces=True)
    assert plain["faces"] == {}
    assert faces["faces"] == {"likert5": {"1": 0.0, "2": 0.25, "3": 0.5, "4": 0.75, "5": 1.0}}
    marked = {q["code"] for s in faces["sections"] for q in s["questions"] if q.get("faces")}
    scored = {item for c in SIPAS_2023.scoring.criteria for item in c.items}
    likert = {q.code for q in SIPAS_2023.questions() if q.has_appearance("likert") and q.code in scored}
    assert marked == likert and len(marked) == 34
    # Presentation only: the lists, the codes and everything else are the same.
    strip = [{k: v for k, v in q.items() if k != "faces"} for s in faces["sections"] for q in s["questions"]]
    assert strip == [q for s in plain["sections"] for q in s["questions"]]
    assert faces["choice_lists"] == plain["choice_lists"]


def test_the_faces_appearance_survives_yaml_and_xlsform(tmp_path):
    q = _questionnaire(
        [("1", "Không hài lòng"), ("2", "Bình thường"), ("3", "Hài lòng")], appearance="likert faces"
    )
    again = from_data(json.loads(json.dumps(to_dict(q))), file="again.yaml").questionnaire
    assert again.question("hl").appearance == "likert faces"
    path = tmp_path / "thu.xlsx"
    write_xlsform(q, path)
    assert read_xlsform(path)["sections"][0]["questions"][0]["appearance"] == "likert faces"
    read = load_file(path).questionnaire
    assert read.question("hl").appearance == "likert faces"
    assert is_face_question(read, read.question("hl"))
    assert face_levels(read, "scale") == {"1": 0.0, "2": 0.5, "3": 1.0}


# ------------------------------------------------------------------------------ the setting
@pytest.mark.db
def test_the_display_setting_is_stored_beside_the_checks_and_audited(app, make_campaign):
    campaign_id, _ = make_campaign()
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert display_for(campaign) == KioskDisplay() and campaign.integrity_settings is None
        change_settings(campaign, {"burst_forms": "6"})
        changes = set_display(session, campaign, one_question=True, likert_faces=True, user=None)
        assert changes == {
            "one_question": {"old": False, "new": True},
            "likert_faces": {"old": False, "new": True},
        }
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.integrity_settings == {
            "burst_forms": 6,
            KIOSK_DISPLAY_KEY: {"one_question": True, "likert_faces": True},
        }
        # The checks read only their own settings, and changing them keeps the display.
        assert settings_for(campaign).burst_forms == 6
        change_settings(campaign, {"burst_forms": "default", "speeding": "tắt"})
        assert display_for(campaign) == KioskDisplay(one_question=True, likert_faces=True)
        assert settings_for(campaign).speeding is False
        assert set_display(session, campaign, one_question=True, likert_faces=True, user=None) == {}
        set_display(session, campaign, one_question=False, likert_faces=False, user=None)
        assert campaign.integrity_settings == {"speeding": False}
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "kiosk_display_changed")).all()
        assert [e.detail["changes"] for e in events] == [
            {"one_question": {"old": False, "new": True}, "likert_faces": {"old": False, "new": True}},
            {"one_question": {"old": True, "new": False}, "likert_faces": {"old": True, "new": False}},
        ]
        # A stored value that is not a mapping (a hand-edited row) is read as the default.
        campaign.integrity_settings = {KIOSK_DISPLAY_KEY: "on"}
        assert display_for(campaign) == KioskDisplay()


@pytest.mark.db
def test_the_kiosk_definition_carries_the_display(app, make_campaign):
    campaign_id, tokens = make_campaign()
    client = app.test_client()
    before = client.get(f"/api/v1/kiosk/{tokens['tra-xuan']}/definition").get_json()
    assert before["display"] == {"paging": "section", "likert_faces": False}
    assert before["questionnaire"]["faces"] == {}
    with app.app_context(), session_scope() as session:
        set_display(
            session, session.get(Campaign, campaign_id), one_question=True, likert_faces=True, user=None
        )
    after = client.get(f"/api/v1/kiosk/{tokens['tra-xuan']}/definition").get_json()
    assert after["display"] == {"paging": "question", "likert_faces": True}
    assert after["questionnaire"]["faces"]["likert5"]["5"] == 1.0
    tiep_can = next(
        q for s in after["questionnaire"]["sections"] for q in s["questions"] if q["code"] == "tiep_can_1"
    )
    assert tiep_can["faces"] is True and tiep_can["choices"] == "likert5"


def _checked(html: str, field: str) -> bool:
    tag = re.search(rf'<input[^>]*\bid="{field}"[^>]*>', html).group(0)
    return re.search(r"\schecked\b", tag) is not None


@pytest.mark.db
def test_the_campaign_page_changes_the_display(make_app, make_campaign):
    staff_app = make_app(WTF_CSRF_ENABLED=False)
    with staff_app.app_context(), session_scope() as session:
        create_user(session, "phan_tich", "mat-khau-phan-tich", "analyst")
    campaign_id, _ = make_campaign()
    client = staff_app.test_client()
    assert (
        client.post(
            "/admin/login", data={"username": "phan_tich", "password": "mat-khau-phan-tich"}
        ).status_code
        == 302
    )
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Cách hiển thị trên máy tính bảng" in page and "Mỗi màn hình một câu hỏi" in page
    reply = client.post(f"/admin/campaigns/{campaign_id}/kiosk-display", data={"one_question": "y"})
    assert reply.status_code == 302 and reply.headers["Location"].endswith("#kiosk-display")
    shown = client.get(reply.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu cách hiển thị" in shown
    assert _checked(shown, "one_question") and not _checked(shown, "likert_faces")
    with staff_app.app_context(), session_scope() as session:
        assert display_for(session.get(Campaign, campaign_id)) == KioskDisplay(one_question=True)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "kiosk_display_changed")).one()
        assert event.username == "phan_tich"


@pytest.mark.db
def test_the_command_line_shows_and_changes_the_display(app, make_campaign, database_url, tmp_path):
    campaign_id, _ = make_campaign()
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def sipas(*args: str) -> str:
        result = CliRunner().invoke(
            cli, ["campaign", "settings", "--campaign", str(campaign_id), *args], env=env
        )
        assert result.exit_code == 0, result.output
        return result.output

    shown = sipas()
    assert "kiosk: one section per page\n" in shown and "kiosk: Likert faces off\n" in shown
    changed = sipas("--faces")
    assert "Đã đổi 1 cách hiển thị" in changed and "kiosk: Likert faces on" in changed
    changed = sipas("--one-question", "--integrity", "burst_forms=6")
    assert "kiosk: one question per screen" in changed and "kiosk: Likert faces on" in changed
    assert "burst_forms = 6" in changed
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert display_for(campaign) == KioskDisplay(one_question=True, likert_faces=True)
        assert settings_for(campaign).burst_forms == 6
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "kiosk_display_changed")).all()
        assert [(e.detail["via"], e.detail["changes"]) for e in events] == [
            ("cli", {"likert_faces": {"old": False, "new": True}}),
            ("cli", {"one_question": {"old": False, "new": True}}),
        ]


# ------------------------------------------------------------------------------- the drawing
NODE = shutil.which("node")


def _geometry(levels: list[float]) -> list[dict]:
    if NODE is None:
        pytest.skip("Node.js is not installed")
    script = (
        f"require({json.dumps(str(STATIC / 'faces.js'))});"
        f"console.log(JSON.stringify({json.dumps(levels)}.map(globalThis.SipasFaces.geometry)));"
    )
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def _numbers(path: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", path)]


def test_the_faces_differ_in_shape_monotonically_not_only_in_colour():
    levels = [i / 12 for i in range(13)]
    faces = _geometry(levels)
    mouths = [_numbers(f["mouth"]) for f in faces]  # M x0 y0 Q cx cy x1 y1
    bend = [m[3] - m[1] for m in mouths]  # the control point below the corners: a smile; above: a frown
    assert all(a < b for a, b in zip(bend, bend[1:], strict=False))
    assert bend[0] < -20 and bend[6] == 0 and bend[-1] > 20  # frown, straight line, smile
    corners = [m[1] for m in mouths]
    assert all(a > b for a, b in zip(corners, corners[1:], strict=False))  # the corners rise (y goes up)
    # Brows (M x0 y_outer Q cx cy x1 y_inner): the inner end sits above the outer one when unhappy,
    # level when happy, and the brow arches up as the face smiles.
    brows = [_numbers(f["brows"][0]) for f in faces]
    slant = [b[1] - b[5] for b in brows]  # outer y - inner y (y grows downwards)
    assert all(a > b for a, b in zip(slant, slant[1:], strict=False)) and slant[-1] == 0 and slant[0] >= 8
    arch = [(b[1] + b[5]) / 2 - b[3] for b in brows]  # how far the middle rises above the ends
    assert all(a < b for a, b in zip(arch, arch[1:], strict=False)) and arch[0] == 0 and arch[-1] >= 4
    # The two brows mirror each other.
    for f in faces:
        left, right = _numbers(f["brows"][0]), _numbers(f["brows"][1])
        assert (left[1], left[3], left[5]) == (right[5], right[3], right[1]) and left[0] + right[4] == 100
    # Every face is its own shape even in grey: no two mouths are the same path.
    assert len({f["mouth"] for f in faces}) == len(faces)
    # Out of range or not a number: the ends of the scale, never a broken path.
    low, high, nan = _geometry([-1, 7, float("nan")])
    assert low["mouth"] == faces[0]["mouth"] and high["mouth"] == faces[-1]["mouth"]
    assert nan["mouth"] == faces[0]["mouth"]


def _luminance(color: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#0b4f8a", "#0b4f8a") == pytest.approx(1.0)


def _css_colours() -> dict[str, str]:
    css = (STATIC / "faces.css").read_text(encoding="utf-8")
    block = re.search(r"\.q--faces\s*\{([^}]*)\}", css).group(1)
    found = dict(re.findall(r"(--face-[a-z-]+)\s*:\s*(#[0-9a-fA-F]{6})\s*;", block))
    # Each colour the rules use is one of these properties (no stray literal colour in a face rule).
    rules = re.sub(r"/\*.*?\*/", "", css, flags=re.S).replace(block, "")
    assert re.findall(r"#[0-9a-fA-F]{3,8}\b", rules) == ["#f2a900"]  # the kiosk's focus ring fallback
    return {k.removeprefix("--face-"): v.lower() for k, v in found.items()}


def test_face_labels_and_the_selected_state_have_enough_contrast():
    c = _css_colours()
    canvas = "#eef2f6"  # the kiosk's page background (kiosk.css --canvas) around a question card
    card = "#ffffff"  # the question card (kiosk.css --paper)
    # Text: 4.5:1 at least, chosen or not.
    assert contrast(c["fg"], c["bg"]) >= 4.5
    assert contrast(c["selected-fg"], c["selected-bg"]) >= 4.5
    assert contrast(c["check-fg"], c["check-bg"]) >= 4.5
    # Borders and the check mark's disc against what surrounds them: 3:1 at least (WCAG 1.4.11).
    for surround in (canvas, card, c["bg"]):
        assert contrast(c["border"], surround) >= 3
        assert contrast(c["selected-border"], surround) >= 3
    assert contrast(c["check-bg"], c["selected-bg"]) >= 3
    # The chosen state is not told by colour alone, but its border still differs from the plain one.
    assert c["selected-border"] != c["border"]


def test_the_features_stand_out_on_every_face_fill():
    faces = _geometry([i / 20 for i in range(21)])
    fills = [f["fill"] for f in faces]
    for f in faces:
        assert contrast(f["ink"], f["fill"]) >= 3, f
    # The fill does change along the scale (a help for those who see it), and ends differ most.
    assert len(set(fills)) > 10 and fills[0] != fills[-1]


@pytest.mark.db
def test_a_campaign_sets_its_own_idle_timeout(make_app, make_campaign, database_url, tmp_path):
    staff_app = make_app(WTF_CSRF_ENABLED=False, KIOSK_IDLE_SECONDS=75)
    with staff_app.app_context(), session_scope() as session:
        create_user(session, "phan_tich", "mat-khau-phan-tich", "analyst")
    campaign_id, tokens = make_campaign()
    client = staff_app.test_client()
    definition = f"/api/v1/kiosk/{tokens['tra-xuan']}/definition"
    assert client.get(definition).get_json()["idle_seconds"] == 75  # the server's, until the campaign says
    client.post("/admin/login", data={"username": "phan_tich", "password": "mat-khau-phan-tich"})
    url = f"/admin/campaigns/{campaign_id}/kiosk-display"
    refused = client.post(url, data={"idle_seconds": "5"}, follow_redirects=True).get_data(as_text=True)
    assert "Chưa đổi cách hiển thị" in refused and "Từ 30 đến 600 giây" in refused
    assert client.get(definition).get_json()["idle_seconds"] == 75  # nothing changed
    client.post(url, data={"idle_seconds": "60", "likert_faces": "y"})
    assert client.get(definition).get_json()["idle_seconds"] == 60
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="idle_seconds"[^>]*value="60"', page)
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert display_for(campaign) == KioskDisplay(likert_faces=True, idle_seconds=60)
        assert campaign.integrity_settings == {KIOSK_DISPLAY_KEY: {"likert_faces": True, "idle_seconds": 60}}
        with pytest.raises(ValueError, match="30"):
            set_display(session, campaign, one_question=False, likert_faces=True, idle_seconds=601, user=None)
        # Left out, the timeout is kept; a hand-edited value out of range reads as the default.
        set_display(session, campaign, one_question=True, likert_faces=True, user=None)
        assert display_for(campaign).idle_seconds == 60
        campaign.integrity_settings = {KIOSK_DISPLAY_KEY: {"idle_seconds": 5}}
        assert display_for(campaign).idle_seconds is None
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}
    result = CliRunner().invoke(
        cli, ["campaign", "settings", "--campaign", str(campaign_id), "--idle-seconds", "90"], env=env
    )
    assert result.exit_code == 0 and "kiosk: idle timeout 90 s" in result.output, result.output
    bad = CliRunner().invoke(
        cli, ["campaign", "settings", "--campaign", str(campaign_id), "--idle-seconds", "10"], env=env
    )
    assert bad.exit_code != 0 and "30" in bad.output
    assert client.get(definition).get_json()["idle_seconds"] == 90
