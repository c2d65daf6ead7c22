"""The JSON API under ``/api/v1``: kiosk submissions, the kiosk's definition, progress; and ``/healthz``.

Kiosks authenticate with their token (no cookies), so the blueprint is exempt from CSRF. Every answer
is JSON, errors included: ``{"errors": [{"item", "code", "message", "message_en"}, …]}`` for a
submission that cannot be stored (400, nothing stored), ``{"status": "error", "message", …}`` for the
rest; errors the views do not answer themselves (404, 405, a database that is down or read-only: 503)
are answered in JSON by :mod:`survey.errors`.

``POST /api/v1/responses`` body::

    {"instance_id": "<uuid>", "kiosk_token": "…", "questionnaire": "sipas-2017", "version": "2017.1",
     "answers": {"linh_vuc": "ho_tich", "tiep_can_1": "4", …},
     "started_at": "2024-05-02T08:01:00+07:00", "submitted_at": "2024-05-02T08:04:10+07:00",
     "unit": "tra-xuan", "stratum": "ho_tich", "group": "citizen",      (these four optional)
     "language": "hre",      (optional: the language the form was shown in; one of the campaign's, else vi)
     "paradata": {"v": 1, "pages": [{"page": 0, "ms": 41200, "taps": 9, "visits": 1}, …]}}

Answers: 201 ``{"status": "created", "id", "instance_id"}``; 200 ``{"status": "duplicate", …}`` for
the same instance id with the same content; 409 for the same instance id with other content
(``conflict``) or already stored in another campaign (``instance_id_other_campaign``: the instance id
is unique in the whole database, so the copy is refused and the tablet keeps it for staff); 401
without a token (body ``kiosk_token`` or header ``Authorization: Bearer …``); 403 for an unknown or
revoked token or a campaign that does not take forms (``campaign_closed``, ``campaign_not_open``); 413
for a body over ``MAX_CONTENT_LENGTH``. A tablet's queued form filled before the campaign closed (its own
``submitted_at``) but arriving after is stored as late: 201 with ``"late": true``. Malformed
``paradata`` (see :func:`read_paradata`) does not cost the answers: they are stored without it, 201 with
``"paradata": "ignored"`` and a warning.

A 400 lists at most :data:`~survey.validation.MAX_ERRORS` errors, then one ``more_errors`` entry
("… và N lỗi khác"), with ``errors_total``; more answer keys than the questionnaire could use, or more
than that many unknown fields, is one error (``too_many_items``, ``too_many_fields``). Times outside
2000-01-01 … a day after now are ``out_of_range``.

``GET /healthz``: 200 ``{"status": "ok"}`` when the database can take a write (tried and rolled back);
503 with ``error`` ``database_read_only``, ``database_full``, ``database_busy`` or
``database_unavailable`` and ``Retry-After`` otherwise, so a load balancer takes the host out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from questionnaires.languages import respondent_languages

from .assignments import NOT_ASSIGNED_CAMPAIGN, visible_campaign_ids
from .campaigns import (
    CampaignNotOpen,
    accepts_responses,
    arrives_late,
    campaign_questionnaire,
    kiosk_for_token,
    progress,
    refusal,
)
from .codes import CodeError, CodeUsed, code_keys, display, find_code, parse_code, use_code
from .db import get_session, write_lock
from .errors import (
    RETRY_AFTER_SECONDS,
    DuplicateConflict,
    InstanceInOtherCampaign,
    ItemError,
    ValidationFailed,
    database_unavailable,
    json_error,
)
from .models import AnswerCode, Campaign, CampaignUnit
from .security import client_address
from .storage import normalise_instance_id, save_response
from .users import current_user, role_required
from .validation import MAX_ERRORS, cap_errors, parse_timestamp, shorten

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Fields a submission may carry; anything else is refused so that typos do not pass silently.
FIELDS = {
    "instance_id",
    "kiosk_token",
    "questionnaire",
    "version",
    "answers",
    "started_at",
    "submitted_at",
    "unit",
    "stratum",
    "group",
    "paradata",
    "language",
    "campaign",
    "answer_code",
}
REQUIRED_FIELDS = ("instance_id", "questionnaire", "version", "answers", "started_at", "submitted_at")


# Kiosk paradata (optional): how the form was filled, numbers only, in a bounded size. What the tablet
# sends under "paradata" when the kiosk definition says the server takes it:
#   {"v": 1, "pages": [{"page": <section index>, "ms": <time on it>, "taps": <taps>, "visits": <times
#    opened>}, …], "review": {"ms": …, "taps": …, "visits": …}}
PARADATA_VERSION = 1
PARADATA_MAX_PAGES = 200
PARADATA_LIMITS = {"page": 10_000, "ms": 86_400_000, "taps": 100_000, "visits": 10_000}


def _count(value: Any, limit: int) -> int | None:
    """A non-negative whole number up to ``limit`` (JSON 3.0 too), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    return number if 0 <= number <= limit else None


