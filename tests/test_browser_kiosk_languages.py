"""The kiosk in another language, in headless Chromium at a 10" tablet viewport (touch).

The form is tests/fixtures/languages/lang-test.yaml, whose Hrê texts are test placeholders ("[test] …"),
some present and some missing: the respondent picks Hrê on the welcome screen, sees the Hrê texts where
there are some and the Vietnamese ones, marked "VI" and lang="vi", where there are none, and the stored
response records ``hre``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import TABLET, chromium, wait_for
from sqlalchemy import select
from werkzeug.serving import make_server

from questionnaires import load_file
from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope
from survey.models import Response

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

FIXTURE = Path(__file__).parent / "fixtures" / "languages" / "lang-test.yaml"


@pytest.fixture
def browser() -> Iterator:
    with chromium() as instance:
        yield instance


@pytest.fixture
def live(make_app) -> Iterator[dict]:
    app = make_app(KIOSK_RESET_SECONDS=2, KIOSK_IDLE_SECONDS=120)
    with app.app_context(), session_scope(app) as session:
        campaign = create_campaign(
            session,
            name="Khảo sát thử ngôn ngữ",
            questionnaire=load_file(FIXTURE).questionnaire,
            unit_list="tra-bong-2023",
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


def _text_and_lang(page, selector: str) -> tuple[str, str | None, bool]:
    """The text shown (without the badge), its lang attribute, and whether a "VI" badge marks it."""
    return tuple(
        page.eval_on_selector(
            selector,
            """node => {
            const badge = node.querySelector('.k-lang-badge');
            const text = Array.from(node.childNodes)
                .filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('');
            return [text, node.getAttribute('lang'), !!badge && badge.textContent === 'VI'];
        }""",
        )
    )


def test_a_respondent_answers_in_hre_with_the_vietnamese_fallback_marked(browser, live, tmp_path):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    page.goto(f"{live['base']}/k/{live['token']}")
    page.wait_for_selector("#k-lang-hre")

    # The campaign's languages as buttons, each named in itself where known, else in Vietnamese.
    buttons = page.eval_on_selector_all(
        ".lang-buttons button", "bs => bs.map(b => [b.id, b.textContent, b.getAttribute('lang')])"
    )
    assert buttons == [
        ["k-lang-vi", "Tiếng Việt", "vi"],
        ["k-lang-en", "English", "en"],
        ["k-lang-hre", "Tiếng Hrê", "vi"],
    ]
    assert page.get_attribute("#k-lang-vi", "aria-pressed") == "true"
    assert page.inner_text("#k-start") == "Bắt đầu"

    # English first: every fixed text and label switches.
    page.tap("#k-lang-en")
    page.wait_for_selector("#k-lang-en[aria-pressed='true']")
    assert page.inner_text("#k-start") == "Start"
    assert _text_and_lang(page, ".welcome__title") == ("Language test form", "en", False)
    assert page.query_selector("#k-lang-fallback") is None  # English has the kiosk's texts

    # Then Hrê: the test title is there; the kiosk's fixed texts are not, so they are Vietnamese.
    page.tap("#k-lang-hre")
    page.wait_for_selector("#k-lang-hre[aria-pressed='true']")
    assert page.evaluate("document.documentElement.lang") == "hre"
    assert page.get_attribute("#kiosk", "lang") == "vi"  # the fixed texts' language
    assert page.get_attribute("#kiosk", "data-lang") == "hre"
    assert _text_and_lang(page, ".welcome__title") == ("[test] hre: tiêu đề", "hre", False)
    assert page.inner_text("#k-start") == "Bắt đầu"
    assert _text_and_lang(page, "#k-lang-fallback") == (
        " Chưa có bản dịch: phần này hiện bằng tiếng Việt.",
        "vi",
        True,
    )
    page.screenshot(path=str(tmp_path / "kiosk-welcome-hre.png"))

    page.tap("#k-start")
    page.wait_for_selector('[data-code="cau_1"]')
    assert page.evaluate("window.SipasKiosk.formState().lang") == "hre"
    assert _text_and_lang(page, ".k-section__title") == ("[test] hre: phần đánh giá", "hre", False)
    assert _text_and_lang(page, "#label-cau_1 > span[lang]") == ("[test] hre: câu 1", "hre", False)
    assert _text_and_lang(page, "#hint-cau_1") == ("Chọn một mức", "vi", True)
    assert _text_and_lang(page, "#label-cau_2 > span[lang]") == ("Câu 2. Thời gian giải quyết", "vi", True)
    assert _text_and_lang(page, "#hint-cau_2") == ("[test] hre: gợi ý câu 2", "hre", False)
    choice = 'label[for="q-cau_1-{}"] .choice__text'
    assert _text_and_lang(page, choice.format(4)) == ("[test] hre: 4", "hre", False)
    assert _text_and_lang(page, choice.format(3)) == ("Bình thường", "vi", True)
    page.screenshot(path=str(tmp_path / "kiosk-hre.png"))

    page.tap('label[for="q-cau_1-4"]')
    page.tap('label[for="q-cau_2-3"]')
    page.tap("#k-next")
    page.wait_for_selector("#k-submit")
    review = page.eval_on_selector_all(
        ".review__item dt", "ds => ds.map(d => [d.getAttribute('lang'), !!d.querySelector('.k-lang-badge')])"
    )
    assert review == [["hre", False], ["vi", True]]
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")

    def stored() -> list[Response]:
        with live["app"].app_context(), session_scope(live["app"]) as session:
            return list(session.scalars(select(Response)))

    rows = wait_for(stored, timeout=15, page=page)
    assert len(rows) == 1
    assert rows[0].language == "hre"
    assert rows[0].answers == {"cau_1": "4", "cau_2": "3"}

    # The next respondent starts in Vietnamese.
    page.wait_for_selector("#k-lang-vi[aria-pressed='true']", timeout=10_000)
    assert page.evaluate("document.documentElement.lang") == "vi"
    context.close()
