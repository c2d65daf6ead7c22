"""The tablet kiosk page (/k/<token>): a shell that the browser fills from the definition JSON.

The page itself carries no questionnaire and no inline script (CSP ``script-src 'self'``): it hands
the definition and submission addresses to ``static/kiosk/kiosk.js`` in ``data-*`` attributes. The
definition is served by the JSON API (``GET /api/v1/kiosk/<token>/definition``, built with
:func:`survey.client.client_definition`); answers go to ``POST /api/v1/responses``.

Offline work (an installable web app):

* ``/k/sw.js`` is the service worker. Served under ``/k/``, its scope covers every kiosk page and
  nothing else (never the staff pages). It keeps the kiosk page, its definition JSON, its manifest and
  the kiosk's static files in the browser's Cache Storage, so that a tablet that opened the kiosk once
  opens it again, and takes responses, with no network.
* The static files are addressed as ``/static/…?v=<asset version>``, the version being a hash of
  their contents (:func:`asset_version`). The service worker script carries the same version, so a new
  release changes the worker's bytes, the browser installs it, and it replaces the old cache.
* ``/k/<token>/manifest.webmanifest`` makes the kiosk installable ("Thêm vào màn hình chính"), opening
  straight on its own link.
* Responses go to an IndexedDB queue on the tablet first (``static/kiosk/queue.js``), then to the API
  (``static/kiosk/submit.js``); staff see the queue behind a PIN (``static/kiosk/staff.js``).

The staff PIN (``KIOSK_STAFF_PIN``, e.g. ``SIPAS_KIOSK_STAFF_PIN=482916``) is one setting for the
whole server. The page never carries it: it carries ``pbkdf2-sha256$<iterations>$<salt>$<hash>``
with a salt of its own per kiosk, and the tablet checks a typed PIN against that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, abort, current_app, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from .campaigns import accepts_responses, hash_token
from .db import get_session
from .models import AudioClip, Campaign, CampaignUnit, Kiosk
from .prompts import approved_clips
from .security import ConfigurationError

bp = Blueprint("kiosk", __name__)

INVALID_TEXTS = {
    404: (
        "Đường dẫn không còn hiệu lực",
        "Đường dẫn khảo sát này không đúng hoặc không còn được sử dụng. "
        "Xin báo cán bộ tại Bộ phận Một cửa để được hướng dẫn. Xin cảm ơn Ông/Bà!",
    ),
    403: (
        "Đường dẫn không còn hiệu lực",
        "Đường dẫn khảo sát này đã bị thu hồi. Xin báo cán bộ tại Bộ phận Một cửa để được hướng dẫn. "
        "Xin cảm ơn Ông/Bà!",
    ),
    "closed": (
        "Đợt khảo sát đã kết thúc",
        "Đợt khảo sát này đã kết thúc, phiếu không còn nhận ý kiến. Xin cảm ơn Ông/Bà đã quan tâm!",
    ),
    "draft": (
        "Đợt khảo sát chưa bắt đầu",
        "Đợt khảo sát này chưa mở để nhận ý kiến. Xin báo cán bộ tại Bộ phận Một cửa để được hướng dẫn. "
        "Xin cảm ơn Ông/Bà!",
    ),
}

# Every static file the kiosk page uses: the service worker keeps all of them for offline use.
KIOSK_ASSETS = (
    "kiosk/expr.js",
    "kiosk/queue.js",
    "kiosk/submit.js",
    "kiosk/dom.js",
    "kiosk/i18n.js",
    "kiosk/staff.js",
    "kiosk/faces.js",
    "kiosk/code.js",
    "kiosk/kiosk.js",
    "kiosk/audio.js",
    "kiosk/stranded.js",
    "kiosk/kiosk.css",
    "kiosk/faces.css",
    "kiosk/phone.css",
    "favicon.svg",
    "kiosk/icons/icon-192.png",
    "kiosk/icons/icon-512.png",
    "kiosk/icons/maskable-512.png",
    "kiosk/icons/apple-touch-icon.png",
)
SERVICE_WORKER = "kiosk/sw.js"
# Markers in sw.js that the /k/sw.js route fills in; the file stays valid JavaScript without them.
SW_VERSION_MARK = '/*SIPAS:VERSION*/"dev"'
SW_ASSETS_MARK = "/*SIPAS:ASSETS*/[]"

PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
PIN_ITERATIONS = 50_000
PIN_ALGORITHM = "pbkdf2-sha256"


# ------------------------------------------------------------------------------------------ assets
def asset_version(static_folder: str | Path) -> str:
    """Return a short hash of the kiosk's static files and service worker (changes with any of them)."""
    digest = hashlib.sha256()
    folder = Path(static_folder)
    for name in (*KIOSK_ASSETS, SERVICE_WORKER):
        digest.update(name.encode() + b"\0")
        digest.update((folder / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def current_asset_version() -> str:
    """The asset version of the running app (recomputed on every call in debug mode)."""
    app = current_app
    if app.debug:
        return asset_version(app.static_folder or "")
    return app.extensions["sipas.kiosk_asset_version"]


def kiosk_asset(filename: str) -> str:
    """The versioned address of a kiosk static file (cached for good by the service worker)."""
    return url_for("static", filename=filename, v=current_asset_version())


# --------------------------------------------------------------------------------------- staff PIN
def check_staff_pin(value: object) -> str | None:
    """Return the configured staff PIN as text (None when unset); refuse anything but 4–12 digits."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not PIN_PATTERN.match(text):
        raise ConfigurationError(
            "Mã PIN cán bộ cho máy trạm (KIOSK_STAFF_PIN) phải gồm 4 đến 12 chữ số "
            "/ KIOSK_STAFF_PIN (SIPAS_KIOSK_STAFF_PIN) must be 4 to 12 digits."
        )
    return text


@lru_cache(maxsize=256)
def _pin_hash(pin: str, salt: str, iterations: int) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), iterations).hex()


def staff_pin_record(pin: str | None, secret_key: str | bytes, kiosk_id: int) -> str | None:
    """The salted PIN hash a kiosk page carries: ``pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>``.

    The salt is derived from the server's secret key and the kiosk, so each tablet link gets its own
    hash of the same PIN and the page stays the same from one load to the next.
    """
    if not pin:
        return None
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    salt = hmac.new(key, f"sipas-kiosk-pin-salt:{kiosk_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{PIN_ALGORITHM}${PIN_ITERATIONS}${salt}${_pin_hash(pin, salt, PIN_ITERATIONS)}"


# -------------------------------------------------------------------------------------------- pages
def _kiosk_by_token(token: str) -> Kiosk | None:
    """The kiosk of a token, revoked or not (this page tells a revoked link from an unknown one)."""
    if not token or len(token) > 200:
        return None
    return get_session().scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(token))).one_or_none()


def _invalid(key: int | str, status: int):
    title, text = INVALID_TEXTS[key]
    response = render_template("kiosk/invalid.html", title=title, text=text)
    return response, status, {"Cache-Control": "no-store"}


def _active_kiosk(token: str):
    """The kiosk of a token that may take responses now, or the page that says why not."""
    kiosk = _kiosk_by_token(token)
    if kiosk is None:
        return None, _invalid(404, 404)
    if kiosk.revoked_at is not None:
        return None, _invalid(403, 403)
    if not accepts_responses(kiosk.campaign):
        return None, _invalid("draft" if kiosk.campaign.status == "draft" else "closed", 403)
    return kiosk, None


def _unit_name(kiosk: Kiosk) -> str:
    name = get_session().scalar(
        select(CampaignUnit.unit_name).where(
            CampaignUnit.campaign_id == kiosk.campaign_id, CampaignUnit.unit_code == kiosk.unit_code
        )
    )
    return name or kiosk.unit_code


@bp.route("/k/<token>")
def kiosk_page(token: str):
    """The kiosk shell for a valid token; a Vietnamese "no longer valid" page otherwise."""
    kiosk, refusal = _active_kiosk(token)
    if refusal is not None:
        return refusal
    unit_name = _unit_name(kiosk)
    kiosk.last_seen_at = datetime.now(UTC)  # shown to staff on the campaign page
    get_session().commit()
    return (
        render_template(
            "kiosk/kiosk.html",
            unit_name=unit_name,
            campaign=kiosk.campaign,
            token=token,
            definition_url=url_for("api.kiosk_definition", token=token),
            submit_url=url_for("api.submit_response"),
            manifest_url=url_for("kiosk.manifest", token=token),
            service_worker_url=url_for("kiosk.service_worker"),
            service_worker_scope=url_for("kiosk.kiosk_page", token="x")[:-1],
            asset_version=current_asset_version(),
            staff_pin=staff_pin_record(
                current_app.config.get("KIOSK_STAFF_PIN"), current_app.secret_key or "", kiosk.id
            ),
        ),
        200,
        {"Cache-Control": "no-store"},
    )


@bp.route("/k/p/<int:campaign_id>")
@bp.route("/k/p/<int:campaign_id>/<unit_code>")
def phone_page(campaign_id: int, unit_code: str | None = None):
    """The kiosk app on a respondent's own phone: the same form, a phone layout, source ``phone``.

    ``/k/p/<campaign>`` for a campaign with answer codes (the slip's QR code adds ``#<code>``, which
    never reaches the server); ``/k/p/<campaign>/<unit>`` for the counter poster of a campaign without.
    """
    campaign = get_session().get(Campaign, campaign_id)
    if campaign is None:
        return _invalid(404, 404)
    if not accepts_responses(campaign):
        return _invalid("draft" if campaign.status == "draft" else "closed", 403)
    unit_name = None
    if unit_code is not None:
        unit_name = next((u.unit_name for u in campaign.units if u.unit_code == unit_code), None)
        if unit_name is None:
            return _invalid(404, 404)
    elif not campaign.answer_codes:
        return _invalid(404, 404)
    definition_url = url_for("api.phone_definition", campaign_id=campaign.id)
    if unit_code is not None:
        definition_url += "?" + urlencode({"unit": unit_code})
    return (
        render_template(
            "kiosk/kiosk.html",
            phone=True,
            unit_name=unit_name or campaign.name,
            campaign=campaign,
            unit_code=unit_code,
            token="",
            definition_url=definition_url,
            submit_url=url_for("api.submit_response"),
            manifest_url=None,
            service_worker_url=url_for("kiosk.service_worker"),
            service_worker_scope=url_for("kiosk.kiosk_page", token="x")[:-1],
            asset_version=current_asset_version(),
            staff_pin=None,
        ),
        200,
        {"Cache-Control": "no-store"},
    )


@bp.route("/k/<token>/manifest.webmanifest")
def manifest(token: str):
    """The web app manifest of one kiosk link: installed, the app opens on that link."""
    kiosk, refusal = _active_kiosk(token)
    if refusal is not None:
        return refusal
    unit_name = _unit_name(kiosk)
    page = url_for("kiosk.kiosk_page", token=token)
    icons = [
        {"src": kiosk_asset("kiosk/icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": kiosk_asset("kiosk/icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": kiosk_asset("kiosk/icons/maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    body = {
        "id": page,
        "name": f"Khảo sát ý kiến người dân — {unit_name}",
        "short_name": "Khảo sát",
        "description": f"Phiếu khảo sát sự hài lòng tại Bộ phận Một cửa: {unit_name}.",
        "lang": "vi",
        "dir": "ltr",
        "start_url": page,
        "scope": url_for("kiosk.kiosk_page", token="x")[:-1],
        "display": "standalone",
        "display_override": ["fullscreen", "standalone"],
        "orientation": "portrait",
        "background_color": "#eef2f6",
        "theme_color": "#0b4f8a",
        "icons": icons,
    }
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        mimetype="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


# A clip's address holds its hash: the bytes behind it never change, so a tablet keeps it for a year.
CLIP_CACHE_CONTROL = "private, max-age=31536000, immutable"


def clip_response(clip: AudioClip) -> Response:
    """The bytes of one clip, cached for good (its address changes when it is recorded again)."""
    response = Response(clip.data, mimetype=clip.mime)
    response.headers["Cache-Control"] = CLIP_CACHE_CONTROL
    response.headers["ETag"] = f'"{clip.sha256}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def kiosk_audio(session: Session, campaign: Campaign, token: str | None) -> dict:
    """What the kiosk definition says about spoken prompts: the approved clips' addresses by language
    and prompt key, and the campaign's settings (auto-read; the tablet's voice for Vietnamese).

    ``token`` is the kiosk's; without one (a respondent's own phone) the clips are served under the
    campaign's public phone address."""
    clips: dict[str, dict[str, str]] = {}
    for lang, key, sha, ext in approved_clips(session, campaign):
        if token is None:
            url = url_for("kiosk.phone_audio_clip", campaign_id=campaign.id, sha=sha, ext=ext)
        else:
            url = url_for("kiosk.audio_clip", token=token, sha=sha, ext=ext)
        clips.setdefault(lang, {})[key] = url
    return {
        "clips": clips,
        "autoplay": bool(campaign.audio_autoplay),
        # Only ever Vietnamese: a device voice for Hrê, Cor or Ca Dong does not exist, and reading their
        # speakers the Vietnamese text in another language's place would pass for a translation.
        "speech_synthesis": ["vi"] if campaign.audio_speech_synthesis else [],
    }


