"""Spoken prompts: record, upload, listen to and approve each prompt's clip, per campaign and language.

``/admin/campaigns/<id>/audio`` counts the clips recorded and approved per language and holds the
campaign's audio settings; ``/admin/campaigns/<id>/audio/<language>`` lists every prompt (questions,
choices, pages, screen messages) with its text, a recorder (``static/admin/recorder.js``, MediaRecorder)
and a file upload that works without script. Every clip is normalised on the server
(:mod:`survey.audio`); only approved clips reach the kiosks.
"""

from __future__ import annotations

import re

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from ..audio import MAX_SECONDS, MAX_UPLOAD_BYTES, TARGET_LUFS, AudioError
from ..campaigns import campaign_questionnaire
from ..db import get_session
from ..kiosk import clip_response
from ..models import AudioClip, Campaign
from ..prompts import (
    STATUS_LABELS,
    PromptError,
    approve_clip,
    check_language,
    clips_of,
    counts,
    delete_clip,
    prompts,
    store_clip,
)
from ..users import audit, current_user, role_required
from ..web import MICROPHONE_PERMISSIONS, UPLOAD_LIMITS
from . import bp
from .shared import campaign_or_404

# The multipart body around the file (the prompt key, the CSRF token) is small.
UPLOAD_LIMITS["admin.audio_upload"] = MAX_UPLOAD_BYTES + 64 * 1024


def _language(lang: str) -> str:
    try:
        return check_language(lang)
    except PromptError:
        abort(404)


def _wants_json() -> bool:
    return "application/json" in (request.headers.get("Accept") or "")


def _clip_url(clip: AudioClip) -> str:
    return url_for(
        ".audio_clip", campaign_id=clip.campaign_id, clip_id=clip.id, sha=clip.sha256, ext=clip.ext
    )


@bp.route("/campaigns/<int:campaign_id>/audio")
@role_required("analyst")
def audio_overview(campaign_id: int):
    c = campaign_or_404(campaign_id)
    q = campaign_questionnaire(c)
    return render_template(
        "admin/audio.html",
        campaign=c,
        questionnaire=q,
        counts=counts(get_session(), c, q),
        target_lufs=TARGET_LUFS,
        max_seconds=MAX_SECONDS,
    )


@bp.post("/campaigns/<int:campaign_id>/audio/settings")
@role_required("analyst")
def audio_settings(campaign_id: int):
    c = campaign_or_404(campaign_id)
    db = get_session()
    c.audio_autoplay = request.form.get("autoplay") == "1"
    c.audio_speech_synthesis = request.form.get("speech_synthesis") == "1"
    audit(
        db,
        "campaign_audio_settings",
        {"campaign": c.id, "autoplay": c.audio_autoplay, "speech_synthesis": c.audio_speech_synthesis},
    )
    db.commit()
    flash("Đã lưu cài đặt đọc câu hỏi.", "success")
    return redirect(url_for(".audio_overview", campaign_id=c.id))


@bp.route("/campaigns/<int:campaign_id>/audio/<lang>")
@role_required("analyst")
def audio_language(campaign_id: int, lang: str):
    c = campaign_or_404(campaign_id)
    lang = _language(lang)
    q = campaign_questionnaire(c)
    db = get_session()
    clips = {key: clip for (_, key), clip in clips_of(db, c, lang).items()}
    rows = prompts(q, lang)
    recorded = sum(1 for p in rows if p.key in clips)
    approved = sum(1 for p in rows if p.key in clips and clips[p.key].status == "approved")
    response = render_template(
        "admin/audio_language.html",
        campaign=c,
        questionnaire=q,
        lang=lang,
        lang_name=q.language_name(lang) or lang,
        prompts=rows,
        clips=clips,
        clip_url=_clip_url,
        status_labels=STATUS_LABELS,
        recorded=recorded,
        approved=approved,
        max_seconds=MAX_SECONDS,
        max_mb=MAX_UPLOAD_BYTES // 1_000_000,
    )
    return response, 200, {"Permissions-Policy": MICROPHONE_PERMISSIONS}


