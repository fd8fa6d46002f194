"""Honest progress: heartbeats from the video player, and lessons marked done.

Services here take the database session, the acting user and the lesson; they
flush and never commit (the caller owns the unit of work, see
:func:`commit_with_retries`).

**What a beat is.** Every ~15 s, and on pause, seek, end and page hide, the
player sends the media intervals it really played since its last beat, its
position, its playback session id (a UUID made on page load), a sequence number
(0, 1, 2 ... per session), optionally its playback rate, and the client clock
``t`` (ms since the epoch) at which the beat was made. Beats made offline wait in
the browser's storage and arrive later, possibly in a burst and out of order.

**Counting.** Intervals are merged into the set already watched (tenths of a
second, see :mod:`lms.learning.intervals`); only seconds not watched before count,
so replaying a part, or two tabs playing the same part, never counts twice, and
seeking to the end credits nothing because nothing was played in between.

**The bound on credit.** A beat may not credit more than the player could have
played. The natural rule, "wall time since the session's last beat × the fastest
rate (2.0) + 2 s", measured with the *server's* clock between arrivals, is wrong
for beats queued offline: four beats covering 60 s of offline viewing arrive
within milliseconds of each other and would be cut to almost nothing. So:

- The time a beat was *made* is the client's ``t``. Client clocks may be off by
  hours, so ``t`` is only ever compared with another ``t`` of the same session:
  the session's *anchor* is the first beat the server received, with both its
  ``t`` and the server time of its arrival (``started_at``).
- The session's budget is ``MAX_RATE × span + TOLERANCE``, where ``span`` is the
  client time from the anchor to the latest beat made, but never more than the
  server time since the anchor arrived: ``min(t_latest - t_anchor, now -
  started_at)``. A client lying about ``t`` can therefore never get more than the
  server-observed wall time since it first showed up × 2 (+ 2 s); an honest
  client that watched offline gets exactly the time it spent.
- The budget is *cumulative* over the session: the credit given so far
  (``credited_seconds``, new unique seconds only) plus this beat's may not exceed
  it; the excess is cut, keeping the earliest part of the beat's new seconds,
  counted on the session and logged. Being cumulative, it does not depend on the
  order beats arrive in (seq 5 before seq 4 both count once the later one is in),
  and it is exactly as strict as the per-beat rule: a player that sends no beat
  for ten minutes could claim twenty under either.
- The player sends a first beat (seq 0, no intervals) as soon as it loads, while
  the page has just come over the network, so the anchor is normally the page
  load. If that beat is lost and the first to arrive is a late burst, the
  playing before it cannot be checked and is cut to the tolerance: a
  conservative loss, never an unearned credit.

**Idempotency.** A session remembers the highest sequence number seen and the
few below it not yet seen (``missing_seqs``); a beat seen before changes nothing.

**Concurrency.** Two tabs, or a retried request, may send beats for the same
trainee and lesson at the same moment. Every beat first takes the lesson
progress row with ``SELECT ... FOR UPDATE`` (PostgreSQL: the second waits for the
first to commit and then reads its result) and only then reads the playback
session, so the progress row serialises all writers of both rows. SQLite ignores
``FOR UPDATE`` (and pysqlite runs reads outside a transaction), so both rows also
carry a version counter: the UPDATE says ``WHERE version = <the one read>``, and a
write based on a stale read fails (``StaleDataError``) instead of overwriting the
other beat. Two first beats creating the same row collide on a unique key
(``IntegrityError``). In every such case the whole unit of work is rolled back and
run again from the start by :func:`commit_with_retries`, so no second is lost or
counted twice.

**Completion.** A video lesson is done when its unique watched seconds reach its
threshold × its length; readings and documents when :func:`mark_done` is called.
``completed_at`` is set once and never changed, and nothing here ever lowers a
status: editing or republishing a course (a higher threshold, a longer video)
leaves a done lesson done. :data:`lesson_completed` is sent once per lesson and
trainee, inside the unit of work, for the module/course completion to build on.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from blinker import Namespace
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from lms.accounts.models import User
from lms.catalog.models import DEFAULT_VIDEO_THRESHOLD, Course, Lesson, LessonKind
from lms.catalog.services import can_edit
from lms.learning import intervals as iv
from lms.learning.models import LessonProgress, PlaybackSession, ProgressStatus
from lms.learning.services import can_view_course, find_lesson
from lms.media.models import MediaAsset

log = logging.getLogger(__name__)

MAX_RATE = 2.0  # the fastest playback rate the player offers
TOLERANCE_SECONDS = 2.0  # timer jitter, rounding, the moment between play and the first beat
MAX_INTERVALS = 100  # per beat; an honest player sends one or two
MAX_MEDIA_SECONDS = 48 * 3600  # no lecture is longer; bigger times are nonsense
MAX_SEQ = 2**31 - 1
MISSING_WINDOW = 256  # how many unseen sequence numbers below the highest are remembered
END_SLACK_SECONDS = 1.0  # players stop a frame or so before the container's length
RESUME_END_MARGIN_SECONDS = 5.0  # finished (or nearly): start again from the beginning
MARKABLE_KINDS = (LessonKind.READING, LessonKind.DOCUMENT)

signals = Namespace()
#: Sent once when a trainee first completes a lesson, with ``progress`` (the
#: :class:`LessonProgress`) and ``session``. Receivers run inside the unit of work,
#: which may be rolled back and run again: write only through ``session``.
lesson_completed = signals.signal("lesson-completed")


# --- errors -------------------------------------------------------------------------------


class TrackingError(Exception):
    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


class InvalidBeat(TrackingError):
    """The beat is malformed (HTTP 400)."""


class LessonNotFound(TrackingError):
    """Not a lesson this user can reach (HTTP 404)."""


class LessonGone(TrackingError):
    """The lesson was removed from the course (HTTP 410)."""


class NotTrackable(TrackingError):
    """Beats for a lesson that is not a video, or done for one that is (HTTP 409)."""


class SessionConflict(TrackingError):
    """The playback session id belongs to another trainee or lesson (HTTP 409)."""


# --- the beat -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Beat:
    session_id: str
    seq: int
    intervals: tuple[tuple[float, float], ...] = ()
    position: float | None = None
    rate: float | None = None
    client_time_ms: int | None = None  # ``t``: when the beat was made, on the client's clock


def _number(value: Any) -> float | None:
    """A finite JSON number, or None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def parse_beat(payload: Any) -> Beat:
    """Check a beat's JSON and turn it into a :class:`Beat`; :class:`InvalidBeat` if bad."""
    if not isinstance(payload, dict):
        raise InvalidBeat(_l("Send the beat as a JSON object."))
    raw_session = payload.get("session")
    try:
        session_id = str(uuid.UUID(raw_session)) if isinstance(raw_session, str) else ""
    except ValueError:
        session_id = ""
    if not session_id:
        raise InvalidBeat(_l("The playback session id must be a UUID."))
    seq = payload.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise InvalidBeat(_l("The sequence number must be a whole number from 0."))
    raw_intervals = payload.get("intervals", [])
    if not isinstance(raw_intervals, list):
        raise InvalidBeat(_l("The intervals must be a list of [start, end] pairs."))
    if len(raw_intervals) > MAX_INTERVALS:
        raise InvalidBeat(_l("Send at most %(count)d intervals in a beat.", count=MAX_INTERVALS))
    pairs = []
    for item in raw_intervals:
        if not isinstance(item, list) or len(item) != 2:
            raise InvalidBeat(_l("The intervals must be a list of [start, end] pairs."))
        start, end = _number(item[0]), _number(item[1])
        if (
            start is None
            or end is None
            or not (0 <= start <= MAX_MEDIA_SECONDS)
            or not (0 <= end <= MAX_MEDIA_SECONDS)
        ):
            raise InvalidBeat(
                _l(
                    "Times must be numbers from 0 to %(limit)d seconds.",
                    limit=MAX_MEDIA_SECONDS,
                )
            )
        if end < start:
            raise InvalidBeat(_l("An interval must not end before it starts."))
        pairs.append((start, end))
    position = None
    if payload.get("position") is not None:
        position = _number(payload["position"])
        if position is None or not 0 <= position <= MAX_MEDIA_SECONDS:
            raise InvalidBeat(
                _l(
                    "Times must be numbers from 0 to %(limit)d seconds.",
                    limit=MAX_MEDIA_SECONDS,
                )
            )
    rate = None
    if payload.get("rate") is not None:
        rate = _number(payload["rate"])
        if rate is None or not 0 < rate <= 16:
            raise InvalidBeat(_l("The playback rate must be a number above 0 and up to 16."))
    client_time_ms = None
    if payload.get("t") is not None:
        t = _number(payload["t"])
        if t is None or not 0 < t < 2**53:
            raise InvalidBeat(_l("The beat time must be milliseconds since 1970."))
        client_time_ms = int(t)
    return Beat(
        session_id=session_id,
        seq=seq,
        intervals=tuple(pairs),
        position=position,
        rate=rate,
        client_time_ms=client_time_ms,
    )


