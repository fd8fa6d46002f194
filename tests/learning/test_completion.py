"""Completion rules: modules, courses and programmes, recorded once and never lowered.

Runs on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

import lms.learning.records  # noqa: F401 - the completion tables on the metadata
from lms.accounts.models import Role, User
from lms.audit.models import AuditEvent
from lms.audit.services import record
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson, Module
from lms.db import new_session
from lms.learning import completion, tracking
from lms.learning.models import LessonProgress, ProgressStatus
from lms.learning.records import CourseCompletion, ModuleCompletion
from lms.media.models import MediaAsset
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- building a world -------------------------------------------------------------------------


@dataclass
class Built:
    course_id: int
    module_ids: list[int]
    lesson_ids: list[list[int]]  # per module
    instructor_id: int

    @property
    def lessons(self) -> list[int]:
        return [lesson for module in self.lesson_ids for lesson in module]


def make_course(
    app: Flask,
    instructor_id: int,
    modules: list[list[tuple[str, bool]]],
    code: str | None = None,
    duration: float = 600.0,
    publish: bool = True,
) -> Built:
    """A course with ``modules`` of (kind, required) lessons; videos get a ready asset."""
    code = code or f"C-{uuid.uuid4().hex[:6]}"
    with new_session(app) as session:
        actor = session.get(User, instructor_id)
        course = catalog.create_course(
            session, actor, catalog.CourseData(code=code, title=f"Course {code}")
        )
        module_ids, lesson_ids = [], []
        for m, lessons in enumerate(modules):
            module = catalog.add_module(session, course, "en", f"Module {m + 1}")
            module_ids.append(module.id)
            ids = []
            for n, (kind, required) in enumerate(lessons):
                lesson = catalog.add_lesson(
                    session,
                    module,
                    catalog.LessonData(
                        kind=kind,
                        title=f"Lesson {m + 1}.{n + 1}",
                        language="en",
                        required=required,
                        body="Text",
                    ),
                )
                if kind == "video":
                    asset = MediaAsset(
                        course_id=course.id,
                        lesson_id=lesson.id,
                        kind="video",
                        filename="lecture.mp4",
                        key=f"media/{uuid.uuid4().hex}/lecture.mp4",
                        status="ready",
                        duration=duration,
                    )
                    session.add(asset)
                    session.flush()
                    lesson.media_id = asset.id
                ids.append(lesson.id)
            lesson_ids.append(ids)
        if publish:
            catalog.publish(session, actor, course)
        session.commit()
        return Built(course.id, module_ids, lesson_ids, instructor_id)


def make_programme(
    app: Flask,
    courses: list[tuple[int, bool]],
    trainee_ids: list[int],
    code: str | None = None,
    sponsor_id: int | None = None,
    status: str = "active",
) -> int:
    """A programme of ``courses`` (course id, required) with the trainees enrolled."""
    code = code or f"P-{uuid.uuid4().hex[:6]}"
    with new_session(app) as session:
        if sponsor_id is None:
            sponsor = Sponsor(name=f"Sponsor {code}", kind="ministry")
            session.add(sponsor)
            session.flush()
            sponsor_id = sponsor.id
        programme = Programme(
            code=code,
            title=f"Programme {code}",
            sponsor_id=sponsor_id,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        )
        session.add(programme)
        session.flush()
        for position, (course_id, required) in enumerate(courses):
            session.add(
                ProgrammeCourse(
                    programme_id=programme.id,
                    course_id=course_id,
                    required=required,
                    position=position,
                )
            )
        for trainee_id in trainee_ids:
            session.add(
                Enrolment(
                    programme_id=programme.id,
                    user_id=trainee_id,
                    status=status,
                    enrolled_at=T0 - timedelta(days=1),
                )
            )
        session.commit()
        return programme.id


def finish(app: Flask, user_id: int, lesson_id: int, at: datetime = T0) -> None:
    """The trainee finishes a reading or document lesson at ``at`` (one unit of work)."""
    with new_session(app) as session:
        user = session.get(User, user_id)
        lesson = session.get(Lesson, lesson_id)
        tracking.commit_with_retries(session, lambda: tracking.mark_done(session, user, lesson, at))


def pass_quiz(app: Flask, user_id: int, lesson_id: int, at: datetime = T0) -> None:
    """What the quiz engine will do when a quiz is passed: complete the lesson's progress."""
    with new_session(app) as session:
        lesson = session.get(Lesson, lesson_id)
        progress = LessonProgress(
            user_id=user_id,
            lesson_id=lesson_id,
            course_id=lesson.course_id,
            status=str(ProgressStatus.IN_PROGRESS),
            watched=[],
            watched_seconds=0.0,
            position=0.0,
            started_at=at,
            last_activity_at=at,
        )
        session.add(progress)
        session.flush()
        tracking._complete(session, progress, at)
        session.commit()


