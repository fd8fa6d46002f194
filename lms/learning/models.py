"""What a trainee has really studied: progress per lesson and the playback sessions behind it.

:class:`LessonProgress` is one row per (trainee, lesson): the set of media time
really watched (merged intervals, see :mod:`lms.learning.intervals`), where to
resume, and the status. Module, course and programme completion are derived from
these rows (``course_id`` is copied from the lesson so that a course page, a
trainee's home page or an instructor's trainees × lessons table reads them with one
indexed query), and they record their own completion in their own tables later.

:class:`PlaybackSession` is one page load of a video player: the heartbeat's
sequence numbers (for idempotency), the clock anchor and the credit given (for the
bound on credit, see :mod:`lms.learning.tracking`).

Both rows carry a ``version`` counter (SQLAlchemy's ``version_id_col``): every
UPDATE says ``WHERE version = <the version read>``, so a write based on a stale
read fails loudly instead of overwriting a concurrent beat (see tracking.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, utcnow
from lms.learning import intervals


class ProgressStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class LessonProgress(Base):
    __tablename__ = "lesson_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "lesson_id"),
        Index("ix_lesson_progress_course_id_user_id", "course_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    # The lesson's course (lessons never change course): per-course reads need no join.
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=ProgressStatus.NOT_STARTED)
    # Video lessons: the media time really watched, [[start, end], ...] in tenths of a
    # second, sorted, merged and disjoint; its total is kept in ``watched_seconds``.
    watched: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    watched_seconds: Mapped[float] = mapped_column(default=0.0)
    # The length the share is measured against (the media of the version last watched).
    duration: Mapped[float | None]
    position: Mapped[float] = mapped_column(default=0.0)  # seconds; where to resume
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once, when the lesson is first done; never cleared or moved afterwards.
    completed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}

    @property
    def intervals(self) -> intervals.Intervals:
        return intervals.load(self.watched)

    @property
    def share(self) -> float | None:
        """Share of the video watched, 0..1 (None when the length is unknown)."""
        if not self.duration:
            return None
        return min(1.0, self.watched_seconds / self.duration)

    @property
    def is_done(self) -> bool:
        return self.status == ProgressStatus.DONE


class PlaybackSession(Base):
    """One player on one page load, identified by a UUID the browser makes."""

    __tablename__ = "playback_sessions"
    __table_args__ = (Index("ix_playback_sessions_user_id_lesson_id", "user_id", "lesson_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    # Server time of the first beat that arrived, and the client clock (ms since the
    # epoch) written in that beat: together they map client times onto server time.
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_started_ms: Mapped[int] = mapped_column(BigInteger)
    client_latest_ms: Mapped[int] = mapped_column(BigInteger)  # the latest client time seen
    last_beat_at: Mapped[datetime] = mapped_column(default=utcnow)  # server time
    # Beats seen: every sequence number up to ``last_seq`` except those in
    # ``missing_seqs`` (a short list, usually empty: beats still on their way).
    last_seq: Mapped[int] = mapped_column(default=0)
    missing_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)
    beats: Mapped[int] = mapped_column(default=0)  # beats accepted (not counting repeats)
    credited_seconds: Mapped[float] = mapped_column(default=0.0)  # new unique seconds given
    clipped_seconds: Mapped[float] = mapped_column(default=0.0)  # claimed beyond the bound
    clipped_beats: Mapped[int] = mapped_column(default=0)
    # The published course version whose media this player shows, with that media's
    # length and the lesson's threshold, read once per session rather than per beat.
    course_version_id: Mapped[int | None]
    duration: Mapped[float | None]
    threshold: Mapped[float | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}

    def has_seen(self, seq: int) -> bool:
        return seq <= self.last_seq and seq not in (self.missing_seqs or [])
