"""Lesson media: the resumable upload API, processing status, captions, transcripts.

JSON endpoints (used by ``static/js/upload.js``) are session-authenticated and need
the CSRF token in an ``X-CSRFToken`` header for writes; errors come back as
``{"error": {"status": ..., "message": ...}}`` in the user's language.

Views are thin: load the lesson or asset (404), check that the user may edit the
course (403), call a service, map its error. One exception to "a failing request
changes nothing": when a service has cleaned up after a refused upload (a finished
file of the wrong size, an upload the storage forgot), that clean-up is committed
even though the answer is an error, so that nothing is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms.accounts.models import Role, User
from lms.catalog.models import Course, Lesson, localized
from lms.catalog.services import can_edit
from lms.core.auth import is_safe_redirect, roles_required
from lms.db import get_session
from lms.i18n import CONTENT_LANGUAGES
from lms.media import services
from lms.media.captions import CaptionError
from lms.media.forms import ActionForm, CaptionForm
from lms.media.models import Caption, MediaAsset, MediaKind, MediaStatus
from lms.media.services import KiB, Limits, MediaServiceError, MiB
from lms.storage import StorageError, UploadedPart, get_storage

bp = Blueprint("media", __name__, template_folder="templates")

ACCEPT = {
    MediaKind.VIDEO: "video/*,.mp4,.m4v,.mov,.mkv,.webm,.avi",
    MediaKind.DOCUMENT: "application/pdf,.pdf",
    MediaKind.IMAGE: "image/jpeg,image/png,image/webp",
}


class ApiError(Exception):
    def __init__(self, status: int, message: object, **details: Any) -> None:
        super().__init__(str(message))
        self.status = status
        self.message = message
        self.details = details


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> tuple[Response, int]:
    body = {"status": error.status, "message": str(error.message), **error.details}
    return jsonify(error=body), error.status


def _storage_down() -> ApiError:
    return ApiError(503, _("The storage cannot be reached right now. Please try again shortly."))


def _service_error(error: MediaServiceError) -> ApiError:
    if error.keep_changes:
        get_session().commit()  # a clean-up that must stand although the request fails
    return ApiError(error.status, error.message, **error.details)


# --- helpers -------------------------------------------------------------------------


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def limits() -> Limits:
    """Upload limits from the app config (``MEDIA_*`` keys)."""
    config = current_app.config
    return Limits(
        video=int(config.get("MEDIA_MAX_VIDEO_MB", 8192)) * MiB,
        document=int(config.get("MEDIA_MAX_DOCUMENT_MB", 100)) * MiB,
        image=int(config.get("MEDIA_MAX_IMAGE_MB", 50)) * MiB,
        caption=int(config.get("MEDIA_MAX_CAPTION_KB", 2048)) * KiB,
        part_size=int(config.get("MEDIA_PART_SIZE", services.DEFAULT_PART_SIZE)),
    )


def _lesson_for_edit(lesson_id: int, *, api: bool = False) -> tuple[Lesson, Course]:
    db = get_session()
    lesson = db.get(Lesson, lesson_id)
    course = db.get(Course, lesson.course_id) if lesson is not None else None
    if lesson is None or course is None:
        if api:
            raise ApiError(404, _("This lesson does not exist."))
        abort(404)
    if not can_edit(_user(), course):
        if api:
            raise ApiError(403, _("You cannot edit this course."))
        abort(403)
    return lesson, course


def _asset_for_edit(asset_id: int, *, api: bool = False) -> MediaAsset:
    db = get_session()
    asset = db.get(MediaAsset, asset_id)
    course = db.get(Course, asset.course_id) if asset and asset.course_id else None
    if asset is None or (course is None and asset.course_id is not None):
        if api:
            raise ApiError(404, _("This file does not exist."))
        abort(404)
    allowed = can_edit(_user(), course) if course else _user().has_role(Role.ADMIN)
    if not allowed:
        if api:
            raise ApiError(403, _("You cannot edit this course."))
        abort(403)
    return asset


def _upload_asset(lesson: Lesson, asset_id: int) -> MediaAsset:
    asset = get_session().get(MediaAsset, asset_id)
    if asset is None or (asset.lesson_id != lesson.id and lesson.media_id != asset.id):
        raise ApiError(404, _("This upload does not exist; please start it again."))
    return asset


def _json_object() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, _("Send a JSON object."))
    return payload


def _field_int(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, _("%(field)s must be a whole number.", field=name))
    return value


def _field_str(payload: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ApiError(400, _("%(field)s must be a text.", field=name))
    return value


def _upload_urls(asset: MediaAsset) -> dict[str, str]:
    lesson_id = asset.lesson_id
    return {
        "state": url_for("media.upload_state", lesson_id=lesson_id, asset_id=asset.id),
        "parts": url_for("media.upload_part_urls", lesson_id=lesson_id, asset_id=asset.id),
        "complete": url_for("media.complete_upload", lesson_id=lesson_id, asset_id=asset.id),
        "abort": url_for("media.abort_upload", lesson_id=lesson_id, asset_id=asset.id),
        "status": url_for("media.asset_status", asset_id=asset.id),
    }


def _upload_json(state: services.UploadState) -> dict[str, Any]:
    asset = state.asset
    upload = asset.upload
    return {
        "asset_id": asset.id,
        "upload_id": upload.upload_id if upload else None,
        "filename": asset.filename,
        "kind": asset.kind,
        "size": asset.size,
        "status": asset.status,
        "part_size": upload.part_size if upload else None,
        "part_count": services.part_count(upload) if upload else None,
        "parts": [{"part_number": p.part_number, "etag": p.etag} for p in state.parts],
        "uploaded_bytes": state.uploaded_bytes,
        "urls": _upload_urls(asset),
    }


def _lesson_of(asset: MediaAsset) -> Lesson | None:
    db = get_session()
    if asset.lesson_id is not None:
        lesson = db.get(Lesson, asset.lesson_id)
        if lesson is not None:
            return lesson
    return db.query(Lesson).filter(Lesson.media_id == asset.id).first()


def _back(form_next: str | None, asset: MediaAsset) -> Response:
    if form_next and is_safe_redirect(form_next):
        return redirect(form_next)  # type: ignore[return-value]
    lesson = _lesson_of(asset)
    if lesson is None:
        return redirect(url_for("core.home"))  # type: ignore[return-value]
    return redirect(url_for("media.lesson_media_page", lesson_id=lesson.id))  # type: ignore[return-value]


# --- the partial's data (a template global) -----------------------------------------------


@dataclass
class MediaPanel:
    """Everything ``media/_lesson_media.html`` shows for one lesson."""

    state: services.LessonMedia
    caption_form: CaptionForm
    action_form: ActionForm
    next_url: str
    max_bytes: int
    accept: str
    create_url: str
    panel_url: str


def lesson_media_panel(lesson: Lesson, caption_form: CaptionForm | None = None) -> MediaPanel:
    state = services.lesson_media(get_session(), lesson)
    taken = [c.language for c in state.current.captions] if state.current else []
    next_url = request.args.get("next", "") if request.args.get("panel") else ""
    if not is_safe_redirect(next_url):
        next_url = request.full_path.rstrip("?") if request.method == "GET" else ""
    if not next_url:
        next_url = url_for("media.lesson_media_page", lesson_id=lesson.id)
    action_form = ActionForm(formdata=None, next=next_url)
    if caption_form is None:
        caption_form = CaptionForm(formdata=None, prefix="caption", taken=taken, next=next_url)
    kind = state.kind or MediaKind.VIDEO
    return MediaPanel(
        state=state,
        caption_form=caption_form,
        action_form=action_form,
        next_url=next_url,
        max_bytes=limits().for_kind(kind),
        accept=ACCEPT.get(kind, ""),
        create_url=url_for("media.create_upload", lesson_id=lesson.id),
        panel_url=url_for("media.lesson_media_page", lesson_id=lesson.id),
    )


def _media_url(key: str | None, **kwargs: Any) -> str:
    return get_storage().url(key, **kwargs) if key else ""


def _language_name(code: str) -> str:
    return CONTENT_LANGUAGES.get(code, code)


bp.add_app_template_global(lesson_media_panel, "lesson_media")
bp.add_app_template_global(services.asset_error, "media_error")
bp.add_app_template_global(services.asset_notice, "media_notice")
bp.add_app_template_global(services.processing_stalled, "media_stalled")
bp.add_app_template_global(_media_url, "media_url")
bp.add_app_template_global(_language_name, "media_language_name")
bp.add_app_template_filter(_language_name, "media_language_name")
bp.add_app_template_filter(services.format_size, "filesize")


# --- the upload API (JSON) ----------------------------------------------------------------


@bp.post("/teach/lessons/<int:lesson_id>/uploads")
@roles_required(Role.INSTRUCTOR)
def create_upload(lesson_id: int):
    lesson, _course = _lesson_for_edit(lesson_id, api=True)
    payload = _json_object()
    data = services.NewUpload(
        filename=_field_str(payload, "filename"),
        size=_field_int(payload, "size"),
        content_type=_field_str(payload, "content_type", required=False),
        kind=_field_str(payload, "kind", required=False)
        or services.lesson_media_kind(lesson)
        or "",
    )
    try:
        asset = services.create_upload(
            get_session(), get_storage(), _user(), lesson, data, limits()
        )
    except MediaServiceError as error:
        raise _service_error(error) from None
    except StorageError:
        raise _storage_down() from None
    return jsonify(_upload_json(services.UploadState(asset, []))), 201


@bp.get("/teach/lessons/<int:lesson_id>/uploads/<int:asset_id>")
@roles_required(Role.INSTRUCTOR)
def upload_state(lesson_id: int, asset_id: int):
    lesson, _course = _lesson_for_edit(lesson_id, api=True)
    asset = _upload_asset(lesson, asset_id)
    try:
        state = services.upload_state(get_session(), get_storage(), asset)
    except MediaServiceError as error:
        raise _service_error(error) from None
    except StorageError:
        raise _storage_down() from None
    return jsonify(_upload_json(state))


@bp.post("/teach/lessons/<int:lesson_id>/uploads/<int:asset_id>/parts")
@roles_required(Role.INSTRUCTOR)
def upload_part_urls(lesson_id: int, asset_id: int):
    lesson, _course = _lesson_for_edit(lesson_id, api=True)
    asset = _upload_asset(lesson, asset_id)
    numbers = _json_object().get("part_numbers")
    if not isinstance(numbers, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in numbers
    ):
        raise ApiError(400, _("part_numbers must be a list of whole numbers."))
    try:
        urls = services.part_urls(get_storage(), asset, numbers)
    except MediaServiceError as error:
        raise _service_error(error) from None
    except StorageError:
        raise _storage_down() from None
    return jsonify(urls={str(n): url for n, url in urls.items()})


@bp.post("/teach/lessons/<int:lesson_id>/uploads/<int:asset_id>/complete")
@roles_required(Role.INSTRUCTOR)
def complete_upload(lesson_id: int, asset_id: int):
    lesson, _course = _lesson_for_edit(lesson_id, api=True)
    asset = _upload_asset(lesson, asset_id)
    raw = _json_object().get("parts") or []
    if not isinstance(raw, list):
        raise ApiError(400, _("parts must be a list."))
    parts = []
    for item in raw:
        if not isinstance(item, dict):
            raise ApiError(400, _("parts must be a list."))
        number, etag = item.get("part_number"), item.get("etag")
        if isinstance(number, bool) or not isinstance(number, int):
            raise ApiError(400, _("part_number must be a whole number."))
        parts.append(UploadedPart(part_number=number, etag=etag if isinstance(etag, str) else ""))
    try:
        services.complete_upload(get_session(), get_storage(), _user(), asset, parts)
    except MediaServiceError as error:
        raise _service_error(error) from None
    except StorageError:
        raise _storage_down() from None
    payload = services.status_payload(asset)
    payload["urls"] = _upload_urls(asset)
    return jsonify(payload)


@bp.delete("/teach/lessons/<int:lesson_id>/uploads/<int:asset_id>")
@roles_required(Role.INSTRUCTOR)
def abort_upload(lesson_id: int, asset_id: int):
    lesson, _course = _lesson_for_edit(lesson_id, api=True)
    asset = _upload_asset(lesson, asset_id)
    services.remove_media(get_session(), get_storage(), _user(), asset)
    return Response(status=204)


@bp.get("/teach/media/<int:asset_id>/status")
@roles_required(Role.INSTRUCTOR)
def asset_status(asset_id: int):
    asset = _asset_for_edit(asset_id, api=True)
    return jsonify(services.status_payload(asset))


# --- pages and forms ---------------------------------------------------------------------


def _lesson_title(lesson: Lesson, course: Course) -> str:
    return localized(lesson.texts, "title", str(get_locale()), course.default_language)


def _render_lesson_page(lesson: Lesson, course: Course, caption_form: CaptionForm | None = None):
    return render_template(
        "media/lesson_media.html",
        lesson=lesson,
        course=course,
        title=_lesson_title(lesson, course),
        caption_form=caption_form,
    )


@bp.get("/teach/lessons/<int:lesson_id>/media")
@roles_required(Role.INSTRUCTOR)
def lesson_media_page(lesson_id: int):
    """The lesson's file on a page of its own; ``?panel=1`` returns only the live part."""
    lesson, course = _lesson_for_edit(lesson_id)
    if request.args.get("panel"):
        return render_template("media/_media_panel.html", media=lesson_media_panel(lesson))
    return _render_lesson_page(lesson, course)


