"""Taking a quiz: freezing, saves, the deadline, submits, attempts, results, review,
completion. On SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from lms.accounts.models import User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson
from lms.db import new_session
from lms.learning import tracking
from lms.learning.models import LessonProgress, ProgressStatus
from lms.learning.records import CourseCompletion
from lms.programs.models import Programme
from lms.quizzes import attempts as svc
from lms.quizzes import questions
from lms.quizzes.models import Question, QuestionCategory, QuizAnswer, QuizAttempt
from tests.conftest import login
from tests.learning.test_completion import make_programme

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _texts(text: str, **extra: str) -> dict[str, dict[str, str]]:
    return {"en": {"text": text, **extra}}


# Every question type, with feedback, explanations, weights, tolerances, accepted answers
# and matches; every secret the browser must not see before review holds "SECRET".
SPECS: dict[str, dict[str, Any]] = {
    "single": {
        "type": "single_choice",
        "points": 2,
        "texts": _texts("Which gas do incinerators scrub?", explanation="EXPLAIN-SECRET-single"),
        "choices": [
            {"id": "k7", "texts": _texts("HCl", feedback="FEEDBACK-SECRET-right"), "weight": 1},
            {"id": "b2", "texts": _texts("Neon", feedback="FEEDBACK-SECRET-wrong"), "weight": -0.5},
            {"id": "x9", "texts": _texts("Argon"), "weight": 0.25},
        ],
    },
    "multi": {
        "type": "multiple_response",
        "points": 3,
        "scoring": "partial",
        "texts": _texts("Which are recyclable?", explanation="EXPLAIN-SECRET-multi"),
        "choices": [
            {"id": "m1", "texts": _texts("Cans", feedback="FEEDBACK-SECRET-cans"), "weight": 0.5},
            {"id": "m2", "texts": _texts("PET bottles"), "weight": 0.5},
            {"id": "m3", "texts": _texts("Nappies"), "weight": -1},
        ],
    },
    "tf": {
        "type": "true_false",
        "points": 1,
        "answer": False,
        "texts": _texts("Tokyo has one ward.", explanation="EXPLAIN-SECRET-tf"),
        "feedback": {"true": {"en": "FEEDBACK-SECRET-true"}, "false": {"en": "FEEDBACK-SECRET-f"}},
    },
    "numeric": {
        "type": "numeric",
        "points": 1,
        "texts": _texts("How many wards?", explanation="EXPLAIN-SECRET-num"),
        "answers": [
            {"id": "n1", "value": 23, "tolerance": 0.125, "feedback": {"en": "FEEDBACK-SECRET-n"}},
            {"id": "n2", "min": 7771, "max": 7779, "credit": 0.5},
        ],
    },
    "short": {
        "type": "short_answer",
        "points": 1,
        "texts": _texts("Name the bay.", explanation="EXPLAIN-SECRET-short"),
        "answers": [
            {
                "id": "s1",
                "text": "ACCEPTED-SECRET-Tokyo Bay",
                "feedback": {"en": "FEEDBACK-SECRET-s"},
            },
            {"id": "s2", "text": "ACCEPTED-SECRET-Edo", "credit": 0.5},
        ],
    },
    "matching": {
        "type": "matching",
        "points": 2,
        "texts": _texts("Match the bins.", explanation="EXPLAIN-SECRET-match"),
        "prompts": [
            {"id": "p1", "texts": _texts("Glass"), "match": "o2"},
            {"id": "p2", "texts": _texts("Paper"), "match": "o1"},
        ],
        "options": [
            {"id": "o1", "texts": _texts("Blue bin")},
            {"id": "o2", "texts": _texts("Green bin")},
            {"id": "o3", "texts": _texts("Red bin")},
        ],
    },
    "ordering": {
        "type": "ordering",
        "points": 1,
        "texts": _texts("Order the steps.", explanation="EXPLAIN-SECRET-order"),
        "items": [
            {"id": "i1", "texts": _texts("Collect")},
            {"id": "i2", "texts": _texts("Sort")},
            {"id": "i3", "texts": _texts("Burn")},
        ],
    },
}
RIGHT: dict[str, Any] = {
    "single": "k7",
    "multi": ["m1", "m2"],
    "tf": False,
    "numeric": 23.1,
    "short": "accepted-secret-tokyo  bay",
    "matching": {"p1": "o2", "p2": "o1"},
    "ordering": ["i1", "i2", "i3"],
}
TOTAL = sum(spec["points"] for spec in SPECS.values())


@dataclass
class QuizWorld:
    course_id: int
    quiz_id: int
    reading_id: int
    trainee_id: int
    trainee_email: str
    instructor_id: int
    programme_id: int

    def trainee(self, session) -> User:
        return session.get(User, self.trainee_id)


def build_quiz(
    app: Flask,
    make_user,
    *,
    settings: dict[str, Any] | None = None,
    specs: dict[str, dict[str, Any]] | None = None,
    extra_random: int = 0,
    quiz_required: bool = True,
) -> QuizWorld:
    """A published course: a reading and a quiz drawing the given bank questions (fixed
    slots), plus ``extra_random`` random ones from a category; one trainee enrolled."""
    instructor = make_user("instructor")
    trainee = make_user("trainee")
    specs = SPECS if specs is None else specs
    with new_session(app) as session:
        actor = session.get(User, instructor.id)
        code = f"Q-{uuid.uuid4().hex[:6]}"
        course = catalog.create_course(session, actor, catalog.CourseData(code, "Quiz course"))
        catalog.set_instructors(session, course, [instructor.id])
        module = catalog.add_module(session, course, "en", "Module")
        reading = catalog.add_lesson(
            session,
            module,
            catalog.LessonData(kind="reading", title="Reading", language="en", body="Text"),
        )
        category = QuestionCategory(course_id=course.id, name="pool")
        session.add(category)
        session.flush()
        for uid, spec in specs.items():
            session.add(
                Question(
                    course_id=course.id,
                    uid=uid,
                    title=uid,
                    type=spec["type"],
                    spec=questions.validate(spec),
                )
            )
        for n in range(extra_random + (2 if extra_random else 0)):
            spec = questions.validate(
                {
                    "type": "true_false",
                    "points": 1,
                    "answer": True,
                    "texts": _texts(f"Pool question {n}"),
                }
            )
            session.add(
                Question(
                    course_id=course.id,
                    category_id=category.id,
                    uid=f"pool{n}",
                    type="true_false",
                    spec=spec,
                )
            )
        slots: list[dict[str, Any]] = [{"question": uid} for uid in specs]
        if extra_random:
            slots.append({"category": "pool", "count": extra_random})
        quiz_settings = {"pass_mark": 60, "review": "immediately", **(settings or {})}
        quiz_settings["slots"] = slots
        quiz = catalog.add_lesson(
            session,
            module,
            catalog.LessonData(
                kind="quiz",
                title="Module quiz",
                language="en",
                required=quiz_required,
                settings={"quiz": quiz_settings},
            ),
        )
        catalog.publish(session, actor, course)
        session.commit()
        ids = (course.id, quiz.id, reading.id)
    programme_id = make_programme(app, [(ids[0], True)], [trainee.id])
    return QuizWorld(ids[0], ids[1], ids[2], trainee.id, trainee.email, instructor.id, programme_id)


@pytest.fixture
def world(app: Flask, make_user) -> QuizWorld:
    return build_quiz(app, make_user)


def course_of(session, world: QuizWorld) -> Course:
    return session.get(Course, world.course_id)


def start(app: Flask, world: QuizWorld, now: datetime = T0, seed: int | None = 7) -> int:
    with new_session(app) as session:
        user = world.trainee(session)
        attempt = tracking.commit_with_retries(
            session, lambda: svc.start_attempt(session, user, world.quiz_id, now, seed=seed)
        )
        return attempt.id


def save(app: Flask, attempt_id: int, position: int, raw: Any, revision: int, now=T0):
    with new_session(app) as session:
        attempt = session.get(QuizAttempt, attempt_id)
        return tracking.commit_with_retries(
            session, lambda: svc.save_answer(session, attempt, position, raw, revision, now)
        )


def submit(app: Flask, attempt_id: int, now: datetime = T0 + timedelta(minutes=5)) -> bool:
    with new_session(app) as session:
        return tracking.commit_with_retries(session, lambda: svc.submit(session, attempt_id, now))


def load(app: Flask, attempt_id: int) -> QuizAttempt:
    with new_session(app) as session:
        attempt = session.get(QuizAttempt, attempt_id)
        session.expunge(attempt)
        return attempt


def answers(app: Flask, attempt_id: int) -> list[QuizAnswer]:
    with new_session(app) as session:
        rows = svc.answers_of(session, attempt_id)
        session.expunge_all()
        return rows


def position_of(app: Flask, attempt_id: int) -> dict[str, int]:
    return {item["uid"]: index for index, item in enumerate(load(app, attempt_id).items)}


def answer_all(app: Flask, attempt_id: int, responses: dict[str, Any], revision: int = 1) -> None:
    positions = position_of(app, attempt_id)
    for uid, raw in responses.items():
        save(app, attempt_id, positions[uid], raw, revision)


# --- starting and freezing --------------------------------------------------------------------


def test_start_freezes_questions_layout_and_settings(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    attempt = load(app, attempt_id)
    assert [item["uid"] for item in attempt.items] == list(SPECS)
    assert attempt.max_score == TOTAL
    assert attempt.settings["pass_mark"] == 60
    assert len(answers(app, attempt_id)) == len(SPECS)
    before = [dict(item) for item in attempt.items]

    # The instructor edits the bank and the quiz afterwards.
    with new_session(app) as session:
        question = session.scalar(select(Question).where(Question.uid == "single"))
        spec = dict(question.spec)
        spec["choices"] = [dict(c, weight=1.0 if c["id"] == "b2" else 0.0) for c in spec["choices"]]
        question.spec = spec
        session.scalar(select(Question).where(Question.uid == "tf")).archived_at = T0
        lesson = session.get(Lesson, world.quiz_id)
        quiz = lesson.settings["quiz"]
        slots = [slot for slot in quiz["slots"] if slot != {"question": "tf"}]
        lesson.settings = {"quiz": {**quiz, "pass_mark": 100, "slots": slots}}
        course = session.get(Course, world.course_id)
        catalog.publish(session, session.get(User, world.instructor_id), course)
        session.commit()

    assert load(app, attempt_id).items == before
    answer_all(app, attempt_id, RIGHT)
    assert submit(app, attempt_id)
    graded = load(app, attempt_id)
    assert graded.score == TOTAL  # graded against the frozen spec: "k7" is still right
    assert graded.passed and graded.settings["pass_mark"] == 60


def test_resume_returns_the_attempt_in_progress(app: Flask, world: QuizWorld) -> None:
    first = start(app, world)
    assert start(app, world, T0 + timedelta(minutes=1), seed=99) == first
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(QuizAttempt)) == 1


def test_random_questions_from_a_category(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, specs={"tf": SPECS["tf"]}, extra_random=3)
    attempt = load(app, start(app, world, seed=1))
    uids = [item["uid"] for item in attempt.items]
    assert uids[0] == "tf" and len(uids) == 4 and len(set(uids)) == 4
    assert all(uid.startswith("pool") for uid in uids[1:])
    # Questions archived (and published) are never drawn.
    with new_session(app) as session:
        for question in session.scalars(select(Question).where(Question.uid.like("pool%"))):
            question.archived_at = T0
        for uid in ("pool0", "pool2", "pool4"):
            session.scalar(select(Question).where(Question.uid == uid)).archived_at = None
        catalog.publish(session, session.get(User, world.instructor_id), course_of(session, world))
        session.commit()
    assert submit(app, attempt.id)
    again = load(app, start(app, world, T0 + timedelta(hours=1), seed=2))
    assert again.items[0]["uid"] == "tf"
    assert sorted(item["uid"] for item in again.items[1:]) == ["pool0", "pool2", "pool4"]


def test_shuffles_are_frozen_by_the_seed(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"shuffle_questions": True})
    a = load(app, start(app, world, seed=5))
    assert submit(app, a.id)
    b = load(app, start(app, world, T0 + timedelta(hours=1), seed=5))
    assert [i["uid"] for i in a.items] == [i["uid"] for i in b.items]
    assert [i["layout"] for i in a.items] == [i["layout"] for i in b.items]
    ordering = next(i for i in a.items if i["uid"] == "ordering")
    assert ordering["layout"]["items"] != ["i1", "i2", "i3"]


def test_concurrent_starts_make_one_attempt(app: Flask, world: QuizWorld) -> None:
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(start(app, world, seed=None))
        except Exception as error:  # noqa: BLE001 - reported below
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(QuizAttempt)) == 1


# --- attempts allowed and the wait --------------------------------------------------------------


def test_max_attempts_and_wait(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"max_attempts": 2, "wait_minutes": 30})
    first = start(app, world)
    assert submit(app, first, T0 + timedelta(minutes=5))
    with pytest.raises(svc.QuizUnavailable, match="pause"):
        start(app, world, T0 + timedelta(minutes=34))
    second = start(app, world, T0 + timedelta(minutes=35))
    assert load(app, second).number == 2
    assert submit(app, second, T0 + timedelta(minutes=40))
    with pytest.raises(svc.QuizUnavailable, match="all the attempts"):
        start(app, world, T0 + timedelta(days=2))


# --- saving ---------------------------------------------------------------------------------------


def test_saves_are_idempotent_and_only_newer_ones_apply(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    single = position_of(app, attempt_id)["single"]
    first = save(app, attempt_id, single, "b2", 100)
    assert first.applied and first.revision == 100
    again = save(app, attempt_id, single, "b2", 100)  # a replay
    assert not again.applied and again.response == "b2"
    newer = save(app, attempt_id, single, "k7", 300)
    assert newer.applied
    late = save(app, attempt_id, single, "x9", 200)  # older, arriving after the newer one
    assert not late.applied and late.response == "k7" and late.revision == 300
    assert answers(app, attempt_id)[single].response == "k7"


def test_malformed_saves_are_refused_with_a_message(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    positions = position_of(app, attempt_id)
    with pytest.raises(svc.InvalidAnswer, match="choices"):
        save(app, attempt_id, positions["single"], "nope", 1)
    with pytest.raises(svc.InvalidAnswer, match="thousands"):
        save(app, attempt_id, positions["numeric"], "1,000", 1)
    with pytest.raises(svc.InvalidAnswer, match="no such question"):
        save(app, attempt_id, 99, "k7", 1)
    with pytest.raises(svc.InvalidAnswer, match="revision"):
        save(app, attempt_id, positions["single"], "k7", 0)
    assert all(a.response is None and a.revision == 0 for a in answers(app, attempt_id))


# --- submitting and grading -----------------------------------------------------------------------


def test_grading_with_partial_credit(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    answer_all(
        app,
        attempt_id,
        {
            "single": "x9",  # 0.25 x 2
            "multi": ["m1", "m3"],  # 0.5 - 1 -> 0
            "tf": "false",  # 1
            "numeric": "7775",  # 0.5
            "short": "ＡＣＣＥＰＴＥＤ-SECRET-edo",  # 0.5, full-width
            "matching": {"p1": "o2", "p2": "o3"},  # 1 of 2 x 2
            "ordering": ["i1", "i3", "i2"],  # 1 of 3
        },
    )
    assert submit(app, attempt_id)
    attempt = load(app, attempt_id)
    assert attempt.score == pytest.approx(0.5 + 0 + 1 + 0.5 + 0.5 + 1 + 1 / 3)
    assert not attempt.passed  # 3.83 of 11 < 60 %
    assert attempt.finish_reason == "submitted"
    saved = {a.position: a for a in answers(app, attempt_id)}
    single = saved[position_of(app, attempt_id)["single"]]
    assert single.feedback == [] and single.score == 0.5


def test_double_submit_grades_once(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    answer_all(app, attempt_id, RIGHT)
    assert submit(app, attempt_id) is True
    assert submit(app, attempt_id, T0 + timedelta(minutes=9)) is False
    attempt = load(app, attempt_id)
    assert attempt.finished_at == T0 + timedelta(minutes=5) and attempt.score == TOTAL
    with pytest.raises(svc.AttemptClosed, match="submitted"):
        save(app, attempt_id, 0, None, 10**12)


def test_concurrent_submits_and_saves(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    answer_all(app, attempt_id, RIGHT)
    with new_session(app) as session:
        email = session.get(User, world.trainee_id).email
    client = app.test_client()
    assert login(client, email).status_code == 302
    cookie = client.get_cookie("session").value
    barrier = threading.Barrier(8)
    results: list[Any] = [None] * 8

    def run(index: int) -> None:
        c = app.test_client()
        c.set_cookie("session", cookie)
        barrier.wait()
        if index < 5:
            response = c.post(f"/api/v1/quiz-attempts/{attempt_id}/submit")
        else:  # saves racing the submits: applied before grading, or refused
            response = c.post(
                f"/api/v1/quiz-attempts/{attempt_id}/answers",
                json={"position": 0, "response": "b2", "revision": 10**12 + index},
            )
        results[index] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    submits = results[:5]
    assert all(status == 200 for status, _ in submits), submits
    assert sum(1 for _, body in submits if body["graded"]) == 1
    assert all(status in (200, 409) for status, _ in results[5:]), results
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(QuizAttempt)) == 1
    attempt = load(app, attempt_id)
    first = answers(app, attempt_id)[0]
    # Whatever won, the grade matches what was stored when grading ran.
    expected = 0.0 if first.response == "b2" else 2.0
    assert first.score == expected
    assert attempt.score == pytest.approx(TOTAL - 2 + expected)


# --- the deadline ---------------------------------------------------------------------------------


def test_deadline_grades_what_was_saved_and_refuses_later_saves(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"time_limit_minutes": 10})
    attempt_id = start(app, world)
    attempt = load(app, attempt_id)
    assert attempt.deadline_at == T0 + timedelta(minutes=10)
    positions = position_of(app, attempt_id)
    save(app, attempt_id, positions["single"], "k7", 1, T0 + timedelta(minutes=9))
    with pytest.raises(svc.AttemptClosed, match="time for this attempt is over"):
        save(app, attempt_id, positions["tf"], "false", 2, T0 + timedelta(minutes=10, seconds=1))
    # Graded lazily when read after the deadline, finished at the deadline.
    with new_session(app) as session:
        read = svc.load_attempt(session, attempt_id, T0 + timedelta(minutes=11))
        session.commit()
        assert read.status == "graded" and read.finish_reason == "deadline"
    attempt = load(app, attempt_id)
    assert attempt.finished_at == T0 + timedelta(minutes=10)
    assert attempt.score == 2.0
    # A submit after the deadline grades nothing more.
    assert submit(app, attempt_id, T0 + timedelta(minutes=12)) is False


def test_deadline_job_grades_an_abandoned_attempt(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"time_limit_minutes": 1})
    now = datetime.now(UTC)
    attempt_id = start(app, world, now)
    save(app, attempt_id, position_of(app, attempt_id)["single"], "k7", 1, now)
    with new_session(app) as session:  # the minute passes
        session.execute(
            update(QuizAttempt)
            .where(QuizAttempt.id == attempt_id)
            .values(deadline_at=now - timedelta(seconds=1))
        )
        session.commit()
    with app.app_context():
        svc.finish_quiz_attempt(attempt_id)
        svc.finish_quiz_attempt(attempt_id)  # run twice: graded once
    attempt = load(app, attempt_id)
    assert attempt.status == "graded" and attempt.finish_reason == "deadline"
    assert attempt.score == 2.0


def test_start_schedules_the_deadline_job(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"time_limit_minutes": 5})
    with app.app_context():
        from lms.jobs import get_jobs

        huey = get_jobs().huey
        huey.flush()
        with new_session(app) as session:
            user = world.trainee(session)
            tracking.commit_with_retries(
                session,
                lambda: svc.start_attempt(session, user, world.quiz_id, datetime.now(UTC)),
            )
        scheduled = huey.pending()  # a consumer moves it to its schedule when it reads it
        assert [task.name for task in scheduled] == ["finish_quiz_attempt"]
        assert scheduled[0].eta > datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=4)


# --- which result counts --------------------------------------------------------------------------


@pytest.mark.parametrize("grading", ["best", "last"])
def test_best_or_last(app: Flask, make_user, grading: str) -> None:
    world = build_quiz(app, make_user, settings={"grading": grading})
    first = start(app, world)
    answer_all(app, first, RIGHT)
    assert submit(app, first)
    second = start(app, world, T0 + timedelta(hours=1))
    assert submit(app, second, T0 + timedelta(hours=2))  # blank: 0
    with new_session(app) as session:
        counted = svc.counted_result(session, world.trainee_id, world.quiz_id)
        assert counted.id == (first if grading == "best" else second)


def test_apply_grades_after_an_override(app: Flask, world: QuizWorld) -> None:
    attempt_id = start(app, world)
    assert submit(app, attempt_id)
    assert not load(app, attempt_id).passed
    with new_session(app) as session:
        for answer in svc.answers_of(session, attempt_id):
            answer.override_score = float(
                SPECS[load(app, attempt_id).items[answer.position]["uid"]]["points"]
            )
        svc.apply_grades(session, session.get(QuizAttempt, attempt_id), T0 + timedelta(days=1))
        session.commit()
    attempt = load(app, attempt_id)
    assert attempt.score == TOTAL and attempt.passed
    with new_session(app) as session:
        progress = tracking.find_progress(session, world.trainee_id, world.quiz_id)
        assert progress is not None and progress.status == ProgressStatus.DONE


# --- review ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "passed", "ends_on", "today", "allowed"),
    [
        ("immediately", False, None, date(2026, 3, 2), True),
        ("after_passing", False, None, date(2026, 3, 2), False),
        ("after_passing", True, None, date(2026, 3, 2), True),
        ("after_programme", True, date(2026, 12, 31), date(2026, 12, 31), False),
        ("after_programme", True, date(2026, 12, 31), date(2027, 1, 1), True),
        ("after_programme", True, None, date(2027, 1, 1), False),
        ("never", True, date(2026, 1, 1), date(2027, 1, 1), False),
    ],
)
def test_review_policies(policy, passed, ends_on, today, allowed) -> None:
    attempt = QuizAttempt(status="graded", settings={"review": policy}, passed=passed)
    assert (
        svc.review_allowed(attempt, has_passed=False, programme_ends_on=ends_on, today=today)
        is allowed
    )
    in_progress = QuizAttempt(status="in_progress", settings={"review": policy}, passed=None)
    assert not svc.review_allowed(
        in_progress, has_passed=True, programme_ends_on=ends_on, today=today
    )


def test_review_after_the_programme_reads_its_end(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"review": "after_programme"})
    attempt_id = start(app, world)
    assert submit(app, attempt_id)
    with new_session(app) as session:
        attempt = session.get(QuizAttempt, attempt_id)
        ends_on = session.get(Programme, world.programme_id).ends_on
        assert svc.programme_end(session, world.trainee_id, world.course_id) == ends_on
        assert not svc.may_review(session, attempt, ends_on)
        assert svc.may_review(session, attempt, ends_on + timedelta(days=1))


# --- completion ---------------------------------------------------------------------------


def test_passing_a_required_quiz_completes_the_course(app: Flask, world: QuizWorld) -> None:
    with new_session(app) as session:
        user = world.trainee(session)
        lesson = session.get(Lesson, world.reading_id)
        tracking.commit_with_retries(session, lambda: tracking.mark_done(session, user, lesson, T0))

    def completed() -> bool:
        with new_session(app) as session:
            return (
                session.scalar(
                    select(CourseCompletion).where(
                        CourseCompletion.user_id == world.trainee_id,
                        CourseCompletion.course_id == world.course_id,
                    )
                )
                is not None
            )

    failed = start(app, world)
    assert submit(app, failed)
    assert not completed()  # a failed quiz does not complete it
    with new_session(app) as session:
        assert tracking.find_progress(session, world.trainee_id, world.quiz_id) is None

    passed = start(app, world, T0 + timedelta(hours=1))
    answer_all(app, passed, RIGHT)
    assert submit(app, passed, T0 + timedelta(hours=2))
    assert completed()
    with new_session(app) as session:
        progress = session.scalar(
            select(LessonProgress).where(LessonProgress.lesson_id == world.quiz_id)
        )
        assert progress.status == ProgressStatus.DONE
        assert progress.completed_at == T0 + timedelta(hours=2)


# --- through the pages and the API ------------------------------------------------------------


def _client(app: Flask, world: QuizWorld):
    client = app.test_client()
    assert login(client, world.trainee_email).status_code == 302
    return client


def test_the_form_without_javascript(app: Flask, world: QuizWorld) -> None:
    client = _client(app, world)
    lesson_url = f"/courses/{world.course_id}/lessons/{world.quiz_id}"
    attempt_url = client.post(f"{lesson_url}/quiz/start").headers["Location"]
    form = {
        "q0": "k7",
        "q1": ["m1", "m2"],
        "q2": "false",
        "q3": "twenty-three",  # not a number
        "q4": "Ｔｏｋｙｏ",
        "q5.p1": "o2",
        "q5.p2": "o1",
        "q6.i1": "1",
        "q6.i2": "2",
        "q6.i3": "3",
        "action": "submit",
    }
    refused = client.post(attempt_url, data=form)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "nothing was saved" in page and 'value="twenty-three"' in page
    assert "must be a number" in page
    attempt_id = int(attempt_url.rsplit("/", 1)[1])
    assert all(a.response is None for a in answers(app, attempt_id))

    saved = client.post(attempt_url, data={**form, "q3": "２３", "action": "save"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(attempt_url)
    page = client.get(attempt_url).get_data(as_text=True)
    assert 'value="k7" checked' in page and 'value="23"' in page
    assert '<option value="1" selected>1</option>' in page

    submitted = client.post(attempt_url, data={**form, "q3": "23", "q4": "nope"})
    assert submitted.headers["Location"].endswith(f"{attempt_url}/result")
    attempt = load(app, attempt_id)
    assert attempt.status == "graded" and attempt.score == TOTAL - 1
    result = client.get(f"{attempt_url}/result").get_data(as_text=True)
    assert "Score: 10 out of 11" in result and "Passed" in result
    again = client.post(attempt_url, data=form)  # a second click: nothing more happens
    assert again.status_code == 302 and load(app, attempt_id).score == TOTAL - 1


def test_api_refuses_saves_after_the_deadline_with_a_message(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"time_limit_minutes": 5})
    client = _client(app, world)
    lesson_url = f"/courses/{world.course_id}/lessons/{world.quiz_id}"
    attempt_url = client.post(f"{lesson_url}/quiz/start").headers["Location"]
    attempt_id = int(attempt_url.rsplit("/", 1)[1])
    api = f"/api/v1/quiz-attempts/{attempt_id}/answers"
    ok = client.post(api, json={"position": 0, "response": "k7", "revision": 5})
    assert ok.status_code == 200 and ok.get_json()["applied"] is True
    bad = client.post(api, json={"position": 0, "response": ["k7"], "revision": 6})
    assert bad.status_code == 400 and "choices" in bad.get_json()["error"]["message"]
    with new_session(app) as session:
        session.execute(
            update(QuizAttempt)
            .where(QuizAttempt.id == attempt_id)
            .values(deadline_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    late = client.post(api, json={"position": 2, "response": False, "revision": 7})
    assert late.status_code == 409
    assert "time for this attempt is over" in late.get_json()["error"]["message"]
    state = client.get(f"/api/v1/quiz-attempts/{attempt_id}").get_json()
    assert state["status"] == "graded" and state["finish_reason"] == "deadline"
    assert load(app, attempt_id).score == 2.0
    page = client.get(attempt_url, follow_redirects=True).get_data(as_text=True)
    assert "The time ran out" in page


def test_other_people_cannot_touch_an_attempt(app: Flask, world: QuizWorld, make_user) -> None:
    attempt_id = start(app, world)
    other = make_user("trainee")
    client = app.test_client()
    assert login(client, other.email).status_code == 302
    assert client.get(f"/quiz-attempts/{attempt_id}").status_code == 403
    response = client.post(
        f"/api/v1/quiz-attempts/{attempt_id}/answers",
        json={"position": 0, "response": "b2", "revision": 9},
    )
    assert response.status_code == 403
    assert client.post(f"/api/v1/quiz-attempts/{attempt_id}/submit").status_code == 403
    assert load(app, attempt_id).status == "in_progress"


def test_a_stale_form_never_overwrites_a_newer_save(app: Flask, world: QuizWorld) -> None:
    """A page rendered before a save landed posts its old value at the end: ignored."""
    client = _client(app, world)
    lesson_url = f"/courses/{world.course_id}/lessons/{world.quiz_id}"
    attempt_url = client.post(f"{lesson_url}/quiz/start").headers["Location"]
    attempt_id = int(attempt_url.rsplit("/", 1)[1])
    page = client.get(attempt_url).get_data(as_text=True)
    assert 'name="base.0" value="0"' in page
    api = f"/api/v1/quiz-attempts/{attempt_id}/answers"
    assert (
        client.post(api, json={"position": 0, "response": "k7", "revision": 50}).status_code == 200
    )
    # The stale page shows question 1 unanswered (base 0) and answers question 3 itself.
    stale = {"base.0": "0", "base.2": "0", "q2": "false", "revision": "60", "action": "submit"}
    assert client.post(attempt_url, data=stale).status_code == 302
    saved = answers(app, attempt_id)
    assert saved[0].response == "k7" and saved[0].revision == 50
    assert saved[2].response is False
    assert load(app, attempt_id).score == 3.0
