"""Completion rules: when a module, a course and a programme are done, recorded once.

**The rules**, always read from the course's *published* version (its snapshot), never
from the draft:

- a **module** is done when its required lessons are done (a module without required
  lessons is done as soon as one of its lessons is done);
- a **course** is done when its required lessons are done. Required quizzes count as
  required lessons: a quiz lesson is "passed" when its :class:`LessonProgress` is
  ``done``, which the quiz engine (:mod:`lms.quizzes.attempts`) sets through
  :mod:`lms.learning.tracking` (which sends ``lesson_completed``) when the trainee's
  counted attempt passes, so the rule here needs nothing quiz-specific. A course
  without any required lesson is done as soon as one of its lessons is done;
- a **programme** is done when its required courses are done: the trainee's active
  :class:`Enrolment` becomes ``completed`` with ``completed_at``.

**Recorded once, never lowered.** Module and course completions are rows
(:mod:`lms.learning.records`) with a unique key per trainee, written with ``INSERT ...
ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL), so two units of work racing to
record the same completion leave one row, and only the one that inserted it raises
the event. An enrolment is completed by ``UPDATE ... WHERE status = 'active'``, which
also succeeds once. Nothing here ever deletes or moves a record: publishing a new
version with a new required lesson leaves a completed course completed (the new
lesson shows as not started in the reports, the course stays completed).

**Write skew.** Two requests completing the *last two* lessons of a course at the same
moment would each see the other lesson not done yet and neither would complete the
course. So the evaluation first flushes the lesson's own change and then serialises
on the trainee: on PostgreSQL ``SELECT ... FOR NO KEY UPDATE`` of the user row (it
does not block inserts that reference the user), so the second evaluation waits for
the first to commit and then, in READ COMMITTED, reads its result; on SQLite the flush
has already taken the database's single write lock, so the evaluations run one after
the other and the later one reads the earlier one's rows. Completing is rare (once
per lesson), so the lock costs nothing measurable.

**Events.** Blinker signals, sent inside the unit of work by the transaction that
recorded the completion, with the record as sender and ``session=`` (like
:data:`lms.learning.tracking.lesson_completed`):

- :data:`module_completed` (sender: :class:`ModuleCompletion`),
- :data:`course_completed` (sender: :class:`CourseCompletion`),
- :data:`programme_completed` (sender: the :class:`Enrolment`).

Why a signal and not (only) a queued job: the completion-record issue must never
leave a completion without its record, so its receiver should write the record
through ``session``, in the same transaction (it commits or rolls back with the
completion; a unit of work that is rolled back and retried by
:func:`lms.learning.tracking.commit_with_retries` sends the signal again and its
earlier writes are gone with the rollback, so what is committed happens exactly
once). Slow side effects (a certificate PDF, an email) belong in a Huey job that
the receiver queues with :func:`lms.jobs.enqueue_after_commit`, which only queues
when the transaction commits. Receivers must therefore write only through
``session`` and queue anything else after commit.

The rules are wired to :data:`lms.learning.tracking.lesson_completed` when this
module is imported (the reports blueprint imports it; the app factory should too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Course, CourseVersion
from lms.db import insert_if_absent, utcnow
from lms.learning.models import LessonProgress, ProgressStatus
from lms.learning.records import CourseCompletion, ModuleCompletion
from lms.learning.tracking import lesson_completed, signals
from lms.programs.models import Enrolment, EnrolmentStatus, ProgrammeCourse

#: A module's required lessons are all done (sender: the ModuleCompletion; ``session=``).
module_completed = signals.signal("module-completed")
#: A course's required lessons are all done (sender: the CourseCompletion; ``session=``).
course_completed = signals.signal("course-completed")
#: A programme's required courses are all done (sender: the Enrolment; ``session=``).
programme_completed = signals.signal("programme-completed")


# --- the requirements of a published version (pure) -----------------------------------------


@dataclass(frozen=True)
class ModuleRequirements:
    id: int
    lessons: tuple[int, ...]  # every lesson of the module, in order
    required: frozenset[int]


@dataclass(frozen=True)
class Requirements:
    modules: tuple[ModuleRequirements, ...]

    @property
    def lessons(self) -> tuple[int, ...]:
        return tuple(lesson for module in self.modules for lesson in module.lessons)

    @property
    def required(self) -> frozenset[int]:
        return frozenset().union(*(module.required for module in self.modules))


def requirements(snapshot: Mapping[str, Any]) -> Requirements:
    """What a published version asks for: its modules, their lessons, the required ones."""
    modules = []
    for module in snapshot.get("modules") or []:
        lessons = tuple(int(lesson["id"]) for lesson in module.get("lessons") or [])
        required = frozenset(
            int(lesson["id"])
            for lesson in module.get("lessons") or []
            if lesson.get("required", True)
        )
        modules.append(ModuleRequirements(int(module["id"]), lessons, required))
    return Requirements(tuple(modules))


def _met(required: Iterable[int], among: Iterable[int], done: Mapping[int, datetime]) -> bool:
    """Every required lesson done; with none required, at least one of ``among`` done."""
    required = set(required)
    if required:
        return required <= done.keys()
    return any(lesson in done for lesson in among)


def _when(
    required: Iterable[int], among: Iterable[int], done: Mapping[int, datetime], now: datetime
) -> datetime:
    """When the requirements were met: the latest completion among the lessons that count."""
    counted = [done[lesson] for lesson in (set(required) or set(among)) if lesson in done]
    moments = [moment for moment in counted if moment is not None]
    return max(moments) if moments else now


# --- recording once ------------------------------------------------------------------------


def record_module_completion(
    session: Session,
    user_id: int,
    course_id: int,
    module_id: int,
    completed_at: datetime,
    now: datetime | None = None,
) -> ModuleCompletion | None:
    """Record that the trainee completed the module: the new row, or None if it existed."""
    new_id = insert_if_absent(
        session,
        ModuleCompletion,
        {
            "user_id": user_id,
            "course_id": course_id,
            "module_id": module_id,
            "completed_at": completed_at,
            "recorded_at": now or utcnow(),
        },
        ["user_id", "module_id"],
    )
    if new_id is None:
        return None
    row = session.get(ModuleCompletion, new_id)
    module_completed.send(row, session=session)
    return row


def record_course_completion(
    session: Session,
    user_id: int,
    course_id: int,
    version_id: int | None,
    completed_at: datetime,
    now: datetime | None = None,
) -> CourseCompletion | None:
    """Record that the trainee completed the course: the new row, or None if it existed."""
    new_id = insert_if_absent(
        session,
        CourseCompletion,
        {
            "user_id": user_id,
            "course_id": course_id,
            "course_version_id": version_id,
            "completed_at": completed_at,
            "recorded_at": now or utcnow(),
        },
        ["user_id", "course_id"],
    )
    if new_id is None:
        return None
    row = session.get(CourseCompletion, new_id)
    course_completed.send(row, session=session)
    return row


# --- evaluating ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an evaluation newly recorded."""

    modules: list[ModuleCompletion] = field(default_factory=list)
    course: CourseCompletion | None = None
    programmes: list[Enrolment] = field(default_factory=list)


