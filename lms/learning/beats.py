"""The progress API: the video player's heartbeats, resuming, and lessons marked done.

``POST /api/v1/lessons/<id>/beats``     a heartbeat from the player (JSON, or a beacon)
``GET  /api/v1/lessons/<id>/progress``  status, share watched and where to resume
``POST /api/v1/lessons/<id>/done``      a reading or document lesson is done

Whoever may read the lesson's course may use them, for their own progress only
(see :func:`lms.learning.tracking.can_view_lesson`); anonymous requests get 401.
Errors are JSON ``{"error": {"status", "message"}}`` in the user's language, and
change nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import ValidationError

from lms.catalog.models import Course, Lesson
from lms.core.errors import CSRF_MESSAGE, MESSAGES
from lms.core.security import check_beacon_csrf
from lms.db import get_session, utcnow
from lms.extensions import csrf
from lms.learning import tracking

bp = Blueprint("progress", __name__)

# A beat is a few hundred bytes; 100 intervals with long decimals stay under 8 KB.
MAX_BEAT_BYTES = 16 * 1024

ERROR_STATUS: dict[type[tracking.TrackingError], int] = {
    tracking.InvalidBeat: 400,
    tracking.LessonNotFound: 404,
    tracking.LessonGone: 410,
    tracking.NotTrackable: 409,
    tracking.SessionConflict: 409,
}


def _error(status: int, message: object, **headers: str):
    response = jsonify(error={"status": status, "message": str(message)})
    response.status_code = status
    response.headers.update(headers)
    return response


def _domain_error(error: tracking.TrackingError):
    return _error(ERROR_STATUS.get(type(error), 400), error.message)


def _lesson(lesson_id: int) -> tuple[Lesson, Course] | Any:
    """The lesson and its course, or an error response: 404 unknown, 403 not readable.

    The caller keeps the course in a variable for the whole request: the session's
    identity map holds objects weakly, and a course still referenced is not read again
    by the services (one statement less per beat).
    """
    db = get_session()
    lesson = db.get(Lesson, lesson_id)
    course = db.get(Course, lesson.course_id) if lesson is not None else None
    if lesson is None or course is None:
        return _error(404, _("This lesson does not exist."))
    if not tracking.can_view_lesson(db, current_user, lesson):
        return _error(403, MESSAGES[403])
    return lesson, course


# ``navigator.sendBeacon`` (used when the page is hidden or closed, where a fetch may be
# cancelled) cannot set request headers, so the automatic check of the X-CSRFToken header
# would refuse every beacon. This view is therefore exempt from that automatic check and
# does the same check itself in check_beacon_csrf: the token is taken from the header when there
# is one (fetch) or else from the JSON body (beacon), and validated with validate_csrf
# against the user's session exactly as the automatic check would. A forged cross-site
# request - even a "simple" text/plain POST, which is what a beacon is - cannot know the
# token, so it is refused: the endpoint stays CSRF-protected. The body is parsed as JSON
# whatever its Content-Type, because beacons send strings as text/plain.
@bp.post("/api/v1/lessons/<int:lesson_id>/beats")
@csrf.exempt
@login_required
def beat(lesson_id: int):
    if (request.content_length or 0) > MAX_BEAT_BYTES:
        return _error(
            413, _("A beat must be smaller than %(size)d KB.", size=MAX_BEAT_BYTES // 1024)
        )
    payload = request.get_json(force=True, silent=True)
    try:
        check_beacon_csrf(payload)
    except ValidationError:
        return _error(400, CSRF_MESSAGE)
    found = _lesson(lesson_id)
    if not isinstance(found, tuple):
        return found
    lesson, _course = found
    try:
        parsed = tracking.parse_beat(payload)
    except tracking.TrackingError as error:
        return _domain_error(error)
    db = get_session()
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    # This view commits by itself, in a loop: when two beats for the same trainee and lesson
    # race (two tabs, a retry, a burst from the offline queue), the loser's unit of work is
    # rolled back whole and run again from the start against the winner's result (see
    # tracking.py). It is still one unit of work - each attempt either commits entirely or
    # leaves nothing - only retried; the request's own commit afterwards has nothing to do.
    try:
        result = tracking.commit_with_retries(
            db, lambda: tracking.record_beat(db, user, lesson, parsed, utcnow())
        )
    except tracking.TrackingError as error:
        return _domain_error(error)
    except tracking.Busy:
        return _error(503, _("Too many updates at once. Please try again."), **{"Retry-After": "2"})
    return jsonify(result.to_dict())


@bp.get("/api/v1/lessons/<int:lesson_id>/progress")
@login_required
def progress(lesson_id: int):
    found = _lesson(lesson_id)
    if not isinstance(found, tuple):
        return found
    lesson, _course = found
    try:
        view = tracking.progress_of(get_session(), current_user, lesson)
    except tracking.TrackingError as error:
        return _domain_error(error)
    return jsonify(view.to_dict())


# Protected by the usual automatic CSRF check (X-CSRFToken header, or a csrf_token field).
@bp.post("/api/v1/lessons/<int:lesson_id>/done")
@login_required
def done(lesson_id: int):
    found = _lesson(lesson_id)
    if not isinstance(found, tuple):
        return found
    lesson, _course = found
    db = get_session()
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    try:
        view = tracking.commit_with_retries(
            db, lambda: tracking.mark_done(db, user, lesson, utcnow())
        )
    except tracking.TrackingError as error:
        return _domain_error(error)
    except tracking.Busy:
        return _error(503, _("Too many updates at once. Please try again."), **{"Retry-After": "2"})
    return jsonify(view.to_dict())