@bp.post("/teach/media/<int:asset_id>/captions")
@roles_required(Role.INSTRUCTOR)
def upload_caption(asset_id: int):
    asset = _asset_for_edit(asset_id)
    form = CaptionForm(prefix="caption", taken=[c.language for c in asset.captions])
    lesson = _lesson_of(asset)
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.stream.read(limits().caption + 1)
        try:
            caption = services.add_caption(
                get_session(),
                get_storage(),
                _user(),
                asset,
                form.language.data or "",
                data,
                limits(),
                filename=upload.filename or "",
            )
        except CaptionError as error:
            form.file.errors = [str(error)]
        except MediaServiceError as error:
            form.file.errors = [str(error.message)]
        except StorageError:
            form.file.errors = [_("The storage cannot be reached right now. Please try again.")]
        else:
            flash(
                _(
                    "Captions in %(language)s saved (%(count)d cues).",
                    language=_language_name(caption.language),
                    count=caption.cue_count,
                ),
                "success",
            )
            return _back(form.next.data, asset)
    get_session().rollback()
    shown = lesson is not None and lesson.media_id == asset.id
    if shown and asset.status == MediaStatus.READY:
        flash(_("The captions were not saved. Please correct the marked field."), "error")
    else:  # the form is not on the page: say it in the message
        for message in [*form.language.errors, *form.file.errors]:
            flash(str(message), "error")
    if lesson is None:
        abort(400)
    course = get_session().get(Course, lesson.course_id)
    assert course is not None
    return _render_lesson_page(lesson, course, caption_form=form), 400


