"""Error pages: HTML for pages, JSON for the API, in the visitor's language."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import login


def test_404_page_is_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "This page does not exist." in html
    assert '<html lang="en" dir="ltr"' in html


def test_404_under_the_api_is_json(client):
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json() == {"error": {"status": 404, "message": "This page does not exist."}}


def test_json_clients_get_json_errors(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404


def test_405_keeps_the_allow_header(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "This action is not allowed here." in response.get_data(as_text=True)


def test_403_for_a_trainee_on_admin_pages(client, make_user):
    user = make_user("trainee")
    login(client, user.email)
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "You do not have permission to see this page." in response.get_data(as_text=True)


def test_visitors_on_admin_pages_are_sent_to_sign_in(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == ["/admin/users"]


@pytest.mark.parametrize("csrf", [False, True])
def test_413_when_the_body_is_too_large(app_factory, csrf):
    app = app_factory(LMS_MAX_REQUEST_MB=1, WTF_CSRF_ENABLED=csrf, TESTING=False)
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    client = app.test_client()
    response = client.post(
        "/login", data={"email": "a@example.org", "password": "x" * (1024 * 1024 + 1)}
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "The file or form you sent is too large." in response.get_data(as_text=True)
    # Below the limit the same form is fine.
    small = client.post("/login", data={"email": "a@example.org", "password": "x"})
    assert small.status_code == (400 if csrf else 200)  # 400: no CSRF token sent


def test_error_page_in_japanese_sets_the_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "ja,en;q=0.5"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert '<html lang="ja" dir="ltr"' in html
    assert "404" in html
    assert "This page does not exist." not in html
    assert "ページ" in html  # the Japanese message, not the English fallback


def test_api_error_in_japanese(client):
    response = client.get("/api/v1/me", headers={"Accept-Language": "ja"})
    assert response.status_code == 401
    message = response.json["error"]["message"]
    assert message != "Please sign in to continue." and message.isascii() is False


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_each_demo_role_page_is_translated(app, make_user, locale):
    from tests.conftest import login

    for role in ("admin", "instructor", "sponsor", "trainee"):
        client = app.test_client()
        user = make_user(role, locale=locale, email=f"{role}-{locale}@example.org", sponsor_id=None)
        login(client, user.email)
        html = client.get("/").get_data(as_text=True)
        assert f'<html lang="{locale}"' in html
        if locale == "ja":
            assert "ログアウト" in html and "Sign out" not in html
        else:
            assert "Sign out" in html


def test_unhandled_error_is_a_500_page_and_rolls_back(app_factory, make_user):
    from flask import Blueprint

    from lms.accounts.models import User
    from lms.db import get_session, new_session

    user = make_user(name="Before")
    app = app_factory(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    broken = Blueprint("broken", __name__)

    @broken.get("/broken")
    def boom():
        get_session().get(User, user.id).name = "After"
        raise RuntimeError("boom")

    app.register_blueprint(broken)
    response = app.test_client().get("/broken")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong on our side." in html
    assert "boom" not in html
    with new_session(app) as session:
        assert session.get(User, user.id).name == "Before"
