"""Faces and one question per screen, in headless Chromium at 800×1280 with touch, against the real app.

Each campaign's kiosk display (survey.kiosk_display) is set, a respondent taps through the form, and
the stored row is compared with what was tapped: faces store the scale's codes, one question per
screen stores exactly what a section per page stores for the same answers, Câu "đã góp ý" opens and
closes its questions in both, and a double tap on "Tiếp tục" neither skips a question nor marks one red.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from browser_helpers import LIKERT, PROFILE, TABLET, chromium, stored, wait_for
from werkzeug.serving import make_server

from questionnaires import from_data
from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope
from survey.kiosk_display import set_display

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

FEEDBACK = {"phan_anh_1": "4", "phan_anh_2": "3", "phan_anh_3": "5", "phan_anh_4": "2"}
COMMENT = "Chỗ ngồi chờ hơi chật; cán bộ hướng dẫn tận tình & rõ ràng."
ANSWERS = {**PROFILE, "so_lan_di_lai": "2", **LIKERT, "da_gop_y": "1", **FEEDBACK, "gop_y": COMMENT}
EXPECTED = {**ANSWERS, "so_lan_di_lai": 2}

# A scale of four faces and a "Không biết" the scoring does not count.
FOUR_AND_DONT_KNOW = {
    "id": "thu-mat",
    "version": "1",
    "title": {"vi": "Phiếu thử mặt người"},
    "choices": {
        "muc4": [
            {"code": 1, "label": {"vi": "Rất không hài lòng"}},
            {"code": 2, "label": {"vi": "Không hài lòng"}},
            {"code": 3, "label": {"vi": "Hài lòng"}},
            {"code": 4, "label": {"vi": "Rất hài lòng"}},
            {"code": 9, "label": {"vi": "Không biết"}},
        ],
        "co_khong": [{"code": 1, "label": {"vi": "Có"}}, {"code": 2, "label": {"vi": "Không"}}],
    },
    "sections": [
        {
            "code": "hai_long",
            "label": {"vi": "Mức độ hài lòng"},
            "questions": [
                {"code": "da_den", "type": "single", "choices": "co_khong", "required": True,
                 "label": {"vi": "Ông/Bà đã đến Bộ phận Một cửa chưa?"}},
                {"code": "hl_thai_do", "type": "single", "choices": "muc4", "appearance": "faces",
                 "required": True, "relevant": "${da_den} = 1",
                 "label": {"vi": "Thái độ của công chức"}},
                {"code": "hl_chung", "type": "single", "choices": "muc4", "appearance": "faces",
                 "required": True, "label": {"vi": "Hài lòng chung"}},
            ],
        }
    ],
    "scoring": {
        "method": "share_satisfied",
        "valid": [1, 2, 3, 4],
        "positive": [3, 4],
        "scale": [1, 4],
        "index": {
            "code": "idx",
            "label": {"vi": "Chỉ số"},
            "elements": [{"code": "e", "label": {"vi": "Chung"}, "criteria": ["hl_thai_do", "hl_chung"]}],
        },
    },
}  # fmt: skip

PROGRESS = """() => [Number(document.querySelector('.k-progress').getAttribute('aria-valuenow')),
                     document.querySelector('.k-header__part').textContent]"""
SHOWN = """() => Array.from(document.querySelectorAll('.k-section [data-code]'))
  .filter((n) => !n.hidden && !n.closest('[hidden]') && n.querySelector('input, textarea'))
  .map((n) => n.dataset.code)"""


def _serve(app, questionnaire, *, one_question: bool, likert_faces: bool) -> Iterator[dict]:
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(
            session, name="Đợt thử hiển thị", questionnaire=questionnaire, unit_list="tra-bong-2023"
        )
        set_display(session, campaign, one_question=one_question, likert_faces=likert_faces, user=None)
        _, token = create_kiosk(session, campaign, "tra-xuan")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"app": app, "url": f"http://127.0.0.1:{server.server_port}/k/{token}"}
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def faces_2017(make_app) -> Iterator[dict]:
    yield from _serve(make_app(), "sipas-2017", one_question=False, likert_faces=True)


@pytest.fixture
def one_question_2017(make_app) -> Iterator[dict]:
    yield from _serve(make_app(), "sipas-2017", one_question=True, likert_faces=True)


@pytest.fixture
def sections_2017(make_app) -> Iterator[dict]:
    yield from _serve(make_app(), "sipas-2017", one_question=False, likert_faces=False)


@pytest.fixture
def one_question_guarded(make_app) -> Iterator[dict]:
    yield from _serve(make_app(KIOSK_TAP_GUARD_MS=450), "sipas-2017", one_question=True, likert_faces=False)


@pytest.fixture
def four_faces(make_app) -> Iterator[dict]:
    questionnaire = from_data(FOUR_AND_DONT_KNOW, file="thu-mat.yaml").questionnaire
    yield from _serve(make_app(), questionnaire, one_question=True, likert_faces=False)


def _open(browser, url):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    posts: list[dict] = []
    context.on("request", lambda r: posts.append(json.loads(r.post_data)) if r.method == "POST" else None)
    page.goto(url)
    page.wait_for_selector("#k-start")
    page.tap("#k-start")
    page.wait_for_selector(".k-section [data-code]")
    return context, page, errors, posts


def _answer(page, code: str, value: str) -> None:
    if page.query_selector(f"#q-{code}"):  # a typed answer
        page.fill(f"#q-{code}", value)
    else:
        page.tap(f'label[for="q-{code}-{value}"]')
        assert page.is_checked(f"#q-{code}-{value}")


def _next(page) -> None:
    page.tap("#k-next")
    page.wait_for_selector("#k-submit, .k-section [data-code]")


def _submit(page, app, posts) -> tuple[dict, dict]:
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")
    sent = wait_for(lambda: posts, what="the response sent", page=page)[0]
    rows = wait_for(
        lambda: [r for r in stored(app) if r.instance_id == sent["instance_id"]],
        what="the response stored",
        page=page,
    )
    assert len(rows) == 1 and len(posts) == 1
    answers = dict(rows[0].answers)
    answers.pop("bat_dau", None), answers.pop("ket_thuc", None)  # the device-filled times
    return answers, sent


def _face_state(page, code: str) -> list[dict]:
    """Each face of a question: its value, its mouth path, whether its check mark and border show it."""
    return page.eval_on_selector_all(
        f'[data-code="{code}"] .face',
        """faces => faces.map((f) => ({
          value: f.dataset.value,
          mouth: f.querySelector('.face__mouth').getAttribute('d'),
          check: getComputedStyle(f.querySelector('.face__check')).display,
          ring: getComputedStyle(f).boxShadow,
          text: f.querySelector('.face__text').textContent
        }))""",
    )


def test_faces_store_the_codes_tapped_and_the_gate_opens_and_closes(browser, faces_2017):
    context, page, errors, posts = _open(browser, faces_2017["url"])
    for code, value in PROFILE.items():
        _answer(page, code, value)
    _answer(page, "so_lan_di_lai", "2")
    _next(page)
    # The satisfaction items are faces, not the numbered grid; the label is under each face.
    assert page.query_selector(".likert") is None
    assert page.eval_on_selector_all(".k-section .q--faces", "n => n.map(x => x.dataset.code)") == [
        "tiep_can_1", "tiep_can_2", "tiep_can_3", "tiep_can_4"
    ]  # fmt: skip
    faces = _face_state(page, "tiep_can_1")
    assert [f["value"] for f in faces] == ["1", "2", "3", "4", "5"]
    assert [f["text"] for f in faces] == [
        "Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"
    ]  # fmt: skip
    assert len({f["mouth"] for f in faces}) == 5 and all(f["check"] == "none" for f in faces)
    # Nothing chosen: each face question says so, nothing moves on.
    page.tap("#k-next")
    page.wait_for_selector("#err-tiep_can_4:not([hidden])")
    assert page.inner_text("#err-tiep_can_1") == "Xin Ông/Bà chọn một câu trả lời."
    for prefix in ("tiep_can", "thu_tuc", "cong_chuc", "ket_qua"):
        page.wait_for_selector(f'[data-code="{prefix}_1"] .face')
        for code, value in LIKERT.items():
            if code.startswith(prefix):
                _answer(page, code, value)
        if prefix == "tiep_can":
            # The chosen face shows a check mark and a ring, the others neither.
            chosen = {f["value"]: f for f in _face_state(page, "tiep_can_1")}
            assert (
                chosen[LIKERT["tiep_can_1"]]["check"] == "flex"
                and chosen[LIKERT["tiep_can_1"]]["ring"] != "none"
            )
            assert all(
                f["check"] == "none" and f["ring"] == "none"
                for v, f in chosen.items()
                if v != LIKERT["tiep_can_1"]
            )
            assert page.query_selector_all(".q--invalid") == []  # fixed as it was answered
        _next(page)
    # Câu "đã góp ý" gates the feedback faces: shown after "Có", hidden and cleared after "Không".
    page.wait_for_selector('[data-code="da_gop_y"]')
    assert page.is_hidden('[data-code="phan_anh_1"]')
    _answer(page, "da_gop_y", "1")
    page.wait_for_selector('[data-code="phan_anh_1"] .face >> nth=0')
    _answer(page, "phan_anh_1", "1")
    _answer(page, "da_gop_y", "2")
    assert page.is_hidden('[data-code="phan_anh_1"]')
    _answer(page, "da_gop_y", "1")
    assert not page.is_checked("#q-phan_anh_1-1")
    for code, value in FEEDBACK.items():
        _answer(page, code, value)
    _next(page)
    _answer(page, "gop_y", COMMENT)
    _next(page)
    assert "4 — Hài lòng" in page.inner_text(".k-main")  # the review is as before
    answers, _ = _submit(page, faces_2017["app"], posts)
    assert answers == EXPECTED
    assert not errors, errors
    context.close()


def _fill_screen_by_screen(page, *, one_question: bool) -> list:
    """Answer whatever each screen shows from ANSWERS until the review; check the gate on the way.

    Returns the progress seen after each screen ([value, "Câu i/n" or "Phần i/n"]).
    """
    seen = [page.evaluate(PROGRESS)]
    checked_gate = False
    while not page.query_selector("#k-submit"):
        shown = page.evaluate(SHOWN)
        if one_question:
            assert len(shown) == 1, shown  # one question on each screen
        if one_question and shown == ["linh_vuc"]:
            page.tap("#k-next")  # required: the screen says so and stays
            page.wait_for_selector("#err-linh_vuc:not([hidden])")
            assert page.evaluate(SHOWN) == ["linh_vuc"]
        if one_question and shown == ["so_lan_di_lai"]:
            _answer(page, "so_lan_di_lai", "21")  # the constraint, as on a section page
            page.tap("#k-next")
            page.wait_for_selector("#err-so_lan_di_lai:not([hidden])")
            assert page.inner_text("#err-so_lan_di_lai") == "Số lần từ 1 đến 20."
        if one_question and shown == ["da_gop_y"] and not checked_gate:
            checked_gate = True
            total = int(page.evaluate(PROGRESS)[1].split("/")[1])
            _answer(page, "da_gop_y", "1")  # "Có" opens four more questions, counted at once
            wait_for(lambda n=total + 4: page.evaluate(PROGRESS)[1].endswith(f"/{n}"), what="the count")
            _next(page)
            assert page.evaluate(SHOWN) == ["phan_anh_1"]
            _answer(page, "phan_anh_1", "1")
            page.tap("#k-back")
            page.wait_for_selector('[data-code="da_gop_y"]')
            _answer(page, "da_gop_y", "2")  # "Không": the four are gone, and so is the answer given
            _next(page)
            assert page.evaluate(SHOWN) == ["gop_y"]
            assert "phan_anh_1" not in page.evaluate("() => SipasKiosk.formState().answers")
            page.tap("#k-back")
            page.wait_for_selector('[data-code="da_gop_y"]')
            _answer(page, "da_gop_y", "1")
            _next(page)
            assert page.evaluate(SHOWN) == ["phan_anh_1"] and not page.is_checked("#q-phan_anh_1-1")
            seen.append(page.evaluate(PROGRESS))
            continue
        done: set[str] = set()
        while set(shown) - done:  # an answer may open questions on the same page (Câu "đã góp ý")
            for code in [c for c in shown if c not in done]:
                if code in ANSWERS:  # dan_toc and trinh_do are optional: left blank
                    _answer(page, code, ANSWERS[code])
                done.add(code)
            shown = page.evaluate(SHOWN)
        _next(page)
        assert page.is_hidden("#k-page-errors")
        seen.append(page.evaluate(PROGRESS))
    return seen


def test_one_question_per_screen_sends_what_a_section_per_page_sends(
    browser, one_question_2017, sections_2017
):
    context, page, errors, posts = _open(browser, one_question_2017["url"])
    assert page.inner_text(".k-header__part") == "Câu 1/27"  # the questions asked before Câu "đã góp ý"
    seen = _fill_screen_by_screen(page, one_question=True)
    values = [value for value, _ in seen]
    assert values == sorted(values) and values[-1] > 95, seen  # never backwards, though questions opened
    counters = [text for _, text in seen[:-1]]
    assert counters[-1] == "Câu 31/31" and all(text.startswith("Câu ") for text in counters)
    # "Sửa" from the review walks the section's questions and comes back after its last one.
    page.tap('[data-edit="phan_anh"]')
    page.wait_for_selector('[data-code="da_gop_y"]')
    assert page.inner_text("#k-next") == "Tiếp tục" and page.inner_text("#k-back") == "Quay lại"
    for _ in range(4):
        _next(page)
    assert page.evaluate(SHOWN) == ["phan_anh_4"] and page.inner_text("#k-next") == "Lưu và xem lại"
    _next(page)
    assert page.query_selector("#k-submit")
    one_answers, one_body = _submit(page, one_question_2017["app"], posts)
    assert one_answers == EXPECTED
    assert not errors, errors
    context.close()

    context, page, errors, posts = _open(browser, sections_2017["url"])
    seen = _fill_screen_by_screen(page, one_question=False)
    assert [text for _, text in seen[:-1]][0] == "Phần 1/7"
    section_answers, section_body = _submit(page, sections_2017["app"], posts)
    # The same answers, the same fields sent, the same types: only ids, tokens and times differ.
    assert section_answers == one_answers
    assert set(section_body) == set(one_body)
    assert set(section_body["answers"]) == set(one_body["answers"])
    assert not errors, errors
    context.close()


def test_a_double_tap_on_tiep_tuc_in_one_question_mode_neither_skips_nor_marks_red(
    browser, one_question_guarded
):
    context, page, errors, _ = _open(browser, one_question_guarded["url"])
    _answer(page, "linh_vuc", "dat_dai")
    page.tap("#k-next")
    page.tap("#k-next")  # the same finger again, at once, on the next question's "Tiếp tục"
    page.wait_for_selector('[data-code="gioi_tinh"]')
    page.wait_for_timeout(300)
    assert page.evaluate(SHOWN) == ["gioi_tinh"]  # not skipped
    assert page.query_selector_all(".q--invalid, .q__error:not([hidden])") == []
    assert page.is_hidden("#k-page-errors")
    # The guard holds on every screen drawn, and lifts once the person touches the screen.
    _answer(page, "gioi_tinh", "2")
    page.tap("#k-next")
    page.tap("#k-next")
    page.wait_for_selector('[data-code="do_tuoi"]')
    page.wait_for_timeout(300)
    assert page.evaluate(SHOWN) == ["do_tuoi"] and page.query_selector_all(".q--invalid") == []
    # A real attempt to go on without an answer does show what is missing.
    page.wait_for_timeout(500)
    page.tap("#k-next")
    page.wait_for_selector("#err-do_tuoi:not([hidden])")
    assert not errors, errors
    context.close()


def test_other_scale_lengths_interpolate_and_dont_know_is_a_plain_button(browser, four_faces):
    context, page, errors, posts = _open(browser, four_faces["url"])
    assert page.inner_text(".k-header__part") == "Câu 1/2"  # the gated question is not asked yet
    _answer(page, "da_den", "1")
    wait_for(lambda: page.inner_text(".k-header__part") == "Câu 1/3", what="the gated question counted")
    _next(page)
    faces = _face_state(page, "hl_thai_do")
    assert [f["value"] for f in faces] == ["1", "2", "3", "4"]
    levels = page.eval_on_selector_all(
        '[data-code="hl_thai_do"] .face', "n => n.map(x => Number(x.dataset.level))"
    )
    assert levels == pytest.approx([0, 1 / 3, 2 / 3, 1], abs=1e-5)
    assert len({f["mouth"] for f in faces}) == 4
    # "Không biết" is a plain button, not a face.
    assert page.query_selector('[data-code="hl_thai_do"] .face[data-value="9"]') is None
    assert (
        page.inner_text('[data-code="hl_thai_do"] .faces__others label.choice[data-value="9"]')
        == "Không biết"
    )
    _answer(page, "hl_thai_do", "9")
    _answer(page, "hl_thai_do", "3")  # a face after the button: one answer, the last tapped
    assert not page.is_checked("#q-hl_thai_do-9")
    _answer(page, "hl_thai_do", "9")
    assert all(f["check"] == "none" for f in _face_state(page, "hl_thai_do"))
    _next(page)
    _answer(page, "hl_chung", "2")
    _next(page)
    review = page.inner_text(".k-main")
    assert "Không biết" in review and "Không hài lòng" in review
    answers, _ = _submit(page, four_faces["app"], posts)
    assert answers == {"da_den": "1", "hl_thai_do": "9", "hl_chung": "2"}
    assert not errors, errors
    context.close()
