"""Plant tours: their media, saving a tour on its lesson, and a trainee's visits.

Services take the session, the storage and the acting user; they flush and never
commit. Images (the map, photos, panoramas) are checked and stored here, at once:
they are small enough for one request, and a file that fails the checks (not an
image, a panorama that is not 2:1 equirectangular) is refused before anything is
stored, so it leaves neither a row nor an object behind. Each photo and panorama
gets a small ``preview`` rendition that a slow connection loads first. Video clips
go through the lecture pipeline (:func:`lms.media.services.ingest_file`): renditions,
poster and captions like any lecture.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lms.accounts.models import User
from lms.catalog.models import Course, Lesson, LessonKind
from lms.db import insert_if_absent, utcnow
from lms.learning import intervals as iv
from lms.learning import tracking
from lms.learning.models import PlaybackSession
from lms.learning.services import find_lesson
from lms.media import services as media
from lms.media.models import MediaAsset, MediaKind, MediaStatus, Rendition
from lms.media.probe import MediaError, is_equirectangular, probe_image
from lms.storage import Storage, new_key
from lms.tours.models import TourStopVisit, TourStopWatch
from lms.tours.schema import StopKind, Tour, TourError, parse_tour, tour_of

log = logging.getLogger(__name__)

# What each image is for: stored in the asset's info, checked when a tour names it.
ROLE_MAP = "map"
ROLE_PHOTO = "photo"
ROLE_PANORAMA = "panorama"
PREVIEW_WIDTH = {ROLE_PANORAMA: 1024, ROLE_PHOTO: 800}


class TourServiceError(Exception):
    def __init__(self, message: object, status: int = 400) -> None:
        super().__init__(str(message))
        self.message = message
        self.status = status


# --- media ---------------------------------------------------------------------------


def _preview(path: Path, width: int) -> bytes:
    """A small JPEG of the image, ``width`` pixels wide at most: what loads first."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        if img.width > width:
            img = img.resize((width, max(1, round(img.height * width / img.width))))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=70, optimize=True)
    return out.getvalue()


def check_image(path: Path, role: str) -> Any:
    """The image's info; :class:`TourServiceError` (translated) when it cannot serve as ``role``."""
    try:
        info = probe_image(path)
    except MediaError as error:
        if role == ROLE_MAP:
            raise TourServiceError(
                _l("The map must be an image (JPEG, PNG or WebP): %(reason)s", reason=error.message)
            ) from None
        raise TourServiceError(error.message) from None
    if role == ROLE_PANORAMA and not is_equirectangular(info):
        raise TourServiceError(
            _l(
                "A panorama must be a 360° equirectangular image, twice as wide as it is high "
                "(this one is %(width)d × %(height)d pixels).",
                width=info.width,
                height=info.height,
            )
        )
    return info


def store_image(
    session: Session,
    storage: Storage,
    *,
    course_id: int,
    path: Path,
    filename: str,
    role: str,
    actor_id: int | None = None,
) -> MediaAsset:
    """Check and store an image for a tour; READY at once, with its preview rendition."""
    info = check_image(path, role)  # before anything is stored
    name = media.clean_filename(filename) or f"{role}.{info.format}"
    key = new_key("tours", name)
    with path.open("rb") as fh:
        stored = storage.put(key, fh, info.mime_type)
    media.delete_on_rollback(session, storage, [key])
    asset = MediaAsset(
        course_id=course_id,
        lesson_id=None,
        kind=str(MediaKind.IMAGE),
        filename=name,
        key=key,
        content_type=info.mime_type,
        size=stored.size,
        sha256=stored.sha256,
        status=str(MediaStatus.READY),
        progress=1.0,
        width=info.width,
        height=info.height,
        info={"format": info.format, "tour": role},
        created_by_id=actor_id,
    )
    if role in PREVIEW_WIDTH:
        data = _preview(path, PREVIEW_WIDTH[role])
        preview_key = new_key("tours", f"{Path(name).stem}-preview.jpg")
        storage.put(preview_key, io.BytesIO(data), "image/jpeg")
        media.delete_on_rollback(session, storage, [preview_key])
        with Image.open(io.BytesIO(data)) as small:
            size = small.size
        asset.renditions.append(
            Rendition(
                name="preview",
                key=preview_key,
                content_type="image/jpeg",
                size=len(data),
                width=size[0],
                height=size[1],
            )
        )
    session.add(asset)
    session.flush()
    return asset