def _serialise(session: Session, user_id: int) -> None:
    """One completion evaluation per trainee at a time (see the module's notes)."""
    session.flush()  # our own change first; on SQLite this takes the write lock
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))


def done_lessons(session: Session, user_id: int, course_id: int) -> dict[int, datetime]:
    """The trainee's done lessons in a course, with when they were done: one query."""
    rows = session.execute(
        select(LessonProgress.lesson_id, LessonProgress.completed_at).where(
            LessonProgress.user_id == user_id,
            LessonProgress.course_id == course_id,
            LessonProgress.status == str(ProgressStatus.DONE),
        )
    )
    return {lesson_id: completed_at for lesson_id, completed_at in rows}


def evaluate_course(
    session: Session, user_id: int, course_id: int, now: datetime | None = None
) -> Outcome:
    """Record what the trainee has newly completed in a course and its programmes.

    Idempotent: evaluating again records nothing new. Reads the published version;
    an unpublished course records nothing.
    """
    now = now or utcnow()
    outcome = Outcome()
    _serialise(session, user_id)
    published = session.execute(
        select(CourseVersion.id, CourseVersion.snapshot)
        .join(Course, Course.published_version_id == CourseVersion.id)
        .where(Course.id == course_id)
    ).one_or_none()
    if published is None:
        return outcome
    version_id, snapshot = published
    needs = requirements(snapshot)
    done = done_lessons(session, user_id, course_id)
    recorded_modules = set(
        session.scalars(
            select(ModuleCompletion.module_id).where(
                ModuleCompletion.user_id == user_id, ModuleCompletion.course_id == course_id
            )
        )
    )
    for module in needs.modules:
        if module.id in recorded_modules or not _met(module.required, module.lessons, done):
            continue
        row = record_module_completion(
            session,
            user_id,
            course_id,
            module.id,
            _when(module.required, module.lessons, done, now),
            now,
        )
        if row is not None:
            outcome.modules.append(row)

    already = session.scalar(
        select(CourseCompletion.id).where(
            CourseCompletion.user_id == user_id, CourseCompletion.course_id == course_id
        )
    )
    if already is None and _met(needs.required, needs.lessons, done):
        outcome.course = record_course_completion(
            session,
            user_id,
            course_id,
            version_id,
            _when(needs.required, needs.lessons, done, now),
            now,
        )
    if already is not None or outcome.course is not None:
        outcome.programmes = evaluate_programmes(session, user_id, course_id=course_id, now=now)
    return outcome


