"""Courses, modules and lessons, with their texts in several languages.

Authors edit the draft (these rows); publishing freezes the draft into a
:class:`CourseVersion` snapshot that trainees read. Lessons keep their id across
edits and republishing (a removed lesson is archived, not deleted), so progress
recorded against a lesson id is never orphaned.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow

# {language: {field: text}}, e.g. {"en": {"title": "Incineration"}, "ja": {"title": "焼却"}}
Texts = dict[str, dict[str, str]]


class LessonKind(StrEnum):
    VIDEO = "video"
    READING = "reading"
    DOCUMENT = "document"
    QUIZ = "quiz"
    TOUR = "tour"


DEFAULT_VIDEO_THRESHOLD = 0.9


def localized(texts: Texts, field: str, language: str, default_language: str) -> str:
    """The text in ``language`` where it exists, else in the default language."""
    for lang in (language, default_language):
        value = (texts.get(lang) or {}).get(field)
        if value:
            return value
    for values in texts.values():  # last resort: any language that has it
        if values.get(field):
            return values[field]
    return ""


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # The title in the default language, kept in step with ``texts`` for sorting.
    title: Mapped[str] = mapped_column(String(200))
    default_language: Mapped[str] = mapped_column(String(16), default="en")
    texts: Mapped[Texts] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_versions.id", use_alter=True, ondelete="SET NULL")
    )
    draft_changed: Mapped[bool] = mapped_column(default=True)

    modules: Mapped[list[Module]] = relationship(
        back_populates="course", order_by="Module.position", cascade="all, delete-orphan"
    )
    instructors: Mapped[list[CourseInstructor]] = relationship(
        back_populates="course", cascade="all, delete-orphan"
    )
    published_version: Mapped[CourseVersion | None] = relationship(
        foreign_keys=[published_version_id], post_update=True
    )

    def text(self, field: str, language: str) -> str:
        return localized(self.texts, field, language, self.default_language) or (
            self.title if field == "title" else ""
        )

    @property
    def languages(self) -> list[str]:
        return sorted(self.texts, key=lambda lang: (lang != self.default_language, lang))


class CourseInstructor(Base):
    __tablename__ = "course_instructors"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    course: Mapped[Course] = relationship(back_populates="instructors")


class Module(Base):
    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("course_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(64))  # stable id used by course packages
    position: Mapped[int] = mapped_column(default=0)
    texts: Mapped[Texts] = mapped_column(JSON, default=dict)

    course: Mapped[Course] = relationship(back_populates="modules")
    lessons: Mapped[list[Lesson]] = relationship(
        order_by="Lesson.position",
        primaryjoin="and_(Lesson.module_id == Module.id, Lesson.archived_at.is_(None))",
        viewonly=True,
    )


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (UniqueConstraint("course_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    module_id: Mapped[int | None] = mapped_column(
        ForeignKey("modules.id", ondelete="SET NULL"), index=True
    )
    uid: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(default=True)
    estimated_minutes: Mapped[int] = mapped_column(default=10)
    # Share of a video's length that must really be watched (video lessons only).
    completion_threshold: Mapped[float] = mapped_column(default=DEFAULT_VIDEO_THRESHOLD)
    texts: Mapped[Texts] = mapped_column(JSON, default=dict)
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_assets.id", ondelete="SET NULL"), index=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    archived_at: Mapped[datetime | None]

    module: Mapped[Module | None] = relationship()
    media: Mapped[MediaAsset | None] = relationship()  # noqa: F821


class CourseVersion(Base):
    """A published, frozen copy of a course's draft: what trainees see."""

    __tablename__ = "course_versions"
    __table_args__ = (UniqueConstraint("course_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    number: Mapped[int]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


from lms.media.models import MediaAsset  # noqa: E402,F401
