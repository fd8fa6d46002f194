"""Shared arrangements of the instructor-side quiz tests (bank, editor, results)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from lms.accounts.models import User
from lms.catalog import services as catalog
from lms.db import new_session


@dataclass
class World:
    course_id: int
    course_code: str
    lesson_id: int
    instructor: User
    other_instructor: User
    other_course_id: int


def make_world(app: Flask, make_user) -> World:
    """A course (en + ja) with a quiz lesson, taught by ``instructor``; another course
    taught by ``other_instructor``."""
    instructor = make_user("instructor", name="Ichiro Instructor")
    other = make_user("instructor", name="Other Instructor")
    with new_session(app) as session:
        me = session.get(User, instructor.id)
        course = catalog.create_course(session, me, catalog.CourseData("WTE-201", "Incineration"))
        catalog.update_course_texts(course, "ja", "焼却", "")
        module = catalog.add_module(session, course, "en", "Module 1")
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="quiz", title="Quiz 1", language="en")
        )
        them = session.get(User, other.id)
        other_course = catalog.create_course(
            session, them, catalog.CourseData("OTH-1", "Other course")
        )
        session.commit()
        return World(
            course_id=course.id,
            course_code=course.code,
            lesson_id=lesson.id,
            instructor=instructor,
            other_instructor=other,
            other_course_id=other_course.id,
        )


def single_choice(text: str = "Burnable waste is collected", languages=("en",)) -> dict:
    return {
        "type": "single_choice",
        "points": 1,
        "texts": {lang: {"text": f"{text} ({lang})"} for lang in languages},
        "choices": [
            {
                "id": "ka",
                "texts": {lang: {"text": f"twice a week {lang}"} for lang in languages},
                "weight": 1,
            },
            {
                "id": "kb",
                "texts": {lang: {"text": f"once a month {lang}"} for lang in languages},
                "weight": 0,
            },
        ],
    }
