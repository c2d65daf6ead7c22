"""Spoken prompts in headless Chromium at a 10" tablet viewport: a question's clip really plays on the
kiosk (its ``currentTime`` advances) online and with the server stopped; a prompt recorded in the staff
pages with Chromium's fake microphone, approved, is heard on the kiosk."""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import numpy as np
import pytest
from browser_helpers import PROFILE, TABLET, LiveServer, chromium, tap_answers, wait_for
from sqlalchemy import select

from survey.campaigns import campaign_questionnaire, create_campaign, create_kiosk
from survey.db import session_scope
from survey.models import AudioClip, Campaign
from survey.prompts import store_clip
from survey.users import create_user

pytestmark = [
    pytest.mark.browser,
    # As in test_offline_kiosk: the threaded test server may leave a static file to the garbage collector.
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
    ),
]

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PASSWORD = "mật-khẩu-đủ-dài-1"
QUESTION = "gioi_tinh"
NETWORK_NOISE = ("net::ERR_INTERNET_DISCONNECTED", "net::ERR_CONNECTION_REFUSED", "Failed to load resource",
                 "Cross-Origin-Opener-Policy header has been ignored")  # fmt: skip


def wav_tone(seconds: float = 4.0, freq: float = 440.0) -> bytes:
    rate = 48_000
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.2 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def site(make_app) -> Iterator[dict]:
    app = make_app(KIOSK_IDLE_SECONDS=300)
    with app.app_context(), session_scope(app) as session:
        create_user(session, "chuyen-vien", PASSWORD, "analyst")
        campaign = create_campaign(
            session, name="SIPAS 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        _, token = create_kiosk(session, campaign, "tra-xuan")
        campaign_id = campaign.id
    with LiveServer(app) as server:
        yield {"app": app, "server": server, "token": token, "campaign_id": campaign_id}


def approve_clips(site, *prompts: str) -> None:
    app = site["app"]
    with app.app_context(), session_scope(app) as session:
        campaign = session.get(Campaign, site["campaign_id"])
        q = campaign_questionnaire(campaign)
        for i, key in enumerate(prompts):
            store_clip(session, campaign, q, "vi", key, wav_tone(freq=300 + 100 * i), approved=True)


def watch(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not any(n in msg.text for n in NETWORK_NOISE)
            else None
        ),
    )
    return problems


def heard(page, key: str) -> float:
    """Tap the prompt's "Nghe" button and wait until its clip has played a while; its currentTime."""
    page.tap(f'.k-listen[data-listen="{key}"]')
    return wait_for(
        lambda: page.evaluate(
            """(key) => {
                const a = document.getElementById("k-audio-player");
                const s = window.SipasAudio.state();
                return a && !a.paused && s.playing === key && a.currentTime > 0.5 ? a.currentTime : 0;
            }""",
            key,
        ),
        timeout=20,
        what=f"{key} playing",
        page=page,
    )


@SQLITE_ONLY
def test_a_questions_clip_plays_online_and_with_the_server_stopped(site):
    approve_clips(site, f"q:{QUESTION}", f"c:{QUESTION}:2")
    server = site["server"]
    with chromium() as browser:
        context = browser.new_context(**TABLET)
        page = context.new_page()
        problems = watch(page)
        page.goto(f"{server.base}/k/{site['token']}")
        page.wait_for_selector("#k-start")
        # Ready for offline only once the worker also holds the clips the definition lists.
        page.wait_for_selector("html[data-offline=ready]", state="attached", timeout=20_000)
        kept = page.evaluate(
            "() => caches.open('sipas-kiosk-audio').then(c => c.keys()).then(k => k.map(r => r.url))"
        )
        assert len(kept) == 2 and all(f"/k/{site['token']}/audio/" in url for url in kept)
        page.tap("#k-start")
        page.wait_for_selector(f'[data-code="{QUESTION}"] .k-listen--question')
        # Only the question and the choice that have a clip get a button (no device voice: not allowed).
        assert page.locator(".k-listen--question").count() == 1
        assert page.locator(f'label[data-value="2"][for="q-{QUESTION}-2"] .k-listen--choice').count() == 1
        assert page.locator(".k-listen--choice").count() == 1
        assert heard(page, f"q:{QUESTION}") > 0.5
        # Listening to a choice does not answer it.
        assert heard(page, f"c:{QUESTION}:2") > 0.5
        assert page.evaluate("() => SipasKiosk.formState().answers.gioi_tinh") is None

        context.set_offline(True)
        server.stop()
        before = len(server.requests)
        page.reload()
        page.wait_for_selector(f'[data-code="{QUESTION}"] .k-listen--question')  # the form, restored
        assert heard(page, f"q:{QUESTION}") > 0.5
        assert server.requests[before:] == []
        assert problems == []
        context.close()


