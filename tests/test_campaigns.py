"""Campaigns: targets (Slovin), frozen definitions, kiosk tokens and progress."""

from __future__ import annotations

import hashlib
import math
import shutil
import uuid

import pytest
from conftest import full_answers
from sqlalchemy import event, select

from questionnaires import load_questionnaire, to_dict
from survey.campaigns import (
    campaign_questionnaire,
    create_campaign,
    create_kiosk,
    kiosk_for_token,
    kiosk_url,
    progress,
    revoke_kiosk,
    slovin_target,
)
from survey.db import session_scope
from survey.errors import CampaignError
from survey.models import Campaign, FrameCell, Kiosk
from survey.storage import save_response


@pytest.mark.parametrize(
    "population, margin, expected",
    [
        (1000, 0.05, 286),  # 1000 / 3.5 = 285.71
        (400, 0.05, 200),  # exactly 200: no rounding up from float noise
        (100, 0.05, 80),  # 100 / 1.25 = 80 exactly
        (30, 0.05, 28),  # 30 / 1.075 = 27.9
        (1, 0.05, 1),
        (0, 0.05, 0),
        (10_000, 0.1, 100),  # 10000 / 101 = 99.0099
        (2500, 0.03, 770),  # 2500 / 3.25 = 769.23
    ],
)
def test_slovin_targets(population, margin, expected):
    assert slovin_target(population, margin) == expected
    if population:
        assert expected == math.ceil(round(population / (1 + population * margin**2), 9))


@pytest.mark.db
def test_create_campaign_computes_targets_unless_typed_in(app):
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session,
            name="Khảo sát SIPAS 2023 — Trà Bồng",
            questionnaire="sipas-2023",
            unit_list="tra-bong-2023",
            period_start="2023-09-15",
            period_end="2023-10-31",
            populations={"tra-xuan": 1000, "tra-giang": 400, "tra-thuy": 50},
            targets={"tra-giang": 150, "tra-bui": 30},
        )
        units = {u.unit_code: u for u in campaign.units}
        assert [u.unit_code for u in campaign.units][:3] == ["tra-xuan", "tra-giang", "tra-thuy"]
        assert len(units) == 16
        assert (units["tra-xuan"].population, units["tra-xuan"].target) == (1000, 286)
        assert (units["tra-giang"].population, units["tra-giang"].target) == (400, 150)  # typed in
        assert units["tra-thuy"].target == 45  # 50 / 1.125 = 44.4
        assert units["tra-bui"].target == 30 and units["tra-bui"].population is None
        assert units["tra-tay"].target is None
        assert units["tra-xuan"].unit_name == "Thị trấn Trà Xuân"
        assert campaign.unit_list_id == "tra-bong-2023"
        assert (campaign.questionnaire_id, campaign.questionnaire_version) == ("sipas-2023", "2023.1")
        assert campaign.definition == to_dict(load_questionnaire("sipas-2023"))
        assert [s["code"] for s in campaign.strata][:2] == ["dat_dai", "ho_tich"]
        assert campaign.strata[0]["label"] == "Đất đai"


@pytest.mark.db
@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "  "}, "tên đợt khảo sát"),
        ({"questionnaire": "khong-co"}, "khong-co"),
        ({"unit_list": "khong-co"}, "khong-co"),
        ({"populations": {"ha-noi": 100}}, "ha-noi"),
        ({"targets": {"tra-xuan": -3}}, "tra-xuan"),
        ({"populations": {"tra-xuan": "nhiều"}}, "tra-xuan"),
        ({"period_start": "2023-10-01", "period_end": "2023-09-01"}, "trước ngày bắt đầu"),
        ({"period_start": "15/09/2023"}, "YYYY-MM-DD"),
        ({"margin_of_error": 0}, "sai số"),
        ({"unit_list": None, "units": [("xa-a", "Xã A"), ("xa-a", "Xã A")]}, "hai lần"),
        ({"unit_list": None, "units": []}, "ít nhất một đơn vị"),
        ({"frame_cells": {("ha-noi", "ho_tich"): 10}}, "ha-noi"),
    ],
)
def test_create_campaign_refuses_bad_input_with_a_clear_message(app, change, message):
    params = dict(name="Đợt thử", questionnaire="sipas-2017", unit_list="tra-bong-2023")
    params.update(change)
    with app.app_context(), session_scope() as session:
        with pytest.raises(CampaignError, match=message):
            create_campaign(session, **params)
        session.rollback()
        assert session.scalars(select(Campaign)).all() == []


@pytest.mark.db
def test_frame_cells_are_stored(app):
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session,
            name="Khung mẫu",
            questionnaire="sipas-2017",
            units=[("xa-a", "Xã A"), ("xa-b", "Xã B")],
            frame_cells=[("xa-a", "ho_tich", 120), ("xa-a", "dat_dai", 40), ("xa-b", "", 75)],
        )
        cells = session.scalars(select(FrameCell).where(FrameCell.campaign_id == campaign.id)).all()
        assert sorted((c.unit_code, c.stratum, c.population) for c in cells) == [
            ("xa-a", "dat_dai", 40),
            ("xa-a", "ho_tich", 120),
            ("xa-b", "", 75),
        ]


