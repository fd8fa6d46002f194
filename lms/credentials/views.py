"""Public verification of completion records, and the admin pages that manage them.

``/verify`` and ``/verify/<code>`` need no login and share one rate limit per client
address. Unknown and malformed codes get the same answer, byte for byte (the code is
not echoed), so the page tells nothing about which codes exist or are well formed.
"""

from __future__ import annotations

import hashlib
import json

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from lms.accounts.models import Role
from lms.core.auth import roles_required
from lms.credentials import issuing, services
from lms.credentials.badges import envelope
from lms.credentials.forms import RecordFilterForm, ReissueForm, RevokeForm, VerifyForm
from lms.credentials.models import CompletionRecord
from lms.db import get_session
from lms.extensions import limiter
from lms.programs.models import Programme

bp = Blueprint("credentials", __name__, template_folder="templates")

DEFAULT_ISSUER = issuing.DEFAULT_ISSUER_NAME
VERIFY_LIMIT = "30 per minute"
PAGE_SIZE = 50

_verify_limit = limiter.shared_limit(VERIFY_LIMIT, scope="credentials-verify")
# Hours and scores in the reader's number format (1.5 / 1,5).
bp.add_app_template_filter(format_decimal, "record_number")


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
        new = services.reissue(
            get_session(),
            current_user,
            found,
            ip=request.remote_addr or "",
            signer=issuing.settings_for(current_app),
        )
    except services.RecordError as error:
        return _records_page(400, str(error))
    flash(_("The record has been reissued with code %(code)s.", code=new.verification_code))
    return redirect(url_for("credentials.records"))


# --- published for verifiers (no login) ----------------------------------------------------

#: Verifiers may cache for a few minutes: a revocation or a new key shows within that time.
PUBLIC_CACHE = "public, max-age=300"


def _public(body: str, mimetype: str) -> Response:
    response = current_app.response_class(body, mimetype=mimetype)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"  # browser-based verifiers
    response.set_etag(hashlib.sha256(body.encode("utf-8")).hexdigest())
    return response.make_conditional(request)


def _json(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


@bp.get("/credentials/issuer")
def issuer():
    profile = issuing.issuer_profile(issuing.settings_for(current_app))
    return _public(_json(profile), "application/json")


@bp.get("/credentials/keys")
def keys():
    return _public(_json(issuing.key_set(issuing.settings_for(current_app))), "application/json")


@bp.get("/credentials/status/<int:list_id>")
def status_list(list_id: int):
    db = get_session()
    if not issuing.status_list_exists(db, list_id):
        abort(404)
    token = issuing.status_list_token(db, list_id, issuing.settings_for(current_app))
    return _public(token, "application/vc+jwt")


# --- the trainee's records ---------------------------------------------------------------


@bp.get("/records")
@login_required
def my_records():
    db = get_session()
    return render_template(
        "credentials/my_records.html",
        records=services.records_of(db, current_user.id),
        course_records=services.course_records_of(db, current_user.id),
    )


@bp.get("/records/<int:record_id>/credential.json")
@login_required
def record_credential(record_id: int):
    db = get_session()
    # Someone else's record answers like a missing one: ids tell nothing.
    found = services.readable_record(db, current_user, record_id)
    if found is None:
        abort(404)
    token = services.download_credential(
        db, current_user, found, issuing.settings_for(current_app), ip=request.remote_addr or ""
    )
    response = current_app.response_class(_json(envelope(token)), mimetype="application/json")
    filename = f"kenshu-credential-{found.verification_code}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
