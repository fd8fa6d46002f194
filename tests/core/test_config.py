"""Settings are validated at start-up with messages that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lms import ConfigError, create_app
from lms.config import load_settings

LMS = Path(sys.executable).parent / "lms"


def settings(tmp_path: Path, **env: str):
    return load_settings({"LMS_INSTANCE_PATH": str(tmp_path / "instance"), **env})


def test_defaults_work_on_a_bare_machine(tmp_path):
    loaded = settings(tmp_path)
    assert loaded.database_url == f"sqlite:///{tmp_path / 'instance' / 'kenshu.db'}"
    assert loaded.storage == "local"
    assert loaded.storage_path == tmp_path / "instance" / "storage"
    assert loaded.signed_url_ttl == 3600
    assert not loaded.secure_cookies
    # The generated secret key is kept across restarts, readable by the owner only.
    key_file = tmp_path / "instance" / "secret_key"
    assert settings(tmp_path).secret_key == loaded.secret_key == key_file.read_text()
    assert key_file.stat().st_mode & 0o077 == 0


def test_plain_postgresql_url_uses_psycopg3(tmp_path):
    loaded = settings(tmp_path, LMS_DATABASE_URL="postgresql://kenshu:pw@db.example.org/kenshu")
    assert loaded.database_url == "postgresql+psycopg://kenshu:pw@db.example.org/kenshu"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LMS_DATABASE_URL": "not a url"}, ["LMS_DATABASE_URL", "not a url"]),
        ({"LMS_DATABASE_URL": "mysql://u@h/db"}, ["LMS_DATABASE_URL", "mysql"]),
        ({"LMS_STORAGE": "ftp"}, ["LMS_STORAGE", "local, s3", "ftp"]),
        ({"LMS_STORAGE": "s3"}, ["LMS_STORAGE=s3", "LMS_S3_BUCKET"]),
        ({"LMS_SIGNED_URL_TTL": "an hour"}, ["LMS_SIGNED_URL_TTL", "whole number", "an hour"]),
        ({"LMS_SIGNED_URL_TTL": "0"}, ["LMS_SIGNED_URL_TTL", "at least 1"]),
        ({"LMS_MAX_REQUEST_MB": "1.5"}, ["LMS_MAX_REQUEST_MB", "whole number"]),
        ({"LMS_RESET_TOKEN_MINUTES": "-5"}, ["LMS_RESET_TOKEN_MINUTES"]),
        ({"LMS_BASE_URL": "kenshu.example.org"}, ["LMS_BASE_URL", "http://"]),
        ({"LMS_REDIS_URL": "http://127.0.0.1:6379"}, ["LMS_REDIS_URL", "redis://"]),
        ({"LMS_SMTP_URL": "mail.example.org"}, ["LMS_SMTP_URL", "smtp://"]),
        ({"LMS_S3_ENDPOINT_URL": "s3.example.org"}, ["LMS_S3_ENDPOINT_URL"]),
        ({"LMS_DEFAULT_LOCALE": "fr"}, ["LMS_DEFAULT_LOCALE", "en, ja"]),
        ({"LMS_DEFAULT_TIMEZONE": "Tokyo"}, ["LMS_DEFAULT_TIMEZONE", "Tokyo"]),
        ({"LMS_LOGIN_RATE_LIMIT": "often"}, ["LMS_LOGIN_RATE_LIMIT", "often"]),
        ({"LMS_RESET_RATE_LIMIT": "3 per fortnight"}, ["LMS_RESET_RATE_LIMIT"]),
    ],
)
def test_bad_settings_name_the_variable(tmp_path, env, names):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **env)
    for name in names:
        assert name in str(caught.value)
    # create_app validates the same way.
    with pytest.raises(ConfigError) as caught:
        create_app({"LMS_INSTANCE_PATH": str(tmp_path / "instance"), **env})
    assert names[0] in str(caught.value)


def test_instance_path_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="LMS_INSTANCE_PATH"):
        load_settings({"LMS_INSTANCE_PATH": str(blocker / "instance")})


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LMS_", "FLASK_"))}
    env.update({"LMS_INSTANCE_PATH": str(tmp_path / "instance"), **extra})
    return env


@pytest.mark.parametrize(
    ("extra", "variable"),
    [({"LMS_STORAGE": "ftp"}, "LMS_STORAGE"), ({"LMS_SIGNED_URL_TTL": "x"}, "LMS_SIGNED_URL_TTL")],
)
def test_cli_reports_configuration_errors_without_a_traceback(tmp_path, extra, variable):
    result = subprocess.run(
        [str(LMS), "init"],
        env=cli_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Configuration error" in result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "instance" / "kenshu.db").exists()


def test_trusted_proxy_address_reaches_the_audit_log(app_factory, make_user):
    from sqlalchemy import select

    from lms.audit.models import AuditEvent
    from lms.db import new_session

    app = app_factory(LMS_TRUSTED_PROXIES="1")
    user = make_user("trainee", email="proxied@example.org")
    client = app.test_client()
    client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery"},
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    with new_session(app) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
    assert event.ip == "203.0.113.7"


def test_untrusted_forwarded_header_is_ignored(app, make_user, client):
    from sqlalchemy import select

    from lms.audit.models import AuditEvent
    from lms.db import new_session

    user = make_user("trainee", email="direct@example.org")
    client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery"},
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    with new_session(app) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
    assert event.ip != "203.0.113.7"
