"""Hostile input through the staff forms (login, paper entry), and free text on its way out: escaped in
the admin pages, neutralised in CSV, text (never a formula) in XLSX. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from openpyxl.utils.escape import unescape
from sqlalchemy import func, select

from questionnaires import QuestionType, load_questionnaire
from reports.responses import neutralise, write_responses_csv, write_responses_xlsx
from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope
from survey.models import AuditEvent, Response, User
from survey.users import create_user
from survey.validation import has_control_characters

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORD = "mật-khẩu-đủ-dài-1"
FORMS = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What people (or attackers) type into free-text boxes. Browsers cannot send lone surrogates.
typed = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)
HOSTILE_TEXT = [
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
    '=HYPERLINK("http://203.0.113.1","bấm")',
    "+1+1",
    "-1-1",
    "@SUM(A1:A9)",
    "=1+1\n=2+2",
    "'; DROP TABLE responses; --",
    "{{ config }}",
    "Ý kiến: “tốt” & <đẹp>",
]


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    monkeypatch.setattr("survey.users.PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def staff(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT=0)
    with app.app_context(), session_scope() as session:
        users = {
            role: create_user(session, f"{role}-1", PASSWORD, role).id for role in ("admin", "enumerator")
        }
        campaign = create_campaign(
            session, name="Khảo sát SIPAS", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        campaign_id = campaign.id
    from conftest import assign_enumerators

    assign_enumerators(app, campaign_id)  # the enumerator keys every unit (survey.assignments)
    app.config["test.users"] = users
    app.config["test.campaign"] = campaign_id
    return app


def _as(app, role):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = app.config["test.users"][role]
    return client


def _count(app, model, *where) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _text(reply) -> str:
    return reply.get_data(as_text=True)


# -------------------------------------------------------------------------------------------- login
@settings(FORMS, max_examples=15)  # each refused name costs a real scrypt check (timing parity)
@given(username=typed | st.sampled_from(HOSTILE_TEXT + ["admin-1", "ADMIN-1 ", "a" * 300]), password=typed)
def test_the_login_form_never_fails_on_what_is_typed(staff, username, password):
    client = staff.test_client()
    before = _count(staff, AuditEvent)
    reply = client.post("/admin/login", data={"username": username, "password": password})
    assert reply.status_code in (200, 401), reply.status_code  # a form error, or a refused login
    assert "Traceback" not in _text(reply)
    with client.session_transaction() as sess:
        assert "user_id" not in sess
    # A refused attempt is audited once; a form that did not validate (empty, too long) is not.
    assert _count(staff, AuditEvent) - before == (1 if reply.status_code == 401 else 0)


def test_login_with_raw_invalid_utf8_and_nul(staff):
    client = staff.test_client()
    for body in (b"username=%FF%FE&password=%00%00", b"username=admin-1%00&password=x", b"\xff\xfe=\x00"):
        reply = client.post("/admin/login", data=body, content_type="application/x-www-form-urlencoded")
        assert reply.status_code in (200, 401)
    assert _count(staff, User, User.failed_logins > 0) == 0  # "admin-1\x00" is not admin-1


# -------------------------------------------------------------------------------------- paper entry
def _entry_fields():
    fields = {}
    for q in SIPAS_2017.questions():
        if q.type.is_metadata or not q.type.is_answerable:
            continue
        if q.type is QuestionType.SINGLE:
            codes = list(SIPAS_2017.choice_list(q).codes)
            fields[q.code] = st.sampled_from(codes) | typed
        elif q.type is QuestionType.INTEGER:
            fields[q.code] = st.sampled_from(["3", "0", "21", "-1", "1e3", "٣"]) | typed
        else:
            fields[q.code] = typed | st.sampled_from(HOSTILE_TEXT)
    fields["entry_unit"] = st.sampled_from(["tra-xuan", "khong-co", ""]) | typed
    fields["entry_date"] = st.sampled_from(["2024-05-02", "2099-01-01", "02/05/2024", ""]) | typed
    fields["entry_instance_id"] = st.sampled_from(["", "not-a-uuid"]) | st.uuids().map(str) | typed
    return fields


ENTRY_FIELDS = _entry_fields()


@st.composite
def entry_forms(draw):
    names = draw(st.lists(st.sampled_from(sorted(ENTRY_FIELDS)), unique=True, max_size=len(ENTRY_FIELDS)))
    data = {name: draw(ENTRY_FIELDS[name]) for name in names}
    for _ in range(draw(st.integers(0, 2))):
        data[draw(typed.filter(bool))] = draw(typed)  # fields the form does not have
    return data


@FORMS
@given(data=entry_forms())
def test_the_paper_entry_form_stores_valid_forms_once_and_nothing_else(staff, data):
    client = _as(staff, "enumerator")
    before = _count(staff, Response)
    reply = client.post(f"/admin/campaigns/{staff.config['test.campaign']}/entry", data=data)
    assert reply.status_code in (302, 422), reply.status_code
    page = _text(reply)
    assert "Traceback" not in page
    stored = _count(staff, Response) - before
    if reply.status_code == 302:
        assert stored in (0, 1)  # 0: the same paper form again (its instance id is already stored)
    else:
        assert stored == 0
        for value in data.values():  # whatever was typed comes back escaped, never as markup
            if "<" in value and len(value) > 3:
                assert value not in page


def test_paper_entry_with_raw_invalid_utf8_stores_nothing(staff):
    client = _as(staff, "enumerator")
    url = f"/admin/campaigns/{staff.config['test.campaign']}/entry"
    for body in (b"entry_unit=tra-xuan&gop_y=%FF%FE%00", b"entry_unit=%00&linh_vuc=%C0%80", b"\xff=\xfe"):
        reply = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
        assert reply.status_code == 422
    assert _count(staff, Response) == 0


# ---------------------------------------------------------------------------- free text in HTML pages
def test_free_text_is_escaped_in_every_admin_page(staff):
    name, counter, full_name, comment = (
        "<script>alert('tên')</script> & “Trà Bồng”",
        '"><img src=x onerror=alert(1)>',
        "Nguyễn <b>Văn</b> A",
        "<iframe src=//203.0.113.1></iframe>",
    )
    with staff.app_context(), session_scope() as session:
        campaign = create_campaign(session, name=name, questionnaire="sipas-2017", unit_list="tra-bong-2023")
        kiosk, token = create_kiosk(session, campaign, "tra-xuan", counter=counter)
        create_user(session, "nguoi-moi", PASSWORD, "analyst", full_name=full_name)
        campaign_id = campaign.id
    from conftest import assign_enumerators

    assign_enumerators(staff, campaign_id)
    admin = _as(staff, "admin")
    enumerator_id = staff.config["test.users"]["enumerator"]
    pages = {
        "dashboard": _text(admin.get("/admin/")),
        "assignments": _text(admin.get(f"/admin/users/{enumerator_id}/assignments")),
        "campaign": _text(admin.get(f"/admin/campaigns/{campaign_id}")),
        "users": _text(admin.get("/admin/users")),
        "kiosk": _text(staff.test_client().get(f"/k/{token}")),
    }
    assert str(escape(name)) in pages["dashboard"] and str(escape(name)) in pages["campaign"]
    assert str(escape(name)) in pages["assignments"]
    assert str(escape(counter)) in pages["campaign"]
    assert str(escape(full_name)) in pages["users"]
    for page_name, html in pages.items():
        for text in (name, counter, full_name):
            assert text not in html, (page_name, text)
        assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")

    # A paper form with an error is shown again with what was typed: escaped, not markup.
    entry = _as(staff, "enumerator").post(
        f"/admin/campaigns/{campaign_id}/entry", data={"entry_unit": "tra-xuan", "gop_y": comment}
    )
    assert entry.status_code == 422
    assert comment not in _text(entry) and str(escape(comment)) in _text(entry)


# ----------------------------------------------------------------------------------- CSV and XLSX
def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, so that Excel reads the diacritics
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _xlsx_cells(data: bytes) -> dict[str, list]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return {name: [row[i] for row in rows[1:]] for i, name in enumerate(header)}


def _storable(text: str) -> bool:
    """Text the validator lets through: stripped, no control characters but tab and new lines."""
    return (
        text == text.strip() and bool(text) and not has_control_characters(text, allowed={"\t", "\n", "\r"})
    )


@settings(FORMS, max_examples=40)
@given(
    texts=st.lists(
        (
            typed | st.sampled_from(HOSTILE_TEXT) | st.tuples(st.sampled_from("=+-@"), typed).map("".join)
        ).filter(_storable),
        min_size=1,
        max_size=6,
    )
)
def test_free_text_round_trips_neutralised_in_csv_and_as_text_in_xlsx(texts):
    frame = pd.DataFrame(
        {
            "response_id": [str(uuid.uuid4()) for _ in texts],
            "unit": texts,  # any text column, not only the answers
            "gop_y": texts,
        }
    )
    out = io.BytesIO()
    write_responses_csv(SIPAS_2017, frame, out)
    header, *rows = _csv_rows(out.getvalue())
    assert header[:2] == ["response_id", "unit"] and "gop_y" in header
    column = header.index("gop_y")
    for text, row in zip(texts, rows, strict=True):
        cell = row[column]
        assert cell == neutralise(text)
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))  # never read as a formula
        assert cell.removeprefix("'") == text or cell == text  # and nothing lost

    out = io.BytesIO()
    write_responses_xlsx(SIPAS_2017, frame, out, codebook=False, constant_memory=False)
    cells = _xlsx_cells(out.getvalue())
    for text, cell in zip(texts, cells["gop_y"], strict=True):
        assert cell.data_type == "s", (text, cell.data_type)  # a string cell, never a formula
        assert unescape(cell.value) == text  # a carriage return is stored as _x000D_, as OOXML says


def test_an_admin_download_keeps_hostile_answers_safe(staff):
    """End to end: answers typed on a tablet, downloaded by an analyst as CSV and XLSX."""
    with staff.app_context(), session_scope() as session:
        from survey.models import Campaign

        campaign = session.get(Campaign, staff.config["test.campaign"])
        _, token = create_kiosk(session, campaign, "tra-xuan")
    api = staff.test_client()
    from conftest import full_answers, submission

    for text in HOSTILE_TEXT:
        body = submission(SIPAS_2017, token, full_answers(SIPAS_2017, {"gop_y": text}))
        assert api.post("/api/v1/responses", json=body).status_code == 201
    admin = _as(staff, "admin")
    campaign_id = staff.config["test.campaign"]
    csv_reply = admin.get(f"/admin/campaigns/{campaign_id}/responses.csv")
    assert csv_reply.status_code == 200
    header, *rows = _csv_rows(csv_reply.get_data())
    got = sorted(row[header.index("gop_y")] for row in rows)
    assert got == sorted(neutralise(t.strip()) for t in HOSTILE_TEXT)
    xlsx_reply = admin.get(f"/admin/campaigns/{campaign_id}/responses.xlsx")
    cells = _xlsx_cells(xlsx_reply.get_data())
    assert sorted(c.value for c in cells["gop_y"]) == sorted(t.strip() for t in HOSTILE_TEXT)
    assert {c.data_type for c in cells["gop_y"]} == {"s"}
    for reply in (csv_reply, xlsx_reply):
        reply.close()
    assert "<script>alert" not in _text(admin.get(f"/admin/campaigns/{campaign_id}"))
