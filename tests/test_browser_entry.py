"""Fast paper entry in headless Chromium: a whole paper form keyed with the keyboard only (one key per
answer, x/0 for "blank / illegible", Backspace to go back, Ctrl+Enter to save), stored as keyed; and
a keyed form reviewed by an analyst (rejected with a reason, then restored)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from browser_helpers import LiveServer, chromium
from conftest import assign_enumerators, full_answers
from sqlalchemy import select

from survey.campaigns import campaign_questionnaire, create_campaign
from survey.db import session_scope
from survey.models import AuditEvent, Campaign, Response, User
from survey.storage import campaign_frame, save_response
from survey.users import create_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.db,
    # As in test_browser_admin: the threaded test server may leave a static file to the collector.
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

PASSWORD = "mat-khau-nhap-lieu"

# What the clerk presses, item by item, in the order of the paper form; and what must be stored.
KEYS: list[tuple[str, str]] = [
    ("linh_vuc", "2"),  # codes that are words: the 2nd option, ho_tich
    ("gioi_tinh", "2"),
    ("do_tuoi", "3"),
    ("dan_toc", "x"),  # left blank on the paper
    ("trinh_do", "4"),
    ("nghe_nghiep", "7"),  # a slip: corrected below with Backspace
]
LIKERT = [
    ("tiep_can_1", "5"),
    ("tiep_can_2", "4"),
    ("tiep_can_3", "x"),  # illegible
    ("tiep_can_4", "3"),
    *((f"thu_tuc_{i}", "4") for i in range(1, 6)),
    ("cong_chuc_1", "5"),
    ("cong_chuc_2", "5"),
    ("cong_chuc_3", "4"),
    ("cong_chuc_4", "4"),
    ("cong_chuc_5", "0"),  # 0 is no code of the scale: blank as well
    ("cong_chuc_6", "5"),
    ("ket_qua_1", "4"),
    ("ket_qua_2", "4"),
    ("ket_qua_3", "5"),
    ("da_gop_y", "1"),  # "Có": the feedback criteria appear and are keyed next
    ("phan_anh_1", "3"),
    ("phan_anh_2", "4"),
    ("phan_anh_3", "2"),
    ("phan_anh_4", "1"),
]
BLANK_KEYS = {"x", "0"}


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(make_app) -> Iterator[dict]:
    """The app on a free local port, with CSRF on (as in production), an enumerator and a campaign."""
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context(), session_scope(app) as session:
        create_user(session, "nhap_lieu", PASSWORD, "enumerator", "Lê Văn Nhập")
        campaign = create_campaign(
            session, name="Khảo sát SIPAS 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        campaign_id = campaign.id
    assign_enumerators(app, campaign_id)  # the enumerator keys every unit (survey.assignments)
    with LiveServer(app) as server:
        yield {"app": app, "base": server.base, "campaign_id": campaign_id}


def focused(page) -> str | None:
    """The name (or id) of the focused field."""
    return page.get_attribute(":focus", "name") or page.get_attribute(":focus", "id")


def test_a_paper_form_is_keyed_with_the_keyboard_only_and_stored_as_keyed(browser, site):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{site['base']}/admin/login")
    page.wait_for_selector("#username:focus")  # typing before autofocus lands would lose keys
    page.keyboard.type("nhap_lieu")  # the login page starts on the user name
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Xin chào Lê Văn Nhập")

    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}/entry?unit=tra-xuan")
    assert page.is_visible("#entry-keys-help")
    assert page.inner_text("#keyed-count") == "Đã nhập 0 phiếu trong phiên này."
    assert focused(page) == "entry_serial"  # the unit is chosen: keying starts at the serial
    page.keyboard.type("tx-0101")
    page.keyboard.press("Enter")

    for code, key in KEYS:
        assert focused(page) in (code, f"blank-{code}"), (code, focused(page))
        page.keyboard.press(key)
    assert focused(page) == "so_lan_di_lai"
    page.keyboard.press("Backspace")  # back to nghe_nghiep, whose 7 was a slip
    assert focused(page) == "nghe_nghiep"
    page.keyboard.press("2")
    page.keyboard.type("3")
    page.keyboard.press("Enter")

    assert page.is_hidden('[data-code="phan_anh_1"]')
    for code, key in LIKERT:
        assert focused(page) in (code, f"blank-{code}"), (code, focused(page))
        page.keyboard.press(key)
    assert focused(page) == "gop_y"
    page.keyboard.type("Phòng chờ chật, cần thêm ghế")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=Đã lưu phiếu cho Thị trấn Trà Xuân")

    assert page.inner_text("#keyed-count") == "Đã nhập 1 phiếu trong phiên này."
    assert focused(page) == "entry_serial"  # ready for the next form
    with site["app"].app_context(), session_scope(site["app"]) as session:
        (row,) = session.scalars(select(Response)).all()
        clerk = session.scalars(select(User).where(User.username == "nhap_lieu")).one()
        expected = {"linh_vuc": "ho_tich", "gioi_tinh": "2", "do_tuoi": "3", "trinh_do": "4"}
        expected |= {"nghe_nghiep": "2", "so_lan_di_lai": 3, "gop_y": "Phòng chờ chật, cần thêm ghế"}
        expected |= {code: key for code, key in LIKERT if key not in BLANK_KEYS}
        assert row.answers == expected
        assert row.blank_items == ["dan_toc", "tiep_can_3", "cong_chuc_5"]
        assert (row.paper_serial, row.source, row.entered_by, row.unit_code) == (
            "TX-0101",
            "paper",
            clerk.id,
            "tra-xuan",
        )
    assert not problems, problems
    context.close()


def test_an_analyst_reviews_a_keyed_form_in_the_browser(browser, site):
    """List -> detail -> reject without a reason (refused, nothing changes) -> with one -> restore."""
    app = site["app"]
    with app.app_context(), session_scope(app) as session:
        create_user(session, "phan_tich", PASSWORD, "analyst", "Trần Thị Duyệt")
        campaign = session.get(Campaign, site["campaign_id"])
        form = full_answers(campaign_questionnaire(campaign))
        stored, _ = save_response(
            session,
            campaign=campaign,
            unit_code="tra-bui",
            instance_id=str(uuid.uuid4()),
            answers=form,
            questionnaire_id=campaign.questionnaire_id,
            version=campaign.questionnaire_version,
            started_at=None,
            submitted_at=None,
            source="paper",
        )
        instance_id = stored.instance_id
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{site['base']}/admin/login")
    page.fill("#username", "phan_tich")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Xin chào Trần Thị Duyệt")

    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}/responses")
    page.click(f"a:has-text('{instance_id[:8]}')")
    page.wait_for_selector("text=Thông tin phiếu")
    assert instance_id in page.inner_text("main")

    page.select_option("#state", "rejected")
    page.click("text=Lưu trạng thái")
    page.wait_for_selector("text=Cần ghi lý do khi loại phiếu.")
    with app.app_context(), session_scope(app) as session:
        assert session.scalars(select(Response)).one().review_state == "received"

    page.select_option("#state", "rejected")
    page.fill("#reason", "Cán bộ xã tự điền thay người dân")
    page.click("text=Lưu trạng thái")
    page.wait_for_load_state()
    with app.app_context(), session_scope(app) as session:
        row = session.scalars(select(Response)).one()
        assert (row.review_state, row.review_reason) == ("rejected", "Cán bộ xã tự điền thay người dân")
        events = session.scalars(select(AuditEvent.action).where(AuditEvent.username == "phan_tich")).all()
        assert events.count("response_excluded") == 1
        assert campaign_frame(session.get_bind(), site["campaign_id"]).empty  # no longer scored

    page.select_option("#state", "received")
    page.click("text=Lưu trạng thái")
    page.wait_for_load_state()
    with app.app_context(), session_scope(app) as session:
        assert session.scalars(select(Response)).one().review_state == "received"
        assert len(campaign_frame(session.get_bind(), site["campaign_id"])) == 1
        events = session.scalars(select(AuditEvent.action).where(AuditEvent.username == "phan_tich")).all()
        assert events.count("response_restored") == 1
    # The refused rejection answers 422 on purpose; Chromium logs every 4xx page as a console error.
    assert [p for p in problems if "status of 422" not in p] == [], problems
    context.close()
