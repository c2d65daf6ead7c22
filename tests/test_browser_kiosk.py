"""The kiosk in headless Chromium at a 10" tablet viewport, against the real app on a local port.

A respondent fills a whole sipas-2017 form by tapping, the answer reaches the database exactly as
chosen, and nothing a tablet's network or a nervous finger does stores it twice.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import wait_for
from runtime_helpers import PLACES
from runtime_helpers import questionnaire as runtime_questionnaire
from sqlalchemy import select
from werkzeug.serving import make_server

from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope
from survey.models import Response

pytestmark = [
    pytest.mark.browser,
    # The threaded test server may leave a static file for the garbage collector when Chromium drops a
    # response it no longer needs; that is the harness, not the app. Only those files are ignored.
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TABLET = {"viewport": {"width": 800, "height": 1280}, "has_touch": True, "is_mobile": True}

# What the respondent taps, page by page (sipas-2017).
PROFILE = {"linh_vuc": "ho_tich", "gioi_tinh": "2", "do_tuoi": "3", "nghe_nghiep": "4"}
LIKERT = {
    "tiep_can_1": "4", "tiep_can_2": "5", "tiep_can_3": "3", "tiep_can_4": "4",
    "thu_tuc_1": "5", "thu_tuc_2": "4", "thu_tuc_3": "4", "thu_tuc_4": "2", "thu_tuc_5": "1",
    "cong_chuc_1": "5", "cong_chuc_2": "5", "cong_chuc_3": "4", "cong_chuc_4": "4", "cong_chuc_5": "3",
    "cong_chuc_6": "5", "ket_qua_1": "4", "ket_qua_2": "4", "ket_qua_3": "5",
}  # fmt: skip
FEEDBACK = {"phan_anh_1": "4", "phan_anh_2": "3", "phan_anh_3": "5", "phan_anh_4": "2"}
COMMENT = "Cán bộ nhiệt tình; nên có thêm ghế chờ & quạt <b>mát</b>."


@pytest.fixture
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def live(make_app) -> Iterator[dict]:
    """The app served on 127.0.0.1 (a free port) with a sipas-2017 campaign and a kiosk link."""
    app = make_app(KIOSK_RESET_SECONDS=3, KIOSK_IDLE_SECONDS=120)
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(
            session,
            name="Khảo sát SIPAS 2024",
            questionnaire="sipas-2017",
            unit_list="tra-bong-2023",
            populations={"tra-xuan": 1200},
        )
        _, token = create_kiosk(session, campaign, "tra-xuan", "Quầy 1")
        campaign_id = campaign.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "app": app,
            "base": f"http://127.0.0.1:{server.server_port}",
            "token": token,
            "campaign_id": campaign_id,
        }
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _stored(app) -> list[Response]:
    with app.app_context(), session_scope(app) as session:
        return list(session.scalars(select(Response).order_by(Response.id)))


def _tap_answers(page, answers: dict[str, str]) -> None:
    for code, value in answers.items():
        page.tap(f'label[for="q-{code}-{value}"]')
        assert page.is_checked(f"#q-{code}-{value}")


def _next(page, expect: str) -> None:
    page.tap("#k-next")
    page.wait_for_selector(expect)


def _open_form(page, live) -> None:
    page.goto(f"{live['base']}/k/{live['token']}")
    page.wait_for_selector("#k-start")
    assert "Thị trấn Trà Xuân" in page.inner_text(".welcome__unit")
    page.tap("#k-start")
    page.wait_for_selector(".k-section [data-code]")


def _fill_until_review(page, shots: Path | None = None) -> None:
    """Fill every page of sipas-2017 by tapping, checking the skip logic on the way."""
    _tap_answers(page, PROFILE)
    page.fill("#q-so_lan_di_lai", "21")  # outside 1..20: the form's own message, next to the question
    page.tap("#k-next")
    page.wait_for_selector("#err-so_lan_di_lai:not([hidden])")
    assert page.inner_text("#err-so_lan_di_lai") == "Số lần từ 1 đến 20."
    page.fill("#q-so_lan_di_lai", "2")
    _next(page, '[data-code="tiep_can_1"]')

    if shots is not None:
        page.screenshot(path=str(shots / "kiosk-likert-empty.png"))
    page.tap("#k-next")  # nothing chosen: one message per row, nothing moves on
    page.wait_for_selector("#err-tiep_can_4:not([hidden])")
    assert page.inner_text("#err-tiep_can_1") == "Xin Ông/Bà chọn một câu trả lời."
    for prefix, expect in (
        ("tiep_can", '[data-code="thu_tuc_1"]'),
        ("thu_tuc", '[data-code="cong_chuc_1"]'),
        ("cong_chuc", '[data-code="ket_qua_1"]'),
        ("ket_qua", '[data-code="da_gop_y"]'),
    ):
        _tap_answers(page, {k: v for k, v in LIKERT.items() if k.startswith(prefix)})
        if prefix == "tiep_can" and shots is not None:
            page.screenshot(path=str(shots / "kiosk-likert.png"))
        _next(page, expect)

    # Câu "đã góp ý": the feedback criteria are asked only after "Có", and cleared when hidden again.
    assert page.is_hidden('[data-code="phan_anh_1"]')
    _tap_answers(page, {"da_gop_y": "1"})
    page.wait_for_selector('[data-code="phan_anh_1"]:visible')
    _tap_answers(page, {"phan_anh_1": "1"})
    _tap_answers(page, {"da_gop_y": "2"})
    assert page.is_hidden('[data-code="phan_anh_1"]')
    _tap_answers(page, {"da_gop_y": "1"})
    assert not page.is_checked("#q-phan_anh_1-1")
    _tap_answers(page, FEEDBACK)
    _next(page, "#q-gop_y")
    page.fill("#q-gop_y", COMMENT)
    _next(page, "#k-submit")


EXPECTED = {
    **PROFILE,
    "so_lan_di_lai": 2,
    **LIKERT,
    "da_gop_y": "1",
    **FEEDBACK,
    "gop_y": COMMENT,
}


def test_a_respondent_fills_and_submits_a_whole_form(browser, live, tmp_path):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("console", lambda msg: page_errors.append(msg.text) if msg.type == "error" else None)
    posts: list[dict] = []
    # On the context, not the page: the outbox may send from the service worker as well as the page.
    context.on("request", lambda r: posts.append(json.loads(r.post_data)) if r.method == "POST" else None)

    _open_form(page, live)
    _fill_until_review(page, tmp_path)
    assert (tmp_path / "kiosk-likert.png").stat().st_size > 10_000

    review = page.inner_text(".k-main")
    assert "Hộ tịch" in review and "4 — Hài lòng" in review and COMMENT in review
    # A double tap on "Gửi phiếu" sends one form.
    page.evaluate("() => { const b = document.getElementById('k-submit'); b.click(); b.click(); }")
    page.wait_for_selector("#k-thanks")
    assert page.inner_text("#k-thanks") == "Xin cảm ơn Ông/Bà!"

    # Thanked as soon as the form is in the tablet's outbox; the outbox sends it at once.
    # The sync API delivers request events only during Playwright calls: wait with the page, for both.
    stored = wait_for(lambda: posts and _stored(live["app"]), what="the response sent and stored", page=page)
    assert len(stored) == 1
    response = stored[0]
    answers = dict(response.answers)
    started, ended = answers.pop("bat_dau"), answers.pop("ket_thuc")
    assert answers == EXPECTED
    assert started <= ended
    assert (response.unit_code, response.source, response.stratum) == ("tra-xuan", "kiosk", "ho_tich")
    # One form, one instance id: however many copies the network needed, they are the same submission.
    assert posts and all(body == posts[0] for body in posts)
    assert response.instance_id == posts[0]["instance_id"]

    # The browser's back button after submitting shows no old form and sends nothing again.
    page.go_back()
    page.wait_for_selector("#k-start", timeout=10_000)  # the reset (3 s) brings a fresh welcome screen
    assert len(_stored(live["app"])) == 1
    page.tap("#k-start")
    page.wait_for_selector('[data-code="linh_vuc"]')
    assert not page.is_checked("#q-linh_vuc-ho_tich")  # a fresh form, not the last respondent's answers
    assert not page_errors, page_errors
    context.close()


def test_without_an_outbox_refusals_are_shown_per_item_and_a_lost_answer_is_retried_once(browser, live):
    """A browser that stores nothing (IndexedDB disabled) sends at once and shows the server's refusals."""
    context = browser.new_context(**TABLET)
    context.add_init_script("Object.defineProperty(window, 'indexedDB', {get: () => undefined});")
    page = context.new_page()
    sent: list[dict] = []
    refusal = {
        "status": "invalid",
        "errors": [
            {
                "item": "so_lan_di_lai",
                "code": "constraint",
                "message": "Số lần đi lại không hợp lý.",
                "message_en": "",
            }
        ],
    }

    def network(route):
        sent.append(json.loads(route.request.post_data))
        if len(sent) == 1:
            route.fulfill(status=400, content_type="application/json", body=json.dumps(refusal))
        elif len(sent) == 2:
            route.abort("failed")  # Wi-Fi drops before the server sees it
        elif len(sent) == 3:
            route.fetch()  # the server stores it, but the answer never reaches the tablet
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/responses", network)
    _open_form(page, live)
    _fill_until_review(page)
    page.tap("#k-submit")

    # 400: nothing stored; the message stands next to the item on the review, and on its page.
    page.wait_for_selector(".review__item--invalid")
    assert "Số lần đi lại không hợp lý." in page.inner_text(".review__item--invalid")
    assert "Máy chủ chưa nhận phiếu" in page.inner_text("#k-general")
    page.tap('[data-edit="thong_tin"]')
    page.wait_for_selector("#err-so_lan_di_lai:not([hidden])")
    assert page.inner_text("#err-so_lan_di_lai") == "Số lần đi lại không hợp lý."
    page.fill("#q-so_lan_di_lai", "3")
    assert page.inner_text("#k-next") == "Lưu và xem lại"
    _next(page, "#k-submit")

    page.tap("#k-submit")
    page.wait_for_selector(".k-status--warning")  # says it keeps trying; the answers stay on screen
    assert page.is_disabled("#k-submit")
    page.wait_for_selector("#k-thanks", timeout=15_000)
    assert len(sent) == 4
    retried = {body["instance_id"] for body in sent}
    assert len(retried) == 1  # one form, one id, whatever the network did
    assert sent[1] == sent[2] == sent[3]  # retries re-send the very same submission
    assert sent[1]["answers"]["so_lan_di_lai"] == 3 and sent[0]["answers"]["so_lan_di_lai"] == 2
    stored = _stored(live["app"])
    assert len(stored) == 1 and stored[0].instance_id in retried
    assert stored[0].answers["so_lan_di_lai"] == 3
    context.close()