@pytest.mark.db
def test_the_campaign_keeps_its_questionnaire_when_the_file_changes(app, tmp_path):
    path = tmp_path / "sipas-2017.yaml"
    shutil.copy(_definition_file("sipas-2017"), path)
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(session, name="Đợt 1", questionnaire=path, units=[("xa-a", "Xã A")])
        campaign_id = campaign.id
    text = path.read_text(encoding="utf-8").replace("Nơi ngồi chờ có đủ chỗ ngồi", "Câu hỏi đã sửa")
    path.write_text(text, encoding="utf-8")
    assert load_questionnaire(path).question("tiep_can_1").label.vi == "Câu hỏi đã sửa"
    with app.app_context(), session_scope() as session:
        q = campaign_questionnaire(session.get(Campaign, campaign_id))
        assert q.question("tiep_can_1").label.vi == "Nơi ngồi chờ có đủ chỗ ngồi"
        assert q == load_questionnaire("sipas-2017")
        assert campaign_questionnaire(session.get(Campaign, campaign_id)) is q  # cached


def _definition_file(qid):
    from questionnaires.loader import definition_path

    return definition_path(qid)


@pytest.mark.db
def test_kiosk_tokens_are_stored_only_as_hashes(app):
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(session, name="Đợt", questionnaire="sipas-2017", unit_list="tra-bong-2023")
        kiosk, token = create_kiosk(session, campaign, "tra-phong", counter="Quầy 2")
        other, other_token = create_kiosk(session, campaign, "tra-phong")
        kiosk_id = kiosk.id
        assert token != other_token and len(token) >= 43
        assert kiosk.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert kiosk.token_hint == token[:6]
        assert token not in {kiosk.token_hash, kiosk.token_hint}
        assert kiosk_url(token, "https://sipas.trabong.gov.vn/") == f"https://sipas.trabong.gov.vn/k/{token}"
        with pytest.raises(CampaignError, match="ha-noi"):
            create_kiosk(session, campaign, "ha-noi")
    with app.app_context(), session_scope() as session:
        found = kiosk_for_token(session, token)
        assert found is not None and found.id == kiosk_id and found.counter == "Quầy 2"
        assert kiosk_for_token(session, token[:-1]) is None
        assert kiosk_for_token(session, "") is None and kiosk_for_token(session, None) is None
        revoke_kiosk(session, found)
        first_revoked = found.revoked_at
        revoke_kiosk(session, found)  # idempotent
        assert found.revoked_at == first_revoked
    with app.app_context(), session_scope() as session:
        assert kiosk_for_token(session, token) is None
        assert kiosk_for_token(session, other_token) is not None
        assert session.get(Kiosk, kiosk_id).revoked_at is not None


@pytest.mark.db
def test_closed_campaigns_get_no_new_kiosks(app):
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(session, name="Đợt", questionnaire="sipas-2017", units=[("xa-a", "Xã A")])
        campaign.status = "closed"
        with pytest.raises(CampaignError, match="đã đóng"):
            create_kiosk(session, campaign, "xa-a")


@pytest.mark.db
def test_progress_counts_per_unit_in_one_query(app):
    q = load_questionnaire("sipas-2017")
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session,
            name="Tiến độ",
            questionnaire="sipas-2017",
            units=[("xa-a", "Xã A"), ("xa-b", "Xã B"), ("xa-c", "Xã C")],
            populations={"xa-a": 100, "xa-b": 20},
        )
        session.commit()
        for unit, n in (("xa-a", 4), ("xa-c", 2)):
            for _ in range(n):
                save_response(
                    session,
                    campaign=campaign,
                    unit_code=unit,
                    instance_id=str(uuid.uuid4()),
                    answers=full_answers(q),
                    questionnaire_id="sipas-2017",
                    version="2017.1",
                    started_at=None,
                    submitted_at=None,
                    source="paper",
                )
        statements = []
        engine = session.get_bind()

        def listener(*args):
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", listener)
        try:
            result = progress(session, campaign)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert len([s for s in statements if "responses" in s]) == 1
        rows = {u.unit_code: u for u in result}
        assert [u.unit_code for u in result] == ["xa-a", "xa-b", "xa-c"]
        assert (rows["xa-a"].target, rows["xa-a"].responses, rows["xa-a"].percent) == (80, 4, 5.0)
        assert (rows["xa-b"].target, rows["xa-b"].responses, rows["xa-b"].percent) == (20, 0, 0.0)
        assert (rows["xa-c"].target, rows["xa-c"].responses, rows["xa-c"].percent) == (None, 2, None)
        assert rows["xa-b"].last_response_at is None
        assert rows["xa-a"].last_response_at.tzinfo is not None
        assert result.totals["responses"] == 6 and result.totals["target"] == 100
        assert result.totals["percent"] == 6.0 and result.totals["units_done"] == 0
