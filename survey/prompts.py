"""Spoken prompts of a campaign: what can be spoken, the clips stored for it, and what the kiosk gets.

A *prompt* is anything the kiosk shows that a respondent may need to hear: a question (or note), a
choice, a page (section title and introduction) or a screen message (welcome, review, thanks). Its key
is :func:`questionnaires.prompt_key` (``q:<item>``, ``c:<list>:<code>``, ``s:<section>``,
``m:<message>``). A campaign keeps at most one clip per language and prompt (:class:`AudioClip`),
normalised by :mod:`survey.audio`; recording again replaces it and sends it back to draft. Only
approved clips reach the kiosk, at an address that holds the clip's hash, so that a tablet may keep
it for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from questionnaires import Label, Questionnaire, prompt_key

from .audio import AudioError, NormalisedClip, normalise
from .models import AudioClip, Campaign, User

# The kiosk's fixed screens that can be spoken: key -> (what it is, the Vietnamese the kiosk shows).
# The texts are those of static/kiosk/kiosk.js (TEXT), which the recording page shows to read aloud.
SCREEN_MESSAGES = {
    "welcome": (
        "Màn hình chào",
        "Khảo sát ý kiến người dân. Không ghi tên người trả lời. Chạm vào câu trả lời phù hợp với Ông/Bà. "
        "Trước khi gửi, Ông/Bà có thể xem lại và sửa.",
    ),
    "review": (
        "Xem lại phiếu",
        "Xin Ông/Bà kiểm tra lại. Muốn thay đổi, chạm “Sửa” ở phần tương ứng. Nếu đã đúng, chạm “Gửi phiếu”.",
    ),
    "thanks": (
        "Lời cảm ơn",
        "Xin cảm ơn Ông/Bà! Đã ghi nhận ý kiến của Ông/Bà. Chúc Ông/Bà một ngày tốt lành.",
    ),
}
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
STATUS_LABELS = {"draft": "Bản nháp", "approved": "Đã duyệt"}


class PromptError(ValueError):
    """A prompt or language that the campaign does not have."""


@dataclass(frozen=True)
class Prompt:
    key: str
    kind: str  # question | choice | section | message
    where: str  # "Câu q1", "Câu q1 · lựa chọn 4", "Phần A", "Màn hình chào"
    text: str  # in the language asked for, else Vietnamese
    in_language: bool  # whether ``text`` is in the language asked for


def _text(label: Label | None, lang: str) -> tuple[str, bool]:
    if label is None:
        return "", False
    own = label.text(lang)
    return (own, True) if own else (label.vi, False)


def prompts(q: Questionnaire, lang: str) -> list[Prompt]:
    """Every prompt of the questionnaire in the kiosk's order, with its text in ``lang`` (else Vietnamese)."""
    out: list[Prompt] = []
    title, text = SCREEN_MESSAGES["welcome"]
    out.append(Prompt(prompt_key("message", "welcome"), "message", title, text, lang == "vi"))
    for section in q.sections:
        if section.wrapped and (section.label.texts or section.intro):
            label, own = _text(section.label, lang)
            intro, own_intro = _text(section.intro, lang)
            text = f"{label.rstrip('.')}. {intro}" if label and intro else label or intro
            out.append(
                Prompt(prompt_key("section", section.code), "section", f"Phần {section.code}", text, own)
            )
        for question in section.questions:
            if not (question.type.is_answerable or question.type.value == "note"):
                continue
            text, own = _text(question.label, lang)
            hint, _ = _text(question.hint, lang)
            if hint:
                text = f"{text} ({hint})"
            out.append(
                Prompt(prompt_key("question", question.code), "question", f"Câu {question.code}", text, own)
            )
            choice_list = q.choice_list(question)
            if choice_list is None:
                continue
            for choice in choice_list.choices:
                key = prompt_key("choice", choice_list.name, choice.code)
                if any(p.key == key for p in out):
                    continue  # a list shared by several questions (a Likert grid) is recorded once
                text, own = _text(choice.label, lang)
                where = f"Danh sách {choice_list.name} · lựa chọn {choice.code}"
                out.append(Prompt(key, "choice", where, text, own))
    for name in ("review", "thanks"):
        title, text = SCREEN_MESSAGES[name]
        out.append(Prompt(prompt_key("message", name), "message", title, text, lang == "vi"))
    return out


def prompt_keys(q: Questionnaire) -> set[str]:
    return {p.key for p in prompts(q, "vi")}


def check_language(lang: str) -> str:
    """Return a BCP-47-like language tag (``vi``, ``hre``, ``en``); PromptError otherwise."""
    if not LANGUAGE_TAG.match(lang or ""):
        raise PromptError(f"Mã ngôn ngữ không hợp lệ: {lang!r} (a language tag such as vi, hre, en)")
    return lang


def campaign_languages(session: Session, campaign: Campaign, q: Questionnaire) -> list[str]:
    """The questionnaire's languages (``default`` left out), then every other language a clip is in."""
    langs = [lang for lang in q.languages if lang != "default" and LANGUAGE_TAG.match(lang)]
    for (lang,) in session.execute(
        select(AudioClip.language).where(AudioClip.campaign_id == campaign.id).distinct()
    ):
        if lang not in langs:
            langs.append(lang)
    return langs or ["vi"]


