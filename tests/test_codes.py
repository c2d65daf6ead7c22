"""One-time answer codes ("mỗi hồ sơ một phiếu", survey.codes) and forms from the respondent's own phone.

The code itself (derivation, check character, what it reveals); issuing codes from the case-file list
(CLI and admin); submissions with codes from phones and kiosks; used, wrong and mistyped codes; the rate
limit; two phones racing with one code (a real threaded server, SQLite and PostgreSQL); and that nothing
in the database joins a response back to its case file.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import re
import threading
from datetime import date, datetime

import pytest
from click.testing import CliRunner
from conftest import full_answers, submission
from sqlalchemy import inspect, select, text
from werkzeug.serving import make_server

from questionnaires import load_questionnaire
from survey.cli import cli
from survey.codes import (
    ALPHABET,
    CodeError,
    CodeKeys,
    case_codes,
    check_symbol,
    code_keys,
    issue_codes,
    parse_code,
)
from survey.db import session_scope
from survey.models import AnswerCode, Campaign, Dossier, Response
from survey.users import create_user

SIPAS_2017 = load_questionnaire("sipas-2017")
KEY = "khoa-ma-phieu-cho-kiem-thu-0123456789"
DAY = date(2024, 5, 2)
PASSWORD = "mật-khẩu-đủ-dài-1"


# --------------------------------------------------------------------------------- the code itself
def _codes(n: int, seed: int = 7) -> list[str]:
    keys = CodeKeys.from_secret(KEY)
    rnd = random.Random(seed)
    return [keys.code_for(rnd.randrange(1, 50), f"000.{rnd.randrange(10**6):06d}.H{k}") for k in range(n)]


def test_a_code_is_eight_crockford_characters_and_passes_its_own_check():
    keys = CodeKeys.from_secret(KEY)
    code = keys.code_for(3, "H26.45-240502-0001")
    assert re.fullmatch(f"[{ALPHABET}]{{8}}", code)
    assert code == keys.code_for(3, "  H26.45-240502-0001 ")  # the case code is compared trimmed
    assert parse_code(code) == code
    assert code[-1] == check_symbol(code[:7])
    # Crockford's reading rules: case, hyphens, spaces; O is 0, I and L are 1.
    typed = f"{code[:4].lower()} - {code[4:]}"
    assert parse_code(typed) == code
    body = "0000001"  # zeros and a one, typed with O, I and L
    assert parse_code(("OOOOOOI" + check_symbol(body)).lower()) == body + check_symbol(body)
    assert parse_code("OOOOOOL" + check_symbol(body)) == body + check_symbol(body)


def test_every_single_wrong_character_and_every_swap_of_neighbours_is_caught():
    caught_sub = caught_swap = caught_jump = 0
    for code in _codes(150):
        for i in range(8):
            for c in ALPHABET:
                if c == code[i]:
                    continue
                with pytest.raises(CodeError) as exc:
                    parse_code(code[:i] + c + code[i + 1 :])
                assert exc.value.kind == "check"
                caught_sub += 1
            if i < 7 and code[i] != code[i + 1]:
                with pytest.raises(CodeError):
                    parse_code(code[:i] + code[i + 1] + code[i] + code[i + 2 :])
                caught_swap += 1
            if i < 6 and code[i] != code[i + 2]:  # a jump: abc -> cba
                with pytest.raises(CodeError):
                    parse_code(code[:i] + code[i + 2] + code[i + 1] + code[i] + code[i + 3 :])
                caught_jump += 1
    assert caught_sub == 150 * 8 * 31
    assert caught_swap > 150 * 6  # nearly every neighbour pair differs
    assert caught_jump > 150 * 5


@pytest.mark.parametrize(
    ("typed", "kind", "words"),
    [
        ("7K3M-Q9T", "format", "8 ký tự"),
        ("7K3M-Q9TB5", "format", "8 ký tự"),
        ("7K3M-Q9T!", "format", "ký tự không dùng: !"),
        ("7K3M-Q9TU", "format", "ký tự không dùng: U"),  # Crockford has no U
    ],
)
def test_a_code_that_cannot_be_one_is_refused_with_a_vietnamese_reason(typed, kind, words):
    with pytest.raises(CodeError) as exc:
        parse_code(typed)
    assert exc.value.kind == kind
    assert words in exc.value.message


def test_the_code_does_not_reveal_the_case_code():
    keys = CodeKeys.from_secret(KEY)
    other = CodeKeys.from_secret(KEY + "-khac")
    cases = [f"H26.45-240502-{n:04d}" for n in range(1, 401)]
    codes = [keys.code_for(1, c) for c in cases]
    assert len(set(codes)) == len(codes)
    # Consecutive case codes give unrelated codes: about 31/32 of the 7 body characters differ.
    distances = [
        sum(a != b for a, b in zip(x[:7], y[:7], strict=True)) for x, y in zip(codes, codes[1:], strict=False)
    ]
    assert sum(distances) / len(distances) > 6.3
    # Each position uses the whole alphabet about evenly (nothing of the case code's digits shows).
    for i in range(7):
        seen = {c[i] for c in codes}
        assert len(seen) >= 28
    # Another key, or another campaign, gives another code for the same case file.
    assert all(keys.code_for(1, c) != other.code_for(1, c) for c in cases[:50])
    assert all(keys.code_for(1, c) != keys.code_for(2, c) for c in cases[:50])
    # The case code's own characters are not in the code.
    assert not any(c[-4:] in code for c, code in zip(cases, codes, strict=True))


# ------------------------------------------------------------------------------------ the app side
def _campaign_with_dossiers(app, *, codes_on=True, n=6, strata=True) -> tuple[int, list[dict]]:
    """A campaign (sipas-2017, Trà Bồng), a kiosk for tra-xuan, n case files received on DAY, codes issued."""
    from survey.campaigns import create_campaign, create_kiosk

    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session, name="Khảo sát có mã phiếu", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        campaign.answer_codes = codes_on
        _, token = create_kiosk(session, campaign, "tra-xuan")
        units = ("tra-xuan", "tra-giang")
        fields = ("ho_tich", "dat_dai", "chung_thuc")
        for k in range(n):
            session.add(
                Dossier(
                    campaign_id=campaign.id,
                    case_code=f"H26.45-240502-{k + 1:04d}",
                    unit_code=units[k % 2],
                    stratum=fields[k % 3] if strata else "",
                    received_on=DAY if k < n - 1 else date(2024, 5, 3),
                )
            )
        session.flush()
        keys = code_keys(app)
        issue_codes(session, campaign, keys)
        cases = [
            {"case": c.case_code, "unit": c.unit_code, "stratum": c.stratum, "code": c.code}
            for c in case_codes(session, campaign, keys)
        ]
        app.config["TEST_TOKEN"] = token
        return campaign.id, cases


def phone_body(campaign_id: int, code: str | None, answers=None, **extra) -> dict:
    body = submission(SIPAS_2017, None, answers or full_answers(SIPAS_2017, {"linh_vuc": "dat_dai"}), **extra)
    del body["kiosk_token"]
    body["campaign"] = campaign_id
    if code is not None:
        body["answer_code"] = code
    return body


@pytest.fixture
def coded(make_app):
    app = make_app(ANSWER_CODE_KEY=KEY)
    campaign_id, cases = _campaign_with_dossiers(app)
    return app, campaign_id, cases


db = pytest.mark.db


@db
def test_a_phone_form_with_a_code_is_stored_as_phone_with_the_code_s_unit_and_stratum(coded):
    app, campaign_id, cases = coded
    client = app.test_client()
    case = next(c for c in cases if c["case"] == "H26.45-240502-0002")
    assert (case["unit"], case["stratum"]) == ("tra-giang", "dat_dai")
    # The form says ho_tich; the case file's field decides the stratum.
    body = phone_body(campaign_id, case["code"][:4].lower() + "-" + case["code"][4:])
    body["answers"]["linh_vuc"] = "ho_tich"
    reply = client.post("/api/v1/responses", json=body)
    assert reply.status_code == 201, reply.get_json()
    with app.app_context(), session_scope() as session:
        stored = session.scalars(select(Response)).one()
        assert (stored.source, stored.unit_code, stored.stratum) == ("phone", case["unit"], case["stratum"])
        assert stored.kiosk_id is None
        assert stored.answers["linh_vuc"] == "ho_tich"
        used = session.scalars(select(AnswerCode).where(AnswerCode.used.is_(True))).all()
        assert [(u.unit_code, u.stratum) for u in used] == [(case["unit"], case["stratum"])]
    # The same form again (a retry whose answer was lost): a duplicate, not "used".
    again = client.post("/api/v1/responses", json=body)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    # Another form with the same code: refused, in Vietnamese, nothing stored.
    other = client.post("/api/v1/responses", json=phone_body(campaign_id, case["code"]))
    assert other.status_code == 400
    error = other.get_json()["errors"][0]
    assert error["item"] == "answer_code" and error["code"] == "code_used"
    assert "đã được dùng" in error["message"]
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(text("count(*)")).select_from(Response)) == 1
    # The report's quality counts put it under "phone", and the responses table says so too.
    from survey.design import campaign_design

    with app.app_context():
        design = campaign_design(campaign_id)
    assert design.quality.loc["tra-giang", ["received", "phone", "kiosk", "api"]].tolist() == [1, 1, 0, 0]
    assert design.responses["source"].tolist() == ["phone"]


@db
@pytest.mark.parametrize(
    ("make_code", "status", "code", "words"),
    [
        (lambda cases: None, 400, "code_required", "cần mã phiếu"),
        (lambda cases: cases[0]["code"][:7], 400, "code_format", "8 ký tự"),
        (
            lambda cases: cases[0]["code"][1] + cases[0]["code"][0] + cases[0]["code"][2:],
            400,
            "code_check",
            "gõ nhầm",
        ),
        (lambda cases: "0000000" + check_symbol("0000000"), 400, "code_unknown", "không đúng"),
    ],
)
def test_missing_mistyped_and_unknown_codes_are_refused_in_vietnamese(coded, make_code, status, code, words):
    app, campaign_id, cases = coded
    if code == "code_check" and cases[0]["code"][0] == cases[0]["code"][1]:
        pytest.skip("the first two characters are the same")
    reply = app.test_client().post("/api/v1/responses", json=phone_body(campaign_id, make_code(cases)))
    assert reply.status_code == status
    error = reply.get_json()["errors"][0]
    assert (error["item"], error["code"]) == ("answer_code", code)
    assert words in error["message"]
    with app.app_context(), session_scope() as session:
        assert session.scalars(select(Response)).first() is None
        assert not any(session.scalars(select(AnswerCode.used)))


@db
def test_the_check_endpoint_names_the_unit_and_does_not_use_the_code(coded):
    app, campaign_id, cases = coded
    client = app.test_client()
    case = cases[0]
    reply = client.post("/api/v1/codes/check", json={"campaign": campaign_id, "code": case["code"].lower()})
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["unit"] == case["unit"] == "tra-giang" and body["unit_name"] == "Xã Trà Giang"
    assert body["stratum"] == case["stratum"]
    assert body["code"] == case["code"][:4] + "-" + case["code"][4:]
    assert client.post("/api/v1/responses", json=phone_body(campaign_id, case["code"])).status_code == 201
    used = client.post("/api/v1/codes/check", json={"campaign": campaign_id, "code": case["code"]})
    assert used.status_code == 400 and used.get_json()["errors"][0]["code"] == "code_used"
    unknown = client.post("/api/v1/codes/check", json={"campaign": 999, "code": case["code"]})
    assert unknown.status_code == 404


@db
def test_a_kiosk_of_a_coded_campaign_needs_a_code_of_its_own_unit(coded):
    app, campaign_id, cases = coded
    client = app.test_client()
    token = app.config["TEST_TOKEN"]  # tra-xuan
    answers = full_answers(SIPAS_2017, {"linh_vuc": "ho_tich"})
    none = client.post("/api/v1/responses", json=submission(SIPAS_2017, token, answers))
    assert none.status_code == 400 and none.get_json()["errors"][0]["code"] == "code_required"
    giang = next(c for c in cases if c["unit"] == "tra-giang")
    other = client.post(
        "/api/v1/responses", json=submission(SIPAS_2017, token, answers, answer_code=giang["code"])
    )
    assert other.status_code == 400 and other.get_json()["errors"][0]["code"] == "code_other_unit"
    xuan = next(c for c in cases if c["unit"] == "tra-xuan")
    ok = client.post(
        "/api/v1/responses", json=submission(SIPAS_2017, token, answers, answer_code=xuan["code"])
    )
    assert ok.status_code == 201
    with app.app_context(), session_scope() as session:
        stored = session.scalars(select(Response)).one()
        assert (stored.source, stored.unit_code, stored.stratum) == ("kiosk", "tra-xuan", xuan["stratum"])


@db
def test_a_campaign_without_codes_takes_phone_forms_for_a_unit_of_its_own(make_app):
    app = make_app(ANSWER_CODE_KEY=KEY)
    campaign_id, _ = _campaign_with_dossiers(app, codes_on=False)
    client = app.test_client()
    missing = client.post("/api/v1/responses", json=phone_body(campaign_id, None))
    assert missing.status_code == 400 and missing.get_json()["errors"][0]["item"] == "unit"
    stranger = client.post("/api/v1/responses", json=phone_body(campaign_id, None, unit="ha-noi"))
    assert stranger.status_code == 400 and stranger.get_json()["errors"][0]["code"] == "unknown_unit"
    ok = client.post("/api/v1/responses", json=phone_body(campaign_id, None, unit="tra-thuy"))
    assert ok.status_code == 201
    with app.app_context(), session_scope() as session:
        stored = session.scalars(select(Response)).one()
        assert (stored.source, stored.unit_code, stored.stratum) == ("phone", "tra-thuy", "dat_dai")


@db
def test_wrong_codes_are_rate_limited_per_address_and_per_campaign(make_app):
    app = make_app(ANSWER_CODE_KEY=KEY, CODE_RATE_LIMIT=3, CODE_CAMPAIGN_RATE_LIMIT=7, CODE_RATE_WINDOW=600)
    campaign_id, cases = _campaign_with_dossiers(app)
    client = app.test_client()
    wrong = "0000000" + check_symbol("0000000")

    def check(code, address):
        return client.post(
            "/api/v1/codes/check",
            json={"campaign": campaign_id, "code": code},
            environ_base={"REMOTE_ADDR": address},
        )

    # Right codes give their try back: any number of them pass.
    for _ in range(6):
        assert check(cases[0]["code"], "10.0.0.1").status_code == 200
    assert [check(wrong, "10.0.0.1").status_code for _ in range(4)] == [400, 400, 400, 429]
    limited = check(cases[0]["code"], "10.0.0.1")  # even a right code waits now, from this address
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "quá nhiều lần" in limited.get_json()["message"]
    # The campaign's own limit, 7 tries that were not given back: 5 above (refused ones count too, as
    # for logins), 2 more from another address, then every address waits.
    assert [check(wrong, "10.0.0.2").status_code for _ in range(3)] == [400, 400, 429]
    # Submissions count against the same limits.
    reply = client.post(
        "/api/v1/responses",
        json=phone_body(campaign_id, cases[1]["code"]),
        environ_base={"REMOTE_ADDR": "10.0.0.3"},
    )
    assert reply.status_code == 429


@db
def test_two_phones_racing_with_one_code_store_exactly_one_response(make_app):
    app = make_app(ANSWER_CODE_KEY=KEY, CODE_RATE_LIMIT=100)
    campaign_id, cases = _campaign_with_dossiers(app)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    racers = 8
    barrier = threading.Barrier(racers)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def race(code: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=60)
        payload = json.dumps(phone_body(campaign_id, code)).encode()
        barrier.wait()
        try:
            conn.request("POST", "/api/v1/responses", payload, {"Content-Type": "application/json"})
            reply = conn.getresponse()
            with lock:
                results.append((reply.status, json.loads(reply.read())))
        finally:
            conn.close()

    try:
        for case in cases[:2]:  # two rounds, two codes
            results.clear()
            threads = [threading.Thread(target=race, args=(case["code"],)) for _ in range(racers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            statuses = sorted(status for status, _ in results)
            assert statuses == [201] + [400] * (racers - 1), results
            assert all(body["errors"][0]["code"] == "code_used" for status, body in results if status == 400)
    finally:
        httpd.shutdown()
        thread.join(10)
    with app.app_context(), session_scope() as session:
        assert len(session.scalars(select(Response)).all()) == 2
        assert sorted(session.scalars(select(AnswerCode.used))).count(True) == 2


def _snapshot(session) -> dict[str, list[dict]]:
    """Every row of every table (bar Alembic's), as plain dicts."""
    out = {}
    for table in inspect(session.get_bind()).get_table_names():
        if table != "alembic_version":
            out[table] = [dict(r) for r in session.execute(text(f'SELECT * FROM "{table}"')).mappings()]
    return out


def _rows(rows: list[dict]) -> set[str]:
    return {json.dumps(r, default=str, sort_keys=True) for r in rows}


@db
def test_nothing_in_the_database_joins_a_response_back_to_its_case_code(coded):
    app, campaign_id, cases = coded
    case = cases[2]
    client = app.test_client()
    # A typo first (a counter of wrong tries is kept), then the right code.
    typo = case["code"][:6] + case["code"][7] + case["code"][6]
    if typo == case["code"]:
        typo = case["code"][:7] + ("0" if case["code"][7] != "0" else "1")
    assert client.post("/api/v1/codes/check", json={"campaign": campaign_id, "code": typo}).status_code == 400
    with app.app_context(), session_scope() as session:
        before = _snapshot(session)
    reply = client.post("/api/v1/responses", json=phone_body(campaign_id, case["code"]))
    assert reply.status_code == 201
    code, shown = case["code"], case["code"][:4] + "-" + case["code"][4:]
    # Everything someone with the database (and no key) could try to match the code with.
    forms = {code, shown, code.lower(), shown.lower()}
    unkeyed = set()
    for form in forms:
        for name in ("sha256", "sha1", "md5", "sha512", "blake2b"):
            unkeyed.add(hashlib.new(name, form.encode()).hexdigest())
            unkeyed.add(hashlib.new(name, f"{campaign_id}\x1f{form}".encode()).hexdigest())
            unkeyed.add(hashlib.new(name, case["case"].encode()).hexdigest())
    with app.app_context(), session_scope() as session:
        response = session.scalars(select(Response)).one()
        after = _snapshot(session)
        for table, rows in after.items():
            for row in rows:
                for column, value in row.items():
                    shown_value = json.dumps(value, default=str) if value is not None else ""
                    for form in forms:
                        assert form not in shown_value, (table, column)
                    for digest in unkeyed:
                        assert digest not in shown_value.lower(), (table, column)
                    if table != "dossiers":
                        assert case["case"] not in shown_value, (table, column)
                    assert response.instance_id not in shown_value or table == "responses", (table, column)
        # What the submission wrote outside the response: one code row's "used", and nothing else (no
        # time of use, no rate-limit counter dated by the right code).
        changed = {t: _rows(after[t]) - _rows(before.get(t, [])) for t in after if t != "responses"}
        changed = {t: rows for t, rows in changed.items() if rows}
        assert set(changed) == {"answer_codes"}, changed
        (row,) = [json.loads(r) for r in changed["answer_codes"]]
        (old,) = [r for r in before["answer_codes"] if r["id"] == row["id"]]
        assert {k for k in row if row[k] != old[k]} == {"used"}
        assert [r for r in after if r not in before] == []
        # Time stamps within a second of the response's receipt exist only in the response row (and in
        # rows written before the submission, i.e. the test's own setup).
        received = response.received_at.replace(tzinfo=None)
        for table, rows in changed.items():
            for r in rows:
                for value in json.loads(r).values():
                    if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\d[ T]\d\d:", value):
                        stamp = datetime.fromisoformat(value).replace(tzinfo=None)
                        assert abs((stamp - received).total_seconds()) >= 1, (table, value)
        # What a code row is: no time, no response, no case file.
        columns = {c["name"] for c in inspect(session.get_bind()).get_columns("answer_codes")}
        assert columns == {"id", "campaign_id", "code_hash", "unit_code", "stratum", "used"}
        keys = {fk["referred_table"] for fk in inspect(session.get_bind()).get_foreign_keys("answer_codes")}
        assert keys == {"campaigns"}
        for table in inspect(session.get_bind()).get_table_names():
            for fk in inspect(session.get_bind()).get_foreign_keys(table):
                assert not (
                    fk["referred_table"] == "answer_codes"
                    or (table == "answer_codes" and fk["referred_table"] in ("responses", "dossiers"))
                )
        # The response row names neither the code nor the case file.
        assert not any("code" in c.name and c.name != "unit_code" for c in Response.__table__.columns)
        # The code rows were inserted in the order of their hash, not of the case files.
        rows = session.execute(
            select(AnswerCode.id, AnswerCode.code_hash)
            .where(AnswerCode.campaign_id == campaign_id)
            .order_by(AnswerCode.id)
        ).all()
        assert [h for _, h in rows] == sorted(h for _, h in rows)
        by_case = [
            code_keys(app).hash_of(campaign_id, c["code"]) for c in sorted(cases, key=lambda c: c["case"])
        ]
        assert by_case != [h for _, h in rows]
        # The rate-limit counters keep neither the code nor the client's address (a keyed hash of it).
        counters = [r["key"] for r in after["rate_limit_counters"]]
        assert counters and all(k.startswith("code:") for k in counters)
        assert not any("127.0.0.1" in k or "localhost" in k for k in counters)


# ------------------------------------------------------------------------------------ issuing codes
@db
def test_sipas_codes_issue_stores_the_hashes_of_a_day_s_case_files_once(
    make_app, database_url, tmp_path, monkeypatch
):
    app = make_app(ANSWER_CODE_KEY=KEY)
    from survey.campaigns import create_campaign

    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session, name="Đợt CLI", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        for k, day in enumerate((DAY, DAY, DAY, date(2024, 5, 3))):
            session.add(
                Dossier(
                    campaign_id=campaign.id,
                    case_code=f"HS-{k}",
                    unit_code="tra-xuan",
                    stratum="ho_tich",
                    received_on=day,
                )
            )
        session.add(
            Dossier(
                campaign_id=campaign.id, case_code="HS-x", unit_code="ha-noi", stratum="", received_on=DAY
            )
        )
        campaign_id = campaign.id
    monkeypatch.setenv("SIPAS_ANSWER_CODE_KEY", KEY)
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path / "cli-instance"))
    runner = CliRunner()
    args = [
        "codes",
        "issue",
        "--campaign",
        str(campaign_id),
        "--date",
        DAY.isoformat(),
        "--database-url",
        database_url,
    ]
    first = runner.invoke(cli, [*args, "--list"])
    assert first.exit_code == 0, first.output
    assert "4 hồ sơ tiếp nhận ngày 02/05/2024: cấp 3 mã mới, 0 mã đã cấp từ trước" in first.output
    assert "bỏ qua hồ sơ HS-x" in first.output
    assert "chưa bật" in first.output
    keys = CodeKeys.from_secret(KEY)
    shown = keys.code_for(campaign_id, "HS-1")
    assert f"HS-1\ttra-xuan\tho_tich\t{shown[:4]}-{shown[4:]}" in first.output
    again = runner.invoke(cli, args)
    assert "cấp 0 mã mới, 3 mã đã cấp từ trước" in again.output
    bad = runner.invoke(
        cli,
        [
            "codes",
            "issue",
            "--campaign",
            str(campaign_id),
            "--date",
            "02/05/2024",
            "--database-url",
            database_url,
        ],
    )
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    on = runner.invoke(
        cli, ["codes", "require", "--campaign", str(campaign_id), "--on", "--database-url", database_url]
    )
    assert on.exit_code == 0
    status = runner.invoke(
        cli, ["codes", "status", "--campaign", str(campaign_id), "--database-url", database_url]
    )
    assert "bật; đã cấp 3 mã, đã dùng 0" in status.output
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).answer_codes is True
        hashes = set(session.scalars(select(AnswerCode.code_hash)))
        assert hashes == {keys.hash_of(campaign_id, keys.code_for(campaign_id, f"HS-{k}")) for k in range(3)}
    # The server, with the same key, takes the code.
    reply = app.test_client().post("/api/v1/codes/check", json={"campaign": campaign_id, "code": shown})
    assert reply.status_code == 200 and reply.get_json()["unit"] == "tra-xuan"


