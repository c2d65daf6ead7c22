"""One-time answer codes: "mỗi hồ sơ một phiếu" (one response per case file).

A campaign with ``answer_codes`` on takes a kiosk, phone or API form only with an unused code. Each
case file (hồ sơ, the ``dossiers`` table) gets one code, printed on a slip with a QR code of the phone
form's address. The code is derived, not drawn at random, so that a slip can be printed again and the
code never needs to be stored:

* **code** = 7 characters of Crockford base32 taken from HMAC-SHA256(derive key, campaign id, case
  code), plus one check character: 8 characters, shown as ``XXXX-XXXX``. Without the key the code says
  nothing about the case code (HMAC is a pseudo-random function); with the key it is recomputed.
* **check character**: the 7 symbols read as elements of GF(32) (x⁵ + x² + 1) and folded Horner-style
  with x·a + d (a Damm-like quasigroup), the check symbol chosen so that the whole code folds to 0.
  Every single wrong character and every swap of two neighbours (or of two characters one apart) is
  caught; Crockford's reading rules (O → 0, I and L → 1, case, spaces and hyphens ignored) are applied
  first, so those are not typos at all.
* **stored**: only HMAC-SHA256(store key, campaign id, code) in ``answer_codes.code_hash``, with the
  unit and stratum the code fixes and a ``used`` flag: no code, no unkeyed hash of it, no case code or
  case-file row, no response id and no time of use (docs/answer-codes.md says why each is left out).
  Rows are inserted in the order of their hash, so their ids do not follow the case files' order.

Both keys come from ``ANSWER_CODE_KEY`` (``SIPAS_ANSWER_CODE_KEY``), else from a file
``answer_code_key`` kept in the instance folder (created on first use, mode 0600), never from the
database. Every host of one installation needs the same key; changing it voids every issued code.

A code is used in the same transaction as the response it admits: ``UPDATE answer_codes SET used =
true WHERE code_hash = … AND used = false`` right after the response's insert, and the transaction is
rolled back unless exactly one row changed (:func:`use_code`). Two phones racing with one code store
exactly one response, on SQLite (one writer at a time) and PostgreSQL (the second UPDATE waits for the
first transaction's row lock, then sees ``used = true``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .errors import SurveyError
from .models import AnswerCode, Campaign

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
BODY_LENGTH = 7
CODE_LENGTH = BODY_LENGTH + 1
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# Crockford's reading rules: letters people confuse with digits are those digits.
_VALUE.update({"O": 0, "I": 1, "L": 1})
_SEPARATORS = re.compile(r"[\s\-_.]+")
_POLY = 0b100101  # x^5 + x^2 + 1, irreducible over GF(2)
KEY_FILE = "answer_code_key"


class CodeError(SurveyError, ValueError):
    """A typed code that cannot be a code: ``kind`` is ``format`` (length, characters) or ``check``."""

    def __init__(self, kind: str, message: str, message_en: str):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.message_en = message_en


# ------------------------------------------------------------------------------- the code itself
def _times_x(a: int) -> int:
    a <<= 1
    return a ^ _POLY if a & 0b100000 else a


def _fold(values: Iterable[int]) -> int:
    acc = 0
    for v in values:
        acc = _times_x(acc) ^ v
    return acc


def check_symbol(body: str) -> str:
    """The check character of a 7-character body (Crockford symbols)."""
    return ALPHABET[_times_x(_fold(_VALUE[c] for c in body))]


def normalise(text: str) -> str:
    """Upper case, separators dropped, Crockford's O/I/L read as 0/1/1; raises :class:`CodeError`."""
    raw = _SEPARATORS.sub("", str(text or "")).upper()
    if len(raw) != CODE_LENGTH:
        raise CodeError(
            "format",
            f"Mã phiếu gồm {CODE_LENGTH} ký tự (ví dụ 7K3M-Q9TB); mã vừa nhập có {len(raw)} ký tự.",
            f"an answer code has {CODE_LENGTH} characters, this one {len(raw)}",
        )
    bad = sorted({c for c in raw if c not in _VALUE})
    if bad:
        shown = ", ".join(bad)
        raise CodeError(
            "format",
            f"Mã phiếu chỉ gồm chữ số và chữ cái in trên phiếu; ký tự không dùng: {shown}.",
            f"characters that are never in a code: {shown}",
        )
    return "".join(ALPHABET[_VALUE[c]] for c in raw)


