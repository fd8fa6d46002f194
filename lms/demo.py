"""Demo data for ``lms demo``: idempotent, so running it twice changes nothing.

Two demo trainees have completed their programme (one per sponsor), through the same
services as a trainee's browser, so the demo has completion records, signed credentials,
certificates (built by the job threads of ``lms serve``) and sponsors' lists to show.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.accounts.services import create_user, find_user_by_email, set_password
from lms.catalog.models import Course, Lesson, LessonKind
from lms.db import new_session, utcnow
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor, SponsorKind

log = logging.getLogger(__name__)

SPONSORS = [
    (
        "Ministry of Urban Environment",
        SponsorKind.MINISTRY,
        "Malee Srisuk",
        "training@mue.example.org",
    ),
    ("Asian Cities Development Bank", SponsorKind.BANK, "Omar Haddad", "capacity@acdb.example.org"),
]
PROGRAMMES = [
    ("WTE-2026", "Waste-to-Energy Plant Operations 2026", 0, date(2026, 10, 1), date(2027, 3, 31)),
    ("SWC-2027", "Solid Waste Collection Planning 2027", 1, date(2027, 1, 15), date(2027, 6, 30)),
]
# (role, email, name, name in own script, country, language, time zone, sponsor index)
ACCOUNTS: list[tuple[Role, str, str, str, str, str | None, str, int | None]] = [
    (
        Role.ADMIN,
        "admin@kenshu.example.org",
        "Aiko Tanaka",
        "田中 愛子",
        "JP",
        "ja",
        "Asia/Tokyo",
        None,
    ),
    (
        Role.INSTRUCTOR,
        "instructor@kenshu.example.org",
        "Kenji Sato",
        "佐藤 健二",
        "JP",
        "ja",
        "Asia/Tokyo",
        None,
    ),
    (
        Role.SPONSOR,
        "sponsor1@kenshu.example.org",
        "Malee Srisuk",
        "มาลี ศรีสุข",
        "TH",
        "en",
        "Asia/Bangkok",
        0,
    ),
    (
        Role.SPONSOR,
        "sponsor2@kenshu.example.org",
        "Omar Haddad",
        "عمر حداد",
        "JO",
        "en",
        "Asia/Amman",
        1,
    ),
    (
        Role.TRAINEE,
        "trainee1@kenshu.example.org",
        "Somchai Jaidee",
        "สมชาย ใจดี",
        "TH",
        "en",
        "Asia/Bangkok",
        None,
    ),
    (
        Role.TRAINEE,
        "trainee2@kenshu.example.org",
        "Nguyen Thi Lan",
        "Nguyễn Thị Lan",
        "VN",
        "en",
        "Asia/Ho_Chi_Minh",
        None,
    ),
    (
        Role.TRAINEE,
        "trainee3@kenshu.example.org",
        "Grace Wanjiru",
        "Grace Wanjiru",
        "KE",
        None,
        "Africa/Nairobi",
        None,
    ),
    (
        Role.TRAINEE,
        "trainee4@kenshu.example.org",
        "Bat-Erdene Gantulga",
        "Батэрдэнэ Гантулга",
        "MN",
        "ja",
        "Asia/Ulaanbaatar",
        None,
    ),
    (
        Role.TRAINEE,
        "trainee5@kenshu.example.org",
        "Haruto Suzuki",
        "鈴木 陽翔",
        "JP",
        "ja",
        "Asia/Tokyo",
        None,
    ),
]
# Trainees enrolled elsewhere than the first programme: email -> programme index.
TRAINEE_PROGRAMME = {"trainee5@kenshu.example.org": 1}
# Trainees who have completed their programme, through the same services a trainee's
# clicks go through, so each has a signed completion record and a certificate queued.
GRADUATES = ("trainee4@kenshu.example.org", "trainee5@kenshu.example.org")


def _sponsor(session: Session, name: str, kind: str, contact: str, email: str) -> Sponsor:
    sponsor = session.scalar(select(Sponsor).where(Sponsor.name == name))
    if sponsor is None:
        sponsor = Sponsor(name=name, kind=kind, contact_name=contact, contact_email=email)
        session.add(sponsor)
        session.flush()
    return sponsor


def load_demo(app: Flask, password: str) -> list[tuple[str, str]]:
    """Create (or refresh the passwords of) the demo accounts; returns (role, email) pairs."""
    with app.app_context(), new_session(app) as session:
        sponsors = [_sponsor(session, *row) for row in SPONSORS]
        programmes = []
        for code, title, sponsor_index, starts, ends in PROGRAMMES:
            programme = session.scalar(select(Programme).where(Programme.code == code))
            if programme is None:
                programme = Programme(
                    code=code,
                    title=title,
                    starts_on=starts,
                    ends_on=ends,
                    sponsor_id=sponsors[sponsor_index].id,
                )
                session.add(programme)
                session.flush()
            programmes.append(programme)
        printed = []
        for role, email, name, native, country, locale, tz, sponsor_index in ACCOUNTS:
            user: User | None = find_user_by_email(session, email)
            if user is None:
                user = create_user(
                    session,
                    email=email,
                    name=name,
                    native_name=native,
                    country=country,
                    locale=locale,
                    timezone=tz,
                    roles=[role],
                    password=password,
                    sponsor_id=sponsors[sponsor_index].id if sponsor_index is not None else None,
                    organisation=sponsors[sponsor_index].name
                    if sponsor_index is not None
                    else "Clean Authority of Tokyo"
                    if role != Role.TRAINEE
                    else "City Environment Office",
                )
            else:
                set_password(user, password)
            if role == Role.TRAINEE:
                programme = programmes[TRAINEE_PROGRAMME.get(email, 0)]
                enrolled = session.scalar(
                    select(Enrolment).where(
                        Enrolment.user_id == user.id, Enrolment.programme_id == programme.id
                    )
                )
                if enrolled is None:
                    session.add(Enrolment(user_id=user.id, programme_id=programme.id))
            printed.append((str(role), email))
        course = _sample_course(app, session, programmes[0])
        _include(session, programmes[1], course)
        session.commit()
        _process_media(app, session, course.id)
        for email in GRADUATES:
            try:
                _graduate(session, email)
            except VideoNotProcessed as error:  # FFmpeg missing or failing: the rest stands
                session.rollback()
                log.warning("demo: %s has not completed the programme: %s", email, error)
    return printed


def _sample_course(app: Flask, session: Session, programme: Programme) -> Course:
    """Import the sample course from content/ and include it in the first programme."""
    from lms.content.sample import load_sample_course  # noqa: PLC0415
    from lms.storage import get_storage  # noqa: PLC0415

    instructor = find_user_by_email(session, "instructor@kenshu.example.org")
    assert instructor is not None
    course = load_sample_course(session, get_storage(app), instructor)
    _include(session, programme, course)
    return course


def _include(session: Session, programme: Programme, course: Course) -> None:
    included = session.scalar(
        select(ProgrammeCourse).where(
            ProgrammeCourse.programme_id == programme.id, ProgrammeCourse.course_id == course.id
        )
    )
    if included is None:
        session.add(ProgrammeCourse(programme_id=programme.id, course_id=course.id, position=0))


class VideoNotProcessed(Exception):
    """A graduate cannot watch a video whose processing failed (FFmpeg missing?)."""


def _process_media(app: Flask, session: Session, course_id: int) -> None:
    """Run the sample's media jobs that are still waiting, here and now: the demo's
    graduates must watch the videos, and a video's length is known only once processed.
    The same jobs queued for the worker then find nothing left to do."""
    from lms.jobs import get_jobs  # noqa: PLC0415
    from lms.media.models import MediaAsset, MediaStatus  # noqa: PLC0415
    from lms.media.services import PROCESS_JOBS  # noqa: PLC0415

    waiting = session.execute(
        select(MediaAsset.id, MediaAsset.kind).where(
            MediaAsset.course_id == course_id, MediaAsset.status == MediaStatus.PROCESSING
        )
    ).all()
    session.rollback()  # end the read: the jobs write through sessions of their own
    for asset_id, kind in waiting:
        if kind in PROCESS_JOBS:
            get_jobs(app).tasks[PROCESS_JOBS[kind]].call_local(asset_id)


def _graduate(session: Session, email: str) -> None:
    """The trainee studies every required lesson of their programmes and passes the
    quizzes, through the learning and quiz services: completion, the record, its signed
    credential and the certificate job follow from the same signals as for anyone."""
    from lms.credentials.models import CompletionRecord  # noqa: PLC0415
    from lms.learning import tracking  # noqa: PLC0415
    from lms.learning.models import ProgressStatus  # noqa: PLC0415
    from lms.learning.services import OPEN_STATUSES  # noqa: PLC0415

    user = find_user_by_email(session, email)
    assert user is not None
    if session.scalar(select(CompletionRecord.id).where(CompletionRecord.user_id == user.id)):
        return  # graduated by an earlier run
    courses = session.scalars(
        select(Course)
        .join(ProgrammeCourse, ProgrammeCourse.course_id == Course.id)
        .join(Enrolment, Enrolment.programme_id == ProgrammeCourse.programme_id)
        .where(Enrolment.user_id == user.id, Enrolment.status.in_(OPEN_STATUSES))
        .order_by(ProgrammeCourse.position, Course.id)
    ).all()
    # A study session that ended a few minutes ago, one lesson after another.
    moment = utcnow() - timedelta(hours=4)
    for course in courses:
        version = course.published_version
        snapshot = version.snapshot if version is not None else {}
        for module in snapshot.get("modules") or []:
            for data in module.get("lessons") or []:
                if not data.get("required", True):
                    continue
                progress = tracking.find_progress(session, user.id, data["id"])
                if progress is not None and progress.status == ProgressStatus.DONE:
                    continue
                lesson = session.get(Lesson, data["id"])
                assert lesson is not None
                moment = _study(session, user, lesson, str(data.get("kind")), moment)
    session.commit()


def _study(session: Session, user: User, lesson: Lesson, kind: str, at: datetime) -> datetime:
    """Complete one lesson as the trainee's browser would; returns when they finished."""
    from lms.learning import tracking  # noqa: PLC0415

    def unit(work: Callable[[], object]) -> None:
        tracking.commit_with_retries(session, work)

    if kind == LessonKind.VIDEO:
        duration = tracking.lesson_spec(session, user, lesson).duration
        if not duration:
            raise VideoNotProcessed(f"the video of lesson {lesson.id} was not processed")
        playback = str(uuid.uuid4())
        for seq, watched in enumerate((0.0, duration)):
            when = at + timedelta(seconds=watched)
            beat = tracking.parse_beat(
                {
                    "session": playback,
                    "seq": seq,
                    "intervals": [[0, watched]] if watched else [],
                    "position": watched,
                    "rate": 1,
                    "t": int(when.timestamp() * 1000),
                }
            )
            unit(
                lambda beat=beat, when=when: tracking.record_beat(session, user, lesson, beat, when)
            )
        return at + timedelta(seconds=duration, minutes=2)
    if kind == LessonKind.QUIZ:
        unit(lambda: _pass_quiz(session, user, lesson.id, at))
        return at + timedelta(minutes=8)
    if kind in (LessonKind.READING, LessonKind.DOCUMENT):
        unit(lambda: tracking.mark_done(session, user, lesson, at))
    else:  # a tour: done once every stop has been seen
        unit(lambda: tracking.record_activity(session, user, lesson, at, done=True))
    return at + timedelta(minutes=10)