@bp.route("/k/<token>/audio/<sha>.<ext>")
def audio_clip(token: str, sha: str, ext: str):
    """An approved clip of this kiosk's campaign, by its hash."""
    kiosk, refusal = _active_kiosk(token)
    if refusal is not None:
        return refusal
    return _approved_clip(kiosk.campaign_id, sha, ext)


@bp.route("/k/p/<int:campaign_id>/audio/<sha>.<ext>")
def phone_audio_clip(campaign_id: int, sha: str, ext: str):
    """An approved clip of a campaign open to respondents' phones (the prompts are public, like the form)."""
    campaign = get_session().get(Campaign, campaign_id)
    if campaign is None or not accepts_responses(campaign):
        abort(404)
    return _approved_clip(campaign_id, sha, ext)


def _approved_clip(campaign_id: int, sha: str, ext: str):
    """The approved clip of ``campaign_id`` with this hash, with long-lived caching; 404 otherwise."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        abort(404)
    clip = get_session().scalars(
        select(AudioClip)
        .where(
            AudioClip.campaign_id == campaign_id,
            AudioClip.sha256 == sha,
            AudioClip.ext == ext,
            AudioClip.status == "approved",
        )
        .limit(1)
    ).first()
    if clip is None:
        abort(404)
    return clip_response(clip)


@bp.route("/k/sw.js")
def service_worker():
    """The service worker, with this release's asset version and file list filled in."""
    app = current_app
    source = (Path(app.static_folder or "") / SERVICE_WORKER).read_text(encoding="utf-8")
    assets = [kiosk_asset(name) for name in KIOSK_ASSETS]
    script = source.replace(SW_VERSION_MARK, json.dumps(current_asset_version())).replace(
        SW_ASSETS_MARK, json.dumps(assets)
    )
    return Response(
        script,
        mimetype="text/javascript",
        # The browser compares the worker's bytes on each visit; it must never get a stale copy.
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/k/"},
    )


def init_app(app: Flask) -> None:
    """Register the kiosk pages; compute the asset version; check the staff PIN setting."""
    app.config["KIOSK_STAFF_PIN"] = check_staff_pin(app.config.get("KIOSK_STAFF_PIN"))
    app.extensions["sipas.kiosk_asset_version"] = asset_version(app.static_folder or "")
    app.add_template_global(kiosk_asset, "kiosk_asset")
    app.register_blueprint(bp)
