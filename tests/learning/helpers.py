"""Shared helpers for the authoring, publishing and trainee tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from lms.accounts.models import User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson, Module
from lms.db import get_engine, new_session
from lms.learning.models import LessonProgress, ProgressStatus
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor


# Argon2id with the cheapest parameters: each real hash costs 0.1-0.2 s.
def location_id(response: Any, pattern: str) -> int:
    """The id in a redirect's Location header, e.g. pattern r"/courses/(\\d+)"."""
    assert response.status_code == 302, response.status_code
    match = re.search(pattern, response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def create_course(client: FlaskClient, code: str = "WTE-101", title: str = "Incineration", **extra):
    response = client.post(
        "/teach/courses/new",
        data={"code": code, "title": title, "default_language": "en", **extra},
    )
    return location_id(response, r"/teach/courses/(\d+)")


def add_module(client: FlaskClient, course_id: int, title: str, lang: str = "en") -> int:
    response = client.post(
        f"/teach/courses/{course_id}/modules?lang={lang}", data={"new-module-title": title}
    )
    return location_id(response, r"#module-(\d+)")


def add_lesson(
    client: FlaskClient, course_id: int, module_id: int, title: str, kind: str = "reading"
) -> int:
    response = client.post(
        f"/teach/courses/{course_id}/modules/{module_id}/lessons?lang=en",
        data={f"add-{module_id}-kind": kind, f"add-{module_id}-title": title},
    )
    return location_id(response, r"/lessons/(\d+)")


def edit_lesson(client: FlaskClient, course_id: int, lesson_id: int, lang: str = "en", **fields):
    data = {
        "kind": "reading",
        "title": "",
        "body": "",
        "required": "y",
        "estimated_minutes": "10",
        **fields,
    }
    if data.get("required") in (False, None):
        data.pop("required")
    return client.post(f"/teach/courses/{course_id}/lessons/{lesson_id}?lang={lang}", data=data)


def publish(client: FlaskClient, course_id: int):
    return client.post(f"/teach/courses/{course_id}/publish")


def build_course(
    app: Flask,
    instructor_id: int | None,
    lessons: int = 2,
    modules: int = 1,
    code: str = "C-1",
    published: bool = True,
    texts: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A course made through the services (fast), optionally published."""
    with new_session(app) as session:
        actor = session.get(User, instructor_id) if instructor_id else None
        if actor is None:
            actor = session.scalar(select(User))
        course = catalog.create_course(
            session, actor, catalog.CourseData(code=code, title="Course " + code)
        )
        if instructor_id is not None and not course.instructors:
            catalog.set_instructors(session, course, [instructor_id])
        if texts:
            course.texts = texts
        module_ids, lesson_ids = [], []
        for m in range(modules):
            module = catalog.add_module(session, course, "en", f"Module {m + 1}")
            module_ids.append(module.id)
            for n in range(lessons):
                lesson = catalog.add_lesson(
                    session,
                    module,
                    catalog.LessonData(
                        kind="reading",
                        title=f"Lesson {m + 1}.{n + 1}",
                        language="en",
                        body=f"Body of lesson {m + 1}.{n + 1}",
                    ),
                )
                lesson_ids.append(lesson.id)
        if published:
            catalog.publish(session, actor, course)
        session.commit()
        return {"course_id": course.id, "module_ids": module_ids, "lesson_ids": lesson_ids}


def enrol(
    app: Flask, user_id: int, course_id: int, status: str = "active", code: str = "P-1"
) -> dict[str, int]:
    """Put the course in a programme (created if needed) and enrol the user in it."""
    with new_session(app) as session:
        programme = session.scalar(select(Programme).where(Programme.code == code))
        if programme is None:
            sponsor = Sponsor(name=f"Sponsor {code}", kind="ministry")
            session.add(sponsor)
            session.flush()
            programme = Programme(
                code=code,
                title=f"Programme {code}",
                sponsor_id=sponsor.id,
                starts_on=date(2026, 1, 1),
                ends_on=date(2026, 12, 31),
            )
            session.add(programme)
            session.flush()
        if not session.scalar(
            select(ProgrammeCourse).where(
                ProgrammeCourse.programme_id == programme.id,
                ProgrammeCourse.course_id == course_id,
            )
        ):
            session.add(ProgrammeCourse(programme_id=programme.id, course_id=course_id))
        if user_id and not session.scalar(
            select(Enrolment).where(
                Enrolment.programme_id == programme.id, Enrolment.user_id == user_id
            )
        ):
            session.add(Enrolment(programme_id=programme.id, user_id=user_id, status=status))
        session.commit()
        return {"programme_id": programme.id, "sponsor_id": programme.sponsor_id}


@contextmanager
def count_statements(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = get_engine(app)

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def load(app: Flask, model: type, ident: int) -> Any:
    with new_session(app) as session:
        return session.get(model, ident)


def draft(app: Flask, course_id: int) -> tuple[Course, list[tuple[Module, list[Lesson]]]]:
    with new_session(app) as session:
        course = session.get(Course, course_id)
        assert course is not None
        tree = catalog.course_tree(session, course)
        session.expunge_all()
        return course, tree


# A progress row as the tracker would have left it, for page and report tests.
def add_progress(
    app: Flask,
    user_id: int,
    course_id: int,
    lesson_id: int,
    status: str,
    watched: float = 0.0,
    duration: float | None = None,
    at: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
) -> None:
    with new_session(app) as session:
        session.add(
            LessonProgress(
                user_id=user_id,
                lesson_id=lesson_id,
                course_id=course_id,
                status=status,
                watched=[[0, int(watched * 10)]] if watched else [],
                watched_seconds=watched,
                duration=duration,
                position=watched,
                started_at=at,
                last_activity_at=at,
                completed_at=at if status == ProgressStatus.DONE else None,
            )
        )
        session.commit()
