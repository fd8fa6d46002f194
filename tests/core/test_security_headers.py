"""Security headers on every page."""

from __future__ import annotations

import pytest


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", ["/", "/login", "/healthz", "/no-such-page"])
def test_security_headers(client, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    parsed = directives(policy)
    assert parsed["script-src"] == ["'self'"]
    assert parsed["object-src"] == ["'none'"]
    assert parsed["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http


def test_pages_have_no_inline_script_or_style(client, make_user):
    from tests.conftest import login

    user = make_user()
    login(client, user.email)
    for path in ("/", "/account", "/login"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html
        assert " style=" not in html
        assert " onclick=" not in html


def test_s3_endpoint_is_allowed_for_media(app_factory):
    app = app_factory(
        LMS_STORAGE="s3",
        LMS_S3_BUCKET="media",
        LMS_S3_ENDPOINT_URL="https://s3.example.org:8333",
        LMS_S3_ACCESS_KEY="k",
        LMS_S3_SECRET_KEY="s",
    )
    policy = directives(app.test_client().get("/login").headers["Content-Security-Policy"])
    assert "https://s3.example.org:8333" in policy["media-src"]
    assert policy["script-src"] == ["'self'"]
