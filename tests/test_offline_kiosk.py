"""The kiosk without a network, in headless Chromium at a 10" tablet viewport.

"Offline" here is real: the browser context is set offline AND the server is stopped (its socket
closed, open connections cut), then started again on the same port, i.e. the same origin with the
same service worker and IndexedDB. What reaches the database is read back from the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

import pytest
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TABLET,
    LiveServer,
    chromium,
    fill_sipas_2017,
    playwright_api,
    stored,
    submit_and_thank,
    wait_for,
)
from sqlalchemy import select

from survey.campaigns import create_campaign, create_kiosk, hash_token, revoke_kiosk
from survey.db import session_scope
from survey.kiosk import KIOSK_ASSETS
from survey.models import Campaign, Kiosk
from survey.storage import save_response

pytestmark = [
    pytest.mark.browser,
    # The threaded test server may leave a static file for the garbage collector when Chromium drops a
    # response it no longer needs; that is the harness, not the app. Only those files are ignored.
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

PIN = "246810"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# Chromium logs every failed load while the network is gone (the point of these tests), and on plain
# http it says it ignores the app's Cross-Origin-Opener-Policy header (only HTTPS gets that far).
NETWORK_NOISE = (
    "net::ERR_INTERNET_DISCONNECTED",
    "net::ERR_CONNECTION_REFUSED",
    "Failed to load resource",
    "Cross-Origin-Opener-Policy header has been ignored",
)


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(make_app) -> Iterator[dict]:
    """The app (staff PIN set) on a local port with a sipas-2017 campaign and one kiosk link."""
    app = make_app(KIOSK_RESET_SECONDS=30, KIOSK_IDLE_SECONDS=300, KIOSK_STAFF_PIN=PIN)
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
    with LiveServer(app) as server:
        yield {"app": app, "server": server, "token": token, "campaign_id": campaign_id}


def _kiosk_url(site) -> str:
    return f"{site['server'].base}/k/{site['token']}"


def _watch(page) -> list[str]:
    """Script errors and console errors of a page, network noise aside."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not any(noise in msg.text for noise in NETWORK_NOISE)
            else None
        ),
    )
    page.on("dialog", lambda dialog: dialog.accept())  # "leave with unsent forms?": yes
    return problems


def _open_ready(page, site) -> None:
    """Open the kiosk online and wait until the service worker controls it and has saved it."""
    page.goto(_kiosk_url(site))
    page.wait_for_selector("#k-start")
    page.wait_for_selector("html[data-offline=ready]", state="attached", timeout=20_000)
    assert page.evaluate("() => navigator.serviceWorker.controller.state") == "activated"


def _cut_network(context, server) -> None:
    context.set_offline(True)
    server.stop()


def _status(page) -> str:
    """The status lines of the staff panel (the header shows respondents a dot only)."""
    return page.evaluate("() => SipasStaff.statusText()")


def _badge(page, text: str) -> None:
    wait_for(lambda: text in _status(page), timeout=20, what=text, page=page)


def _open_panel(page, pin: str = PIN) -> None:
    page.tap("#k-staff")
    page.wait_for_selector("#k-pin-input")
    page.fill("#k-pin-input", pin)
    page.tap("#k-pin-ok")
    page.wait_for_selector("#k-panel")


def _outbox(page) -> list[dict]:
    return page.evaluate("() => SipasQueue.all()")


@SQLITE_ONLY
def test_an_offline_context_cuts_the_service_worker_off_too(browser, site):
    """What Playwright's set_offline covers in this Chromium: the worker's own fetches as well.

    The tests below stop the server besides, so they stay honest should a Chromium release change this.
    """
    server = site["server"]
    context = browser.new_context(**TABLET)
    page = context.new_page()
    _open_ready(page, site)
    before = len(server.requests)
    context.set_offline(True)
    page.reload()  # network first: the worker tries the network for the page and the definition
    page.wait_for_selector("#k-start")
    assert server.requests[before:] == []
    context.set_offline(False)
    page.reload()
    page.wait_for_selector("#k-start")
    assert f"GET /k/{site['token']}" in server.requests[before:]
    context.close()


