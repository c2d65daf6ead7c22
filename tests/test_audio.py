"""Spoken prompts on the server: normalisation of clips (decoded back and measured), refusals, storage per
campaign/language/prompt, the staff routes (CSRF, roles, counts) and the kiosk's clip addresses (token,
approval, long-lived caching)."""

from __future__ import annotations

import io
import re

import av
import numpy as np
import pytest
import yaml
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from survey import audio
from survey.campaigns import create_campaign, create_kiosk, revoke_kiosk
from survey.db import session_scope
from survey.models import AudioClip, Campaign
from survey.users import create_user

SR = 48_000


def tone(
    seconds: float, amplitude: float = 0.05, freq: float = 440.0, silence: float = 1.0, rate: int = SR
) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    quiet = np.zeros(int(rate * silence))
    return np.concatenate([quiet, amplitude * np.sin(2 * np.pi * freq * t), quiet]).astype(np.float32)


def encode(samples: np.ndarray, fmt: str = "wav", codec: str = "pcm_s16le", rate: int = SR) -> bytes:
    """Encode mono samples with PyAV, as a microphone or a phone would hand them in."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame_format = "s16" if codec == "pcm_s16le" else "fltp" if codec == "libopus" else "flt"
        size = 960 if codec == "libopus" else len(samples)
        for start in range(0, len(samples), size):
            piece = samples[start : start + size]
            if codec == "libopus" and len(piece) < size:
                piece = np.pad(piece, (0, size - len(piece)))
            data = (piece * 32767).astype(np.int16) if frame_format == "s16" else piece.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=frame_format, layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def probe(data: bytes) -> tuple[str, int, int, float]:
    """Codec, channels, sample rate and duration (s) of encoded audio, read back with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return (
            stream.codec_context.name.removesuffix("float"),  # FFmpeg's MP3 decoder is "mp3float"
            stream.codec_context.channels,
            stream.sample_rate,
            samples / stream.sample_rate,
        )


@pytest.fixture(scope="module")
def speech() -> bytes:
    """3 s of a quiet tone (about -30 LUFS) between 1 s of silence on each side, as WAV."""
    return encode(tone(3.0))


# -------------------------------------------------------------------------------- normalisation
def test_a_full_scale_1khz_sine_measures_minus_3_lufs():
    # ITU-R BS.1770-4: a 997 Hz sine at 0 dBFS on one channel reads -3.01 LUFS.
    t = np.arange(SR * 5) / SR
    assert audio.integrated_loudness(np.sin(2 * np.pi * 997 * t)) == pytest.approx(-3.01, abs=0.05)
    # 20 dB quieter reads 20 LU lower; silence reads as nothing.
    assert audio.integrated_loudness(0.1 * np.sin(2 * np.pi * 997 * t)) == pytest.approx(-23.01, abs=0.05)
    assert audio.integrated_loudness(np.zeros(SR)) == float("-inf")


def test_a_quiet_recording_is_trimmed_brought_to_minus_16_lufs_and_encoded_as_mp3(speech):
    clip = audio.normalise(speech)
    assert clip.mime == "audio/mpeg" and clip.ext == "mp3"
    assert clip.loudness_in == pytest.approx(-29.9, abs=0.3)  # 0.05 * sine at 440 Hz
    assert clip.loudness_out == pytest.approx(audio.TARGET_LUFS)
    # 1 s of silence each side is cut to PAD_SECONDS.
    assert clip.duration == pytest.approx(3.0 + 2 * audio.PAD_SECONDS, abs=0.02)
    codec, channels, rate, seconds = probe(clip.data)
    assert (codec, channels, rate) == ("mp3", 1, audio.SAMPLE_RATE)
    assert seconds == pytest.approx(clip.duration, abs=0.1)  # the encoder's padding: a frame or two
    decoded = audio.decode(clip.data)
    assert audio.integrated_loudness(decoded) == pytest.approx(audio.TARGET_LUFS, abs=1.0)
    assert len(clip.data) < 64_000 / 8 * seconds * 1.1  # 64 kbit/s
    assert re.fullmatch(r"[0-9a-f]{64}", clip.sha256)


