"""Uploads, processing state and captions of lesson media.

Services take the database session, the storage and the acting user as arguments;
they flush and never commit. Storage is not transactional, so object deletions wait
for the commit (:func:`delete_after_commit`) and objects written during a unit of
work that rolls back are removed again (:func:`delete_on_rollback`): a refused or
failed request leaves neither a row nor an object behind.

The upload protocol is S3 multipart on every back-end: the browser asks for a
multipart upload, PUTs the parts straight to storage through signed URLs (several
at a time, each retried), can list what already arrived to resume after a reload,
and finally asks the server to assemble the object, which checks its size before
the processing job is queued. The SHA-256 is recorded then when the storage knows
it (the local back-end computes it while assembling); on S3 the processing job
computes it while it downloads the file, so that completing never reads gigabytes.

Replacing a lesson's file: the new asset remembers its lesson (``lesson_id``) and
becomes ``lesson.media_id`` only when it is READY, so trainees and the instructor's
preview keep the working file while the new one uploads and is processed, and a
rejected file changes nothing. The old asset is then deleted with its objects,
unless the course's published version still shows it; it is kept for trainees
until :func:`prune_detached_assets` runs after the next publication.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lms.accounts.models import User
from lms.audit.services import record
from lms.catalog.models import Course, CourseVersion, Lesson, LessonKind
from lms.db import after_commit, on_rollback, utcnow
from lms.i18n import CONTENT_LANGUAGES
from lms.jobs import enqueue_after_commit
from lms.media.captions import CaptionError, parse_captions, to_webvtt, transcript
from lms.media.models import Caption, MediaAsset, MediaKind, MediaStatus, MediaUpload
from lms.storage import (
    NotFound,
    PendingUpload,
    Storage,
    StorageError,
    UploadedPart,
    new_key,
)

log = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB
DEFAULT_PART_SIZE = 8 * MiB
MAX_PARTS = 10_000  # S3's limit, mimicked by the local back-end
# S3 refuses parts below 5 MiB (all but the last); the local back-end takes any size,
# but parts this small would only cost requests.
MIN_PART_SIZE = {"s3": 5 * MiB}
MIN_PART_SIZE_DEFAULT = 64 * KiB
MAX_PART_SIZE = {"s3": 5 * 1024 * MiB}
MAX_PART_SIZE_DEFAULT = 128 * MiB  # lms.storage.local.MAX_PART_SIZE
MAX_URL_BATCH = 100
STALLED_AFTER = timedelta(minutes=30)

# Which kind of file each lesson kind takes.
LESSON_MEDIA_KINDS: dict[str, str] = {
    LessonKind.VIDEO: MediaKind.VIDEO,
    LessonKind.DOCUMENT: MediaKind.DOCUMENT,
}
PROCESS_JOBS: dict[str, str] = {
    MediaKind.VIDEO: "process_video",
    MediaKind.DOCUMENT: "process_document",
    MediaKind.IMAGE: "process_image",
}
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MediaServiceError(Exception):
    """A refused request; ``message`` is lazily translated, ``status`` an HTTP status.

    ``details`` carries machine-readable extras for the JSON API (missing parts ...).
    ``keep_changes``: the service cleaned up (deleted a rejected upload) and the caller
    must commit that although the request fails.
    """

    def __init__(
        self, message: object, status: int = 400, *, keep_changes: bool = False, **details: Any
    ) -> None:
        super().__init__(str(message))
        self.message = message
        self.status = status
        self.keep_changes = keep_changes
        self.details = details


# --- translatable messages stored in the database -------------------------------------
#
# A job has no request and so no reader's language; a failure reason is stored as its
# message id and parameters and translated when shown, in the reader's language.


def message_data(message: object) -> dict[str, Any]:
    """A JSON-able form of a (lazily translated) message, for :func:`message_text`."""
    if (
        isinstance(message, LazyString)
        and getattr(message._func, "__name__", "") == "gettext"
        and len(message._args) == 1
    ):
        params = {
            name: message_data(value) if isinstance(value, LazyString) else _plain(value)
            for name, value in message._kwargs.items()
        }
        return {"msgid": str(message._args[0]), "params": params}
    return {"text": str(message)}


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float) else str(value)


def message_text(data: Any) -> str:
    """Translate a stored message in the current locale."""
    if not isinstance(data, dict):
        return str(data or "")
    if "msgid" in data:
        params = {
            name: message_text(value) if isinstance(value, dict) else value
            for name, value in (data.get("params") or {}).items()
        }
        return gettext(data["msgid"], **params)
    return str(data.get("text", ""))


def asset_error(asset: MediaAsset) -> str:
    """Why processing failed, in the reader's language ("" when it did not)."""
    if asset.status != MediaStatus.FAILED:
        return ""
    stored = (asset.info or {}).get("error_message")
    return message_text(stored) if stored else asset.error or ""