def test_a_refusal_after_the_respondent_left_goes_to_staff_and_a_lost_answer_is_retried_once(browser, live):
    """With the outbox, the respondent is thanked at once; what the server refuses waits for staff."""
    context = browser.new_context(**TABLET)
    page = context.new_page()
    sent: list[dict] = []
    refusal = {
        "status": "invalid",
        "errors": [
            {
                "item": "so_lan_di_lai",
                "code": "constraint",
                "message": "Số lần đi lại không hợp lý.",
                "message_en": "",
            }
        ],
    }

    def network(route):
        sent.append(json.loads(route.request.post_data))
        if len(sent) == 1:
            route.fulfill(status=400, content_type="application/json", body=json.dumps(refusal))
        elif len(sent) == 2:
            route.abort("failed")  # Wi-Fi drops before the server sees it
        elif len(sent) == 3:
            route.fetch()  # the server stores it, but the answer never reaches the tablet
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/responses", network)
    _open_form(page, live)
    _fill_until_review(page)
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")

    # 400: nothing stored, nothing dropped: the form is listed for staff with the server's message.
    wait_for(lambda: "1 phiếu cần xử lý" in page.evaluate("() => SipasStaff.statusText()"), page=page)
    assert _stored(live["app"]) == []
    page.tap("#k-staff")  # no staff PIN configured here: the panel opens at once
    page.wait_for_selector("#k-attention-list")
    assert "Số lần đi lại không hợp lý." in page.inner_text("#k-attention-list")
    page.tap("#k-attention-list [data-retry]")  # "Gửi lại": fails twice on the way, then goes through

    stored = wait_for(lambda: _stored(live["app"]), timeout=30, what="the stored response", page=page)
    wait_for(lambda: "0 phiếu chờ gửi" in page.evaluate("() => SipasStaff.statusText()"), page=page)
    assert len(sent) == 4
    assert len({body["instance_id"] for body in sent}) == 1  # one form, one id, whatever happened
    assert sent[0] == sent[1] == sent[2] == sent[3]  # the queued submission is re-sent unchanged
    assert len(stored) == 1 and stored[0].instance_id == sent[0]["instance_id"]
    assert page.evaluate("() => SipasQueue.counts()") == {"pending": 0, "attention": 0}
    context.close()


