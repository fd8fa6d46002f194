"""The trainee's certificate download, and asking for a certificate to be made (again).

The download answers with a redirect to a short-lived signed URL of the storage (the
app never streams the PDF itself); anyone but the record's trainee and admins gets a
404, as for a record that does not exist, so record ids tell nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms.certificates import services
from lms.certificates.models import CertificateStatus
from lms.core.auth import is_safe_redirect
from lms.credentials.models import CompletionRecord
from lms.db import get_session
from lms.storage import get_storage

bp = Blueprint("certificates", __name__, template_folder="templates")


@bp.get("/records/<int:record_id>/certificate.pdf")
@login_required
def download(record_id: int):
    url = services.download_url(
        get_session(), get_storage(), current_user, record_id, ip=request.remote_addr or ""
    )
    if url is None:
        abort(404)
    response = redirect(url, code=303)
    response.headers["Cache-Control"] = "no-store"  # the signed URL is a short-lived secret
    return response


@bp.get("/records/<int:record_id>/certificate/status")
@login_required
def status(record_id: int):
    """Where the build stands, for the page that waits for it (js/certificate-status.js)."""
    session = get_session()
    record = session.get(CompletionRecord, record_id)
    if record is None or not (record.user_id == current_user.id or services.is_admin(current_user)):
        abort(404)
    certificate = services.certificate_of(session, record_id)
    response = jsonify(status=certificate.status if certificate else "none")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/records/<int:record_id>/certificate")
@login_required
def make(record_id: int):
    session = get_session()
    record = session.get(CompletionRecord, record_id)
    if record is None or not (record.user_id == current_user.id or services.is_admin(current_user)):
        abort(404)
    certificate = services.certificate_of(session, record_id)
    if not services.may_request(current_user, record, certificate):
        flash(_("The certificate is already made or being made."), "info")
    else:
        services.request_build(session, record_id)
        flash(_("The PDF certificate is being made. It takes a minute at most."), "success")
    target = request.form.get("next", "")
    return redirect(target if is_safe_redirect(target) else url_for("credentials.my_records"))


@bp.app_template_global("certificate_of")
def certificate_of(record: CompletionRecord):
    """The record's certificate for templates (the ``_record_links.html`` partial)."""
    return services.certificate_of(get_session(), record.id)


@bp.app_template_global("certificate_reason")
def certificate_reason(certificate) -> str:
    return services.reason(certificate)


@bp.app_template_global("certificate_may_request")
def certificate_may_request(record: CompletionRecord, certificate) -> bool:
    return current_user.is_authenticated and services.may_request(current_user, record, certificate)


@bp.app_template_global("certificate_may_download")
def certificate_may_download(record: CompletionRecord, certificate) -> bool:
    return (
        current_user.is_authenticated
        and certificate is not None
        and certificate.status == CertificateStatus.READY
        and services.may_download(current_user, record)
    )
