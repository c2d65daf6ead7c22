"""Staff pages through Flask's test client, on SQLite and PostgreSQL: login, CSRF, roles, campaigns, kiosk
links, paper-form entry, downloads, users, error pages."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from datetime import UTC, datetime

import openpyxl
import pytest
from conftest import assign_enumerators
from sqlalchemy import func, select

from questionnaires import load_questionnaire
from survey.campaigns import create_campaign, create_kiosk
from survey.db import session_scope
from survey.models import AuditEvent, Campaign, Kiosk, Response, User
from survey.users import create_user

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORDS = {
    "quan_tri": "mat-khau-quan-tri",
    "chuyen_vien": "mat-khau-chuyen-vien",
    "dieu_tra": "mat-khau-dieu-tra",
}
ROLE_OF = {"quan_tri": "admin", "chuyen_vien": "analyst", "dieu_tra": "enumerator"}


@pytest.fixture
def staff_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=False)
    _accounts(app)
    return app


def _accounts(app) -> None:
    with app.app_context(), session_scope() as session:
        for name, password in PASSWORDS.items():
            create_user(session, name, password, ROLE_OF[name], full_name=f"Cán bộ {name}")


@pytest.fixture
def campaign_id(staff_app) -> int:
    with staff_app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session,
            name="Khảo sát SIPAS 2024",
            questionnaire="sipas-2017",
            unit_list="tra-bong-2023",
            populations={"tra-xuan": 1200},
        )
        made = campaign.id
    assign_enumerators(staff_app, made)  # the enumerator keys every unit (survey.assignments)
    return made


def login(app, username: str):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": PASSWORDS[username]})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


def text(reply) -> str:
    return reply.get_data(as_text=True)


def block(html: str, code: str) -> str:
    """The HTML of one question's block on the entry page (from its data-code to the next one)."""
    start = html.index(f'data-code="{code}"')
    following = html.find("data-code=", start + 10)
    return html[start : following if following > 0 else len(html)]


def count(app, model) -> int:
    with app.app_context(), session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


