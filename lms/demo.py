"""Demo data for ``lms demo``: idempotent, so running it twice changes nothing."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.accounts.services import create_user, find_user_by_email, set_password
from lms.db import new_session
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor, SponsorKind

SPONSORS = [
    (
        "Ministry of Urban Environment",
        SponsorKind.MINISTRY,
        "Malee Srisuk",
        "training@mue.example.org",
    ),
    ("Asian Cities Development Bank", SponsorKind.BANK, "Omar Haddad", "capacity@acdb.example.org"),
]
PROGRAMMES = [
    ("WTE-2026", "Waste-to-Energy Plant Operations 2026", 0, date(2026, 10, 1), date(2027, 3, 31)),
    ("SWC-2027", "Solid Waste Collection Planning 2027", 1, date(2027, 1, 15), date(2027, 6, 30)),
]
# (role, email, name, name in own script, country, language, time zone, sponsor index)
ACCOUNTS: list[tuple[Role, str, str, str, str, str | None, str, int | None]] = [
    (
        Role.ADMIN,
        "admin@kenshu.example.org",
        "Aiko Tanaka",
        "田中 愛子",
        "JP",
        "ja",
        "Asia/Tokyo",
        None,
    ),
    (
        Role.INSTRUCTOR,
        "instructor@kenshu.example.org",
        "Kenji Sato",
        "佐藤 健二",
        "JP",
        "ja",
        "Asia/Tokyo",
        None,
    ),
    (
        Role.SPONSOR,
        "sponsor1@kenshu.example.org",
        "Malee Srisuk",
        "มาลี ศรีสุข",
        "TH",
        "en",
        "Asia/Bangkok",
        0,
    ),
    (
        Role.SPONSOR,
        "sponsor2@kenshu.example.org",
        "Omar Haddad",
        "عمر حداد",
        "JO",
        "en",
        "Asia/Amman",
        1,
    ),
    (
        Role.TRAINEE,
        "trainee1@kenshu.example.org",
        "Somchai Jaidee",
        "สมชาย ใจดี",
        "TH",
        "en",
        "Asia/Bangkok",
        None,
    ),
    (
        Role.TRAINEE,
        "trainee2@kenshu.example.org",
        "Nguyen Thi Lan",
        "Nguyễn Thị Lan",
        "VN",
        "en",
        "Asia/Ho_Chi_Minh",
        None,
    ),
    (
        Role.TRAINEE,
        "trainee3@kenshu.example.org",
        "Grace Wanjiru",
        "Grace Wanjiru",
        "KE",
        None,
        "Africa/Nairobi",
        None,
    ),
]


def _sponsor(session: Session, name: str, kind: str, contact: str, email: str) -> Sponsor:
    sponsor = session.scalar(select(Sponsor).where(Sponsor.name == name))
    if sponsor is None:
        sponsor = Sponsor(name=name, kind=kind, contact_name=contact, contact_email=email)
        session.add(sponsor)
        session.flush()
    return sponsor


def load_demo(app: Flask, password: str) -> list[tuple[str, str]]:
    """Create (or refresh the passwords of) the demo accounts; returns (role, email) pairs."""
    with app.app_context(), new_session(app) as session:
        sponsors = [_sponsor(session, *row) for row in SPONSORS]
        programmes = []
        for code, title, sponsor_index, starts, ends in PROGRAMMES:
            programme = session.scalar(select(Programme).where(Programme.code == code))
            if programme is None:
                programme = Programme(
                    code=code,
                    title=title,
                    starts_on=starts,
                    ends_on=ends,
                    sponsor_id=sponsors[sponsor_index].id,
                )
                session.add(programme)
                session.flush()
            programmes.append(programme)
        printed = []
        for role, email, name, native, country, locale, tz, sponsor_index in ACCOUNTS:
            user: User | None = find_user_by_email(session, email)
            if user is None:
                user = create_user(
                    session,
                    email=email,
                    name=name,
                    native_name=native,
                    country=country,
                    locale=locale,
                    timezone=tz,
                    roles=[role],
                    password=password,
                    sponsor_id=sponsors[sponsor_index].id if sponsor_index is not None else None,
                    organisation=sponsors[sponsor_index].name
                    if sponsor_index is not None
                    else "Clean Authority of Tokyo"
                    if role != Role.TRAINEE
                    else "City Environment Office",
                )
            else:
                set_password(user, password)
            if role == Role.TRAINEE:
                enrolled = session.scalar(
                    select(Enrolment).where(
                        Enrolment.user_id == user.id, Enrolment.programme_id == programmes[0].id
                    )
                )
                if enrolled is None:
                    session.add(Enrolment(user_id=user.id, programme_id=programmes[0].id))
            printed.append((str(role), email))
        _sample_course(app, session, programmes[0])
        session.commit()
    return printed


def _sample_course(app: Flask, session: Session, programme: Programme) -> None:
    """Import the sample course from content/ and include it in the first programme."""
    from lms.content.sample import load_sample_course  # noqa: PLC0415
    from lms.storage import get_storage  # noqa: PLC0415

    instructor = find_user_by_email(session, "instructor@kenshu.example.org")
    assert instructor is not None
    course = load_sample_course(session, get_storage(app), instructor)
    included = session.scalar(
        select(ProgrammeCourse).where(
            ProgrammeCourse.programme_id == programme.id, ProgrammeCourse.course_id == course.id
        )
    )
    if included is None:
        session.add(ProgrammeCourse(programme_id=programme.id, course_id=course.id, position=0))
