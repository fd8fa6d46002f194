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
from sqlalchemy.orm import Session

from lms.catalog.models import Lesson
from lms.catalog.services import set_texts
from lms.storage import Storage
from lms.tours import services
from lms.tours.schema import DEFAULT_DWELL_SECONDS, StopKind, Tour, TourOrder
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
    data["map_media_id"] = asset.id
    return services.save_tour(session, lesson, data)


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
    ids = _media(session, storage, lesson, kind, uploads, actor_id)
    if kind == StopKind.PHOTOS:
        stop["photos"] = [{"media_id": media_id, "texts": {}} for media_id in ids]
    else:
        stop["media_id"] = ids[0]
    if kind == StopKind.PANORAMA:
        stop["hotspots"] = []
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
    data["stops"].remove(_stop(data, uid))
    for stop in data["stops"]:  # links to it go too
        stop["hotspots"] = [h for h in stop.get("hotspots", []) if h.get("stop") != uid]
        if stop["kind"] != StopKind.PANORAMA:
            stop.pop("hotspots")
    return services.save_tour(session, lesson, data)


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