def test_an_abandoned_form_is_discarded_after_a_warning(browser, make_app):
    app = make_app(KIOSK_IDLE_SECONDS=6)
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(session, name="Đợt", questionnaire="sipas-2017", unit_list="tra-bong-2023")
        _, token = create_kiosk(session, campaign, "tra-xuan")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = browser.new_context(**TABLET)
        page = context.new_page()
        _open_form(page, {"base": f"http://127.0.0.1:{server.server_port}", "token": token})
        _tap_answers(page, {"linh_vuc": "dat_dai", "gioi_tinh": "1"})
        page.wait_for_selector(".idle-warning", timeout=5_000)
        assert "Phiếu chưa gửi sẽ được xoá sau" in page.inner_text(".idle-warning")
        page.tap(".idle-warning button")  # "Tiếp tục trả lời": the answers stay
        assert page.is_hidden(".idle-warning") and page.is_checked("#q-gioi_tinh-1")
        page.wait_for_selector(".idle-warning", timeout=5_000)
        page.wait_for_selector("#k-start", timeout=10_000)  # nobody came back: a fresh welcome screen
        page.tap("#k-start")
        page.wait_for_selector('[data-code="linh_vuc"]')
        assert not page.is_checked("#q-linh_vuc-dat_dai") and not page.is_checked("#q-gioi_tinh-1")
        context.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _fill_any_page(page) -> None:
    """Answer every question shown on the current page: the first choice, a number, a text."""
    for code in page.eval_on_selector_all(
        ".k-section [data-code]", "nodes => nodes.map(n => n.dataset.code)"
    ):
        if page.is_hidden(f'[data-code="{code}"]'):
            continue  # not asked, given the answers above it
        inputs = page.eval_on_selector_all(f'[name="{code}"]', "nodes => nodes.map(n => [n.type, n.id])")
        if not inputs:
            continue  # a note
        kind, first_id = inputs[0]
        if kind in ("radio", "checkbox"):
            page.tap(f'label[for="{first_id}"]')
        elif kind == "date":
            page.fill(f"#{first_id}", "2024-05-02")
        elif page.get_attribute(f"#{first_id}", "inputmode") in ("numeric", "decimal"):
            page.fill(f"#{first_id}", "1")
        else:
            page.fill(f"#{first_id}", "Ý kiến thử")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("qid", ["sipas-2023", "par-xa-2023"])