# --- who may study a lesson, and what it is -----------------------------------------------


def can_view_lesson(session: Session, user: User, lesson: Lesson) -> bool:
    """Whoever may read the lesson's course (see :func:`can_view_course`).

    Trainees enrolled in a programme with the course, its instructors, admins and
    the programme sponsor's staff. Everyone's viewing is recorded against their own
    account: harmless, and progress tables list enrolled trainees only.
    """
    course = session.get(Course, lesson.course_id)
    return course is not None and can_view_course(session, user, course)


@dataclass(frozen=True)
class LessonSpec:
    """What the trainee sees of a lesson: from the published version (or, for its
    editors, the draft of a lesson not published yet)."""

    lesson_id: int
    kind: str
    threshold: float
    media_id: int | None
    duration: float | None  # seconds, for media that is ready
    course_version_id: int | None  # None for a draft preview


def lesson_spec(session: Session, user: User, lesson: Lesson) -> LessonSpec:
    """The lesson as published; :class:`LessonGone` or :class:`LessonNotFound` otherwise.

    A lesson archived in the draft but still in the published version is still
    live for trainees (until the course is published again), so it still counts.
    """
    course = session.get(Course, lesson.course_id)
    if course is None:
        raise LessonNotFound(_l("This lesson does not exist."))
    version = course.published_version
    data = find_lesson(version.snapshot, lesson.id) if version is not None else None
    if data is not None:
        kind = str(data.get("kind") or lesson.kind)
        threshold = data.get("completion_threshold")
        media_id = data.get("media_id")
        version_id: int | None = version.id  # type: ignore[union-attr]
    elif lesson.archived_at is not None:
        raise LessonGone(_l("This lesson has been removed from the course."))
    elif can_edit(user, course):  # an instructor previewing a lesson not published yet
        kind, threshold, media_id, version_id = (
            lesson.kind,
            lesson.completion_threshold,
            lesson.media_id,
            None,
        )
    else:
        raise LessonNotFound(_l("This lesson does not exist."))
    duration = None
    if media_id is not None:
        asset = session.get(MediaAsset, media_id)
        if asset is not None and asset.duration and asset.duration > 0:
            duration = float(asset.duration)
    if threshold is None or not 0 <= float(threshold) <= 1:
        threshold = DEFAULT_VIDEO_THRESHOLD
    return LessonSpec(lesson.id, kind, float(threshold), media_id, duration, version_id)


