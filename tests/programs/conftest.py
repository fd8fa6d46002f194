"""Helpers for the sponsor and programme tests: rows made directly in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from lms.catalog.models import Course
from lms.db import get_engine
from lms.programs.models import Enrolment, Programme, Sponsor


@pytest.fixture
def make_sponsor(db: Session) -> Callable[..., Sponsor]:
    def factory(name: str = "Ministry of Environment", kind: str = "ministry") -> Sponsor:
        sponsor = Sponsor(name=name, kind=kind)
        db.add(sponsor)
        db.commit()
        return sponsor

    return factory


@pytest.fixture
def make_programme(db: Session) -> Callable[..., Programme]:
    def factory(
        sponsor: Sponsor, code: str = "TKY-2025-01", title: str = "Waste basics"
    ) -> Programme:
        programme = Programme(
            code=code,
            title=title,
            sponsor_id=sponsor.id,
            starts_on=date(2025, 4, 1),
            ends_on=date(2025, 9, 30),
        )
        db.add(programme)
        db.commit()
        return programme

    return factory


@pytest.fixture
def make_course(db: Session) -> Callable[..., Course]:
    def factory(code: str, title: str | None = None) -> Course:
        course = Course(code=code, title=title or f"Course {code}")
        db.add(course)
        db.commit()
        return course

    return factory


@pytest.fixture
def enrol_directly(db: Session) -> Callable[..., Enrolment]:
    def factory(programme: Programme, user_id: int, status: str = "active") -> Enrolment:
        enrolment = Enrolment(programme_id=programme.id, user_id=user_id, status=status)
        db.add(enrolment)
        db.commit()
        return enrolment

    return factory


@pytest.fixture
def count_queries(app: Flask) -> Callable[[], object]:
    """``with count_queries() as statements:`` collects the SQL run inside the block."""

    @contextmanager
    def counter() -> Iterator[list[str]]:
        statements: list[str] = []

        def listener(*args: object) -> None:
            statements.append(str(args[2]))

        engine = get_engine(app)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", listener)

    return counter
