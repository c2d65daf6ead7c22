"""The kiosk submission API, on SQLite and PostgreSQL: what is stored, what is refused, idempotency."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from conftest import assign_enumerators, full_answers, submission
from sqlalchemy import func, select

from questionnaires import load_questionnaire
from survey.db import session_scope
from survey.models import Kiosk, Response

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
SIPAS_2023 = load_questionnaire("sipas-2023")
DICH_VU_2023 = [
    c
    for node in SIPAS_2023.scoring.tree.children
    if node.code == "dich_vu"
    for crit in node.criteria
    for c in crit.items
]


def count_responses(app) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count(Response.id)))


def stored(app, instance_id: str) -> Response:
    with app.app_context(), session_scope() as session:
        return session.scalars(select(Response).where(Response.instance_id == instance_id)).one()


def post(client, body, **kwargs):
    return client.post("/api/v1/responses", json=body, **kwargs)


# ------------------------------------------------------------------------------------ full forms
def test_full_sipas_2017_submission_is_stored_as_sent(app, client, make_campaign):
    campaign_id, tokens = make_campaign("sipas-2017")
    answers = full_answers(
        SIPAS_2017, {"linh_vuc": "ho_tich", "da_gop_y": "1", "tiep_can_1": 5, "gop_y": "Tốt lắm"}
    )
    body = submission(SIPAS_2017, tokens["tra-xuan"], answers, unit="tra-xuan")

    reply = post(client, body)

    assert reply.status_code == 201, reply.get_json()
    data = reply.get_json()
    assert data["status"] == "created" and data["instance_id"] == body["instance_id"]
    row = stored(app, body["instance_id"])
    assert row.id == data["id"]
    assert row.campaign_id == campaign_id
    assert row.unit_code == "tra-xuan"
    assert row.stratum == "ho_tich"  # from the role: stratum question
    assert row.respondent_group == "citizen"  # the only declared group
    assert row.source == "kiosk" and row.kiosk_id is not None
    expected = {k: (str(v) if isinstance(v, int) and k != "so_lan_di_lai" else v) for k, v in answers.items()}
    assert row.answers == expected
    assert row.answers["tiep_can_1"] == "5"  # 5 and "5" are the same answer, stored as the code
    assert row.answers["gop_y"] == "Tốt lắm"
    assert set(row.answers) == {q.code for q in SIPAS_2017.questions() if q.type.is_answerable}
    assert row.questionnaire_id == "sipas-2017" and row.questionnaire_version == "2017.1"
    started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
    assert started == datetime(2024, 5, 2, 1, 1, tzinfo=UTC)  # 08:01 +07:00


def test_full_sipas_2023_submission_with_a_procedure(app, client, make_campaign):
    _, tokens = make_campaign("sipas-2023")
    answers = full_answers(
        SIPAS_2023, {"da_thuc_hien_tthc": "1", "da_gop_y": "1", "kenh_tiep_nhan": ["hop_thon"]}
    )
    body = submission(SIPAS_2023, tokens["tra-xuan"], answers)

    reply = post(client, body)

    assert reply.status_code == 201, reply.get_json()
    row = stored(app, body["instance_id"])
    assert set(DICH_VU_2023) <= set(row.answers)
    assert row.answers["kenh_tiep_nhan"] == ["hop_thon"]
    assert row.answers == answers


def test_sipas_2023_service_items_are_not_required_and_dropped_without_a_procedure(
    app, client, make_campaign
):
    _, tokens = make_campaign("sipas-2023")
    # Câu 8: never did an administrative procedure -> Câu 9 dịch vụ and "da_gop_y" are not asked.
    answers = full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "2"})
    assert not set(DICH_VU_2023) & set(answers)
    reply = post(client, submission(SIPAS_2023, tokens["tra-xuan"], answers))
    assert reply.status_code == 201, reply.get_json()

    # A tablet that still sends stale service answers: they are dropped, not stored, not an error.
    stale = dict(answers, tiep_can_1="1", phan_anh_2="5", da_gop_y="1")
    body = submission(SIPAS_2023, tokens["tra-xuan"], stale)
    reply = post(client, body)
    assert reply.status_code == 201, reply.get_json()
    row = stored(app, body["instance_id"])
    assert row.answers == answers
    assert not {"tiep_can_1", "phan_anh_2", "da_gop_y"} & set(row.answers)


def test_sipas_2023_service_items_are_required_after_a_procedure(app, client, make_campaign):
    _, tokens = make_campaign("sipas-2023")
    answers = full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "1", "da_gop_y": "2"})
    del answers["thu_tuc_3"]
    before = count_responses(app)

    reply = post(client, submission(SIPAS_2023, tokens["tra-xuan"], answers))

    assert reply.status_code == 400
    assert [(e["item"], e["code"]) for e in reply.get_json()["errors"]] == [("thu_tuc_3", "required")]
    assert count_responses(app) == before
    # phan_anh_* are gated by da_gop_y = 1: not required here.
    assert "phan_anh_1" not in answers


# --------------------------------------------------------------------------- 400: nothing stored
def _valid(token):
    return submission(SIPAS_2017, token, full_answers(SIPAS_2017, {"linh_vuc": "dat_dai"}))


def _with_answers(**changes):
    def change(body):
        for key, value in changes.items():
            if value is None:
                body["answers"].pop(key, None)
            else:
                body["answers"][key] = value
        return body

    return change


def _set(**fields):
    def change(body):
        for key, value in fields.items():
            if value is ...:
                body.pop(key)
            else:
                body[key] = value
        return body

    return change


BAD_SUBMISSIONS = {
    "unknown item": (_with_answers(cau_la="4"), ("cau_la", "unknown_item")),
    "code outside the list": (_with_answers(tiep_can_2="6"), ("tiep_can_2", "invalid_code")),
    "code of another list": (_with_answers(linh_vuc="4"), ("linh_vuc", "invalid_code")),
    "required missing": (_with_answers(cong_chuc_3=None), ("cong_chuc_3", "required")),
    "gated item required when relevant": (
        _with_answers(da_gop_y="1", phan_anh_1=None),
        ("phan_anh_1", "required"),
    ),
    "constraint failed": (_with_answers(so_lan_di_lai=50), ("so_lan_di_lai", "constraint")),
    "integer as text that is not a number": (
        _with_answers(so_lan_di_lai="hai"),
        ("so_lan_di_lai", "wrong_type"),
    ),
    "boolean for a choice": (_with_answers(tiep_can_1=True), ("tiep_can_1", "wrong_type")),
    "list for a single choice": (_with_answers(tiep_can_1=["4"]), ("tiep_can_1", "wrong_type")),
    "text not a string": (_with_answers(gop_y=12), ("gop_y", "wrong_type")),
    "text too long": (_with_answers(gop_y="x" * 5000), ("gop_y", "too_long")),
    "text with a NUL": (_with_answers(gop_y="a\x00b"), ("gop_y", "wrong_type")),
    "metadata not a timestamp": (_with_answers(bat_dau="hôm qua"), ("bat_dau", "wrong_type")),
    "answers not an object": (_set(answers=["4", "5"]), ("answers", "wrong_type")),
    "instance_id not a UUID": (_set(instance_id="phieu-1"), ("instance_id", "wrong_type")),
    "instance_id missing": (_set(instance_id=...), ("instance_id", "required")),
    "instance_id a number": (_set(instance_id=12), ("instance_id", "wrong_type")),
    "other questionnaire": (_set(questionnaire="sipas-2023"), ("questionnaire", "wrong_questionnaire")),
    "other version": (_set(version="2016.1"), ("questionnaire", "wrong_questionnaire")),
    "version a number": (_set(version=2017.1), ("version", "wrong_type")),
    "unit not the kiosk's": (_set(unit="tra-giang"), ("unit", "wrong_unit")),
    "submitted_at not ISO": (_set(submitted_at="02/05/2024"), ("submitted_at", "wrong_type")),
    "started_at missing": (_set(started_at=...), ("started_at", "required")),
    "unknown field": (_set(extra="x"), ("extra", "unknown_field")),
    "group not declared": (_set(group="lanh_dao"), ("group", "invalid_code")),
    # sipas-2017 is in Vietnamese and English only.
    "language not the campaign's": (_set(language="hre"), ("language", "invalid_code")),
    "language not a string": (_set(language=5), ("language", "wrong_type")),
}


@pytest.mark.parametrize("case", list(BAD_SUBMISSIONS), ids=list(BAD_SUBMISSIONS))
def test_invalid_submissions_are_refused_with_item_errors_and_store_nothing(app, client, make_campaign, case):
    _, tokens = make_campaign("sipas-2017")
    change, (item, code) = BAD_SUBMISSIONS[case]
    body = change(_valid(tokens["tra-xuan"]))
    before = count_responses(app)

    reply = post(client, body)

    assert reply.status_code == 400, reply.get_json()
    assert reply.is_json
    errors = reply.get_json()["errors"]
    assert {"item": item, "code": code} in [{"item": e["item"], "code": e["code"]} for e in errors]
    assert all(e["message"] for e in errors)
    assert count_responses(app) == before


@pytest.mark.parametrize(
    "raw, content_type",
    [
        (b"{not json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        ("phiếu".encode(), "text/plain"),
        (b"", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
    ],
    ids=["broken", "array", "text", "empty", "binary"],
)
def test_malformed_bodies_are_400_json(app, client, make_campaign, raw, content_type):
    make_campaign("sipas-2017")
    before = count_responses(app)
    reply = client.post("/api/v1/responses", data=raw, content_type=content_type)
    assert reply.status_code == 400
    assert reply.get_json()["errors"][0]["code"] == "malformed"
    assert count_responses(app) == before


def test_several_errors_are_reported_together(app, client, make_campaign):
    _, tokens = make_campaign("sipas-2017")
    body = _valid(tokens["tra-xuan"])
    body["answers"].update(tiep_can_1="9", khong_co="1")
    del body["answers"]["ket_qua_2"]
    reply = post(client, body)
    assert reply.status_code == 400
    found = {(e["item"], e["code"]) for e in reply.get_json()["errors"]}
    assert found == {("tiep_can_1", "invalid_code"), ("khong_co", "unknown_item"), ("ket_qua_2", "required")}


# -------------------------------------------------------------------------------------- idempotency
def test_same_instance_same_content_is_duplicate_other_content_is_conflict(app, client, make_campaign):
    _, tokens = make_campaign("sipas-2017")
    body = _valid(tokens["tra-xuan"])

    first = post(client, body)
    assert first.status_code == 201
    again = post(client, body)
    assert again.status_code == 200
    assert again.get_json() == {
        "status": "duplicate",
        "id": first.get_json()["id"],
        "instance_id": body["instance_id"],
    }

    # The same content written differently (4 vs "4", upper-case UUID, another time zone) is the same.
    same = json.loads(json.dumps(body))
    same["answers"]["tiep_can_1"] = int(same["answers"]["tiep_can_1"])
    same["instance_id"] = body["instance_id"].upper()
    same["started_at"] = "2024-05-02T01:01:00Z"
    assert post(client, same).status_code == 200

    changed = json.loads(json.dumps(body))
    changed["answers"]["tiep_can_1"] = "1"
    conflict = post(client, changed)
    assert conflict.status_code == 409
    assert conflict.get_json()["instance_id"] == body["instance_id"]
    assert count_responses(app) == 1
    assert stored(app, body["instance_id"]).answers["tiep_can_1"] == body["answers"]["tiep_can_1"]


def test_an_instance_id_of_another_campaign_is_409_and_kept_on_the_tablet(app, client, make_campaign):
    """A copy for campaign B of a form stored in campaign A is refused (409), not "duplicate" (200).

    The instance id is unique in the whole database (an ODK-style UUID names one filled form), so the
    copy cannot be stored in B; answering "duplicate" would make the tablet drop a form B never got.
    The kiosk's outbox moves a 409 to "cần xử lý" for staff (survey/static/kiosk/submit.js).
    """
    _, first = make_campaign("sipas-2017")
    _, second = make_campaign("sipas-2017", name="Đợt 2")
    body = _valid(first["tra-xuan"])
    assert post(client, body).status_code == 201
    copy = dict(body, kiosk_token=second["tra-xuan"])
    for _ in range(2):  # and its retry: the same answer, nothing stored
        reply = post(client, copy)
        assert reply.status_code == 409, reply.get_json()
        data = reply.get_json()
        assert data["error"] == "instance_id_other_campaign"
        assert data["instance_id"] == body["instance_id"]
        assert "đợt khảo sát khác" in data["message"] and "another campaign" in data["message_en"]
    assert post(client, body).status_code == 200  # in its own campaign it is still a duplicate
    assert count_responses(app) == 1
    with app.app_context(), session_scope() as session:
        from survey.models import Campaign

        row = session.scalars(select(Response)).one()
        assert session.get(Campaign, row.campaign_id).name != "Đợt 2"
    # Different content in the other campaign is the same refusal: the campaign decides first.
    changed = json.loads(json.dumps(copy))
    changed["answers"]["tiep_can_1"] = "1"
    assert post(client, changed).get_json()["error"] == "instance_id_other_campaign"


# ------------------------------------------------------------------------------------------- tokens
def test_missing_token_is_401_unknown_or_revoked_is_403(app, client, make_campaign):
    from survey.campaigns import revoke_kiosk

    _, tokens = make_campaign("sipas-2017", kiosk_units=("tra-xuan", "tra-giang"))
    body = _valid(tokens["tra-xuan"])
    del body["kiosk_token"]
    assert post(client, body).status_code == 401
    assert post(client, dict(body, kiosk_token="")).status_code == 401
    unknown = post(client, dict(body, kiosk_token="x" * 43))
    assert unknown.status_code == 403 and unknown.is_json

    with app.app_context(), session_scope() as session:
        from survey.campaigns import kiosk_for_token

        revoke_kiosk(session, kiosk_for_token(session, tokens["tra-xuan"]))
    revoked = post(client, dict(body, kiosk_token=tokens["tra-xuan"]))
    assert revoked.status_code == 403
    assert count_responses(app) == 0

    # The other unit's kiosk still works, and the token may come in the Authorization header.
    other = _valid(tokens["tra-giang"])
    del other["kiosk_token"]
    reply = post(client, other, headers={"Authorization": f"Bearer {tokens['tra-giang']}"})
    assert reply.status_code == 201
    with app.app_context(), session_scope() as session:
        kiosk = session.scalars(select(Kiosk).where(Kiosk.unit_code == "tra-giang")).one()
        assert kiosk.last_seen_at is not None
    assert stored(app, other["instance_id"]).unit_code == "tra-giang"


def test_closed_campaign_refuses_submissions(app, client, make_campaign):
    from survey.models import Campaign

    campaign_id, tokens = make_campaign("sipas-2017")
    with app.app_context(), session_scope() as session:
        session.get(Campaign, campaign_id).status = "closed"
    reply = post(client, _valid(tokens["tra-xuan"]))
    assert reply.status_code == 403
    assert reply.get_json()["error"] == "campaign_closed"


# ------------------------------------------------------------------------------- limits and outages
def test_body_too_large_is_413_json(make_app, make_campaign, database_url):
    app = make_app(MAX_CONTENT_LENGTH=2048)
    client = app.test_client()
    _, tokens = make_campaign("sipas-2017")
    body = _valid(tokens["tra-xuan"])
    body["answers"]["gop_y"] = "ý kiến " * 400
    reply = post(client, body)
    assert reply.status_code == 413
    assert reply.is_json and reply.get_json()["error"] == "too_large"
    assert count_responses(app) == 0


def test_unreachable_database_is_503_json_and_healthz_says_so(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2")
    client = app.test_client()
    body = submission(SIPAS_2017, "x" * 43, {"tiep_can_1": "4"})
    reply = post(client, body)
    assert reply.status_code == 503
    data = reply.get_json()
    assert data["error"] == "database_unavailable" and "Cơ sở dữ liệu" in data["message"]
    assert b"Traceback" not in reply.data
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["error"] == "database_unavailable"
    assert health.headers["Retry-After"] and b"Traceback" not in health.data


def test_read_only_database_is_503_and_nothing_half_written(
    app, make_app, make_campaign, database_url, tmp_path
):
    _, tokens = make_campaign("sipas-2017")
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        ro_url = f"sqlite:///file:{path}?mode=ro&uri=true"
        ro_app = make_app(DATABASE_URL=ro_url)
    else:
        sep = "&" if "?" in database_url else "?"
        ro_app = make_app(DATABASE_URL=f"{database_url}{sep}options=-c%20default_transaction_read_only%3Don")
    reply = post(ro_app.test_client(), _valid(tokens["tra-xuan"]))
    assert reply.status_code == 503, reply.get_json()
    assert reply.get_json()["error"] == "database_unavailable"
    assert count_responses(app) == 0


def test_healthz_ok(client):
    reply = client.get("/healthz")
    assert reply.status_code == 200 and reply.get_json() == {"status": "ok"}


def test_api_errors_are_json_never_html(client):
    reply = client.get("/api/v1/responses")
    assert reply.status_code == 405 and reply.is_json
    reply = client.get("/api/v1/campaigns/abc/progress")
    assert reply.status_code == 404 and reply.is_json


# ------------------------------------------------------------------------------ definition, progress
def test_kiosk_definition_gives_the_campaign_questionnaire(app, client, make_campaign):
    campaign_id, tokens = make_campaign("sipas-2023")
    reply = client.get(f"/api/v1/kiosk/{tokens['tra-xuan']}/definition")
    assert reply.status_code == 200
    data = reply.get_json()
    assert data["campaign"]["id"] == campaign_id
    assert data["kiosk"] == {"unit": "tra-xuan", "unit_name": "Thị trấn Trà Xuân", "counter": None}
    assert data["questionnaire"]["id"] == "sipas-2023" and data["questionnaire"]["version"] == "2023.1"
    assert client.get("/api/v1/kiosk/nope/definition").status_code == 403


def _login(client, app, role):
    from survey.users import create_user

    with app.app_context(), session_scope() as session:
        user = create_user(session, f"{role}1", "mat-khau-dai-du-10", role)
        user_id = user.id
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
    return user_id


def test_progress_needs_a_login_and_counts_per_unit(app, client, make_campaign):
    campaign_id, tokens = make_campaign(
        "sipas-2017", kiosk_units=("tra-xuan", "tra-giang"), populations={"tra-xuan": 120, "tra-giang": 80}
    )
    for unit, n in (("tra-xuan", 3), ("tra-giang", 1)):
        for _ in range(n):
            assert post(client, _valid(tokens[unit])).status_code == 201

    anonymous = client.get(f"/api/v1/campaigns/{campaign_id}/progress")
    assert anonymous.status_code == 401 and anonymous.is_json

    _login(client, app, "enumerator")
    refused = client.get(f"/api/v1/campaigns/{campaign_id}/progress")  # not assigned to the campaign yet
    assert refused.status_code == 403 and "phân công" in refused.get_json()["message"]
    assign_enumerators(app, campaign_id)
    reply = client.get(f"/api/v1/campaigns/{campaign_id}/progress")
    assert reply.status_code == 200
    data = reply.get_json()
    units = {u["unit_code"]: u for u in data["units"]}
    assert len(units) == 16
    # Slovin: 120 / (1 + 120 * 0.0025) = 92.3 -> 93; 80 / 1.2 = 66.7 -> 67
    assert (units["tra-xuan"]["target"], units["tra-xuan"]["responses"]) == (93, 3)
    assert units["tra-xuan"]["percent"] == round(300 / 93, 1)
    assert (units["tra-giang"]["target"], units["tra-giang"]["responses"]) == (67, 1)
    assert units["tra-thuy"]["responses"] == 0 and units["tra-thuy"]["last_response_at"] is None
    assert data["totals"]["responses"] == 4 and data["totals"]["target"] == 160
    assert client.get("/api/v1/campaigns/999/progress").status_code == 404


def test_new_instance_ids_are_uuids(client, app, make_campaign):
    _, tokens = make_campaign("sipas-2017")
    body = _valid(tokens["tra-xuan"])
    body["instance_id"] = "uuid:" + uuid.uuid4().hex
    reply = post(client, body)
    assert reply.status_code == 201
    assert str(uuid.UUID(reply.get_json()["instance_id"])) == reply.get_json()["instance_id"]