# ------------------------------------------------------------------------------------ login/logout
def test_login_and_logout(staff_app):
    client = staff_app.test_client()
    away = client.get("/admin/")
    assert away.status_code == 302 and away.headers["Location"].startswith("/admin/login?next=")

    wrong = client.post("/admin/login", data={"username": "quan_tri", "password": "sai-mat-khau"})
    assert wrong.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in text(wrong)
    assert client.get("/admin/").status_code == 302

    page = client.get("/admin/login")
    assert page.status_code == 200 and "Đăng nhập" in text(page) and 'lang="vi"' in text(page)
    ok = client.post(
        "/admin/login?next=/admin/users", data={"username": "quan_tri", "password": PASSWORDS["quan_tri"]}
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/users"
    home = client.get("/admin/")
    assert home.status_code == 200 and "Cán bộ quan_tri" in text(home) and "Đăng xuất" in text(home)
    assert home.headers["Cache-Control"] == "no-store"

    out = client.post("/admin/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 302
    with staff_app.app_context(), session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login_failed", "login", "logout"]


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(staff_app, target):
    reply = staff_app.test_client().post(
        "/admin/login",
        query_string={"next": target},
        data={"username": "quan_tri", "password": PASSWORDS["quan_tri"]},
    )
    assert reply.headers["Location"] == "/admin/"


# --------------------------------------------------------------------------------------------- CSRF
def test_csrf_is_enforced_on_forms_but_not_on_the_token_api(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    _accounts(app)
    client = app.test_client()

    refused = client.post("/admin/login", data={"username": "quan_tri", "password": PASSWORDS["quan_tri"]})
    assert refused.status_code == 400
    assert "Phiên làm việc đã hết hạn" in text(refused)
    assert client.get("/admin/").status_code == 302  # not logged in

    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', text(client.get("/admin/login"))
    ).group(1)
    ok = client.post(
        "/admin/login", data={"username": "quan_tri", "password": PASSWORDS["quan_tri"], "csrf_token": token}
    )
    assert ok.status_code == 302
    assert client.post("/admin/logout").status_code == 400  # a forged logout does nothing
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/users", data={"username": "ke_gian", "role": "admin"}).status_code == 400
    assert count(app, User) == 3

    # The kiosk API authenticates with the kiosk token in the body, not the cookie: no CSRF token needed.
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session, name="Đợt thử", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        _, kiosk_token = create_kiosk(session, campaign, "tra-xuan")
    answers = {"linh_vuc": "ho_tich", "gioi_tinh": "1", "do_tuoi": "2", "da_gop_y": "2"}
    answers |= {q.code: "4" for q in SIPAS_2017.questions() if q.appearance == "likert" and not q.relevant}
    reply = app.test_client().post(
        "/api/v1/responses",
        json={
            "instance_id": str(uuid.uuid4()),
            "kiosk_token": kiosk_token,
            "questionnaire": "sipas-2017",
            "version": "2017.1",
            "answers": answers,
            "started_at": "2024-05-02T08:00:00+07:00",
            "submitted_at": "2024-05-02T08:05:00+07:00",
        },
    )
    assert reply.status_code == 201, reply.get_json()


# -------------------------------------------------------------------------------------------- roles
def test_analysts_get_403_on_user_management(staff_app):
    client = login(staff_app, "chuyen_vien")
    for method, url in [
        ("get", "/admin/users"),
        ("post", "/admin/users"),
        ("get", "/admin/users/1/password"),
        ("post", "/admin/users/1/password"),
        ("post", "/admin/users/1/active"),
    ]:
        reply = getattr(client, method)(url, data={"username": "moi", "role": "admin"})
        assert reply.status_code == 403, url
        assert "Không có quyền truy cập" in text(reply)
    assert count(staff_app, User) == 3


def test_enumerators_get_403_on_campaign_creation_kiosks_and_downloads(staff_app, campaign_id):
    client = login(staff_app, "dieu_tra")
    assert client.get("/admin/campaigns/new").status_code == 403
    assert client.post("/admin/campaigns/new", data={"name": "Đợt mới"}).status_code == 403
    assert client.post(f"/admin/campaigns/{campaign_id}/kiosks", data={"unit": "tra-xuan"}).status_code == 403
    assert client.get(f"/admin/campaigns/{campaign_id}/responses.csv").status_code == 403
    assert client.get(f"/admin/campaigns/{campaign_id}/responses.xlsx").status_code == 403
    assert count(staff_app, Campaign) == 1 and count(staff_app, Kiosk) == 0
    # ...but they see the campaign and enter paper forms, without the analyst's buttons.
    page = client.get(f"/admin/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "Nhập phiếu giấy" in text(page)
    assert "Tạo đường dẫn và mã QR" not in text(page) and "responses.csv" not in text(page)
    assert client.get(f"/admin/campaigns/{campaign_id}/entry").status_code == 200


def test_pages_need_a_login(staff_app, campaign_id):
    client = staff_app.test_client()
    for url in [
        "/admin/",
        "/admin/users",
        f"/admin/campaigns/{campaign_id}",
        f"/admin/campaigns/{campaign_id}/entry",
    ]:
        assert client.get(url).status_code == 302, url
    assert client.post(f"/admin/campaigns/{campaign_id}/entry", data={}).status_code == 302
    assert count(staff_app, Response) == 0


# ---------------------------------------------------------------------------------------- campaigns
def test_an_analyst_creates_a_campaign_with_targets(staff_app):
    client = login(staff_app, "chuyen_vien")
    page = client.get("/admin/campaigns/new")
    assert page.status_code == 200
    assert "sipas-2017" in text(page) and "Xã Trà Tây" in text(page)

    reply = client.post(
        "/admin/campaigns/new",
        data={
            "name": "SIPAS 2024 <huyện Trà Bồng>",
            "questionnaire": "sipas-2017",
            "unit_list": "tra-bong-2023",
            "period_start": "2024-05-01",
            "period_end": "2024-06-30",
            "margin_of_error": "0,05",  # a decimal comma
            "n__tra-xuan": "1.200",  # a thousands dot, as typed in Vietnam
            "n__tra-giang": "400",
            "t__tra-giang": "150",
        },
    )
    assert reply.status_code == 302, text(reply)
    with staff_app.app_context(), session_scope() as session:
        campaign = session.scalars(select(Campaign)).one()
        units = {u.unit_code: (u.population, u.target) for u in campaign.units}
        assert (campaign.name, campaign.questionnaire_id, campaign.period_end) == (
            "SIPAS 2024 <huyện Trà Bồng>",
            "sipas-2017",
            "2024-06-30",
        )
    assert units["tra-xuan"] == (1200, 300)  # 1200 / (1 + 1200 * 0.05²) = 300
    assert units["tra-giang"] == (400, 150)  # a typed target wins over Slovin (200)
    assert units["tra-tay"] == (None, None)
    dashboard = text(client.get("/admin/"))
    assert "SIPAS 2024 &lt;huyện Trà Bồng&gt;" in dashboard and "<huyện" not in dashboard


def test_a_bad_campaign_is_refused_with_a_message_and_nothing_stored(staff_app):
    client = login(staff_app, "chuyen_vien")
    data = {
        "name": "Đợt lỗi",
        "questionnaire": "sipas-2017",
        "unit_list": "tra-bong-2023",
        "period_start": "2024-06-30",
        "period_end": "2024-05-01",
        "margin_of_error": "0.05",
        "n__tra-xuan": "nhiều",
    }
    reply = client.post("/admin/campaigns/new", data=data)
    assert reply.status_code == 422
    assert "Nhập một số nguyên không âm." in text(reply)
    assert "Nhập một số, ví dụ 0,05." in text(
        client.post("/admin/campaigns/new", data={**data, "margin_of_error": "x"})
    )
    reply = client.post("/admin/campaigns/new", data={**data, "n__tra-xuan": "10"})
    assert reply.status_code == 422
    assert "trước ngày bắt đầu" in text(reply)
    assert 'value="Đợt lỗi"' in text(reply)  # what was typed is kept
    # The "show units" button re-draws the table and creates nothing.
    reloaded = client.post("/admin/campaigns/new", data={**data, "reload": "1"})
    assert reloaded.status_code == 200
    assert count(staff_app, Campaign) == 0


# ------------------------------------------------------------------------------------- kiosk links
def test_a_kiosk_link_is_shown_once_with_its_qr_code_and_can_be_revoked(staff_app, campaign_id):
    client = login(staff_app, "chuyen_vien")
    reply = client.post(
        f"/admin/campaigns/{campaign_id}/kiosks", data={"unit": "tra-giang", "counter": "Quầy 2"}
    )
    assert reply.status_code == 201
    html = text(reply)
    url = re.search(r'id="kiosk-url">(http://[^<]+)</a>', html).group(1)
    token = url.rsplit("/k/", 1)[1]
    assert url == f"http://localhost/k/{token}"
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert 'class="qr"' in svg and "viewBox" in svg and "style" not in svg and "<script" not in svg
    assert "Xã Trà Giang · Quầy 2" in html
    assert reply.headers["Cache-Control"] == "no-store"

    with staff_app.app_context(), session_scope() as session:
        kiosk = session.scalars(select(Kiosk)).one()
        assert kiosk.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (kiosk.unit_code, kiosk.counter, kiosk.token_hint) == ("tra-giang", "Quầy 2", token[:6])
        kiosk_id = kiosk.id
    assert staff_app.test_client().get(f"/k/{token}").status_code == 200

    campaign_page = text(client.get(f"/admin/campaigns/{campaign_id}"))
    assert token[:6] in campaign_page and token not in campaign_page  # later pages show the hint only

    revoked = client.post(f"/admin/campaigns/{campaign_id}/kiosks/{kiosk_id}/revoke")
    assert revoked.status_code == 302
    assert staff_app.test_client().get(f"/k/{token}").status_code == 403
    assert "Đã thu hồi" in text(client.get(f"/admin/campaigns/{campaign_id}"))


def test_kiosk_links_use_the_public_url_when_configured(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, PUBLIC_URL="https://sipas.trabong.gov.vn/")
    _accounts(app)
    with app.app_context(), session_scope() as session:
        cid = create_campaign(session, name="Đợt", questionnaire="sipas-2017", unit_list="tra-bong-2023").id
    reply = login(app, "quan_tri").post(f"/admin/campaigns/{cid}/kiosks", data={"unit": "tra-xuan"})
    assert re.search(r'id="kiosk-url">https://sipas\.trabong\.gov\.vn/k/[\w-]+</a>', text(reply))


# ------------------------------------------------------------------------------------- paper entry
PAPER = {
    "linh_vuc": "dat_dai",
    "gioi_tinh": "1",
    "do_tuoi": "4",
    "dan_toc": "2",
    "so_lan_di_lai": "3",
    "da_gop_y": "2",
    "gop_y": 'Cần hướng dẫn rõ hơn về hồ sơ đất đai; =HYPERLINK("x") <b>không</b> phải công thức',
}
PAPER_LIKERT = {
    q.code: str(1 + i % 5) for i, q in enumerate(SIPAS_2017.questions()) if q.appearance == "likert"
}


def _entry_page(client, campaign_id) -> str:
    page = client.get(f"/admin/campaigns/{campaign_id}/entry")
    assert page.status_code == 200
    return re.search(r'name="entry_instance_id" type="hidden" value="([0-9a-f-]{36})"', text(page)).group(1)


def test_paper_entry_stores_exactly_what_was_sent_once(staff_app, campaign_id):
    client = login(staff_app, "dieu_tra")
    instance_id = _entry_page(client, campaign_id)
    assert _entry_page(client, campaign_id) != instance_id  # a fresh id for every blank form
    likert = {k: v for k, v in PAPER_LIKERT.items() if not k.startswith("phan_anh")}
    form = {"entry_unit": "tra-xuan", "entry_date": "2024-05-02", "entry_instance_id": instance_id}
    form |= PAPER | likert
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert reply.status_code == 302, text(reply)
    assert reply.headers["Location"] == f"/admin/campaigns/{campaign_id}/entry?unit=tra-xuan"
    assert "Đã lưu phiếu cho Thị trấn Trà Xuân" in text(client.get(reply.headers["Location"]))

    with staff_app.app_context(), session_scope() as session:
        row = session.scalars(select(Response)).one()
        enumerator = session.scalars(select(User).where(User.username == "dieu_tra")).one()
        assert row.answers == {**PAPER, "so_lan_di_lai": 3, **likert}
        assert (row.instance_id, row.unit_code, row.source, row.entered_by) == (
            instance_id,
            "tra-xuan",
            "paper",
            enumerator.id,
        )
        assert row.stratum == "dat_dai"
        submitted = row.submitted_at if row.submitted_at.tzinfo else row.submitted_at.replace(tzinfo=UTC)
        assert submitted == datetime(2024, 5, 1, 17, 0, tzinfo=UTC)  # 2 May 2024, 00:00 in Vietnam

    # A double click, or the browser resending the POST: stored once.
    again = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert again.status_code == 302
    assert "không lưu thêm lần nữa" in text(client.get(again.headers["Location"]))
    assert count(staff_app, Response) == 1


def test_paper_entry_shows_errors_per_item_keeps_what_was_typed_and_stores_nothing(staff_app, campaign_id):
    client = login(staff_app, "dieu_tra")
    instance_id = _entry_page(client, campaign_id)
    form = {"entry_unit": "tra-xuan", "entry_instance_id": instance_id}
    form |= PAPER | {"so_lan_di_lai": "25", "tiep_can_2": "5", "da_gop_y": "1", "phan_anh_1": "9"}
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)

    assert reply.status_code == 422
    html = text(reply)
    assert "Phiếu chưa được lưu" in html
    assert "Số lần từ 1 đến 20." in block(html, "so_lan_di_lai")
    assert "Câu bắt buộc: chưa được nhập." in block(html, "tiep_can_1")
    assert "Câu bắt buộc: chưa được nhập." not in block(html, "tiep_can_2")
    assert "Mã &#39;9&#39; không thuộc các lựa chọn" in block(html, "phan_anh_1")
    assert "Câu bắt buộc" in block(html, "phan_anh_2")
    # Entered values stay in the form, escaped.
    assert re.search(r'<input[^>]* checked[^>]*name="linh_vuc"[^>]*value="dat_dai"', block(html, "linh_vuc"))
    assert re.search(r'<input[^>]* checked[^>]*name="tiep_can_2"[^>]*value="5"', block(html, "tiep_can_2"))
    assert 'value="25"' in block(html, "so_lan_di_lai")
    assert "&lt;b&gt;không&lt;/b&gt;" in block(html, "gop_y") and "<b>không</b>" not in html
    assert f'value="{instance_id}"' in html  # the retry after fixing keeps the same id
    assert count(staff_app, Response) == 0


def test_paper_entry_needs_a_unit_of_the_campaign(staff_app, campaign_id):
    client = login(staff_app, "dieu_tra")
    instance_id = _entry_page(client, campaign_id)
    form = {"entry_unit": "ha-noi", "entry_instance_id": instance_id} | PAPER | PAPER_LIKERT
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert reply.status_code == 422
    assert count(staff_app, Response) == 0


# ---------------------------------------------------------------------------------- progress, files
def test_campaign_page_shows_progress_against_target(staff_app, campaign_id):
    _store(staff_app, campaign_id, "tra-xuan", 3)
    html = text(login(staff_app, "chuyen_vien").get(f"/admin/campaigns/{campaign_id}"))
    row = re.search(r'<tr data-unit="tra-xuan">.*?</tr>', html, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[0].strip() == "3" and cells[1].strip() == "300"
    assert "1,0 %" in cells[2]  # 3 of 300, written the Vietnamese way
    assert f'data-progress-url="/api/v1/campaigns/{campaign_id}/progress"' in html
    assert 'src="/static/admin/admin.js"' in html


def test_analysts_download_csv_and_xlsx(staff_app, campaign_id):
    client = login(staff_app, "chuyen_vien")
    csv_reply = client.get(f"/admin/campaigns/{campaign_id}/responses.csv")
    assert csv_reply.status_code == 200
    assert csv_reply.headers["Content-Type"].startswith("text/csv")
    assert csv_reply.data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    assert csv_reply.data.decode("utf-8-sig").splitlines()[0].startswith("response_id,unit")
    xlsx_reply = client.get(f"/admin/campaigns/{campaign_id}/responses.xlsx")
    assert xlsx_reply.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_reply.data))
    assert len(workbook.sheetnames) == 2
    csv_reply.close()
    xlsx_reply.close()


# -------------------------------------------------------------------------------------------- users
def test_an_admin_manages_accounts(staff_app):
    client = login(staff_app, "quan_tri")
    page = client.get("/admin/users")
    assert page.status_code == 200 and "chuyen_vien" in text(page)

    short = client.post(
        "/admin/users",
        data={"username": "nguyen.an", "role": "enumerator", "password": "ngan", "confirm": "ngan"},
    )
    assert short.status_code == 422 and "Ít nhất 10 ký tự." in text(short)
    made = client.post(
        "/admin/users",
        data={
            "username": "nguyen.an",
            "full_name": "Nguyễn Văn An",
            "role": "enumerator",
            "password": "mat-khau-moi-1",
            "confirm": "mat-khau-moi-1",
        },
    )
    assert made.status_code == 302
    with staff_app.app_context(), session_scope() as session:
        user = session.scalars(select(User).where(User.username == "nguyen.an")).one()
        assert (user.role, user.full_name, user.active) == ("enumerator", "Nguyễn Văn An", True)
        assert "mat-khau-moi-1" not in user.password_hash
        user_id = user.id
        me = session.scalars(select(User).where(User.username == "quan_tri")).one().id

    assert client.post(f"/admin/users/{user_id}/active", data={"active": "0"}).status_code == 302
    refused = staff_app.test_client().post(
        "/admin/login", data={"username": "nguyen.an", "password": "mat-khau-moi-1"}
    )
    assert refused.status_code == 401

    assert client.post(f"/admin/users/{user_id}/active", data={"active": "1"}).status_code == 302
    reset = client.post(
        f"/admin/users/{user_id}/password", data={"password": "mat-khau-thu-2", "confirm": "mat-khau-thu-2"}
    )
    assert reset.status_code == 302
    new_login = staff_app.test_client().post(
        "/admin/login", data={"username": "nguyen.an", "password": "mat-khau-thu-2"}
    )
    assert new_login.status_code == 302

    client.post(f"/admin/users/{me}/active", data={"active": "0"})  # an admin cannot lock themself out
    assert client.get("/admin/users").status_code == 200


# -------------------------------------------------------------------------------------- error pages
def test_error_pages_are_vietnamese_and_carry_the_security_headers(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=1024)

    def boom():
        raise RuntimeError("secret detail of a bug")

    app.add_url_rule("/boom", "boom", boom)
    client = app.test_client()

    missing = client.get("/khong-co-trang-nay")
    assert missing.status_code == 404 and "Không tìm thấy trang" in text(missing)
    assert missing.headers["X-Frame-Options"] == "DENY"
    assert missing.headers["Referrer-Policy"] == "no-referrer"
    too_big = client.post("/admin/login", data={"username": "x" * 5000, "password": "y"})
    assert too_big.status_code == 413 and "Dữ liệu quá lớn" in text(too_big)
    broken = client.get("/boom")
    assert broken.status_code == 500 and "Lỗi hệ thống" in text(broken)
    assert "secret detail" not in text(broken) and "Traceback" not in text(broken)
    api_missing = client.get("/api/v1/khong-co")
    assert api_missing.status_code == 404 and api_missing.is_json
    landing = client.get("/")
    assert landing.status_code == 200 and "Khảo sát sự hài lòng" in text(landing)
    assert landing.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")


def _store(app, campaign_id: int, unit: str, n: int, likert: str = "4") -> None:
    from survey.storage import save_response

    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        answers = {"linh_vuc": "ho_tich", "gioi_tinh": "1", "do_tuoi": "2", "da_gop_y": "2"}
        answers |= {
            q.code: likert for q in SIPAS_2017.questions() if q.appearance == "likert" and not q.relevant
        }
        for _ in range(n):
            save_response(
                session,
                campaign=campaign,
                unit_code=unit,
                instance_id=str(uuid.uuid4()),
                answers=answers,
                questionnaire_id="sipas-2017",
                version="2017.1",
                started_at=None,
                submitted_at=None,
                source="paper",
            )


def test_analysts_download_the_ranked_report(staff_app):
    with staff_app.app_context(), session_scope() as session:
        cid = create_campaign(
            session,
            name="SIPAS 2024 — hai xã",
            questionnaire="sipas-2017",
            units=[("tra-xuan", "Thị trấn Trà Xuân"), ("tra-giang", "Xã Trà Giang")],
            populations={"tra-xuan": 300, "tra-giang": 120},
        ).id
    _store(staff_app, cid, "tra-xuan", 4, likert="5")
    _store(staff_app, cid, "tra-giang", 3, likert="2")
    client = login(staff_app, "chuyen_vien")
    assert f'action="/admin/campaigns/{cid}/report"' in text(client.get(f"/admin/campaigns/{cid}"))
    reply = client.get(f"/admin/campaigns/{cid}/report.xlsx")
    assert reply.status_code == 200, text(reply)[:500]
    workbook = openpyxl.load_workbook(io.BytesIO(reply.data))
    ranking = workbook[workbook.sheetnames[0]]
    cells = [str(c.value) for row in ranking.iter_rows() for c in row if c.value is not None]
    assert any("Thị trấn Trà Xuân" in c for c in cells) and any("Xã Trà Giang" in c for c in cells)
    # Trà Xuân (all "5") ranks above Trà Giang (all "2").
    order = [c for c in cells if c in ("Thị trấn Trà Xuân", "Xã Trà Giang")]
    assert order[:2] == ["Thị trấn Trà Xuân", "Xã Trà Giang"]
    assert login(staff_app, "dieu_tra").get(f"/admin/campaigns/{cid}/report.xlsx").status_code == 403
    reply.close()


def test_a_report_of_an_empty_campaign_shows_its_error_on_the_campaign_page(staff_app, campaign_id):
    client = login(staff_app, "chuyen_vien")
    page = text(client.get(f"/admin/campaigns/{campaign_id}"))
    # The links are plain links: with a `download` attribute the browser saves the error's redirect as a
    # file ("3.html") instead of showing it.
    for route in ("responses.csv", "responses.xlsx"):
        link = re.search(rf'<a [^>]*href="/admin/campaigns/{campaign_id}/{re.escape(route)}"[^>]*>', page)
        assert link is not None and "download" not in link.group(0), route
    reply = client.get(f"/admin/campaigns/{campaign_id}/report.xlsx")
    assert reply.status_code == 302 and reply.headers["Location"].endswith(f"/admin/campaigns/{campaign_id}")
    assert "attachment" not in reply.headers.get("Content-Disposition", "")
    shown = client.get(reply.headers["Location"])
    assert shown.status_code == 200 and shown.mimetype == "text/html"
    html = text(shown)
    alert = re.search(r'<p class="flash flash--error" role="alert">([^<]*)</p>', html)
    assert alert is not None and "Chưa lập được báo cáo" in alert.group(1), html[:2000]
