"""Background jobs of the media pipeline: videos, PDF handouts and images.

Each job downloads the original from storage into a temporary folder (streamed),
checks what it really is by its content, makes what trainees need (poster and
renditions for a video), uploads that back to storage and marks the asset READY,
at which point it becomes its lesson's media (:func:`services.attach_ready_asset`).

Failures are of two sorts:

- the file itself is unusable (:class:`MediaError`: not a video, a damaged PDF):
  final at once; the asset becomes FAILED with the reason the instructor sees, and
  its objects are deleted, so nothing is left behind but that explanation;
- anything else (storage unreachable, a full disk, a bug): Huey retries with a
  growing delay; on the last attempt the asset becomes FAILED with the reason, and
  the original is kept so that the instructor can try again without uploading again.

Progress (0..1 over all renditions) is written at most about once a second. The
job stops early when the asset is deleted or replaced meanwhile.

Two housekeeping jobs live here too: :func:`prune_course_media` (queued by a
publication, deletes files only the previous version showed) and
:func:`cleanup_stale_uploads` (hourly, aborts uploads left idle).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from huey import crontab
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from lms.audit.services import record
from lms.catalog.models import Lesson
from lms.db import new_session
from lms.jobs import get_jobs, job
from lms.media import services
from lms.media.ffmpeg import make_poster, plan_renditions, transcode
from lms.media.models import MediaAsset, MediaStatus, Rendition
from lms.media.probe import MediaError, probe_image, probe_pdf, probe_video, sniff
from lms.storage import NotFound, Storage, StorageError, get_storage, new_key

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
STORAGE_DOWN = _l(
    "The storage could not be reached, so the file could not be processed. Try again in a while."
)
SERVER_ERROR = _l(
    "An error on the server stopped the processing. Try again in a while; "
    "if it happens again, please tell the training office."
)
ORIGINAL_GONE = _l("The uploaded file is no longer stored. Please upload it again.")
# FFmpeg finds a "video" in more than videos (a PDF of scanned pages reads as MJPEG), so
# files whose first bytes say what else they are never reach the video probe.
NOT_VIDEO = {
    "pdf": _l("it is a PDF document"),
    "image": _l("it is a still image"),
    "vtt": _l("it is a caption file"),
    "srt": _l("it is a caption file"),
}
RETRYING = _l(
    "A temporary problem interrupted the processing; it will be tried again automatically."
)


class Cancelled(Exception):
    """The asset was deleted or replaced while the job ran."""


# --- jobs ----------------------------------------------------------------------------


@job(retries=3, retry_delay=10)
def process_video(asset_id: int, *, final_attempt: bool = True) -> None:
    """Probe, poster, renditions (240p/360p/720p up to the source, audio), then READY."""
    _run(asset_id, final_attempt, _video)


@job(retries=3, retry_delay=10)
def process_document(asset_id: int, *, final_attempt: bool = True) -> None:
    """Check a PDF handout (it must open and have pages), count its pages, then READY."""
    _run(asset_id, final_attempt, _document)


@job(retries=3, retry_delay=10)
def process_image(asset_id: int, *, final_attempt: bool = True) -> None:
    """Check a JPEG, PNG or WebP image and record its size, then READY."""
    _run(asset_id, final_attempt, _image)


@job(retries=3, retry_delay=60)
def prune_course_media(course_id: int, *, final_attempt: bool = True) -> None:
    """After a publication: delete the files kept only for the version trainees saw before.

    Queued once the publication committed, so it reads the committed versions; objects
    go only after this job's own commit.
    """
    with new_session() as session:
        removed = services.prune_detached_assets(session, get_storage(), course_id)
        session.commit()
    if removed:
        log.info("course %s: %d replaced media file(s) deleted", course_id, removed)


UPLOAD_CLEANUP_MINUTE = "23"  # past each hour: away from the top of the hour's jobs


def upload_max_age() -> timedelta:
    """How long an unfinished upload may sit idle: ``MEDIA_UPLOAD_MAX_AGE_HOURS`` (24)."""
    hours = float(current_app.config.get("MEDIA_UPLOAD_MAX_AGE_HOURS", 24))
    return timedelta(hours=max(hours, 1 / 60))


@job(retries=1, retry_delay=300)
def cleanup_stale_uploads(*, final_attempt: bool = True) -> None:
    """Abort multipart uploads left idle (and delete their assets); runs every hour."""
    with new_session() as session:
        done = services.cleanup_stale_uploads(session, get_storage(), upload_max_age())
        session.commit()
    if done.discarded_assets or done.aborted_uploads:
        log.info(
            "stale uploads: %d asset(s) deleted, %d upload(s) aborted",
            done.discarded_assets,
            done.aborted_uploads,
        )


def schedule_periodic_jobs(app: Flask) -> None:
    """Queue the upload clean-up every hour, from any consumer that runs periodic tasks."""
    queue = get_jobs(app)

    def hourly_upload_cleanup() -> None:
        queue.enqueue("cleanup_stale_uploads")

    queue.huey.periodic_task(crontab(minute=UPLOAD_CLEANUP_MINUTE), name="hourly_upload_cleanup")(
        hourly_upload_cleanup
    )


# --- one run of a job ----------------------------------------------------------------


class Run:
    """The state of one attempt: its session, the objects it wrote, its progress."""

    def __init__(self, session: Session, storage: Storage, asset_id: int) -> None:
        self.session = session
        self.storage = storage
        self.asset_id = asset_id
        self.created: list[str] = []
        self.interval = float(current_app.config.get("MEDIA_PROGRESS_INTERVAL", 1.0))
        self._last_write = 0.0

    def alive(self) -> bool:
        status = self.session.scalar(
            select(MediaAsset.status).where(MediaAsset.id == self.asset_id)
        )
        return status == MediaStatus.PROCESSING

    def check(self) -> None:
        if not self.alive():
            raise Cancelled

    def commit(self) -> None:
        """Commit what the job learnt; a vanished asset means the job is cancelled."""
        try:
            self.session.commit()
        except (IntegrityError, StaleDataError):
            self.session.rollback()
            if not self.alive():
                raise Cancelled from None
            raise

    def download(self, asset: MediaAsset, dest: Path) -> Path:
        """Stream the original to ``dest``, taking its SHA-256 on the way.

        An S3 multipart upload arrives without one (reading it back would hold the
        upload's last request for minutes); it is recorded here, with the first commit.
        """
        digest = hashlib.sha256()
        body = self.storage.open(asset.key)
        try:
            with dest.open("wb") as out:
                for chunk in iter(lambda: body.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
        finally:
            body.close()
        if asset.sha256 is None:
            asset.sha256 = digest.hexdigest()
            record(
                self.session,
                "media_checksum",
                actor_id=asset.created_by_id,
                subject=asset.filename,
                asset_id=asset.id,
                sha256=asset.sha256,
            )
        return dest

    def put(self, path: Path, filename: str, content_type: str) -> str:
        self.check()
        key = new_key("media", filename)
        self.created.append(key)
        with path.open("rb") as fh:
            self.storage.put(key, fh, content_type)
        return key

    def progress(self, value: float, *, force: bool = False) -> None:
        """Write the progress, throttled; raises :class:`Cancelled` if the asset is gone."""
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        result = self.session.execute(
            update(MediaAsset)
            .where(MediaAsset.id == self.asset_id, MediaAsset.status == MediaStatus.PROCESSING)
            .values(progress=min(max(value, 0.0), 1.0))
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Cancelled

    def finish(self, asset: MediaAsset) -> None:
        self.check()
        asset.status = MediaStatus.READY
        asset.progress = 1.0
        asset.error = None
        asset.info = {k: v for k, v in (asset.info or {}).items() if k != "notice"}
        self.session.flush()
        services.attach_ready_asset(self.session, self.storage, asset)
        self.commit()


def _run(asset_id: int, final_attempt: bool, work: Callable[[Run, MediaAsset, Path], None]) -> None:
    storage = get_storage()
    work_dir = current_app.config.get("MEDIA_WORK_DIR") or None
    with new_session() as session:
        asset = session.get(MediaAsset, asset_id)
        if asset is None or asset.status != MediaStatus.PROCESSING:
            log.info("media %s: nothing to process (deleted or not waiting)", asset_id)
            return
        run = Run(session, storage, asset_id)
        try:
            _strip_outputs(session, storage, asset)  # left by an earlier attempt
            session.commit()
            with tempfile.TemporaryDirectory(prefix="kenshu-media-", dir=work_dir) as tmp:
                work(run, asset, Path(tmp))
        except Cancelled:
            session.rollback()
            services.delete_objects(storage, run.created)
            log.info("media %s: deleted or replaced while processing; stopped", asset_id)
        except MediaError as error:
            log.info("media %s: rejected: %s (%s)", asset_id, error, error.detail)
            _fail(session, storage, run, asset_id, error.message, delete_original=True)
        except NotFound as error:
            log.warning("media %s: original missing: %s", asset_id, error)
            _fail(session, storage, run, asset_id, ORIGINAL_GONE, delete_original=True)
        except Exception as error:
            if not final_attempt:
                log.warning("media %s: attempt failed, will retry: %r", asset_id, error)
                _retrying(session, storage, run, asset_id)
                raise
            log.exception("media %s: processing failed for good", asset_id)
            reason = STORAGE_DOWN if isinstance(error, StorageError) else SERVER_ERROR
            _fail(session, storage, run, asset_id, reason, delete_original=False)


def _strip_outputs(session: Session, storage: Storage, asset: MediaAsset) -> list[str]:
    """Remove renditions and poster (rows now, objects after the commit)."""
    keys = [r.key for r in asset.renditions]
    if asset.poster_key:
        keys.append(asset.poster_key)
    asset.renditions.clear()
    asset.poster_key = None
    session.flush()
    services.delete_after_commit(session, storage, keys)
    return keys


def _fail(
    session: Session,
    storage: Storage,
    run: Run,
    asset_id: int,
    message: object,
    *,
    delete_original: bool,
) -> None:
    """Mark the asset FAILED with ``message``; keep nothing but the explanation."""
    session.rollback()
    services.delete_objects(storage, run.created)
    asset = session.get(MediaAsset, asset_id)
    if asset is None:
        return
    try:
        _strip_outputs(session, storage, asset)
        if delete_original:
            services.delete_after_commit(session, storage, [asset.key])
            for lesson in session.scalars(select(Lesson).where(Lesson.media_id == asset.id)):
                lesson.media_id = None
                services.touch_course(session, lesson.course_id)
        settings = current_app.config["LMS_SETTINGS"]
        with force_locale(settings.default_locale):
            asset.error = str(message)
        info = {k: v for k, v in (asset.info or {}).items() if k != "notice"}
        info["error_message"] = services.message_data(message)
        info["original_kept"] = not delete_original
        asset.info = info
        asset.status = MediaStatus.FAILED
        asset.progress = 0.0
        session.commit()
    except (IntegrityError, StaleDataError):  # deleted meanwhile: nothing to report to
        session.rollback()


def _retrying(session: Session, storage: Storage, run: Run, asset_id: int) -> None:
    """Before a retry: drop this attempt's outputs and tell the instructor it goes on."""
    session.rollback()
    services.delete_objects(storage, run.created)
    asset = session.get(MediaAsset, asset_id)
    if asset is None:
        return
    try:
        asset.info = {**(asset.info or {}), "notice": services.message_data(RETRYING)}
        asset.progress = 0.0
        session.commit()
    except Exception:  # noqa: BLE001 - the database may be what is failing; Huey retries anyway
        session.rollback()
        log.warning("media %s: could not record the retry notice", asset_id)


# --- the work for each kind ------------------------------------------------------------


def _video(run: Run, asset: MediaAsset, tmp: Path) -> None:
    original = run.download(asset, tmp / "original")
    other = NOT_VIDEO.get(sniff(original))
    if other is not None:
        raise MediaError(_l("The file is not a playable video (%(reason)s).", reason=other))
    info = probe_video(original)
    asset.duration = info.duration
    asset.width = info.width
    asset.height = info.height
    asset.info = {
        **(asset.info or {}),
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "bit_rate": info.bit_rate,
    }
    run.commit()

    plan = plan_renditions(info)
    steps = len(plan) + 1  # the poster counts as one small step
    poster = make_poster(original, tmp / "poster.jpg", duration=info.duration)
    asset.poster_key = run.put(poster, "poster.jpg", "image/jpeg")
    run.commit()
    run.progress(1 / steps / 4, force=True)

    stem = Path(asset.filename).stem or "video"
    for index, rendition in enumerate(plan):
        dest = tmp / f"{rendition.name}.{rendition.extension}"

        def report(fraction: float, index: int = index) -> None:
            run.progress((1 + index + fraction) / steps)

        transcode(original, dest, rendition, duration=info.duration, on_progress=report)
        width = height = None
        if not rendition.audio_only:
            made = probe_video(dest)
            width, height = made.width, made.height
        size = dest.stat().st_size
        key = run.put(dest, f"{stem}-{rendition.name}.{rendition.extension}", rendition.mime_type)
        asset.renditions.append(
            Rendition(
                name=rendition.name,
                key=key,
                content_type=rendition.mime_type,
                size=size,
                width=width,
                height=height,
                bitrate=round(size * 8 / info.duration),
            )
        )
        run.commit()
        dest.unlink()
    run.finish(asset)


def _document(run: Run, asset: MediaAsset, tmp: Path) -> None:
    original = run.download(asset, tmp / "original")
    info = probe_pdf(original)
    asset.content_type = "application/pdf"
    asset.info = {**(asset.info or {}), "pages": info.pages}
    run.finish(asset)


def _image(run: Run, asset: MediaAsset, tmp: Path) -> None:
    original = run.download(asset, tmp / "original")
    info = probe_image(original)
    asset.content_type = info.mime_type
    asset.width = info.width
    asset.height = info.height
    asset.info = {**(asset.info or {}), "format": info.format}
    run.finish(asset)