def test_every_shipped_questionnaire_is_accepted_as_the_tablet_filled_it(browser, make_app, qid):
    """The tablet's skip logic and checks agree with the server's: what it lets through is stored as sent."""
    app = make_app()
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(session, name="Đợt", questionnaire=qid, unit_list="tra-bong-2023")
        _, token = create_kiosk(session, campaign, "tra-xuan")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = browser.new_context(**TABLET)
        page = context.new_page()
        sent: list[dict] = []
        context.on("request", lambda r: sent.append(json.loads(r.post_data)) if r.method == "POST" else None)
        _open_form(page, {"base": f"http://127.0.0.1:{server.server_port}", "token": token})
        for _ in range(40):
            _fill_any_page(page)
            page.tap("#k-next")
            page.wait_for_selector("#k-submit, .k-section__title >> nth=0")
            if page.query_selector("#k-submit"):
                break
            assert page.is_hidden("#k-page-errors"), page.inner_text("#k-page-errors")
        page.tap("#k-submit")
        page.wait_for_selector("#k-thanks")
        wait_for(lambda: _stored(app), what="the response in the database")  # sent from the outbox
        context.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
    (row,) = _stored(app)
    answers = {k: v for k, v in sent[0]["answers"].items()}
    assert set(row.answers) == set(answers)
    for code, value in answers.items():
        if code not in ("bat_dau", "ket_thuc"):
            assert row.answers[code] == value, code