def store_video(
    session: Session,
    storage: Storage,
    *,
    course_id: int,
    path: Path,
    filename: str,
    actor_id: int | None = None,
) -> MediaAsset:
    """A clip for a video stop: stored and processed like a lecture video."""
    asset = media.ingest_file(
        session,
        storage,
        path=path,
        filename=filename,
        kind=str(MediaKind.VIDEO),
        course_id=course_id,
        actor_id=actor_id,
    )
    asset.info = {**(asset.info or {}), "tour": "video"}
    session.flush()
    return asset


def _media_problems(session: Session, course_id: int, tour: Tour) -> list[tuple[str, Any]]:
    """Every media id of ``tour`` must name a file of the course that suits its place."""
    ids = set(tour.media_ids())
    assets = {
        a.id: a
        for a in session.scalars(select(MediaAsset).where(MediaAsset.id.in_(ids)))
        if a.course_id == course_id
    }
    problems: list[tuple[str, Any]] = []

    def need(where: str, media_id: int | None, kind: str, role: str | None) -> None:
        asset = assets.get(media_id) if media_id is not None else None
        if asset is None or asset.kind != kind:
            problems.append((where, _l("no suitable file of this course has this id")))
        elif role == ROLE_PANORAMA and (asset.info or {}).get("tour") != ROLE_PANORAMA:
            problems.append((where, _l("this image was not checked as a 360° panorama")))

    if tour.map_media_id is not None:
        need("map_media_id", tour.map_media_id, MediaKind.IMAGE, None)
    for index, stop in enumerate(tour.stops):
        where = f"stops[{index}]"
        if stop.kind == StopKind.VIDEO:
            need(f"{where}.media_id", stop.media_id, MediaKind.VIDEO, None)
        elif stop.kind == StopKind.PANORAMA:
            need(f"{where}.media_id", stop.media_id, MediaKind.IMAGE, ROLE_PANORAMA)
        for p, photo in enumerate(stop.photos):
            need(f"{where}.photos[{p}].media_id", photo.media_id, MediaKind.IMAGE, None)
    return problems


def save_tour(session: Session, lesson: Lesson, data: Any) -> Tour:
    """Check ``data`` and store it as the lesson's tour (the draft; publishing freezes it)."""
    if lesson.kind != LessonKind.TOUR:
        raise TourServiceError(_l("Only a plant tour lesson holds a tour."))
    course = session.get(Course, lesson.course_id)
    assert course is not None
    tour = parse_tour(data, course.default_language)
    problems = _media_problems(session, course.id, tour)
    if problems:
        raise TourError(problems)
    data = tour.to_dict()
    if (lesson.settings or {}).get("tour") != data:  # an unchanged tour leaves the draft alone
        lesson.settings = {**(lesson.settings or {}), "tour": data}
        course.draft_changed = True
        course.updated_at = utcnow()
        session.flush()
    return tour


def tour_assets(session: Session, tour: Tour) -> dict[int, MediaAsset]:
    """The tour's files with their renditions and captions: two or three queries."""
    ids = set(tour.media_ids())
    if not ids:
        return {}
    rows = session.scalars(
        select(MediaAsset)
        .where(MediaAsset.id.in_(ids))
        .options(selectinload(MediaAsset.renditions), selectinload(MediaAsset.captions))
    )
    return {asset.id: asset for asset in rows}


# --- the published tour --------------------------------------------------------------


@dataclass(frozen=True)
class PublishedTour:
    lesson: Lesson
    tour: Tour
    threshold: float
    course_version_id: int


def published_tour(session: Session, user: User, lesson: Lesson) -> PublishedTour:
    """The lesson's tour as trainees see it; :class:`TourServiceError` (404) otherwise."""
    if not tracking.can_view_lesson(session, user, lesson):
        raise TourServiceError(_l("You may not open this course."), 403)
    course = session.get(Course, lesson.course_id)
    version = course.published_version if course is not None else None
    data = find_lesson(version.snapshot, lesson.id) if version is not None else None
    tour = tour_of((data or {}).get("settings"), course.default_language if course else "en")
    if version is None or data is None or data.get("kind") != LessonKind.TOUR or tour is None:
        raise TourServiceError(_l("This tour does not exist."), 404)
    threshold = float(data.get("completion_threshold") or 0.9)
    return PublishedTour(lesson, tour, threshold, version.id)


