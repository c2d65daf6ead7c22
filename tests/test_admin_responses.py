"""The response review pages through Flask's test client, on SQLite and PostgreSQL: list and filters, the
detail page, review states, corrections, bulk changes with confirmation, roles and CSRF."""

from __future__ import annotations

import re
import uuid

import pytest
from conftest import assign_enumerators, full_answers
from sqlalchemy import func, select

from questionnaires import load_questionnaire
from survey.admin import responses as response_pages
from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope
from survey.models import AuditEvent, Campaign, Response, ResponseRevision, User
from survey.storage import save_response
from survey.users import create_user

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORDS = {
    "quan_tri": "mat-khau-quan-tri",
    "chuyen_vien": "mat-khau-chuyen-vien",
    "dieu_tra": "mat-khau-dieu-tra",
    "dieu_tra_2": "mat-khau-dieu-tra-2",
}
ROLE_OF = {
    "quan_tri": "admin",
    "chuyen_vien": "analyst",
    "dieu_tra": "enumerator",
    "dieu_tra_2": "enumerator",
}
HOSTILE = '<script>alert("x")</script> phòng chờ nóng'


def _seed(app) -> tuple[int, dict[str, str]]:
    """Accounts, a campaign and four responses: a kiosk form, an API form, and one paper form per clerk."""
    with app.app_context(), session_scope() as session:
        people = {
            name: create_user(session, name, password, ROLE_OF[name], full_name=f"Cán bộ {name}")
            for name, password in PASSWORDS.items()
        }
        campaign = create_campaign(
            session, name="Khảo sát SIPAS 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        kiosk, _ = create_kiosk(session, campaign, "tra-xuan", counter="Quầy 1")
        session.commit()
        campaign_id = campaign.id
    assign_enumerators(app, campaign_id)  # both clerks key every unit (survey.assignments)

    def store(
        unit, likert, source, *, kiosk=None, entered_by=None, submitted="2024-05-02T08:04:10+07:00", **over
    ):
        with app.app_context(), session_scope() as session:
            campaign = session.get(Campaign, campaign_id)
            response, _ = save_response(
                session,
                campaign=campaign,
                unit_code=unit,
                instance_id=str(uuid.uuid4()),
                answers=full_answers(SIPAS_2017, {"da_gop_y": "1", **over}, likert=likert),
                questionnaire_id="sipas-2017",
                version=campaign.questionnaire_version,
                started_at="2024-05-02T08:01:00+07:00",
                submitted_at=submitted,
                source=source,
                kiosk=session.get(type(kiosk), kiosk.id) if kiosk is not None else None,
                entered_by=entered_by,
            )
            return response.instance_id

    ids = {
        "kiosk": store("tra-xuan", "4", "kiosk", kiosk=kiosk, gop_y=HOSTILE),
        "api": store("tra-xuan", "2", "api", submitted="2024-05-03T08:00:00+07:00"),
        "mine": store("tra-bui", "5", "paper", entered_by=people["dieu_tra"].id),
        "theirs": store("tra-bui", "3", "paper", entered_by=people["dieu_tra_2"].id),
    }
    return campaign_id, ids


@pytest.fixture
def staff_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.fixture
def seeded(staff_app):
    return _seed(staff_app)


def login(app, username: str):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": PASSWORDS[username]})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


def text(reply) -> str:
    return reply.get_data(as_text=True)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-response="([0-9a-f-]{36})"', html)


def stored(app, iid: str) -> Response:
    with app.app_context(), session_scope() as session:
        response = session.scalars(select(Response).where(Response.instance_id == iid)).one()
        session.expunge(response)
        return response


def after_campaign(app, iid: str) -> int:
    return stored(app, iid).campaign_id


def count(app, model) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------------------------------------- list
def test_the_list_filters_pages_and_shows_enumerators_only_their_paper_forms(staff_app, seeded, monkeypatch):
    campaign_id, ids = seeded
    url = f"/admin/campaigns/{campaign_id}/responses"
    assert staff_app.test_client().get(url).status_code == 302  # login first
    analyst = login(staff_app, "chuyen_vien")
    campaign_page = text(analyst.get(f"/admin/campaigns/{campaign_id}"))
    assert f'href="{url}"' in campaign_page and "Xem và duyệt phiếu" in campaign_page

    page = analyst.get(url)
    assert page.status_code == 200 and "4 phiếu" in text(page)
    assert listed(text(page)) == [ids[k] for k in ("theirs", "mine", "api", "kiosk")]
    assert "Máy tính bảng · Quầy 1" in text(page) and "Phiếu giấy · dieu_tra" in text(page)
    assert listed(text(analyst.get(url, query_string={"unit": "tra-xuan"}))) == [ids["api"], ids["kiosk"]]
    assert listed(text(analyst.get(url, query_string={"source": "paper", "unit": "tra-bui"}))) == [
        ids["theirs"],
        ids["mine"],
    ]
    assert listed(text(analyst.get(url, query_string={"since": "2024-05-03"}))) == [ids["api"]]
    assert listed(text(analyst.get(url, query_string={"text": "PHÒNG CHỜ"}))) == [ids["kiosk"]]
    assert listed(text(analyst.get(url, query_string={"state": "rejected"}))) == []
    bad_source = analyst.get(url, query_string={"source": "fax"})
    assert bad_source.status_code == 422 and "nguồn phiếu &#39;fax&#39; không hợp lệ" in text(bad_source)
    reversed_range = analyst.get(url, query_string={"since": "2024-05-03", "until": "2024-05-01"})
    assert reversed_range.status_code == 422 and "Ngày kết thúc phải sau ngày bắt đầu" in text(reversed_range)

    monkeypatch.setattr(response_pages, "PER_PAGE", 3)
    first = text(analyst.get(url, query_string={"source": ""}))
    assert listed(first) == [ids[k] for k in ("theirs", "mine", "api")] and "Trang 1 / 2" in first
    assert re.search(r'href="[^"]*page=2[^"]*" rel="next"', first)
    assert listed(text(analyst.get(url, query_string={"page": 2}))) == [ids["kiosk"]]

    clerk = login(staff_app, "dieu_tra")
    own = text(clerk.get(url))
    assert listed(own) == [ids["mine"]] and 'name="ids"' not in own  # no bulk review for enumerators
    assert clerk.get(f"/admin/responses/{ids['mine']}").status_code == 200
    assert clerk.get(f"/admin/responses/{ids['theirs']}").status_code == 403
    assert clerk.get(f"/admin/responses/{ids['kiosk']}/edit").status_code == 403
    assert clerk.get(f"/admin/responses/{uuid.uuid4()}").status_code == 404
    assert clerk.get("/admin/responses/khong-phai-ma").status_code == 404


# -------------------------------------------------------------------------------------------- detail
def test_the_detail_page_shows_every_answer_with_its_label_and_the_metadata(staff_app, seeded):
    _, ids = seeded
    page = login(staff_app, "chuyen_vien").get(f"/admin/responses/{ids['kiosk']}")
    html = text(page)
    assert page.status_code == 200
    for code in full_answers(SIPAS_2017, {"da_gop_y": "1"}, likert="4"):
        row = re.search(rf'<tr data-code="{code}">(.*?)</tr>', html, re.S)
        assert row, code
        assert SIPAS_2017.question(code).label.vi in row.group(1)
    assert re.search(r'data-code="tiep_can_1">.*?4 — Hài lòng', html, re.S)
    assert ids["kiosk"] in html and "Quầy 1" in html and "Máy tính bảng" in html
    assert "3 phút 10 giây" in html and "02/05/2024 08:01:00" in html  # Vietnam time
    assert "sipas-2017</code> phiên bản" in html and "Đã nhận" in html
    assert HOSTILE not in html and "&lt;script&gt;alert(" in html  # free text is escaped
    assert "Chưa sửa lần nào" in html and "Chưa có thao tác nào" in html


# -------------------------------------------------------------------------------------------- review
def test_review_state_changes_need_a_reason_to_reject_and_are_audited(staff_app, seeded):
    _, ids = seeded
    analyst = login(staff_app, "chuyen_vien")
    url = f"/admin/responses/{ids['api']}/review"
    missing = analyst.post(url, data={"state": "rejected", "reason": "  "})
    assert missing.status_code == 422 and "Cần ghi lý do khi loại phiếu" in text(missing)
    assert stored(staff_app, ids["api"]).review_state == "received"

    done = analyst.post(url, data={"state": "rejected", "reason": "Phiếu do cán bộ xã điền"})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/responses/{ids['api']}"
    page = text(analyst.get(done.headers["Location"]))
    assert "Đã chuyển phiếu sang trạng thái “Bị loại (không tính điểm)”" in page
    assert "Lý do: Phiếu do cán bộ xã điền" in page and "Đã nhận → Bị loại (không tính điểm)" in page
    response = stored(staff_app, ids["api"])
    assert (response.review_state, response.review_reason) == ("rejected", "Phiếu do cán bộ xã điền")
    assert ids["api"] not in listed(
        text(analyst.get(f"/admin/campaigns/{response.campaign_id}/responses?state=received"))
    )

    assert analyst.post(url, data={"state": "received", "reason": "Đã xác minh"}).status_code == 302
    with staff_app.app_context(), session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("response_%"))).all()
        assert [(e.action, e.username, e.detail["response_id"]) for e in events] == [
            ("response_excluded", "chuyen_vien", ids["api"]),
            ("response_restored", "chuyen_vien", ids["api"]),
        ]
    clerk = login(staff_app, "dieu_tra")
    assert clerk.post(f"/admin/responses/{ids['mine']}/review", data={"state": "approved"}).status_code == 403
    assert stored(staff_app, ids["mine"]).review_state == "received"


