"""A shared tablet (issue 14): the next respondent sees nothing of the previous one, and the flow is calm.

Headless Chromium at 800×1280 with touch, against the real app on a loopback port. "Làm lại từ đầu"
and the idle timeout wipe the form from the page, from the tablet's storage (sessionStorage,
localStorage, IndexedDB) and from the kiosk's memory; the progress bar never goes backwards over a
sipas-2023 path with Câu 8's gate; a double tap on "Tiếp tục" never reaches the next page's button.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from browser_helpers import TABLET, chromium, fill_sipas_2017, wait_for
from werkzeug.serving import make_server

from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

# Everything the page could still hold of a form: the DOM, both web storages, every IndexedDB store,
# the history entry and the kiosk's own state.
DUMP = """async () => {
  const all = (store) => Object.fromEntries(Object.keys(store).map((k) => [k, store.getItem(k)]));
  const out = { dom: document.documentElement.outerHTML, session: all(sessionStorage),
                local: all(localStorage), idb: {}, history: JSON.stringify(history.state),
                state: window.SipasKiosk.formState() };
  const dbs = indexedDB.databases ? await indexedDB.databases() : [];
  const done = (r) => new Promise((ok, ko) => { r.onsuccess = () => ok(r.result); r.onerror = ko; });
  for (const info of dbs) {
    const db = await done(indexedDB.open(info.name));
    for (const name of Array.from(db.objectStoreNames)) {
      const rows = await done(db.transaction(name).objectStore(name).getAll());
      out.idb[info.name + "/" + name] = JSON.stringify(rows);
    }
    db.close();
  }
  return out;
}"""


def _serve(app, questionnaire: str) -> Iterator[str]:
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(
            session, name="Đợt", questionnaire=questionnaire, unit_list="tra-bong-2023"
        )
        _, token = create_kiosk(session, campaign, "tra-xuan")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/k/{token}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def kiosk_2017(make_app) -> Iterator[str]:
    yield from _serve(make_app(KIOSK_IDLE_SECONDS=4, KIOSK_IDLE_WARNING_SECONDS=2), "sipas-2017")


@pytest.fixture
def kiosk_2017_calm(make_app) -> Iterator[str]:
    yield from _serve(make_app(), "sipas-2017")


@pytest.fixture
def kiosk_2017_guarded(make_app) -> Iterator[str]:
    yield from _serve(make_app(KIOSK_TAP_GUARD_MS=450), "sipas-2017")  # the default of the config


@pytest.fixture
def kiosk_2023(make_app) -> Iterator[str]:
    yield from _serve(make_app(KIOSK_TAP_GUARD_MS=450), "sipas-2023")


def _open(browser, url):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("#k-start")
    return context, page, errors


def _fill_two_pages(page) -> str:
    """Answer page 1 and part of page 2 of sipas-2017; return the form's instance id."""
    page.tap("#k-start")
    page.wait_for_selector('[data-code="linh_vuc"]')
    for code, value in {"linh_vuc": "dat_dai", "gioi_tinh": "2", "do_tuoi": "3", "nghe_nghiep": "4"}.items():
        page.tap(f'label[for="q-{code}-{value}"]')
    page.fill("#q-so_lan_di_lai", "7")
    page.tap("#k-next")
    page.wait_for_selector('[data-code="tiep_can_1"]')
    page.tap('label[for="q-tiep_can_1-2"]')
    page.tap('label[for="q-tiep_can_2-5"]')
    state = page.evaluate("() => SipasKiosk.formState()")
    assert state["answers"]["linh_vuc"] == "dat_dai" and state["answers"]["tiep_can_2"] == "5"
    assert any("dat_dai" in v for v in page.evaluate(DUMP)["session"].values())  # the draft is kept
    return state["instanceId"]


def _assert_nothing_left(page, instance_id: str) -> None:
    """Nothing of the wiped form anywhere, and the next form starts blank."""
    page.wait_for_selector("#k-start")
    dump = page.evaluate(DUMP)
    assert dump["state"] is None
    assert not page.query_selector("[data-code], .idle-warning, .k-restart")
    stored = [*dump["session"].values(), *dump["local"].values(), *dump["idb"].values(), dump["history"]]
    for text in [dump["dom"], *stored]:
        assert instance_id not in text
        assert "dat_dai" not in text and "tiep_can_2" not in text
    page.tap("#k-start")
    page.wait_for_selector('[data-code="linh_vuc"]')
    fresh = page.evaluate("() => SipasKiosk.formState()")
    assert fresh["instanceId"] != instance_id and fresh["answers"] == {} and fresh["drafts"] == {}
    assert page.eval_on_selector_all("input:checked", "n => n.length") == 0
    assert page.input_value("#q-so_lan_di_lai") == ""
    assert page.is_hidden("#k-page-errors")


def test_lam_lai_tu_dau_wipes_the_form_after_one_confirmation(browser, kiosk_2017):
    context, page, errors = _open(browser, kiosk_2017)
    instance_id = _fill_two_pages(page)
    page.tap("#k-restart")
    page.wait_for_selector("#k-restart-confirm")
    assert "Làm lại từ đầu?" in page.inner_text(".k-restart")
    page.tap("#k-restart-cancel")  # changed their mind: the answers stay
    assert page.is_hidden(".k-restart") and page.is_checked("#q-tiep_can_2-5")
    page.tap("#k-restart")
    page.tap("#k-restart-confirm")
    _assert_nothing_left(page, instance_id)
    assert not errors
    context.close()


