"""Two admins saving programmes with the same code at once: a message, not a server error.

The race is real: the pre-check finds no clash, then another connection commits a
programme with the same code just before this request's own INSERT or UPDATE reaches
the database, whose unique constraint refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from lms.db import get_engine, new_session
from lms.programs import services
from lms.programs.models import Programme, Sponsor
from tests.conftest import login

MESSAGE = "A programme with this code already exists."


@contextmanager
def rival_saves_first(
    app: Flask, table_statement: str, code: str, sponsor_id: int
) -> Iterator[list[int]]:
    """Just before the first statement starting with ``table_statement``, another
    connection commits a programme with ``code``; yields the rival's id once it exists."""
    engine = get_engine(app)
    rivals: list[int] = []
    fired: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.lstrip().upper().startswith(table_statement):
            return
        fired.append(True)  # the rival's own INSERT passes through here too
        with new_session(app) as other:
            programme = Programme(
                code=code,
                title="The other admin's programme",
                sponsor_id=sponsor_id,
                starts_on=date(2025, 4, 1),
                ends_on=date(2025, 9, 30),
            )
            other.add(programme)
            other.commit()
            rivals.append(programme.id)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield rivals
    finally:
        event.remove(engine, "before_cursor_execute", before)


def form(sponsor_id: int, **changes: str) -> dict[str, str]:
    return {
        "code": "tky-2025-02",
        "title": "Incineration plants",
        "sponsor": str(sponsor_id),
        "starts_on": "2025-05-01",
        "ends_on": "2025-07-31",
        **changes,
    }


def _sponsor(db: Session) -> int:
    sponsor = Sponsor(name="Ministry of Environment", kind="ministry")
    db.add(sponsor)
    db.commit()
    return sponsor.id


def _programmes(app: Flask) -> list[tuple[str, str]]:
    with new_session(app) as session:
        return [
            (p.code, p.title) for p in session.scalars(select(Programme).order_by(Programme.id))
        ]


def test_creating_a_programme_whose_code_was_just_taken(
    app: Flask, client, db: Session, make_user: Callable[..., Any]
) -> None:
    login(client, make_user("admin").email)
    sponsor_id = _sponsor(db)
    with rival_saves_first(app, "INSERT INTO PROGRAMMES", "TKY-2025-02", sponsor_id) as rivals:
        response = client.post("/admin/programmes", data=form(sponsor_id))
    assert rivals, "the race was not staged"
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert MESSAGE in html
    assert 'aria-invalid="true"' in html  # by the code field, as the pre-check puts it
    assert _programmes(app) == [("TKY-2025-02", "The other admin's programme")]


def test_renaming_a_programme_to_a_code_just_taken(
    app: Flask, client, db: Session, make_user: Callable[..., Any]
) -> None:
    login(client, make_user("admin").email)
    sponsor_id = _sponsor(db)
    mine = Programme(
        code="TKY-2025-01",
        title="Waste basics",
        sponsor_id=sponsor_id,
        starts_on=date(2025, 4, 1),
        ends_on=date(2025, 9, 30),
    )
    db.add(mine)
    db.commit()
    with rival_saves_first(app, "UPDATE PROGRAMMES", "TKY-2025-02", sponsor_id) as rivals:
        response = client.post(
            f"/admin/programmes/{mine.id}", data=form(sponsor_id, title="Renamed")
        )
    assert rivals, "the race was not staged"
    assert response.status_code == 400
    assert MESSAGE in response.get_data(as_text=True)
    assert _programmes(app) == [
        ("TKY-2025-01", "Waste basics"),
        ("TKY-2025-02", "The other admin's programme"),
    ]


def _data(sponsor_id: int, code: str) -> services.ProgrammeData:
    return services.ProgrammeData(
        code=code,
        title="Plants",
        sponsor_id=sponsor_id,
        starts_on=date(2025, 5, 1),
        ends_on=date(2025, 7, 31),
    )


def test_the_unit_of_work_stays_usable_after_the_clash(app: Flask, db: Session) -> None:
    sponsor_id = _sponsor(db)
    expected = ["AFTER-1", "RACE-1"]
    with new_session(app) as session:
        # SQLite lets one writer at a time: there the rival could not commit after a write.
        if session.get_bind().dialect.name == "postgresql":
            services.save_programme(session, _data(sponsor_id, "KEPT-1"))
            expected.append("KEPT-1")
        with rival_saves_first(app, "INSERT INTO PROGRAMMES", "RACE-1", sponsor_id):
            try:
                services.save_programme(session, _data(sponsor_id, "RACE-1"))
            except services.ProgrammeError as error:
                assert str(error.message) == MESSAGE
                assert error.field == "code"
            else:
                raise AssertionError("the clash was not reported")
        services.save_programme(session, _data(sponsor_id, "AFTER-1"))
        session.commit()
    assert sorted(code for code, _title in _programmes(app)) == sorted(expected)


def test_a_saved_programme_is_undone_with_its_unit_of_work(app: Flask, db: Session) -> None:
    """The savepoint must not commit on its own (pysqlite opens transactions lazily)."""
    sponsor_id = _sponsor(db)
    with new_session(app) as session:
        services.save_programme(session, _data(sponsor_id, "UNDONE-1"))
        session.rollback()
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(Programme)) == 0