def test_five_forms_taken_offline_after_a_reload_reach_the_database_once_each(browser, site):
    app, server = site["app"], site["server"]
    context = browser.new_context(**TABLET)
    page = context.new_page()
    problems = _watch(page)
    _open_ready(page, site)

    _cut_network(context, server)
    page.reload()  # the page, its definition, scripts and styles all come from the tablet itself
    page.wait_for_selector("#k-start")
    assert "Thị trấn Trà Xuân" in page.inner_text(".welcome__unit")
    assert page.evaluate("() => navigator.onLine") is False

    filled = []
    for n in range(5):
        filled.append(fill_sipas_2017(page, n))
        submit_and_thank(page)  # thanked at once: the form is safe in the tablet's outbox
    _badge(page, "5 phiếu chờ gửi")
    assert "Ngoại tuyến" in _status(page)
    assert stored(app) == [] and server.posts == []
    outbox = _outbox(page)
    assert [item["state"] for item in outbox] == ["pending"] * 5
    # Each form keeps the questionnaire version it was filled with, and the app version that filled it.
    app_version = page.get_attribute("#kiosk", "data-app-version")
    assert app_version == app.extensions["sipas.kiosk_asset_version"]
    assert {
        (i["questionnaire"], i["version"], i["payload"]["version"], i["app_version"]) for i in outbox
    } == {("sipas-2017", "2017.1", "2017.1", app_version)}
    queued = [item["instance_id"] for item in outbox]
    assert len(set(queued)) == 5

    # Leaving with unsent forms asks first; reloaded anyway (still offline), nothing is lost.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.type))
    page.reload()
    page.wait_for_selector("#k-start")
    assert dialogs == ["beforeunload"]
    _badge(page, "5 phiếu chờ gửi")

    # Staff open the panel while still offline: every waiting form is listed.
    _open_panel(page)
    assert page.inner_text("#k-panel-pending") == "5"
    assert len(page.query_selector_all("#k-pending-list li")) == 5
    assert page.inner_text("#k-panel-questionnaire") == "sipas-2017, phiên bản 2017.1"
    assert page.inner_text("#k-panel-offline").startswith("Sẵn sàng: trang, phiếu khảo sát và các tệp")
    assert page.inner_text("#k-panel-persist").startswith(("Đã được cấp", "Chưa được cấp"))

    # The network comes back, but the server answers slowly: the first form is held in flight while
    # "Gửi ngay" is tapped twice and a second tab opens and tries to sync too.
    server.hold_posts()
    server.start()
    context.set_offline(False)
    wait_for(server.in_flight.is_set, what="the first form in flight", page=page)
    page.evaluate("() => { const b = document.getElementById('k-sync-now'); b.click(); b.click(); }")
    second = context.new_page()
    problems += _watch(second)
    second.goto(_kiosk_url(site))
    second.wait_for_selector("#k-start")
    assert second.evaluate("() => SipasSubmit.syncNow()")["skipped"] == "busy"  # one sync per tablet
    server.release_posts()

    rows = wait_for(lambda: len(stored(app)) == 5 and stored(app), timeout=30, what="5 stored", page=page)
    _badge(page, "0 phiếu chờ gửi")
    _badge(second, "0 phiếu chờ gửi")
    assert re.search(r"Đồng bộ lần cuối: \d\d:\d\d", _status(page))
    assert sorted(server.posts) == sorted(queued)  # each form sent exactly once
    assert [row.instance_id for row in rows] == queued  # in the order they were filled
    for row, answers in zip(rows, filled, strict=True):
        got = {k: v for k, v in row.answers.items() if k not in ("bat_dau", "ket_thuc")}
        assert got == answers
        assert (row.unit_code, row.source, row.questionnaire_version) == ("tra-xuan", "kiosk", "2017.1")
    assert _outbox(page) == []

    # Sending again now, from both tabs, adds nothing.
    page.evaluate("() => { const b = document.getElementById('k-sync-now'); b.click(); b.click(); }")
    second.evaluate("() => Promise.all([SipasSubmit.syncNow(), SipasSubmit.syncNow()])")
    page.wait_for_selector('#k-staff-message:has-text("Không còn phiếu nào chờ gửi.")')
    assert len(stored(app)) == 5 and len(server.posts) == 5
    assert not problems, problems
    context.close()


