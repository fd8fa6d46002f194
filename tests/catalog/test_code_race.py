"""Two people creating a course with the same code at once: a message, not a server error.

The race is real: the pre-check finds no clash, then another connection commits a
course with the same code just before this request's INSERT reaches the database,
whose unique constraint refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select

from lms.accounts.models import Role, User
from lms.audit.models import AuditEvent
from lms.catalog import services
from lms.catalog.models import Course
from lms.db import get_engine, new_session
from tests.conftest import login

MESSAGE = "A course with this code already exists."


@contextmanager
def rival_creates_first(app: Flask, code: str) -> Iterator[list[int]]:
    """Just before the first INSERT INTO courses, another connection commits a course
    with ``code``; yields the rival's id once it exists."""
    engine = get_engine(app)
    rivals: list[int] = []
    fired: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.lstrip().upper().startswith("INSERT INTO COURSES"):
            return
        fired.append(True)  # the rival's own INSERT passes through here too
        with new_session(app) as other:
            course = Course(code=code, title="The other course", texts={"en": {"title": "Other"}})
            other.add(course)
            other.commit()
            rivals.append(course.id)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield rivals
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _courses(app: Flask) -> list[tuple[str, str]]:
    with new_session(app) as session:
        return [(c.code, c.title) for c in session.scalars(select(Course).order_by(Course.id))]


def _created_events(app: Flask) -> int:
    with new_session(app) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "course_created")
            )
            or 0
        )


def test_creating_a_course_whose_code_was_just_taken(
    app: Flask, client, make_user: Callable[..., User]
) -> None:
    login(client, make_user(Role.INSTRUCTOR).email)
    with rival_creates_first(app, "WTE-101") as rivals:
        response = client.post(
            "/teach/courses/new",
            data={"code": "WTE-101", "title": "Incineration", "default_language": "en"},
        )
    assert rivals, "the race was not staged"
    assert response.status_code == 400
    assert MESSAGE in response.get_data(as_text=True)
    assert _courses(app) == [("WTE-101", "The other course")]
    assert _created_events(app) == 0


def _data(code: str) -> services.CourseData:
    return services.CourseData(code=code, title="Incineration")


def test_the_unit_of_work_stays_usable_after_the_clash(
    app: Flask, make_user: Callable[..., User]
) -> None:
    admin = make_user(Role.ADMIN)
    expected = ["AFTER-1", "RACE-1"]
    with app.app_context(), new_session(app) as session:
        actor = session.get(User, admin.id)
        assert actor is not None
        # SQLite lets one writer at a time: there the rival could not commit after a write.
        if session.get_bind().dialect.name == "postgresql":
            services.create_course(session, actor, _data("KEPT-1"))
            expected.append("KEPT-1")
        with rival_creates_first(app, "RACE-1"):
            try:
                services.create_course(session, actor, _data("RACE-1"))
            except services.CatalogError as error:
                assert str(error.message) == MESSAGE
            else:
                raise AssertionError("the clash was not reported")
        services.create_course(session, actor, _data("AFTER-1"))
        session.commit()
    assert sorted(code for code, _title in _courses(app)) == sorted(expected)


def test_a_created_course_is_undone_with_its_unit_of_work(
    app: Flask, make_user: Callable[..., User]
) -> None:
    """The savepoint must not commit on its own (pysqlite opens transactions lazily)."""
    admin = make_user(Role.ADMIN)
    with app.app_context(), new_session(app) as session:
        actor = session.get(User, admin.id)
        assert actor is not None
        services.create_course(session, actor, _data("UNDONE-1"))
        session.rollback()
    assert _courses(app) == []
