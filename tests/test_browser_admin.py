"""Staff pages in headless Chromium: live progress, skip logic on the paper form, no CSP violations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from browser_helpers import LiveServer, chromium
from sqlalchemy import select

from questionnaires import load_questionnaire
from survey.campaigns import create_campaign
from survey.db import session_scope
from survey.models import Campaign, Response
from survey.storage import save_response
from survey.users import create_user

pytestmark = [
    pytest.mark.browser,
    # The threaded test server may leave a static file for the garbage collector when Chromium drops a
    # response it no longer needs; that is the harness, not the app. Only those files are ignored.
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORD = "mat-khau-chuyen-vien"


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(make_app) -> Iterator[dict]:
    """The app on a free local port, with CSRF on (as in production), an analyst and a campaign."""
    app = make_app(WTF_CSRF_ENABLED=True, PROGRESS_POLL_SECONDS=1)
    with app.app_context(), session_scope(app) as session:
        create_user(session, "chuyen_vien", PASSWORD, "analyst", "Trần Thị Bình")
        campaign = create_campaign(
            session,
            name="Khảo sát SIPAS 2024",
            questionnaire="sipas-2017",
            unit_list="tra-bong-2023",
            populations={"tra-xuan": 1200},
        )
        campaign_id = campaign.id
    with LiveServer(app) as server:
        yield {"app": app, "base": server.base, "campaign_id": campaign_id}


def _logged_in_page(browser, site):
    context = browser.new_context(viewport={"width": 800, "height": 1280})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{site['base']}/admin/login")
    page.fill("#username", "chuyen_vien")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Xin chào Trần Thị Bình")
    return context, page, problems


def test_the_campaign_page_follows_progress_live(browser, site):
    context, page, problems = _logged_in_page(browser, site)
    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}")
    cell = 'tr[data-unit="tra-xuan"] [data-field="responses"]'
    assert page.inner_text(cell) == "0"

    answers = {"linh_vuc": "ho_tich", "gioi_tinh": "1", "do_tuoi": "2", "da_gop_y": "2"}
    answers |= {q.code: "4" for q in SIPAS_2017.questions() if q.appearance == "likert" and not q.relevant}
    with site["app"].app_context(), session_scope(site["app"]) as session:
        campaign = session.get(Campaign, site["campaign_id"])
        for _ in range(3):
            save_response(
                session,
                campaign=campaign,
                unit_code="tra-xuan",
                instance_id=str(uuid.uuid4()),
                answers=answers,
                questionnaire_id="sipas-2017",
                version="2017.1",
                started_at=None,
                submitted_at=None,
                source="kiosk",
            )
    # No reload: the page polls the progress API and rewrites the row.
    # (A selector, not wait_for_function: the page's CSP forbids the eval that would need.)
    page.wait_for_selector(f'{cell}:text-is("3")', timeout=10_000)
    row = page.inner_text('tr[data-unit="tra-xuan"]')
    assert "300" in row and "1,0 %" in row
    assert page.inner_text('tr[data-unit="__total"] [data-field="responses"]') == "3"
    assert "Cập nhật lúc" in page.inner_text("#progress-updated")
    assert not problems, problems  # no CSP violation, no script error
    context.close()


def test_paper_entry_hides_what_is_not_asked_and_stores_the_form(browser, site):
    context, page, problems = _logged_in_page(browser, site)
    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}/entry")
    page.select_option("#entry_unit", "tra-xuan")
    for code, value in {"linh_vuc": "chung_thuc", "gioi_tinh": "2", "do_tuoi": "1"}.items():
        page.check(f'input[name="{code}"][value="{value}"]')
    for q in SIPAS_2017.questions():
        if q.appearance == "likert" and not q.relevant:
            page.check(f'input[name="{q.code}"][value="5"]')

    assert page.is_hidden('[data-code="phan_anh_1"]')  # asked only after "Có", as on the tablet
    page.check('input[name="da_gop_y"][value="1"]')
    assert page.is_visible('[data-code="phan_anh_1"]')
    page.check('input[name="phan_anh_1"][value="3"]')
    page.check('input[name="da_gop_y"][value="2"]')
    assert page.is_hidden('[data-code="phan_anh_1"]')  # "Không": the feedback criteria are not asked
    page.fill("#gop_y", "Thủ tục nhanh, cán bộ vui vẻ")
    page.click("button[data-once]")
    page.wait_for_selector("text=Đã lưu phiếu cho Thị trấn Trà Xuân")

    with site["app"].app_context(), session_scope(site["app"]) as session:
        (row,) = session.scalars(select(Response)).all()
        assert row.source == "paper"
        assert row.answers["da_gop_y"] == "2" and "phan_anh_1" not in row.answers
        assert row.answers["gop_y"] == "Thủ tục nhanh, cán bộ vui vẻ"
    assert not problems, problems
    context.close()


def test_a_new_kiosk_link_prints_with_its_qr_code(browser, site, tmp_path):
    context, page, problems = _logged_in_page(browser, site)
    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}")
    page.select_option("#unit", "tra-xuan")
    page.fill("#counter", "Quầy 1")
    page.click("text=Tạo đường dẫn và mã QR")
    page.wait_for_selector("svg.qr")
    url = page.inner_text("#kiosk-url")
    assert url.startswith(f"{site['base']}/k/")
    page.screenshot(path=str(tmp_path / "kiosk-link.png"), full_page=True)
    pdf = page.pdf(path=str(tmp_path / "kiosk-link.pdf"))  # the printable sheet renders
    assert pdf[:4] == b"%PDF"
    page.goto(url)  # the tablet's address works at once
    page.wait_for_selector("#k-start")
    assert not problems, problems
    context.close()