def asset_notice(asset: MediaAsset) -> str:
    """A passing remark while processing (a retry after a temporary problem)."""
    stored = (asset.info or {}).get("notice")
    return message_text(stored) if stored and asset.status == MediaStatus.PROCESSING else ""


# --- storage side effects that follow the transaction --------------------------------
# ``after_commit`` and ``on_rollback`` live in lms.db; jobs are queued through lms.jobs.


def delete_objects(storage: Storage, keys: Iterable[str | None]) -> list[str]:
    """Delete objects now, best effort; returns the keys that could not be deleted."""
    failed = []
    for key in keys:
        if not key:
            continue
        try:
            storage.delete(key)
        except StorageError as error:
            log.warning("could not delete %s: %s", key, error)
            failed.append(key)
    return failed


def delete_after_commit(session: Session, storage: Storage, keys: Iterable[str | None]) -> None:
    wanted = [k for k in keys if k]
    if wanted:
        after_commit(session, lambda: delete_objects(storage, wanted))


def delete_on_rollback(session: Session, storage: Storage, keys: Iterable[str | None]) -> None:
    wanted = [k for k in keys if k]
    if wanted:
        on_rollback(session, lambda: delete_objects(storage, wanted))


def asset_keys(asset: MediaAsset) -> list[str]:
    """Every object an asset owns: the original, the poster, renditions, captions."""
    keys = [asset.key, asset.poster_key]
    keys += [r.key for r in asset.renditions]
    keys += [c.key for c in asset.captions]
    return [k for k in keys if k]


# --- limits --------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Upload limits in bytes, read from the app config by the views."""

    video: int = 8192 * MiB
    document: int = 100 * MiB
    image: int = 50 * MiB
    caption: int = 2048 * KiB
    part_size: int = DEFAULT_PART_SIZE

    def for_kind(self, kind: str) -> int:
        return {
            MediaKind.VIDEO: self.video,
            MediaKind.DOCUMENT: self.document,
            MediaKind.IMAGE: self.image,
        }[MediaKind(kind)]


def format_size(size: int) -> str:
    """A short size for messages: ``8 GB``, ``100 MB``, ``2 MB``, ``512 KB``."""
    for unit, factor in (("GB", 1024 * MiB), ("MB", MiB), ("KB", KiB)):
        if size >= factor:
            value = size / factor
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value.is_integer()
                else f"{value:.1f} {unit}"
            )
    return f"{size} B"


def plan_parts(size: int, preferred: int, storage_kind: str) -> tuple[int, int]:
    """Part size and count for a file of ``size`` bytes: at most 10,000 parts."""
    low = MIN_PART_SIZE.get(storage_kind, MIN_PART_SIZE_DEFAULT)
    high = MAX_PART_SIZE.get(storage_kind, MAX_PART_SIZE_DEFAULT)
    part_size = max(preferred, low, math.ceil(size / MAX_PARTS))
    if part_size > high:
        raise MediaServiceError(_l("The file is too large to upload."), 413)
    return part_size, max(1, math.ceil(size / part_size))


# --- uploads -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUpload:
    filename: str
    size: int
    content_type: str
    kind: str


@dataclass(frozen=True)
class UploadState:
    asset: MediaAsset
    parts: list[UploadedPart]

    @property
    def uploaded_bytes(self) -> int:
        upload = self.asset.upload
        if upload is None:
            return 0
        last = math.ceil(upload.total_size / upload.part_size)
        return sum(
            upload.total_size - upload.part_size * (last - 1)
            if part.part_number == last
            else upload.part_size
            for part in self.parts
        )


def clean_filename(filename: str) -> str:
    """The file's own name (no folders, no control characters), at most 255 characters."""
    name = _CONTROL.sub("", filename).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255]


# What the browser may declare for each kind; anything else is stored as a plain download,
# so that no uploaded original is ever served as, say, text/html.
_ALLOWED_TYPES = {
    MediaKind.VIDEO: re.compile(r"^video/[a-z0-9.+-]+$"),
    MediaKind.DOCUMENT: re.compile(r"^application/pdf$"),
    MediaKind.IMAGE: re.compile(r"^image/(jpeg|png|webp)$"),
}