def test_an_untouched_form_is_wiped_after_a_visible_countdown(browser, kiosk_2017):
    context, page, errors = _open(browser, kiosk_2017)
    instance_id = _fill_two_pages(page)
    page.wait_for_selector(".idle-warning", timeout=5_000)
    assert "Phiếu chưa gửi sẽ được xoá sau 2 giây" in page.inner_text(".idle-warning")
    page.wait_for_selector("#k-start", timeout=6_000)
    _assert_nothing_left(page, instance_id)
    assert not errors
    context.close()


def _thanked(page) -> None:
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")
    assert page.inner_text("#k-thanks-text").startswith("Đã ghi nhận ý kiến của Ông/Bà.")
    seen = page.inner_text("body")
    assert "chờ gửi" not in seen and "Đồng bộ" not in seen and "Trực tuyến" not in seen
    assert page.inner_text("#k-staff") == ""  # staff status: a dot only
    page.tap(".thanks .btn")
    page.wait_for_selector("#k-start")


def test_the_thank_you_screen_says_recorded_whether_sent_or_still_on_the_tablet(browser, kiosk_2017_calm):
    context, page, errors = _open(browser, kiosk_2017_calm)
    fill_sipas_2017(page, 1)
    _thanked(page)  # sent and stored
    wait_for(lambda: page.evaluate("() => SipasQueue.counts()")["pending"] == 0, page=page)
    page.route("**/api/v1/responses", lambda route: route.abort())  # the server cannot be reached
    fill_sipas_2017(page, 2)
    _thanked(page)  # kept in the tablet's outbox: the same words
    assert page.evaluate("() => SipasQueue.counts()")["pending"] == 1
    assert "1 phiếu chờ gửi" in page.evaluate("() => SipasStaff.statusText()")  # for staff, in the panel
    page.tap("#k-staff")  # no PIN in this test app: the panel opens and shows the counts
    page.wait_for_selector("#k-staff-summary")
    assert "1 phiếu chờ gửi" in page.inner_text("#k-staff-summary")
    assert not errors
    context.close()


PROGRESS = (
    "() => [Number(document.querySelector('.k-progress').getAttribute('aria-valuenow')), "
    "document.querySelector('.k-header__part').textContent]"
)


def _answer_page(page, seen: list) -> None:
    """Answer every question the page shows (the first choice: "Có" at Câu 8), noting the progress."""
    for code in page.eval_on_selector_all(
        ".k-section [data-code]", "nodes => nodes.map(n => n.dataset.code)"
    ):
        if page.is_hidden(f'[data-code="{code}"]'):
            continue  # not asked, given the answers above it
        inputs = page.eval_on_selector_all(f'[name="{code}"]', "nodes => nodes.map(n => [n.type, n.id])")
        if not inputs:
            continue
        kind, first_id = inputs[0]
        if kind in ("radio", "checkbox"):
            page.tap(f'label[for="{first_id}"]')
        else:
            page.fill(f"#{first_id}", "Ý kiến thử")
        seen.append(page.evaluate(PROGRESS))


def test_progress_never_goes_backwards_on_a_sipas_2023_path_through_cau_8(browser, kiosk_2023):
    context, page, errors = _open(browser, kiosk_2023)
    minutes = int(page.inner_text(".welcome__facts li").split()[1])
    assert 2 <= minutes < round(67 * 10 / 60)  # the path asked at first, not all 67 items
    page.tap("#k-start")
    page.wait_for_selector(".k-section [data-code]")
    seen: list = [page.evaluate(PROGRESS)]
    pages = 0
    while not page.query_selector("#k-submit"):
        if page.query_selector('[data-code="da_thuc_hien_tthc"]'):
            # Câu 8: "Có" opens the pages of the public-service items, and they are counted at once.
            before = page.evaluate(PROGRESS)
            page.tap('label[for="q-da_thuc_hien_tthc-1"]')
            page.wait_for_timeout(200)
            after = page.evaluate(PROGRESS)
            assert int(after[1].split("/")[1]) > int(before[1].split("/")[1]) and after[0] >= before[0]
        _answer_page(page, seen)
        page.wait_for_timeout(500)  # a respondent reads before going on (no double tap here)
        page.tap("#k-next")
        page.wait_for_selector("#k-submit, .k-section [data-code]")
        assert page.is_hidden("#k-page-errors")
        seen.append(page.evaluate(PROGRESS))
        pages += 1
    values = [value for value, _ in seen]
    assert values == sorted(values) and values[-1] > 90, seen
    assert pages >= 12 and not errors  # Câu 9's pages were on the path
    context.close()


def test_a_double_tap_on_tiep_tuc_does_not_press_the_next_page_or_mark_it_red(browser, kiosk_2017_guarded):
    context, page, errors = _open(browser, kiosk_2017_guarded)
    page.tap("#k-start")
    page.wait_for_selector('[data-code="linh_vuc"]')
    for code, value in {"linh_vuc": "dat_dai", "gioi_tinh": "2", "do_tuoi": "3", "nghe_nghiep": "4"}.items():
        page.tap(f'label[for="q-{code}-{value}"]')
    page.fill("#q-so_lan_di_lai", "2")
    page.tap("#k-next")
    page.tap("#k-next")  # the same finger again, at once: it lands on the next page's "Tiếp tục"
    page.wait_for_selector('[data-code="tiep_can_1"]')
    page.wait_for_timeout(300)
    assert page.query_selector_all(".q--invalid, .q__error:not([hidden])") == []
    assert page.is_hidden("#k-page-errors") and page.query_selector('[data-code="tiep_can_1"]')
    # A real attempt to go on without answers does show what is missing.
    page.wait_for_timeout(500)
    page.tap("#k-next")
    page.wait_for_selector("#err-tiep_can_1:not([hidden])")
    assert not errors
    context.close()