def _back(c: Campaign, lang: str, key: str):
    anchor = "prompt-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)
    return redirect(url_for(".audio_language", campaign_id=c.id, lang=lang, _anchor=anchor))


def _refuse(c: Campaign, lang: str, key: str, message: str, status: int = 422):
    if _wants_json():
        return jsonify({"status": "error", "message": message}), status
    flash(message, "error")
    return _back(c, lang, key)


@bp.post("/campaigns/<int:campaign_id>/audio/<lang>/upload")
@role_required("analyst")
def audio_upload(campaign_id: int, lang: str):
    """Store a recorded or uploaded clip for one prompt (normalised; a draft until approved)."""
    c = campaign_or_404(campaign_id)
    lang = _language(lang)
    key = (request.form.get("prompt") or "").strip()
    file = request.files.get("file")
    if file is None or not file.filename and not file.mimetype.startswith("audio/"):
        return _refuse(c, lang, key, "Chưa chọn tệp âm thanh (no audio file was sent).", 400)
    data = file.read(MAX_UPLOAD_BYTES + 1)
    source = "recorded" if request.form.get("source") == "recorded" else "uploaded"
    db = get_session()
    q = campaign_questionnaire(c)
    try:
        clip = store_clip(db, c, q, lang, key, data, source=source, user=current_user())
    except (AudioError, PromptError) as exc:
        db.rollback()
        return _refuse(c, lang, key, f"Chưa lưu bản ghi âm: {exc}")
    audit(db, "audio_clip_saved", {"campaign": c.id, "language": lang, "prompt": key, "source": source})
    db.commit()
    if _wants_json():
        return jsonify(
            {
                "status": "ok",
                "clip": {
                    "prompt": key,
                    "status": clip.status,
                    "status_label": STATUS_LABELS[clip.status],
                    "url": _clip_url(clip),
                    "duration": clip.duration_ms / 1000,
                    "loudness_in": clip.loudness_in,
                },
            }
        )
    flash("Đã lưu bản ghi âm (bản nháp: nghe lại rồi duyệt).", "success")
    return _back(c, lang, key)


@bp.post("/campaigns/<int:campaign_id>/audio/<lang>/approve")
@role_required("analyst")
def audio_approve(campaign_id: int, lang: str):
    c = campaign_or_404(campaign_id)
    lang = _language(lang)
    key = (request.form.get("prompt") or "").strip()
    db = get_session()
    try:
        approve_clip(db, c, lang, key, current_user())
    except PromptError as exc:
        return _refuse(c, lang, key, str(exc), 404)
    audit(db, "audio_clip_approved", {"campaign": c.id, "language": lang, "prompt": key})
    db.commit()
    if _wants_json():
        return jsonify({"status": "ok"})
    flash("Đã duyệt bản ghi âm: máy tính bảng sẽ phát bản này.", "success")
    return _back(c, lang, key)


@bp.post("/campaigns/<int:campaign_id>/audio/<lang>/delete")
@role_required("analyst")
def audio_delete(campaign_id: int, lang: str):
    c = campaign_or_404(campaign_id)
    lang = _language(lang)
    key = (request.form.get("prompt") or "").strip()
    db = get_session()
    try:
        delete_clip(db, c, lang, key)
    except PromptError as exc:
        return _refuse(c, lang, key, str(exc), 404)
    audit(db, "audio_clip_deleted", {"campaign": c.id, "language": lang, "prompt": key})
    db.commit()
    flash("Đã xoá bản ghi âm.", "success")
    return _back(c, lang, key)


@bp.route("/campaigns/<int:campaign_id>/audio/clips/<int:clip_id>-<sha>.<ext>")
@role_required("analyst")
def audio_clip(campaign_id: int, clip_id: int, sha: str, ext: str):
    """A clip of the campaign, draft or approved, for staff to listen to."""
    clip = (
        get_session()
        .scalars(
            select(AudioClip).where(
                AudioClip.id == clip_id,
                AudioClip.campaign_id == campaign_id,
                AudioClip.sha256 == sha,
                AudioClip.ext == ext,
            )
        )
        .one_or_none()
    )
    if clip is None:
        abort(404)
    return clip_response(clip)
