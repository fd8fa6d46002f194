"""The sponsor portal's programme page and its completion-list downloads.

``/sponsor/programmes/<id>/completions.csv`` and ``.xlsx`` take the filter form's
fields as query arguments (``since``, ``until``, ``status``, ``country``).

**Access.** Staff of the programme's sponsor and admins only: the programme is checked
before anything else is read (403 for another sponsor's, 404 for none), and the rows
are read with the programme's sponsor as scope (see :mod:`lms.exports.completions`).

**Audit.** Every download is written to the audit log (who, which programme, filters,
format, number of rows) in the request's unit of work, which commits when the view
returns: before the first byte of the list is sent.

**Streaming.** The body is a generator run after the view returns, outside the
request's context (the column headers are translated before), with a database session
of its own (the request's one is closed by then) reading a server-side cursor, so
100,000 rows are never in memory at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.audit.services import record
from lms.core.auth import roles_required
from lms.db import get_session, new_session, utcnow
from lms.exports import portal
from lms.exports.completions import (
    CompletionFilters,
    completion_query,
    completion_rows,
    headers,
    write_csv,
    write_xlsx,
)
from lms.exports.forms import CompletionFilterForm
from lms.i18n import text_direction
from lms.programs import services as programmes
from lms.programs.models import Programme

bp = Blueprint("exports", __name__, template_folder="templates")

TRAINEES_PER_PAGE = 200

MIMETYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def sponsor_programme_or_abort(programme_id: int) -> Programme:
    """The programme if the viewer may see it: 404 when missing, 403 when not theirs."""
    programme = programmes.load_programme(get_session(), programme_id) or abort(404)
    if not programmes.can_view_programme(current_user, programme):
        abort(403)
    return programme


def filter_form(programme: Programme, formdata=None) -> CompletionFilterForm:
    names = get_locale().territories if get_locale() else {}
    codes = portal.programme_countries(get_session(), programme.id)
    countries = sorted(((code, names.get(code, code)) for code in codes), key=lambda c: c[1])
    return CompletionFilterForm(formdata=formdata, countries=countries)


def sponsor_programme_page(programme: Programme, form: CompletionFilterForm | None = None):
    """The sponsor's view of a programme: counts, progress chart, trainees (a page of
    :data:`TRAINEES_PER_PAGE` at a time, ``?page=``), downloads."""
    rtl = text_direction(str(get_locale() or "en")) == "rtl"
    overview = portal.programme_overview(get_session(), programme.id, rtl=rtl)
    pages = max(1, -(-len(overview.trainees) // TRAINEES_PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    first = (page - 1) * TRAINEES_PER_PAGE
    return render_template(
        "programs/sponsor_programme.html",
        programme=programme,
        overview=overview,
        trainees=overview.trainees[first : first + TRAINEES_PER_PAGE],
        page=page,
        pages=pages,
        counts=overview.counts,
        chart=overview.distribution,
        stage_labels=portal.STAGE_LABELS,
        form=form or filter_form(programme),
        countries=get_locale().territories if get_locale() else {},
    )


def _filename(programme: Programme, extension: str) -> str:
    code = re.sub(r"[^A-Za-z0-9_-]+", "-", programme.code).strip("-") or str(programme.id)
    return f"completions-{code}-{utcnow():%Y%m%d}.{extension}"


def _audit(programme: Programme, fmt: str, filters: CompletionFilters) -> None:
    if request.method == "HEAD":  # headers only: nothing is downloaded
        return
    db = get_session()
    rows = db.scalar(
        select(func.count()).select_from(
            completion_query(
                sponsor_id=programme.sponsor_id, programme_id=programme.id, filters=filters
            ).subquery()
        )
    )
    record(
        db,
        "export",
        actor_id=current_user.id,
        subject=programme.code,
        ip=request.remote_addr or "",
        report="completions",
        format=fmt,
        programme_id=programme.id,
        sponsor_id=programme.sponsor_id,
        since=filters.since.isoformat() if filters.since else None,
        until=filters.until.isoformat() if filters.until else None,
        status=filters.status,
        country=filters.country,
        rows=rows,
    )


def _download(programme_id: int, fmt: str):
    programme = sponsor_programme_or_abort(programme_id)
    form = filter_form(programme, formdata=request.args)
    if not form.validate():
        get_session().rollback()
        return sponsor_programme_page(programme, form), 400
    filters = form.filters()
    _audit(programme, fmt, filters)

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    base_url = app.config["LMS_SETTINGS"].base_url
    sponsor_id, scope_id = programme.sponsor_id, programme.id
    # Translated now: the body runs after the request, without its context.
    header = headers()

    def body() -> Iterator[str | bytes]:
        with new_session(app) as session:
            rows = completion_rows(
                session,
                sponsor_id=sponsor_id,
                programme_id=scope_id,
                filters=filters,
                base_url=base_url,
            )
            if fmt == "csv":
                yield from write_csv(rows, header)
            else:
                yield from write_xlsx(rows, header)

    return Response(
        body(),
        mimetype=MIMETYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(programme, fmt)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/sponsor/programmes/<int:programme_id>/completions.csv")
@roles_required(Role.SPONSOR)
def completions_csv(programme_id: int):
    return _download(programme_id, "csv")


@bp.get("/sponsor/programmes/<int:programme_id>/completions.xlsx")
@roles_required(Role.SPONSOR)
def completions_xlsx(programme_id: int):
    return _download(programme_id, "xlsx")
