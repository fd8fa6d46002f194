"""CSRF protection on every form, with a translated error page."""

from __future__ import annotations

import re

import pytest

from lms.accounts.models import User
from lms.audit.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token_from

CSRF_MESSAGE = "Your form expired or was not sent from this site."
NEW_PASSWORD = "a brand new passphrase"


def token_field(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]+)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


@pytest.fixture
def csrf_app(app_factory):
    return app_factory(WTF_CSRF_ENABLED=True)


def events(db) -> list[str]:
    db.expire_all()
    return [e.action for e in db.query(AuditEvent).order_by(AuditEvent.id)]


def assert_csrf_refused(response) -> None:
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert CSRF_MESSAGE in html
    assert '<html lang="en"' in html


def test_login_needs_the_token(csrf_app, make_user, db):
    user = make_user()
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    credentials = {"email": user.email, "password": PASSWORD}

    assert_csrf_refused(client.post("/login", data=credentials))
    assert_csrf_refused(client.post("/login", data={**credentials, "csrf_token": "forged"}))
    # A token from another browser's session is no good either.
    stranger = csrf_app.test_client()
    their_token = csrf_token_from(stranger.get("/login").get_data(as_text=True))
    assert_csrf_refused(client.post("/login", data={**credentials, "csrf_token": their_token}))
    assert events(db) == []  # neither a login nor a failed login was recorded
    assert client.get("/account").status_code == 302

    response = client.post("/login", data={**credentials, "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert events(db) == ["login"]


def test_change_password_needs_the_token(csrf_app, make_user, db):
    user = make_user()
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    hash_before = db.get(User, user.id).password_hash
    change = {"pw-current": PASSWORD, "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD}

    assert_csrf_refused(client.post("/account/password", data=change))
    assert_csrf_refused(client.post("/account/password", data={**change, "pw-csrf_token": "x"}))
    db.expire_all()
    assert db.get(User, user.id).password_hash == hash_before

    page = client.get("/account").get_data(as_text=True)
    response = client.post(
        "/account/password",
        data={**change, "pw-csrf_token": token_field(page, "pw-csrf_token")},
    )
    assert response.status_code == 302
    db.expire_all()
    assert db.get(User, user.id).password_hash != hash_before


def test_logout_and_language_switch_need_the_token(csrf_app, make_user, db):
    user = make_user()
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})

    assert_csrf_refused(client.post("/logout"))
    assert client.get("/account").status_code == 200  # still signed in
    assert_csrf_refused(client.post("/language", data={"lang-locale": "ja", "lang-next": "/"}))
    db.expire_all()
    assert db.get(User, user.id).locale is None

    page = client.get("/").get_data(as_text=True)
    response = client.post(
        "/language",
        data={
            "lang-locale": "ja",
            "lang-next": "/",
            "lang-csrf_token": token_field(page, "lang-csrf_token"),
        },
    )
    assert response.status_code == 302
    db.expire_all()
    assert db.get(User, user.id).locale == "ja"


def test_csrf_error_in_japanese_keeps_the_language(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/login", data={}, headers={"Accept-Language": "ja"})
    assert response.status_code == 400
    assert '<html lang="ja"' in response.get_data(as_text=True)


def test_csv_upload_needs_the_token(csrf_app, make_user, db):
    import io

    from sqlalchemy import func, select

    admin = make_user("admin")
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
    content = b"name,email\nSomchai Jaidee,somchai@example.org\n"

    def upload(**extra: str):
        return client.post(
            "/admin/invitations/csv",
            data={"csv-file": (io.BytesIO(content), "people.csv"), **extra},
            content_type="multipart/form-data",
        )

    assert_csrf_refused(upload())
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(User)) == 1
    page = client.get("/admin/invitations").get_data(as_text=True)
    assert upload(**{"csv-csrf_token": token_field(page, "csv-csrf_token")}).status_code == 302
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(User)) == 2
