"""Shared fixtures: an application on SQLite and on PostgreSQL, clients, users.

PostgreSQL runs when ``LMS_TEST_DATABASE_URL`` is set (``make test`` sets it when
a server answers); in CI (``CI=true``) a missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import lms.models  # noqa: F401 - every table on the metadata
from lms import create_app
from lms.accounts.models import Role, User
from lms.accounts.services import create_user
from lms.db import Base, get_engine, make_engine, new_session

PASSWORD = "correct horse battery"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("LMS_TEST_DATABASE_URL", "")


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id with the library's test profile: same algorithm, a fraction of the memory."""
    from argon2 import PasswordHasher, profiles

    from lms.accounts import services

    saved = services._hasher, services._DUMMY_HASH
    services._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    services._DUMMY_HASH = services._hasher.hash("dummy password")
    yield
    services._hasher, services._DUMMY_HASH = saved


def require_postgres() -> str:
    if PG_URL:
        return PG_URL
    if IN_CI:
        pytest.fail("CI=true but LMS_TEST_DATABASE_URL is not set: PostgreSQL tests must run")
    pytest.skip("PostgreSQL not configured (set LMS_TEST_DATABASE_URL to run these tests)")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database of its own on the server, so parallel runs never collide."""
    base_url = make_url(require_postgres())
    name = f"{base_url.database or 'test'}_kenshu_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(
        base_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL at {base_url} is not usable: {error}")
        pytest.skip(f"PostgreSQL at {base_url} is not usable: {error}")
    url = base_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    with engine.begin() as connection:
        Base.metadata.create_all(connection)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(app: Flask) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(app).begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def build_app(tmp_path: Path, database_url: str, **overrides: object) -> Flask:
    config: dict[str, object] = {
        "LMS_INSTANCE_PATH": str(tmp_path / "instance"),
        "LMS_DATABASE_URL": database_url,
        "LMS_SECRET_KEY": "test-secret-key",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Flask]]:
    """Builds apps on the parametrised database with the schema in place."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        app = build_app(tmp_path, database_url, **overrides)
        if database_url.startswith("sqlite") and not apps:
            Base.metadata.create_all(get_engine(app))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        if database_url.startswith("postgresql") and app is apps[0]:
            _truncate_all(app)
        get_engine(app).dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session for arranging and inspecting data outside requests."""
    with new_session(app) as session:
        yield session


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def factory(
        *roles: Role | str, email: str | None = None, password: str = PASSWORD, **fields: object
    ) -> User:
        with new_session(app) as session:
            user = create_user(
                session,
                email=email or f"user{next(counter)}@example.org",
                name=str(fields.pop("name", "Test User")),
                roles=roles or (Role.TRAINEE,),
                password=password,
                **fields,  # type: ignore[arg-type]
            )
            session.commit()
            return user

    return factory


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra: object):
    return client.post("/login", data={"email": email, "password": password, **extra})


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)
