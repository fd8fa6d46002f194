"""Inviting people one by one and from a CSV file."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.programs.models import Enrolment
from tests.accounts.conftest import (
    audit,
    counts,
    flashes,
    link_in,
    sent_mail,
    signed_in,
)
from tests.conftest import login

NEW_PASSWORD = "my first kenshu password"
HEADER = "name,email,country,organisation,language,programme\n"


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user(Role.ADMIN, email="office@example.org")
    client = app.test_client()
    login(client, admin.email)
    return client


def invite_one(client, **fields: str):
    data = {
        "one-name": "Somchai Jaidee",
        "one-email": "somchai@example.org",
        "one-country": "TH",
        "one-organisation": "Bangkok Metropolitan Administration",
        "one-language": "",
        "one-role": "trainee",
        "one-sponsor": "",
        "one-programme": "",
    }
    data.update({f"one-{k}": v for k, v in fields.items()})
    return client.post("/admin/invitations", data=data)


def upload(client, content: bytes, filename: str = "trainees.csv"):
    return client.post(
        "/admin/invitations/csv",
        data={"csv-file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def user_by_email(db, email: str) -> User | None:
    db.expire_all()
    return db.scalar(select(User).where(User.email == email))


def enrolled_codes(db, user: User) -> list[str]:
    return sorted(
        e.programme.code for e in db.scalars(select(Enrolment).filter_by(user_id=user.id))
    )


def test_invite_one_then_accept(app, admin_client, db, programme):
    response = invite_one(admin_client, programme=programme.code, language="en")
    assert response.status_code == 302
    user = user_by_email(db, "somchai@example.org")
    assert user is not None
    assert user.password_hash is None
    assert user.role_names == {"trainee"}
    assert user.country == "TH"
    assert enrolled_codes(db, user) == [programme.code]
    [event] = audit(db, "invitation_sent")
    assert event.details["programme"] == programme.code

    [message] = sent_mail(app)
    assert message["To"] == "somchai@example.org"
    assert "invited" in message["Subject"]
    link = link_in(message)
    assert link.startswith("/invitation/")

    # Without a password, nobody can sign in as the invitee yet.
    visitor = app.test_client()
    login(visitor, user.email, "")
    assert not signed_in(visitor)

    page = visitor.get(link)
    assert page.status_code == 200
    assert "somchai@example.org" in page.get_data(as_text=True)
    response = visitor.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    home = visitor.get("/").get_data(as_text=True)
    assert "Welcome to Kenshu!" in home
    assert "My programmes" in home
    assert programme.title in home
    assert len(audit(db, "invitation_accepted")) == 1
    assert user_by_email(db, user.email).password_hash.startswith("$argon2id$")

    # The link works once.
    again = app.test_client().get(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    other = app.test_client()
    login(other, user.email, NEW_PASSWORD)
    assert signed_in(other)


def test_invitation_email_follows_the_invitee_language(app, admin_client, db):
    assert invite_one(admin_client, language="ja").status_code == 302
    assert user_by_email(db, "somchai@example.org").locale == "ja"
    [message] = sent_mail(app)
    assert link_in(message).startswith("/invitation/")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "This is not a valid email address."),
        ({"email": "office@example.org"}, "An account with this email address already exists."),
        ({"role": "sponsor"}, "Sponsor staff must belong to a sponsor."),
    ],
)
def test_bad_invitation_creates_nothing(app, admin_client, db, fields, message):
    before = counts(db)
    response = invite_one(admin_client, **fields)
    assert response.status_code == 400
    assert ("error", message) in flashes(response.get_data(as_text=True))
    assert counts(db) == before
    assert sent_mail(app) == []


def test_csv_invites_and_enrols_everyone(app, admin_client, db, programme):
    content = (
        "\ufeff"  # the byte-order mark Excel writes
        + HEADER
        + f"Somchai Jaidee,somchai@example.org,th,BMA,en,{programme.code}\n"
        + f"山田 太郎,Taro.Yamada@Example.org,JP,Tokyo,ja,{programme.code.lower()}\n"
        + ",,,,,\n"  # blank rows are skipped
        + "Grace Wanjiru,grace@example.org,KE,Nairobi City County,,\n"
    ).encode()
    response = upload(admin_client, content)
    assert response.status_code == 302
    assert ("success", "3 invitations sent.") in flashes(
        admin_client.get(response.headers["Location"]).get_data(as_text=True)
    )

    somchai = user_by_email(db, "somchai@example.org")
    taro = user_by_email(db, "taro.yamada@example.org")
    grace = user_by_email(db, "grace@example.org")
    assert somchai and taro and grace
    assert (taro.name, taro.country, taro.locale) == ("山田 太郎", "JP", "ja")
    assert somchai.country == "TH"
    assert enrolled_codes(db, somchai) == enrolled_codes(db, taro) == [programme.code]
    assert enrolled_codes(db, grace) == []
    assert all(u.password_hash is None and u.role_names == {"trainee"} for u in (somchai, grace))
    assert sorted(m["To"] for m in sent_mail(app)) == [
        "grace@example.org",
        "somchai@example.org",
        "taro.yamada@example.org",
    ]
    assert len(audit(db, "invitation_sent")) == 3


GOOD_ROW = "Somchai Jaidee,somchai@example.org,TH,BMA,en,{code}\n"

BAD_FILES = {
    "bad email on line 3": (
        HEADER + GOOD_ROW + "Lan,lan(at)example.org,VN,Hanoi,en,\n",
        ["Line 3: This is not a valid email address."],
    ),
    "unknown country": (
        HEADER + GOOD_ROW + "Lan,lan@example.org,XY,Hanoi,en,\n",
        ["Line 3: Unknown country code"],
    ),
    "duplicate email in the file": (
        HEADER + GOOD_ROW + "Somchai again,SOMCHAI@example.org,TH,BMA,en,\n",
        ["Line 3: This email address appears twice in the file."],
    ),
    "email of an existing account": (
        HEADER + GOOD_ROW + "Office,office@example.org,JP,Tokyo,en,\n",
        ["Line 3: An account with this email address already exists."],
    ),
    "unknown programme": (
        HEADER + GOOD_ROW + "Lan,lan@example.org,VN,Hanoi,en,NOPE-2026\n",
        ["Line 3: Unknown programme code."],
    ),
    "unknown language": (
        HEADER + GOOD_ROW + "Lan,lan@example.org,VN,Hanoi,vi,\n",
        ["Line 3: Unknown language"],
    ),
    "several bad rows": (
        HEADER + GOOD_ROW + ",lan@example.org,VN,,,\n" + "Grace,grace@,KE,,,\n",
        ["Line 3: The name is missing.", "Line 4: This is not a valid email address."],
    ),
    "missing column header": (
        "name,country\nSomchai Jaidee,TH\n",
        ["Line 1: Missing columns: email."],
    ),
    "too many cells": (
        HEADER + GOOD_ROW + "Lan,lan@example.org,VN,Hanoi,en,,extra\n",
        ["Line 3: This row has too many cells."],
    ),
    "no rows": (HEADER, ["Line 1: The file has no rows to import."]),
}


@pytest.mark.parametrize("case", [*BAD_FILES, "not UTF-8"])
def test_csv_with_a_bad_row_imports_nothing(app, admin_client, db, programme, case):
    if case == "not UTF-8":
        # Excel in Japan saves CSV as Shift_JIS by default.
        content = (HEADER + "山田 太郎,taro@example.org,JP,Tokyo,ja,\n").encode("shift_jis")
        expected = ["Line 1: The file is not UTF-8 text."]
    else:
        text, expected = BAD_FILES[case]
        content = text.format(code=programme.code).encode()
    before = counts(db)

    response = upload(admin_client, content)

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert ("error", "The file has errors; nothing was imported.") in flashes(html)
    for line in expected:
        assert line in html, html[html.find("<ul") :]
    assert counts(db) == before
    assert user_by_email(db, "somchai@example.org") is None
    assert sent_mail(app) == []


def test_csv_upload_without_a_file(admin_client, db):
    before = counts(db)
    response = admin_client.post("/admin/invitations/csv", data={})
    assert response.status_code == 400
    assert counts(db) == before