@SQLITE_ONLY
def test_auto_read_reads_the_question_as_it_appears(site, make_app):
    approve_clips(site, f"q:{QUESTION}", "m:welcome")
    app = site["app"]
    with app.app_context(), session_scope(app) as session:
        session.get(Campaign, site["campaign_id"]).audio_autoplay = True
    with chromium(("--autoplay-policy=no-user-gesture-required",)) as browser:
        context = browser.new_context(**TABLET)
        page = context.new_page()
        page.goto(f"{site['server'].base}/k/{site['token']}")
        page.wait_for_selector("#k-autoread")
        assert page.is_checked("#k-autoread")
        wait_for(
            lambda: page.evaluate("() => SipasAudio.state().playing") == "m:welcome",
            page=page,
            what="welcome",
        )
        page.tap("#k-start")
        # gioi_tinh is the page's first question with a clip: linh_vuc has none, so it is skipped unheard.
        page.tap('label[for="q-linh_vuc-ho_tich"]')
        wait_for(
            lambda: page.evaluate(
                "() => SipasAudio.state().playing === 'q:gioi_tinh' && "
                "document.getElementById('k-audio-player').currentTime > 0.3"
            ),
            page=page,
            what="auto-read of the next question",
        )
        # The next respondent switches it off on the welcome screen: nothing is read.
        other = context.new_page()
        other.goto(f"{site['server'].base}/k/{site['token']}")
        other.wait_for_selector("#k-autoread")
        other.tap("#k-autoread")
        assert not other.is_checked("#k-autoread")
        other.tap("#k-start")
        other.tap('label[for="q-linh_vuc-ho_tich"]')
        other.wait_for_timeout(1500)
        assert other.evaluate("() => SipasAudio.state()") == {
            "autoRead": False,
            "playing": None,
            "language": "vi",
        }
        context.close()


