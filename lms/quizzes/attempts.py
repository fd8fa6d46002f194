"""Taking a quiz: starting, saving answers, submitting, grading, the deadline, review.

Services only: they take a :class:`Session`, the user, ids and ``now``; they flush and
never commit (the views run them in :func:`lms.learning.tracking.commit_with_retries`,
so a unit of work that lost a race is rolled back and run again from the start).

**Freezing.** A new attempt draws from the course's *published* version: the quiz's
settings and the question bank frozen into the lesson's snapshot at publish
(:mod:`lms.quizzes.publishing`), so an edit of the bank reaches trainees only when the
course is published again. :func:`start_attempt` then copies into the attempt the
settings, the spec of every question drawn and the order of questions and choices, so
no later publish changes an attempt already started.

**Races.** Two starts at once: ``UNIQUE (user_id, lesson_id, number)`` lets one insert
win; the other's unit of work is retried and finds the attempt in progress. Saving an
answer first *touches* the attempt row with ``UPDATE ... WHERE status = 'in_progress'
AND deadline not passed``: that row lock (PostgreSQL) or the database write lock
(SQLite) orders every save against the submit, which is ``UPDATE ... SET status =
'graded' WHERE status = 'in_progress'``: a save either lands before grading (and is
graded) or is refused; two submits grade once.

**Deadline.** An attempt whose deadline has passed is graded from what was saved, by
:func:`finish_expired`: lazily whenever it is read, and by a background job scheduled
at the deadline (so a trainee who closed the browser is graded too).

**Completion.** When the counted result (best or last attempt) passes, the quiz lesson
is marked done through :func:`lms.learning.tracking.record_activity`, which sends
``lesson_completed``: the course completion rules need nothing quiz-specific. A done
lesson is never lowered (a worse "last" attempt later leaves it done).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Course, Lesson, LessonKind
from lms.db import after_commit
from lms.jobs import get_jobs, job
from lms.learning.services import OPEN_STATUSES, can_view_course, find_lesson
from lms.programs.models import Enrolment, Programme, ProgrammeCourse
from lms.quizzes import questions
from lms.quizzes.models import (
    AttemptStatus,
    FinishReason,
    QuizAnswer,
    QuizAttempt,
)
from lms.quizzes.publishing import live_bank
from lms.quizzes.settings import Grading, QuizSettings, QuizSettingsError, ReviewPolicy, parse

log = logging.getLogger(__name__)

MAX_REVISION = 2**53  # JavaScript's safe integers: a ms clock or a counter
PASS_EPSILON = 1e-9  # 59.99999999 % of floats is 60 %
DEADLINE_JOB = "finish_quiz_attempt"


# --- errors -----------------------------------------------------------------------------------


class QuizError(Exception):
    """A refusal with a translated message; ``status`` is the HTTP status the API uses."""

    status = 400

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


class QuizNotFound(QuizError):
    status = 404


class QuizForbidden(QuizError):
    status = 403


class QuizUnavailable(QuizError):
    """The quiz cannot be started now (attempts used up, a wait, a broken quiz)."""

    status = 409


class AttemptClosed(QuizError):
    """The attempt was submitted or its time is over: answers are refused."""

    status = 409


class InvalidAnswer(QuizError):
    status = 400


# --- the quiz as published --------------------------------------------------------------------


@dataclass(frozen=True)
class Quiz:
    course: Course
    lesson: Lesson
    settings: QuizSettings
    course_version_id: int | None
    data: dict[str, Any]  # the lesson in the published snapshot


def published_quiz(session: Session, user: User, lesson_id: int) -> Quiz:
    """The quiz lesson as published, for someone who may read its course."""
    lesson = session.get(Lesson, lesson_id)
    course = session.get(Course, lesson.course_id) if lesson is not None else None
    if lesson is None or course is None:
        raise QuizNotFound(_l("This quiz does not exist."))
    if not can_view_course(session, user, course):
        raise QuizForbidden(_l("You do not have permission to see this page."))
    version = course.published_version
    data = find_lesson(version.snapshot, lesson.id) if version is not None else None
    if data is None or data.get("kind") != LessonKind.QUIZ:
        raise QuizNotFound(_l("This quiz does not exist."))
    try:
        settings = parse((data.get("settings") or {}).get("quiz"))
    except QuizSettingsError:
        log.exception("quiz lesson %s has invalid settings", lesson.id)
        raise QuizUnavailable(
            _l("This quiz cannot be taken at the moment. Please tell your instructor.")
        ) from None
    return Quiz(course, lesson, settings, version.id, data)  # type: ignore[union-attr]


def attempts_of(session: Session, user_id: int, lesson_id: int) -> list[QuizAttempt]:
    return list(
        session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.user_id == user_id, QuizAttempt.lesson_id == lesson_id)
            .order_by(QuizAttempt.number)
            .execution_options(populate_existing=True)
        )
    )


def in_progress_attempt(session: Session, user_id: int, lesson_id: int) -> QuizAttempt | None:
    return session.scalars(
        select(QuizAttempt)
        .where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.lesson_id == lesson_id,
            QuizAttempt.status == AttemptStatus.IN_PROGRESS,
        )
        .order_by(QuizAttempt.number.desc())
        .execution_options(populate_existing=True)
    ).first()


def _current(attempts: list[QuizAttempt]) -> QuizAttempt | None:
    return next((a for a in reversed(attempts) if a.status == AttemptStatus.IN_PROGRESS), None)


def expired(attempt: QuizAttempt, now: datetime) -> bool:
    return (
        attempt.status == AttemptStatus.IN_PROGRESS
        and attempt.deadline_at is not None
        and attempt.deadline_at <= now
    )


# --- starting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Eligibility:
    """Whether a new attempt may start now, and if not, why (a translated message)."""

    allowed: bool
    reason: object = ""
    wait_until: datetime | None = None
    attempts_used: int = 0


def eligibility(settings: QuizSettings, attempts: list[QuizAttempt], now: datetime) -> Eligibility:
    """Pure: may another attempt start, given the finished ones?"""
    used = len(attempts)
    if settings.max_attempts is not None and used >= settings.max_attempts:
        return Eligibility(
            False, _l("You have used all the attempts this quiz allows."), attempts_used=used
        )
    finished = [a.finished_at for a in attempts if a.finished_at is not None]
    if settings.wait_minutes and finished:
        until = max(finished) + timedelta(minutes=settings.wait_minutes)
        if until > now:
            return Eligibility(
                False,
                _l("You can start the next attempt after a pause."),
                wait_until=until,
                attempts_used=used,
            )
    return Eligibility(True, attempts_used=used)


def draw_items(
    bank: list[dict[str, Any]], settings: QuizSettings, rng: random.Random
) -> list[dict[str, Any]]:
    """The questions of a new attempt with their frozen specs and layouts, in order.

    ``bank`` is the published quiz's frozen bank (:func:`quiz_bank`), or the live draft
    bank for an instructor's preview (:func:`lms.quizzes.publishing.live_bank`).
    """
    by_uid = {question["uid"]: question for question in bank}
    fixed = {slot.question for slot in settings.slots if slot.question is not None}
    chosen: list[dict[str, Any]] = []
    taken: set[str] = set()
    for slot in settings.slots:
        if slot.question is not None:
            question = by_uid.get(slot.question)
            if question is None:
                raise QuizUnavailable(
                    _l("This quiz cannot be taken at the moment. Please tell your instructor.")
                )
            chosen.append(question)
            taken.add(question["uid"])
            continue
        pool = sorted(
            (
                q
                for q in bank
                if q["category"] is not None
                and q["category"] == slot.category
                and q["uid"] not in taken
                and q["uid"] not in fixed
            ),
            key=lambda q: q["uid"],
        )
        for question in rng.sample(pool, min(slot.count, len(pool))):
            chosen.append(question)
            taken.add(question["uid"])
    if not chosen:
        raise QuizUnavailable(
            _l("This quiz cannot be taken at the moment. Please tell your instructor.")
        )
    if settings.shuffle_questions:
        rng.shuffle(chosen)
    items = []
    for question in chosen:
        spec = question["spec"]
        layout = questions.layout(spec, seed=rng.getrandbits(63), shuffle=settings.shuffle_choices)
        items.append(
            {
                "question_id": question.get("id"),
                "uid": question["uid"],
                "spec": spec,
                "layout": layout,
            }
        )
    return items


def quiz_bank(session: Session, quiz: Quiz) -> list[dict[str, Any]]:
    """The bank frozen into the published snapshot when the course was published.

    A version published before banks were frozen has none: it draws from the live bank.
    """
    frozen = quiz.data.get("bank")
    if isinstance(frozen, dict):
        return list(frozen.get("questions") or [])
    return live_bank(session, quiz.course.id)


def start_attempt(
    session: Session, user: User, lesson_id: int, now: datetime, seed: int | None = None
) -> QuizAttempt:
    """The trainee's attempt in progress, or a new one (see the module's notes on races)."""
    quiz = published_quiz(session, user, lesson_id)
    # One read decides both "resume" and the next number: with two reads, an attempt
    # committed between them would be missed by the first and counted by the second, and
    # a second attempt would start beside it instead of colliding on the number.
    attempts = attempts_of(session, user.id, lesson_id)
    current = _current(attempts)
    if current is not None and expired(current, now):
        finish_expired(session, current.id, now)
        attempts = attempts_of(session, user.id, lesson_id)
        current = _current(attempts)
    if current is not None:
        return current
    allowed = eligibility(quiz.settings, attempts, now)
    if not allowed.allowed:
        raise QuizUnavailable(allowed.reason)
    if seed is None:
        seed = random.SystemRandom().getrandbits(63)
    items = draw_items(quiz_bank(session, quiz), quiz.settings, random.Random(seed))
    limit = quiz.settings.time_limit_minutes
    attempt = QuizAttempt(
        user_id=user.id,
        lesson_id=lesson_id,
        course_id=quiz.course.id,
        course_version_id=quiz.course_version_id,
        number=max((a.number for a in attempts), default=0) + 1,
        status=str(AttemptStatus.IN_PROGRESS),
        started_at=now,
        deadline_at=now + timedelta(minutes=limit) if limit else None,
        seed=seed,
        settings=quiz.settings.to_dict(),
        items=items,
        max_score=sum(float(item["spec"]["points"]) for item in items),
    )
    attempt.answers = [
        QuizAnswer(position=position, response=None, revision=0, feedback=[])
        for position in range(len(items))
    ]
    session.add(attempt)
    session.flush()  # a concurrent start makes this an IntegrityError: retried by the caller
    if attempt.deadline_at is not None:
        schedule_deadline(session, attempt)
    return attempt


def schedule_deadline(session: Session, attempt: QuizAttempt) -> None:
    """Queue the job that grades the attempt at its deadline, once the start commits."""
    if not has_app_context() or attempt.deadline_at is None:
        return
    queue = get_jobs()
    attempt_id, deadline = attempt.id, attempt.deadline_at

    def enqueue() -> None:
        delay = max(0.0, (deadline - datetime.now(deadline.tzinfo)).total_seconds()) + 1.0
        queue.tasks[DEADLINE_JOB].schedule(args=(attempt_id,), delay=delay)

    after_commit(session, enqueue)


# --- reading an attempt -----------------------------------------------------------------------


def load_attempt(session: Session, attempt_id: int, now: datetime) -> QuizAttempt | None:
    """The attempt, graded first if its deadline has passed."""
    attempt = session.get(QuizAttempt, attempt_id, populate_existing=True)
    if attempt is not None and expired(attempt, now):
        finish_expired(session, attempt.id, now)
        attempt = session.get(QuizAttempt, attempt_id, populate_existing=True)
    return attempt


def answers_of(session: Session, attempt_id: int) -> list[QuizAnswer]:
    return list(
        session.scalars(
            select(QuizAnswer)
            .where(QuizAnswer.attempt_id == attempt_id)
            .order_by(QuizAnswer.position)
            .execution_options(populate_existing=True)
        )
    )


# --- saving answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    position: int
    applied: bool  # False: a save as new or newer was already stored (a replay)
    revision: int  # the revision now stored
    response: Any  # the response now stored

    def to_dict(self) -> dict[str, Any]:
        return {
            "saved": True,
            "position": self.position,
            "applied": self.applied,
            "revision": self.revision,
        }


def closed_message(attempt: QuizAttempt) -> object:
    if attempt.finish_reason == FinishReason.DEADLINE:
        return _l(
            "The time for this attempt is over: it was graded with the answers saved "
            "before the deadline. This answer was not saved."
        )
    return _l("This attempt has been submitted: its answers can no longer be changed.")


def parse_revision(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_REVISION:
        raise InvalidAnswer(_l("The revision must be a whole number above 0."))
    return value


def _refuse_closed(session: Session, attempt_id: int, now: datetime) -> AttemptClosed:
    attempt = load_attempt(session, attempt_id, now)
    if attempt is not None and expired(attempt, now):  # graded by someone else meanwhile
        attempt = session.get(QuizAttempt, attempt_id, populate_existing=True)
    if attempt is None or attempt.status == AttemptStatus.IN_PROGRESS:
        return AttemptClosed(_l("The time for this attempt is over."))
    return AttemptClosed(closed_message(attempt))


def _lock_open(session: Session, attempt_id: int, now: datetime) -> bool:
    """Take the attempt's row lock if it is still open; False if it is not."""
    result = session.execute(
        update(QuizAttempt)
        .where(
            QuizAttempt.id == attempt_id,
            QuizAttempt.status == AttemptStatus.IN_PROGRESS,
            (QuizAttempt.deadline_at.is_(None)) | (QuizAttempt.deadline_at > now),
        )
        .values(status=QuizAttempt.status)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def save_answer(
    session: Session,
    attempt: QuizAttempt,
    position: int,
    raw: Any,
    revision: int,
    now: datetime,
    *,
    base_revision: int | None = None,
) -> SaveResult:
    """Store one answer if the attempt is open and ``revision`` is newer (idempotent).

    ``base_revision``: the revision the client's page showed (a whole form posted at the
    end): the answer applies only if nothing newer was saved since, so a page rendered
    before a save landed cannot overwrite that save with its stale value.
    """
    if attempt.status != AttemptStatus.IN_PROGRESS or expired(attempt, now):
        raise _refuse_closed(session, attempt.id, now)
    if isinstance(position, bool) or not isinstance(position, int):
        raise InvalidAnswer(_l("There is no such question in this attempt."))
    if not 0 <= position < len(attempt.items):
        raise InvalidAnswer(_l("There is no such question in this attempt."))
    revision = parse_revision(revision)
    try:
        response = questions.normalise_response(attempt.items[position]["spec"], raw)
    except questions.QuestionError as error:
        raise InvalidAnswer(error.message) from None
    if not _lock_open(session, attempt.id, now):
        raise _refuse_closed(session, attempt.id, now)
    result = session.execute(
        update(QuizAnswer)
        .where(
            QuizAnswer.attempt_id == attempt.id,
            QuizAnswer.position == position,
            QuizAnswer.revision < revision,
            *([QuizAnswer.revision <= base_revision] if base_revision is not None else []),
        )
        .values(response=response, revision=revision, saved_at=now)
        .execution_options(synchronize_session=False)
    )
    applied = result.rowcount == 1  # type: ignore[attr-defined]
    stored = session.scalars(
        select(QuizAnswer)
        .where(QuizAnswer.attempt_id == attempt.id, QuizAnswer.position == position)
        .execution_options(populate_existing=True)
    ).one()
    return SaveResult(position, applied, stored.revision, stored.response)


# --- grading ------------------------------------------------------------------------------------


def submit(
    session: Session,
    attempt_id: int,
    now: datetime,
    reason: FinishReason = FinishReason.SUBMITTED,
) -> bool:
    """Grade the attempt once; True if this call graded it, False if it already was.

    An attempt submitted after its deadline counts as finished at the deadline, graded
    from what was saved by then.
    """
    attempt = session.get(QuizAttempt, attempt_id, populate_existing=True)
    if attempt is None:
        raise QuizNotFound(_l("This attempt does not exist."))
    finished_at = now
    if attempt.deadline_at is not None and attempt.deadline_at <= now:
        reason, finished_at = FinishReason.DEADLINE, attempt.deadline_at
    graded = session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.id == attempt_id, QuizAttempt.status == AttemptStatus.IN_PROGRESS)
        .values(
            status=str(AttemptStatus.GRADED), finish_reason=str(reason), finished_at=finished_at
        )
        .execution_options(synchronize_session=False)
    )
    if graded.rowcount != 1:  # type: ignore[attr-defined]
        return False
    attempt = session.get(QuizAttempt, attempt_id, populate_existing=True)
    assert attempt is not None
    for answer in answers_of(session, attempt_id):
        grade = questions.grade(attempt.items[answer.position]["spec"], answer.response)
        answer.score = grade.score
        answer.fraction = grade.fraction
        answer.correct = grade.correct
        answer.feedback = list(grade.feedback)
    session.flush()
    apply_grades(session, attempt, now)
    return True


