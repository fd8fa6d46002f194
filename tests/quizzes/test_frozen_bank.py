"""The bank a published quiz draws from is frozen at publish: live edits and archives of
questions reach trainees only when the course is published again, and a publish that
would make a quiz unstartable is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.catalog import services as catalog
from lms.catalog.models import Course, CourseVersion
from lms.db import new_session
from lms.quizzes import questions
from lms.quizzes.models import Question
from lms.quizzes.publishing import QuizPublishError
from tests.conftest import csrf_token_from, login
from tests.quizzes.test_attempts import SPECS, T0, build_quiz, load, start, submit


def _versions(session, course_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(CourseVersion).where(CourseVersion.course_id == course_id)
    )


def _publish(app: Flask, world) -> None:
    with new_session(app) as session:
        course = session.get(Course, world.course_id)
        catalog.publish(session, session.get(User, world.instructor_id), course)
        session.commit()


def test_archiving_a_fixed_question_leaves_the_published_quiz_startable(
    app: Flask, make_user
) -> None:
    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"], "single": SPECS["single"]})
    with new_session(app) as session:
        session.scalar(select(Question).where(Question.uid == "tf")).archived_at = T0
        session.commit()
    attempt = load(app, start(app, world))
    assert [item["uid"] for item in attempt.items] == ["tf", "single"]

    # Publishing now is refused with a clear message, and nothing is published.
    with new_session(app) as session:
        before = _versions(session, world.course_id)
        course = session.get(Course, world.course_id)
        with pytest.raises(QuizPublishError) as refused:
            catalog.publish(session, session.get(User, world.instructor_id), course)
        assert "“tf”" in str(refused.value.message) and "Module quiz" in str(refused.value.message)
        session.rollback()
        assert _versions(session, world.course_id) == before


def test_unpublished_bank_edits_do_not_reach_new_attempts(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"]})
    with new_session(app) as session:
        question = session.scalar(select(Question).where(Question.uid == "tf"))
        question.spec = questions.validate({**SPECS["tf"], "answer": True, "points": 5})
        session.commit()
    first = load(app, start(app, world))
    assert first.items[0]["spec"]["answer"] is False and first.max_score == 1
    assert submit(app, first.id)

    _publish(app, world)
    second = load(app, start(app, world, T0 + timedelta(hours=1)))
    assert second.items[0]["spec"]["answer"] is True and second.max_score == 5


def test_a_category_with_too_few_questions_refuses_the_publish(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"]}, extra_random=3)
    with new_session(app) as session:
        for uid in ("pool0", "pool1", "pool2"):
            session.scalar(select(Question).where(Question.uid == uid)).archived_at = T0
        session.commit()
    with new_session(app) as session:
        course = session.get(Course, world.course_id)
        with pytest.raises(QuizPublishError) as refused:
            catalog.publish(session, session.get(User, world.instructor_id), course)
        message = str(refused.value.message)
        assert "“pool”" in message and "3" in message and "2" in message
    # The published quiz still draws its three random questions from the frozen bank.
    attempt = load(app, start(app, world))
    assert len(attempt.items) == 4


def test_the_snapshot_freezes_only_the_questions_the_quiz_can_draw(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"]}, extra_random=1)
    with new_session(app) as session:
        session.add(
            Question(
                course_id=world.course_id,
                uid="unused",
                type="true_false",
                spec=questions.validate(SPECS["tf"]),
            )
        )
        session.commit()
    _publish(app, world)
    with new_session(app) as session:
        snapshot = session.get(Course, world.course_id).published_version.snapshot
        lessons = [lesson for module in snapshot["modules"] for lesson in module["lessons"]]
        quiz = next(lesson for lesson in lessons if lesson["id"] == world.quiz_id)
        frozen = quiz["bank"]["questions"]
        assert sorted(q["uid"] for q in frozen) == ["pool0", "pool1", "pool2", "tf"]
        assert {q["category"] for q in frozen} == {None, "pool"}
        assert frozen[-1]["spec"] == questions.validate(SPECS["tf"])
        assert all("bank" not in lesson for lesson in lessons if lesson["kind"] != "quiz")


def test_the_publish_page_shows_the_refusal(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"]})
    with new_session(app) as session:
        session.scalar(select(Question).where(Question.uid == "tf")).archived_at = T0
        email = session.get(User, world.instructor_id).email
        session.commit()
    client = app.test_client()
    login(client, email)
    page = client.get(f"/teach/courses/{world.course_id}")
    response = client.post(
        f"/teach/courses/{world.course_id}/publish",
        data={"csrf_token": csrf_token_from(page.get_data(as_text=True))},
    )
    assert response.status_code == 400
    assert "which is archived" in response.get_data(as_text=True)


def test_bank_edits_mark_the_course_as_changed(app: Flask, make_user) -> None:
    """So the instructor sees the publish button: edits reach trainees only through it."""
    from lms.quizzes import bank

    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"]})
    with new_session(app) as session:
        assert session.get(Course, world.course_id).draft_changed is False
        bank.save_question(
            session,
            world.course_id,
            uid="tf",
            title="tf",
            category=None,
            spec={**SPECS["tf"], "answer": True},
        )
        session.commit()
        assert session.get(Course, world.course_id).draft_changed is True
