"""Public verification: valid, revoked and unknown; forgiving input; no enumeration."""

from __future__ import annotations

import re

from lms.credentials.views import DEFAULT_ISSUER


def test_valid_record_shows_the_trainee_and_programme(client, completed):
    response = client.get(f"/verify/{completed.code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Valid" in page
    assert "Hanako Yamada" in page and "山田 花子" in page
    assert "Programme P-" in page and "Sponsor P-" in page
    assert DEFAULT_ISSUER in page
    assert "2026" in page  # the completion date
    assert response.headers["Cache-Control"] == "no-store"


def test_code_as_typed_finds_the_record(client, completed):
    typed = completed.code.lower().replace("-", " ").replace("0", "o")
    assert client.get(f"/verify/{typed}").status_code == 200
    response = client.post("/verify", data={"code": f"  {typed} "})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/verify/{completed.code}")


def test_revoked_record_shows_revoked_with_date_and_reason(app, client, make_user, completed):
    from tests.credentials.test_records import _admin_client

    admin_client, _admin = _admin_client(app, make_user)
    admin_client.post(
        f"/admin/records/{completed.record_id}/revoke", data={"reason": "Issued in error"}
    )
    response = client.get(f"/verify/{completed.code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Revoked" in page and "Issued in error" in page and "Valid" not in page
    assert "revoked on" in page


def test_unknown_and_malformed_codes_get_the_same_answer(client, completed):
    unknown = "0000-0000-0000-0000" if completed.code != "0000-0000-0000-0000" else "1111"
    answers = [
        client.get(f"/verify/{unknown}"),
        client.get("/verify/not-a-code"),
        client.get("/verify/UUUU-UUUU-UUUU-UUUU"),
        client.get("/verify/" + "A" * 300),
        client.get("/verify/a/b"),
        client.post("/verify", data={"code": unknown}),
        client.post("/verify", data={"code": "nonsense!"}),
        client.post("/verify", data={"code": ""}),
    ]
    first = answers[0]
    assert first.status_code == 404
    assert "Record not found" in first.get_data(as_text=True)
    bodies = [_without_csrf_tokens(answer.get_data()) for answer in answers]
    for raw in (answer.get_data() for answer in answers):  # nothing typed is echoed
        assert unknown.encode() not in raw and b"not-a-code" not in raw and b"AAAA" not in raw
    for answer, body in zip(answers[1:], bodies[1:], strict=True):
        assert answer.status_code == 404
        assert body == bodies[0]


def _without_csrf_tokens(body: bytes) -> bytes:
    """CSRF tokens carry a timestamp; everything else must be byte-identical."""
    return re.sub(rb'(name="(?:lang-)?csrf_token"[^>]*value=")[^"]*"', rb'\1"', body)


def test_form_page_needs_no_login(client):
    response = client.get("/verify")
    assert response.status_code == 200
    assert 'name="code"' in response.get_data(as_text=True)


def test_post_needs_a_csrf_token(app_factory, completed):
    app = app_factory(WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/verify", data={"code": completed.code})
    assert response.status_code == 400


def test_verification_is_rate_limited(app_factory, completed):
    app = app_factory(RATELIMIT_ENABLED=True)
    client = app.test_client()
    statuses = [client.get(f"/verify/{completed.code}").status_code for _ in range(30)]
    assert statuses == [200] * 30
    assert client.get(f"/verify/{completed.code}").status_code == 429
    # the form and the lookup share the limit
    assert client.post("/verify", data={"code": completed.code}).status_code == 429
