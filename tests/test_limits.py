"""Limits on what one request may cost and carry (issue 12, points 5, 6 and 8), on SQLite and PostgreSQL.

A small hostile body never costs a large answer: too many answer keys are refused with one error, the
error list stops at 50 plus a count, and echoed input is shortened. Device times outside the sane
range (:data:`survey.validation.EARLIEST_TIMESTAMP` to a day after now) are a clean 400 naming the
field, never an ``OverflowError`` (500) and never stored. CSV downloads name one charset.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import full_answers, submission
from sqlalchemy import func, select

from questionnaires import QuestionType, load_questionnaire
from survey.db import session_scope
from survey.models import Response
from survey.users import create_user
from survey.validation import (
    MAX_ERRORS,
    TimestampOutOfRange,
    cap_errors,
    max_answer_keys,
    parse_timestamp,
    validate_answers,
)

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
SINGLE = [q.code for q in SIPAS_2017.questions() if q.type is QuestionType.SINGLE]
LIKERT = [q.code for q in SIPAS_2017.questions() if q.appearance == "likert"]


def count(app) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count(Response.id)))


@pytest.fixture
def kiosk(app, make_campaign):
    """A client and a kiosk token of a sipas-2017 campaign."""
    _, tokens = make_campaign("sipas-2017")
    return app.test_client(), tokens["tra-xuan"]


def valid(token: str, **extra) -> dict:
    return submission(SIPAS_2017, token, full_answers(SIPAS_2017), **extra)


def post(client, body: dict):
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    reply = client.post("/api/v1/responses", data=raw, content_type="application/json")
    assert b"Traceback" not in reply.data and reply.is_json, reply.data[:300]
    return reply, len(raw)


# ------------------------------------------------------------------------------ amplification
def test_forty_thousand_unknown_keys_are_one_small_400(app, kiosk):
    client, token = kiosk
    body = valid(token)
    body["answers"] = {f"k{i}": 1 for i in range(40_000)}
    reply, sent = post(client, body)
    assert 400_000 < sent < app.config["MAX_CONTENT_LENGTH"]  # the attack's size, under the body limit
    assert reply.status_code == 400
    data = reply.get_json()
    assert len(data["errors"]) == 1 and data["errors_total"] == 1
    (error,) = data["errors"]
    assert error["item"] == "answers" and error["code"] == "too_many_items"
    assert "40000" in error["message"] and str(max_answer_keys(SIPAS_2017)) in error["message"]
    assert len(reply.data) < 1_000  # was 8.2 MB
    assert count(app) == 0


def test_unknown_keys_under_the_key_cap_list_fifty_errors_and_a_count(app, kiosk):
    client, token = kiosk
    body = valid(token)
    unknown = max_answer_keys(SIPAS_2017) - len(body["answers"])
    body["answers"].update({f"khong_co_{i}": "1" for i in range(unknown)})
    reply, _ = post(client, body)
    assert reply.status_code == 400
    data = reply.get_json()
    assert data["errors_total"] == unknown
    assert len(data["errors"]) == MAX_ERRORS + 1
    assert all(e["code"] == "unknown_item" for e in data["errors"][:MAX_ERRORS])
    last = data["errors"][-1]
    assert last["item"] is None and last["code"] == "more_errors"
    assert last["message"] == f"… và {unknown - MAX_ERRORS} lỗi khác (chỉ liệt kê {MAX_ERRORS} lỗi đầu tiên)."
    assert len(reply.data) < 16_000
    assert count(app) == 0


def test_many_invalid_known_items_are_capped_too(app, kiosk):
    client, token = kiosk
    body = valid(token)
    body["answers"].update({code: "99" for code in SINGLE})  # not a code of any choice list
    body["answers"].update({f"la_{i}": "1" for i in range(40)})
    reply, _ = post(client, body)
    assert reply.status_code == 400
    data = reply.get_json()
    assert data["errors_total"] == len(SINGLE) + 40 > MAX_ERRORS
    assert len(data["errors"]) == MAX_ERRORS + 1
    shown = data["errors"][:MAX_ERRORS]
    assert {e["code"] for e in shown} == {"unknown_item", "invalid_code"}
    assert data["errors"][-1]["code"] == "more_errors"
    assert len(reply.data) < 24_000
    assert count(app) == 0


def test_forty_thousand_unknown_fields_are_one_error(app, kiosk):
    client, token = kiosk
    body = valid(token) | {f"f{i}": 1 for i in range(40_000)}
    reply, _ = post(client, body)
    assert reply.status_code == 400
    data = reply.get_json()
    (error,) = data["errors"]
    assert error["code"] == "too_many_fields" and "40000" in error["message"]
    assert len(reply.data) < 1_000
    assert count(app) == 0


@pytest.mark.parametrize("where", ["item", "field", "code", "unit"])
def test_a_huge_value_is_not_echoed_back_whole(app, kiosk, where):
    client, token = kiosk
    body = valid(token)
    huge = "x" * 300_000
    if where == "item":
        body["answers"][huge] = "1"
    elif where == "field":
        body[huge] = "1"
    elif where == "code":
        body["answers"]["tiep_can_1"] = huge
    else:
        body["unit"] = huge
    reply, _ = post(client, body)
    assert reply.status_code == 400
    assert len(reply.data) < 2_000  # the value is named by its first characters, not repeated
    assert "x" * 79 + "…" in json.dumps(reply.get_json(), ensure_ascii=False)
    assert count(app) == 0


def test_cap_errors_keeps_short_lists_and_counts_the_rest():
    _, few = validate_answers(SIPAS_2017, {"a": 1, "b": 2})
    assert cap_errors(few) == few
    _, many = validate_answers(SIPAS_2017, {f"k{i}": 1 for i in range(120)})
    capped = cap_errors(many, limit=10)
    assert capped[:10] == many[:10] and len(capped) == 11
    assert len(many) > 120  # the unknown keys, and the required items not answered
    assert capped[-1].code == "more_errors" and f"và {len(many) - 10} lỗi khác" in capped[-1].message


# ------------------------------------------------------------------------------------- dates
NOW = datetime.now(UTC)
OUT_OF_RANGE = {
    "year 1": "0001-01-01T00:00:00+07:00",  # overflows when turned into UTC
    "year 1 UTC": "0001-01-01T00:00:00Z",
    "year 9999": "9999-12-31T23:59:59-07:00",  # overflows the other way
    "year 9999 UTC": "9999-12-31T23:59:59Z",
    "9999-01-01": "9999-01-01T00:00:00+07:00",
    "far future": "2100-01-01T00:00:00+07:00",
    "two days ahead": (NOW + timedelta(days=2)).isoformat(),
    "before 2000": "1999-12-31T09:59:59Z",  # 1999-12-31 23:59:59 at UTC+14, the earliest zone
    "a reset tablet clock": "1970-01-01T00:00:00Z",
}
IN_RANGE = {
    "a normal date": "2024-05-02T08:04:10+07:00",
    "first moment": "2000-01-01T00:00:00+14:00",
    "a clock an hour ahead": (NOW + timedelta(hours=1)).isoformat(),
}


@pytest.mark.parametrize("field", ["started_at", "submitted_at"])
@pytest.mark.parametrize("value", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
def test_an_envelope_time_out_of_range_is_a_400_naming_the_field(app, kiosk, field, value):
    client, token = kiosk
    reply, _ = post(client, valid(token, **{field: value}))
    assert reply.status_code == 400, reply.get_json()
    (error,) = reply.get_json()["errors"]
    assert error["item"] == field and error["code"] == "out_of_range"
    assert "2000-01-01" in error["message"] and "đồng hồ" in error["message"]
    assert "2000-01-01" in error["message_en"]
    assert count(app) == 0


@pytest.mark.parametrize("field", ["started_at", "submitted_at"])
@pytest.mark.parametrize("value", list(IN_RANGE.values()), ids=list(IN_RANGE))
def test_an_envelope_time_in_range_is_stored(app, kiosk, field, value):
    client, token = kiosk
    body = valid(token, **{field: value})
    if field == "started_at" and value > body["submitted_at"]:
        body["submitted_at"] = value
    reply, _ = post(client, body)
    assert reply.status_code == 201, reply.get_json()
    assert count(app) == 1


@pytest.mark.parametrize("item", ["bat_dau", "ket_thuc"])  # the questionnaire's start and end items
@pytest.mark.parametrize(
    "value, status",
    [*((v, 400) for v in OUT_OF_RANGE.values()), *((v, 201) for v in IN_RANGE.values())],
    ids=[*OUT_OF_RANGE, *IN_RANGE],
)
def test_a_start_or_end_item_out_of_range_is_a_400_naming_the_item(app, kiosk, item, value, status):
    client, token = kiosk
    body = valid(token)
    body["answers"][item] = value
    reply, _ = post(client, body)
    assert reply.status_code == status, reply.get_json()
    if status == 400:
        (error,) = reply.get_json()["errors"]
        assert error["item"] == item and error["code"] == "out_of_range"
        assert f"câu '{item}'" in error["message"] and "2000-01-01" in error["message"]
    assert count(app) == (status == 201)


def test_a_kiosk_form_arriving_after_closing_with_a_year_9999_time_is_refused_cleanly(app, make_campaign):
    from survey.models import Campaign

    campaign_id, tokens = make_campaign("sipas-2017")
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        campaign.status, campaign.closed_at = "closed", datetime(2024, 6, 1, tzinfo=UTC)
    reply, _ = post(app.test_client(), valid(tokens["tra-xuan"], submitted_at="9999-12-31T23:59:59-07:00"))
    assert reply.status_code == 403 and reply.get_json()["error"] == "campaign_closed"


def test_parse_timestamp_refuses_the_range_with_its_own_error():
    now = datetime(2024, 5, 2, tzinfo=UTC)
    assert parse_timestamp("2024-05-02T08:00:00+07:00", now=now) == datetime(2024, 5, 2, 1, tzinfo=UTC)
    assert parse_timestamp("2024-05-02T23:00:00Z", now=now)  # within a day ahead
    for value in ("2024-05-03T00:00:01Z", "0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-07:00"):
        with pytest.raises(TimestampOutOfRange):
            parse_timestamp(value, now=now)
    with pytest.raises(TimestampOutOfRange):
        parse_timestamp(datetime(1, 1, 1, tzinfo=UTC), now=now)
    with pytest.raises(ValueError, match="not an ISO 8601") as info:
        parse_timestamp("2024-13-01T00:00:00Z", now=now)
    assert not isinstance(info.value, TimestampOutOfRange)


# ------------------------------------------------------------------------ paper entry's date
PAPER = {
    "linh_vuc": "dat_dai",
    "gioi_tinh": "1",
    "do_tuoi": "4",
    "dan_toc": "2",
    "so_lan_di_lai": "3",
    "da_gop_y": "1",
}


@pytest.fixture
def clerk(make_app, make_campaign):
    """A logged-in analyst's client (analysts may key paper forms), the app and a campaign id."""
    app = make_app(WTF_CSRF_ENABLED=False)
    with app.app_context(), session_scope() as session:
        create_user(session, "phan_tich", "mat-khau-phan-tich", "analyst", full_name="Cán bộ phân tích")
    campaign_id, _ = make_campaign("sipas-2017")
    client = app.test_client()
    login = client.post("/admin/login", data={"username": "phan_tich", "password": "mat-khau-phan-tich"})
    assert login.status_code == 302
    return client, app, campaign_id


