"""/healthz reports the database and the storage."""

from __future__ import annotations

import shutil
import socket

from lms import create_app


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["storage"] == {"status": "ok", "kind": "local"}


def bare_app(tmp_path, database_url: str):
    return create_app(
        {
            "LMS_INSTANCE_PATH": str(tmp_path / "instance"),
            "LMS_DATABASE_URL": database_url,
            "LMS_SECRET_KEY": "test",
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
        }
    )


def assert_database_down(app) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["database"]["error"]  # the kind of failure, no secrets
    assert body["checks"]["storage"]["status"] == "ok"


def test_healthz_sqlite_file_gone(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    app = bare_app(tmp_path, f"sqlite:///{folder / 'kenshu.db'}")
    shutil.rmtree(folder)
    assert_database_down(app)


def test_healthz_postgres_unreachable(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = bare_app(tmp_path, f"postgresql+psycopg://kenshu:secret@127.0.0.1:{port}/kenshu")
    response = app.test_client().get("/healthz")
    assert "secret" not in response.get_data(as_text=True)
    assert_database_down(app)


def test_healthz_storage_not_writable(tmp_path, database_url):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app = create_app(
        {
            "LMS_INSTANCE_PATH": str(tmp_path / "instance"),
            "LMS_DATABASE_URL": database_url,
            "LMS_STORAGE_PATH": str(blocker / "storage"),
            "LMS_SECRET_KEY": "test",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["storage"]["status"] == "down"