def test_a_peaky_clip_is_limited_below_minus_1_dbfs_rather_than_clipped():
    # Short loud clicks in a quiet tone: bringing the tone to -16 LUFS would push the clicks past full scale.
    samples = tone(3.0, amplitude=0.01, silence=0.0)
    samples[:: SR // 4] = 0.9
    clip = audio.normalise(encode(samples))
    assert clip.loudness_out < audio.TARGET_LUFS - 3
    decoded = audio.decode(clip.data)
    assert 20 * np.log10(np.max(np.abs(decoded))) < audio.PEAK_DBFS + 1.0  # MP3 may overshoot a little


def test_a_browser_recording_in_webm_opus_is_read(speech):
    webm = encode(tone(2.0, amplitude=0.3), fmt="webm", codec="libopus")
    clip = audio.normalise(webm)
    assert clip.duration == pytest.approx(2.0 + 2 * audio.PAD_SECONDS, abs=0.05)
    assert clip.loudness_out == pytest.approx(audio.TARGET_LUFS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "trống"),
        (b"%PDF-1.4 this is a document, not a recording" * 50, "không phải là âm thanh"),
        (bytes.fromhex("89504e470d0a1a0a") + b"\0" * 400, "không phải là âm thanh"),
        (b"\0" * (audio.MAX_UPLOAD_BYTES + 1), "lớn quá 10 MB"),
    ],
    ids=["empty", "pdf", "png", "too-big"],
)
def test_files_that_are_not_usable_audio_are_refused_with_a_clear_message(data, message):
    with pytest.raises(audio.AudioError, match=message):
        audio.normalise(data)


def test_silence_and_clips_over_a_minute_are_refused():
    with pytest.raises(audio.AudioError, match="Không nghe thấy tiếng nói"):
        audio.normalise(encode(np.zeros(SR * 3, dtype=np.float32)))
    with pytest.raises(audio.AudioError, match=r"dài 61 giây, quá 60 giây"):
        audio.normalise(encode(tone(61.0, silence=0.2, rate=8000), rate=8000))
    # Silence around the speech does not count: 58 s of speech in 70 s of recording is accepted.
    assert audio.normalise(encode(tone(58.0, silence=6.0, rate=8000), rate=8000)).duration < 60


# ------------------------------------------------------------------------------------- the app
PASSWORD = "mật-khẩu-đủ-dài-1"


@pytest.fixture
def world(make_app):
    app = make_app()
    with app.app_context(), session_scope() as session:
        for role in ("admin", "analyst", "enumerator"):
            create_user(session, f"{role}-1", PASSWORD, role)
        campaign = create_campaign(
            session, name="SIPAS 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        other = create_campaign(
            session, name="Đợt khác", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        _, token = create_kiosk(session, campaign, "tra-xuan")
        _, other_token = create_kiosk(session, other, "tra-xuan")
        ids = campaign.id, other.id
    return app, ids, token, other_token


def logged_in(app, username="analyst-1"):
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/admin/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf}
        ).status_code
        == 302
    )
    return client


def page_csrf(client, url) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', html).group(1)


