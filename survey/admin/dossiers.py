"""The case-file page of a campaign: upload a one-stop export, see its problems, confirm; the frame.

An upload with problems (bad rows, conflicts) is kept in the instance folder under a random name until
the user confirms or an hour passes; confirming checks it again against what is stored then, and
stores its good rows in one transaction. Analysts and admins only.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..campaigns import progress
from ..db import get_session
from ..dossiers import (
    ALLOCATIONS,
    MAX_FILE_BYTES,
    DossierError,
    ImportPlan,
    apply_import,
    dossier_frame,
    dossier_targets,
    load_mapping,
    plan_import,
    read_export,
    response_rates,
)
from ..models import Campaign, DossierImport
from ..users import audit, current_user, role_required
from . import bp
from .forms import AllocationForm, DossierConfirmForm, DossierUploadForm
from .shared import campaign_or_404

UPLOAD_ENDPOINT = "admin.dossiers"
STASH_SECONDS = 3600  # an upload waiting for confirmation is kept this long
ISSUES_SHOWN = 200


def _stash_dir() -> Path:
    path = Path(current_app.instance_path) / "dossier-uploads"
    path.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in path.iterdir():  # forget uploads nobody confirmed
        if now - old.stat().st_mtime > STASH_SECONDS:
            old.unlink(missing_ok=True)
    return path


def _allocation_form(c: Campaign, formdata=None) -> AllocationForm:
    form = AllocationForm(formdata=formdata, allocation=c.field_allocation or "unit")
    form.allocation.choices = list(ALLOCATIONS.items())
    return form


def _page(c: Campaign, *, form=None, plan: ImportPlan | None = None, upload: str | None = None, status=200):
    db = get_session()
    frame = dossier_frame(db, c)
    targets = dossier_targets(c, frame) if frame is not None else None
    imports = db.scalars(
        select(DossierImport).where(DossierImport.campaign_id == c.id).order_by(DossierImport.id.desc())
    ).all()
    issues = []
    if plan is not None:
        issues = [p.line() for p in plan.problems] + [x.line() for x in plan.conflicts]
    labels = {str(s["code"]): s.get("label") or s["code"] for s in c.strata or ()}
    return render_template(
        "admin/dossiers.html",
        campaign=c,
        form=form or DossierUploadForm(formdata=None),
        allocation_form=_allocation_form(c),
        confirm_form=DossierConfirmForm(formdata=None, upload=upload),
        progress=progress(db, c),
        frame=frame,
        targets=targets,
        strata_labels=labels,
        imports=imports,
        plan=plan,
        issues=issues[:ISSUES_SHOWN],
        issues_total=len(issues),
        upload=upload,
        allocations=ALLOCATIONS,
        rates=response_rates(db, c),
    ), status


@bp.route("/campaigns/<int:campaign_id>/dossiers", methods=["GET", "POST"])
@role_required("analyst")
def dossiers(campaign_id: int):
    c = campaign_or_404(campaign_id)
    if request.method == "GET":
        return _page(c)
    form = DossierUploadForm()
    if not form.validate_on_submit():
        return _page(c, form=form, status=422)
    data = form.file.data.read(MAX_FILE_BYTES + 1)
    filename = Path(form.file.data.filename or "tep-ho-so.csv").name
    mapping_bytes = form.mapping.data.read(1_000_000) if form.mapping.data else None
    try:
        plan = _plan(c, data, filename, mapping_bytes)
    except DossierError as exc:
        form.file.errors = [str(exc)]
        return _page(c, form=form, status=422)
    if plan.needs_confirmation and plan.new:
        token = secrets.token_urlsafe(24)
        stash = _stash_dir()
        (stash / f"{token}.data").write_bytes(data)
        if mapping_bytes is not None:
            (stash / f"{token}.mapping").write_bytes(mapping_bytes)
        meta = {"campaign_id": c.id, "filename": filename, "user_id": current_user().id}
        (stash / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
        return _page(c, plan=plan, upload=token, status=200)
    return _import(c, plan)


@bp.post("/campaigns/<int:campaign_id>/dossiers/confirm")
@role_required("analyst")
def dossiers_confirm(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = DossierConfirmForm()
    if not form.validate_on_submit():
        flash("Yêu cầu không hợp lệ: tải tệp lên lại.", "error")
        return redirect(url_for(".dossiers", campaign_id=c.id))
    stash = _stash_dir()
    token = form.upload.data
    meta_path = stash / f"{token}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        data = (stash / f"{token}.data").read_bytes()
    except (OSError, ValueError):
        meta = None
    if not meta or meta.get("campaign_id") != c.id or meta.get("user_id") != current_user().id:
        flash("Không còn tệp chờ xác nhận (quá một giờ, hoặc đã nhập): tải tệp lên lại.", "error")
        return redirect(url_for(".dossiers", campaign_id=c.id))
    mapping_path = stash / f"{token}.mapping"
    mapping_bytes = mapping_path.read_bytes() if mapping_path.exists() else None
    try:
        plan = _plan(c, data, meta["filename"], mapping_bytes)
    except DossierError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".dossiers", campaign_id=c.id))
    finally:
        for suffix in ("json", "data", "mapping"):
            (stash / f"{token}.{suffix}").unlink(missing_ok=True)
    return _import(c, plan)


@bp.post("/campaigns/<int:campaign_id>/dossiers/allocation")
@role_required("analyst")
def dossiers_allocation(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = _allocation_form(c, request.form)
    if not form.validate_on_submit():
        flash("Cách tính chỉ tiêu không hợp lệ.", "error")
        return redirect(url_for(".dossiers", campaign_id=c.id))
    db = get_session()
    before = c.field_allocation or "unit"
    c.field_allocation = form.allocation.data
    audit(db, "field_allocation", {"campaign_id": c.id, "from": before, "to": form.allocation.data})
    db.commit()
    flash(f"Đã chọn: {ALLOCATIONS[form.allocation.data]}.", "success")
    return redirect(url_for(".dossiers", campaign_id=c.id))


def _plan(c: Campaign, data: bytes, filename: str, mapping_bytes: bytes | None) -> ImportPlan:
    rules = load_mapping(mapping_bytes)
    table = read_export(data, filename, rules)
    return plan_import(get_session(), c, table, rules)


def _import(c: Campaign, plan: ImportPlan):
    """Store the plan's new case files and the audit event in one transaction; say what was done."""
    db = get_session()
    try:
        added = apply_import(db, c, plan, current_user())
        if added:
            audit(
                db,
                "dossiers_imported",
                {
                    "campaign_id": c.id,
                    "file": plan.filename,
                    "sha256": plan.sha256,
                    "added": added,
                    "unchanged": plan.unchanged,
                    "conflicts": len(plan.conflicts),
                    "bad_rows": plan.bad_rows,
                    "via": "web",
                },
            )
        db.commit()
    except IntegrityError:  # another import of the same codes committed first: nothing of this one stays
        db.rollback()
        flash("Một lần nhập khác vừa lưu các hồ sơ này; không nhập gì. Xin tải tệp lên lại.", "error")
        return redirect(url_for(".dossiers", campaign_id=c.id))
    except Exception:
        db.rollback()
        raise
    if added:
        flash(f"Đã nhập {added} hồ sơ mới ({plan.summary()}).", "success")
    else:
        flash(f"Không có hồ sơ mới: không thay đổi gì ({plan.summary()}).", "info")
    return redirect(url_for(".dossiers", campaign_id=c.id))