@dataclass
class Events:
    sent: list[tuple[str, Any]] = field(default_factory=list)


@contextmanager
def capture() -> Iterator[Events]:
    """Every completion signal, in order, and each one also written through the session
    (an audit row), so that committed events can be counted."""
    events = Events()

    def receiver(kind: str):
        def receive(sender: Any, session, **_extra: Any) -> None:
            events.sent.append((kind, sender))
            record(session, f"test.{kind}", subject=str(sender.user_id), target=_target(sender))

        return receive

    receivers = {
        "module": receiver("module"),
        "course": receiver("course"),
        "programme": receiver("programme"),
    }
    with (
        completion.module_completed.connected_to(receivers["module"]),
        completion.course_completed.connected_to(receivers["course"]),
        completion.programme_completed.connected_to(receivers["programme"]),
    ):
        yield events


def _target(sender: Any) -> int:
    if isinstance(sender, ModuleCompletion):
        return sender.module_id
    if isinstance(sender, CourseCompletion):
        return sender.course_id
    return sender.programme_id


def committed(app: Flask, kind: str) -> list[tuple[str, Any]]:
    with new_session(app) as session:
        return [
            (row.subject, row.details["target"])
            for row in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == f"test.{kind}")
                .order_by(AuditEvent.id)
            )
        ]


def course_rows(app: Flask, course_id: int) -> list[CourseCompletion]:
    with new_session(app) as session:
        return list(
            session.scalars(select(CourseCompletion).where(CourseCompletion.course_id == course_id))
        )


def module_rows(app: Flask, user_id: int) -> list[ModuleCompletion]:
    with new_session(app) as session:
        return list(
            session.scalars(
                select(ModuleCompletion)
                .where(ModuleCompletion.user_id == user_id)
                .order_by(ModuleCompletion.id)
            )
        )


def enrolment(app: Flask, programme_id: int, user_id: int) -> Enrolment:
    with new_session(app) as session:
        return session.scalar(
            select(Enrolment).where(
                Enrolment.programme_id == programme_id, Enrolment.user_id == user_id
            )
        )


@pytest.fixture
def people(make_user) -> dict[str, User]:
    return {"instructor": make_user(Role.INSTRUCTOR), "trainee": make_user(Role.TRAINEE)}


# --- the rules ---------------------------------------------------------------------------------


