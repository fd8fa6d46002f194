"""Two sponsors, each with staff, a programme and completion records, and API tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask

from lms.accounts.models import Role, User
from lms.api import tokens
from lms.api.models import ApiToken
from lms.credentials.codes import new_verification_code
from lms.credentials.models import CompletionRecord
from lms.db import new_session, utcnow
from lms.programs.models import Programme, Sponsor


@dataclass
class SponsorWorld:
    sponsor_id: int
    staff: User
    programme_id: int
    programme_code: str
    record_ids: list[int]
    public_ids: list[str]
    # What only this sponsor's data contains: must never appear in another's answers.
    secrets: list[str] = field(default_factory=list)


def add_record(
    app: Flask,
    *,
    programme_id: int,
    sponsor_id: int,
    user_id: int,
    issued_at: datetime | None = None,
    revoked_at: datetime | None = None,
    generation: int = 1,
) -> CompletionRecord:
    with new_session(app) as session:
        moment = issued_at or utcnow()
        record = CompletionRecord(
            user_id=user_id,
            programme_id=programme_id,
            sponsor_id=sponsor_id,
            generation=generation,
            verification_code=new_verification_code(),
            issued_at=moment,
            completed_at=moment,
            study_hours=12.5,
            courses=[{"course_id": 1, "code": "WM101", "title": "Waste basics"}],
            revoked_at=revoked_at,
            revoked_reason="mistake" if revoked_at else "",
        )
        session.add(record)
        session.commit()
        return record


def build_sponsor(
    app: Flask, make_user, label: str, trainees: list[tuple[str, str, str]]
) -> SponsorWorld:
    """A sponsor named ``label`` with a staff member, a programme and a record per trainee
    (name, native name, email); the first record is issued a day ago, the rest now."""
    with new_session(app) as session:
        sponsor = Sponsor(name=f"{label} Agency", kind="agency")
        session.add(sponsor)
        session.flush()
        programme = Programme(
            code=f"{label.upper()}-PRG",
            title=f"{label} Landfill Programme",
            sponsor_id=sponsor.id,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        )
        session.add(programme)
        session.commit()
        sponsor_id, programme_id, code = sponsor.id, programme.id, programme.code
    staff = make_user(
        Role.SPONSOR, sponsor_id=sponsor_id, email=f"staff@{label.lower()}.example.org"
    )
    world = SponsorWorld(sponsor_id, staff, programme_id, code, [], [])
    world.secrets += [f"{label} Agency", code, f"{label} Landfill Programme"]
    for index, (name, native, email) in enumerate(trainees):
        trainee = make_user(Role.TRAINEE, name=name, native_name=native, email=email)
        issued = utcnow() - timedelta(days=1) if index == 0 else None
        record = add_record(
            app,
            programme_id=programme_id,
            sponsor_id=sponsor_id,
            user_id=trainee.id,
            issued_at=issued,
        )
        world.record_ids.append(record.id)
        world.public_ids.append(record.public_id)
        world.secrets += [name, native, email, record.public_id, record.verification_code]
    return world


@pytest.fixture
def sponsors(app: Flask, make_user) -> tuple[SponsorWorld, SponsorWorld]:
    own = build_sponsor(
        app,
        make_user,
        "Mekong",
        [
            ("Somchai Jaidee", "สมชาย ใจดี", "somchai@mekong.example.org"),
            ("Hanako Yamada", "山田 花子", "hanako@mekong.example.org"),
            ("Nguyen Van An", "Nguyễn Văn An", "an@mekong.example.org"),
        ],
    )
    other = build_sponsor(
        app,
        make_user,
        "Andes",
        [
            ("Lucia Quispe", "Lucía Quispe", "lucia@andes.example.org"),
            ("Mateo Mamani", "Mateo Mamani Q.", "mateo@andes.example.org"),
        ],
    )
    return own, other


def make_token(
    app: Flask,
    staff: User,
    name: str = "HR import",
    *,
    expires_at: datetime | None = None,
    revoked: bool = False,
) -> tuple[int, str]:
    """A token of ``staff``'s sponsor: (id, secret)."""
    with new_session(app) as session:
        actor = session.get(User, staff.id)
        assert actor is not None
        new = tokens.create_token(session, actor, name, None)
        if expires_at is not None:
            new.token.expires_at = expires_at
        if revoked:
            tokens.revoke_token(session, actor, new.token)
        session.commit()
        return new.token.id, new.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def load_token(app: Flask, token_id: int) -> ApiToken:
    with new_session(app) as session:
        token = session.get(ApiToken, token_id)
        assert token is not None
        return token


A_WHILE_AGO = datetime(2020, 1, 1, tzinfo=UTC)