def _content_type(value: str, kind: str) -> str:
    value = (value or "").strip().lower()
    allowed = _ALLOWED_TYPES.get(MediaKind(kind))
    if len(value) <= 100 and _CONTENT_TYPE.fullmatch(value) and allowed and allowed.match(value):
        return value
    return "application/octet-stream"


def lesson_media_kind(lesson: Lesson) -> str | None:
    return LESSON_MEDIA_KINDS.get(lesson.kind)


def pending_assets(session: Session, lesson: Lesson) -> list[MediaAsset]:
    """Files uploaded for ``lesson`` that are not (yet) its media, newest first."""
    query = (
        select(MediaAsset)
        .where(MediaAsset.lesson_id == lesson.id)
        .options(selectinload(MediaAsset.renditions), selectinload(MediaAsset.upload))
        .order_by(MediaAsset.id.desc())
    )
    if lesson.media_id is not None:
        query = query.where(MediaAsset.id != lesson.media_id)
    return list(session.scalars(query))


def create_upload(
    session: Session,
    storage: Storage,
    actor: User,
    lesson: Lesson,
    data: NewUpload,
    limits: Limits,
) -> MediaAsset:
    """Start a multipart upload of a new file for ``lesson``.

    Checks the kind and the declared size before anything is created. An earlier
    upload for the lesson that has not become its media (unfinished, failed or still
    processing) is discarded: the newest file wins.
    """
    expected = lesson_media_kind(lesson)
    if expected is None:
        raise MediaServiceError(_l("This kind of lesson has no file to upload."))
    if data.kind != expected:
        raise MediaServiceError(_l("This lesson takes another kind of file."))
    check_upload(data, limits, storage.kind)
    for old in pending_assets(session, lesson):
        discard_asset(session, storage, old)
    return start_upload(
        session, storage, actor, data, limits, course_id=lesson.course_id, lesson_id=lesson.id
    )


def check_upload(data: NewUpload, limits: Limits, storage_kind: str) -> None:
    """Refuse a file without a name, empty or too large, before anything is created."""
    filename = clean_filename(data.filename)
    if not filename:
        raise MediaServiceError(_l("The file has no name."))
    if data.size <= 0:
        raise MediaServiceError(_l("The file is empty."))
    limit = limits.for_kind(data.kind)
    if data.size > limit:
        raise MediaServiceError(
            _l(
                "The file is too large: %(size)s, and at most %(limit)s is accepted.",
                size=format_size(data.size),
                limit=format_size(limit),
            ),
            413,
        )
    plan_parts(data.size, limits.part_size, storage_kind)


def start_upload(
    session: Session,
    storage: Storage,
    actor: User,
    data: NewUpload,
    limits: Limits,
    *,
    course_id: int,
    lesson_id: int | None,
    info: dict[str, Any] | None = None,
) -> MediaAsset:
    """Start the multipart upload of a new asset (also used by other features, such as
    tour clips, whose asset belongs to no lesson: ``lesson_id`` None)."""
    check_upload(data, limits, storage.kind)
    filename = clean_filename(data.filename)
    part_size, _count = plan_parts(data.size, limits.part_size, storage.kind)
    key = new_key("media", filename)
    content_type = _content_type(data.content_type, data.kind)
    upload_id = storage.start_multipart(key, content_type)
    on_rollback(session, lambda: storage.abort_multipart(key, upload_id))
    asset = MediaAsset(
        course_id=course_id,
        lesson_id=lesson_id,
        kind=data.kind,
        filename=filename,
        key=key,
        content_type=content_type,
        size=data.size,
        status=MediaStatus.UPLOADING,
        progress=0.0,
        info=info or {},
        created_by_id=actor.id,
    )
    asset.upload = MediaUpload(upload_id=upload_id, part_size=part_size, total_size=data.size)
    session.add(asset)
    session.flush()
    return asset


def part_count(upload: MediaUpload) -> int:
    return max(1, math.ceil(upload.total_size / upload.part_size))


def _open_upload(asset: MediaAsset) -> MediaUpload:
    if asset.status != MediaStatus.UPLOADING or asset.upload is None:
        raise MediaServiceError(_l("This upload is already finished."), 409)
    return asset.upload