def finish_expired(session: Session, attempt_id: int, now: datetime) -> bool:
    """Grade an attempt whose deadline has passed, from what was saved; True if graded now."""
    attempt = session.get(QuizAttempt, attempt_id, populate_existing=True)
    if attempt is None or not expired(attempt, now):
        return False
    return submit(session, attempt_id, now, FinishReason.DEADLINE)


def passes(score: float | None, max_score: float, pass_mark: float) -> bool:
    if score is None:
        return False
    if max_score <= 0:
        return pass_mark <= 0
    return 100.0 * score / max_score >= pass_mark - PASS_EPSILON


def apply_grades(session: Session, attempt: QuizAttempt, now: datetime | None = None) -> None:
    """Score and pass of a graded attempt from its answers' effective scores (an
    instructor's override counts instead of the computed score); completes the quiz
    lesson when the trainee's counted result passes."""
    answers = answers_of(session, attempt.id)
    attempt.score = sum(answer.effective_score or 0.0 for answer in answers)
    attempt.max_score = sum(float(item["spec"]["points"]) for item in attempt.items)
    attempt.passed = passes(attempt.score, attempt.max_score, attempt_settings(attempt).pass_mark)
    session.flush()
    counted = counted_result(session, attempt.user_id, attempt.lesson_id)
    if counted is not None and counted.passed:
        _complete_lesson(session, attempt, now or attempt.finished_at or attempt.started_at)


