"""The bank services: save, archive, categories, all-or-nothing imports."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from lms.db import new_session
from lms.quizzes import bank, questions
from lms.quizzes.models import Question, QuestionCategory
from tests.quizzes.authoring_helpers import make_world, single_choice


@pytest.fixture
def world(app: Flask, make_user):
    return make_world(app, make_user)


@pytest.fixture
def session(app: Flask):
    with app.test_request_context(), new_session(app) as session:
        yield session


def test_save_creates_with_an_opaque_uid_and_updates_by_uid(world, session) -> None:
    first = bank.save_question(
        session,
        world.course_id,
        uid=None,
        title=" Days ",
        category="Collection",
        spec=single_choice(),
    )
    assert bank.UID_PATTERN.fullmatch(first.uid) and first.type == "single_choice"
    assert first.title == "Days" and first.category is not None
    assert first.category.name == "Collection"
    edited = single_choice("Edited")
    again = bank.save_question(
        session, world.course_id, uid=first.uid, title="Days", category=None, spec=edited
    )
    assert again.id == first.id and again.category_id is None
    assert again.spec["texts"]["en"]["text"] == "Edited (en)"
    assert again.spec == questions.validate(edited)  # stored validated


def test_save_refuses_an_invalid_spec_and_stores_nothing(world, session) -> None:
    spec = single_choice()
    spec["choices"][0]["weight"] = 0  # no right answer
    with pytest.raises(questions.QuestionError) as caught:
        bank.save_question(session, world.course_id, uid=None, title="", category=None, spec=spec)
    assert caught.value.field == "choices"
    assert session.scalar(select(Question.id)) is None
    with pytest.raises(questions.QuestionError) as caught:
        bank.save_question(
            session, world.course_id, uid="bad uid!", title="", category=None, spec=single_choice()
        )
    assert caught.value.field == "uid"


def test_categories_are_per_course(world, session) -> None:
    mine = bank.get_or_create_category(session, world.course_id, "  Plants  ")
    assert mine.name == "Plants"
    assert bank.get_or_create_category(session, world.course_id, "Plants").id == mine.id
    theirs = bank.get_or_create_category(session, world.other_course_id, "Plants")
    assert theirs.id != mine.id
    question = bank.save_question(
        session, world.course_id, uid=None, title="", category="Plants", spec=single_choice()
    )
    other = bank.get_or_create_category(session, world.course_id, "Other")
    with pytest.raises(questions.QuestionError):
        bank.rename_category(session, other, "Plants")
    bank.delete_category(session, mine)
    session.refresh(question)
    assert question.category_id is None  # the question stays in the bank
    assert session.get(QuestionCategory, mine.id) is None


def test_archive_takes_a_question_out_of_the_bank(world, session) -> None:
    question = bank.save_question(
        session, world.course_id, uid="q-days", title="", category=None, spec=single_choice()
    )
    bank.archive_question(session, question)
    assert bank.active_questions(session, world.course_id) == []
    assert bank.export_entries(session, world.course_id) == []
    # Saving the uid again brings it back (a package or GIFT re-import).
    back = bank.save_question(
        session, world.course_id, uid="q-days", title="", category=None, spec=single_choice()
    )
    assert back.id == question.id and back.archived_at is None


def test_import_is_all_or_nothing_and_reports_every_entry(world, session) -> None:
    bad = single_choice()
    bad["points"] = 0
    worse = single_choice()
    worse["choices"][1]["texts"] = {}
    entries = [
        bank.BankEntry("q-1", "Good", "A", single_choice()),
        bank.BankEntry("q-2", "Bad", "A", bad),
        bank.BankEntry("q-3", "Worse", None, worse),
        bank.BankEntry("q-1", "Twice", None, single_choice()),
    ]
    with pytest.raises(bank.BankImportError) as caught:
        bank.import_entries(session, world.course_id, entries, replace=False)
    errors = caught.value.errors
    assert [(e.index, e.field) for e in errors] == [
        (1, "points"),
        (2, "choices[1].texts"),
        (3, "uid"),
    ]
    assert str(errors[0]).startswith("Question 2: points:")
    assert session.scalar(select(Question.id)) is None
    assert session.scalar(select(QuestionCategory.id)) is None


def test_import_upserts_by_uid_and_replace_archives_the_rest(world, session) -> None:
    bank.import_entries(
        session,
        world.course_id,
        [
            bank.BankEntry("q-1", "One", "A", single_choice("One")),
            bank.BankEntry("q-2", "Two", "B", single_choice("Two")),
        ],
        replace=False,
    )
    stored = bank.import_entries(
        session,
        world.course_id,
        [bank.BankEntry("q-1", "One again", "A", single_choice("One again"))],
        replace=True,
    )
    active = bank.active_questions(session, world.course_id)
    assert [q.uid for q in active] == ["q-1"] and active[0].id == stored[0].id
    assert active[0].title == "One again"
    assert session.scalar(select(Question).where(Question.uid == "q-2")).archived_at is not None
    exported = bank.export_entries(session, world.course_id)
    assert [(e.uid, e.title, e.category) for e in exported] == [("q-1", "One again", "A")]
    # Another course's bank is untouched by any of it.
    assert bank.active_questions(session, world.other_course_id) == []


def test_import_of_nothing_is_refused(world, session) -> None:
    with pytest.raises(bank.BankImportError):
        bank.import_entries(session, world.course_id, [], replace=True)