def _counts(entry: Any, keys: tuple[str, ...]) -> dict[str, int] | None:
    if not isinstance(entry, dict) or not set(entry) <= set(keys):
        return None
    out: dict[str, int] = {}
    for key, value in entry.items():
        number = _count(value, PARADATA_LIMITS[key])
        if number is None:
            return None
        out[key] = number
    return out


def read_paradata(value: Any) -> dict[str, Any] | None:
    """The kiosk's paradata normalised (numbers only, bounded), or None when it is malformed."""
    if not isinstance(value, dict) or value.get("v") != PARADATA_VERSION:
        return None
    if not set(value) <= {"v", "pages", "review"}:
        return None
    pages = value.get("pages", [])
    if not isinstance(pages, list) or len(pages) > PARADATA_MAX_PAGES:
        return None
    out: dict[str, Any] = {"v": PARADATA_VERSION, "pages": []}
    for entry in pages:
        counted = _counts(entry, ("page", "ms", "taps", "visits"))
        if counted is None or "page" not in counted:
            return None
        out["pages"].append(counted)
    if "review" in value:
        review = _counts(value["review"], ("ms", "taps", "visits"))
        if review is None:
            return None
        out["review"] = review
    return out


def _bad_request(errors: list[ItemError]) -> tuple[Any, int]:
    """The 400 answer: at most MAX_ERRORS errors, a last "… và N lỗi khác" entry, and the total."""
    shown = [e.to_dict() for e in cap_errors(errors)]
    return jsonify({"status": "invalid", "errors": shown, "errors_total": len(errors)}), 400


def _field_error(item: str | None, code: str, vi: str, en: str) -> tuple[Any, int]:
    return _bad_request([ItemError(item, code, vi, en)])


def _token(body: dict[str, Any] | None) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if body is not None:
        token = body.get("kiosk_token")
        if isinstance(token, str) and token.strip():
            return token.strip()
    return None