def required_units(duration_units: int, threshold: float) -> int:
    """Unique units to watch for a video of ``duration_units`` to be done."""
    need = math.ceil(max(0.0, min(1.0, threshold)) * duration_units - 1e-9)
    need = min(need, duration_units - iv.to_units(END_SLACK_SECONDS))
    return max(need, 1)


# --- what the trainee sees of their progress ----------------------------------------------


@dataclass(frozen=True)
class ProgressView:
    lesson_id: int
    kind: str
    status: str
    position: float  # where the player should resume
    watched_seconds: float
    duration: float | None
    threshold: float | None
    completed_at: datetime | None
    last_activity_at: datetime | None

    @property
    def share(self) -> float | None:
        if not self.duration:
            return None
        return min(1.0, round(self.watched_seconds / self.duration, 4))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lesson_id": self.lesson_id,
            "kind": self.kind,
            "status": self.status,
            "position": self.position,
            "watched_seconds": self.watched_seconds,
            "duration": self.duration,
            "share": self.share,
            "threshold": self.threshold,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "last_activity_at": (
                self.last_activity_at.isoformat() if self.last_activity_at else None
            ),
        }


def resume_position(progress: LessonProgress | None, duration: float | None) -> float:
    """Where to start playing: the last position, or the start when it was (nearly) the end."""
    if progress is None:
        return 0.0
    position = max(0.0, progress.position or 0.0)
    if duration and position >= duration - RESUME_END_MARGIN_SECONDS:
        return 0.0
    return position