def _staff(app, role="analyst"):
    with app.app_context(), session_scope() as session:
        user = create_user(session, f"{role}-codes", PASSWORD, role)
        user_id = user.id
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
    return client


@db
def test_the_slips_page_prints_a_qr_code_and_the_code_of_each_case_file_of_the_day(make_app):
    app = make_app(ANSWER_CODE_KEY=KEY, WTF_CSRF_ENABLED=False, PUBLIC_URL="https://sipas.trabong.gov.vn")
    campaign_id, cases = _campaign_with_dossiers(app, n=8)
    with app.app_context(), session_scope() as session:  # one more case file that day, not issued yet
        session.add(
            Dossier(
                campaign_id=campaign_id,
                case_code="HS-moi",
                unit_code="tra-xuan",
                stratum="ho_tich",
                received_on=DAY,
            )
        )
    client = _staff(app)
    reply = client.get(f"/admin/campaigns/{campaign_id}/codes/slips?date={DAY.isoformat()}&format=receipt")
    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    of_day = [c for c in cases if c["case"] != "H26.45-240502-0008"]
    assert len(of_day) == 7
    assert html.count('class="qr"><title>') == 7
    shown = re.findall(r'data-code="([0-9A-Z-]{9})"', html)
    assert sorted(shown) == sorted(c["code"][:4] + "-" + c["code"][4:] for c in of_day)
    assert "slips-page--receipt" in html
    assert "https://sipas.trabong.gov.vn/k/p/" in html
    assert 'id="not-issued">1 hồ sơ' in html
    assert "Xã Trà Giang" in html
    # Issuing from the page (POST, CSRF-checked in the route walk) prints the new slip too.
    issued = client.post(f"/admin/campaigns/{campaign_id}/codes/issue", data={"date": DAY.isoformat()})
    assert issued.status_code == 302 and "/codes/slips?date=2024-05-02" in issued.headers["Location"]
    again = client.get(f"/admin/campaigns/{campaign_id}/codes/slips?date={DAY.isoformat()}")
    assert again.get_data(as_text=True).count('class="qr"><title>') == 8
    # A slip's QR code encodes the phone form's address with the code in the fragment.
    poster = client.get(f"/admin/campaigns/{campaign_id}/codes/poster?unit=tra-xuan")
    assert poster.status_code == 200
    assert f"https://sipas.trabong.gov.vn/k/p/{campaign_id}/tra-xuan" in poster.get_data(as_text=True)


