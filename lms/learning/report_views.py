"""Progress reports for instructors (under ``/teach``) and sponsors (under ``/sponsor``).

``/teach/courses/<id>/progress[.csv]``            the course's instructors and admins;
                                                  every programme that includes the course,
                                                  filterable by programme (``?programme=``)
``/teach/courses/<id>/trainees/<user_id>``        a trainee of one of those programmes
``/sponsor/programmes/<p>/courses/<c>/progress[.csv]``  staff of programme p's sponsor and
                                                  admins; only trainees of programme p
``/sponsor/programmes/<p>/courses/<c>/trainees/<user_id>``  a trainee of programme p

Access is checked before anything else is read (403), then the course's place in the
programme and the trainee's enrolment (404), so another sponsor learns nothing from
the ids it tries. CSV exports are written to the audit log.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import format_percent, format_time, format_timedelta, get_locale, get_timezone
from flask_login import current_user

from lms.accounts.models import Role
from lms.audit.services import record
from lms.catalog.models import Course
from lms.catalog.services import can_edit
from lms.core.auth import roles_required
from lms.db import get_session, utcnow
from lms.i18n import text_direction
from lms.learning import completion as _completion  # noqa: F401 - wires the completion rules
from lms.learning import reports
from lms.learning.services import Text
from lms.programs.models import Programme
from lms.programs.services import can_view_programme

bp = Blueprint("reports", __name__, template_folder="templates")


@bp.context_processor
def _helpers() -> dict[str, object]:
    return {
        "status_icon": reports.status_icon,
        "format_percent": format_percent,
        "format_time": format_time,
        "format_watched": lambda seconds: format_timedelta(
            timedelta(seconds=max(1, round(seconds))), threshold=1
        ),
    }


# --- helpers ---------------------------------------------------------------------------------


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


def _rtl() -> bool:
    return text_direction(str(get_locale() or "en")) == "rtl"


def _teach_course(course_id: int) -> Course:
    course = get_session().get(Course, course_id) or abort(404)
    if not can_edit(current_user, course):
        abort(403)
    return course


def _sponsor_scope(programme_id: int, course_id: int):
    """The programme (403 unless the viewer may see it), the course (404 unless the
    programme includes it) and the programmes of the same sponsor with the course."""
    db = get_session()
    programme = db.get(Programme, programme_id) or abort(404)
    if not can_view_programme(current_user, programme):
        abort(403)
    course = db.get(Course, course_id) or abort(404)
    options = reports.course_programmes(db, course.id, sponsor_id=programme.sponsor_id)
    if not any(option.id == programme.id for option in options):
        abort(404)
    return programme, course, options


def _chosen(options: list[reports.ProgrammeOption]) -> reports.ProgrammeOption | None:
    """The programme picked in ``?programme=``: None for all, 404 for one not offered."""
    value = request.args.get("programme", "").strip()
    if not value or value == "all":
        return None
    chosen = next((o for o in options if str(o.id) == value), None)
    if chosen is None:
        abort(404)
    return chosen


def _snapshot(course: Course):
    version = course.published_version
    return version.snapshot if version is not None else None


def _title(table: reports.ProgressTable, course: Course) -> Text:
    if table.outline is not None:
        return table.outline.title
    return Text(course.title, course.default_language)


def _csv_response(table: reports.ProgressTable, course: Course, programme_ids: list[int]):
    if not table.published:
        abort(404)
    record(
        get_session(),
        "export",
        actor_id=current_user.id,
        subject=course.code,
        ip=request.remote_addr or "",
        report="course_progress",
        format="csv",
        course_id=course.id,
        programme_ids=programme_ids,
        rows=len(table.rows),
    )
    body = reports.progress_csv(table, get_timezone())
    stamp = utcnow().strftime("%Y%m%d")
    filename = f"progress-{course.code}-{stamp}.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _page(
    table: reports.ProgressTable,
    course: Course,
    *,
    options: list[reports.ProgrammeOption],
    selected: reports.ProgrammeOption | None,
    allow_all: bool,
    filter_url: str,
    csv_url: str,
    trainee_url,
    back_url: str,
    back_label: str,
):
    return render_template(
        "reports/progress.html",
        table=table,
        chart=reports.dropoff_chart(table, rtl=_rtl()),
        course=course,
        course_title=_title(table, course),
        options=options,
        selected=selected,
        allow_all=allow_all,
        filter_url=filter_url,
        csv_url=csv_url,
        trainee_url=trainee_url,
        back_url=back_url,
        back_label=back_label,
    )


# --- instructors ------------------------------------------------------------------------------


def _teach_table(course_id: int):
    course = _teach_course(course_id)
    db = get_session()
    options = reports.course_programmes(db, course.id)
    selected = _chosen(options)
    ids = [selected.id] if selected else [o.id for o in options]
    table = reports.progress_table(db, course.id, _snapshot(course), _language(), ids)
    return course, options, selected, ids, table


@bp.get("/teach/courses/<int:course_id>/progress")
@roles_required(Role.INSTRUCTOR)
def course_progress(course_id: int):
    course, options, selected, _ids, table = _teach_table(course_id)
    programme = selected.id if selected else None
    return _page(
        table,
        course,
        options=options,
        selected=selected,
        allow_all=True,
        filter_url=url_for("reports.course_progress", course_id=course.id),
        csv_url=url_for("reports.course_progress_csv", course_id=course.id, programme=programme),
        trainee_url=lambda user_id: url_for(
            "reports.course_trainee", course_id=course.id, user_id=user_id
        ),
        back_url=url_for("catalog.course_edit", course_id=course.id),
        back_label="course",
    )


@bp.get("/teach/courses/<int:course_id>/progress.csv")
@roles_required(Role.INSTRUCTOR)
def course_progress_csv(course_id: int):
    course, _options, _selected, ids, table = _teach_table(course_id)
    return _csv_response(table, course, ids)


@bp.get("/teach/courses/<int:course_id>/trainees/<int:user_id>")
@roles_required(Role.INSTRUCTOR)
def course_trainee(course_id: int, user_id: int):
    course = _teach_course(course_id)
    db = get_session()
    ids = [o.id for o in reports.course_programmes(db, course.id)]
    timeline = reports.trainee_timeline(
        db, course.id, user_id, _snapshot(course), _language(), ids, get_timezone()
    )
    if timeline is None:
        abort(404)
    return render_template(
        "reports/trainee.html",
        timeline=timeline,
        course=course,
        back_url=url_for("reports.course_progress", course_id=course.id),
    )


# --- sponsors ---------------------------------------------------------------------------------


@bp.get("/sponsor/programmes/<int:programme_id>/courses/<int:course_id>/progress")
@roles_required(Role.SPONSOR)
def sponsor_progress(programme_id: int, course_id: int):
    programme, course, options = _sponsor_scope(programme_id, course_id)
    chosen = _chosen(options)
    if chosen is not None and chosen.id != programme.id:  # the filter: another own programme
        return redirect(
            url_for("reports.sponsor_progress", programme_id=chosen.id, course_id=course.id)
        )
    table = reports.progress_table(
        get_session(), course.id, _snapshot(course), _language(), [programme.id]
    )
    selected = next(o for o in options if o.id == programme.id)
    return _page(
        table,
        course,
        options=options,
        selected=selected,
        allow_all=False,
        filter_url=url_for(
            "reports.sponsor_progress", programme_id=programme.id, course_id=course.id
        ),
        csv_url=url_for(
            "reports.sponsor_progress_csv", programme_id=programme.id, course_id=course.id
        ),
        trainee_url=lambda user_id: url_for(
            "reports.sponsor_trainee",
            programme_id=programme.id,
            course_id=course.id,
            user_id=user_id,
        ),
        back_url=url_for("programs.sponsor_programme", programme_id=programme.id),
        back_label="programme",
    )


@bp.get("/sponsor/programmes/<int:programme_id>/courses/<int:course_id>/progress.csv")
@roles_required(Role.SPONSOR)
def sponsor_progress_csv(programme_id: int, course_id: int):
    programme, course, _options = _sponsor_scope(programme_id, course_id)
    table = reports.progress_table(
        get_session(), course.id, _snapshot(course), _language(), [programme.id]
    )
    return _csv_response(table, course, [programme.id])


@bp.get("/sponsor/programmes/<int:programme_id>/courses/<int:course_id>/trainees/<int:user_id>")
@roles_required(Role.SPONSOR)
def sponsor_trainee(programme_id: int, course_id: int, user_id: int):
    programme, course, _options = _sponsor_scope(programme_id, course_id)
    timeline = reports.trainee_timeline(
        get_session(),
        course.id,
        user_id,
        _snapshot(course),
        _language(),
        [programme.id],
        get_timezone(),
    )
    if timeline is None:
        abort(404)
    return render_template(
        "reports/trainee.html",
        timeline=timeline,
        course=course,
        back_url=url_for(
            "reports.sponsor_progress", programme_id=programme.id, course_id=course.id
        ),
    )
