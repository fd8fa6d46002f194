"""Choosing the page language: switcher, profile, browser."""

from __future__ import annotations

import pytest

from lms.accounts.models import User
from tests.conftest import login


def page_lang(client, path: str = "/", **headers: str) -> str:
    html = client.get(path, headers=headers).get_data(as_text=True)
    start = html.index('<html lang="') + len('<html lang="')
    return html[start : html.index('"', start)]


def switch(client, locale: str, next_path: str = "/"):
    return client.post("/language", data={"lang-locale": locale, "lang-next": next_path})


def test_visitor_switches_to_japanese(client):
    assert page_lang(client) == "en"
    response = switch(client, "ja", "/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert page_lang(client, "/login") == "ja"
    assert page_lang(client, "/") == "ja"
    # The explicit choice wins over the browser's preference.
    assert page_lang(client, "/", **{"Accept-Language": "en"}) == "ja"
    switch(client, "en")
    assert page_lang(client, "/", **{"Accept-Language": "ja"}) == "en"


def test_unknown_language_is_ignored(client):
    assert switch(client, "xx").status_code == 302
    assert page_lang(client) == "en"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("ja", "ja"),
        ("ja-JP,ja;q=0.9,en;q=0.5", "ja"),
        ("en-GB", "en"),
        ("fr, de", "en"),
        ("", "en"),
    ],
)
def test_browser_language_for_visitors(client, accept, expected):
    assert page_lang(client, "/", **{"Accept-Language": accept}) == expected


def test_signed_in_choice_is_saved_to_the_profile(app, client, make_user, db):
    user = make_user()
    login(client, user.email)
    assert switch(client, "ja").status_code == 302
    db.expire_all()
    assert db.get(User, user.id).locale == "ja"
    assert page_lang(client) == "ja"

    # Another device, with an English browser, follows the profile.
    other = app.test_client()
    login(other, user.email)
    assert page_lang(other, "/", **{"Accept-Language": "en"}) == "ja"


def test_profile_language_beats_the_visitor_choice(client, make_user):
    user = make_user(locale="en")
    switch(client, "ja")
    assert page_lang(client) == "ja"
    login(client, user.email)
    assert page_lang(client) == "en"
    # Signing out does not bring the pre-sign-in choice back.
    client.post("/logout")
    assert page_lang(client) == "en"


def test_user_without_a_language_follows_the_browser(client, make_user):
    user = make_user()
    login(client, user.email)
    assert page_lang(client, "/", **{"Accept-Language": "ja"}) == "ja"
    assert page_lang(client, "/", **{"Accept-Language": "en"}) == "en"


def test_default_locale_setting(app_factory):
    app = app_factory(LMS_DEFAULT_LOCALE="ja")
    assert page_lang(app.test_client(), "/", **{"Accept-Language": "fr"}) == "ja"