def test_module_then_course_then_programme_in_order(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(
        app,
        people["instructor"].id,
        [[("reading", True), ("document", True)], [("reading", True), ("reading", False)]],
    )
    optional = make_course(app, people["instructor"].id, [[("reading", True)]])
    programme = make_programme(
        app, [(built.course_id, True), (optional.course_id, False)], [trainee]
    )
    (m1a, m1b), (m2a, _m2_optional) = built.lesson_ids
    with capture() as events:
        finish(app, trainee, m1a, T0)
        assert events.sent == [] and module_rows(app, trainee) == []
        finish(app, trainee, m1b, T0 + timedelta(minutes=5))
        assert [kind for kind, _ in events.sent] == ["module"]
        assert course_rows(app, built.course_id) == []
        finish(app, trainee, m2a, T0 + timedelta(minutes=9))  # the optional lesson is not needed
    assert [kind for kind, _ in events.sent] == ["module", "module", "course", "programme"]
    modules = module_rows(app, trainee)
    assert [m.module_id for m in modules] == built.module_ids
    assert modules[0].completed_at == T0 + timedelta(minutes=5)
    assert modules[1].completed_at == T0 + timedelta(minutes=9)
    (row,) = course_rows(app, built.course_id)
    assert row.user_id == trainee and row.completed_at == T0 + timedelta(minutes=9)
    assert row.course_version_id is not None
    # The optional course is not needed for the programme.
    done = enrolment(app, programme, trainee)
    assert done.status == "completed" and done.completed_at == T0 + timedelta(minutes=9)
    assert committed(app, "course") == [(str(trainee), built.course_id)]
    assert committed(app, "programme") == [(str(trainee), programme)]


def test_a_programme_waits_for_every_required_course(app, people, make_user) -> None:
    trainee = people["trainee"].id
    withdrawn = make_user(Role.TRAINEE).id
    first = make_course(app, people["instructor"].id, [[("reading", True)]])
    second = make_course(app, people["instructor"].id, [[("reading", True)]])
    programme = make_programme(app, [(first.course_id, True), (second.course_id, True)], [trainee])
    other = make_programme(app, [(first.course_id, True)], [withdrawn], status="withdrawn")
    with capture() as events:
        finish(app, trainee, first.lessons[0], T0)
        assert enrolment(app, programme, trainee).status == "active"
        finish(app, trainee, second.lessons[0], T0 + timedelta(days=2))
        finish(app, withdrawn, first.lessons[0], T0)
    done = enrolment(app, programme, trainee)
    assert done.status == "completed" and done.completed_at == T0 + timedelta(days=2)
    # A withdrawn trainee completes the course, not the programme.
    assert enrolment(app, other, withdrawn).status == "withdrawn"
    assert [kind for kind, _ in events.sent].count("programme") == 1
    assert len(course_rows(app, first.course_id)) == 2


def test_a_video_completed_by_beats_completes_the_course(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(app, people["instructor"].id, [[("video", True)]], duration=60.0)
    programme = make_programme(app, [(built.course_id, True)], [trainee])
    video = built.lessons[0]
    playback = str(uuid.uuid4())
    t0_ms = int(T0.timestamp() * 1000)
    with capture() as events, new_session(app) as session:
        user = session.get(User, trainee)
        lesson = session.get(Lesson, video)
        for seq, (start, end) in enumerate([(0, 0), (0, 30), (30, 60)]):
            beat = tracking.parse_beat(
                {
                    "session": playback,
                    "seq": seq,
                    "intervals": [[start, end]] if end else [],
                    "t": t0_ms + end * 1000,
                }
            )
            tracking.commit_with_retries(
                session,
                lambda beat=beat, end=end: tracking.record_beat(
                    session, user, lesson, beat, T0 + timedelta(seconds=end)
                ),
            )
    assert [kind for kind, _ in events.sent] == ["module", "course", "programme"]
    (row,) = course_rows(app, built.course_id)
    assert row.completed_at == T0 + timedelta(seconds=60)
    assert enrolment(app, programme, trainee).status == "completed"


def test_a_required_quiz_blocks_the_course_until_it_is_passed(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(app, people["instructor"].id, [[("reading", True), ("quiz", True)]])
    reading, quiz = built.lessons
    finish(app, trainee, reading)
    assert course_rows(app, built.course_id) == []
    # Readings and videos cannot stand in for a quiz: only the quiz engine completes it.
    with new_session(app) as session, pytest.raises(tracking.NotTrackable):
        tracking.mark_done(session, session.get(User, trainee), session.get(Lesson, quiz), T0)
    pass_quiz(app, trainee, quiz, T0 + timedelta(hours=1))
    (row,) = course_rows(app, built.course_id)
    assert row.completed_at == T0 + timedelta(hours=1)


def test_only_the_published_version_counts(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(app, people["instructor"].id, [[("reading", True)]])
    with new_session(app) as session:  # a required lesson in the draft, not published
        module = session.get(Module, built.module_ids[0])
        catalog.add_lesson(
            session, module, catalog.LessonData(kind="reading", title="Draft", language="en")
        )
        session.commit()
    finish(app, trainee, built.lessons[0])
    assert len(course_rows(app, built.course_id)) == 1

    unpublished = make_course(app, people["instructor"].id, [[("reading", True)]], publish=False)
    instructor = people["instructor"].id
    finish(app, instructor, unpublished.lessons[0])  # an instructor's preview
    assert course_rows(app, unpublished.course_id) == []


def test_republishing_with_a_new_required_lesson_never_lowers_completion(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(app, people["instructor"].id, [[("reading", True)]])
    programme = make_programme(app, [(built.course_id, True)], [trainee])
    finish(app, trainee, built.lessons[0], T0)
    (before,) = course_rows(app, built.course_id)
    with new_session(app) as session:
        actor = session.get(User, people["instructor"].id)
        course = session.get(Course, built.course_id)
        module = session.get(Module, built.module_ids[0])
        new_lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="reading", title="New", language="en")
        )
        new_module = catalog.add_module(session, course, "en", "New module")
        newer = catalog.add_lesson(
            session, new_module, catalog.LessonData(kind="reading", title="Newer", language="en")
        )
        catalog.publish(session, actor, course)
        session.commit()
        new_lesson_id, newer_id = new_lesson.id, newer.id
    with capture() as events, new_session(app) as session:
        outcome = completion.evaluate_course(session, trainee, built.course_id)
        session.commit()
    assert outcome.course is None and outcome.programmes == []
    (after,) = course_rows(app, built.course_id)
    assert (after.id, after.completed_at) == (before.id, before.completed_at)
    assert enrolment(app, programme, trainee).status == "completed"
    # The new lessons complete the new module; the course is never recorded a second time.
    with capture() as events:
        finish(app, trainee, new_lesson_id, T0 + timedelta(days=1))
        finish(app, trainee, newer_id, T0 + timedelta(days=1))
    assert [kind for kind, _ in events.sent] == ["module"]
    assert len(course_rows(app, built.course_id)) == 1


def test_evaluating_again_records_nothing_new(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(app, people["instructor"].id, [[("reading", True)]])
    make_programme(app, [(built.course_id, True)], [trainee])
    finish(app, trainee, built.lessons[0])
    with capture() as events, new_session(app) as session:
        for _ in range(3):
            outcome = completion.evaluate_course(session, trainee, built.course_id)
            assert outcome.modules == [] and outcome.course is None
        assert (
            completion.record_course_completion(session, trainee, built.course_id, None, T0) is None
        )
        session.commit()
    assert events.sent == []
    assert len(course_rows(app, built.course_id)) == 1


def test_a_programme_can_be_evaluated_after_a_late_enrolment(app, people) -> None:
    trainee = people["trainee"].id
    built = make_course(app, people["instructor"].id, [[("reading", True)]])
    finish(app, trainee, built.lessons[0], T0)
    programme = make_programme(app, [(built.course_id, True)], [trainee])
    with capture() as events, new_session(app) as session:
        finished = completion.evaluate_programmes(session, trainee, programme_ids=[programme])
        session.commit()
    assert [e.programme_id for e in finished] == [programme]
    assert [kind for kind, _ in events.sent] == ["programme"]
    assert enrolment(app, programme, trainee).completed_at == T0


def test_requirements_of_a_snapshot() -> None:
    needs = completion.requirements(
        {
            "modules": [
                {"id": 1, "lessons": [{"id": 10, "required": True}, {"id": 11, "required": False}]},
                {"id": 2, "lessons": [{"id": 12}]},
                {"id": 3, "lessons": []},
            ]
        }
    )
    assert needs.lessons == (10, 11, 12)
    assert needs.required == frozenset({10, 12})
    assert [m.required for m in needs.modules] == [
        frozenset({10}),
        frozenset({12}),
        frozenset(),
    ]


# --- recorded once, under concurrency ----------------------------------------------------------


def _together(*work) -> list[Any]:
    """Run each callable in its own thread, released at once; re-raise the first error."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work[index]()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


ROUNDS = 4


def test_two_last_lessons_finished_at_once_complete_the_course_once(app, people, make_user):
    """Each request sees its own lesson done; neither may miss the other's (write skew),
    and only one may record the course."""
    built = make_course(app, people["instructor"].id, [[("reading", True)], [("reading", True)]])
    trainees = [make_user(Role.TRAINEE).id for _ in range(ROUNDS)]
    make_programme(app, [(built.course_id, True)], trainees)
    first, second = built.lessons
    with capture() as events:
        for trainee in trainees:
            _together(
                lambda trainee=trainee: finish(app, trainee, first, T0),
                lambda trainee=trainee: finish(app, trainee, second, T0 + timedelta(seconds=1)),
            )
    rows = course_rows(app, built.course_id)
    assert sorted(row.user_id for row in rows) == sorted(trainees)
    assert all(row.completed_at == T0 + timedelta(seconds=1) for row in rows)
    # One committed event per trainee and completion, whatever was retried on the way.
    assert sorted(committed(app, "course")) == sorted((str(t), built.course_id) for t in trainees)
    assert len(committed(app, "programme")) == ROUNDS
    assert len(committed(app, "module")) == 2 * ROUNDS
    assert len([kind for kind, _ in events.sent if kind == "course"]) >= ROUNDS


def test_the_same_completion_recorded_at_once_leaves_one_row(app, people, make_user) -> None:
    built = make_course(app, people["instructor"].id, [[("reading", True)]])
    trainees = [make_user(Role.TRAINEE).id for _ in range(ROUNDS)]

    def attempt(trainee: int):
        with new_session(app) as session:
            return tracking.commit_with_retries(
                session,
                lambda: (
                    completion.record_course_completion(session, trainee, built.course_id, None, T0)
                    is not None
                ),
            )

    with capture() as events:
        for trainee in trainees:
            results = _together(*(lambda trainee=trainee: attempt(trainee) for _ in range(3)))
            assert sorted(results) == [False, False, True]
    with new_session(app) as session:
        counts = {
            user_id: n
            for user_id, n in session.execute(
                select(CourseCompletion.user_id, func.count()).group_by(CourseCompletion.user_id)
            )
        }
    assert counts == dict.fromkeys(trainees, 1)
    assert len(committed(app, "course")) == ROUNDS
    assert len(events.sent) == ROUNDS
