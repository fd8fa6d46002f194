"""Question banks and quiz attempts.

**Banks.** Each course has its own bank: :class:`Question` rows (a validated spec from
:mod:`lms.quizzes.questions` in a JSON column) filed under :class:`QuestionCategory`.
A question keeps a stable ``uid`` so course packages and GIFT files can refer to it.
The quiz itself (settings and which questions) lives in the quiz lesson's
``settings["quiz"]`` (see :mod:`lms.quizzes.settings`), so publishing a course freezes
it with the rest of the course, together with the specs of the bank questions it can
draw (:mod:`lms.quizzes.publishing`): trainees never draw from the live bank, so an
edit or an archive reaches them only at the next publish.

**Attempts.** Starting an attempt freezes everything it shows: the settings, the
questions' specs (a later edit of the bank changes no attempt), their order and the
order of their choices (``items``). One :class:`QuizAnswer` row per item is written at
the start, so saving an answer is an ``UPDATE`` (never an insert race) that applies
only while the attempt is in progress and only when the client's ``revision`` is newer
than the one stored (a save replayed from an offline queue, or arriving late, never
overwrites a newer answer).

``UNIQUE (user_id, lesson_id, number)`` makes two concurrent starts produce one
attempt; submitting is ``UPDATE ... WHERE status = 'in_progress'``, so a double click or
a retried request grades once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class QuestionCategory(Base):
    __tablename__ = "question_categories"
    __table_args__ = (UniqueConstraint("course_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    # GIFT's "$CATEGORY: a/b" paths are kept whole as the name.
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("course_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("question_categories.id", ondelete="SET NULL"), index=True
    )
    uid: Mapped[str] = mapped_column(String(64))  # stable id used by packages and exports
    title: Mapped[str] = mapped_column(String(200), default="")  # the author's short name
    type: Mapped[str] = mapped_column(String(30))  # == spec["type"], for listing and filters
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # output of questions.validate()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None]  # removed from the bank; attempts keep their copy

    category: Mapped[QuestionCategory | None] = relationship()


class AttemptStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    GRADED = "graded"


class FinishReason(StrEnum):
    SUBMITTED = "submitted"  # the trainee submitted
    DEADLINE = "deadline"  # the time limit passed; graded from what was saved


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("user_id", "lesson_id", "number"),
        Index("ix_quiz_attempts_lesson_id_status", "lesson_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    course_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_versions.id", ondelete="SET NULL")
    )
    number: Mapped[int]  # 1, 2, ... per trainee and quiz
    status: Mapped[str] = mapped_column(String(20), default=AttemptStatus.IN_PROGRESS)
    finish_reason: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime | None]  # fixed at the start when there is a time limit
    finished_at: Mapped[datetime | None]
    seed: Mapped[int] = mapped_column(BigInteger)  # of the shuffles, kept for audit
    # QuizSettings.to_dict() as at the start.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    # [{"question_id", "uid", "spec", "layout"}] in the order shown.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score: Mapped[float | None]  # sum of the answers' effective scores, once graded
    max_score: Mapped[float] = mapped_column(default=0.0)
    passed: Mapped[bool | None]

    answers: Mapped[list[QuizAnswer]] = relationship(
        order_by="QuizAnswer.position", cascade="all, delete-orphan", back_populates="attempt"
    )

    @property
    def percent(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return 100.0 * self.score / self.max_score


class QuizAnswer(Base):
    __tablename__ = "quiz_answers"

    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_attempts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)  # index into attempt.items
    # questions.normalise_response() output; None = not answered.
    response: Mapped[Any | None] = mapped_column(JSON)
    # The client's counter for this answer (ms clock or sequence): only newer saves apply.
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    saved_at: Mapped[datetime | None]
    # Set when graded: questions.grade() of the frozen spec.
    score: Mapped[float | None]
    fraction: Mapped[float | None]
    correct: Mapped[bool | None]
    feedback: Mapped[list[str]] = mapped_column(JSON, default=list)
    # An instructor's override (audited): counts instead of ``score`` when set.
    override_score: Mapped[float | None]
    override_reason: Mapped[str] = mapped_column(String(500), default="")
    overridden_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    overridden_at: Mapped[datetime | None]

    attempt: Mapped[QuizAttempt] = relationship(back_populates="answers")

    @property
    def effective_score(self) -> float | None:
        return self.override_score if self.override_score is not None else self.score