def test_a_tab_killed_while_a_form_is_in_flight_loses_nothing_and_doubles_nothing(browser, site):
    app, server = site["app"], site["server"]
    context = browser.new_context(**TABLET)
    page = context.new_page()
    _watch(page)
    _open_ready(page, site)
    _cut_network(context, server)
    for n in range(2):
        fill_sipas_2017(page, n)
        submit_and_thank(page)
    _badge(page, "2 phiếu chờ gửi")
    first, second_form = (item["instance_id"] for item in _outbox(page))

    server.hold_posts()  # the first form will reach the server, and wait there
    server.start()
    context.set_offline(False)
    wait_for(server.in_flight.is_set, what="the first form in flight", page=page)
    # The tab goes away with the request in flight (closed, or swiped away by a staff member). A renderer
    # crash through CDP (Page.crash) would be closer still, but Playwright never returns from it here.
    page.close()
    server.release_posts()  # the server stores the form; the answer goes nowhere
    wait_for(lambda: len(stored(app)) == 1, what="the in-flight form stored by the server")

    reopened = context.new_page()
    problems = _watch(reopened)
    reopened.goto(_kiosk_url(site))
    _badge(reopened, "0 phiếu chờ gửi")  # the page load synced what was left
    rows = wait_for(lambda: len(stored(app)) == 2 and stored(app), what="both forms stored")
    assert [row.instance_id for row in rows] == [first, second_form]
    assert server.posts == [first, first, second_form]  # the killed send was repeated, and kept once
    assert _outbox(reopened) == []
    assert not problems, problems
    context.close()


@SQLITE_ONLY
def test_forms_the_server_refuses_are_kept_for_staff_never_dropped(browser, site):
    app, server = site["app"], site["server"]
    context = browser.new_context(**TABLET)
    page = context.new_page()
    problems = _watch(page)
    _open_ready(page, site)
    _cut_network(context, server)
    fill_sipas_2017(page, 1)
    submit_and_thank(page)
    fill_sipas_2017(page, 2)
    submit_and_thank(page)
    conflicting, accepted = _outbox(page)
    # A third form the server will find invalid (an answer code the question does not have).
    broken = page.evaluate(
        """(payload) => {
            const copy = JSON.parse(JSON.stringify(payload));
            copy.instance_id = SipasSubmit.newInstanceId();
            copy.answers.tiep_can_1 = "9";
            return SipasQueue.add({url: "/api/v1/responses", payload: copy}).then(i => i.instance_id);
        }""",
        accepted["payload"],
    )
    # Meanwhile the server got the first form's id with other answers (409 for the tablet's copy).
    with app.app_context(), session_scope(app) as session:
        campaign = session.get(Campaign, site["campaign_id"])
        other = {**conflicting["payload"]["answers"], "gop_y": "Một bản khác của phiếu này."}
        save_response(
            session,
            campaign=campaign,
            unit_code="tra-xuan",
            instance_id=conflicting["instance_id"],
            answers=other,
            questionnaire_id="sipas-2017",
            version="2017.1",
            started_at=conflicting["payload"]["started_at"],
            submitted_at=conflicting["payload"]["submitted_at"],
            source="api",
        )

    server.start()
    context.set_offline(False)
    _badge(page, "2 phiếu cần xử lý")
    rows = stored(app)
    assert [row.instance_id for row in rows] == [conflicting["instance_id"], accepted["instance_id"]]
    assert rows[0].answers["gop_y"] == "Một bản khác của phiếu này."  # the tablet's copy did not overwrite it

    page.reload()  # still there after a reload: the outbox is IndexedDB, not the page
    _badge(page, "2 phiếu cần xử lý")
    _open_panel(page)
    items = page.query_selector_all("#k-attention-list > li")
    assert [i.get_attribute("data-instance") for i in items] == [conflicting["instance_id"], broken]
    assert "Mã phiếu này đã được gửi với nội dung khác" in items[0].inner_text()
    assert "HTTP 409" in items[0].inner_text()
    assert "HTTP 400" in items[1].inner_text() and "tiep_can_1:" in items[1].inner_text()
    assert page.inner_text("#k-panel-attention") == "2"

    # "Gửi lại" sends it once more; the server still refuses, and it comes back to the list.
    page.tap(f'#k-attention-list [data-instance="{broken}"] [data-retry]')
    page.wait_for_selector('#k-staff-message:has-text("1 phiếu bị máy chủ từ chối")')
    assert server.posts.count(broken) == 2
    assert page.evaluate("() => SipasQueue.counts()") == {"pending": 0, "attention": 2}

    # Before anything is thrown away, staff can take a copy of every unsent form for the administrator.
    with page.expect_download() as download:
        page.tap("#k-download")
    with open(download.value.path(), encoding="utf-8") as fh:
        copies = json.load(fh)
    assert [c["instance_id"] for c in copies] == [conflicting["instance_id"], broken]
    assert copies[0]["payload"]["answers"] == conflicting["payload"]["answers"]
    assert copies[1]["last_error"]["status"] == 400 and all("kiosk_token" not in c["payload"] for c in copies)
    assert copies[0]["last_error"]["code"] == "conflict"  # the server's stable code, for the administrator

    # Clearing needs the PIN again and says what would be lost; a wrong PIN clears nothing.
    page.tap("#k-clear")
    assert "mất vĩnh viễn 2 phiếu chưa gửi" in page.inner_text("#k-clear-warning")
    page.fill("#k-clear-pin", "111111")
    page.tap("#k-clear-confirm")
    page.wait_for_selector('#k-clear-error:has-text("Mã PIN không đúng.")')
    assert page.evaluate("() => SipasQueue.counts()") == {"pending": 0, "attention": 2}
    page.fill("#k-clear-pin", PIN)
    page.tap("#k-clear-confirm")
    page.wait_for_selector('#k-staff-message:has-text("Đã xoá 2 phiếu khỏi hàng đợi.")')
    assert page.evaluate("() => SipasQueue.counts()") == {"pending": 0, "attention": 0}
    assert len(stored(app)) == 2
    assert not problems, problems
    context.close()


