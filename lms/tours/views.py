"""The trainee's tour: the page (inside the lesson page) and its progress API.

The lesson page (``learning/lesson.html``, also the instructor's preview) includes
``tours/_tour.html`` for a tour lesson; :func:`tour_page` builds what it shows from
the lesson's frozen settings: the map with numbered stops, and the stop chosen with
``?stop=<uid>``. Each stop is a page of its own (a plain link), so the tour works
with the browser's back button and on a phone.

``POST /api/v1/lessons/<id>/tour/stops/<uid>/visit``     photos or panorama open long enough
``POST /api/v1/lessons/<id>/tour/stops/<uid>/beats``     heartbeats of a video stop's player
``GET  /api/v1/lessons/<id>/tour/stops/<uid>/progress``  what was watched, where to resume

Visits carry a signed token made when the stop's page was rendered: the server
counts the stop visited only once its dwell time has passed since then, so the
visit cannot be claimed without the page having been open that long.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
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
from flask_wtf.csrf import ValidationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup

from lms.accounts.models import Role
from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, Lesson, LessonKind, localized
from lms.catalog.services import CatalogError, can_edit
from lms.core.auth import roles_required
from lms.core.errors import CSRF_MESSAGE
from lms.core.forms import ActionForm
from lms.core.security import check_beacon_csrf
from lms.db import get_session, utcnow
from lms.extensions import csrf
from lms.i18n import CONTENT_LANGUAGES
from lms.learning import services as learning
from lms.learning import tracking
from lms.learning.services import MediaView, Text, pick
from lms.media import services as media_services
from lms.media.models import MediaAsset, MediaStatus
from lms.media.views import limits as media_limits
from lms.storage import Storage, StorageError, UploadedPart, get_storage
from lms.tours import builder as builder_services
from lms.tours import services
from lms.tours.schema import HotspotKind, Stop, StopKind, Tour, TourError, tour_of

bp = Blueprint("tours", __name__, template_folder="templates")

VISIT_SALT = "kenshu.tours.visit"
MAX_BEAT_BYTES = 16 * 1024
TOKEN_MAX_AGE = 24 * 3600


def _user():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=VISIT_SALT)  # type: ignore[arg-type]


# --- the page ------------------------------------------------------------------------------


@dataclass
class StopItem:
    uid: str
    number: int
    title: Text
    kind: str
    x: float
    y: float
    required: bool
    visited: bool
    open: bool
    url: str

    @property
    def left(self) -> str:  # for a CSS custom property set by tour.js (no inline style)
        return f"{self.x * 100:.2f}"

    @property
    def top(self) -> str:
        return f"{self.y * 100:.2f}"


@dataclass
class HotspotItem:
    uid: str
    yaw: float
    pitch: float
    kind: str
    text: Text | None = None
    target: StopItem | None = None


@dataclass
class PhotoItem:
    url: str
    preview_url: str | None
    caption: Text | None
    width: int | None
    height: int | None


@dataclass
class StopDetail:
    item: StopItem
    body: Markup
    body_lang: Text
    panorama_url: str | None = None
    preview_url: str | None = None
    hotspots: list[HotspotItem] = field(default_factory=list)
    photos: list[PhotoItem] = field(default_factory=list)
    video: MediaView | None = None
    ready: bool = True


@dataclass
class TourPage:
    lesson_id: int
    order: str
    dwell_seconds: int
    map_url: str | None
    map_width: int | None
    map_height: int | None
    stops: list[StopItem]
    current: StopDetail | None
    previous: StopItem | None
    next: StopItem | None
    tracked: bool
    visit_token: str = ""

    @property
    def required_total(self) -> int:
        return sum(1 for stop in self.stops if stop.required)

    @property
    def required_visited(self) -> int:
        return sum(1 for stop in self.stops if stop.required and stop.visited)

    @property
    def done(self) -> bool:
        return self.required_visited >= self.required_total

    @property
    def first_open(self) -> StopItem | None:
        """Where "start" or "continue" leads: the first open stop not visited yet."""
        return next((s for s in self.stops if s.open and not s.visited), None) or (
            self.stops[0] if self.stops else None
        )


def _stop_url(uid: str) -> str:
    """The current page (the trainee's lesson or the instructor's preview) at stop ``uid``."""
    # Only the query arguments these pages read: anything else could clash with the
    # route's own arguments (``?course_id=``) or url_for's (``?_method=``).
    args = {key: request.args[key] for key in ("lang",) if key in request.args}
    return url_for(
        request.endpoint or "learning.lesson", **(request.view_args or {}), **args, stop=uid
    )


def _url(storage: Storage, asset: MediaAsset | None, *, preview: bool = False) -> str | None:
    if asset is None or asset.status != MediaStatus.READY:
        return None
    if preview:
        small = next((r for r in asset.renditions if r.name == "preview"), None)
        return storage.url(small.key, content_type=small.content_type) if small else None
    return storage.url(asset.key, content_type=asset.content_type)


@bp.app_template_global()
def tour_page(view: learning.LessonView, preview: bool, tracked: bool) -> TourPage | None:
    """What ``tours/_tour.html`` shows for the lesson ``view``: the map, the stops and the
    stop chosen in the address. A few queries: the tour's files, the trainee's visits."""
    default = view.default_language
    tour = tour_of(view.settings, default)
    if tour is None:
        return None
    language = _language()
    db = get_session()
    storage = get_storage()
    lesson_id = view.lesson.id
    visited = services.visited_uids(db, current_user.id, lesson_id) if tracked else set()
    assets = services.tour_assets(db, tour)
    items = [
        StopItem(
            uid=stop.uid,
            number=index + 1,
            title=pick(stop.texts, "title", language, default),
            kind=stop.kind,
            x=stop.x,
            y=stop.y,
            required=stop.required,
            visited=stop.uid in visited,
            open=tour.is_open(stop.uid, visited) if tracked else True,
            url=_stop_url(stop.uid),
        )
        for index, stop in enumerate(tour.stops)
    ]
    map_asset = assets.get(tour.map_media_id) if tour.map_media_id else None
    try:
        map_url = _url(storage, map_asset)
    except StorageError:
        map_url = None
    page = TourPage(
        lesson_id=lesson_id,
        order=tour.order,
        dwell_seconds=tour.dwell_seconds,
        map_url=map_url,
        map_width=map_asset.width if map_asset else None,
        map_height=map_asset.height if map_asset else None,
        stops=items,
        current=None,
        previous=None,
        next=None,
        tracked=tracked,
    )
    chosen = request.args.get("stop", "")
    stop = tour.stop(chosen)
    if stop is None:
        return page
    index = tour.index(stop.uid)
    page.previous = items[index - 1] if index > 0 else None
    page.next = items[index + 1] if index + 1 < len(items) else None
    page.current = _detail(tour, stop, items[index], items, assets, language, default)
    if stop.kind == StopKind.VIDEO and page.current.item.open:
        page.current.video = learning.media_view(db, storage, stop.media_id, language, default)
    if tracked:
        page.visit_token = _serializer().dumps([current_user.id, lesson_id, stop.uid])
    return page


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


def _detail(
    tour: Tour,
    stop: Stop,
    item: StopItem,
    items: list[StopItem],
    assets: dict[int, MediaAsset],
    language: str,
    default: str,
) -> StopDetail:
    storage = get_storage()
    body = pick(stop.texts, "body", language, default)
    detail = StopDetail(
        item=item,
        body=render_markdown(body.value) if body.value else Markup(""),
        body_lang=body,
    )
    by_uid = {i.uid: i for i in items}
    try:
        if stop.kind == StopKind.PANORAMA:
            asset = assets.get(stop.media_id or 0)
            detail.panorama_url = _url(storage, asset)
            detail.preview_url = _url(storage, asset, preview=True)
            detail.ready = detail.panorama_url is not None
            for hotspot in stop.hotspots:
                detail.hotspots.append(
                    HotspotItem(
                        uid=hotspot.uid,
                        yaw=hotspot.yaw,
                        pitch=hotspot.pitch,
                        kind=hotspot.kind,
                        text=(
                            pick(hotspot.texts, "text", language, default)
                            if hotspot.kind == HotspotKind.NOTE
                            else None
                        ),
                        target=by_uid.get(hotspot.stop or ""),
                    )
                )
        elif stop.kind == StopKind.PHOTOS:
            for photo in stop.photos:
                asset = assets.get(photo.media_id)
                url = _url(storage, asset)
                if url is None or asset is None:
                    continue
                caption = pick(photo.texts, "caption", language, default)
                detail.photos.append(
                    PhotoItem(
                        url=url,
                        preview_url=_url(storage, asset, preview=True),
                        caption=caption or None,
                        width=asset.width,
                        height=asset.height,
                    )
                )
            detail.ready = bool(detail.photos)
    except StorageError:
        detail.ready = False
    return detail


# --- the progress API ----------------------------------------------------------------------


def _error(status: int, message: object):
    response = jsonify(error={"status": status, "message": str(message)})
    response.status_code = status
    return response


def _found(lesson_id: int) -> services.PublishedTour | Any:
    db = get_session()
    lesson = db.get(Lesson, lesson_id)
    if lesson is None:
        return _error(404, _("This lesson does not exist."))
    try:
        return services.published_tour(db, _user(), lesson)
    except services.TourServiceError as error:
        return _error(error.status, error.message)


@bp.post("/api/v1/lessons/<int:lesson_id>/tour/stops/<stop_uid>/visit")
@login_required
def visit(lesson_id: int, stop_uid: str):
    """Photos or a panorama have been open for the tour's dwell time (CSRF: X-CSRFToken)."""
    found = _found(lesson_id)
    if not isinstance(found, services.PublishedTour):
        return found
    payload = request.get_json(silent=True)
    token = payload.get("token") if isinstance(payload, dict) else None
    try:
        value, signed_at = _serializer().loads(
            token or "", max_age=TOKEN_MAX_AGE, return_timestamp=True
        )
    except (BadSignature, SignatureExpired):
        return _error(400, _("Open the stop again: this page is too old."))
    if value != [current_user.id, lesson_id, stop_uid]:
        return _error(400, _("Open the stop again: this page is too old."))
    stop = found.tour.stop(stop_uid)
    if stop is not None and stop.kind == StopKind.VIDEO:
        return _error(409, _("A video stop is visited by watching its clip."))
    now = utcnow()
    if (now - signed_at).total_seconds() < found.tour.dwell_seconds - 0.5:
        return _error(409, _("Take a little more time to look at this stop."))
    db = get_session()
    try:
        result = tracking.commit_with_retries(
            db, lambda: services.record_visit(db, _user(), found, stop_uid, now)
        )
    except services.TourServiceError as error:
        return _error(error.status, error.message)
    except tracking.Busy:
        return _error(503, _("Too many updates at once. Please try again."))
    return jsonify(result.to_dict())