# --- visits ----------------------------------------------------------------------------


def visited_uids(session: Session, user_id: int, lesson_id: int) -> set[str]:
    return set(
        session.scalars(
            select(TourStopVisit.stop_uid).where(
                TourStopVisit.user_id == user_id, TourStopVisit.lesson_id == lesson_id
            )
        )
    )


@dataclass(frozen=True)
class TourProgress:
    visited: list[str]
    done: bool
    new: bool = False  # this call recorded the visit

    def to_dict(self) -> dict[str, Any]:
        return {"visited": self.visited, "done": self.done, "new": self.new}


def _open_stop(session: Session, user: User, found: PublishedTour, stop_uid: str) -> None:
    stop = found.tour.stop(stop_uid)
    if stop is None:
        raise TourServiceError(_l("This stop is not in the tour."), 404)
    if not found.tour.is_open(stop_uid, visited_uids(session, user.id, found.lesson.id)):
        raise TourServiceError(_l("Visit the earlier stops of this guided tour first."), 409)


def record_visit(
    session: Session, user: User, found: PublishedTour, stop_uid: str, now: datetime
) -> TourProgress:
    """Mark a stop visited (once); the lesson is done when every required stop is."""
    _open_stop(session, user, found, stop_uid)
    new = (
        insert_if_absent(
            session,
            TourStopVisit,
            {
                "user_id": user.id,
                "lesson_id": found.lesson.id,
                "stop_uid": stop_uid,
                "visited_at": now,
            },
            ["user_id", "lesson_id", "stop_uid"],
        )
        is not None
    )
    visited = visited_uids(session, user.id, found.lesson.id)
    done = found.tour.is_complete(visited)
    tracking.record_activity(session, user, found.lesson, now, done=done)
    order = [stop.uid for stop in found.tour.stops]
    return TourProgress([uid for uid in order if uid in visited], done, new)


# --- video stops: heartbeats --------------------------------------------------------------


@dataclass(frozen=True)
class StopWatch:
    stop_uid: str
    status: str
    position: float
    watched_seconds: float
    duration: float | None
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        share = None
        if self.duration:
            share = min(1.0, round(self.watched_seconds / self.duration, 4))
        return {
            "stop": self.stop_uid,
            "kind": "video",
            "status": self.status,
            "position": self.position,
            "watched_seconds": self.watched_seconds,
            "duration": self.duration,
            "share": share,
            "threshold": self.threshold,
        }


def _video_duration(session: Session, found: PublishedTour, stop_uid: str) -> float:
    stop = found.tour.stop(stop_uid)
    if stop is None:
        raise TourServiceError(_l("This stop is not in the tour."), 404)
    if stop.kind != StopKind.VIDEO:
        raise TourServiceError(_l("Only video stops record watching time."), 409)
    asset = session.get(MediaAsset, stop.media_id) if stop.media_id else None
    if asset is None or asset.status != MediaStatus.READY or not asset.duration:
        raise TourServiceError(_l("This stop has no video to watch yet."), 409)
    return float(asset.duration)


