"""Password reset by emailed link, and password changes ending other sessions."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from lms.accounts.models import TokenPurpose, UserToken
from lms.db import utcnow
from tests.accounts.conftest import (
    audit,
    flashes,
    link_in,
    outbox,
    reload_user,
    sent_mail,
    signed_in,
)
from tests.conftest import PASSWORD, login

NEW_PASSWORD = "a brand new passphrase"
SAME_ANSWER = "If this address has an account, a reset link is on its way."


def request_reset(client, email: str) -> str:
    """Asks for a reset link; returns the flash shown on the page after the redirect."""
    response = client.post("/password/forgot", data={"email": email}, follow_redirects=True)
    assert response.status_code == 200
    assert response.request.path == "/login"
    [(category, message)] = flashes(response.get_data(as_text=True))
    assert category == "info"
    return message


def reset_link(app, client, email: str) -> str:
    before = len(sent_mail(app))
    request_reset(client, email)
    mail = sent_mail(app)
    assert len(mail) == before + 1
    message = mail[-1]
    assert message["To"] == email
    assert "Reset your Kenshu password" in message["Subject"]
    return link_in(message)


def choose_password(client, link: str, password: str = NEW_PASSWORD):
    return client.post(link, data={"password": password, "confirm": password})


def test_reset_link_changes_password_once(app, client, make_user, db):
    user = make_user(email="grace@example.org")
    other_device = app.test_client()
    login(other_device, user.email)
    assert signed_in(other_device)

    link = reset_link(app, client, user.email)
    assert link.startswith("/password/reset/")
    page = client.get(link)
    assert page.status_code == 200
    assert "grace@example.org" in page.get_data(as_text=True)

    response = choose_password(client, link)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    assert signed_in(client)  # the reset signs in
    assert not signed_in(other_device)  # and ends every other session
    [event] = audit(db, "password_reset")
    assert event.actor_id == user.id

    # The link works once.
    again = client.get(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    assert choose_password(app.test_client(), link, "yet another password").status_code == 400

    fresh = app.test_client()
    login(fresh, user.email, PASSWORD)
    assert not signed_in(fresh)
    login(fresh, user.email, NEW_PASSWORD)
    assert signed_in(fresh)
    assert reload_user(db, user.id).password_hash.startswith("$argon2id$")


def test_expired_link_is_refused(app, client, make_user, db):
    user = make_user()
    link = reset_link(app, client, user.email)
    token = db.scalar(select(UserToken).where(UserToken.user_id == user.id))
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()

    for response in (client.get(link), choose_password(client, link)):
        assert response.status_code == 400
        assert "expired" in response.get_data(as_text=True)
    login(client, user.email, NEW_PASSWORD)
    assert not signed_in(client)


def test_unknown_token_is_refused(client, make_user):
    make_user()
    for response in (
        client.get("/password/reset/not-a-real-token"),
        choose_password(client, "/password/reset/not-a-real-token"),
        client.get("/invitation/not-a-real-token"),
    ):
        assert response.status_code == 400
        assert "This link is not valid" in response.get_data(as_text=True)


def test_reset_token_cannot_be_used_as_invitation(app, client, make_user):
    user = make_user()
    link = reset_link(app, client, user.email)
    token = link.rsplit("/", 1)[1]
    assert client.get(f"/invitation/{token}").status_code == 400


def test_unknown_email_gets_the_same_answer_and_no_mail(app, client, make_user, db):
    user = make_user()
    known = request_reset(client, user.email)
    assert len(sent_mail(app)) == 1
    unknown = request_reset(client, "nobody@example.org")
    assert unknown == known == SAME_ANSWER
    assert len(sent_mail(app)) == 1
    assert [e.details["known"] for e in audit(db, "password_reset_requested")] == [True, False]


def test_deactivated_user_gets_no_reset_mail(app, client, make_user, db):
    user = make_user()
    reload_user(db, user.id).active = False
    db.commit()
    assert request_reset(client, user.email) == SAME_ANSWER
    assert not outbox(app).exists() or list(outbox(app).glob("*.eml")) == []


def test_a_new_link_replaces_the_previous_one(app, client, make_user):
    user = make_user()
    first = reset_link(app, client, user.email)
    second = reset_link(app, client, user.email)
    assert first != second
    assert client.get(first).status_code == 400
    assert choose_password(client, second).status_code == 302


def test_reset_with_short_or_mismatched_password_changes_nothing(app, client, make_user, db):
    user = make_user()
    link = reset_link(app, client, user.email)
    hash_before = reload_user(db, user.id).password_hash

    short = choose_password(client, link, "short")
    assert short.status_code == 200
    assert 'id="password-error"' in short.get_data(as_text=True)
    differ = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert differ.status_code == 200
    assert "The passwords differ." in differ.get_data(as_text=True)

    assert reload_user(db, user.id).password_hash == hash_before
    assert db.scalar(select(UserToken.used_at).where(UserToken.user_id == user.id)) is None
    assert choose_password(client, link).status_code == 302  # still usable


def test_password_change_ends_other_sessions(app, client, make_user, db):
    user = make_user()
    other_device = app.test_client()
    login(client, user.email)
    login(other_device, user.email, remember="y")
    remembered = other_device.get_cookie("remember_token")
    assert remembered is not None
    token_before = reload_user(db, user.id).session_token

    response = client.post(
        "/account/password",
        data={"pw-current": PASSWORD, "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert ("success", "Your password has been changed.") in flashes(
        response.get_data(as_text=True)
    )
    assert reload_user(db, user.id).session_token != token_before
    assert signed_in(client)  # this session continues
    assert not signed_in(other_device)  # the other one is signed out
    stolen = app.test_client()
    stolen.set_cookie("remember_token", remembered.value)
    assert not signed_in(stolen)  # and "remember me" cookies stop working
    assert len(audit(db, "password_changed")) == 1

    fresh = app.test_client()
    login(fresh, user.email, PASSWORD)
    assert not signed_in(fresh)
    login(fresh, user.email, NEW_PASSWORD)
    assert signed_in(fresh)


def test_purpose_is_stored_not_the_secret(app, client, make_user, db):
    user = make_user()
    link = reset_link(app, client, user.email)
    raw = link.rsplit("/", 1)[1]
    token = db.scalar(select(UserToken).where(UserToken.user_id == user.id))
    assert token.purpose == TokenPurpose.RESET
    assert raw not in token.token_hash
    assert len(token.token_hash) == 64