@bp.post("/responses")
def submit_response():
    """Store one kiosk submission (idempotent by instance id)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    too_large = limit and request.content_length is not None and request.content_length > limit
    if limit and not too_large and request.content_length is None:
        # A chunked upload has no length: Werkzeug reads at most `limit` bytes and drops the rest, so a
        # body that fills the limit is one that did not fit.
        too_large = len(request.get_data(cache=True)) >= limit
    if too_large:
        return json_error(
            413, "Dữ liệu gửi lên quá lớn.", "The body is larger than allowed.", code="too_large"
        )
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # e.g. 10,000 nested lists: the JSON parser gives up, we answer 400
        return _field_error(
            None,
            "malformed",
            "Nội dung JSON lồng nhau quá sâu.",
            "the JSON body is nested too deeply",
        )
    if not isinstance(body, dict):
        return _field_error(
            None,
            "malformed",
            "Nội dung gửi lên phải là một đối tượng JSON.",
            "the body must be a JSON object (Content-Type: application/json)",
        )
    session = get_session()
    kiosk, campaign, refused = _submitter(session, body)
    if refused is not None:
        return refused
    if not accepts_responses(campaign) and not _filled_before_closing(campaign, body.get("submitted_at")):
        return _not_open(campaign)
    code_row, unit_code, refused = _code_and_unit(session, body, campaign, kiosk)
    if refused is not None:
        return refused

    errors = _check_fields(body, campaign, unit_code)
    if errors:
        return _bad_request(errors)
    stratum = body.get("stratum")
    if code_row is not None and code_row.stratum:
        # The case file's procedure field is the stratum, whatever the form says (survey.codes).
        stratum = code_row.stratum
    # Malformed paradata never costs the respondent's answers: the form is stored without it and the
    # reply says so (a refusal would strand the form in the tablet's outbox, resent unchanged forever).
    paradata = read_paradata(body["paradata"]) if body.get("paradata") is not None else None
    ignored = body.get("paradata") is not None and paradata is None

    try:
        response, created = save_response(
            session,
            campaign=campaign,
            unit_code=unit_code,
            instance_id=body["instance_id"],
            answers=body["answers"],
            questionnaire_id=body["questionnaire"],
            version=body["version"],
            started_at=body["started_at"],
            submitted_at=body["submitted_at"],
            stratum=stratum,
            group=body.get("group"),
            language=body.get("language"),
            source="kiosk" if kiosk is not None else "phone",
            kiosk=kiosk,
            paradata=paradata,
            # The code is used in the response's own transaction: both are stored, or neither.
            on_insert=(lambda _id: use_code(session, code_row.id)) if code_row is not None else None,
        )
    except CodeUsed:
        session.rollback()
        return _code_used()
    except CampaignNotOpen:  # closed while the form was on its way
        session.rollback()
        return _not_open(campaign)
    except ValidationFailed as exc:
        session.rollback()
        return _bad_request(exc.errors)
    except InstanceInOtherCampaign as exc:
        session.rollback()
        return json_error(
            409,
            "Mã phiếu này đã được lưu ở một đợt khảo sát khác, nên không được lưu vào đợt này. "
            "Phiếu vẫn được giữ trên máy; xin báo cán bộ phụ trách.",
            f"instance id {exc.instance_id} is already stored in another campaign; "
            "it was not stored in this one",
            code="instance_id_other_campaign",
            instance_id=exc.instance_id,
        )
    except DuplicateConflict as exc:
        session.rollback()
        return json_error(
            409,
            "Mã phiếu này đã được gửi với nội dung khác; phiếu mới không được lưu.",
            str(exc),
            code="conflict",
            instance_id=exc.instance_id,
        )
    extra = _paradata_ignored() if ignored and created else {}
    if created:
        reply = {"status": "created", "id": response.id, "instance_id": response.instance_id}
        return jsonify(reply | ({"late": True} if response.late else {}) | extra), 201
    return jsonify({"status": "duplicate", "id": response.id, "instance_id": response.instance_id}), 200


# ------------------------------------------------------------------------- phones and answer codes
CODE_MESSAGES = {
    "code_required": (
        "Đợt khảo sát này cần mã phiếu in trên phiếu mời (mỗi hồ sơ một phiếu). Xin nhập mã phiếu.",
        "this campaign takes a form only with an answer code (one form per case file)",
    ),
    "code_unknown": (
        "Mã phiếu không đúng. Xin Ông/Bà kiểm tra lại mã in trên phiếu mời, "
        "hoặc hỏi cán bộ tại Bộ phận Một cửa.",
        "no such answer code in this campaign",
    ),
    "code_used": (
        "Mã phiếu này đã được dùng để gửi một phiếu khảo sát. Mỗi mã chỉ dùng được một lần. "
        "Xin cảm ơn Ông/Bà!",
        "this answer code has been used already",
    ),
}


def _public_campaign(session: Any, value: Any) -> Campaign | None:
    """The campaign of a phone form (``campaign``: its id), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        return None
    return session.get(Campaign, value)


