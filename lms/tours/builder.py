"""Editing a tour's draft, step by step, for the instructor's builder page.

Each change reads the lesson's tour as plain data, changes it and saves it through
:func:`lms.tours.services.save_tour`, which checks the whole tour again: the draft is
never left invalid. A stop is added with its media (a stop without one would not be
a valid stop), placed where the instructor clicked on the map.
"""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Course, Lesson
from lms.catalog.services import set_texts
from lms.media import services as media
from lms.media.captions import CaptionError
from lms.media.models import Caption, MediaAsset, MediaKind
from lms.storage import Storage
from lms.tours import services
from lms.tours.schema import DEFAULT_DWELL_SECONDS, StopKind, Tour, TourOrder, parse_tour
from lms.tours.services import TourServiceError

Upload = tuple[Path, str]  # a file saved to disk, and its name as uploaded


def draft(lesson: Lesson) -> dict[str, Any]:
    data = (lesson.settings or {}).get("tour")
    if data is None:
        return {
            "map_media_id": None,
            "order": str(TourOrder.GUIDED),
            "dwell_seconds": DEFAULT_DWELL_SECONDS,
            "stops": [],
        }
    return copy.deepcopy(data)


def _stop(data: dict[str, Any], uid: str) -> dict[str, Any]:
    for stop in data["stops"]:
        if stop["uid"] == uid:
            return stop
    raise TourServiceError(_l("This stop is not in the tour."), 404)


