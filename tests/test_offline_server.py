"""What the server hands a tablet for offline work: the service worker, the manifest, versioned files,
and the staff PIN as a salted hash. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from survey.campaigns import create_campaign, create_kiosk, hash_token, revoke_kiosk
from survey.db import session_scope
from survey.kiosk import KIOSK_ASSETS, SERVICE_WORKER, asset_version, check_staff_pin
from survey.models import Kiosk
from survey.security import ConfigurationError

PIN = "482916"


@pytest.fixture
def kiosk_app(make_app):
    return make_app(KIOSK_STAFF_PIN=PIN)


@pytest.fixture
def tokens(kiosk_app) -> list[str]:
    with kiosk_app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session, name="Khảo sát SIPAS 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        return [create_kiosk(session, campaign, unit)[1] for unit in ("tra-xuan", "tra-giang")]


def _version(app) -> str:
    return app.extensions["sipas.kiosk_asset_version"]


def _attribute(page: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


# -------------------------------------------------------------------------------- service worker
@pytest.mark.db
def test_the_service_worker_carries_this_release_and_every_kiosk_file(kiosk_app):
    client = kiosk_app.test_client()
    reply = client.get("/k/sw.js")
    assert reply.status_code == 200
    assert reply.mimetype == "text/javascript"
    assert reply.headers["Cache-Control"] == "no-cache"  # the browser must see each new release
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'self'")
    script = reply.get_data(as_text=True)
    version = _version(kiosk_app)
    assert f'var VERSION = "{version}";' in script
    assert "/*SIPAS:" not in script
    assets = json.loads(re.search(r"var ASSETS = (\[.*?\]);", script).group(1))
    assert assets == [f"/static/{name}?v={version}" for name in KIOSK_ASSETS]
    for url in assets:
        with client.get(url) as served:
            assert served.status_code == 200, url


def test_the_asset_version_follows_the_files(tmp_path):
    static = Path(__file__).resolve().parents[1] / "survey" / "static"
    copy = tmp_path / "static"
    for name in (*KIOSK_ASSETS, SERVICE_WORKER):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(static / name, copy / name)
    before = asset_version(copy)
    assert before == asset_version(static)
    assert re.fullmatch(r"[0-9a-f]{12}", before)
    with (copy / "kiosk" / "kiosk.css").open("a", encoding="utf-8") as css:
        css.write("\n/* một dòng mới */\n")
    assert asset_version(copy) != before


# ------------------------------------------------------------------------------------- manifest
@pytest.mark.db
def test_the_manifest_installs_the_kiosk_on_its_own_link(kiosk_app, tokens):
    token = tokens[0]
    client = kiosk_app.test_client()
    reply = client.get(f"/k/{token}/manifest.webmanifest")
    assert reply.status_code == 200
    assert reply.mimetype == "application/manifest+json"
    manifest = json.loads(reply.get_data(as_text=True))
    assert manifest["start_url"] == manifest["id"] == f"/k/{token}"
    assert manifest["scope"] == "/k/"
    assert manifest["name"] == "Khảo sát ý kiến người dân — Thị trấn Trà Xuân"
    assert manifest["lang"] == "vi" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as served:
            assert served.status_code == 200 and served.mimetype == "image/png"
            image = Image.open(io.BytesIO(served.get_data()))
            width, height = image.size
        assert icon["sizes"] == f"{width}x{height}"
        sizes.add((icon["sizes"], icon.get("purpose", "any")))
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes

    page = client.get(f"/k/{token}").get_data(as_text=True)
    assert f'<link rel="manifest" href="/k/{token}/manifest.webmanifest">' in page
    assert client.get("/k/khong-phai-ma-that/manifest.webmanifest").status_code == 404
    with kiosk_app.app_context(), session_scope() as session:
        revoke_kiosk(
            session, session.scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(token))).one()
        )
    assert client.get(f"/k/{token}/manifest.webmanifest").status_code == 403


# ----------------------------------------------------------------------------------- kiosk page
@pytest.mark.db
def test_the_page_declares_its_versions_and_where_its_worker_lives(kiosk_app, tokens):
    page = kiosk_app.test_client().get(f"/k/{tokens[0]}").get_data(as_text=True)
    version = _version(kiosk_app)
    assert _attribute(page, "data-app-version") == version
    assert f'<meta name="sipas-app-version" content="{version}">' in page
    assert _attribute(page, "data-sw-url") == "/k/sw.js"
    assert _attribute(page, "data-sw-scope") == "/k/"
    assert f'href="/static/kiosk/kiosk.css?v={version}"' in page
    assert f'href="/static/favicon.svg?v={version}"' in page


@pytest.mark.db
def test_the_page_carries_a_salted_hash_of_the_pin_never_the_pin(kiosk_app, tokens):
    client = kiosk_app.test_client()
    records = []
    for token in tokens:
        page = client.get(f"/k/{token}").get_data(as_text=True)
        assert PIN not in page
        record = _attribute(page, "data-staff-pin")
        algorithm, iterations, salt, digest = record.split("$")
        assert algorithm == "pbkdf2-sha256" and int(iterations) >= 50_000 and len(salt) == 32
        assert (
            hashlib.pbkdf2_hmac("sha256", PIN.encode(), bytes.fromhex(salt), int(iterations)).hex() == digest
        )
        assert hashlib.pbkdf2_hmac("sha256", b"000000", bytes.fromhex(salt), int(iterations)).hex() != digest
        records.append(record)
        assert _attribute(client.get(f"/k/{token}").get_data(as_text=True), "data-staff-pin") == record
    assert records[0].split("$")[2] != records[1].split("$")[2]  # each kiosk link its own salt


@pytest.mark.db
def test_without_a_pin_the_page_says_so(make_app):
    app = make_app()
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(session, name="Đợt", questionnaire="sipas-2017", unit_list="tra-bong-2023")
        _, token = create_kiosk(session, campaign, "tra-xuan")
    page = app.test_client().get(f"/k/{token}").get_data(as_text=True)
    assert _attribute(page, "data-staff-pin") == ""


@pytest.mark.parametrize("value", ["12ab", "123", "1234567890123", " ", "12 34", "١٢٣٤", True, -1234])
def test_a_malformed_pin_setting_is_refused_with_a_clear_message(value):
    with pytest.raises(ConfigurationError, match="phải gồm 4 đến 12 chữ số"):
        check_staff_pin(value)


def test_a_pin_from_the_environment_is_read_as_text():
    # SIPAS_KIOSK_STAFF_PIN=482916 arrives as the number 482916 (Flask parses env values as JSON).
    assert check_staff_pin(482916) == "482916"
    assert check_staff_pin("0042") == "0042"
    assert check_staff_pin(None) is None and check_staff_pin("") is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_app_does_not_start_with_a_malformed_pin(make_app):
    with pytest.raises(ConfigurationError, match="SIPAS_KIOSK_STAFF_PIN"):
        make_app(KIOSK_STAFF_PIN="abcd")