def _view(spec: LessonSpec, progress: LessonProgress | None) -> ProgressView:
    is_video = spec.kind == LessonKind.VIDEO
    return ProgressView(
        lesson_id=spec.lesson_id,
        kind=spec.kind,
        status=progress.status if progress else str(ProgressStatus.NOT_STARTED),
        position=resume_position(progress, spec.duration) if is_video else 0.0,
        watched_seconds=progress.watched_seconds if progress else 0.0,
        duration=spec.duration if is_video else None,
        threshold=spec.threshold if is_video else None,
        completed_at=progress.completed_at if progress else None,
        last_activity_at=progress.last_activity_at if progress else None,
    )


def find_progress(session: Session, user_id: int, lesson_id: int) -> LessonProgress | None:
    return session.scalar(
        select(LessonProgress).where(
            LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson_id
        )
    )


def progress_of(session: Session, user: User, lesson: Lesson) -> ProgressView:
    """The trainee's progress in a lesson, with the position to resume from."""
    spec = lesson_spec(session, user, lesson)
    return _view(spec, find_progress(session, user.id, lesson.id))


def progress_by_lesson(session: Session, user_id: int, course_id: int) -> dict[int, LessonProgress]:
    """All of a trainee's progress rows in a course, by lesson id: one query."""
    rows = session.scalars(
        select(LessonProgress).where(
            LessonProgress.course_id == course_id, LessonProgress.user_id == user_id
        )
    )
    return {row.lesson_id: row for row in rows}


# --- recording ----------------------------------------------------------------------------