def _complete_lesson(session: Session, attempt: QuizAttempt, when: datetime) -> None:
    from lms.learning.tracking import record_activity  # noqa: PLC0415 - tracking imports a lot

    user = session.get(User, attempt.user_id)
    lesson = session.get(Lesson, attempt.lesson_id)
    if user is not None and lesson is not None:
        record_activity(session, user, lesson, when, done=True)


def attempt_settings(attempt: QuizAttempt) -> QuizSettings:
    try:
        return parse(attempt.settings)
    except QuizSettingsError:
        return QuizSettings()


def counted_result(
    session: Session, user_id: int, lesson_id: int, grading: Grading | None = None
) -> QuizAttempt | None:
    """The graded attempt that counts: the best (highest share, earliest on a tie) or the
    last, as the quiz's settings (of the latest attempt) say."""
    graded = [
        attempt
        for attempt in attempts_of(session, user_id, lesson_id)
        if attempt.status == AttemptStatus.GRADED
    ]
    if not graded:
        return None
    if grading is None:
        grading = attempt_settings(graded[-1]).grading
    if grading == Grading.LAST:
        return graded[-1]
    return max(graded, key=lambda a: (a.percent or 0.0, -a.number))


# --- review -------------------------------------------------------------------------------------


def programme_end(session: Session, user_id: int, course_id: int) -> date | None:
    """The last end date of the trainee's open programmes that include the course."""
    return session.scalar(
        select(func.max(Programme.ends_on))
        .join(Enrolment, Enrolment.programme_id == Programme.id)
        .join(ProgrammeCourse, ProgrammeCourse.programme_id == Programme.id)
        .where(
            Enrolment.user_id == user_id,
            Enrolment.status.in_(OPEN_STATUSES),
            ProgrammeCourse.course_id == course_id,
        )
    )


