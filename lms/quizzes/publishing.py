"""The question bank a published quiz draws from, frozen when the course is published.

Trainees read the course's published snapshot, never the draft: a quiz lesson's
snapshot therefore carries, under ``"bank"``, the questions it can draw (the questions
of its fixed slots and the active questions of the categories its random slots name),
each with its ``uid``, ``category`` name, ``title`` and ``spec``. Editing or archiving a
question changes what trainees get only at the next publish, as with any other lesson.

Publishing refuses (:class:`QuizPublishError`, a :class:`CatalogError` so the publish
page shows it) a quiz whose fixed slot names a missing or archived question, or whose
random slots ask a category for more questions than it has: such a quiz could not be
started. The instructor's preview keeps drawing from the live draft bank
(:func:`live_bank`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.models import Course, Lesson, localized
from lms.catalog.services import CatalogError
from lms.quizzes.models import Question, QuestionCategory
from lms.quizzes.settings import QuizSettings, QuizSettingsError, of_lesson_settings

BankQuestion = dict[str, Any]  # {"id", "uid", "category", "title", "spec"}


class QuizPublishError(CatalogError):
    """A quiz that could not be started: the publish is refused with this message."""


def live_bank(session: Session, course_id: int) -> list[BankQuestion]:
    """The draft bank's active questions, in the frozen bank's shape (for previews)."""
    names = {
        category.id: category.name
        for category in session.scalars(
            select(QuestionCategory).where(QuestionCategory.course_id == course_id)
        )
    }
    rows = session.scalars(
        select(Question)
        .where(Question.course_id == course_id, Question.archived_at.is_(None))
        .order_by(Question.uid)
    )
    return [
        {
            "id": question.id,
            "uid": question.uid,
            "category": names.get(question.category_id) if question.category_id else None,
            "title": question.title,
            "spec": question.spec,
        }
        for question in rows
    ]


def check_drawable(settings: QuizSettings, bank: list[BankQuestion], lesson_title: str) -> None:
    """Raise :class:`QuizPublishError` unless every slot of the quiz can be filled."""
    by_uid = {question["uid"]: question for question in bank}
    fixed = [slot.question for slot in settings.slots if slot.question is not None]
    for uid in fixed:
        if uid not in by_uid:
            raise QuizPublishError(
                _l(
                    "The quiz “%(lesson)s” uses the question “%(uid)s”, which is archived "
                    "or no longer in the question bank. Remove it from the quiz or restore "
                    "it before publishing.",
                    lesson=lesson_title,
                    uid=uid,
                )
            )
    # Random slots draw without replacement and never a fixed question (as draw_items).
    wanted: Counter[str] = Counter()
    for slot in settings.slots:
        if slot.question is None:
            wanted[slot.category or ""] += slot.count
    for category, count in wanted.items():
        available = sum(1 for q in bank if q["category"] == category and q["uid"] not in set(fixed))
        if available < count:
            raise QuizPublishError(
                _l(
                    "The quiz “%(lesson)s” draws %(count)d questions from the category "
                    "“%(category)s”, which has only %(available)d. Add questions or lower "
                    "the number before publishing.",
                    lesson=lesson_title,
                    count=count,
                    category=category,
                    available=available,
                )
            )


def frozen_bank(session: Session, course: Course, lesson: Lesson) -> dict[str, Any]:
    """What a quiz lesson's snapshot freezes: ``{"questions": [...]}`` sorted by uid.

    Raises :class:`QuizPublishError` when the quiz could not be started.
    """
    title = localized(lesson.texts, "title", course.default_language, course.default_language)
    title = title or lesson.uid
    try:
        settings = of_lesson_settings(lesson.settings)
    except QuizSettingsError as error:
        raise QuizPublishError(
            _l("The quiz “%(lesson)s” has invalid settings: %(error)s", lesson=title, error=error)
        ) from None
    bank = live_bank(session, course.id)
    check_drawable(settings, bank, title)
    fixed = {slot.question for slot in settings.slots if slot.question is not None}
    categories = {slot.category for slot in settings.slots if slot.question is None}
    return {
        "questions": [
            question
            for question in bank
            if question["uid"] in fixed or question["category"] in categories
        ]
    }
