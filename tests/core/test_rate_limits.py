"""Rate limits on sign-in and password reset, in memory or in Redis."""

from __future__ import annotations

import pytest

from tests.conftest import IN_CI

REDIS_URL = "redis://127.0.0.1:6379/15"
TOO_MANY = "Too many attempts. Please wait a minute and try again."


def test_fourth_login_attempt_in_a_minute_is_refused(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, LMS_LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    data = {"email": "someone@example.org", "password": "guess"}
    for _ in range(3):
        assert client.post("/login", data=data).status_code == 200
    response = client.post("/login", data=data)
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    # Only attempts count: the page itself still opens.
    assert client.get("/login").status_code == 200


def test_fourth_reset_request_in_a_minute_is_refused(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, LMS_RESET_RATE_LIMIT="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/password/forgot", data={"email": "a@example.org"}).status_code == 302
    response = client.post("/password/forgot", data={"email": "a@example.org"})
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)
    assert client.get("/password/forgot").status_code == 200


def test_rate_limit_answers_json_for_json_clients(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, LMS_LOGIN_RATE_LIMIT="1 per minute")
    client = app.test_client()
    client.post("/login", data={"email": "a@example.org", "password": "x"})
    response = client.post(
        "/login",
        data={"email": "a@example.org", "password": "x"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 429
    assert response.get_json()["error"] == {"status": 429, "message": TOO_MANY}


@pytest.fixture
def redis_db15():
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as error:
        if IN_CI:
            pytest.fail(f"CI=true but Redis at {REDIS_URL} is not reachable: {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {error}")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_limits_are_kept_in_redis_when_configured(app_factory, redis_db15):
    assert redis_db15.dbsize() == 0
    app = app_factory(
        RATELIMIT_ENABLED=True, LMS_REDIS_URL=REDIS_URL, LMS_LOGIN_RATE_LIMIT="2 per minute"
    )
    client = app.test_client()
    data = {"email": "someone@example.org", "password": "guess"}
    for _ in range(2):
        assert client.post("/login", data=data).status_code == 200
    keys = [key.decode() for key in redis_db15.keys("*")]
    assert keys, "no rate-limit keys in Redis"
    assert any("lms" in key for key in keys), keys

    # A second web server sharing the same Redis sees the same count.
    other_server = app_factory(
        RATELIMIT_ENABLED=True, LMS_REDIS_URL=REDIS_URL, LMS_LOGIN_RATE_LIMIT="2 per minute"
    )
    assert other_server.test_client().post("/login", data=data).status_code == 429
