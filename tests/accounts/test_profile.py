"""The account page: profile details and the change-password form."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import audit, flashes, reload_user
from tests.conftest import PASSWORD, login

NEW_PASSWORD = "a brand new passphrase"


def change_password(client, current: str, new: str, confirm: str | None = None):
    return client.post(
        "/account/password",
        data={"pw-current": current, "pw-password": new, "pw-confirm": confirm or new},
        follow_redirects=True,
    )


def test_wrong_current_password_changes_nothing(client, make_user, db):
    user = make_user()
    login(client, user.email)
    before = reload_user(db, user.id)
    hash_before, token_before = before.password_hash, before.session_token

    response = change_password(client, "not my password", NEW_PASSWORD)
    assert ("error", "Your current password is not correct.") in flashes(
        response.get_data(as_text=True)
    )
    after = reload_user(db, user.id)
    assert (after.password_hash, after.session_token) == (hash_before, token_before)
    assert audit(db, "password_changed") == []


@pytest.mark.parametrize(
    ("new", "confirm", "message"),
    [
        ("short", "short", "10"),  # WTForms' own (translated) length message
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The passwords differ."),
    ],
)
def test_invalid_new_password_changes_nothing(client, make_user, db, new, confirm, message):
    user = make_user()
    login(client, user.email)
    hash_before = reload_user(db, user.id).password_hash
    response = change_password(client, PASSWORD, new, confirm)
    assert any(
        category == "error" and message in text
        for category, text in flashes(response.get_data(as_text=True))
    )
    assert reload_user(db, user.id).password_hash == hash_before


PROFILE = {
    "name": "Somchai Jaidee",
    "native_name": "สมชาย ใจดี",
    "country": "TH",
    "organisation": "Bangkok Metropolitan Administration",
    "locale": "ja",
    "timezone": "Asia/Bangkok",
}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"name": "Yamada Taro", "native_name": "山田 太郎", "country": "JP", "locale": ""},
    ],
)
def test_profile_update_persists(client, make_user, db, changes):
    user = make_user()
    login(client, user.email)
    data = {**PROFILE, **changes}
    response = client.post("/account", data=data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account")

    saved = reload_user(db, user.id)
    assert saved.name == data["name"]
    assert saved.native_name == data["native_name"]
    assert saved.country == data["country"].upper()
    assert saved.organisation == data["organisation"]
    assert saved.locale == (data["locale"] or None)
    assert saved.timezone == "Asia/Bangkok"

    page = client.get("/account").get_data(as_text=True)
    assert data["native_name"] in page
    expected_lang = data["locale"] or "en"
    assert f'<html lang="{expected_lang}"' in page


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": ""},
        {"country": "ZZ"},
        {"country": "Thailand"},
        {"locale": "xx"},
        {"name": ""},
    ],
)
def test_invalid_profile_is_rejected(client, make_user, db, bad):
    user = make_user(name="Original Name", timezone="Asia/Tokyo")
    login(client, user.email)
    response = client.post("/account", data={**PROFILE, **bad})
    assert response.status_code == 200  # the form again, with the error
    assert 'class="error"' in response.get_data(as_text=True)
    saved = reload_user(db, user.id)
    assert (saved.name, saved.country, saved.timezone, saved.locale) == (
        "Original Name",
        "",
        "Asia/Tokyo",
        None,
    )


def test_profile_service_checks_values(app):
    from lms.accounts.models import User
    from lms.accounts.services import AccountError, ProfileData, update_profile

    user = User(email="x@example.org", name="X", timezone="UTC", country="")
    with app.test_request_context():
        for field, value, message in [
            ("country", "ZZ", "Unknown country."),
            ("timezone", "Nowhere/Else", "Unknown time zone."),
            ("locale", "xx", "Unknown language."),
        ]:
            data = ProfileData(
                name="Y", native_name="", country="TH", organisation="", locale=None, timezone="UTC"
            )
            setattr(data, field, value)
            with pytest.raises(AccountError, match=message):
                update_profile(user, data)
            assert (user.name, user.country, user.timezone) == ("X", "", "UTC")


def test_profile_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]