def evaluate_programmes(
    session: Session,
    user_id: int,
    *,
    course_id: int | None = None,
    programme_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> list[Enrolment]:
    """Complete the trainee's active enrolments whose required courses are all completed.

    Looks at the programmes that include ``course_id``, or at ``programme_ids`` (for
    example right after enrolling a trainee who has already completed the courses).
    Returns the enrolments completed now. Three queries, whatever the number of
    programmes and courses.
    """
    now = now or utcnow()
    query = select(Enrolment.id, Enrolment.programme_id).where(
        Enrolment.user_id == user_id, Enrolment.status == str(EnrolmentStatus.ACTIVE)
    )
    if course_id is not None:
        query = query.where(
            Enrolment.programme_id.in_(
                select(ProgrammeCourse.programme_id).where(ProgrammeCourse.course_id == course_id)
            )
        )
    if programme_ids is not None:
        query = query.where(Enrolment.programme_id.in_(list(programme_ids)))
    enrolments = {row[0]: row[1] for row in session.execute(query)}  # enrolment id -> programme id
    if not enrolments:
        return []
    courses: dict[int, list[tuple[int, bool]]] = {}
    for programme_id, item_course_id, required in session.execute(
        select(ProgrammeCourse.programme_id, ProgrammeCourse.course_id, ProgrammeCourse.required)
        .where(ProgrammeCourse.programme_id.in_(set(enrolments.values())))
        .order_by(ProgrammeCourse.programme_id, ProgrammeCourse.position)
    ):
        courses.setdefault(programme_id, []).append((item_course_id, required))
    wanted = {c for items in courses.values() for c, _required in items}
    completed: dict[int, datetime] = {
        course: completed_at
        for course, completed_at in session.execute(
            select(CourseCompletion.course_id, CourseCompletion.completed_at).where(
                CourseCompletion.user_id == user_id, CourseCompletion.course_id.in_(wanted)
            )
        )
    }
    finished = []
    for enrolment_id, programme_id in sorted(enrolments.items()):
        items = courses.get(programme_id, [])
        required = [c for c, is_required in items if is_required]
        among = [c for c, _required in items]
        if not _met(required, among, completed):
            continue
        result = session.execute(
            update(Enrolment)
            .where(Enrolment.id == enrolment_id, Enrolment.status == str(EnrolmentStatus.ACTIVE))
            .values(
                status=str(EnrolmentStatus.COMPLETED),
                completed_at=_when(required, among, completed, now),
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            enrolment = session.get(Enrolment, enrolment_id, populate_existing=True)
            assert enrolment is not None
            finished.append(enrolment)
            programme_completed.send(enrolment, session=session)
    return finished


# --- wiring ------------------------------------------------------------------------------------


def _on_lesson_completed(progress: LessonProgress, session: Session, **_extra: Any) -> None:
    """A lesson became done: evaluate its modules, its course and the course's programmes."""
    evaluate_course(session, progress.user_id, progress.course_id)


lesson_completed.connect(_on_lesson_completed)
