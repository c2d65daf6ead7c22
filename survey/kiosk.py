"""The tablet kiosk page (/k/<token>): a shell that the browser fills from the definition JSON.

The page itself carries no questionnaire and no inline script (CSP ``script-src 'self'``): it hands
the definition and submission addresses to ``static/kiosk/kiosk.js`` in ``data-*`` attributes. The
definition is served by the JSON API (``GET /api/v1/kiosk/<token>/definition``, built with
:func:`survey.client.client_definition`); answers go to ``POST /api/v1/responses``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, render_template, url_for
from sqlalchemy import select

from .campaigns import hash_token
from .db import get_session
from .models import CampaignUnit, Kiosk

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
}


def _kiosk_by_token(token: str) -> Kiosk | None:
    """The kiosk of a token, revoked or not (this page tells a revoked link from an unknown one)."""
    if not token or len(token) > 200:
        return None
    return get_session().scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(token))).one_or_none()


def _invalid(key: int | str, status: int):
    title, text = INVALID_TEXTS[key]
    response = render_template("kiosk/invalid.html", title=title, text=text)
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/k/<token>")
def kiosk_page(token: str):
    """The kiosk shell for a valid token; a Vietnamese "no longer valid" page otherwise."""
    kiosk = _kiosk_by_token(token)
    if kiosk is None:
        return _invalid(404, 404)
    if kiosk.revoked_at is not None:
        return _invalid(403, 403)
    campaign = kiosk.campaign
    if campaign.status != "active":
        return _invalid("closed", 403)
    db = get_session()
    unit_name = db.scalar(
        select(CampaignUnit.unit_name).where(
            CampaignUnit.campaign_id == campaign.id, CampaignUnit.unit_code == kiosk.unit_code
        )
    )
    kiosk.last_seen_at = datetime.now(UTC)  # shown to staff on the campaign page
    db.commit()
    return (
        render_template(
            "kiosk/kiosk.html",
            unit_name=unit_name or kiosk.unit_code,
            campaign=campaign,
            token=token,
            definition_url=url_for("api.kiosk_definition", token=token),
            submit_url=url_for("api.submit_response"),
        ),
        200,
        {"Cache-Control": "no-store"},
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