def upload_state(session: Session, storage: Storage, asset: MediaAsset) -> UploadState:
    """The parts already stored, so that an interrupted upload resumes.

    An upload the storage no longer knows (aborted, expired by a lifecycle rule) is
    discarded and reported as gone (410): the browser then starts again.
    """
    if asset.status != MediaStatus.UPLOADING or asset.upload is None:
        return UploadState(asset, [])
    try:
        parts = storage.list_parts(asset.key, asset.upload.upload_id)
    except NotFound:
        discard_asset(session, storage, asset)
        raise MediaServiceError(
            _l("The interrupted upload can no longer be resumed; please start it again."),
            410,
            keep_changes=True,
        ) from None
    return UploadState(asset, parts)


def part_urls(storage: Storage, asset: MediaAsset, numbers: Sequence[int]) -> dict[int, str]:
    """Signed URLs to PUT the given parts to (a batch, to save round trips)."""
    upload = _open_upload(asset)
    count = part_count(upload)
    if not numbers or len(numbers) > MAX_URL_BATCH:
        raise MediaServiceError(_l("Ask for between 1 and %(n)d parts at a time.", n=MAX_URL_BATCH))
    if any(not 1 <= n <= count for n in numbers):
        raise MediaServiceError(_l("Part numbers run from 1 to %(count)d.", count=count))
    return {n: storage.part_url(asset.key, upload.upload_id, n) for n in sorted(set(numbers))}


def complete_upload(
    session: Session,
    storage: Storage,
    actor: User,
    asset: MediaAsset,
    parts: Sequence[UploadedPart] | None = None,
) -> MediaAsset:
    """Assemble the parts, check the size, record the SHA-256 if known, queue the processing.

    The server completes with the parts the storage lists; ``parts`` (what the
    browser believes it sent) is checked against that list when given. Parts still
    missing are reported (400, ``missing_parts``) and the upload stays resumable.
    A finished object of another size than declared is deleted with its row
    (:class:`UploadRejected` with ``keep_changes``: the caller commits the clean-up).
    """
    upload = _open_upload(asset)
    count = part_count(upload)
    stored = {p.part_number: p for p in storage.list_parts(asset.key, upload.upload_id)}
    missing = [n for n in range(1, count + 1) if n not in stored]
    if missing:
        raise MediaServiceError(
            _l("Some parts of the file have not arrived yet."), 400, missing_parts=missing[:1000]
        )
    extra = sorted(set(stored) - set(range(1, count + 1)))
    if extra:
        raise MediaServiceError(_l("The upload has more parts than the file."), 400)
    for part in parts or ():
        known = stored.get(part.part_number)
        if known is not None and part.etag and _etag(part.etag) != _etag(known.etag):
            raise MediaServiceError(
                _l("Part %(n)d changed during the upload; it is sent again.", n=part.part_number),
                400,
                missing_parts=[part.part_number],
            )
    result = storage.complete_multipart(
        asset.key, upload.upload_id, [stored[n] for n in range(1, count + 1)]
    )
    # From here the object exists: if this unit of work does not commit, remove it.
    delete_on_rollback(session, storage, [asset.key])
    if result.size != upload.total_size:
        discard_asset(session, storage, asset)
        got, expected = f"{result.size:,}", f"{upload.total_size:,}"
        raise UploadRejected(
            asset,
            _l(
                "The file that arrived has %(got)s bytes instead of %(expected)s; "
                "it was not kept. Please upload it again.",
                got=got,
                expected=expected,
            ),
        )
    asset.size = result.size
    asset.sha256 = result.sha256
    asset.upload = None
    start_processing(session, asset)
    record(
        session,
        "media_uploaded",
        actor_id=actor.id,
        subject=asset.filename,
        asset_id=asset.id,
        size=asset.size,
        sha256=asset.sha256,
    )
    return asset


class UploadRejected(MediaServiceError):
    """The finished object is not what was announced; the caller discards the asset."""

    def __init__(self, asset: MediaAsset, message: object) -> None:
        super().__init__(message, 400, keep_changes=True)
        self.asset_id = asset.id


def _etag(value: str) -> str:
    return value.strip().removeprefix("W/").strip('"')


def start_processing(session: Session, asset: MediaAsset) -> None:
    """Mark ``asset`` for processing and queue its job once the transaction commits."""
    asset.status = MediaStatus.PROCESSING
    asset.progress = 0.0
    asset.error = None
    info = dict(asset.info or {})
    info.pop("error_message", None)
    info.pop("notice", None)
    asset.info = info
    session.flush()
    enqueue_after_commit(session, PROCESS_JOBS[asset.kind], asset.id)