def _pass_quiz(session: Session, user: User, lesson_id: int, at: datetime) -> None:
    """Start, answer every question right, and submit: one unit of work, so the deadline
    job of a timed quiz finds the attempt already graded."""
    from lms.quizzes import attempts  # noqa: PLC0415

    attempt = attempts.start_attempt(session, user, lesson_id, at)
    revision = int(at.timestamp() * 1000)  # newer than anything saved before, as the page's
    for position, item in enumerate(attempt.items):
        answer = _model_answer(item["spec"])
        attempts.save_answer(session, attempt, position, answer, revision, at)
    attempts.submit(session, attempt.id, at + timedelta(minutes=5))


def _model_answer(spec: dict[str, Any]) -> Any:
    """The response that earns full marks, read from a question's spec."""
    kind = spec["type"]
    if kind == "single_choice":
        return next(c["id"] for c in spec["choices"] if c["weight"] == 1.0)
    if kind == "multiple_response":
        if spec.get("scoring") == "partial":
            return sorted(c["id"] for c in spec["choices"] if c["weight"] > 0)
        return sorted(c["id"] for c in spec["choices"] if c["correct"])
    if kind == "true_false":
        return spec["answer"]
    if kind == "numeric":
        best = max(spec["answers"], key=lambda answer: answer["credit"])
        return best["value"] if "value" in best else (best["min"] + best["max"]) / 2
    if kind == "short_answer":
        return max(spec["answers"], key=lambda answer: answer["credit"])["text"]
    if kind == "matching":
        return {prompt["id"]: prompt["match"] for prompt in spec["prompts"]}
    if kind == "ordering":
        return [item["id"] for item in spec["items"]]
    raise ValueError(f"no model answer for a {kind} question")