def _lock_progress(
    session: Session, user: User, lesson: Lesson, now: datetime
) -> tuple[LessonProgress, bool]:
    """The progress row, locked for this unit of work (created if missing); and if it is new."""
    progress = session.scalars(
        select(LessonProgress)
        .where(LessonProgress.user_id == user.id, LessonProgress.lesson_id == lesson.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if progress is not None:
        return progress, False
    progress = LessonProgress(
        user_id=user.id,
        lesson_id=lesson.id,
        course_id=lesson.course_id,
        status=str(ProgressStatus.NOT_STARTED),
        watched=[],
        watched_seconds=0.0,
        position=0.0,
        started_at=now,
        last_activity_at=now,
    )
    session.add(progress)
    session.flush()  # a concurrent first beat makes this an IntegrityError: retried
    return progress, True


def _complete(session: Session, progress: LessonProgress, when: datetime) -> None:
    if progress.status == ProgressStatus.DONE:
        return
    progress.status = str(ProgressStatus.DONE)
    if progress.completed_at is None:
        progress.completed_at = when
    lesson_completed.send(progress, session=session)


@dataclass(frozen=True)
class BeatResult:
    duplicate: bool
    credited_seconds: float  # new unique seconds this beat added
    clipped_seconds: float  # new seconds it claimed beyond the bound
    progress: ProgressView

    def to_dict(self) -> dict[str, Any]:
        return {
            "duplicate": self.duplicate,
            "credited": self.credited_seconds,
            "clipped": self.clipped_seconds,
            "progress": self.progress.to_dict(),
        }


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _spec_for_beat(
    session: Session, user: User, lesson: Lesson, playback: PlaybackSession | None
) -> LessonSpec:
    """The lesson's spec, from the playback session while the published version is the same
    (so a beat need not read the course's snapshot), else afresh."""
    course = session.get(Course, lesson.course_id)
    if (
        playback is not None
        and playback.course_version_id is not None
        and course is not None
        and playback.course_version_id == course.published_version_id
        and playback.duration
    ):
        return LessonSpec(
            lesson_id=lesson.id,
            kind=str(LessonKind.VIDEO),
            threshold=playback.threshold if playback.threshold is not None else 1.0,
            media_id=None,
            duration=playback.duration,
            course_version_id=playback.course_version_id,
        )
    return lesson_spec(session, user, lesson)


def record_beat(
    session: Session, user: User, lesson: Lesson, beat: Beat, now: datetime
) -> BeatResult:
    """Merge a beat into the trainee's progress in a video lesson (see the module's notes)."""
    progress, fresh = _lock_progress(session, user, lesson, now)
    # Read after the progress lock: every writer of this session holds it first.
    playback = session.get(PlaybackSession, beat.session_id, populate_existing=True)
    if playback is not None and (playback.user_id, playback.lesson_id) != (user.id, lesson.id):
        raise SessionConflict(_l("This playback session belongs to another lesson."))
    spec = _spec_for_beat(session, user, lesson, playback)
    if spec.kind != LessonKind.VIDEO:
        raise NotTrackable(_l("Only video lessons record watching time."))
    if not spec.duration:
        raise NotTrackable(_l("This lesson has no video to watch yet."))
    duration = spec.duration
    if playback is not None and playback.has_seen(beat.seq):
        return BeatResult(True, 0.0, 0.0, _view(spec, progress))

    now_ms = _ms(now)
    if playback is None:
        anchor = beat.client_time_ms if beat.client_time_ms is not None else now_ms
        playback = PlaybackSession(
            id=beat.session_id,
            user_id=user.id,
            lesson_id=lesson.id,
            started_at=now,
            client_started_ms=anchor,
            client_latest_ms=anchor,
            last_seq=beat.seq,
            missing_seqs=list(range(max(0, beat.seq - MISSING_WINDOW), beat.seq)),
            beats=0,
            credited_seconds=0.0,
            clipped_seconds=0.0,
            clipped_beats=0,
        )
        session.add(playback)
    elif beat.seq > playback.last_seq:
        gap = range(max(playback.last_seq + 1, beat.seq - MISSING_WINDOW), beat.seq)
        playback.missing_seqs = [*(playback.missing_seqs or []), *gap][-MISSING_WINDOW:]
        playback.last_seq = beat.seq
    else:  # a late beat, arriving after a later one
        playback.missing_seqs = [s for s in playback.missing_seqs if s != beat.seq]
    playback.course_version_id = spec.course_version_id
    playback.duration = duration
    playback.threshold = spec.threshold

    # Map the beat's time onto the server's clock through the session's anchor.
    server_elapsed_ms = max(0, now_ms - _ms(playback.started_at))
    client_ms = beat.client_time_ms
    if client_ms is None:  # no client clock: the beat was made when it arrived
        client_ms = playback.client_started_ms + server_elapsed_ms
    playback.client_latest_ms = max(playback.client_latest_ms, client_ms)
    span_ms = min(playback.client_latest_ms - playback.client_started_ms, server_elapsed_ms)
    budget = iv.to_units(MAX_RATE * max(0, span_ms) / 1000 + TOLERANCE_SECONDS)
    credited_before = iv.to_units(playback.credited_seconds)
    allowed = max(0, budget - credited_before)
    made_at = playback.started_at + timedelta(
        milliseconds=min(max(0, client_ms - playback.client_started_ms), server_elapsed_ms)
    )

    duration_units = iv.to_units(duration)
    watched = progress.intervals
    claimed = iv.clip(iv.from_seconds(beat.intervals), 0, duration_units)
    new = iv.subtract(claimed, watched)
    kept, cut = iv.bound_credit(new, allowed)
    if cut:
        playback.clipped_seconds = iv.to_seconds(iv.to_units(playback.clipped_seconds) + cut)
        playback.clipped_beats += 1
        log.warning(
            "beat clipped: user %s lesson %s session %s seq %s claimed %.1f s new, "
            "allowed %.1f s (rate %s)",
            user.id,
            lesson.id,
            beat.session_id,
            beat.seq,
            iv.to_seconds(iv.length(new)),
            iv.to_seconds(allowed),
            beat.rate,
        )
    if kept:
        watched = iv.merge(watched, kept)
        progress.watched = iv.dump(watched)
        progress.watched_seconds = iv.to_seconds(iv.length(watched))
    playback.credited_seconds = iv.to_seconds(credited_before + iv.length(kept))
    playback.beats += 1
    playback.last_beat_at = now

    progress.duration = duration
    if fresh or made_at >= progress.last_activity_at:
        if beat.position is not None:
            progress.position = min(beat.position, duration)
        progress.last_activity_at = made_at
    if progress.status == ProgressStatus.NOT_STARTED and progress.watched_seconds > 0:
        progress.status = str(ProgressStatus.IN_PROGRESS)
    if progress.status != ProgressStatus.DONE and iv.length(watched) >= required_units(
        duration_units, spec.threshold
    ):
        _complete(session, progress, made_at)
    session.flush()
    return BeatResult(
        duplicate=False,
        credited_seconds=iv.to_seconds(iv.length(kept)),
        clipped_seconds=iv.to_seconds(cut),
        progress=_view(spec, progress),
    )


def mark_done(session: Session, user: User, lesson: Lesson, now: datetime) -> ProgressView:
    """A reading reached its end, or a document was opened: the lesson is done (idempotent)."""
    spec = lesson_spec(session, user, lesson)
    if spec.kind not in MARKABLE_KINDS:
        if spec.kind == LessonKind.VIDEO:
            raise NotTrackable(_l("A video lesson is done when enough of it has been watched."))
        raise NotTrackable(_l("This kind of lesson cannot be marked done by hand."))
    progress, _fresh = _lock_progress(session, user, lesson, now)
    _complete(session, progress, now)
    progress.last_activity_at = max(progress.last_activity_at, now)
    session.flush()
    return _view(spec, progress)


def record_activity(
    session: Session, user: User, lesson: Lesson, now: datetime, *, done: bool
) -> LessonProgress:
    """Progress judged by the lesson's own kind (a tour's stops): the lesson is in
    progress, or done once ``done`` (idempotent; a done lesson stays done)."""
    progress, _fresh = _lock_progress(session, user, lesson, now)
    if progress.status == ProgressStatus.NOT_STARTED:
        progress.status = str(ProgressStatus.IN_PROGRESS)
    if done:
        _complete(session, progress, now)
    progress.last_activity_at = max(progress.last_activity_at, now)
    session.flush()
    return progress


# --- the unit of work, retried --------------------------------------------------------------

T = TypeVar("T")

#: Errors that mean "another unit of work got there first": run again from the start.
RETRYABLE = (IntegrityError, StaleDataError, OperationalError)


class Busy(Exception):
    """Still conflicting after every retry (HTTP 503: the player keeps the beat and retries)."""


def commit_with_retries(
    session: Session, work: Callable[[], T], attempts: int = 12, sleep: Callable = time.sleep
) -> T:
    """Run ``work`` and commit; on a write conflict roll everything back and run it again.

    For callers that own the unit of work (the beat views, jobs, tests); services
    never commit. Each attempt starts from a clean session, so an attempt that lost
    a race leaves nothing behind. :class:`TrackingError` rolls back and propagates.
    """
    for attempt in range(attempts):
        try:
            result = work()
            session.commit()
            return result
        except RETRYABLE as error:
            session.rollback()
            if isinstance(error, OperationalError) and not _is_conflict(error):
                raise
            log.info("progress write conflict (attempt %s): %s", attempt + 1, type(error).__name__)
            sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
        except BaseException:
            session.rollback()
            raise
    raise Busy("progress write kept conflicting")


def _is_conflict(error: OperationalError) -> bool:
    """SQLite's "database is locked", PostgreSQL's deadlock or serialisation failure."""
    text = str(error.orig).lower()
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return "locked" in text or "busy" in text or code in ("40001", "40P01")
