"""The results dashboard in headless Chromium, at desktop size and on a phone (390×844): figures drawn,
no sideways scrolling, the numbers of analysis.score, new forms shown without a reload; and a report
built in the background, from the button to the download link. No CSP violation anywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_helpers import LiveServer, chromium
from test_results_dashboard import PASSWORD, ROLES, _campaign, _scored, _store, _vi

import survey.results
from survey.db import session_scope
from survey.users import create_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
}


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(make_app) -> Iterator[dict]:
    survey.results.clear_cache()
    app = make_app(WTF_CSRF_ENABLED=True, RESULTS_REFRESH_SECONDS=2, REPORT_POLL_SECONDS=0.5)
    with app.app_context(), session_scope(app) as session:
        for name, role in ROLES.items():
            create_user(session, name, PASSWORD, role, full_name=f"Cán bộ {name}")
    before = _campaign(app, "SIPAS 2025 — kỳ trước", {"tra-xuan": 0.6, "tra-giang": 0.9, "tra-thuy": 0.75})
    now = _campaign(app, "SIPAS 2026 — Trà Bồng", {"tra-xuan": 0.95, "tra-giang": 0.55, "tra-thuy": 0.8})
    with LiveServer(app) as server:
        yield {"app": app, "base": server.base, "before": before, "campaign_id": now}


def _page(browser, site, username: str, device: dict):
    context = browser.new_context(**device)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{site['base']}/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text=Cán bộ {username}")
    return context, page, problems


def _loaded(page, selector: str) -> None:
    """The figure (an SVG of the reports' code) was fetched and drawn."""
    page.locator(selector).scroll_into_view_if_needed()
    page.wait_for_selector(f"{selector}[src$='.svg'], {selector}[src*='.svg?v=']")
    for _ in range(200):
        state = page.evaluate(
            "(s) => { const i = document.querySelector(s); return [i.complete, i.naturalWidth]; }", selector
        )
        if state[0] and state[1] > 0:
            break
        page.wait_for_timeout(100)
    assert state[0] and state[1] > 300, (selector, state)


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_dashboard_reads_on_desktop_and_phone(browser, site, database_url, device):
    table = _scored(database_url, site["campaign_id"])
    context, page, problems = _page(browser, site, "lanh_dao", device)
    page.goto(f"{site['base']}/admin/")
    page.click(f"a[href='/admin/campaigns/{site['campaign_id']}/results']")
    page.wait_for_selector("#ranking-table")
    for chart in ("#ranking-chart", "#daily-chart"):
        _loaded(page, chart)
        box = page.locator(chart).bounding_box()
        assert box["width"] <= device["viewport"]["width"]
    _no_sideways_scroll(page)
    for unit in table.units:
        row = page.locator(f'#ranking-table tr[data-unit="{unit.unit}"]')
        assert row.locator('[data-field="index"]').inner_text() == _vi(unit.index)
        assert row.locator('[data-field="ci"]').inner_text() == f"{_vi(unit.ci_low)} – {_vi(unit.ci_high)}"
        assert row.locator('[data-field="rank"]').inner_text() == str(unit.rank)
    assert page.inner_text('[data-field="overall-index"]') == _vi(table.overall.index)

    # Drill down into one commune: its figures and the trend over both campaigns.
    page.click("#ranking-table a:text('Xã Trà Giang')")
    page.wait_for_selector("#criteria-table")
    assert page.inner_text('[data-field="index"]') == _vi(table.unit("tra-giang").index)
    trend = page.inner_text("#trend-table")
    assert "SIPAS 2025" in trend and "SIPAS 2026" in trend
    _loaded(page, "#trend-chart")
    _loaded(page, "#profile-chart")
    _no_sideways_scroll(page)
    assert not problems, problems
    context.close()


def test_new_forms_show_on_the_dashboard_without_a_reload(browser, site, database_url):
    context, page, problems = _page(browser, site, "chuyen_vien", DESKTOP)
    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}/results")
    assert page.inner_text('#sources [data-field="total"]') == "36 / 50"
    page.evaluate("() => { window.__same_page = true; }")
    _store(site["app"], site["campaign_id"], {"tra-thuy": 0.3}, 4, "live")
    page.wait_for_selector('#sources [data-field="total"]:text-is("40 / 50")', timeout=15_000)
    assert page.evaluate("() => window.__same_page === true")  # swapped in, not reloaded
    table = _scored(database_url, site["campaign_id"])
    shown = page.inner_text('#ranking-table tr[data-unit="tra-thuy"] [data-field="index"]')
    assert shown == _vi(table.unit("tra-thuy").index)
    assert not problems, problems
    context.close()


def test_a_report_is_built_in_the_background_and_offered_for_download(browser, site):
    context, page, problems = _page(browser, site, "chuyen_vien", PHONE)
    page.goto(f"{site['base']}/admin/campaigns/{site['campaign_id']}")
    page.select_option("#previous", str(site["before"]))
    page.click("text=Lập báo cáo xếp hạng")
    page.wait_for_url(re.compile(r".*/admin/reports/[^/]+$"))
    assert page.locator("#job-progress").count() == 1
    page.wait_for_selector("#job-file:visible", timeout=120_000)
    assert page.inner_text("#job-stage") == "Báo cáo đã sẵn sàng."
    assert page.get_attribute("#job-progress", "value") == "100"
    with page.expect_download() as info:
        page.click("#job-file")
    assert info.value.suggested_filename.startswith("bao-cao_sipas-2017_dot-")
    _no_sideways_scroll(page)
    assert not problems, problems
    context.close()