@SQLITE_ONLY
def test_without_web_locks_a_lease_keeps_one_sync_per_tablet(browser, site):
    app, server = site["app"], site["server"]
    context = browser.new_context(**TABLET)
    # A browser without the Web Locks API: the IndexedDB lease must do the job.
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'locks', {get: () => undefined});")
    page = context.new_page()
    problems = _watch(page)
    _open_ready(page, site)
    assert page.evaluate("() => navigator.locks") is None
    _cut_network(context, server)
    for n in range(2):
        fill_sipas_2017(page, n)
        submit_and_thank(page)
    payload = _outbox(page)[0]["payload"]
    queued = [item["instance_id"] for item in _outbox(page)]

    server.hold_posts()
    server.start()
    context.set_offline(False)
    wait_for(server.in_flight.is_set, what="the first form in flight", page=page)
    other = context.new_page()
    problems += _watch(other)
    other.goto(_kiosk_url(site))
    other.wait_for_selector("#k-start")
    assert other.evaluate("() => SipasSubmit.syncNow()")["skipped"] == "busy"
    lease = other.evaluate("() => SipasQueue.getMeta('sync_lease')")
    assert lease["expires"] > other.evaluate("() => Date.now()")

    # The holder dies mid-flight; once its lease has run out the other tab takes over.
    page.close()
    server.release_posts()
    wait_for(lambda: len(stored(app)) == 1, what="the in-flight form stored by the server", page=other)
    other.evaluate(
        "(lease) => SipasQueue.setMeta('sync_lease', {owner: lease.owner, expires: Date.now() - 1})", lease
    )
    extra = other.evaluate(
        """(payload) => {
            const copy = JSON.parse(JSON.stringify(payload));
            copy.instance_id = SipasSubmit.newInstanceId();
            return SipasQueue.add({url: "/api/v1/responses", payload: copy}).then(i => i.instance_id);
        }""",
        payload,
    )
    summary = other.evaluate("() => SipasSubmit.syncNow()")
    assert "skipped" not in summary and summary["sent"] == 3
    rows = wait_for(lambda: len(stored(app)) == 3 and stored(app), what="three stored", page=other)
    assert {row.instance_id for row in rows} == {*queued, extra}
    assert other.evaluate("() => SipasQueue.getMeta('sync_lease')") is None  # released after the round
    assert not problems, problems
    context.close()


