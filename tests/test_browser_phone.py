"""A respondent's own phone (390 × 844) in headless Chromium: the slip's QR address, the code, the form.

Staff print a day's slips (one QR code and one code per case file); a citizen opens the slip's address
on a phone, the code is already filled in from the address, a typo is caught on the phone, the kiosk's
own form is filled and sent, and stored as a phone form with the case file's unit and stratum. The same
code again is refused in Vietnamese before any question is asked.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from browser_helpers import LiveServer, chromium, fill_sipas_2017, stored, wait_for
from sqlalchemy import select

from survey.campaigns import create_campaign
from survey.codes import case_codes, code_keys, issue_codes
from survey.db import session_scope
from survey.models import AnswerCode, Dossier
from survey.users import create_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "has_touch": True,
    "is_mobile": True,
}
DAY = date(2024, 5, 2)
# The first elements that reach past a 390-pixel screen (to name the culprit when the page is too wide).
WIDER_THAN_SCREEN = """() => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > 391).slice(0, 5)
  .map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""
PASSWORD = "mật-khẩu-đủ-dài-1"


@pytest.fixture
def coded(make_app):
    app = make_app(ANSWER_CODE_KEY="khoa-ma-phieu-trinh-duyet-0123456789", KIOSK_RESET_SECONDS=30)
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(
            session, name="Khảo sát SIPAS 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        campaign.answer_codes = True
        for k in range(5):
            session.add(
                Dossier(
                    campaign_id=campaign.id,
                    case_code=f"H26.45-240502-{k + 1:04d}",
                    unit_code=("tra-giang", "tra-xuan")[k % 2],
                    stratum=("dat_dai", "ho_tich", "chung_thuc")[k % 3],
                    received_on=DAY,
                )
            )
        session.flush()
        issue_codes(session, campaign, code_keys(app))
        cases = case_codes(session, campaign, code_keys(app), DAY)
        create_user(session, "phan-tich", PASSWORD, "analyst")
        campaign_id = campaign.id
    with LiveServer(app) as server:
        yield {"app": app, "server": server, "campaign_id": campaign_id, "cases": cases}


def test_a_day_s_slips_print_one_qr_code_and_code_per_case_file_on_80_mm_paper(coded, tmp_path):
    server, campaign_id = coded["server"], coded["campaign_id"]
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{server.base}/admin/login")
        page.fill("#username", "phan-tich")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/admin/?$"))
        page.goto(f"{server.base}/admin/campaigns/{campaign_id}/codes/slips?date={DAY}&format=receipt")
        page.wait_for_selector(".slip")
        assert page.locator(".slip").count() == 5
        assert page.locator(".slip svg.qr").count() == 5
        for box in (page.locator(".slip svg.qr").nth(i).bounding_box() for i in range(5)):
            assert box["width"] > 150 and abs(box["width"] - box["height"]) < 1
        shown = sorted(page.locator(".slip__code").all_inner_texts())
        assert shown == sorted(c.shown for c in coded["cases"])
        page.emulate_media(media="print")
        width = page.locator(".slip").first.bounding_box()["width"]
        assert abs(width - 80 / 25.4 * 96) < 2  # 80 mm
        assert page.locator(".slips-page .panel").first.is_hidden()  # the page's controls do not print
        pdf = page.pdf(prefer_css_page_size=True)
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 5  # one receipt per case file
        page.close()


def test_a_citizen_answers_on_a_phone_with_the_slip_s_code_and_the_code_works_once(coded, tmp_path):
    app, server, campaign_id = coded["app"], coded["server"], coded["campaign_id"]
    case = next(c for c in coded["cases"] if c.case_code.endswith("0002"))  # tra-xuan, ho_tich
    slip_url = f"{server.base}/k/p/{campaign_id}#{case.code}"
    with chromium() as browser:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(slip_url)
        page.wait_for_selector("#k-code")
        assert page.input_value("#k-code") == case.code  # from the QR code's address
        assert "không ghi mã nào đi với phiếu trả lời nào" in page.inner_text("#k-code-privacy")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(tmp_path / "phone-code.png"))

        # Two characters swapped: caught on the phone, before anything is asked of the server.
        swapped = case.code[1] + case.code[0] + case.code[2:]
        if swapped != case.code:
            page.fill("#k-code", swapped)
            page.tap("#k-code-go")
            page.wait_for_selector("#k-code-message:not([hidden])")
            assert "đảo chỗ hai ký tự" in page.inner_text("#k-code-message")
        page.fill("#k-code", f"{case.code[:4].lower()}-{case.code[4:].lower()}")
        page.tap("#k-code-go")
        page.wait_for_selector("#k-start")
        assert page.inner_text(".welcome__unit") == "Thị trấn Trà Xuân"  # the code's unit
        assert "#" not in page.url  # the code is no longer in the address bar
        answers = fill_sipas_2017(page, 1)
        wide = page.evaluate(WIDER_THAN_SCREEN)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
        page.tap("#k-submit")
        page.wait_for_selector("#k-thanks")
        rows = wait_for(lambda: stored(app), what="the phone form stored", page=page)
        assert len(rows) == 1
        response = rows[0]
        assert (response.source, response.unit_code, response.stratum) == ("phone", "tra-xuan", "ho_tich")
        assert response.kiosk_id is None
        got = dict(response.answers)
        got.pop("bat_dau"), got.pop("ket_thuc")
        assert got == answers
        with app.app_context(), session_scope(app) as session:
            assert list(session.scalars(select(AnswerCode.used))).count(True) == 1

        # The same slip again, on another phone: refused at the code step, in Vietnamese.
        other = browser.new_context(**PHONE).new_page()
        other.goto(slip_url)
        other.wait_for_selector("#k-code")
        other.tap("#k-code-go")
        other.wait_for_selector("#k-code-message.code-entry__message--error")
        assert "đã được dùng" in other.inner_text("#k-code-message")
        assert other.locator("#k-start").count() == 0
        # And the first phone, back at its start, asks for a new code: the used one was forgotten.
        page.tap(".thanks .btn")
        page.wait_for_selector("#k-code")
        assert page.input_value("#k-code") == ""
        assert len(stored(app)) == 1
        assert not errors, errors
        context.close()