def test_a_reload_keeps_the_form_being_filled(browser, live):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    _open_form(page, live)
    _tap_answers(page, PROFILE)
    page.fill("#q-so_lan_di_lai", "2")
    _next(page, '[data-code="tiep_can_1"]')
    _tap_answers(page, {"tiep_can_1": "5"})
    saved = "() => JSON.parse(Object.values(sessionStorage)[0]).state.instanceId"
    instance_id = page.evaluate(saved)

    page.reload()  # a staff member refreshes the tablet, or the browser restarts the tab
    page.wait_for_selector('[data-code="tiep_can_1"]')
    assert page.is_checked("#q-tiep_can_1-5")
    assert page.evaluate(saved) == instance_id  # still the same form
    page.tap("#k-back")
    page.wait_for_selector('[data-code="linh_vuc"]')
    assert page.is_checked("#q-linh_vuc-ho_tich") and page.input_value("#q-so_lan_di_lai") == "2"
    context.close()


# ------------------------------------------------- cascading selects, a calculate and defaults, end to end
CASCADE = runtime_questionnaire(
    {
        "id": "noi-o-thu",
        "version": "1",
        "title": "Phiếu thử: nơi ở và đánh giá",
        "choices": {**PLACES, "likert5": [{"code": k, "label": f"Mức {k}"} for k in range(1, 6)]},
        "sections": [
            {
                "code": "noi_o",
                "label": "Nơi ở",
                "questions": [
                    {"code": "tinh", "type": "single", "choices": "tinh", "label": "Tỉnh", "required": True,
                     "default": "qng"},
                    {"code": "huyen", "type": "single", "choices": "huyen", "label": "Huyện",
                     "required": True, "choice_filter": "tinh = ${tinh}"},
                    {"code": "xa", "type": "single", "choices": "xa", "label": "Xã", "required": True,
                     "choice_filter": "tinh = ${tinh} and huyen = ${huyen}"},
                    {"code": "dia_chi", "type": "calculate", "calculation": "concat(${xa}, ', ', ${huyen})"},
                ],
            },
            {
                "code": "danh_gia",
                "label": "Đánh giá",
                "questions": [
                    {"code": "c1", "type": "single", "choices": "likert5", "label": "Thủ tục"},
                    {"code": "c2", "type": "single", "choices": "likert5", "label": "Cán bộ"},
                    {"code": "diem", "type": "calculate", "calculation": "round((${c1} + ${c2}) div 2, 1)"},
                    {"code": "ly_do", "type": "text", "label": "Vì sao chưa hài lòng?",
                     "relevant": "${diem} < 3"},
                    {"code": "so_lan", "type": "integer", "label": "Số lần đi lại", "default": "1"},
                ],
            },
        ],
    }
)  # fmt: skip


