"""Signing in and out, failed attempts, cookies, password storage."""

from __future__ import annotations

from urllib.parse import urlsplit

from lms.accounts.models import User
from tests.accounts.conftest import (
    audit,
    cookie_attributes,
    flashes,
    reload_user,
    set_cookie_headers,
    signed_in,
)
from tests.conftest import PASSWORD, login

GENERIC_ERROR = "Wrong email or password."


def test_login_records_audit_and_last_login_then_logout(client, make_user, db):
    user = make_user(email="somchai@example.org")
    assert reload_user(db, user.id).last_login_at is None

    response = login(client, "Somchai@Example.org ")  # case and spaces do not matter
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    assert "Welcome, Test User" in client.get("/").get_data(as_text=True)

    assert reload_user(db, user.id).last_login_at is not None
    [event] = audit(db, "login")
    assert event.actor_id == user.id
    assert event.subject == "somchai@example.org"
    assert audit(db, "login_failed") == []

    response = client.post("/logout")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert not signed_in(client)


def test_logout_needs_post(client, make_user):
    user = make_user()
    login(client, user.email)
    assert client.get("/logout").status_code == 405
    assert signed_in(client)


def test_wrong_password_gives_generic_error_and_audit_row(client, make_user, db):
    user = make_user(email="lan@example.org")

    wrong = client.post("/login", data={"email": user.email, "password": "not the password"})
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": PASSWORD})

    for response in (wrong, unknown):
        assert response.status_code == 200
        assert ("error", GENERIC_ERROR) in flashes(response.get_data(as_text=True))
    assert not signed_in(client)
    assert reload_user(db, user.id).last_login_at is None
    failed = audit(db, "login_failed")
    assert [(e.subject, e.actor_id, e.details["reason"]) for e in failed] == [
        ("lan@example.org", user.id, "credentials"),
        ("nobody@example.org", None, "credentials"),
    ]
    assert audit(db, "login") == []


def test_deactivated_user_cannot_log_in(client, make_user, db):
    user = make_user()
    reload_user(db, user.id).active = False
    db.commit()

    response = login(client, user.email)
    assert response.status_code == 200
    assert ("error", GENERIC_ERROR) in flashes(response.get_data(as_text=True))
    assert not signed_in(client)
    [event] = audit(db, "login_failed")
    assert event.details["reason"] == "inactive"


def test_invited_user_without_password_cannot_log_in(client, app, db):
    from lms.accounts.services import create_user

    user = create_user(db, email="invited@example.org", name="Invited")
    db.commit()
    assert user.password_hash is None
    for password in ("", "x", PASSWORD, "None"):
        login(client, user.email, password)
        assert not signed_in(client)


def test_remember_me_sets_an_httponly_cookie_that_signs_in(app, client, make_user):
    user = make_user()
    response = login(client, user.email, remember="y")
    assert response.status_code == 302
    [remember] = set_cookie_headers(response, "remember_token")
    attributes = cookie_attributes(remember)
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # plain http base URL

    # The remember cookie alone (no session) signs the user in.
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("remember_token", cookie.value)
    assert signed_in(other)


def test_without_remember_me_no_remember_cookie(client, make_user):
    user = make_user()
    response = login(client, user.email)
    assert response.status_code == 302
    assert set_cookie_headers(response, "remember_token") == []
    assert client.get_cookie("remember_token") is None


def test_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    user = make_user()
    response = login(client, user.email)
    [session_cookie] = set_cookie_headers(response, "session")
    attributes = cookie_attributes(session_cookie)
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes


def test_cookies_are_secure_with_an_https_base_url(app_factory, make_user):
    user = make_user()
    secure_app = app_factory(LMS_BASE_URL="https://kenshu.example.org")
    client = secure_app.test_client()
    response = login(client, user.email, remember="y")
    assert response.status_code == 302
    for name in ("session", "remember_token"):
        [header] = set_cookie_headers(response, name)
        attributes = cookie_attributes(header)
        assert {"secure", "httponly", "samesite=lax"} <= attributes, (name, header)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_password_is_stored_as_argon2id(client, make_user, db):
    user = make_user(password="a rather long secret")
    stored = db.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert "a rather long secret" not in stored
    login(client, user.email, "a rather long secret")
    assert signed_in(client)


def test_weaker_hashes_are_upgraded_at_sign_in(client, make_user, db, monkeypatch):
    from argon2 import PasswordHasher

    from lms.accounts import services

    user = make_user(password="a rather long secret")
    stronger = PasswordHasher(time_cost=2, memory_cost=128, parallelism=1)
    monkeypatch.setattr(services, "_hasher", stronger)
    old_hash = reload_user(db, user.id).password_hash
    login(client, user.email, "a rather long secret")
    assert signed_in(client)
    new_hash = reload_user(db, user.id).password_hash
    assert new_hash != old_hash
    assert not stronger.check_needs_rehash(new_hash)


def test_signed_in_user_visiting_login_goes_home(client, make_user):
    user = make_user()
    login(client, user.email)
    response = client.get("/login")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
