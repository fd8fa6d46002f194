"""Public verification of completion records, and the admin pages that manage them.

``/verify`` and ``/verify/<code>`` need no login and share one rate limit per client
address. Unknown and malformed codes get the same answer, byte for byte (the code is
not echoed), so the page tells nothing about which codes exist or are well formed.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from lms.accounts.models import Role
from lms.core.auth import roles_required
from lms.credentials import services
from lms.credentials.forms import RecordFilterForm, ReissueForm, RevokeForm, VerifyForm
from lms.credentials.models import CompletionRecord
from lms.db import get_session
from lms.extensions import limiter
from lms.programs.models import Programme

bp = Blueprint("credentials", __name__, template_folder="templates")

DEFAULT_ISSUER = "Kenshu — Clean Authority of Tokyo"
VERIFY_LIMIT = "30 per minute"
PAGE_SIZE = 50

_verify_limit = limiter.shared_limit(VERIFY_LIMIT, scope="credentials-verify")


def _issuer() -> str:
    return current_app.config.get("CREDENTIALS_ISSUER_NAME") or DEFAULT_ISSUER


def _not_found():
    # Nothing in the page may echo what was typed, not even the language switcher's
    # return address: unknown and malformed codes must look exactly alike.
    g.language_next = url_for("credentials.verify")
    return render_template("credentials/verify_unknown.html"), 404


@bp.get("/verify")
def verify():
    return render_template("credentials/verify.html", form=VerifyForm())


@bp.post("/verify")
@_verify_limit
def verify_post():
    form = VerifyForm()
    if not form.validate_on_submit():
        return _not_found()
    found = services.lookup_by_code(get_session(), form.code.data)
    if found is None:
        return _not_found()
    return redirect(url_for("credentials.verify_code", code=found.verification_code))


@bp.get("/verify/<path:code>")
@_verify_limit
def verify_code(code: str):
    found = services.lookup_by_code(get_session(), code)
    if found is None:
        return _not_found()
    response = current_app.make_response(
        render_template("credentials/verify_record.html", record=found, issuer=_issuer())
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- admin ---------------------------------------------------------------------------------


def _records_page(status: int = 200, error: str | None = None):
    db = get_session()
    form = RecordFilterForm(request.args)
    programmes = list(db.scalars(select(Programme).order_by(Programme.code)))
    form.programme.choices = [("", _("All programmes"))] + [
        (str(p.id), f"{p.code} — {p.title}") for p in programmes
    ]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    query = (
        select(CompletionRecord)
        .options(joinedload(CompletionRecord.user), joinedload(CompletionRecord.programme))
        .order_by(CompletionRecord.issued_at.desc(), CompletionRecord.id.desc())
    )
    programme_id = request.args.get("programme", type=int)
    if programme_id:
        query = query.where(CompletionRecord.programme_id == programme_id)
    rows = list(db.scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)))
    return render_template(
        "credentials/records.html",
        form=form,
        records=rows[:PAGE_SIZE],
        page=page,
        has_next=len(rows) > PAGE_SIZE,
        programme_id=programme_id,
        revoke_form=RevokeForm(formdata=None),
        reissue_form=ReissueForm(formdata=None),
        error=error,
    ), status


def _record_or_404(record_id: int) -> CompletionRecord:
    found = get_session().get(CompletionRecord, record_id)
    if found is None:
        abort(404)
    return found


@bp.get("/admin/records")
@roles_required(Role.ADMIN)
def records():
    return _records_page()


@bp.post("/admin/records/<int:record_id>/revoke")
@roles_required(Role.ADMIN)
def revoke(record_id: int):
    found = _record_or_404(record_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.revoke(
            get_session(), current_user, found, form.reason.data or "", ip=request.remote_addr or ""
        )
    except services.RecordError as error:
        return _records_page(400, str(error))
    flash(_("The record has been revoked."), "success")
    return redirect(url_for("credentials.records"))


@bp.post("/admin/records/<int:record_id>/reissue")
@roles_required(Role.ADMIN)
def reissue(record_id: int):
    found = _record_or_404(record_id)
    if not ReissueForm().validate_on_submit():
        abort(400)
    try:
        new = services.reissue(get_session(), current_user, found, ip=request.remote_addr or "")
    except services.RecordError as error:
        return _records_page(400, str(error))
    flash(_("The record has been reissued with code %(code)s.", code=new.verification_code))
    return redirect(url_for("credentials.records"))
