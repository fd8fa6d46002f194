"""What trainees read: their courses, a course's published outline, one lesson.

Every page reads the published version's snapshot, so it costs the same few
queries however many lessons the course has; edits to the draft reach trainees
only when the course is published again. The trainee's progress comes from their
:class:`~lms.learning.models.LessonProgress` rows, one more query per page.

``POST .../lessons/<id>/done`` marks a reading done without JavaScript (the page's
script uses the JSON API instead), and ``GET .../lessons/<id>/document`` marks a
handout done as it sends the trainee on to a freshly signed download URL.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeSerializer

from lms.catalog.models import Course, CourseVersion, Lesson, LessonKind
from lms.db import get_session, utcnow
from lms.learning import services, tracking
from lms.storage import get_storage

bp = Blueprint("learning", __name__, template_folder="templates")

DOCUMENT_SALT = "kenshu.learning.document"


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


def _user():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _published(course_id: int) -> tuple[Course, CourseVersion]:
    """The course and the version trainees see: 404, or 403 for those who may not see it.

    Access is checked before publication, so an unpublished course is "not found"
    only to those who would otherwise see it.
    """
    db = get_session()
    course = db.get(Course, course_id) or abort(404)
    if not services.can_view_course(db, current_user, course):
        abort(403)
    version = course.published_version
    if version is None:
        abort(404)
    return course, version


def _lesson_url(course_id: int):
    return lambda lesson_id: url_for("learning.lesson", course_id=course_id, lesson_id=lesson_id)


# --- the home page's trainee section ----------------------------------------------------------


@bp.app_template_global()
def trainee_programmes(enrolments) -> list[services.ProgrammeCard]:
    """For the home page (core/home.html): the trainee's programmes with their progress.

    The home view loads the enrolments with their programmes and courses; this adds
    the published outlines and the progress rows, two queries whatever the number of
    courses and lessons. Days left are counted from today in the trainee's time zone.
    """
    today = datetime.now(get_timezone()).date()
    return services.home_programmes(get_session(), current_user.id, enrolments, _language(), today)


# --- pages ------------------------------------------------------------------------------------


@bp.get("/courses")
@login_required
def my_courses():
    groups = services.my_courses(get_session(), current_user, _language())
    return render_template("learning/my_courses.html", groups=groups)


@bp.get("/courses/<int:course_id>")
@login_required
def course(course_id: int):
    course, version = _published(course_id)
    outline = services.outline(course.id, version.snapshot, _language())
    rows = services.progress_rows(get_session(), current_user.id, [course.id])[course.id]
    return render_template(
        "learning/course.html",
        outline=outline,
        version=version,
        preview=False,
        progress=services.course_progress(outline, rows),
        lesson_url=_lesson_url(course.id),
    )


@bp.get("/courses/<int:course_id>/lessons/<int:lesson_id>")
@login_required
def lesson(course_id: int, lesson_id: int):
    course, version = _published(course_id)
    language = _language()
    db = get_session()
    outline = services.outline(course.id, version.snapshot, language)
    view = services.lesson_view(outline, version.snapshot, lesson_id)
    if view is None:
        abort(404)
    if view.has_media:
        view.media = services.media_view(
            db,
            get_storage(),
            services.media_id_of(version.snapshot, lesson_id),
            language,
            view.default_language,
        )
    state = services.lesson_state(tracking.find_progress(db, current_user.id, lesson_id))
    return render_template(
        "learning/lesson.html",
        outline=outline,
        view=view,
        preview=False,
        state=state,
        document_url=lambda inline=False: _document_url(course.id, lesson_id, inline),
        course_url=url_for("learning.course", course_id=course.id),
        lesson_url=_lesson_url(course.id),
    )


# --- marking readings and documents done ------------------------------------------------------


def _published_lesson(course_id: int, lesson_id: int) -> tuple[Course, Lesson]:
    course, version = _published(course_id)
    lesson = get_session().get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course.id:
        abort(404)
    if services.find_lesson(version.snapshot, lesson_id) is None:
        abort(404)
    return course, lesson


def _mark_done(lesson: Lesson) -> tracking.TrackingError | None:
    """Mark the lesson done in its own unit of work; the domain error, if any."""
    db = get_session()
    user = _user()
    try:
        tracking.commit_with_retries(db, lambda: tracking.mark_done(db, user, lesson, utcnow()))
    except tracking.TrackingError as error:
        return error
    except tracking.Busy:
        return tracking.TrackingError(_("Too many updates at once. Please try again."))
    return None


@bp.post("/courses/<int:course_id>/lessons/<int:lesson_id>/done")
@login_required
def lesson_done(course_id: int, lesson_id: int):
    """The "Mark as done" button of a reading, for browsers without JavaScript."""
    course, lesson = _published_lesson(course_id, lesson_id)
    error = _mark_done(lesson)
    if error is None:
        flash(_("Well done: this lesson is marked as done."), "success")
    else:
        flash(str(error.message), "error")
    return redirect(url_for("learning.lesson", course_id=course.id, lesson_id=lesson.id))


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=DOCUMENT_SALT)  # type: ignore[arg-type]


def _document_url(course_id: int, lesson_id: int, inline: bool = False) -> str:
    """The link that opens a handout: carries a token bound to the user and the lesson, so
    that another site cannot make the trainee's browser mark it done (a GET, so that it
    works as a plain link, with or without JavaScript)."""
    token = _signer().dumps([current_user.id, lesson_id])
    return url_for(
        "learning.document",
        course_id=course_id,
        lesson_id=lesson_id,
        token=token,
        **({"view": 1} if inline else {}),
    )


@bp.get("/courses/<int:course_id>/lessons/<int:lesson_id>/document")
@login_required
def document(course_id: int, lesson_id: int):
    """Open a document lesson's file: mark the lesson done, then redirect to a signed URL.

    Without a valid token (a link from elsewhere) the file still opens, but nothing is
    recorded. The URL is signed afresh here, so a page left open for hours still works.
    """
    course, lesson = _published_lesson(course_id, lesson_id)
    snapshot = course.published_version.snapshot  # type: ignore[union-attr]
    media_id = services.media_id_of(snapshot, lesson_id)
    data = services.find_lesson(snapshot, lesson_id) or {}
    if data.get("kind") != LessonKind.DOCUMENT:
        abort(404)
    media = services.media_view(get_session(), get_storage(), media_id, _language())
    if media is None or not media.ready or not media.document_url:
        abort(404)
    try:
        valid = _signer().loads(request.args.get("token", "")) == [current_user.id, lesson_id]
    except BadSignature:
        valid = False
    if valid:
        error = _mark_done(lesson)
        if error is not None:
            current_app.logger.info("document %s not marked done: %s", lesson_id, error)
    inline = request.args.get("view") == "1"
    target = media.document_view_url if inline else media.document_url
    return redirect(target or media.document_url, code=303)