# Exempt from the automatic check for the same reason as the lectures' beats (see
# lms.learning.beats): the player sends its last beat with navigator.sendBeacon, which
# cannot set headers; the token is checked here, from the header or the JSON body.
@bp.post("/api/v1/lessons/<int:lesson_id>/tour/stops/<stop_uid>/beats")
@csrf.exempt
@login_required
def beat(lesson_id: int, stop_uid: str):
    if (request.content_length or 0) > MAX_BEAT_BYTES:
        return _error(
            413, _("A beat must be smaller than %(size)d KB.", size=MAX_BEAT_BYTES // 1024)
        )
    payload = request.get_json(force=True, silent=True)
    try:
        check_beacon_csrf(payload)
    except ValidationError:
        return _error(400, CSRF_MESSAGE)
    found = _found(lesson_id)
    if not isinstance(found, services.PublishedTour):
        return found
    try:
        parsed = tracking.parse_beat(payload)
    except tracking.TrackingError as error:
        return _error(400, error.message)
    db = get_session()
    try:
        watch, progress = tracking.commit_with_retries(
            db, lambda: services.record_stop_beat(db, _user(), found, stop_uid, parsed, utcnow())
        )
    except services.TourServiceError as error:
        return _error(error.status, error.message)
    except tracking.Busy:
        return _error(503, _("Too many updates at once. Please try again."))
    data = watch.to_dict()
    if progress is not None:
        data["tour"] = progress.to_dict()
    return jsonify({"progress": data})


@bp.get("/api/v1/lessons/<int:lesson_id>/tour/stops/<stop_uid>/progress")
@login_required
def stop_progress(lesson_id: int, stop_uid: str):
    found = _found(lesson_id)
    if not isinstance(found, services.PublishedTour):
        return found
    try:
        watch = services.stop_watch(get_session(), _user(), found, stop_uid)
    except services.TourServiceError as error:
        return _error(error.status, error.message)
    return jsonify(watch.to_dict())


# --- the instructor's builder ----------------------------------------------------------------


def _editable(course_id: int, lesson_id: int) -> tuple[Course, Lesson]:
    """The course (404, or 403 unless the user may edit it, checked first) and its tour lesson."""
    db = get_session()
    course = db.get(Course, course_id) or abort(404)
    if not can_edit(current_user, course):
        abort(403)
    lesson = db.get(Lesson, lesson_id)
    if (
        lesson is None
        or lesson.course_id != course.id
        or lesson.archived_at is not None
        or lesson.kind != LessonKind.TOUR
    ):
        abort(404)
    return course, lesson


def _builder_lang(course: Course) -> str:
    lang = request.args.get("lang", "")
    return lang if lang in CONTENT_LANGUAGES else course.default_language


def _builder_url(course: Course, lesson: Lesson, lang: str, anchor: str = "") -> str:
    url = url_for("tours.builder", course_id=course.id, lesson_id=lesson.id, lang=lang)
    return f"{url}#{anchor}" if anchor else url


@dataclass
class BuilderStop:
    uid: str
    number: int
    kind: str
    title: str
    body: str
    required: bool
    x: float
    y: float
    panorama_url: str | None
    preview_url: str | None
    media_status: str
    hotspots: list[dict[str, Any]]
    captions: list[tuple[str, int]] = field(default_factory=list)  # language, cue count


def _builder_page(course: Course, lesson: Lesson, lang: str, status: int = 200):
    db = get_session()
    storage = get_storage()
    tour = tour_of(lesson.settings, course.default_language)
    stops: list[BuilderStop] = []
    map_asset = None
    if tour is not None:
        assets = services.tour_assets(db, tour)
        map_asset = assets.get(tour.map_media_id or 0)
        titles = {
            s.uid: localized(s.texts, "title", lang, course.default_language) for s in tour.stops
        }
        for index, stop in enumerate(tour.stops):
            asset = assets.get(stop.media_id or 0) if stop.media_id else None
            stops.append(
                BuilderStop(
                    uid=stop.uid,
                    number=index + 1,
                    kind=stop.kind,
                    title=(stop.texts.get(lang) or {}).get("title", ""),
                    body=(stop.texts.get(lang) or {}).get("body", ""),
                    required=stop.required,
                    x=stop.x,
                    y=stop.y,
                    panorama_url=_url(storage, asset) if stop.kind == StopKind.PANORAMA else None,
                    preview_url=(
                        _url(storage, asset, preview=True)
                        if stop.kind == StopKind.PANORAMA
                        else None
                    ),
                    media_status=(asset.status if asset is not None else str(MediaStatus.READY)),
                    hotspots=[
                        {
                            "uid": h.uid,
                            "yaw": h.yaw,
                            "pitch": h.pitch,
                            "label": (
                                localized(h.texts, "text", lang, course.default_language)
                                if h.kind == HotspotKind.NOTE
                                else titles.get(h.stop or "", "")
                            ),
                            "kind": h.kind,
                        }
                        for h in stop.hotspots
                    ],
                    captions=(
                        [(c.language, c.cue_count) for c in asset.captions]
                        if asset is not None and stop.kind == StopKind.VIDEO
                        else []
                    ),
                )
            )
    return render_template(
        "tours/builder.html",
        course=course,
        lesson=lesson,
        lang=lang,
        tour=tour,
        stops=stops,
        map_url=_url(storage, map_asset) if map_asset else None,
        map_asset=map_asset,
        languages=CONTENT_LANGUAGES,
        lesson_title=localized(lesson.texts, "title", lang, course.default_language),
        max_video_bytes=media_limits().video,
    ), status


@bp.get("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour")
@roles_required(Role.INSTRUCTOR)
def builder(course_id: int, lesson_id: int):
    course, lesson = _editable(course_id, lesson_id)
    return _builder_page(course, lesson, _builder_lang(course))


def _uploads(folder: Path) -> list[builder_services.Upload]:
    saved = []
    for index, storage_file in enumerate(request.files.getlist("file")):
        if not storage_file or not storage_file.filename:
            continue
        path = folder / f"upload-{index}"
        storage_file.save(path)
        saved.append((path, storage_file.filename))
    return saved


def _change(course_id: int, lesson_id: int, action, anchor: str = "", message: str = ""):
    """Check CSRF, run ``action(course, lesson, lang, uploads)``; back to the builder, or
    the builder with the reason (400: the unit of work and any stored file are undone)."""
    course, lesson = _editable(course_id, lesson_id)
    lang = _builder_lang(course)
    if not ActionForm().validate_on_submit():
        flash(_("Nothing was saved. Please check the form."), "error")
        return _builder_page(course, lesson, lang, 400)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = action(course, lesson, lang, _uploads(Path(tmp)))
        except services.TourServiceError as error:
            flash(str(error.message), "error")
            return _builder_page(course, lesson, lang, 400)
        except TourError as error:
            flash(" ".join(error.messages), "error")
            return _builder_page(course, lesson, lang, 400)
        except CatalogError as error:
            flash(str(error.message), "error")
            return _builder_page(course, lesson, lang, 400)
    if isinstance(result, tuple):  # (anchor, message) known only once the change is made
        result, message = result
    flash(message or _("The tour is saved."), "success")
    return redirect(
        _builder_url(course, lesson, lang, result if isinstance(result, str) else anchor)
    )


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/map")
@roles_required(Role.INSTRUCTOR)
def builder_map(course_id: int, lesson_id: int):
    def action(course, lesson, lang, uploads):
        if not uploads:
            raise services.TourServiceError(_("Choose the map's image file."))
        builder_services.set_map(get_session(), get_storage(), lesson, uploads[0], current_user.id)

    return _change(course_id, lesson_id, action, "tour-map", _("The map is saved."))


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/settings")
@roles_required(Role.INSTRUCTOR)
def builder_settings(course_id: int, lesson_id: int):
    def action(course, lesson, lang, uploads):
        builder_services.set_settings(
            get_session(), lesson, request.form.get("order", ""), request.form.get("dwell", "")
        )

    return _change(course_id, lesson_id, action, "tour-settings")


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops")
@roles_required(Role.INSTRUCTOR)
def builder_stop_add(course_id: int, lesson_id: int):
    def action(course, lesson, lang, uploads):
        uid = builder_services.add_stop(
            get_session(),
            get_storage(),
            lesson,
            language=lang,
            title=request.form.get("title", ""),
            kind=request.form.get("kind", ""),
            x=request.form.get("x", ""),
            y=request.form.get("y", ""),
            uploads=uploads,
            actor_id=current_user.id,
        )
        return f"stop-{uid}"

    return _change(course_id, lesson_id, action, message=_("The stop is added."))


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>")
@roles_required(Role.INSTRUCTOR)
def builder_stop_edit(course_id: int, lesson_id: int, stop_uid: str):
    def action(course, lesson, lang, uploads):
        builder_services.update_stop(
            get_session(),
            lesson,
            stop_uid,
            language=lang,
            title=request.form.get("title", ""),
            body=request.form.get("body", ""),
            required=request.form.get("required") == "y",
            x=request.form.get("x", ""),
            y=request.form.get("y", ""),
        )

    return _change(course_id, lesson_id, action, f"stop-{stop_uid}")


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>/move")
@roles_required(Role.INSTRUCTOR)
def builder_stop_move(course_id: int, lesson_id: int, stop_uid: str):
    def action(course, lesson, lang, uploads):
        step = -1 if request.form.get("direction") == "up" else 1
        builder_services.move_stop(get_session(), lesson, stop_uid, step)

    return _change(course_id, lesson_id, action, f"stop-{stop_uid}", _("The stops are reordered."))


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>/delete")
@roles_required(Role.INSTRUCTOR)
def builder_stop_delete(course_id: int, lesson_id: int, stop_uid: str):
    def action(course, lesson, lang, uploads):
        builder_services.delete_stop(get_session(), lesson, stop_uid)

    return _change(course_id, lesson_id, action, "tour-stops", _("The stop is removed."))


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>/hotspots")
@roles_required(Role.INSTRUCTOR)
def builder_hotspot_add(course_id: int, lesson_id: int, stop_uid: str):
    def action(course, lesson, lang, uploads):
        builder_services.add_hotspot(
            get_session(),
            lesson,
            stop_uid,
            language=lang,
            yaw=request.form.get("yaw", ""),
            pitch=request.form.get("pitch", ""),
            text=request.form.get("text", ""),
            target=request.form.get("target", ""),
        )

    return _change(course_id, lesson_id, action, f"stop-{stop_uid}", _("The hotspot is added."))


@bp.post(
    "/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>"
    "/hotspots/<hotspot_uid>/delete"
)
@roles_required(Role.INSTRUCTOR)
def builder_hotspot_delete(course_id: int, lesson_id: int, stop_uid: str, hotspot_uid: str):
    def action(course, lesson, lang, uploads):
        builder_services.delete_hotspot(get_session(), lesson, stop_uid, hotspot_uid)

    return _change(course_id, lesson_id, action, f"stop-{stop_uid}", _("The hotspot is removed."))


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>/captions")
@roles_required(Role.INSTRUCTOR)
def builder_caption_add(course_id: int, lesson_id: int, stop_uid: str):
    def action(course, lesson, lang, uploads):
        caption = builder_services.add_clip_caption(
            get_session(),
            get_storage(),
            _user(),
            lesson,
            stop_uid,
            language=request.form.get("language", ""),
            upload=uploads[0] if uploads else None,
            limits=media_limits(),
        )
        return f"stop-{stop_uid}", _(
            "Captions in %(language)s saved (%(count)d cues).",
            language=CONTENT_LANGUAGES.get(caption.language, caption.language),
            count=caption.cue_count,
        )

    return _change(course_id, lesson_id, action, f"stop-{stop_uid}")


@bp.post(
    "/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>"
    "/captions/<language>/delete"
)
@roles_required(Role.INSTRUCTOR)
def builder_caption_delete(course_id: int, lesson_id: int, stop_uid: str, language: str):
    def action(course, lesson, lang, uploads):
        builder_services.delete_clip_caption(
            get_session(), get_storage(), _user(), lesson, stop_uid, language
        )
        return f"stop-{stop_uid}", _(
            "Captions in %(language)s deleted.",
            language=CONTENT_LANGUAGES.get(language, language),
        )

    return _change(course_id, lesson_id, action, f"stop-{stop_uid}")


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/stops/<stop_uid>/media")
@roles_required(Role.INSTRUCTOR)
def builder_stop_media(course_id: int, lesson_id: int, stop_uid: str):
    """Replace a stop's file(s) in one request (images; a clip without JavaScript)."""

    def action(course, lesson, lang, uploads):
        builder_services.replace_stop_media(
            get_session(), get_storage(), lesson, stop_uid, uploads=uploads, actor_id=_user().id
        )

    return _change(
        course_id, lesson_id, action, f"stop-{stop_uid}", _("The stop's file is replaced.")
    )


# --- resumable clip uploads (JSON, the protocol of lms/static/js/upload.js) -----------------


class _ApiRefusal(Exception):
    def __init__(self, status: int, message: object, **details: Any) -> None:
        super().__init__(str(message))
        self.status, self.message, self.details = status, message, details


@bp.errorhandler(_ApiRefusal)
def _api_refusal(error: _ApiRefusal):
    body = {"status": error.status, "message": str(error.message), **error.details}
    return jsonify(error=body), error.status


def _clip_call(call):
    """Run a service call of the upload API; its refusals as JSON errors."""
    try:
        return call()
    except services.TourServiceError as error:
        raise _ApiRefusal(error.status, error.message) from None
    except TourError as error:
        raise _ApiRefusal(400, " ".join(error.messages)) from None
    except media_services.MediaServiceError as error:
        if error.keep_changes:
            get_session().commit()  # a clean-up that must stand although the request fails
        raise _ApiRefusal(error.status, error.message, **error.details) from None
    except StorageError:
        raise _ApiRefusal(
            503, _("The storage cannot be reached right now. Please try again shortly.")
        ) from None


def _editable_api(course_id: int, lesson_id: int) -> tuple[Course, Lesson]:
    db = get_session()
    course = db.get(Course, course_id)
    if course is None:
        raise _ApiRefusal(404, _("This lesson does not exist."))
    if not can_edit(current_user, course):
        raise _ApiRefusal(403, _("You cannot edit this course."))
    lesson = db.get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course.id or lesson.kind != LessonKind.TOUR:
        raise _ApiRefusal(404, _("This lesson does not exist."))
    return course, lesson


def _clip_json(course_id: int, lesson_id: int, asset: MediaAsset, state=None) -> dict[str, Any]:
    upload = asset.upload
    base = {"course_id": course_id, "lesson_id": lesson_id, "asset_id": asset.id}
    return {
        "asset_id": asset.id,
        "upload_id": upload.upload_id if upload else None,
        "filename": asset.filename,
        "kind": asset.kind,
        "size": asset.size,
        "status": asset.status,
        "part_size": upload.part_size if upload else None,
        "part_count": media_services.part_count(upload) if upload else None,
        "parts": [
            {"part_number": p.part_number, "etag": p.etag} for p in (state.parts if state else [])
        ],
        "uploaded_bytes": state.uploaded_bytes if state else 0,
        "urls": {
            "state": url_for("tours.clip_upload_state", **base),
            "parts": url_for("tours.clip_upload_parts", **base),
            "complete": url_for("tours.clip_upload_complete", **base),
            "abort": url_for("tours.clip_upload_abort", **base),
            "status": url_for("media.asset_status", asset_id=asset.id),
        },
    }


def _json_payload() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise _ApiRefusal(400, _("Send a JSON object."))
    return payload


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/uploads")
@roles_required(Role.INSTRUCTOR)
def clip_upload_create(course_id: int, lesson_id: int):
    """Start a clip's upload: for a new stop (``title``, ``x``, ``y`` in the address) or
    to replace the clip of stop ``stop``."""
    course, lesson = _editable_api(course_id, lesson_id)
    payload = _json_payload()
    size = payload.get("size")
    if isinstance(size, bool) or not isinstance(size, int):
        raise _ApiRefusal(400, _("%(field)s must be a whole number.", field="size"))
    upload = media_services.NewUpload(
        filename=str(payload.get("filename") or ""),
        size=size,
        content_type=str(payload.get("content_type") or ""),
        kind=str(payload.get("kind") or "video"),
    )
    asset = _clip_call(
        lambda: builder_services.start_clip_upload(
            get_session(),
            get_storage(),
            _user(),
            lesson,
            upload,
            media_limits(),
            language=_builder_lang(course),
            stop_uid=request.args.get("stop", ""),
            title=request.args.get("title", ""),
            x=request.args.get("x", ""),
            y=request.args.get("y", ""),
        )
    )
    return jsonify(_clip_json(course_id, lesson_id, asset)), 201


@bp.get("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/uploads/<int:asset_id>")
@roles_required(Role.INSTRUCTOR)
def clip_upload_state(course_id: int, lesson_id: int, asset_id: int):
    _course, lesson = _editable_api(course_id, lesson_id)
    asset = _clip_call(lambda: builder_services.clip_upload(get_session(), lesson, asset_id))
    state = _clip_call(lambda: media_services.upload_state(get_session(), get_storage(), asset))
    return jsonify(_clip_json(course_id, lesson_id, asset, state))


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/uploads/<int:asset_id>/parts")
@roles_required(Role.INSTRUCTOR)
def clip_upload_parts(course_id: int, lesson_id: int, asset_id: int):
    _course, lesson = _editable_api(course_id, lesson_id)
    asset = _clip_call(lambda: builder_services.clip_upload(get_session(), lesson, asset_id))
    numbers = _json_payload().get("part_numbers")
    if not isinstance(numbers, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in numbers
    ):
        raise _ApiRefusal(400, _("part_numbers must be a list of whole numbers."))
    urls = _clip_call(lambda: media_services.part_urls(get_storage(), asset, numbers))
    return jsonify(urls={str(n): url for n, url in urls.items()})


@bp.post(
    "/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/uploads/<int:asset_id>/complete"
)
@roles_required(Role.INSTRUCTOR)
def clip_upload_complete(course_id: int, lesson_id: int, asset_id: int):
    """Assemble the clip, queue its processing and put it on its stop."""
    _course, lesson = _editable_api(course_id, lesson_id)
    asset = _clip_call(lambda: builder_services.clip_upload(get_session(), lesson, asset_id))
    raw = _json_payload().get("parts") or []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise _ApiRefusal(400, _("parts must be a list."))
    parts = []
    for item in raw:
        number, etag = item.get("part_number"), item.get("etag")
        if isinstance(number, bool) or not isinstance(number, int):
            raise _ApiRefusal(400, _("part_number must be a whole number."))
        parts.append(UploadedPart(part_number=number, etag=etag if isinstance(etag, str) else ""))
    uid = _clip_call(
        lambda: builder_services.finish_clip_upload(
            get_session(), get_storage(), _user(), lesson, asset, parts
        )
    )
    payload = media_services.status_payload(asset)
    payload["urls"] = _clip_json(course_id, lesson_id, asset)["urls"]
    payload["stop"] = uid
    return jsonify(payload)


@bp.delete("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/tour/uploads/<int:asset_id>")
@roles_required(Role.INSTRUCTOR)
def clip_upload_abort(course_id: int, lesson_id: int, asset_id: int):
    _course, lesson = _editable_api(course_id, lesson_id)
    asset = _clip_call(lambda: builder_services.clip_upload(get_session(), lesson, asset_id))
    if asset.status != MediaStatus.UPLOADING:
        raise _ApiRefusal(409, _("This upload is already finished."))
    media_services.discard_asset(get_session(), get_storage(), asset)
    return "", 204
