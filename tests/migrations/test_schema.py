"""The migrated schema matches the models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

import lms.models  # noqa: F401
from lms.db import Base, make_engine
from lms.migrate import upgrade
from tests.conftest import require_postgres


def _assert_no_difference(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    _assert_no_difference(f"sqlite:///{tmp_path / 'migrated.db'}")


def test_migrations_are_idempotent_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    upgrade(url)
    upgrade(url)  # a second `lms init` is a no-op
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_migrations_match_models_on_postgresql() -> None:
    base = make_url(require_postgres())
    name = f"{base.database or 'test'}_migrate_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _assert_no_difference(base.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_create_app_does_not_migrate(tmp_path: Path) -> None:
    from lms import create_app
    from lms.db import get_engine

    app = create_app(
        {"LMS_INSTANCE_PATH": str(tmp_path), "LMS_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    with get_engine(app).connect() as connection:  # the app's own database, now opened
        assert inspect(connection).get_table_names() == []
    get_engine(app).dispose()


def test_downgrade_to_base_and_back_on_sqlite(tmp_path: Path) -> None:
    from alembic import command

    from lms.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    _assert_no_difference(url)
