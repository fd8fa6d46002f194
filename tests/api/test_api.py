from __future__ import annotations

from tests.conftest import PASSWORD, csrf_token_from


def test_me_requires_a_session_and_answers_json(client, make_user):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.is_json and response.json["error"]["status"] == 401
    user = make_user("trainee", name="Somchai")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    body = client.get("/api/v1/me").json
    assert body["email"] == user.email and body["roles"] == ["trainee"]


def test_openapi_document_lists_the_api(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert "/me" in document["paths"]


def test_json_write_needs_the_csrf_header(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    user = make_user("trainee", email="csrf@example.org")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})

    refused = client.patch("/api/v1/me", json={"timezone": "Asia/Bangkok"})
    assert refused.status_code == 400
    assert refused.is_json
    assert client.get("/api/v1/me").json["timezone"] == "UTC"  # nothing changed

    page = client.get("/account").get_data(as_text=True)
    accepted = client.patch(
        "/api/v1/me",
        json={"timezone": "Asia/Bangkok"},
        headers={"X-CSRFToken": csrf_token_from(page)},
    )
    assert accepted.status_code == 200
    assert client.get("/api/v1/me").json["timezone"] == "Asia/Bangkok"


def test_invalid_values_are_refused_and_change_nothing(client, make_user):
    user = make_user("trainee")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    response = client.patch("/api/v1/me", json={"timezone": "Mars/Olympus", "name": "X"})
    assert response.status_code == 400
    assert "time zone" in response.json["error"]["message"]
    me = client.get("/api/v1/me").json
    assert me["timezone"] == "UTC" and me["name"] == "Test User"
    assert client.patch("/api/v1/me", json={"password": "x"}).status_code == 400
    assert client.patch("/api/v1/me", data="not json").status_code == 400