def processing_stalled(asset: MediaAsset, now: datetime | None = None) -> bool:
    """PROCESSING without a sign of life for a long time: its worker probably died.

    A running job writes its progress every second or so (which moves ``updated_at``);
    a worker killed mid-job leaves the asset waiting forever, so the instructor may
    start it again.
    """
    if asset.status != MediaStatus.PROCESSING or asset.updated_at is None:
        return False
    return (now or utcnow()) - asset.updated_at > STALLED_AFTER


def retry_processing(session: Session, storage: Storage, asset: MediaAsset) -> None:
    """Process again a FAILED asset whose original is still stored (or a stalled one)."""
    if asset.status != MediaStatus.FAILED and not processing_stalled(asset):
        raise MediaServiceError(_l("Only a file whose processing failed can be tried again."), 409)
    try:
        present = storage.exists(asset.key)
    except StorageError:
        raise MediaServiceError(
            _l("The storage cannot be reached right now; please try again later."), 503
        ) from None
    if not present:
        raise MediaServiceError(
            _l("The original file is no longer stored; please upload it again."), 409
        )
    start_processing(session, asset)


def discard_asset(session: Session, storage: Storage, asset: MediaAsset) -> None:
    """Delete ``asset``: abort its upload now, delete its objects after the commit.

    A lesson showing it loses it (its media becomes empty).
    """
    if asset.upload is not None:
        upload_id, key = asset.upload.upload_id, asset.key
        after_commit(session, lambda: _abort_quietly(storage, key, upload_id))
    delete_after_commit(session, storage, asset_keys(asset))
    for lesson in session.scalars(select(Lesson).where(Lesson.media_id == asset.id)):
        lesson.media_id = None
        touch_course(session, lesson.course_id)
    session.delete(asset)
    session.flush()


def _abort_quietly(storage: Storage, key: str, upload_id: str) -> None:
    try:
        storage.abort_multipart(key, upload_id)
    except StorageError as error:
        log.warning("could not abort the upload of %s: %s", key, error)


DEFAULT_UPLOAD_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class UploadCleanup:
    discarded_assets: int  # unfinished uploads of lessons, with their rows
    aborted_uploads: int  # multipart uploads aborted in storage (those of the assets included)


def cleanup_stale_uploads(
    session: Session,
    storage: Storage,
    max_age: timedelta = DEFAULT_UPLOAD_MAX_AGE,
    now: datetime | None = None,
) -> UploadCleanup:
    """Remove multipart uploads with no activity (start or part) for ``max_age``.

    Their assets (still UPLOADING) and rows go now, the parts in storage after the
    caller's commit. An upload started long ago that still receives parts is kept; a
    row whose upload the storage no longer knows is removed once old enough; so is an
    upload in storage that no row refers to (a crash between starting it and the commit).
    """
    cutoff = (now or utcnow()) - max_age
    pending = storage.list_uploads(started_before=cutoff)
    known = {u.upload_id for u in pending}
    stale = {u.upload_id: u for u in pending if u.last_activity < cutoff}
    assets = session.scalars(
        select(MediaAsset)
        .join(MediaUpload, MediaUpload.asset_id == MediaAsset.id)
        .where(MediaUpload.created_at < cutoff)
        .options(selectinload(MediaAsset.upload))
    ).all()
    discarded = aborted = 0
    for asset in assets:
        upload_id = asset.upload.upload_id if asset.upload else ""
        if upload_id in stale:
            del stale[upload_id]
            aborted += 1
        elif upload_id in known:
            continue  # started long ago, but parts still arrive
        discard_asset(session, storage, asset)  # aborts its upload after the commit
        discarded += 1
    orphans = list(stale.values())
    if orphans:
        after_commit(session, lambda: _discard_uploads(storage, orphans))
    return UploadCleanup(discarded_assets=discarded, aborted_uploads=aborted + len(orphans))


def _discard_uploads(storage: Storage, uploads: list[PendingUpload]) -> None:
    for upload in uploads:
        try:
            storage.discard_upload(upload)
        except StorageError as error:
            log.warning("could not abort the upload %s: %s", upload.upload_id, error)


def touch_course(session: Session, course_id: int | None) -> None:
    course = session.get(Course, course_id) if course_id is not None else None
    if course is not None:
        course.draft_changed = True
        course.updated_at = utcnow()