@db
def test_the_setting_is_changed_from_the_campaign_page_with_a_csrf_token(make_app):
    app = make_app(ANSWER_CODE_KEY=KEY, WTF_CSRF_ENABLED=True)
    campaign_id, _ = _campaign_with_dossiers(app, codes_on=False)
    client = _staff(app)
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Mỗi hồ sơ một phiếu: đang tắt" in page
    forged = client.post(f"/admin/campaigns/{campaign_id}/codes/setting", data={"answer_codes": "y"})
    assert forged.status_code == 400  # refused by the CSRF check, nothing changed
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).answer_codes is False
    form = page[page.index('id="answer-codes"') :]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    done = client.post(
        f"/admin/campaigns/{campaign_id}/codes/setting", data={"answer_codes": "y", "csrf_token": token}
    )
    assert done.status_code == 302
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).answer_codes is True
    assert "Mỗi hồ sơ một phiếu: đang bật" in client.get(f"/admin/campaigns/{campaign_id}").get_data(
        as_text=True
    )


@db
def test_the_phone_page_is_the_kiosk_app_in_phone_mode(coded):
    app, campaign_id, _ = coded
    client = app.test_client()
    page = client.get(f"/k/p/{campaign_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-mode="phone"' in html and f'data-campaign-id="{campaign_id}"' in html
    assert "kiosk/code.js" in html and "kiosk/kiosk.js" in html
    definition = client.get(f"/api/v1/phone/{campaign_id}/definition").get_json()
    assert definition["campaign"]["answer_codes"] is True
    assert definition["idle_seconds"] == app.config["PHONE_IDLE_SECONDS"]
    assert client.get(f"/k/p/{campaign_id}/ha-noi").status_code == 404
    assert client.get("/k/p/999").status_code == 404
    with app.app_context(), session_scope() as session:
        session.get(Campaign, campaign_id).status = "closed"
    assert client.get(f"/k/p/{campaign_id}").status_code == 403
