"""The kiosk page (/k/<token>) and its definition JSON, on SQLite and PostgreSQL; the client definition."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from questionnaires import QuestionType, load_questionnaire, parse
from survey.campaigns import hash_token
from survey.client import client_definition
from survey.db import session_scope
from survey.models import Campaign, Kiosk
from survey.web import CONTENT_SECURITY_POLICY

SIPAS_2017 = load_questionnaire("sipas-2017")


@pytest.fixture
def kiosk_app(make_app):
    return make_app(KIOSK_RESET_SECONDS=6, KIOSK_IDLE_SECONDS=150)


@pytest.fixture
def campaign_with_kiosk(kiosk_app, make_app):
    from survey.campaigns import create_campaign, create_kiosk

    with kiosk_app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session,
            name="Khảo sát SIPAS 2024 — Trà Bồng",
            questionnaire="sipas-2017",
            unit_list="tra-bong-2023",
        )
        _, token = create_kiosk(session, campaign, "tra-xuan", "Quầy 1")
        return campaign.id, token


def _kiosk(app, token) -> Kiosk:
    with app.app_context(), session_scope() as session:
        return session.scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(token))).one()


@pytest.mark.db
def test_the_kiosk_page_is_a_script_free_shell_with_strict_headers(kiosk_app, campaign_with_kiosk):
    _, token = campaign_with_kiosk
    reply = kiosk_app.test_client().get(f"/k/{token}")

    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    assert '<html lang="vi">' in html
    assert "Thị trấn Trà Xuân" in html
    assert f'data-definition-url="/api/v1/kiosk/{token}/definition"' in html
    assert 'data-submit-url="/api/v1/responses"' in html
    # Every script is a file of ours; no inline code, no inline handlers, no inline styles.
    scripts = re.findall(r"<script\b[^>]*>", html)
    version = kiosk_app.extensions["sipas.kiosk_asset_version"]  # cached for good by the service worker
    assert [re.search(r'src="([^"]+)"', s).group(1) for s in scripts] == [
        f"/static/kiosk/{name}.js?v={version}"
        for name in ("expr", "queue", "submit", "dom", "i18n", "staff", "faces", "audio", "code", "kiosk")
    ]
    assert all(body.strip() == "" for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S))
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert "style=" not in html and "<style" not in html
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html  # no CDN
    headers = reply.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "style-src 'self'" in CONTENT_SECURITY_POLICY
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers  # a tablet keeps no session: the token is its only credential
    for asset in (
        "/static/kiosk/expr.js",
        "/static/kiosk/queue.js",
        "/static/kiosk/submit.js",
        "/static/kiosk/staff.js",
        "/static/kiosk/code.js",
        "/static/kiosk/kiosk.js",
        "/static/kiosk/kiosk.css",
        "/static/kiosk/faces.js",
        "/static/kiosk/faces.css",
        "/static/kiosk/phone.css",
    ):
        with kiosk_app.test_client().get(asset) as served:
            assert served.status_code == 200


@pytest.mark.db
def test_opening_the_page_records_the_kiosk_as_seen(kiosk_app, campaign_with_kiosk):
    _, token = campaign_with_kiosk
    assert _kiosk(kiosk_app, token).last_seen_at is None
    before = datetime.now(UTC)
    kiosk_app.test_client().get(f"/k/{token}")
    seen = _kiosk(kiosk_app, token).last_seen_at
    assert seen is not None
    assert (seen if seen.tzinfo else seen.replace(tzinfo=UTC)) >= before.replace(microsecond=0)


@pytest.mark.db
def test_the_definition_json_for_a_valid_token(kiosk_app, campaign_with_kiosk):
    campaign_id, token = campaign_with_kiosk
    reply = kiosk_app.test_client().get(f"/api/v1/kiosk/{token}/definition")

    assert reply.status_code == 200
    data = reply.get_json()
    assert data["campaign"]["id"] == campaign_id
    assert data["campaign"]["name"] == "Khảo sát SIPAS 2024 — Trà Bồng"
    assert data["kiosk"] == {"unit": "tra-xuan", "unit_name": "Thị trấn Trà Xuân", "counter": "Quầy 1"}
    assert (data["reset_seconds"], data["idle_seconds"]) == (6, 150)
    assert data["submit_url"] == "/api/v1/responses"
    q = data["questionnaire"]
    assert (q["id"], q["version"]) == ("sipas-2017", "2017.1")
    assert q == client_definition(SIPAS_2017)


@pytest.mark.db
def test_a_revoked_token_gets_403_and_an_unknown_one_404(kiosk_app, campaign_with_kiosk):
    from survey.campaigns import revoke_kiosk

    _, token = campaign_with_kiosk
    client = kiosk_app.test_client()
    with kiosk_app.app_context(), session_scope() as session:
        revoke_kiosk(
            session, session.scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(token))).one()
        )

    page = client.get(f"/k/{token}")
    assert page.status_code == 403
    assert "Đường dẫn không còn hiệu lực" in page.get_data(as_text=True)
    assert "đã bị thu hồi" in page.get_data(as_text=True)
    assert client.get(f"/api/v1/kiosk/{token}/definition").status_code == 403

    unknown = client.get("/k/khong-phai-ma-that")
    assert unknown.status_code == 404
    assert "Đường dẫn không còn hiệu lực" in unknown.get_data(as_text=True)
    assert client.get("/k/" + "x" * 500).status_code == 404


@pytest.mark.db
def test_a_closed_campaign_says_so(kiosk_app, campaign_with_kiosk):
    campaign_id, token = campaign_with_kiosk
    with kiosk_app.app_context(), session_scope() as session:
        session.get(Campaign, campaign_id).status = "closed"
    page = kiosk_app.test_client().get(f"/k/{token}")
    assert page.status_code == 403
    assert "Đợt khảo sát đã kết thúc" in page.get_data(as_text=True)


# ------------------------------------------------------------------------------ client definition
def test_client_definition_carries_everything_the_tablet_evaluates():
    data = client_definition(SIPAS_2017)
    assert data["title"]["vi"].startswith("Phiếu khảo sát sự hài lòng")
    assert [c["code"] for c in data["choice_lists"]["likert5"]] == ["1", "2", "3", "4", "5"]
    assert data["choice_lists"]["likert5"][3]["label"] == {"vi": "Hài lòng", "en": "Satisfied"}
    questions = {q["code"]: q for s in data["sections"] for q in s["questions"]}
    assert set(questions) == set(SIPAS_2017.item_codes)
    assert questions["phan_anh_1"]["relevant"] == parse("${da_gop_y} = 1").to_json()
    assert questions["phan_anh_1"]["appearance"] == "likert" and questions["phan_anh_1"]["required"] is True
    assert questions["so_lan_di_lai"]["constraint"] == parse(". >= 1 and . <= 20").to_json()
    assert questions["so_lan_di_lai"]["constraint_message"]["vi"] == "Số lần từ 1 đến 20."
    assert questions["linh_vuc"]["role"] == "stratum"
    assert questions["bat_dau"]["type"] == QuestionType.START.value
    assert questions["tiep_can_1"]["relevant"] is None


@pytest.mark.parametrize("qid", ["sipas-2017", "sipas-2023", "par-xa-2023"])
def test_client_definition_keeps_every_expression_and_group(qid):
    q = load_questionnaire(qid)
    data = client_definition(q)
    for section, sdata in zip(q.sections, data["sections"], strict=True):
        assert sdata["relevant"] == (section.relevant.to_json() if section.relevant else None)
        assert sdata["groups"] == list(section.groups)
        for question, qdata in zip(section.questions, sdata["questions"], strict=True):
            for name in ("relevant", "required_if", "constraint"):
                expr = getattr(question, name)
                assert qdata[name] == (expr.to_json() if expr else None)
            assert qdata["groups"] == list(question.groups)
            assert (qdata["label"] or {}).get("vi", "") == question.label.vi  # metadata: no label
    assert [g["code"] for g in data["groups"]] == [g.code for g in q.groups]