@SQLITE_ONLY
def test_a_prompt_recorded_with_the_microphone_and_approved_is_heard_on_the_kiosk(site):
    server, app = site["server"], site["app"]
    fake_mic = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
    with chromium(fake_mic) as browser:
        staff = browser.new_context(viewport={"width": 1280, "height": 900})
        page = staff.new_page()
        problems = watch(page)
        page.goto(f"{server.base}/admin/login")
        page.fill("input[name=username]", "chuyen-vien")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/**")
        page.goto(f"{server.base}/admin/campaigns/{site['campaign_id']}/audio/vi")
        row = page.locator(f'[data-prompt="q:{QUESTION}"]')
        assert row.get_attribute("data-status") == "none"
        row.locator("[data-record]").click()
        page.wait_for_timeout(2500)  # the fake microphone beeps
        row.locator("[data-stop]").click()
        row.locator("[data-preview]").wait_for(state="visible")
        # Listen back before saving: the recording plays in the page.
        assert (
            page.evaluate(
                """(sel) => {
                    const a = document.querySelector(sel + " [data-preview]");
                    return a.play().then(() => new Promise(r => setTimeout(() => r(a.currentTime), 700)));
                }""",
                f'[data-prompt="q:{QUESTION}"]',
            )
            > 0.2
        )
        row.locator("[data-save]").click()
        wait_for(lambda: row.get_attribute("data-status") == "draft", page=page, what="saved as draft")
        assert page.inner_text("#audio-progress [data-recorded]") == "1"
        with app.app_context(), session_scope(app) as session:
            clip = session.scalars(select(AudioClip)).one()
            assert (clip.language, clip.prompt, clip.status, clip.source) == (
                "vi",
                f"q:{QUESTION}",
                "draft",
                "recorded",
            )
            assert 1500 <= clip.duration_ms <= 2900 and clip.ext == "mp3"
        row.locator("[data-approve]").click()
        page.wait_for_selector(f'[data-prompt="q:{QUESTION}"][data-status="approved"]')
        assert "Đã duyệt" in page.inner_text(f'[data-prompt="q:{QUESTION}"] [data-clip-status]')
        assert page.inner_text("#audio-progress [data-approved]") == "1"
        assert problems == []
        staff.close()

        kiosk = browser.new_context(**TABLET)
        tablet = kiosk.new_page()
        tablet.goto(f"{server.base}/k/{site['token']}")
        tablet.tap("#k-start")
        tablet.wait_for_selector(f'[data-code="{QUESTION}"] .k-listen--question')
        assert heard(tablet, f"q:{QUESTION}") > 0.5
        kiosk.close()


# The tablet's voice, recorded instead of spoken: headless Chromium has no voices to speak with.
SPEECH_STUB = """
window.__spoken = [];
Object.defineProperty(window, "speechSynthesis", { configurable: true, value: {
    speak: (u) => { window.__spoken.push([u.text, u.lang]); setTimeout(() => u.onend && u.onend(), 50); },
    cancel: () => {},
} });
"""


@SQLITE_ONLY
def test_the_device_voice_reads_vietnamese_only_where_the_campaign_allows_it(site):
    server, app = site["server"], site["app"]
    with chromium() as browser:
        # Not allowed (the default): no clip, no button.
        context = browser.new_context(**TABLET)
        context.add_init_script(SPEECH_STUB)
        page = context.new_page()
        page.goto(f"{server.base}/k/{site['token']}")
        page.tap("#k-start")
        page.wait_for_selector(f'[data-code="{QUESTION}"]')
        assert page.locator(".k-listen").count() == 0
        context.close()

        with app.app_context(), session_scope(app) as session:
            session.get(Campaign, site["campaign_id"]).audio_speech_synthesis = True
        context = browser.new_context(**TABLET)
        context.add_init_script(SPEECH_STUB)
        page = context.new_page()
        page.goto(f"{server.base}/k/{site['token']}")
        page.tap("#k-start")
        page.tap(f'[data-code="{QUESTION}"] .k-listen--question')
        wait_for(lambda: page.evaluate("() => window.__spoken.length"), page=page, what="spoken")
        assert page.evaluate("() => window.__spoken") == [["Giới tính", "vi-VN"]]
        # Choices get a button only where a clip was recorded; the device voice does not add any.
        assert page.locator(".k-listen--choice").count() == 0
        # In another language (Hrê) the Vietnamese text is never read in its place.
        page.evaluate("() => { SipasKiosk.language = () => 'hre'; }")
        tap_answers(page, PROFILE)
        page.fill("#q-so_lan_di_lai", "1")
        page.tap("#k-next")
        page.wait_for_selector('[data-code="tiep_can_1"]')
        assert page.locator(".k-listen").count() == 0
        page.evaluate("() => { SipasKiosk.language = () => 'vi'; }")
        page.tap("#k-back")
        page.wait_for_selector(f'[data-code="{QUESTION}"] .k-listen--question')
        assert page.evaluate("() => window.__spoken") == [["Giới tính", "vi-VN"]]
        context.close()