def test_review_forms_need_the_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    _, ids = _seed(app)
    client = app.test_client()
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', text(client.get("/admin/login"))
    ).group(1)
    client.post(
        "/admin/login",
        data={"username": "chuyen_vien", "password": PASSWORDS["chuyen_vien"], "csrf_token": token},
    )
    refused = client.post(f"/admin/responses/{ids['api']}/review", data={"state": "approved"})
    assert refused.status_code == 400 and stored(app, ids["api"]).review_state == "received"
    page = text(client.get(f"/admin/responses/{ids['api']}"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = client.post(f"/admin/responses/{ids['api']}/review", data={"state": "approved", "csrf_token": token})
    assert ok.status_code == 302 and stored(app, ids["api"]).review_state == "approved"

    campaign_id = stored(app, ids["api"]).campaign_id
    bulk = f"/admin/campaigns/{campaign_id}/responses/bulk"
    asked = {"ids": [ids["kiosk"]], "bulk-state": "has_issues", "bulk-confirmed": "1"}
    assert client.post(bulk, data=asked).status_code == 400
    listing = text(client.get(f"/admin/campaigns/{campaign_id}/responses"))
    token = re.search(r'name="bulk-csrf_token" type="hidden" value="([^"]+)"', listing).group(1)
    assert client.post(bulk, data={**asked, "bulk-csrf_token": token}).status_code == 302
    assert stored(app, ids["kiosk"]).review_state == "has_issues"


# ------------------------------------------------------------------------------------------ correct
def _posted(answers: dict) -> dict:
    return {k: (v if isinstance(v, list) else str(v)) for k, v in answers.items()}


def test_a_correction_through_the_page_stores_a_revision_and_keeps_the_original(staff_app, seeded):
    _, ids = seeded
    clerk = login(staff_app, "dieu_tra")
    url = f"/admin/responses/{ids['mine']}/edit"
    form = text(clerk.get(url))
    assert re.search(r'<input [^>]*checked id="tiep_can_1-4" name="tiep_can_1" type="radio" value="5">', form)
    assert (
        re.search(r'<input [^>]*name="so_lan_di_lai" type="text" value="2">', form)
        and 'id="entry-form"' in form
    )
    original = stored(staff_app, ids["mine"])
    edited = _posted({**original.answers, "tiep_can_2": "1"})

    no_reason = clerk.post(url, data=edited)
    assert no_reason.status_code == 422 and "Cần ghi lý do sửa phiếu" in text(no_reason)
    bad_code = clerk.post(url, data={**edited, "tiep_can_3": "9", "correction_reason": "Sửa"})
    assert bad_code.status_code == 422
    assert re.findall(r'class="entry-item--invalid" data-code="([a-z_0-9]+)"', text(bad_code)) == [
        "tiep_can_3"
    ]
    unchanged = clerk.post(url, data={**_posted(original.answers), "correction_reason": "Xem lại"})
    assert unchanged.status_code == 422 and "không có câu trả lời nào thay đổi" in text(unchanged)
    assert count(staff_app, ResponseRevision) == 0

    done = clerk.post(url, data={**edited, "correction_reason": "Đối chiếu phiếu giấy: câu 2 là 1"})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/responses/{ids['mine']}"
    page = text(clerk.get(done.headers["Location"]))
    assert "Đã lưu bản sửa số 1 (1 câu thay đổi)" in page
    assert re.search(
        r'<tr data-code="tiep_can_2" data-changed>.*?1 — Rất không hài lòng.*?5 — Rất hài lòng', page, re.S
    )
    assert "Đối chiếu phiếu giấy: câu 2 là 1" in page and "Sửa (bản số 1)" in page

    # A page opened before that correction (base 0) does not overwrite it.
    assert 'name="correction_base" type="hidden" value="1"' in text(clerk.get(url))  # the page now
    late = clerk.post(
        url, data={**edited, "tiep_can_2": "3", "correction_reason": "Trang cũ", "correction_base": "0"}
    )
    assert late.status_code == 422 and "phiếu đã được sửa (bản số 1) sau khi bạn mở trang" in text(late)
    assert count(staff_app, ResponseRevision) == 1

    analyst = login(staff_app, "chuyen_vien")
    assert (
        clerk.get(
            f"/admin/campaigns/{after_campaign(staff_app, ids['mine'])}/responses/revisions.csv"
        ).status_code
        == 403
    )
    download = analyst.get(
        f"/admin/campaigns/{after_campaign(staff_app, ids['mine'])}/responses/revisions.csv"
    )
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Disposition"].endswith("_lich-su-sua.csv")
    lines = download.get_data().decode("utf-8-sig").splitlines()
    download.close()
    assert lines[0] == "response_id,unit,revision,revised_at,revised_by,reason,item,old,new"
    when = lines[1].split(",")[3]
    assert lines[1:] == [
        f"{ids['mine']},tra-bui,1,{when},dieu_tra,Đối chiếu phiếu giấy: câu 2 là 1,tiep_can_2,5,1"
    ]

    after = stored(staff_app, ids["mine"])
    assert after.answers == original.answers and after.content_hash == original.content_hash
    assert after.current_answers == {**original.answers, "tiep_can_2": "1"}
    with staff_app.app_context(), session_scope() as session:
        revision = session.scalars(select(ResponseRevision)).one()
        clerk_id = session.scalar(select(User.id).where(User.username == "dieu_tra"))
        assert (revision.number, revision.user_id, revision.changes) == (
            1,
            clerk_id,
            [{"item": "tiep_can_2", "old": "5", "new": "1"}],
        )


# --------------------------------------------------------------------------------------------- bulk
def test_bulk_state_change_asks_for_confirmation_first(staff_app, seeded):
    campaign_id, ids = seeded
    analyst = login(staff_app, "chuyen_vien")
    list_url = f"/admin/campaigns/{campaign_id}/responses"
    page = text(analyst.get(list_url))
    assert 'name="ids"' in page and 'name="bulk-state"' in page and 'id="bulk-state"' in page
    url = f"{list_url}/bulk"
    chosen = [ids["kiosk"], ids["api"]]

    nothing = analyst.post(url, data={"bulk-state": "approved"})
    assert nothing.status_code == 302 and "Chưa chọn phiếu nào" in text(
        analyst.get(nothing.headers["Location"])
    )

    ask = analyst.post(
        url,
        data={
            "ids": chosen,
            "bulk-state": "rejected",
            "bulk-reason": "Cùng một người điền",
            "back": list_url,
        },
    )
    assert ask.status_code == 200 and "Đổi trạng thái 2 phiếu?" in text(ask)
    assert re.findall(r'<tr data-response="([0-9a-f-]{36})"', text(ask)) == chosen
    assert 'name="bulk-confirmed" type="hidden" value="1"' in text(ask)
    assert {stored(staff_app, i).review_state for i in chosen} == {"received"}  # nothing yet

    no_reason = analyst.post(
        url, data={"ids": chosen, "bulk-state": "rejected", "bulk-reason": "", "bulk-confirmed": "1"}
    )
    assert no_reason.status_code == 422 and "Cần ghi lý do khi loại phiếu" in text(no_reason)
    assert ids["kiosk"] in text(no_reason)  # the selection is kept on the page
    assert {stored(staff_app, i).review_state for i in chosen} == {"received"}

    done = analyst.post(
        url,
        data={
            "ids": chosen,
            "bulk-state": "rejected",
            "bulk-reason": "Cùng một người điền",
            "bulk-confirmed": "1",
            "back": list_url,
        },
    )
    assert done.status_code == 302 and done.headers["Location"] == list_url
    assert "Đã chuyển 2 phiếu sang trạng thái" in text(analyst.get(list_url))
    assert [stored(staff_app, i).review_state for i in ids.values()] == [
        "rejected",
        "rejected",
        "received",
        "received",
    ]
    with staff_app.app_context(), session_scope() as session:
        excluded = session.scalars(select(AuditEvent).where(AuditEvent.action == "response_excluded")).all()
        assert sorted(e.detail["response_id"] for e in excluded) == sorted(chosen)

    elsewhere = analyst.post(
        url, data={"ids": [str(uuid.uuid4())], "bulk-state": "approved", "bulk-confirmed": "1"}
    )
    assert elsewhere.status_code == 404
    clerk = login(staff_app, "dieu_tra")
    assert (
        clerk.post(
            url, data={"ids": [ids["mine"]], "bulk-state": "approved", "bulk-confirmed": "1"}
        ).status_code
        == 403
    )