@bp.post("/teach/media/<int:asset_id>/captions/<int:caption_id>/delete")
@roles_required(Role.INSTRUCTOR)
def delete_caption(asset_id: int, caption_id: int):
    asset = _asset_for_edit(asset_id)
    caption = get_session().get(Caption, caption_id)
    if caption is None or caption.asset_id != asset.id:
        abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    language = caption.language
    services.delete_caption(get_session(), get_storage(), _user(), caption)
    flash(_("Captions in %(language)s deleted.", language=_language_name(language)), "success")
    return _back(form.next.data, asset)


@bp.post("/teach/media/<int:asset_id>/retry")
@roles_required(Role.INSTRUCTOR)
def retry_processing(asset_id: int):
    asset = _asset_for_edit(asset_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.retry_processing(get_session(), get_storage(), asset)
    except MediaServiceError as error:
        get_session().rollback()
        flash(str(error.message), "error")
    else:
        flash(_("The file is being processed again."), "success")
    return _back(form.next.data, asset)


@bp.post("/teach/media/<int:asset_id>/remove")
@roles_required(Role.INSTRUCTOR)
def remove_media(asset_id: int):
    asset = _asset_for_edit(asset_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    lesson = _lesson_of(asset)
    services.remove_media(get_session(), get_storage(), _user(), asset)
    flash(_("The file was removed."), "success")
    if form.next.data and is_safe_redirect(form.next.data):
        return redirect(form.next.data)
    if lesson is not None:
        return redirect(url_for("media.lesson_media_page", lesson_id=lesson.id))
    return redirect(url_for("core.home"))


# --- for the player ------------------------------------------------------------------------


@bp.get("/media/captions/<int:caption_id>/transcript")
@login_required
def caption_transcript(caption_id: int):
    """The transcript of a caption file, and a URL of the WebVTT itself.

    Only for people who may view the course the video belongs to; to anyone else the
    caption does not exist (no probing of ids).
    """
    from lms.learning.services import can_view_course  # noqa: PLC0415 - learning uses media

    session = get_session()
    caption = session.get(Caption, caption_id)
    course = session.get(Course, caption.asset.course_id) if caption is not None else None
    if (
        caption is None
        or caption.asset.status != MediaStatus.READY
        or course is None
        or not can_view_course(session, current_user, course)
    ):
        raise ApiError(404, _("These captions do not exist."))
    storage = get_storage()
    try:
        items = services.caption_transcript(storage, caption)
        url = storage.url(caption.key, content_type="text/vtt; charset=utf-8")
    except StorageError:
        raise _storage_down() from None
    return jsonify(
        caption_id=caption.id,
        asset_id=caption.asset_id,
        language=caption.language,
        language_name=_language_name(caption.language),
        url=url,
        items=items,
    )
