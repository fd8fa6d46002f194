"""What trainees read: their courses, a course's published outline, one lesson.

Every page reads the published version's snapshot, so it costs the same few
queries however many lessons the course has; edits to the draft reach trainees
only when the course is published again.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, url_for
from flask_babel import get_locale
from flask_login import current_user, login_required

from lms.catalog.models import Course, CourseVersion
from lms.db import get_session
from lms.learning import services
from lms.storage import get_storage

bp = Blueprint("learning", __name__, template_folder="templates")


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


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


@bp.get("/courses")
@login_required
def my_courses():
    groups = services.my_courses(get_session(), current_user, _language())
    return render_template("learning/my_courses.html", groups=groups)


@bp.get("/courses/<int:course_id>")
@login_required
def course(course_id: int):
    course, version = _published(course_id)
    return render_template(
        "learning/course.html",
        outline=services.outline(course.id, version.snapshot, _language()),
        version=version,
        preview=False,
        lesson_url=lambda lesson_id: url_for(
            "learning.lesson", course_id=course.id, lesson_id=lesson_id
        ),
    )


@bp.get("/courses/<int:course_id>/lessons/<int:lesson_id>")
@login_required
def lesson(course_id: int, lesson_id: int):
    course, version = _published(course_id)
    language = _language()
    outline = services.outline(course.id, version.snapshot, language)
    view = services.lesson_view(outline, version.snapshot, lesson_id)
    if view is None:
        abort(404)
    if view.has_media:
        view.media = services.media_view(
            get_session(),
            get_storage(),
            services.media_id_of(version.snapshot, lesson_id),
            language,
        )
    return render_template(
        "learning/lesson.html",
        outline=outline,
        view=view,
        preview=False,
        course_url=url_for("learning.course", course_id=course.id),
        lesson_url=lambda other: url_for("learning.lesson", course_id=course.id, lesson_id=other),
    )
