"""What a trainee has done in a tour: the stops visited, and the clips watched.

The tour itself is lesson data (``Lesson.settings["tour"]``, frozen by publishing);
only progress needs tables. A stop is visited once (:class:`TourStopVisit`, written
with ``insert_if_absent``); a video stop also keeps the media time really watched
(:class:`TourStopWatch`, merged intervals as for lecture videos) until it reaches the
lesson's threshold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, utcnow


class TourStopVisit(Base):
    __tablename__ = "tour_stop_visits"
    __table_args__ = (
        UniqueConstraint("user_id", "lesson_id", "stop_uid"),
        Index("ix_tour_stop_visits_lesson_id_user_id", "lesson_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    stop_uid: Mapped[str] = mapped_column(String(64))
    visited_at: Mapped[datetime] = mapped_column(default=utcnow)


class TourStopWatch(Base):
    """The media time watched of one video stop, in tenths of a second (see intervals.py)."""

    __tablename__ = "tour_stop_watches"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id", "stop_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    stop_uid: Mapped[str] = mapped_column(String(64))
    watched: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    watched_seconds: Mapped[float] = mapped_column(default=0.0)
    duration: Mapped[float | None]
    position: Mapped[float] = mapped_column(default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}
