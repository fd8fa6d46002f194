"""Helpers that drive a trainee through a programme to a completion record."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import Role
from lms.credentials.models import CompletionRecord
from lms.db import new_session
from tests.learning.test_completion import finish, make_course, make_programme


@dataclass
class Completed:
    trainee_id: int
    trainee_email: str
    programme_id: int
    lesson_id: int
    record_id: int
    code: str


def complete_programme(app: Flask, make_user, **trainee_fields) -> Completed:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE, **trainee_fields)
    built = make_course(app, instructor.id, [[("reading", True)]])
    programme_id = make_programme(app, [(built.course_id, True)], [trainee.id])
    finish(app, trainee.id, built.lessons[0])
    with new_session(app) as session:
        record = session.scalar(
            select(CompletionRecord).where(CompletionRecord.user_id == trainee.id)
        )
        assert record is not None
        return Completed(
            trainee.id,
            trainee.email,
            programme_id,
            built.lessons[0],
            record.id,
            record.verification_code,
        )


@pytest.fixture
def completed(app: Flask, make_user) -> Completed:
    return complete_programme(
        app, make_user, name="Hanako Yamada", native_name="山田 花子", email="hanako@example.org"
    )