def parse_code(text: str) -> str:
    """The canonical code of what someone typed; :class:`CodeError` for a typo the check character sees."""
    code = normalise(text)
    if _fold(_VALUE[c] for c in code) != 0:
        raise CodeError(
            "check",
            "Mã phiếu chưa đúng: có thể gõ nhầm một ký tự hoặc đảo chỗ hai ký tự. "
            "Xin Ông/Bà xem lại mã in trên phiếu.",
            "the check character does not match: a character is mistyped or two are swapped",
        )
    return code


def display(code: str) -> str:
    """``7K3MQ9TB`` -> ``7K3M-Q9TB``."""
    return f"{code[:4]}-{code[4:]}"


@dataclass(frozen=True)
class CodeKeys:
    """The two keys derived from the configured secret: one derives codes, one hashes them for storage."""

    derive: bytes
    store: bytes

    @classmethod
    def from_secret(cls, secret: str | bytes) -> CodeKeys:
        raw = secret.encode() if isinstance(secret, str) else secret
        return cls(
            derive=hmac.new(raw, b"sipas-answer-code:derive", hashlib.sha256).digest(),
            store=hmac.new(raw, b"sipas-answer-code:store", hashlib.sha256).digest(),
        )

    def code_for(self, campaign_id: int, case_code: str) -> str:
        """The code of one case file of a campaign (the case code compared without surrounding spaces)."""
        message = f"{int(campaign_id)}\x1f{str(case_code).strip()}".encode()
        number = int.from_bytes(hmac.new(self.derive, message, hashlib.sha256).digest()[:8], "big")
        body = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(BODY_LENGTH))
        return body + check_symbol(body)

    def hash_of(self, campaign_id: int, code: str) -> str:
        """What the database keeps of a code."""
        message = f"{int(campaign_id)}\x1f{code}".encode()
        return hmac.new(self.store, message, hashlib.sha256).hexdigest()


def code_keys(app: Flask | None = None) -> CodeKeys:
    """The keys of this installation: ``ANSWER_CODE_KEY``, else the instance file (created once)."""
    app = app or current_app
    cached = app.extensions.get("sipas.code_keys")
    if cached is not None:
        return cached
    secret = app.config.get("ANSWER_CODE_KEY")
    if not secret:
        secret = _key_file(Path(app.instance_path) / KEY_FILE)
    if len(str(secret)) < 16:
        raise CodeError(
            "config",
            "Khóa mã phiếu (ANSWER_CODE_KEY) quá ngắn: cần ít nhất 16 ký tự.",
            "ANSWER_CODE_KEY (SIPAS_ANSWER_CODE_KEY) must have at least 16 characters",
        )
    keys = CodeKeys.from_secret(str(secret))
    app.extensions["sipas.code_keys"] = keys
    return keys


def _key_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may have created it a moment ago
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty: delete it, or set SIPAS_ANSWER_CODE_KEY") from None
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    return key


# ----------------------------------------------------------------------------------- the table
def find_code(session: Session, campaign: Campaign, code: str, keys: CodeKeys) -> AnswerCode | None:
    """The stored row of a (canonical) code of ``campaign``, or None."""
    return session.scalars(
        select(AnswerCode).where(
            AnswerCode.campaign_id == campaign.id, AnswerCode.code_hash == keys.hash_of(campaign.id, code)
        )
    ).one_or_none()


class CodeUsed(SurveyError):
    """The code was used by another form first (nothing of this one is stored)."""


