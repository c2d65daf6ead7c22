from sqlalchemy import inspect, select

from survey.db import get_session
from survey.models import Base, Campaign


def test_schema_is_migrated_to_the_models(app):
    tables = set(inspect(app.extensions["sipas.engine"]).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_vietnamese_text_and_json_round_trip(app):
    name = "Khảo sát SIPAS — Trà Bồng, Hương Trà, Sơn Trà"
    with app.app_context():
        session = get_session()
        session.add(
            Campaign(
                name=name,
                questionnaire_id="sipas-2017",
                questionnaire_version="2017.1",
                definition={"title": {"vi": "Phiếu khảo sát sự hài lòng"}, "n": [1, 2]},
            )
        )
        session.commit()
    with app.app_context():
        row = get_session().scalars(select(Campaign)).one()
        assert row.name == name
        assert row.definition == {"title": {"vi": "Phiếu khảo sát sự hài lòng"}, "n": [1, 2]}