def _watch_row(session: Session, user: User, lesson: Lesson, stop_uid: str) -> TourStopWatch | None:
    return session.scalars(
        select(TourStopWatch)
        .where(
            TourStopWatch.user_id == user.id,
            TourStopWatch.lesson_id == lesson.id,
            TourStopWatch.stop_uid == stop_uid,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def stop_watch(session: Session, user: User, found: PublishedTour, stop_uid: str) -> StopWatch:
    duration = _video_duration(session, found, stop_uid)
    row = _watch_row(session, user, found.lesson, stop_uid)
    visited = stop_uid in visited_uids(session, user.id, found.lesson.id)
    position = row.position if row is not None else 0.0
    if position >= duration - tracking.RESUME_END_MARGIN_SECONDS:
        position = 0.0
    return StopWatch(
        stop_uid,
        "done" if visited else ("in_progress" if row is not None else "not_started"),
        position,
        row.watched_seconds if row is not None else 0.0,
        duration,
        found.threshold,
    )


def record_stop_beat(
    session: Session,
    user: User,
    found: PublishedTour,
    stop_uid: str,
    beat: tracking.Beat,
    now: datetime,
) -> tuple[StopWatch, TourProgress | None]:
    """Merge a heartbeat from a video stop's player into what was watched of the clip.

    The same honest rules as lectures (see :mod:`lms.learning.tracking`): only media
    time not watched before counts, and a playback session may not be credited more
    than ``MAX_RATE`` × the server-observed time since its first beat (+ tolerance).
    The stop is visited once the lesson's threshold of the clip has been watched.
    """
    _open_stop(session, user, found, stop_uid)
    duration = _video_duration(session, found, stop_uid)
    row = _watch_row(session, user, found.lesson, stop_uid)
    if row is None:
        row = TourStopWatch(
            user_id=user.id,
            lesson_id=found.lesson.id,
            stop_uid=stop_uid,
            watched=[],
            watched_seconds=0.0,
            position=0.0,
            updated_at=now,
        )
        session.add(row)
        session.flush()  # a concurrent first beat makes this an IntegrityError: retried
    budget = _session_budget(session, user, found, stop_uid, beat, now)
    duration_units = iv.to_units(duration)
    watched = iv.load(row.watched)
    claimed = iv.clip(iv.from_seconds(beat.intervals), 0, duration_units)
    new = iv.subtract(claimed, watched)
    kept, _cut = iv.bound_credit(new, budget.allowed)
    budget.playback.credited_seconds = iv.to_seconds(
        iv.to_units(budget.playback.credited_seconds) + iv.length(kept)
    )
    budget.playback.last_beat_at = now
    if kept:
        watched = iv.merge(watched, kept)
        row.watched = iv.dump(watched)
        row.watched_seconds = iv.to_seconds(iv.length(watched))
    if beat.position is not None:
        row.position = min(beat.position, duration)
    row.duration = duration
    row.updated_at = now
    session.flush()
    progress = None
    if iv.length(watched) >= tracking.required_units(duration_units, found.threshold):
        progress = record_visit(session, user, found, stop_uid, now)
    elif row.watched_seconds > 0:
        tracking.record_activity(session, user, found.lesson, now, done=False)
    return stop_watch(session, user, found, stop_uid), progress


@dataclass
class _Budget:
    playback: PlaybackSession
    allowed: int  # units of new media time this beat may still be credited


def _session_budget(
    session: Session,
    user: User,
    found: PublishedTour,
    stop_uid: str,
    beat: tracking.Beat,
    now: datetime,
) -> _Budget:
    """The playback session of this stop's player (one per page load), and its credit left.

    The session row is the lectures' :class:`PlaybackSession`, under an id derived from
    the player's id and the stop, so a player id sent for two stops counts twice over
    nothing. Sequence numbers are not tracked here: a repeated beat adds no new seconds.
    """
    session_id = str(uuid.uuid5(uuid.UUID(beat.session_id), f"tour-stop:{stop_uid}"))
    playback = session.get(PlaybackSession, session_id, populate_existing=True)
    now_ms = int(now.timestamp() * 1000)
    if playback is None:
        anchor = beat.client_time_ms if beat.client_time_ms is not None else now_ms
        playback = PlaybackSession(
            id=session_id,
            user_id=user.id,
            lesson_id=found.lesson.id,
            started_at=now,
            client_started_ms=anchor,
            client_latest_ms=anchor,
            last_seq=beat.seq,
            missing_seqs=[],
            beats=0,
            credited_seconds=0.0,
            clipped_seconds=0.0,
            clipped_beats=0,
            course_version_id=found.course_version_id,
            threshold=found.threshold,
        )
        session.add(playback)
        session.flush()
    elif (playback.user_id, playback.lesson_id) != (user.id, found.lesson.id):
        raise TourServiceError(_l("This playback session belongs to another lesson."), 409)
    server_elapsed_ms = max(0, now_ms - int(playback.started_at.timestamp() * 1000))
    client_ms = beat.client_time_ms
    if client_ms is None:
        client_ms = playback.client_started_ms + server_elapsed_ms
    playback.client_latest_ms = max(playback.client_latest_ms, client_ms)
    playback.last_seq = max(playback.last_seq, beat.seq)
    playback.beats += 1
    span_ms = min(playback.client_latest_ms - playback.client_started_ms, server_elapsed_ms)
    budget = iv.to_units(tracking.MAX_RATE * max(0, span_ms) / 1000 + tracking.TOLERANCE_SECONDS)
    allowed = max(0, budget - iv.to_units(playback.credited_seconds))
    return _Budget(playback, allowed)
