"""The JSON API under /api/v1/, described by /api/v1/openapi.json.

``/me``                                   the signed-in user (cookie session only)
``/programmes``                           the caller's sponsor's programmes
``/programmes/<id>/completions``          its completion records, a page at a time
``/records/<id>``                         one completion record

The sponsor endpoints take an API token or a sponsor's or admin's session (see
:mod:`lms.api.auth`); another sponsor's programme answers 403 (as in the portal), its
record 404 like an unknown id. Every download of completions is written to the audit log.
Session-authenticated writes need the CSRF token in an ``X-CSRFToken`` header,
like every form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.accounts import services as accounts
from lms.accounts.models import User
from lms.api.auth import api_error, current_caller, sponsor_api
from lms.api.completions import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    completion_page,
    decode_cursor,
    encode_cursor,
    one_record,
)
from lms.api.openapi import openapi_document
from lms.audit.services import record
from lms.core.errors import MESSAGES
from lms.credentials.models import CompletionRecord
from lms.db import get_session, utcnow
from lms.exports.completions import write_csv
from lms.programs.models import Programme

bp = Blueprint("api", __name__, url_prefix="/api/v1")

SINCE_MARGIN = timedelta(minutes=1)


def _me(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "native_name": user.native_name,
        "country": user.country,
        "organisation": user.organisation,
        "locale": user.locale,
        "timezone": user.timezone,
        "roles": sorted(user.role_names),
        "sponsor_id": user.sponsor_id,
    }


@bp.get("/me")
@login_required
def me():
    return jsonify(_me(current_user))


@bp.patch("/me")
@login_required
def update_me():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error={"status": 400, "message": _("Send a JSON object.")}), 400
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    allowed = {"name", "native_name", "country", "organisation", "locale", "timezone"}
    unknown = sorted(set(payload) - allowed)
    if unknown or not all(isinstance(v, str | None) for v in payload.values()):
        message = _("Unknown or invalid fields: %(fields)s", fields=", ".join(unknown) or "-")
        return jsonify(error={"status": 400, "message": message}), 400
    data = accounts.ProfileData(
        name=payload.get("name", user.name) or user.name,
        native_name=payload.get("native_name", user.native_name) or "",
        country=payload.get("country", user.country) or "",
        organisation=payload.get("organisation", user.organisation) or "",
        locale=payload.get("locale", user.locale),
        timezone=payload.get("timezone", user.timezone) or "UTC",
    )
    try:
        accounts.update_profile(user, data)
    except accounts.AccountError as error:
        return jsonify(error={"status": 400, "message": str(error.message)}), 400
    return jsonify(_me(user))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["LMS_SETTINGS"].base_url))


# --- the sponsor API ---------------------------------------------------------------------


def _base_url() -> str:
    return current_app.config["LMS_SETTINGS"].base_url


def _programme_json(programme: Programme) -> dict[str, object]:
    return {
        "id": programme.id,
        "code": programme.code,
        "title": programme.title,
        "sponsor_id": programme.sponsor_id,
        "sponsor_name": programme.sponsor.name,
        "starts_on": programme.starts_on.isoformat(),
        "ends_on": programme.ends_on.isoformat(),
    }


def _audit_download(report: str, subject: str, **details: object) -> None:
    if request.method == "HEAD":  # headers only: nothing is downloaded
        return
    caller = current_caller()
    record(
        get_session(),
        "export",
        actor_id=caller.user_id,
        subject=subject,
        ip=request.remote_addr or "",
        report=report,
        via=caller.via,
        token_id=caller.token_id,
        token_prefix=caller.token_prefix,
        **details,
    )


@bp.get("/programmes")
@sponsor_api
def programmes():
    caller = current_caller()
    query = (
        select(Programme)
        .options(selectinload(Programme.sponsor))
        .order_by(Programme.starts_on.desc(), Programme.code)
    )
    if caller.sponsor_id is not None:
        query = query.where(Programme.sponsor_id == caller.sponsor_id)
    return jsonify(data=[_programme_json(p) for p in get_session().scalars(query)])


class _BadQuery(Exception):
    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


def _limit() -> int:
    text = request.args.get("limit", "").strip()
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _BadQuery(_("limit must be a whole number from 1 to %(max)d.", max=MAX_LIMIT))
    return int(text)


def _after_id() -> int | None:
    cursor = request.args.get("cursor", "").strip()
    if not cursor:
        return None
    after_id = decode_cursor(cursor)
    if after_id is None:
        raise _BadQuery(_("This cursor is not valid. Use the next_cursor of a previous page."))
    return after_id


def _since() -> datetime | None:
    text = request.args.get("since", "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadQuery(
            _("since must be an ISO 8601 date and time, e.g. 2026-04-01T00:00:00Z.")
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _format() -> str:
    value = request.args.get("format", "json").strip().lower() or "json"
    if value not in ("json", "csv"):
        raise _BadQuery(_("format must be json or csv."))
    return value


@bp.get("/programmes/<int:programme_id>/completions")
@sponsor_api
def programme_completions(programme_id: int):
    db = get_session()
    caller = current_caller()
    programme = db.get(Programme, programme_id)
    # As in the portal: 404 for none, 403 for another sponsor's (programme ids are not
    # secret; records are, see completion_record).
    if programme is None:
        return api_error(404, _("This programme does not exist."))
    if not caller.sees(programme.sponsor_id):
        return api_error(403, MESSAGES[403])
    try:
        limit, after_id, since, output = _limit(), _after_id(), _since(), _format()
    except _BadQuery as error:
        return api_error(400, error.message)
    # Records committed while this page is read may carry an earlier issued_at: the
    # margin makes the next pull from as_of see them (at the cost of a few repeats).
    as_of = utcnow().replace(microsecond=0) - SINCE_MARGIN
    page = completion_page(
        db,
        sponsor_id=programme.sponsor_id,
        programme_id=programme.id,
        after_id=after_id,
        limit=limit,
        changed_since=since,
        base_url=_base_url(),
    )
    next_cursor = encode_cursor(page.next_after_id) if page.next_after_id is not None else None
    _audit_download(
        "api_completions",
        programme.code,
        format=output,
        sponsor_id=programme.sponsor_id,
        programme_id=programme.id,
        rows=len(page.rows),
        since=since.isoformat() if since else None,
    )
    headers = {"Cache-Control": "no-store", "X-As-Of": as_of.isoformat().replace("+00:00", "Z")}
    if next_cursor is not None:
        # Only the parameters this endpoint reads: other query keys could clash with
        # url_for's own arguments (programme_id, _external...) and are meaningless here.
        kept = {
            name: request.args[name]
            for name in ("limit", "since", "format")
            if name in request.args
        }
        next_url = url_for(
            ".programme_completions", programme_id=programme.id, **kept, cursor=next_cursor
        )
        headers["Link"] = f'<{next_url}>; rel="next"'
        headers["X-Next-Cursor"] = next_cursor
    if output == "csv":
        filename = f"completions-{programme.code}.csv"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        return Response("".join(write_csv(page.rows)), mimetype="text/csv", headers=headers)
    response = jsonify(
        data=page.rows,
        next_cursor=next_cursor,
        has_more=next_cursor is not None,
        as_of=headers["X-As-Of"],
    )
    response.headers.update(headers)
    return response


@bp.get("/records/<int:record_id>")
@sponsor_api
def completion_record(record_id: int):
    db = get_session()
    found = db.get(CompletionRecord, record_id)
    # Another sponsor's record answers exactly like a missing one: record ids would
    # otherwise tell how many completions there are, and whose.
    row = None
    if found is not None and current_caller().sees(found.sponsor_id):
        row = one_record(db, found, base_url=_base_url())
    if found is None or row is None:
        return api_error(404, _("This completion record does not exist."))
    _audit_download(
        "api_record",
        row["record_id"],
        format="json",
        sponsor_id=found.sponsor_id,
        programme_id=found.programme_id,
        record_id=found.id,
    )
    response = jsonify({**row, "replaced_by_id": found.replaced_by_id})
    response.headers["Cache-Control"] = "no-store"
    return response