def clips_of(
    session: Session, campaign: Campaign, lang: str | None = None
) -> dict[tuple[str, str], AudioClip]:
    """The campaign's clips by (language, prompt key), without their bytes."""
    query = select(AudioClip).where(AudioClip.campaign_id == campaign.id)
    if lang is not None:
        query = query.where(AudioClip.language == lang)
    return {(c.language, c.prompt): c for c in session.scalars(query)}


def counts(session: Session, campaign: Campaign, q: Questionnaire) -> list[dict]:
    """Per language: the prompts, and the clips recorded (draft or approved) and approved for them."""
    keys = prompt_keys(q)
    total = len(keys)
    rows = session.execute(
        select(AudioClip.language, AudioClip.prompt, AudioClip.status).where(
            AudioClip.campaign_id == campaign.id
        )
    ).all()
    out = []
    for lang in campaign_languages(session, campaign, q):
        mine = [(p, s) for lg, p, s in rows if lg == lang and p in keys]
        out.append(
            {
                "language": lang,
                "name": q.language_name(lang) or lang,
                "prompts": total,
                "recorded": len(mine),
                "approved": sum(1 for _, s in mine if s == "approved"),
            }
        )
    return out


def store_clip(
    session: Session,
    campaign: Campaign,
    q: Questionnaire,
    lang: str,
    key: str,
    data: bytes,
    *,
    source: str = "recorded",
    user: User | None = None,
    approved: bool = False,
) -> AudioClip:
    """Normalise ``data`` and keep it as the clip of (lang, key), replacing any earlier one (back to draft
    unless ``approved``); flush, the caller commits. AudioError or PromptError for bad input."""
    check_language(lang)
    if key not in prompt_keys(q):
        raise PromptError(f"Phiếu không có mục {key!r} để ghi âm (no such prompt in the questionnaire)")
    clip: NormalisedClip = normalise(data)
    row = session.scalars(
        select(AudioClip).where(
            AudioClip.campaign_id == campaign.id, AudioClip.language == lang, AudioClip.prompt == key
        )
    ).one_or_none()
    if row is None:
        row = AudioClip(campaign_id=campaign.id, language=lang, prompt=key)
        session.add(row)
    now = datetime.now(UTC)
    row.sha256 = clip.sha256
    row.mime = clip.mime
    row.ext = clip.ext
    row.data = clip.data
    row.size = len(clip.data)
    row.duration_ms = round(clip.duration * 1000)
    row.loudness_in = round(clip.loudness_in, 2)
    row.source = source
    row.created_at = now
    row.created_by = user.id if user is not None else None
    row.status = "approved" if approved else "draft"
    row.approved_at = now if approved else None
    row.approved_by = user.id if approved and user is not None else None
    session.flush()
    return row


def approve_clip(session: Session, campaign: Campaign, lang: str, key: str, user: User | None) -> AudioClip:
    """Mark the clip of (lang, key) approved; PromptError when there is none."""
    row = _clip(session, campaign, lang, key)
    row.status = "approved"
    row.approved_at = datetime.now(UTC)
    row.approved_by = user.id if user is not None else None
    session.flush()
    return row


def delete_clip(session: Session, campaign: Campaign, lang: str, key: str) -> None:
    session.delete(_clip(session, campaign, lang, key))
    session.flush()


def _clip(session: Session, campaign: Campaign, lang: str, key: str) -> AudioClip:
    row = session.scalars(
        select(AudioClip).where(
            AudioClip.campaign_id == campaign.id, AudioClip.language == lang, AudioClip.prompt == key
        )
    ).one_or_none()
    if row is None:
        raise PromptError("Chưa có bản ghi âm cho mục này (no clip recorded for this prompt)")
    return row


def approved_clips(session: Session, campaign: Campaign) -> list[tuple[str, str, str, str]]:
    """The approved clips of a campaign as (language, prompt key, sha256, ext), for the kiosk."""
    return [
        tuple(row)
        for row in session.execute(
            select(AudioClip.language, AudioClip.prompt, AudioClip.sha256, AudioClip.ext)
            .where(AudioClip.campaign_id == campaign.id, AudioClip.status == "approved")
            .order_by(AudioClip.language, AudioClip.prompt)
        )
    ]


def import_definition_audio(
    session: Session, campaign: Campaign, q: Questionnaire, folder: str | Path, user: User | None = None
) -> list[AudioClip]:
    """Store the audio files the definition names (``media::audio`` columns), read from ``folder`` (the
    definition's folder), as approved clips: the author placed them, as for ODK Collect. AudioError
    names the file that cannot be used."""
    stored = []
    for key, lang, file in q.audio_files():
        path = Path(folder) / file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AudioError(
                f"Không đọc được tệp âm thanh {file} (cannot read the audio file: {exc})"
            ) from None
        try:
            stored.append(
                store_clip(
                    session, campaign, q, lang, key, data, source="definition", user=user, approved=True
                )
            )
        except AudioError as exc:
            raise AudioError(f"{file}: {exc}") from None
    return stored