@pytest.fixture
def cascade(make_app) -> Iterator[dict]:
    """A campaign on CASCADE (frozen and read back through the loader), served on a local port, with a
    kiosk link."""
    app = make_app(KIOSK_RESET_SECONDS=3, KIOSK_IDLE_SECONDS=120)
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(
            session, name="Thử chọn nơi ở", questionnaire=CASCADE, unit_list="tra-bong-2023"
        )
        _, token = create_kiosk(session, campaign, "tra-xuan", "Quầy 1")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"app": app, "base": f"http://127.0.0.1:{server.server_port}", "token": token}
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _offered(page, code: str) -> list[str]:
    """The choices of a question the kiosk shows."""
    return page.eval_on_selector_all(
        f'[data-code="{code}"] label.choice',
        "labels => labels.filter(l => !l.hidden).map(l => l.getAttribute('data-value'))",
    )


def test_cascading_selects_and_a_calculate_are_stored_as_chosen(browser, cascade):
    page = browser.new_context(**TABLET).new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.goto(f"{cascade['base']}/k/{cascade['token']}")
    page.wait_for_selector("#k-start")
    page.tap("#k-start")
    page.wait_for_selector('[data-code="tinh"]')

    # The province starts at its default; districts and communes follow the answers so far.
    assert page.is_checked("#q-tinh-qng")
    assert page.query_selector('[data-code="dia_chi"]') is None  # a calculate is never drawn
    assert _offered(page, "huyen") == ["tb", "st"]
    assert _offered(page, "xa") == []
    _tap_answers(page, {"huyen": "tb"})
    assert _offered(page, "xa") == ["tx", "tp"]
    _tap_answers(page, {"xa": "tp"})
    # Another province: the district and commune chosen are no longer offered, so they are cleared.
    _tap_answers(page, {"tinh": "qnm"})
    assert _offered(page, "huyen") == ["tm"]
    assert not page.is_checked("#q-huyen-tb") and not page.is_checked("#q-xa-tp")
    assert _offered(page, "xa") == []
    _tap_answers(page, {"tinh": "qng", "huyen": "tb", "xa": "tx"})
    _next(page, '[data-code="c1"]')

    # The calculate is never shown, but relevance reads it: a low mark asks why.
    assert page.query_selector('[data-code="diem"]') is None
    assert page.input_value("#q-so_lan") == "1"  # the default
    _tap_answers(page, {"c1": "1", "c2": "2"})
    page.wait_for_selector('[data-code="ly_do"]:visible')
    page.fill("#q-ly_do", "Chờ lâu")
    _tap_answers(page, {"c1": "4", "c2": "5"})
    assert page.is_hidden('[data-code="ly_do"]')
    _next(page, "#k-submit")
    review = page.inner_text(".k-main")
    assert "Thị trấn Trà Xuân" in review and "Trà Bồng" in review and "Chờ lâu" not in review

    posts: list[dict] = []
    page.on("request", lambda r: posts.append(json.loads(r.post_data)) if r.method == "POST" else None)
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")
    stored = wait_for(lambda: _stored(cascade["app"]), what="the response stored", page=page)
    assert len(stored) == 1
    assert dict(stored[0].answers) == {
        "tinh": "qng",
        "huyen": "tb",
        "xa": "tx",
        "dia_chi": "tx, tb",
        "c1": "4",
        "c2": "5",
        "diem": "4.5",
        "so_lan": 1,
    }
    # The kiosk computed the same values it sent (the server stores its own).
    assert posts and posts[0]["answers"]["diem"] == "4.5" and posts[0]["answers"]["dia_chi"] == "tx, tb"
    assert page_errors == []