def use_code(session: Session, code_id: int) -> None:
    """Mark a code used inside the caller's transaction; :class:`CodeUsed` unless it was unused.

    One conditional UPDATE decides: of two transactions racing with one code, exactly one changes the
    row, whatever the database's isolation level.
    """
    result = session.execute(
        update(AnswerCode)
        .where(AnswerCode.id == code_id, AnswerCode.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise CodeUsed("answer code already used")


@dataclass(frozen=True)
class CaseCode:
    """A case file and its answer code, for a slip."""

    case_code: str
    unit_code: str
    unit_name: str
    stratum: str | None
    stratum_label: str | None
    received_on: date | None
    code: str

    @property
    def shown(self) -> str:
        return display(self.code)


@dataclass(frozen=True)
class IssueResult:
    cases: int
    issued: int
    already: int
    skipped: tuple[str, ...]  # case codes whose unit is not one of the campaign's


def _dossiers(session: Session, campaign: Campaign, on: date | None) -> Sequence:
    from .models import Dossier  # the case-file list (survey.dossiers)

    stmt = select(Dossier).where(Dossier.campaign_id == campaign.id)
    if on is not None:
        stmt = stmt.where(Dossier.received_on == on)
    return session.scalars(stmt.order_by(Dossier.unit_code, Dossier.case_code)).all()


def case_codes(
    session: Session, campaign: Campaign, keys: CodeKeys, on: date | None = None
) -> list[CaseCode]:
    """Every case file of ``campaign`` (received on ``on`` when given) with its code, unit by unit."""
    names = {u.unit_code: u.unit_name for u in campaign.units}
    labels = {str(s.get("code")): str(s.get("label") or s.get("code")) for s in campaign.strata or []}
    out = []
    for d in _dossiers(session, campaign, on):
        stratum = getattr(d, "stratum", None) or None
        out.append(
            CaseCode(
                case_code=d.case_code,
                unit_code=d.unit_code,
                unit_name=names.get(d.unit_code, d.unit_code),
                stratum=stratum,
                stratum_label=labels.get(stratum, stratum) if stratum else None,
                received_on=getattr(d, "received_on", None),
                code=keys.code_for(campaign.id, d.case_code),
            )
        )
    return out


def issue_codes(session: Session, campaign: Campaign, keys: CodeKeys, on: date | None = None) -> IssueResult:
    """Store the hashes of the codes of ``campaign``'s case files (of one day); flush, the caller commits.

    Issuing again stores nothing twice (a code already stored keeps its ``used`` flag). The rows go in
    in the order of their hash, not of the case files.
    """
    cases = case_codes(session, campaign, keys, on)
    units = {u.unit_code for u in campaign.units}
    skipped = tuple(c.case_code for c in cases if c.unit_code not in units)
    wanted = {
        keys.hash_of(campaign.id, c.code): (c.unit_code, c.stratum) for c in cases if c.unit_code in units
    }
    stored = set()
    hashes = sorted(wanted)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        stored.update(session.scalars(select(AnswerCode.code_hash).where(AnswerCode.code_hash.in_(chunk))))
    new = [h for h in hashes if h not in stored]
    session.add_all(
        AnswerCode(
            campaign_id=campaign.id, code_hash=h, unit_code=wanted[h][0], stratum=wanted[h][1], used=False
        )
        for h in new
    )
    session.flush()
    return IssueResult(cases=len(cases), issued=len(new), already=len(wanted) - len(new), skipped=skipped)


def code_counts(session: Session, campaign: Campaign) -> dict[str, int]:
    """Issued and used codes of a campaign."""
    rows = (
        session.execute(select(AnswerCode.used).where(AnswerCode.campaign_id == campaign.id)).scalars().all()
    )
    return {"issued": len(rows), "used": sum(1 for r in rows if r)}


def init_app(app: Flask) -> None:
    """Nothing to compute up front: the keys are read on first use (a campaign without codes needs none)."""
    app.extensions.pop("sipas.code_keys", None)