@SQLITE_ONLY
def test_an_origin_without_https_says_offline_mode_is_off_and_still_works_online(site):
    """Plain http on a LAN name (not localhost): no service worker, a plain warning, forms still go."""
    app, server = site["app"], site["server"]
    rule = f"--host-resolver-rules=MAP kiosk.xa-tra-xuan.lan {server.host}"
    with chromium(extra_args=(rule,)) as browser:
        context = browser.new_context(**TABLET)
        page = context.new_page()
        problems = _watch(page)
        page.goto(f"http://kiosk.xa-tra-xuan.lan:{server.port}/k/{site['token']}")
        page.wait_for_selector("#k-start")
        assert page.evaluate("() => window.isSecureContext") is False
        page.wait_for_selector("html[data-offline=unavailable]", state="attached")
        assert "Không có chế độ ngoại tuyến" in _status(page)
        assert page.inner_text("#k-staff") == ""  # respondents see a dot, no words
        assert page.evaluate("() => crypto.subtle === undefined")  # no Web Crypto: the PIN cannot be checked

        # A PIN is set, and it cannot be checked here: the staff panel stays locked and says why.
        assert page.evaluate("() => SipasStaff.pinCheckable()") is False
        assert page.evaluate(f"() => SipasStaff.checkPin('{PIN}')") is False
        page.tap("#k-staff")
        page.wait_for_selector("#k-pin-locked")
        assert page.inner_text("#k-pin-error").startswith(
            "Bảng điều khiển cán bộ đang khoá: trang không chạy qua HTTPS nên trình duyệt không kiểm tra"
        )
        assert page.inner_text("#k-pin-offline").startswith(
            "Chế độ ngoại tuyến không hoạt động vì trang không chạy qua HTTPS"
        )
        assert page.query_selector("#k-pin-input") is None and page.query_selector("#k-panel") is None
        page.tap("#k-pin-cancel")
        page.wait_for_selector("#k-pin", state="detached")

        answers = fill_sipas_2017(page, 3)
        submit_and_thank(page)
        (row,) = wait_for(lambda: stored(app), what="the stored response", page=page)
        assert {k: v for k, v in row.answers.items() if k not in ("bat_dau", "ket_thuc")} == answers
        assert not problems, problems
        context.close()


@SQLITE_ONLY
def test_the_pin_is_checked_on_the_tablet_against_a_salted_hash(browser, site):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    problems = _watch(page)
    page.goto(_kiosk_url(site))
    page.wait_for_selector("#k-start")
    record = page.get_attribute("#kiosk", "data-staff-pin")
    assert PIN not in page.content()
    algorithm, iterations, salt, digest = record.split("$")
    assert algorithm == "pbkdf2-sha256"
    assert hashlib.pbkdf2_hmac("sha256", PIN.encode(), bytes.fromhex(salt), int(iterations)).hex() == digest
    # The tablet's check (the browser's Web Crypto: 127.0.0.1 is a secure origin) agrees with Python's.
    assert page.evaluate("() => window.isSecureContext && SipasStaff.pinCheckable()") is True
    for password, rounds in (("0000", 1), ("246810", 2), ("123456789012", 1000), (PIN, int(iterations))):
        ours = page.evaluate("([p, s, n]) => SipasStaff.pbkdf2(p, s, n)", [password, salt, rounds])
        assert ours == hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), rounds).hex()
    assert page.evaluate("() => typeof SipasStaff.pbkdf2Fallback") == "undefined"  # no hand-written crypto
    assert page.evaluate("(pin) => SipasStaff.checkPin(pin)", PIN) is True
    assert page.evaluate("() => SipasStaff.checkPin('135790')") is False

    # Five wrong PINs lock the prompt for a minute, the right one included.
    page.tap("#k-staff")
    for _ in range(5):
        page.fill("#k-pin-input", "999999")
        page.tap("#k-pin-ok")
        wait_for(lambda: page.input_value("#k-pin-input") == "", what="the PIN checked", page=page)
    assert "Nhập sai quá nhiều lần" in page.inner_text("#k-pin-error")
    page.fill("#k-pin-input", PIN)
    page.tap("#k-pin-ok")
    page.wait_for_selector('#k-pin-error:has-text("Nhập sai quá nhiều lần")')
    assert page.query_selector("#k-panel") is None
    assert not problems, problems
    context.close()