def _no_campaign() -> Response:
    return json_error(
        404,
        "Không có đợt khảo sát này. Xin kiểm tra lại đường dẫn hoặc mã QR.",
        "no such campaign",
        code="not_found",
    )


def code_limits():
    return current_app.extensions.get("sipas.code_limits")


def _client_tag() -> str:
    """The client's address as the code limits keep it: a keyed hash, never the address itself.

    A counter's window starts at the first try; with the raw address it would tie an address to about
    when a coded form arrived.
    """
    keys = code_keys()
    return hmac.new(keys.store, f"client\x1f{client_address()}".encode(), hashlib.sha256).hexdigest()[:32]


def _code_try(campaign: Campaign) -> Response | None:
    """Count one try of a code (per client address and per campaign); the 429 answer when over the limit."""
    limits = code_limits()
    wait = limits.acquire(_client_tag(), f"campaign:{campaign.id}") if limits is not None else 0
    if not wait:
        return None
    minutes = max(1, -(-wait // 60))
    reply = json_error(
        429,
        f"Đã nhập sai mã phiếu quá nhiều lần. Xin thử lại sau {minutes} phút.",
        f"too many wrong answer codes; try again in {minutes} minute(s)",
        code="too_many_requests",
    )
    reply.headers["Retry-After"] = str(wait)
    return reply


def _give_back_code_try(campaign: Campaign) -> None:
    limits = code_limits()
    if limits is not None:
        # Counters back at zero are deleted: a right code leaves no trace of when it was typed.
        limits.release(_client_tag(), f"campaign:{campaign.id}", forget=True)


def _item_refusal(item: str, code: str, vi: str, en: str) -> Response:
    """The 400 answer of one item's error, as one Response."""
    reply, status = _field_error(item, code, vi, en)
    reply.status_code = status
    return reply


def _code_refusal(code: str) -> Response:
    vi, en = CODE_MESSAGES[code]
    return _item_refusal("answer_code", code, vi, en)


def _code_used() -> Response:
    # 400 with the item, not 409: to a kiosk a 409 means "an earlier copy of this very form is stored".
    return _code_refusal("code_used")


def _answer_code(session: Any, campaign: Campaign, text_: Any) -> tuple[AnswerCode | None, Response | None]:
    """The stored code a form names, or the refusal to send (counted against the rate limits)."""
    if text_ is None or (isinstance(text_, str) and not text_.strip()):
        return None, _code_refusal("code_required")
    if not isinstance(text_, str):
        return None, _item_refusal(
            "answer_code", "wrong_type", "Mã phiếu phải là chuỗi.", "answer_code must be a string"
        )
    limited = _code_try(campaign)
    if limited is not None:
        return None, limited
    try:
        code = parse_code(text_[:64])
    except CodeError as exc:
        return None, _item_refusal("answer_code", f"code_{exc.kind}", exc.message, exc.message_en)
    row = find_code(session, campaign, code, code_keys())
    if row is None:
        return None, _code_refusal("code_unknown")
    # A code that exists gives its try back (used or not: a used one admits nothing), so what
    # accumulates against the limits are wrong codes.
    _give_back_code_try(campaign)
    return row, None


@bp.post("/codes/check")
def check_code():
    """Whether an answer code may open a form: its unit and stratum (the code is not used up here)."""
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        return _field_error(
            None, "malformed", "Nội dung gửi lên phải là một đối tượng JSON.", "a JSON object"
        )
    session = get_session()
    campaign = _public_campaign(session, body.get("campaign"))
    if campaign is None:
        return _no_campaign()
    if not accepts_responses(campaign):
        return _not_open(campaign)
    row, refused = _answer_code(session, campaign, body.get("code"))
    if refused is not None:
        return refused
    if row.used:
        return _code_used()
    names = {u.unit_code: u.unit_name for u in campaign.units}
    labels = {str(s.get("code")): s.get("label") for s in campaign.strata or []}
    return jsonify(
        {
            "status": "ok",
            "code": display(parse_code(body["code"])),
            "unit": row.unit_code,
            "unit_name": names.get(row.unit_code, row.unit_code),
            "stratum": row.stratum,
            "stratum_label": labels.get(row.stratum) if row.stratum else None,
        }
    )


def _submitter(session: Any, body: dict[str, Any]) -> tuple[Any, Campaign | None, Any]:
    """``(kiosk, campaign, None)`` of a submission (kiosk None: a phone), or ``(…, refusal)``."""
    token = _token(body)
    if token is None and body.get("campaign") is None:
        refused = json_error(
            401, "Thiếu mã máy trạm (kiosk_token).", "kiosk_token is missing", code="unauthorized"
        )
        return None, None, refused
    if token is None:  # a respondent's own phone: the campaign's public form (survey.kiosk.phone_page)
        campaign = _public_campaign(session, body.get("campaign"))
        return None, campaign, _no_campaign() if campaign is None else None
    kiosk = kiosk_for_token(session, token)
    if kiosk is None:
        refused = json_error(
            403,
            "Mã máy trạm không đúng hoặc đã bị thu hồi. Xin liên hệ cán bộ phụ trách.",
            "unknown or revoked kiosk token",
            code="forbidden",
        )
        return None, None, refused
    return kiosk, kiosk.campaign, None


def _code_and_unit(
    session: Any, body: dict[str, Any], campaign: Campaign, kiosk: Any
) -> tuple[AnswerCode | None, Any, Any]:
    """The answer code a form needs (None when the campaign needs none) and its unit, or the refusal."""
    if campaign.answer_codes or body.get("answer_code") is not None:
        code_row, refused = _answer_code(session, campaign, body.get("answer_code"))
        if refused is not None:
            return None, None, refused
        if kiosk is not None and code_row.unit_code != kiosk.unit_code:
            refused = _field_error(
                "answer_code",
                "code_other_unit",
                "Mã phiếu này thuộc đơn vị khác, không dùng được trên máy trạm này.",
                f"the code belongs to another unit than this kiosk's ({kiosk.unit_code})",
            )
            return None, None, refused
        return code_row, code_row.unit_code, None
    if kiosk is not None:
        return None, kiosk.unit_code, None
    unit_code = body.get("unit")
    if not isinstance(unit_code, str) or not unit_code:
        return None, None, _field_error("unit", "required", "Thiếu đơn vị (unit).", "unit is required")
    return None, unit_code, None


def _paradata_ignored() -> dict[str, Any]:
    """What a reply adds when the answers were stored but the paradata was not."""
    return {
        "paradata": "ignored",
        "warnings": [
            ItemError(
                "paradata",
                "malformed",
                "Đã lưu câu trả lời; dữ liệu thời gian và số lần chạm không đúng dạng nên không được lưu.",
                "the answers are stored; the paradata is malformed and was not stored",
            ).to_dict()
        ],
    }


def _not_open(campaign: Campaign) -> Response:
    """The 403 answer for a form that ``campaign`` does not take now."""
    code, message, message_en = refusal(campaign)
    return json_error(403, message, message_en, code=code)


def _filled_before_closing(campaign: Campaign, submitted_at: Any) -> bool:
    """Return whether the form's own ``submitted_at`` predates the campaign's closing (a late form)."""
    if not isinstance(submitted_at, str):
        return False
    try:
        return arrives_late(campaign, parse_timestamp(submitted_at))
    except ValueError:
        return False


def _check_fields(body: dict[str, Any], campaign: Campaign, unit_code: str) -> list[ItemError]:
    """The submission's envelope (everything but the answers themselves) as per-field errors."""
    errors: list[ItemError] = []
    unknown = set(body) - FIELDS
    if len(unknown) > MAX_ERRORS:  # not a kiosk's typo: one error, not one per key
        return [
            ItemError(
                None,
                "too_many_fields",
                f"Nội dung gửi lên có {len(unknown)} trường không được hỗ trợ; phiếu không được xét.",
                f"the body has {len(unknown)} unknown fields; it was not checked",
            )
        ]
    for key in sorted(unknown, key=str):
        shown = shorten(key)
        errors.append(
            ItemError(
                shown, "unknown_field", f"Trường '{shown}' không được hỗ trợ.", f"unknown field {shown!r}"
            )
        )
    if body.get("campaign") is not None and body["campaign"] != campaign.id:
        errors.append(
            ItemError(
                "campaign",
                "wrong_campaign",
                "Phiếu trên máy không thuộc đợt khảo sát này; xin tải lại trang.",
                f"the form is for campaign {shorten(str(body['campaign']))}, not {campaign.id}",
            )
        )
    for key in REQUIRED_FIELDS:
        if body.get(key) is None:
            errors.append(ItemError(key, "required", f"Thiếu trường '{key}'.", f"{key} is required"))
    for key in (
        "instance_id",
        "questionnaire",
        "version",
        "started_at",
        "submitted_at",
        "unit",
        "stratum",
        "group",
        "language",
        "answer_code",
    ):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors.append(
                ItemError(key, "wrong_type", f"Trường '{key}' phải là chuỗi.", f"{key} must be a string")
            )
    if errors:
        return errors
    try:
        normalise_instance_id(body["instance_id"])
    except ValueError as exc:
        errors.append(
            ItemError("instance_id", "wrong_type", "Mã phiếu (instance_id) phải là một UUID.", str(exc))
        )
    if not isinstance(body["answers"], dict):
        errors.append(
            ItemError(
                "answers",
                "wrong_type",
                "'answers' phải là đối tượng {mã câu: giá trị}.",
                "answers must be an object",
            )
        )
    if (
        body["questionnaire"] != campaign.questionnaire_id
        or body["version"] != campaign.questionnaire_version
    ):
        errors.append(
            ItemError(
                "questionnaire",
                "wrong_questionnaire",
                "Phiếu trên máy đã cũ hoặc không đúng đợt khảo sát; xin tải lại trang.",
                f"questionnaire {shorten(body['questionnaire'])} {shorten(body['version'])} "
                "is not this campaign's "
                f"({campaign.questionnaire_id} {campaign.questionnaire_version})",
            )
        )
    unit = body.get("unit")
    if unit is not None and unit != unit_code:
        errors.append(
            ItemError(
                "unit",
                "wrong_unit",
                f"Máy trạm này thuộc đơn vị {unit_code}, không phải {shorten(unit)}.",
                f"this kiosk belongs to unit {unit_code}, not {shorten(unit)}",
            )
        )
    return errors


@bp.get("/kiosk/<token>/definition")
def kiosk_definition(token: str):
    """What the kiosk page needs: the campaign, the unit, and the questionnaire as client JSON."""
    session = get_session()
    kiosk = kiosk_for_token(session, token)
    if kiosk is None:
        return json_error(403, "Mã máy trạm không đúng hoặc đã bị thu hồi.", "unknown or revoked kiosk token")
    campaign = kiosk.campaign
    if not accepts_responses(campaign):
        return _not_open(campaign)
    return _definition(campaign, kiosk.unit_code, kiosk.counter, token=token)


@bp.get("/phone/<int:campaign_id>/definition")
def phone_definition(campaign_id: int):
    """The same for a respondent's own phone: the unit comes from the code, or ``?unit=`` (a poster)."""
    session = get_session()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return _no_campaign()
    if not accepts_responses(campaign):
        return _not_open(campaign)
    unit = request.args.get("unit") or None
    if unit is not None and unit not in {u.unit_code for u in campaign.units}:
        return json_error(404, "Đơn vị này không thuộc đợt khảo sát.", "no such unit in this campaign")
    if unit is None and not campaign.answer_codes:
        return json_error(
            404, "Đường dẫn thiếu đơn vị khảo sát.", "a campaign without answer codes needs ?unit="
        )
    return _definition(campaign, unit, None, phone=True)


def _definition(
    campaign: Campaign,
    unit_code: str | None,
    counter: str | None,
    *,
    phone: bool = False,
    token: str | None = None,
) -> Response:
    from .client import client_definition
    from .kiosk import kiosk_audio
    from .kiosk_display import display_for
    from .kiosk_texts import language_choices, texts_for

    unit_name = None
    if unit_code is not None:
        unit_name = get_session().scalar(
            select(CampaignUnit.unit_name).where(
                CampaignUnit.campaign_id == campaign.id, CampaignUnit.unit_code == unit_code
            )
        )
    questionnaire = campaign_questionnaire(campaign)
    display = display_for(campaign)
    return jsonify(
        {
            "campaign": {
                "id": campaign.id,
                "name": campaign.name,
                "period_start": campaign.period_start,
                "period_end": campaign.period_end,
                # "Mỗi hồ sơ một phiếu": the form opens only after a code is checked (static/kiosk/code.js).
                "answer_codes": bool(campaign.answer_codes),
            },
            "kiosk": {"unit": unit_code, "unit_name": unit_name, "counter": counter},
            "questionnaire": client_definition(questionnaire, likert_faces=display.likert_faces),
            # The languages a respondent may choose (Vietnamese first) and the kiosk's fixed texts in them.
            "languages": language_choices(questionnaire),
            "texts": texts_for(respondent_languages(questionnaire)),
            # One question per screen or one section per page, and whether Likert scales are faces.
            "display": display.to_client(),
            "submit_url": "/api/v1/responses",
            "code_check_url": "/api/v1/codes/check",
            "reset_seconds": current_app.config["KIOSK_RESET_SECONDS"],
            # A phone is its owner's: the form is wiped only after a long pause (a call, a queue).
            # On a tablet, the campaign's own timeout when set (survey.kiosk_display), else the server's.
            "idle_seconds": current_app.config["PHONE_IDLE_SECONDS"]
            if phone
            else display.idle_seconds or current_app.config["KIOSK_IDLE_SECONDS"],
            "idle_warning_seconds": current_app.config["KIOSK_IDLE_WARNING_SECONDS"],
            "tap_guard_ms": current_app.config["KIOSK_TAP_GUARD_MS"],
            # The tablet sends per-page timings and taps only to a server that says it takes them.
            "paradata": {"v": PARADATA_VERSION, "max_pages": PARADATA_MAX_PAGES},
            "audio": kiosk_audio(get_session(), campaign, token),
        }
    )


@bp.get("/campaigns/<int:campaign_id>/progress")
@role_required("admin", "analyst", "enumerator")
def campaign_progress(campaign_id: int):
    """Responses per unit against target, for logged-in staff."""
    session = get_session()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return json_error(404, "Không có đợt khảo sát này.", f"no campaign with id {campaign_id}")
    visible = visible_campaign_ids(session, current_user())  # an enumerator: their assigned campaigns
    if visible is not None and campaign.id not in visible:
        return json_error(403, NOT_ASSIGNED_CAMPAIGN, "you are not assigned to this campaign")
    result = progress(session, campaign)
    return jsonify(
        {
            "campaign": {
                "id": campaign.id,
                "name": campaign.name,
                "status": campaign.status,
                "closed_at": campaign.closed_at.isoformat() if campaign.closed_at else None,
            },
            **result.to_dict(),
        }
    )


# /healthz: a host is healthy when its database takes a write, not merely when it answers a read (a
# full disk or a read-only database answers SELECT 1 and refuses every form). The write is tried and
# rolled back, so the check leaves nothing behind. What it costs: one statvfs, and on SQLite the write
# lock for a moment; on PostgreSQL one query.
HEALTHZ_MIN_FREE_BYTES = 16 * 1024 * 1024  # SQLite: less free space than this beside the file is "full"
HEALTHZ_BUSY_MS = 5000  # SQLite: how long the probe waits for another writer before it says "busy"
_PROBE_TABLE = "_sipas_healthz_probe"  # created inside the probe's transaction, never committed
HEALTH_PROBLEMS: dict[str, tuple[str, str]] = {
    "database_read_only": (
        "Cơ sở dữ liệu chỉ cho phép đọc: phiếu gửi lên lúc này sẽ không được lưu.",
        "the database is read-only: no form can be stored now",
    ),
    "database_full": (
        "Ổ đĩa của cơ sở dữ liệu đã đầy: phiếu gửi lên lúc này sẽ không được lưu.",
        "the database's disk is full: no form can be stored now",
    ),
    "database_busy": (
        "Cơ sở dữ liệu đang bị một chương trình khác giữ khóa ghi quá lâu.",
        "another program has held the database's write lock for too long",
    ),
    "database_unavailable": (
        "Không kết nối được cơ sở dữ liệu.",
        "the database cannot be reached",
    ),
}


def healthz() -> Response:
    """Answer 200 when the database can take a write; 503 with the reason (``error``) otherwise."""
    session = get_session()
    try:
        problem = _write_problem(session)
    except SQLAlchemyError as exc:
        session.rollback()
        problem = _problem_of(exc)
        if problem is None:
            raise  # not an outage: survey.errors answers it as any other database error
    if problem is None:
        return jsonify({"status": "ok"})
    vi, en = HEALTH_PROBLEMS[problem]
    current_app.logger.warning("healthz: %s", en)
    reply = json_error(503, vi, en, code=problem, check="write")
    reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return reply


def _write_problem(session: Session) -> str | None:
    """Why the database cannot take a write now (a key of HEALTH_PROBLEMS), or None when it can."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        if _low_on_disk(engine.url.database):
            return "database_full"
        with write_lock(session), engine.connect() as conn:
            before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {HEALTHZ_BUSY_MS}")
            try:
                # BEGIN IMMEDIATE takes the write lock (refused when read-only or held too long); a new
                # table needs a free page (refused when the file may not grow: SQLITE_FULL).
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.exec_driver_sql(f"CREATE TABLE {_PROBE_TABLE} (probe INTEGER)")
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before)}")
        return None
    if dialect == "postgresql":
        read_only, recovering = session.execute(
            text("SELECT current_setting('transaction_read_only'), pg_is_in_recovery()")
        ).one()
        session.rollback()
        return "database_read_only" if read_only == "on" or recovering else None
    session.execute(text("SELECT 1"))
    return None


def _low_on_disk(database: str | None) -> bool:
    """Whether the folder of a SQLite file has less than HEALTHZ_MIN_FREE_BYTES free."""
    if not database or database == ":memory:":
        return False
    path = Path(database.removeprefix("file:")).parent
    try:
        stat = os.statvfs(path)
    except OSError:
        return False  # the probe's write says what is wrong with a folder that cannot be read
    minimum = current_app.config.get("HEALTHZ_MIN_FREE_BYTES", HEALTHZ_MIN_FREE_BYTES)
    return stat.f_bavail * stat.f_frsize < int(minimum)


def _problem_of(exc: SQLAlchemyError) -> str | None:
    """The HEALTH_PROBLEMS key of a database error from the probe, None when it is no outage."""
    orig = getattr(exc, "orig", None)
    sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    text_of = str(orig or exc).lower()
    if sqlstate == "25006" or "readonly" in text_of or "read-only" in text_of:
        return "database_read_only"
    if sqlstate in ("53100", "53000") or "disk is full" in text_of or "disk full" in text_of:
        return "database_full"
    if "database is locked" in text_of:
        return "database_busy"
    return "database_unavailable" if database_unavailable(exc) else None


def init_app(app: Flask) -> None:
    """Register the API blueprint (CSRF-exempt: kiosks use tokens, not cookies) and /healthz."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
    app.register_blueprint(bp)
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
