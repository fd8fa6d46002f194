"""The ``lms`` command: init, demo (idempotent), create-user; the demo accounts work."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import force_locale, gettext
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from lms import create_app
from lms.accounts.models import User
from lms.db import get_engine, make_engine, new_session
from tests.conftest import require_postgres

LMS = Path(sys.executable).parent / "lms"
DEMO_PASSWORD = "kenshu-demo-2026"
ROLES = ("admin", "instructor", "sponsor", "trainee")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def empty_database(request, tmp_path_factory) -> Iterator[str]:
    """A database with no schema at all, for ``lms init`` to build."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('cli') / 'kenshu.db'}"
        return
    base = make_url(require_postgres())
    name = f"{base.database or 'test'}_cli_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("instance")


def run_lms(instance: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LMS_", "FLASK_"))}
    env.update(
        LMS_INSTANCE_PATH=str(instance),
        LMS_DATABASE_URL=database_url,
        LMS_SECRET_KEY="cli-test",
    )
    return subprocess.run(
        [str(LMS), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def demo(empty_database, instance) -> Iterator[tuple[str, Flask]]:
    """``lms init`` and ``lms demo`` through the real console script; then an app on it."""
    init = run_lms(instance, empty_database, "init")
    assert init.returncode == 0, init.stderr
    assert "Database is up to date." in init.stdout
    loaded = run_lms(instance, empty_database, "demo")
    assert loaded.returncode == 0, loaded.stderr
    app = create_app(
        {
            "LMS_INSTANCE_PATH": str(instance),
            "LMS_DATABASE_URL": empty_database,
            "LMS_SECRET_KEY": "cli-test",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    yield loaded.stdout, app
    get_engine(app).dispose()


def user_count(app: Flask) -> int:
    with new_session(app) as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def demo_accounts(output: str) -> dict[str, list[str]]:
    accounts: dict[str, list[str]] = {}
    for line in output.splitlines():
        words = line.split()
        if words and words[0] in ROLES:
            email = next(w for w in words if "@" in w)
            accounts.setdefault(words[0], []).append(email)
    return accounts


def test_demo_prints_one_line_per_account_naming_the_role(demo):
    output, _app = demo
    accounts = demo_accounts(output)
    assert set(accounts) == set(ROLES)
    assert accounts["admin"] == ["admin@kenshu.example.org"]
    assert len(accounts["sponsor"]) == 2
    assert DEMO_PASSWORD in output
    assert "http://127.0.0.1:5000/" in output


def test_demo_twice_changes_nothing(demo):
    output, app = demo
    before = user_count(app)
    assert before == sum(len(v) for v in demo_accounts(output).values()) == 9
    result = app.test_cli_runner().invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    assert demo_accounts(result.output) == demo_accounts(output)
    assert user_count(app) == before
    with new_session(app) as session:
        enrolments = session.scalar(text("SELECT count(*) FROM enrolments"))
        programmes = session.scalar(text("SELECT count(*) FROM programmes"))
    assert (enrolments, programmes) == (5, 2)


def test_create_user(demo):
    _output, app = demo
    before = user_count(app)
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "lms",
            "create-user",
            "--role",
            "instructor",
            "--email",
            "X.Instructor@Example.org",
            "--password",
            "instructor password",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created x.instructor@example.org (instructor)." in result.output
    assert user_count(app) == before + 1
    client = app.test_client()
    client.post(
        "/login", data={"email": "x.instructor@example.org", "password": "instructor password"}
    )
    assert client.get("/account").status_code == 200

    sponsor = runner.invoke(
        args=[
            "lms",
            "create-user",
            "--role=sponsor",
            "--sponsor=Asian Cities Development Bank",
            "--email=staff@acdb.example.org",
            "--password=sponsor password",
        ]
    )
    assert sponsor.exit_code == 0, sponsor.output
    assert user_count(app) == before + 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "instructor", "--email", "admin@kenshu.example.org"], "already exists"),
        (["--role", "instructor", "--email", "new@example.org", "--password", "short"], "10"),
        (["--role", "instructor", "--email", "not-an-email"], "not a valid email"),
        (["--role", "sponsor", "--email", "s@example.org"], "--sponsor"),
        (["--role", "sponsor", "--email", "s@example.org", "--sponsor", "Nobody"], "Nobody"),
        (["--role", "wizard", "--email", "w@example.org"], "wizard"),
    ],
)
def test_create_user_errors_are_reported_without_traceback(demo, args, message):
    _output, app = demo
    before = user_count(app)
    if "--password" not in args:
        args = [*args, "--password", "long enough password"]
    result = app.test_cli_runner().invoke(args=["lms", "create-user", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert user_count(app) == before


def test_create_user_console_script_error(demo, instance, empty_database):
    result = run_lms(
        instance,
        empty_database,
        "create-user",
        "--role=trainee",
        "--email=trainee1@kenshu.example.org",
        "--password=long enough password",
    )
    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert "Traceback" not in result.stderr


def sign_in(app: Flask, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, email
    home = client.get("/")
    assert home.status_code == 200
    return home.get_data(as_text=True)


def translated(app: Flask, message: str, locale: str) -> str:
    with app.test_request_context(), force_locale(locale):
        return gettext(message)


def test_each_demo_role_sees_its_home_section(demo):
    _output, app = demo
    wte = "Waste-to-Energy Plant Operations 2026"
    swc = "Solid Waste Collection Planning 2027"

    trainee = sign_in(app, "trainee1@kenshu.example.org")
    assert 'id="my-programmes"' in trainee
    assert "My programmes" in trainee
    assert wte in trainee
    assert swc not in trainee
    assert 'id="admin-totals"' not in trainee

    sponsor1 = sign_in(app, "sponsor1@kenshu.example.org")
    assert "Programmes you sponsor" in sponsor1
    assert wte in sponsor1
    assert swc not in sponsor1
    sponsor2 = sign_in(app, "sponsor2@kenshu.example.org")
    assert "Programmes you sponsor" in sponsor2
    assert swc in sponsor2
    assert wte not in sponsor2

    admin = sign_in(app, "admin@kenshu.example.org")  # prefers Japanese
    assert '<html lang="ja"' in admin
    assert 'id="admin-totals"' in admin
    assert translated(app, "Administration", "ja") in admin
    assert wte in admin and swc in admin

    instructor = sign_in(app, "instructor@kenshu.example.org")
    assert 'id="courses"' in instructor
    assert 'id="admin-totals"' not in instructor
    assert 'id="my-programmes"' not in instructor
