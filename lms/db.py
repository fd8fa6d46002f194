"""The declarative base, the engine and one database session per request.

A request gets its session lazily from :func:`get_session`. The session is
committed once after a successful request (status below 400) and rolled back
otherwise; services only flush.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite forgets the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def init_app(app: Flask, url: str) -> None:
    engine = make_engine(url)
    app.extensions["lms.engine"] = engine
    app.extensions["lms.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)

    @app.after_request
    def _finish_unit_of_work(response: Response) -> Response:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return response

    @app.teardown_request
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:  # the request failed before after_request ran
            session.rollback()
            session.close()


def insert_if_absent(
    session: Session, model: type[Base], values: dict[str, Any], keys: list[str]
) -> int | None:
    """Insert a row unless one with the same ``keys`` exists: its id, or None if it existed.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` (SQLite and PostgreSQL, the two
    databases config accepts): race-safe, so a thing recorded "once" is recorded once.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(model.id)  # type: ignore[attr-defined]
    )
    return session.execute(statement).scalar_one_or_none()


def get_engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["lms.engine"]


def get_session() -> Session:
    """The session of the current request, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["lms.sessionmaker"]()
    return g.db_session


def new_session(app: Flask | None = None) -> Session:
    """A session outside any request (CLI commands, jobs, tests); the caller commits."""
    return (app or current_app).extensions["lms.sessionmaker"]()


# --- side effects that follow the transaction ------------------------------------------
#
# Actions wait in ``session.info``; two listeners, attached once per session and never
# removed, run them (removing a listener while SQLAlchemy dispatches the event fails
# with "deque mutated during iteration"). Used to queue jobs and delete storage objects
# only once the rows that refer to them are committed or rolled back.

_HOOKS = "lms.after_transaction"


def _hooks(session: Session) -> dict[str, list[Callable[[], None]]]:
    hooks = session.info.get(_HOOKS)
    if hooks is None:
        hooks = {"commit": [], "rollback": []}
        session.info[_HOOKS] = hooks
        event.listen(session, "after_commit", _run_commit_hooks)
        event.listen(session, "after_soft_rollback", _run_rollback_hooks)
    return hooks


def _run(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # the transaction is over; report and go on
            log.exception("an action after the transaction failed")


def _run_commit_hooks(session: Session) -> None:
    hooks = session.info.get(_HOOKS)
    if hooks:
        actions, hooks["commit"], hooks["rollback"] = hooks["commit"], [], []
        _run(actions)


def _run_rollback_hooks(session: Session, transaction: SessionTransaction) -> None:
    hooks = session.info.get(_HOOKS)
    if hooks and transaction.parent is None:  # the outermost transaction only
        actions, hooks["commit"], hooks["rollback"] = hooks["rollback"], [], []
        _run(actions)


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once ``session`` commits; forget it if it rolls back."""
    _hooks(session)["commit"].append(action)


def on_rollback(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` if ``session`` rolls back; forget it once it commits."""
    _hooks(session)["rollback"].append(action)


def savepoint(session: Session) -> SessionTransaction:
    """``session.begin_nested()`` that is a real SAVEPOINT on SQLite too.

    For a write that may break a unique constraint when two people save at once: the
    failure rolls back to the savepoint and the unit of work stays usable. pysqlite only
    opens a transaction before a write, so a SAVEPOINT opened after mere reads would be
    the outermost transaction and its RELEASE would commit at once; BEGIN first.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            connection.exec_driver_sql("BEGIN")
    return session.begin_nested()
