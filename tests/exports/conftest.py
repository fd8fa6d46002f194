"""A world of two sponsors with completion records, made directly in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from flask import Flask

from lms.accounts.models import Role
from lms.credentials.codes import new_verification_code
from lms.credentials.models import CompletionRecord
from lms.db import new_session
from lms.programs.models import Enrolment, EnrolmentStatus, Programme, Sponsor


@dataclass
class World:
    sponsor_id: int
    other_sponsor_id: int
    programme_id: int  # the sponsor's, with four records
    second_programme_id: int  # the sponsor's too, with one record
    other_programme_id: int  # the other sponsor's, with one record
    staff_email: str
    other_staff_email: str
    trainee_email: str
    admin_email: str
    records: dict[str, int] = field(default_factory=dict)  # trainee email -> record id
    codes: dict[str, str] = field(default_factory=dict)  # trainee email -> code


def _programme(session, sponsor_id: int, code: str, title: str) -> Programme:
    programme = Programme(
        code=code,
        title=title,
        sponsor_id=sponsor_id,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
    )
    session.add(programme)
    session.flush()
    return programme


def add_record(
    session,
    programme: Programme,
    user_id: int,
    completed: datetime,
    *,
    courses: list[dict] | None = None,
    hours: float = 12.5,
    revoked: bool = False,
) -> CompletionRecord:
    session.add(
        Enrolment(
            programme_id=programme.id,
            user_id=user_id,
            status=EnrolmentStatus.COMPLETED,
            completed_at=completed,
        )
    )
    record = CompletionRecord(
        user_id=user_id,
        programme_id=programme.id,
        sponsor_id=programme.sponsor_id,
        verification_code=new_verification_code(),
        completed_at=completed,
        issued_at=completed,
        study_hours=hours,
        courses=courses
        if courses is not None
        else [{"course_id": 1, "code": "WM101", "title": "Landfill basics"}],
        revoked_at=completed if revoked else None,
        revoked_reason="Mistake" if revoked else "",
    )
    session.add(record)
    session.flush()
    return record


@pytest.fixture
def world(app: Flask, make_user) -> World:
    with new_session(app) as session:
        own = Sponsor(name="Japan Ministry", kind="ministry")
        other = Sponsor(name="Other Bank", kind="bank")
        session.add_all([own, other])
        session.flush()
        own_id, other_id = own.id, other.id
        session.commit()
    trainees = {
        "hanako@example.org": make_user(
            Role.TRAINEE,
            email="hanako@example.org",
            name="Hanako Yamada",
            native_name="山田 花子",
            country="JP",
            organisation="東京都環境局",
        ),
        "somchai@example.org": make_user(
            Role.TRAINEE,
            email="somchai@example.org",
            name="Somchai Jaidee",
            native_name="สมชาย ใจดี",
            country="TH",
            organisation="กรุงเทพมหานคร",
        ),
        "maria@example.org": make_user(
            Role.TRAINEE,
            email="maria@example.org",
            name="Maria Silva",
            country="BR",
            organisation='=HYPERLINK("http://evil.example")',
        ),
        "ahmed@example.org": make_user(
            Role.TRAINEE,
            email="ahmed@example.org",
            name="Ahmed Hassan",
            native_name="أحمد حسن",
            country="EG",
        ),
        "pedro@example.org": make_user(
            Role.TRAINEE, email="pedro@example.org", name="Pedro Other", country="BR"
        ),
        "kenji@example.org": make_user(
            Role.TRAINEE, email="kenji@example.org", name="Kenji Second", country="JP"
        ),
    }
    staff = make_user(Role.SPONSOR, email="staff@ministry.example", sponsor_id=own_id)
    other_staff = make_user(Role.SPONSOR, email="staff@bank.example", sponsor_id=other_id)
    admin = make_user(Role.ADMIN, email="admin@example.org")
    world = World(
        sponsor_id=own_id,
        other_sponsor_id=other_id,
        programme_id=0,
        second_programme_id=0,
        other_programme_id=0,
        staff_email=staff.email,
        other_staff_email=other_staff.email,
        trainee_email="hanako@example.org",
        admin_email=admin.email,
    )
    with new_session(app) as session:
        main = _programme(session, own_id, "JP-2026-01", "Waste management 2026")
        second = _programme(session, own_id, "JP-2026-02", "Recycling 2026")
        foreign = _programme(session, other_id, "BK-2026-01", "Bank programme")
        made = [
            (
                main,
                "hanako@example.org",
                datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
                {
                    "courses": [
                        {"course_id": 1, "code": "WM101", "title": "Landfill basics", "score": 92},
                        {"course_id": 2, "code": "WM102", "title": "Composting", "score": 85},
                    ]
                },
            ),
            (
                main,
                "somchai@example.org",
                datetime(2026, 3, 15, 23, 30, tzinfo=UTC),
                {"revoked": True},
            ),
            (main, "maria@example.org", datetime(2026, 4, 2, 8, 0, tzinfo=UTC), {}),
            (main, "ahmed@example.org", datetime(2026, 4, 30, 12, 0, tzinfo=UTC), {"hours": 7.25}),
            (second, "kenji@example.org", datetime(2026, 3, 20, 12, 0, tzinfo=UTC), {}),
            (foreign, "pedro@example.org", datetime(2026, 3, 10, 12, 0, tzinfo=UTC), {}),
        ]
        for programme, email, when, extra in made:
            record = add_record(session, programme, trainees[email].id, when, **extra)
            world.records[email] = record.id
            world.codes[email] = record.verification_code
        world.programme_id, world.second_programme_id = main.id, second.id
        world.other_programme_id = foreign.id
        session.commit()
    return world
