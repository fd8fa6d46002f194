"""Recorded completions of modules and courses (programmes: :class:`Enrolment` itself).

A row here is written once, when the trainee first meets the requirements of the
course's *published* version, and is never updated or removed by editing the
course: republishing with a new required lesson leaves a completed course
completed (see :mod:`lms.learning.completion`). The unique constraints make the
insert-if-absent race-safe on SQLite and PostgreSQL.

``completed_at`` is when the requirements were met (the latest completion time of
the required lessons, which for beats sent from an offline queue is when they
were made); ``recorded_at`` is when the server wrote the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, utcnow


class ModuleCompletion(Base):
    __tablename__ = "module_completions"
    __table_args__ = (
        UniqueConstraint("user_id", "module_id"),
        Index("ix_module_completions_course_id_user_id", "course_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    # No foreign key on purpose: completion is evaluated against the published snapshot,
    # which may still name a module already deleted from the draft; the record stays.
    module_id: Mapped[int]
    completed_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CourseCompletion(Base):
    __tablename__ = "course_completions"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id"),
        Index("ix_course_completions_course_id_completed_at", "course_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    # The published version whose requirements were met (kept if that version goes).
    course_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_versions.id", ondelete="SET NULL")
    )
    completed_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