def published_media_ids(session: Session, course_id: int | None) -> set[int]:
    """Assets the course's published version shows to trainees."""
    if course_id is None:
        return set()
    snapshot = session.scalar(
        select(CourseVersion.snapshot)
        .join(Course, Course.published_version_id == CourseVersion.id)
        .where(Course.id == course_id)
    )
    ids: set[int] = set()
    for module in (snapshot or {}).get("modules", []):
        for lesson in module.get("lessons", []):
            if lesson.get("media_id") is not None:
                ids.add(int(lesson["media_id"]))
    return ids


def remove_media(session: Session, storage: Storage, actor: User, asset: MediaAsset) -> None:
    """Take ``asset`` off its lesson and delete it (kept while a published version shows it)."""
    lessons = list(session.scalars(select(Lesson).where(Lesson.media_id == asset.id)))
    for lesson in lessons:
        lesson.media_id = None
        touch_course(session, lesson.course_id)
    session.flush()
    record(session, "media_removed", actor_id=actor.id, subject=asset.filename, asset_id=asset.id)
    if asset.id in published_media_ids(session, asset.course_id):
        _detach(session, asset)  # trainees still see it until the course is published again
        return
    discard_asset(session, storage, asset)


def _detach(session: Session, asset: MediaAsset) -> None:
    """Keep an asset only for the published version; :func:`prune_detached_assets` ends it."""
    asset.info = {**(asset.info or {}), "detached_from_lesson": asset.lesson_id}
    asset.lesson_id = None
    session.flush()


def attach_ready_asset(session: Session, storage: Storage, asset: MediaAsset) -> None:
    """Make a READY asset its lesson's media, replacing (and deleting) the previous one.

    Captions of the previous video that fit the new one are copied over.
    """
    if asset.lesson_id is None or asset.status != MediaStatus.READY:
        return
    lesson = session.get(Lesson, asset.lesson_id)
    if lesson is None or lesson.media_id == asset.id:
        return
    old = session.get(MediaAsset, lesson.media_id) if lesson.media_id is not None else None
    lesson.media_id = asset.id
    touch_course(session, lesson.course_id)
    session.flush()
    if old is None:
        return
    if old.kind == MediaKind.VIDEO == asset.kind and not asset.captions:
        copy_captions(session, storage, old, asset)
    if old.id in published_media_ids(session, old.course_id):
        _detach(session, old)
    else:
        discard_asset(session, storage, old)


def settings_media_ids(value: Any) -> set[int]:
    """Asset ids a lesson's settings JSON refers to (a tour's map, stops and photos ...).

    Any key named ``media_id`` or ending in ``_media_id`` (and lists under ``media_ids``)
    counts, at any depth, so that a feature keeping files in lesson settings is safe
    from pruning without registering itself here.
    """
    found: set[int] = set()
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, int) and not isinstance(item, bool) and _is_media_key(name):
                found.add(item)
            elif isinstance(item, list) and str(name).endswith("media_ids"):
                found |= {i for i in item if isinstance(i, int) and not isinstance(i, bool)}
            else:
                found |= settings_media_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= settings_media_ids(item)
    return found


def _is_media_key(name: object) -> bool:
    return name == "media_id" or str(name).endswith("_media_id")


def referenced_media_ids(session: Session, course_id: int) -> set[int]:
    """Every asset the course still needs: lessons of the draft (archived ones included,
    they can come back), the published version, and ids in their settings."""
    used: set[int] = set()
    snapshot = session.scalar(
        select(CourseVersion.snapshot)
        .join(Course, Course.published_version_id == CourseVersion.id)
        .where(Course.id == course_id)
    )
    for module in (snapshot or {}).get("modules", []):
        for lesson in module.get("lessons", []):
            if lesson.get("media_id") is not None:
                used.add(int(lesson["media_id"]))
            used |= settings_media_ids(lesson.get("settings"))
    for media_id, settings in session.execute(
        select(Lesson.media_id, Lesson.settings).where(Lesson.course_id == course_id)
    ):
        if media_id is not None:
            used.add(media_id)
        used |= settings_media_ids(settings)
    return used


def _detached_assets(session: Session, course_id: int) -> list[MediaAsset]:
    candidates = session.scalars(
        select(MediaAsset).where(MediaAsset.course_id == course_id, MediaAsset.lesson_id.is_(None))
    ).all()
    return [a for a in candidates if (a.info or {}).get("detached_from_lesson")]