@pytest.mark.parametrize(
    "day, saved",
    [("0001-01-01", False), ("1999-12-31", False), ("9999-12-31", False), ("2100-01-01", False)]
    + [("2000-01-01", True), ("2024-05-02", True)],
)
def test_the_paper_form_date_out_of_range_is_a_field_error(clerk, day, saved):
    client, app, campaign_id = clerk
    page = client.get(f"/admin/campaigns/{campaign_id}/entry").get_data(as_text=True)
    instance_id = re.search(r'name="entry_instance_id" type="hidden" value="([0-9a-f-]{36})"', page).group(1)
    form = {"entry_unit": "tra-xuan", "entry_date": day, "entry_instance_id": instance_id}
    form |= PAPER | {code: "4" for code in LIKERT}
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert b"Traceback" not in reply.data
    if saved:
        assert reply.status_code == 302, re.findall(r"error[^<]{0,200}", reply.get_data(as_text=True))
        assert count(app) == 1
    else:
        assert reply.status_code == 422
        html = reply.get_data(as_text=True)
        expected = "không thể ở tương lai" if day > "2099" else "Ngày trên phiếu phải từ 01/01/2000 trở đi."
        assert expected in html
        assert count(app) == 0


# ------------------------------------------------------------------------------ CSV downloads
def test_csv_downloads_name_one_charset(clerk):
    client, app, campaign_id = clerk
    with app.app_context(), session_scope() as session:
        from survey.campaigns import create_kiosk
        from survey.models import Campaign

        token = create_kiosk(session, session.get(Campaign, campaign_id), "tra-giang")[1]
    assert post(app.test_client(), valid(token))[0].status_code == 201
    for path in ("responses.csv", "responses/revisions.csv"):
        reply = client.get(f"/admin/campaigns/{campaign_id}/{path}")
        body = reply.data
        reply.close()  # the download is a spooled temporary file
        assert reply.status_code == 200, path
        assert reply.headers["Content-Type"] == "text/csv; charset=utf-8", path
        assert body.startswith(b"\xef\xbb\xbf")
