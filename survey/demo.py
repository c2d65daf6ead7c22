"""The demonstration set-up behind ``sipas demo``: a clearly labelled demo campaign, idempotently.

Everything here is synthetic: invented numbers of people served, and (optionally) generated
responses so that progress pages, exports, ``sipas score`` and ``sipas report`` show something at once.
Running it again changes nothing but the admin password (a fresh one each time, printed once) and
adds responses only up to the number asked for; instance ids are derived from the campaign, unit and
index, so a second run meets its own earlier responses as duplicates.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from questionnaires import QuestionType, load_units
from reports.synthetic import synthetic_answers

from .campaigns import campaign_questionnaire, create_campaign, create_kiosk, kiosk_for_token, kiosk_url
from .models import Campaign, Kiosk, Response, User
from .storage import save_response
from .users import create_user, generate_password, set_password

DEMO_QUESTIONNAIRE = "sipas-2017"
DEMO_UNITS = "tra-bong-2023"
DEMO_NAME = "[DEMO] Khảo sát SIPAS 2017 — huyện Trà Bồng (dữ liệu minh họa)"
DEMO_ADMIN = "admin"
# Forms per commune: above the questionnaire's min_n (30), so that the report and the dashboard read
# normally; two communes are kept deliberately thin (below min_n) to show how a small sample is flagged.
DEMO_RESPONSES = 40
THIN_UNITS = ("tra-xinh", "tra-tay")
THIN_RESPONSES = 12
KIOSK_FILE = "demo-kiosks.txt"
STAFF_PIN_FILE = "demo-staff-pin.txt"
_NAMESPACE = uuid.UUID("6f1c7a2e-5b0d-4c1e-9a43-0d5b8e2f9c11")


@dataclass
class DemoSetup:
    campaign_id: int
    admin_username: str
    admin_password: str
    kiosk_urls: dict[str, str]  # unit code -> URL
    unit_names: dict[str, str]
    kiosk_file: Path
    responses_added: int = 0
    responses_total: int = 0
    thin_units: dict[str, int] = field(default_factory=dict)  # unit code -> forms, below min_n
    created: list[str] = field(default_factory=list)  # what this run created, for the summary


def demo_populations(unit_codes: list[str]) -> dict[str, int]:
    """Invented, plausible numbers of people served per commune in a year (fixed seed)."""
    rng = random.Random(2017)
    return {code: rng.randrange(400, 2600, 10) for code in unit_codes}


def _read_kiosk_file(path: Path) -> dict[str, str]:
    tokens: dict[str, str] = {}
    if not path.exists():
        return tokens
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and "/k/" in parts[2]:
            tokens[parts[0]] = parts[2].rsplit("/k/", 1)[1]
    return tokens


def _write_kiosk_file(path: Path, urls: dict[str, str], names: dict[str, str]) -> None:
    lines = [
        "# Đường dẫn máy trạm (kiosk) của đợt khảo sát DEMO — mỗi xã một đường dẫn; giữ kín như mật khẩu.",
        "# Demo kiosk links, one per commune (unit code, commune, URL). Keep them private.",
    ]
    lines += [f"{code}\t{names[code]}\t{url}" for code, url in urls.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def demo_staff_pin(instance_path: str | Path) -> str:
    """The demo tablets' staff PIN: 6 random digits made once, kept in the instance folder (0600).

    Without a PIN anyone who taps the status dot opens the staff panel; the demo sets one so that it
    shows the tablet as it should be run. It stays the same from one run to the next.
    """
    path = Path(instance_path) / STAFF_PIN_FILE
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        if text.isascii() and text.isdigit() and 4 <= len(text) <= 12:
            return text
    pin = f"{secrets.randbelow(10**6):06d}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pin + "\n", encoding="utf-8")
    path.chmod(0o600)
    return pin


def set_up_demo(
    session: Session, *, instance_path: str | Path, base_url: str, sample_responses: int = DEMO_RESPONSES
) -> DemoSetup:
    """Create (or find) the demo campaign, admin account, kiosk links and sample responses."""
    created: list[str] = []
    password = generate_password()
    admin = session.scalars(select(User).where(User.username == DEMO_ADMIN)).one_or_none()
    if admin is None:
        admin = create_user(session, DEMO_ADMIN, password, "admin", full_name="Quản trị viên (demo)")
        created.append("admin account")
    else:
        set_password(session, admin, password)
        admin.active = True

    campaign = session.scalars(select(Campaign).where(Campaign.name == DEMO_NAME)).first()
    if campaign is None:
        units = load_units(DEMO_UNITS)
        year = datetime.now(UTC).year
        campaign = create_campaign(
            session,
            name=DEMO_NAME,
            questionnaire=DEMO_QUESTIONNAIRE,
            unit_list=DEMO_UNITS,
            period_start=f"{year}-01-01",
            period_end=f"{year}-12-31",
            populations=demo_populations(list(units.codes)),
            # A demonstration target that the sample forms reach (Slovin's n for these N would be
            # 200-330 forms a commune): the report reads as a normal one, the thin communes stand out.
            targets=dict.fromkeys(units.codes, DEMO_RESPONSES),
            created_by=admin,
        )
        created.append("demo campaign")
    session.commit()

    names = {u.unit_code: u.unit_name for u in campaign.units}
    kiosk_path = Path(instance_path) / KIOSK_FILE
    known = _read_kiosk_file(kiosk_path)
    urls: dict[str, str] = {}
    kiosks: dict[str, Kiosk] = {}
    for unit in campaign.units:
        token = known.get(unit.unit_code)
        kiosk = kiosk_for_token(session, token) if token else None
        if kiosk is None or kiosk.campaign_id != campaign.id or kiosk.unit_code != unit.unit_code:
            kiosk, token = create_kiosk(
                session, campaign, unit.unit_code, counter="Bộ phận Một cửa", created_by=admin
            )
            created.append(f"kiosk {unit.unit_code}")
        kiosks[unit.unit_code] = kiosk
        urls[unit.unit_code] = kiosk_url(token, base_url)
    session.commit()
    _write_kiosk_file(kiosk_path, urls, names)

    per_unit = {code: thin_count(code, sample_responses) for code in kiosks}
    added = _add_sample_responses(session, campaign, kiosks, per_unit)
    total = session.scalar(select(func.count(Response.id)).where(Response.campaign_id == campaign.id)) or 0
    return DemoSetup(
        campaign_id=campaign.id,
        admin_username=admin.username,
        admin_password=password,
        kiosk_urls=urls,
        unit_names=names,
        kiosk_file=kiosk_path,
        responses_added=added,
        responses_total=int(total),
        created=created,
        thin_units={code: n for code, n in per_unit.items() if n < sample_responses},
    )


def thin_count(unit_code: str, per_unit: int) -> int:
    """Sample forms of a commune: ``per_unit``, fewer for the deliberately thin communes."""
    return min(per_unit, THIN_RESPONSES) if unit_code in THIN_UNITS else per_unit


def _add_sample_responses(
    session: Session, campaign: Campaign, kiosks: dict[str, Kiosk], per_unit: dict[str, int]
) -> int:
    questionnaire = campaign_questionnaire(campaign)
    added = 0
    # Times are laid out from the campaign's creation, not from "now": a second run must produce the
    # very same responses (same content hash), or they would be conflicts rather than duplicates.
    created = campaign.created_at if campaign.created_at.tzinfo else campaign.created_at.replace(tzinfo=UTC)
    base = created.astimezone(UTC).replace(second=0, microsecond=0)
    for unit_code, kiosk in kiosks.items():
        # Each commune has its own level, so that ranks differ and a few communes score 95-100%.
        level = random.Random(f"{campaign.id}:{unit_code}").uniform(0.6, 0.98)
        for i in range(per_unit[unit_code]):
            rng = random.Random(f"{campaign.id}:{unit_code}:{i}")
            submitted = base - timedelta(minutes=rng.randrange(30 * 24 * 60))
            answers = synthetic_answers(questionnaire, rng, level)
            start = submitted - timedelta(minutes=rng.randint(3, 12))
            answers = {
                **answers,
                **{
                    q.code: start.isoformat()
                    for q in questionnaire.questions()
                    if q.type is QuestionType.START
                },
                **{
                    q.code: submitted.isoformat()
                    for q in questionnaire.questions()
                    if q.type is QuestionType.END
                },
            }
            _, was_created = save_response(
                session,
                campaign=campaign,
                unit_code=unit_code,
                instance_id=str(uuid.uuid5(_NAMESPACE, f"{campaign.id}:{unit_code}:{i}")),
                answers=answers,
                questionnaire_id=campaign.questionnaire_id,
                version=campaign.questionnaire_version,
                started_at=start,
                submitted_at=submitted,
                source="kiosk",
                kiosk=kiosk,
            )
            added += int(was_created)
    return added