@SQLITE_ONLY
def test_a_new_release_replaces_the_cache_and_the_cache_holds_only_the_kiosk(browser, site):
    app, server = site["app"], site["server"]
    old = app.extensions["sipas.kiosk_asset_version"]
    context = browser.new_context(**TABLET)
    page = context.new_page()
    problems = _watch(page)
    _open_ready(page, site)
    names = page.evaluate("() => caches.keys()")
    assert sorted(names) == ["sipas-kiosk-pages", f"sipas-kiosk-static-{old}"]
    saved = page.evaluate(
        "() => caches.open('sipas-kiosk-pages').then(c => c.keys()).then(r => r.map(x => x.url))"
    )
    base = server.base
    token = site["token"]
    assert sorted(saved) == sorted(
        [
            f"{base}/k/{token}",
            f"{base}/k/{token}/manifest.webmanifest",
            f"{base}/api/v1/kiosk/{token}/definition",
        ]
    )  # never an answer, never a staff page

    app.extensions["sipas.kiosk_asset_version"] = new = "0123456789ab"  # a new release is deployed
    page.reload()
    page.wait_for_selector("#k-start")
    wait_for(
        lambda: (
            sorted(page.evaluate("() => caches.keys()")) == ["sipas-kiosk-pages", f"sipas-kiosk-static-{new}"]
        ),
        what="the old cache replaced",
        page=page,
    )
    assets = page.evaluate(
        f"() => caches.open('sipas-kiosk-static-{new}').then(c => c.keys()).then(r => r.map(x => x.url))"
    )
    assert len(assets) == len(KIOSK_ASSETS) and all(url.endswith(f"?v={new}") for url in assets)

    _cut_network(context, server)
    page.reload()  # the new release works offline too
    page.wait_for_selector("#k-start")
    assert page.get_attribute("#kiosk", "data-app-version") == new
    assert not problems, problems
    context.close()


@SQLITE_ONLY
def test_a_revoked_link_keeps_its_forms_on_the_tablet_and_says_so(browser, site):
    app, server = site["app"], site["server"]
    context = browser.new_context(**TABLET)
    page = context.new_page()
    problems = _watch(page)
    _open_ready(page, site)
    _cut_network(context, server)
    fill_sipas_2017(page, 5)
    submit_and_thank(page)
    with app.app_context(), session_scope(app) as session:  # the link is revoked meanwhile
        kiosk = session.scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(site["token"]))).one()
        revoke_kiosk(session, kiosk)

    server.start()
    context.set_offline(False)
    _badge(page, "Đường dẫn đã bị thu hồi")
    (item,) = _outbox(page)
    assert item["state"] == "pending" and item["last_error"]["status"] == 403  # held, not dropped
    assert stored(app) == []

    page.reload()  # online, the server's answer wins: the link is no longer valid ...
    page.wait_for_selector("text=Đường dẫn không còn hiệu lực")
    # ... and the page says this tablet still holds a form that never reached the server.
    page.wait_for_selector('#k-stranded:has-text("còn 1 phiếu chưa gửi lên máy chủ")')
    assert not problems, problems
    context.close()


@SQLITE_ONLY
def test_chromium_finds_the_kiosk_installable(site, tmp_path):
    # A persistent profile, as on a tablet: Chromium never offers to install from an incognito one.
    with playwright_api().sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, **TABLET
        )
        try:
            page = context.new_page()
            _open_ready(page, site)
            cdp = context.new_cdp_session(page)
            manifest = cdp.send("Page.getAppManifest")
            assert manifest["url"].endswith(f"/k/{site['token']}/manifest.webmanifest")
            assert not manifest.get("errors"), manifest["errors"]
            assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        finally:
            context.close()