def has_detached_assets(session: Session, course_id: int) -> bool:
    """Whether a publication may leave files to prune (so that no job runs for nothing)."""
    return bool(_detached_assets(session, course_id))


def prune_detached_assets(session: Session, storage: Storage, course_id: int) -> int:
    """Delete the replaced or removed files that the published version no longer shows.

    Runs after publishing, in a job queued once the publication committed
    (:func:`lms.media.tasks.prune_course_media`). Only assets kept back for the
    published version (see :func:`remove_media`) are candidates; unfinished uploads,
    files still being processed and assets of other features are left alone, and so is
    any asset the draft, the published version or a lesson's settings refer to. Rows
    go now, objects once the caller commits. Returns how many went.
    """
    # Wait for a publication of the same course that is still running (PostgreSQL).
    exists = session.scalar(select(Course.id).where(Course.id == course_id).with_for_update())
    if exists is None:
        return 0
    used = referenced_media_ids(session, course_id)
    stale = [a for a in _detached_assets(session, course_id) if a.id not in used]
    for asset in stale:
        discard_asset(session, storage, asset)
    return len(stale)


# --- files already on the server (course packages) ------------------------------------


def ingest_file(
    session: Session,
    storage: Storage,
    *,
    path: Path,
    filename: str,
    kind: str,
    lesson: Lesson | None = None,
    course_id: int | None = None,
    actor_id: int | None = None,
) -> MediaAsset:
    """Store a local file as a new asset and queue its processing, like an upload.

    For course packages and the CLI. With ``lesson``, the asset becomes the lesson's
    media once READY (as an upload does).
    """
    if kind not in PROCESS_JOBS:
        raise MediaServiceError(_l("Unknown kind of file."))
    key = new_key("media", clean_filename(filename) or "file")
    with path.open("rb") as fh:
        stored = storage.put(key, fh)
    delete_on_rollback(session, storage, [key])
    asset = MediaAsset(
        course_id=lesson.course_id if lesson is not None else course_id,
        lesson_id=lesson.id if lesson is not None else None,
        kind=kind,
        filename=clean_filename(filename) or "file",
        key=key,
        size=stored.size,
        sha256=stored.sha256,
        status=MediaStatus.PROCESSING,
        info={},
        created_by_id=actor_id,
    )
    session.add(asset)
    session.flush()
    start_processing(session, asset)
    return asset


# --- captions ------------------------------------------------------------------------


def _caption_target(asset: MediaAsset) -> float:
    if asset.kind != MediaKind.VIDEO:
        raise MediaServiceError(_l("Captions belong to videos."))
    if asset.status != MediaStatus.READY or not asset.duration:
        raise MediaServiceError(_l("Captions can be added once the video is processed and ready."))
    return asset.duration


def add_caption(
    session: Session,
    storage: Storage,
    actor: User,
    asset: MediaAsset,
    language: str,
    data: bytes,
    limits: Limits,
    filename: str = "",
) -> Caption:
    """Check a WebVTT or SRT file against the video and store it as WebVTT.

    Raises :class:`CaptionError` (with the line) or :class:`MediaServiceError`.
    A caption already there for ``language`` is replaced.
    """
    duration = _caption_target(asset)
    if language not in CONTENT_LANGUAGES:
        raise MediaServiceError(_l("Unknown language."))
    if len(data) > limits.caption:
        raise MediaServiceError(
            _l(
                "The caption file is too large: at most %(limit)s.",
                limit=format_size(limits.caption),
            ),
            413,
        )
    cues = parse_captions(data, filename_hint=filename, duration=duration)
    try:
        vtt = to_webvtt(cues)
    except ValueError:
        raise CaptionError(_l("A cue's text cannot be stored as WebVTT."), cues[0].line) from None
    return _store_caption(session, storage, asset, language, vtt, len(cues), actor)


def _store_caption(
    session: Session,
    storage: Storage,
    asset: MediaAsset,
    language: str,
    vtt: str,
    cue_count: int,
    actor: User | None,
) -> Caption:
    key = new_key("captions", f"{language}.vtt")
    storage.put(key, io.BytesIO(vtt.encode("utf-8")), "text/vtt; charset=utf-8")
    delete_on_rollback(session, storage, [key])
    caption = next((c for c in asset.captions if c.language == language), None)
    if caption is None:
        caption = Caption(language=language, key=key, cue_count=cue_count)
        asset.captions.append(caption)
    else:
        delete_after_commit(session, storage, [caption.key])
        caption.key = key
        caption.cue_count = cue_count
        caption.created_at = utcnow()
    session.flush()
    if actor is not None:
        record(
            session,
            "caption_saved",
            actor_id=actor.id,
            subject=asset.filename,
            asset_id=asset.id,
            language=language,
        )
    return caption