def _number(value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:
        raise TourServiceError(_l("Give a number from %(low)s to %(high)s.", low=low, high=high))
    return number


def set_map(
    session: Session, storage: Storage, lesson: Lesson, upload: Upload, actor_id: int
) -> Tour:
    path, filename = upload
    asset = services.store_image(
        session,
        storage,
        course_id=lesson.course_id,
        path=path,
        filename=filename,
        role=services.ROLE_MAP,
        actor_id=actor_id,
    )
    data = draft(lesson)
    previous = data.get("map_media_id")
    data["map_media_id"] = asset.id
    tour = services.save_tour(session, lesson, data)
    if previous and previous not in tour.media_ids():
        _leave_for_prune(session, lesson, {previous})
    return tour


def set_settings(session: Session, lesson: Lesson, order: str, dwell: str) -> Tour:
    data = draft(lesson)
    data["order"] = order
    try:
        data["dwell_seconds"] = int(dwell)
    except (TypeError, ValueError):
        data["dwell_seconds"] = -1  # the schema's check names the range
    return services.save_tour(session, lesson, data)


def _media(
    session: Session,
    storage: Storage,
    lesson: Lesson,
    kind: str,
    uploads: list[Upload],
    actor_id: int,
) -> list[int]:
    if not uploads:
        raise TourServiceError(_l("Choose the stop's file."))
    ids = []
    for path, filename in uploads if kind == StopKind.PHOTOS else uploads[:1]:
        if kind == StopKind.VIDEO:
            asset = services.store_video(
                session,
                storage,
                course_id=lesson.course_id,
                path=path,
                filename=filename,
                actor_id=actor_id,
            )
        else:
            role = services.ROLE_PANORAMA if kind == StopKind.PANORAMA else services.ROLE_PHOTO
            asset = services.store_image(
                session,
                storage,
                course_id=lesson.course_id,
                path=path,
                filename=filename,
                role=role,
                actor_id=actor_id,
            )
        ids.append(asset.id)
    return ids


def add_stop(
    session: Session,
    storage: Storage,
    lesson: Lesson,
    *,
    language: str,
    title: str,
    kind: str,
    x: str,
    y: str,
    uploads: list[Upload],
    actor_id: int,
) -> str:
    """A new stop at (x, y) on the map with its media; its uid."""
    if kind not in {str(k) for k in StopKind}:
        raise TourServiceError(_l("Choose what the stop shows."))
    if not title.strip():
        raise TourServiceError(_l("The title is required."))
    data = draft(lesson)
    stop: dict[str, Any] = {
        "uid": f"stop-{secrets.token_hex(3)}",
        "x": _number(x, 0, 1),
        "y": _number(y, 0, 1),
        "required": True,
        "kind": kind,
        "texts": set_texts({}, language, {"title": title}),
    }
    _set_media(stop, _media(session, storage, lesson, kind, uploads, actor_id))
    if kind == StopKind.PANORAMA:
        stop["hotspots"] = []
    data["stops"].append(stop)
    services.save_tour(session, lesson, data)
    return str(stop["uid"])


def _set_media(stop: dict[str, Any], ids: list[int]) -> None:
    if stop["kind"] == StopKind.PHOTOS:
        stop["photos"] = [{"media_id": media_id, "texts": {}} for media_id in ids]
    else:
        stop["media_id"] = ids[0]


def _leave_for_prune(session: Session, lesson: Lesson, ids: set[int]) -> None:
    """Files a stop no longer shows: kept while the published version may show them, then
    removed by :func:`lms.media.services.prune_detached_assets` after a publication (it
    keeps anything the draft or the published version still names)."""
    if not ids:
        return
    for asset in session.scalars(select(MediaAsset).where(MediaAsset.id.in_(ids))):
        asset.info = {**(asset.info or {}), "detached_from_lesson": lesson.id}
    session.flush()


def replace_stop_media(
    session: Session,
    storage: Storage,
    lesson: Lesson,
    uid: str,
    *,
    uploads: list[Upload] | None = None,
    media_id: int | None = None,
    actor_id: int,
) -> Tour:
    """Give a stop new files (uploaded now, or a clip already uploaded: ``media_id``);
    hotspots and texts stay; the old files are left for pruning."""
    data = draft(lesson)
    stop = _stop(data, uid)
    old = _stop_media_ids(stop)
    if media_id is None:
        ids = _media(session, storage, lesson, stop["kind"], uploads or [], actor_id)
    else:
        ids = [media_id]
    _set_media(stop, ids)
    tour = services.save_tour(session, lesson, data)
    if stop["kind"] == StopKind.VIDEO and old and old[0] != ids[0]:
        new, previous = session.get(MediaAsset, ids[0]), session.get(MediaAsset, old[0])
        if new is not None and previous is not None and not new.captions:
            media.copy_captions(session, storage, previous, new)  # as lecture replacements do
    _leave_for_prune(session, lesson, set(old) - set(tour.media_ids()))
    return tour


# --- resumable uploads of clips ----------------------------------------------------------

CLIP_LESSON = "tour_lesson"  # asset.info: the tour lesson the clip was uploaded for
CLIP_TARGET = "tour_target"  # asset.info: {"stop": uid} to replace, or a new stop's place


def start_clip_upload(
    session: Session,
    storage: Storage,
    actor: User,
    lesson: Lesson,
    upload: media.NewUpload,
    limits: media.Limits,
    *,
    language: str,
    stop_uid: str = "",
    title: str = "",
    x: str = "",
    y: str = "",
) -> MediaAsset:
    """Start the resumable upload of a video stop's clip (lms.media's multipart upload).

    The stop is made (or its clip replaced) once the upload is complete, so an abandoned
    upload leaves the tour as it was. Everything the stop needs is checked now, before
    a byte is sent.
    """
    if upload.kind != MediaKind.VIDEO:
        raise TourServiceError(_l("A video stop takes a video file."))
    if stop_uid:
        if _stop(draft(lesson), stop_uid)["kind"] != StopKind.VIDEO:
            raise TourServiceError(_l("Only a video stop takes a clip."))
        target: dict[str, Any] = {"stop": stop_uid}
    else:
        if not title.strip():
            raise TourServiceError(_l("The title is required."))
        target = {
            "title": title.strip(),
            "x": _number(x, 0, 1),
            "y": _number(y, 0, 1),
            "language": language,
        }
        check = draft(lesson)  # the new stop must make a valid tour
        check["stops"].append(_new_stop(target, media_id=1))
        _check_tour(session, check, lesson)
    try:
        return media.start_upload(
            session,
            storage,
            actor,
            upload,
            limits,
            course_id=lesson.course_id,
            lesson_id=None,
            info={"tour": "video", CLIP_LESSON: lesson.id, CLIP_TARGET: target},
        )
    except media.MediaServiceError as error:
        raise TourServiceError(error.message, error.status) from None


def _new_stop(target: dict[str, Any], media_id: int) -> dict[str, Any]:
    return {
        "uid": f"stop-{secrets.token_hex(3)}",
        "x": target["x"],
        "y": target["y"],
        "required": True,
        "kind": str(StopKind.VIDEO),
        "texts": set_texts({}, target["language"], {"title": target["title"]}),
        "media_id": media_id,
    }


def _check_tour(session: Session, data: dict[str, Any], lesson: Lesson) -> None:
    """The tour's own checks (a title too long ...); :class:`TourError` if they fail."""
    course = session.get(Course, lesson.course_id)
    parse_tour(data, course.default_language if course else "en")


def clip_upload(session: Session, lesson: Lesson, asset_id: int) -> MediaAsset:
    """A clip upload started for this tour lesson (404 otherwise)."""
    asset = session.get(MediaAsset, asset_id)
    if (
        asset is None
        or asset.course_id != lesson.course_id
        or (asset.info or {}).get(CLIP_LESSON) != lesson.id
    ):
        raise TourServiceError(_l("This upload does not exist; please start it again."), 404)
    return asset


def finish_clip_upload(
    session: Session,
    storage: Storage,
    actor: User,
    lesson: Lesson,
    asset: MediaAsset,
    parts: list[Any],
) -> str:
    """Complete the upload (lms.media queues the processing) and put the clip on its stop:
    a new stop, or the stop whose clip it replaces; the stop's uid."""
    target = dict((asset.info or {}).get(CLIP_TARGET) or {})
    data = draft(lesson)
    if "stop" in target:
        _stop(data, target["stop"])  # still there? (checked before the upload is finished)
    media.complete_upload(session, storage, actor, asset, parts)
    if "stop" in target:
        replace_stop_media(
            session, storage, lesson, target["stop"], media_id=asset.id, actor_id=actor.id
        )
        return str(target["stop"])
    stop = _new_stop(target, asset.id)
    data["stops"].append(stop)
    services.save_tour(session, lesson, data)
    return str(stop["uid"])


def update_stop(
    session: Session,
    lesson: Lesson,
    uid: str,
    *,
    language: str,
    title: str,
    body: str,
    required: bool,
    x: str,
    y: str,
) -> Tour:
    data = draft(lesson)
    stop = _stop(data, uid)
    stop["texts"] = set_texts(stop.get("texts") or {}, language, {"title": title, "body": body})
    stop["required"] = required
    stop["x"] = _number(x, 0, 1)
    stop["y"] = _number(y, 0, 1)
    return services.save_tour(session, lesson, data)


def move_stop(session: Session, lesson: Lesson, uid: str, step: int) -> Tour:
    data = draft(lesson)
    stops = data["stops"]
    index = stops.index(_stop(data, uid))
    target = index + step
    if 0 <= target < len(stops):
        stops[index], stops[target] = stops[target], stops[index]
    return services.save_tour(session, lesson, data)


def delete_stop(session: Session, lesson: Lesson, uid: str) -> Tour:
    data = draft(lesson)
    removed = _stop(data, uid)
    data["stops"].remove(removed)
    for stop in data["stops"]:  # links to it go too
        stop["hotspots"] = [h for h in stop.get("hotspots", []) if h.get("stop") != uid]
        if stop["kind"] != StopKind.PANORAMA:
            stop.pop("hotspots")
    tour = services.save_tour(session, lesson, data)
    _leave_for_prune(session, lesson, set(_stop_media_ids(removed)) - set(tour.media_ids()))
    return tour


def _stop_media_ids(stop: dict[str, Any]) -> list[int]:
    ids = [stop["media_id"]] if stop.get("media_id") else []
    return ids + [photo["media_id"] for photo in stop.get("photos", [])]


def add_hotspot(
    session: Session,
    lesson: Lesson,
    uid: str,
    *,
    language: str,
    yaw: str,
    pitch: str,
    text: str,
    target: str,
) -> Tour:
    data = draft(lesson)
    stop = _stop(data, uid)
    if stop["kind"] != StopKind.PANORAMA:
        raise TourServiceError(_l("Only panoramas have hotspots."))
    hotspot: dict[str, Any] = {
        "uid": f"h-{secrets.token_hex(3)}",
        "yaw": _number(yaw, -180, 180),
        "pitch": _number(pitch, -90, 90),
    }
    if target:
        hotspot.update(kind="stop", stop=target)
    elif text.strip():
        hotspot.update(kind="note", texts=set_texts({}, language, {"text": text}))
    else:
        raise TourServiceError(_l("Write the note, or choose the stop the hotspot leads to."))
    stop.setdefault("hotspots", []).append(hotspot)
    return services.save_tour(session, lesson, data)


def delete_hotspot(session: Session, lesson: Lesson, uid: str, hotspot_uid: str) -> Tour:
    data = draft(lesson)
    stop = _stop(data, uid)
    stop["hotspots"] = [h for h in stop.get("hotspots", []) if h.get("uid") != hotspot_uid]
    return services.save_tour(session, lesson, data)


# --- captions of a video stop's clip ------------------------------------------------------


def _clip(session: Session, lesson: Lesson, uid: str) -> MediaAsset:
    stop = _stop(draft(lesson), uid)
    if stop["kind"] != StopKind.VIDEO:
        raise TourServiceError(_l("Only video stops have captions."))
    asset = session.get(MediaAsset, stop.get("media_id") or 0)
    if asset is None or asset.course_id != lesson.course_id:
        raise TourServiceError(_l("This stop has no clip."), 404)
    return asset


def add_clip_caption(
    session: Session,
    storage: Storage,
    actor: User,
    lesson: Lesson,
    uid: str,
    *,
    language: str,
    upload: Upload | None,
    limits: media.Limits,
) -> Caption:
    """Check a WebVTT or SRT file against the stop's clip and store it, as for lectures
    (:func:`lms.media.services.add_caption`); one per language, a new one replaces."""
    clip = _clip(session, lesson, uid)
    if upload is None:
        raise TourServiceError(_l("Choose the caption file."))
    path, filename = upload
    with path.open("rb") as fh:
        data = fh.read(limits.caption + 1)
    try:
        return media.add_caption(
            session, storage, actor, clip, language, data, limits, filename=filename
        )
    except CaptionError as error:
        raise TourServiceError(str(error)) from None
    except media.MediaServiceError as error:
        raise TourServiceError(error.message, error.status) from None


def delete_clip_caption(
    session: Session, storage: Storage, actor: User, lesson: Lesson, uid: str, language: str
) -> None:
    clip = _clip(session, lesson, uid)
    caption = next((c for c in clip.captions if c.language == language), None)
    if caption is None:
        raise TourServiceError(_l("There are no captions in this language."), 404)
    media.delete_caption(session, storage, actor, caption)
