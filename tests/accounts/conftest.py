"""Helpers for the account tests: the outbox, emailed links, a programme to enrol in."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.accounts.models import User, UserToken
from lms.audit.models import AuditEvent
from lms.programs.models import Enrolment, Programme, Sponsor

LINK = re.compile(r"https?://[^\s/]+(/(?:password/reset|invitation)/[A-Za-z0-9_\-]+)")
FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)


def outbox(app: Flask) -> Path:
    return app.config["LMS_SETTINGS"].instance_path / "outbox"


def sent_mail(app: Flask) -> list[EmailMessage]:
    """Every message written to ``<instance>/outbox/``, oldest first."""
    folder = outbox(app)
    if not folder.is_dir():
        return []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def link_in(message: EmailMessage) -> str:
    """The path of the single link in a message body."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    links = LINK.findall(body.get_content())
    assert len(links) == 1, f"expected one link in {body.get_content()!r}"
    return links[0]


def flashes(html: str) -> list[tuple[str, str]]:
    return [(category, text.strip()) for category, text in FLASH.findall(html)]


def audit(db: Session, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def reload_user(db: Session, user_id: int) -> User:
    db.expire_all()
    user = db.get(User, user_id)
    assert user is not None
    return user


def counts(db: Session) -> dict[str, int]:
    db.expire_all()
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (User, Enrolment, UserToken, AuditEvent)
    }


def set_cookie_headers(response, name: str) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]


def cookie_attributes(header: str) -> set[str]:
    """The lower-cased attribute names and ``name=value`` flags of one Set-Cookie header."""
    return {part.strip().lower() for part in header.split(";")[1:]}


def signed_in(client: FlaskClient) -> bool:
    """Whether the client's session is signed in (a protected page answers 200)."""
    response = client.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    return False


@pytest.fixture
def programme(db: Session) -> Programme:
    sponsor = Sponsor(name="Ministry of Testing", kind="ministry")
    db.add(sponsor)
    db.flush()
    programme = Programme(
        code="TST-2026",
        title="Testing Waste Plants 2026",
        sponsor_id=sponsor.id,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
    )
    db.add(programme)
    db.commit()
    return programme
