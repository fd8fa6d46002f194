"""Only same-site paths are followed after sign-in and after switching language."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import PASSWORD

UNSAFE = [
    "https://evil.example/",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",  # browsers drop tabs and newlines: //evil.example
    "/\n/evil.example",
    "///evil.example",
    "evil.example",
]


def hidden_next(html: str) -> str:
    match = re.search(r'name="next" type="hidden" value="([^"]*)"', html)
    assert match, "no hidden next field"
    return unescape(match.group(1))


def sign_in_via(client, next_target: str, email: str):
    page = client.get("/login?next=" + quote(next_target, safe=""))
    assert page.status_code == 200
    carried = hidden_next(page.get_data(as_text=True))
    assert carried == next_target
    return client.post(
        "/login?next=" + quote(next_target, safe=""),
        data={"email": email, "password": PASSWORD, "next": carried},
    )


def location(response) -> str:
    assert response.status_code == 302
    return response.headers["Location"]


@pytest.mark.parametrize("target", UNSAFE)
def test_unsafe_next_goes_home(client, make_user, target):
    user = make_user()
    assert location(sign_in_via(client, target, user.email)) == "/"


@pytest.mark.parametrize("target", ["/account", "/admin/users?page=2"])
def test_local_next_is_honoured(client, make_user, target):
    user = make_user()
    assert location(sign_in_via(client, target, user.email)) == target


def test_protected_page_sends_back_after_sign_in(client, make_user):
    user = make_user()
    response = client.get("/account", follow_redirects=True)
    assert response.request.path == "/login"
    carried = hidden_next(response.get_data(as_text=True))
    assert carried == "/account"
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "next": carried}
    )
    assert location(response) == "/account"


@pytest.mark.parametrize("target", UNSAFE)
def test_language_switcher_ignores_unsafe_next(client, target):
    response = client.post("/language", data={"lang-locale": "ja", "lang-next": target})
    assert location(response) == "/"


def test_language_switcher_returns_to_the_page(client):
    page = client.get("/password/forgot?x=1").get_data(as_text=True)
    match = re.search(r'name="lang-next" type="hidden" value="([^"]*)"', page)
    assert match
    carried = unescape(match.group(1))
    assert carried == "/password/forgot?x=1"
    response = client.post("/language", data={"lang-locale": "ja", "lang-next": carried})
    assert urlsplit(location(response)).path == "/password/forgot"
    assert location(response) == "/password/forgot?x=1"