def upload(client, campaign_id, lang, prompt, data, csrf, filename="ghi-am.webm", json=True):
    headers = {"Accept": "application/json"} if json else {}
    # The body encoded here, in memory: the test client would spool a large one to a file it never closes.
    boundary, body = encode_multipart(
        {
            "csrf_token": csrf,
            "prompt": prompt,
            "source": "recorded",
            "file": FileStorage(io.BytesIO(data), filename),
        }
    )
    return client.post(
        f"/admin/campaigns/{campaign_id}/audio/{lang}/upload",
        data=body,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def clips(app) -> list[AudioClip]:
    with app.app_context(), session_scope() as session:
        rows = session.scalars(select(AudioClip).order_by(AudioClip.id)).all()
        for row in rows:
            session.expunge(row)
        return rows


@pytest.mark.db
def test_record_approve_and_serve_a_prompt_to_the_kiosk(world, speech):
    app, (campaign_id, other_id), token, other_token = world
    client = logged_in(app)
    url = f"/admin/campaigns/{campaign_id}/audio/vi"
    page = client.get(url)
    assert page.status_code == 200
    assert "microphone=(self)" in page.headers["Permissions-Policy"]
    html = page.get_data(as_text=True)
    assert 'data-prompt="q:cau_1"' in html or 'data-prompt="q:' in html
    csrf = page_csrf(client, url)
    prompt = re.search(r'data-prompt="(q:[^"]+)"', html).group(1)

    # A body over MAX_CONTENT_LENGTH (512 KB): 6 s of 16-bit WAV is about 600 KB, taken on this route.
    big = encode(tone(6.0, silence=0.1))
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    reply = upload(client, campaign_id, "vi", prompt, big, csrf)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["status"] == "ok" and body["clip"]["status"] == "draft"
    assert body["clip"]["duration"] == pytest.approx(6.2, abs=0.05)
    [row] = clips(app)
    assert (row.campaign_id, row.language, row.prompt, row.status) == (campaign_id, "vi", prompt, "draft")

    # Staff hear the draft; it is cached privately for good (its address holds its hash).
    served = client.get(body["clip"]["url"])
    assert served.status_code == 200 and served.mimetype == "audio/mpeg"
    assert served.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert probe(served.data)[0] == "mp3"
    with app.app_context(), session_scope() as session:
        assert served.data == session.get(AudioClip, row.id).data

    # A draft does not reach the kiosk.
    kiosk = app.test_client()
    definition = kiosk.get(f"/api/v1/kiosk/{token}/definition").get_json()
    assert definition["audio"] == {"clips": {}, "autoplay": False, "speech_synthesis": []}

    reply = client.post(f"{url}/approve", data={"csrf_token": csrf, "prompt": prompt})
    assert reply.status_code == 302 and reply.headers["Location"].endswith(
        "#prompt-" + prompt.replace(":", "-")
    )
    definition = kiosk.get(f"/api/v1/kiosk/{token}/definition").get_json()
    clip_url = definition["audio"]["clips"]["vi"][prompt]
    assert clip_url == f"/k/{token}/audio/{row.sha256}.mp3"
    heard = kiosk.get(clip_url)
    assert heard.status_code == 200 and heard.data == served.data
    assert heard.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert heard.headers["ETag"] == f'"{row.sha256}"'
    # Another campaign's kiosk, or a made-up token, does not get it.
    assert kiosk.get(clip_url.replace(token, other_token)).status_code == 404
    assert kiosk.get(clip_url.replace(token, "khong-co")).status_code == 404

    # Recorded again: a new address, back to draft, the old address gone.
    again = upload(client, campaign_id, "vi", prompt, encode(tone(2.0, freq=300)), csrf).get_json()
    assert again["clip"]["url"] != body["clip"]["url"] and again["clip"]["status"] == "draft"
    assert kiosk.get(clip_url).status_code == 404
    assert kiosk.get(f"/api/v1/kiosk/{token}/definition").get_json()["audio"]["clips"] == {}
    assert len(clips(app)) == 1

    # The counts per language.
    client.post(f"{url}/approve", data={"csrf_token": csrf, "prompt": prompt})
    upload(client, campaign_id, "hre", prompt, speech, csrf)
    overview = client.get(f"/admin/campaigns/{campaign_id}/audio").get_data(as_text=True)
    vi_row = re.search(r'<tr data-language="vi">(.*?)</tr>', overview, re.S).group(1)
    hre_row = re.search(r'<tr data-language="hre">(.*?)</tr>', overview, re.S).group(1)
    assert re.search(r"data-recorded>1<", vi_row) and re.search(r"data-approved>1<", vi_row)
    assert re.search(r"data-recorded>1<", hre_row) and re.search(r"data-approved>0<", hre_row)

    # A revoked kiosk hears nothing.
    with app.app_context(), session_scope() as session:
        from survey.models import Kiosk

        revoke_kiosk(session, session.scalars(select(Kiosk).where(Kiosk.campaign_id == campaign_id)).one())
    assert kiosk.get(clip_url).status_code in (403, 404)


@pytest.mark.db
def test_bad_uploads_are_refused_and_nothing_is_stored(world, speech):
    app, (campaign_id, _), _, _ = world
    client = logged_in(app)
    url = f"/admin/campaigns/{campaign_id}/audio/vi"
    csrf = page_csrf(client, url)
    prompt = re.search(r'data-prompt="(q:[^"]+)"', client.get(url).get_data(as_text=True)).group(1)
    reply = upload(client, campaign_id, "vi", prompt, b"not audio at all" * 100, csrf, "ghi-am.mp3")
    assert reply.status_code == 422
    assert "không phải là âm thanh" in reply.get_json()["message"]
    reply = upload(client, campaign_id, "vi", "q:khong_co", speech, csrf)
    assert reply.status_code == 422 and "không có mục" in reply.get_json()["message"]
    # Without script: the page says why, the upload is not kept.
    reply = upload(client, campaign_id, "vi", prompt, b"", csrf, json=False)
    assert reply.status_code == 302
    assert "Chưa" in client.get(reply.headers["Location"]).get_data(as_text=True)
    # Over 10 MB: refused before it is read whole.
    too_big = upload(client, campaign_id, "vi", prompt, b"\0" * (audio.MAX_UPLOAD_BYTES + 100_000), csrf)
    assert too_big.status_code == 413
    # Without the CSRF token: refused.
    forged = upload(client, campaign_id, "vi", prompt, speech, "gia-mao")
    assert forged.status_code == 400
    # A language tag that is not one: 404.
    assert client.get(f"/admin/campaigns/{campaign_id}/audio/vi%20x").status_code == 404
    assert clips(app) == []


@pytest.mark.db
def test_settings_reach_the_kiosk_and_enumerators_cannot_record(world, speech):
    app, (campaign_id, _), token, _ = world
    client = logged_in(app, "admin-1")
    url = f"/admin/campaigns/{campaign_id}/audio"
    csrf = page_csrf(client, f"{url}/vi")
    reply = client.post(
        f"{url}/settings", data={"csrf_token": csrf, "autoplay": "1", "speech_synthesis": "1"}
    )
    assert reply.status_code == 302
    audio_def = app.test_client().get(f"/api/v1/kiosk/{token}/definition").get_json()["audio"]
    assert audio_def["autoplay"] is True and audio_def["speech_synthesis"] == ["vi"]
    enumerator = logged_in(app, "enumerator-1")
    assert enumerator.get(f"{url}/vi").status_code == 403
    own = re.search(
        r'name="csrf_token" value="([^"]+)"', enumerator.get("/admin/").get_data(as_text=True)
    ).group(1)
    assert upload(enumerator, campaign_id, "vi", "m:welcome", speech, own).status_code == 403
    assert clips(app) == []


@pytest.mark.db
def test_a_definitions_audio_files_become_the_campaigns_approved_clips(make_app, tmp_path, speech):
    (tmp_path / "am-thanh").mkdir()
    (tmp_path / "am-thanh" / "q1.wav").write_bytes(speech)
    (tmp_path / "am-thanh" / "co-hre.wav").write_bytes(encode(tone(1.0, amplitude=0.2)))
    definition = {
        "id": "nghe",
        "version": "1",
        "title": "Phiếu nghe",
        "languages": ["vi", "hre"],
        "choices": {"co_khong": [{"code": "1", "label": "Có", "audio": {"hre": "am-thanh/co-hre.wav"}}]},
        "sections": [
            {
                "code": "A",
                "label": "A",
                "questions": [
                    {"code": "q1", "type": "single", "label": "Có không?", "choices": "co_khong",
                     "audio": {"vi": "am-thanh/q1.wav"}},
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "nghe.yaml"
    path.write_text(yaml.safe_dump(definition, allow_unicode=True), encoding="utf-8")
    app = make_app()
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session, name="Nghe", questionnaire=str(path), units=[("tra-xuan", "Trà Xuân")]
        )
        campaign_id = campaign.id
    rows = {(c.language, c.prompt): c for c in clips(app)}
    assert set(rows) == {("vi", "q:q1"), ("hre", "c:co_khong:1")}
    assert all(c.status == "approved" and c.source == "definition" and c.ext == "mp3" for c in rows.values())
    assert rows[("vi", "q:q1")].duration_ms == pytest.approx(3300, abs=20)
    # A broken file in the definition's folder stops the campaign, naming the file; nothing is half-made.
    (tmp_path / "am-thanh" / "q1.wav").write_bytes(b"hong")
    with app.app_context(), pytest.raises(Exception, match="am-thanh/q1.wav"), session_scope() as session:
        create_campaign(session, name="Nghe 2", questionnaire=str(path), units=[("tra-xuan", "Trà Xuân")])
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 1
        assert (
            session.scalar(
                select(func.count()).select_from(AudioClip).where(AudioClip.campaign_id != campaign_id)
            )
            == 0
        )


def test_the_prompts_of_a_form_in_kiosk_order_with_their_text():
    from questionnaires import load_questionnaire
    from survey.prompts import prompts

    q = load_questionnaire("sipas-2017")
    vi = prompts(q, "vi")
    keys = [p.key for p in vi]
    assert keys[0] == "m:welcome" and keys[-2:] == ["m:review", "m:thanks"]
    assert keys.index("s:thong_tin") < keys.index("q:linh_vuc") < keys.index("c:linh_vuc:ho_tich")
    assert keys.count("c:likert5:3") == 1  # a list shared by a Likert grid is recorded once
    assert "q:bat_dau" not in keys  # metadata is never spoken
    assert len(keys) == len(set(keys))
    gioi_tinh = next(p for p in vi if p.key == "q:gioi_tinh")
    assert (gioi_tinh.text, gioi_tinh.in_language) == ("Giới tính", True)
    # In Hrê the form has no text: the Vietnamese is shown to read from, marked as such.
    hre = next(p for p in prompts(q, "hre") if p.key == "q:gioi_tinh")
    assert (hre.text, hre.in_language) == ("Giới tính", False)