def review_allowed(
    attempt: QuizAttempt, *, has_passed: bool, programme_ends_on: date | None, today: date
) -> bool:
    """Pure: may the trainee see the correct answers, feedback and explanations now?

    ``has_passed``: the trainee has a passing graded attempt of this quiz.
    ``programme_ends_on``: see :func:`programme_end` (None: no programme, never).
    """
    if attempt.status != AttemptStatus.GRADED:
        return False
    policy = attempt_settings(attempt).review
    if policy == ReviewPolicy.IMMEDIATELY:
        return True
    if policy == ReviewPolicy.AFTER_PASSING:
        return has_passed or bool(attempt.passed)
    if policy == ReviewPolicy.AFTER_PROGRAMME:
        return programme_ends_on is not None and today > programme_ends_on
    return False


def may_review(session: Session, attempt: QuizAttempt, today: date) -> bool:
    """:func:`review_allowed` with what it needs read from the database."""
    policy = attempt_settings(attempt).review
    has_passed = policy == ReviewPolicy.AFTER_PASSING and any(
        a.passed for a in attempts_of(session, attempt.user_id, attempt.lesson_id)
    )
    ends_on = (
        programme_end(session, attempt.user_id, attempt.course_id)
        if policy == ReviewPolicy.AFTER_PROGRAMME
        else None
    )
    return review_allowed(attempt, has_passed=has_passed, programme_ends_on=ends_on, today=today)


# --- the deadline job ---------------------------------------------------------------------------


@job(retries=5, retry_delay=5)
def finish_quiz_attempt(attempt_id: int, final_attempt: bool = True) -> None:
    """Grade an attempt at its deadline (queued by :func:`schedule_deadline`)."""
    from lms.db import new_session, utcnow  # noqa: PLC0415
    from lms.learning.tracking import commit_with_retries  # noqa: PLC0415

    with new_session() as session:
        graded = commit_with_retries(session, lambda: finish_expired(session, attempt_id, utcnow()))
        if graded:
            log.info("quiz attempt %s graded at its deadline", attempt_id)