def delete_caption(session: Session, storage: Storage, actor: User, caption: Caption) -> None:
    asset = caption.asset
    delete_after_commit(session, storage, [caption.key])
    asset.captions.remove(caption)
    session.flush()
    record(
        session,
        "caption_deleted",
        actor_id=actor.id,
        subject=asset.filename,
        asset_id=asset.id,
        language=caption.language,
    )


def copy_captions(
    session: Session, storage: Storage, source: MediaAsset, target: MediaAsset
) -> None:
    """Copy ``source``'s captions that fit ``target``'s length; note those that do not."""
    dropped = []
    for caption in list(source.captions):
        try:
            cues = parse_captions(read_object(storage, caption.key), duration=target.duration)
        except (CaptionError, StorageError):
            dropped.append(caption.language)
            continue
        _store_caption(session, storage, target, caption.language, to_webvtt(cues), len(cues), None)
    if dropped:
        target.info = {**(target.info or {}), "captions_dropped": sorted(dropped)}
        session.flush()


def caption_transcript(storage: Storage, caption: Caption) -> list[dict[str, Any]]:
    """The transcript paragraphs of a stored caption file."""
    return transcript(parse_captions(read_object(storage, caption.key)))


def read_object(storage: Storage, key: str) -> bytes:
    """A small object's bytes (captions); the stream is closed on every back-end."""
    body = storage.open(key)
    try:
        return body.read()
    finally:
        body.close()


# --- what the editor shows -------------------------------------------------------------


@dataclass(frozen=True)
class LessonMedia:
    lesson: Lesson
    kind: str | None  # what the lesson takes; None: no file
    current: MediaAsset | None
    pending: MediaAsset | None  # newest upload not (yet) the lesson's media


def lesson_media(session: Session, lesson: Lesson) -> LessonMedia:
    """The lesson's file and any newer one on its way, with renditions and captions."""
    current = None
    if lesson.media_id is not None:
        current = session.scalar(
            select(MediaAsset)
            .where(MediaAsset.id == lesson.media_id)
            .options(selectinload(MediaAsset.renditions), selectinload(MediaAsset.captions))
        )
    pending = pending_assets(session, lesson)
    return LessonMedia(lesson, lesson_media_kind(lesson), current, pending[0] if pending else None)


def status_payload(asset: MediaAsset) -> dict[str, Any]:
    """What the editor polls while a file is processed."""
    return {
        "id": asset.id,
        "kind": asset.kind,
        "filename": asset.filename,
        "status": asset.status,
        "progress": round(asset.progress or 0.0, 4),
        "error": asset_error(asset) or None,
        "notice": asset_notice(asset) or None,
        "duration": asset.duration,
        "size": asset.size,
        "renditions": [
            {
                "name": r.name,
                "width": r.width,
                "height": r.height,
                "bitrate": r.bitrate,
                "size": r.size,
                "content_type": r.content_type,
            }
            for r in asset.renditions
        ],
    }


__all__ = [
    "DEFAULT_PART_SIZE",
    "LESSON_MEDIA_KINDS",
    "LessonMedia",
    "Limits",
    "MediaServiceError",
    "NewUpload",
    "UploadRejected",
    "UploadState",
    "add_caption",
    "after_commit",
    "asset_error",
    "asset_keys",
    "attach_ready_asset",
    "check_upload",
    "caption_transcript",
    "cleanup_stale_uploads",
    "complete_upload",
    "create_upload",
    "delete_after_commit",
    "delete_caption",
    "delete_on_rollback",
    "discard_asset",
    "format_size",
    "has_detached_assets",
    "ingest_file",
    "lesson_media",
    "message_data",
    "message_text",
    "on_rollback",
    "part_urls",
    "pending_assets",
    "plan_parts",
    "processing_stalled",
    "prune_detached_assets",
    "published_media_ids",
    "referenced_media_ids",
    "remove_media",
    "retry_processing",
    "settings_media_ids",
    "start_processing",
    "start_upload",
    "status_payload",
    "touch_course",
    "upload_state",
]
