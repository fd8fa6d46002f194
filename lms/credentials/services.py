"""Issuing, revoking, reissuing and looking up completion records.

Importing this module connects :func:`issue_record` to
:data:`lms.learning.completion.programme_completed`: the record is written through the
completion's own session, in the same transaction, so a completion is never committed
without its record and a rolled-back (and retried) unit of work leaves none behind.
See :mod:`lms.credentials.models` for why it is issued exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from lms.accounts.models import Role, User
from lms.audit.services import record as audit
from lms.catalog.models import Course, CourseVersion
from lms.credentials.codes import new_verification_code, normalise_code
from lms.credentials.issuing import (
    CredentialSettings,
    credential_token,
    settings_for,
    try_sign_record,
)
from lms.credentials.models import CompletionRecord
from lms.credentials.scores import course_score, quiz_results
from lms.db import insert_if_absent, savepoint, utcnow
from lms.learning.completion import programme_completed
from lms.learning.records import CourseCompletion
from lms.learning.tracking import signals
from lms.programs.models import Enrolment, Programme, ProgrammeCourse

#: A record was issued or reissued (sender: the new CompletionRecord; ``session=``), sent
#: inside the unit of work that writes it. lms.certificates listens (builds the PDF).
record_issued = signals.signal("record-issued")


class RecordError(Exception):
    """A domain error with a message for the user."""


def _snapshot(session: Session, user_id: int, programme_id: int) -> tuple[list[dict], float]:
    """The completed courses of the programme (in order) and the study hours: one query."""
    rows = session.execute(
        select(
            Course.id,
            Course.code,
            Course.title,
            CourseCompletion.completed_at,
            CourseVersion.snapshot,
        )
        .join(ProgrammeCourse, ProgrammeCourse.course_id == Course.id)
        .join(
            CourseCompletion,
            (CourseCompletion.course_id == Course.id) & (CourseCompletion.user_id == user_id),
        )
        .outerjoin(CourseVersion, CourseVersion.id == CourseCompletion.course_version_id)
        .where(ProgrammeCourse.programme_id == programme_id)
        .order_by(ProgrammeCourse.position, Course.id)
    )
    courses, minutes = [], 0
    for course_id, code, title, completed_at, snapshot in rows:
        quizzes = quiz_results(session, user_id, snapshot)
        courses.append(
            {
                "course_id": course_id,
                "code": code,
                "title": title,
                "completed_at": completed_at.isoformat(),
                "score": course_score(quizzes),
                "quizzes": quizzes,
            }
        )
        for module in (snapshot or {}).get("modules") or []:
            for lesson in module.get("lessons") or []:
                minutes += int(lesson.get("estimated_minutes") or 0)
    return courses, round(minutes / 60, 2)


def issue_record(
    session: Session,
    enrolment: Enrolment,
    now: datetime | None = None,
    signer: CredentialSettings | None = None,
) -> CompletionRecord | None:
    """Issue the record of a completed enrolment: the new record, or None if one exists.

    With ``signer`` the record's credential is signed at once (see :mod:`.issuing`).
    """
    programme = session.get(Programme, enrolment.programme_id)
    assert programme is not None
    courses, hours = _snapshot(session, enrolment.user_id, enrolment.programme_id)
    now = now or utcnow()
    new_id = insert_if_absent(
        session,
        CompletionRecord,
        {
            "public_id": str(uuid.uuid4()),
            "user_id": enrolment.user_id,
            "programme_id": enrolment.programme_id,
            "sponsor_id": programme.sponsor_id,
            "generation": 1,
            "verification_code": new_verification_code(),
            "issued_at": now,
            "completed_at": enrolment.completed_at or now,
            "study_hours": hours,
            "courses": courses,
            "revoked_reason": "",
        },
        ["user_id", "programme_id", "generation"],
    )
    if new_id is None:
        return None
    record = session.get(CompletionRecord, new_id)
    assert record is not None
    if signer is not None:
        try_sign_record(record, signer)
        session.flush()
    record_issued.send(record, session=session)
    return record


def _on_programme_completed(enrolment: Enrolment, session: Session, **_extra: Any) -> None:
    # Completions happen in requests and jobs (an app context: sign now); elsewhere the
    # credential is signed on its first download.
    signer = settings_for(current_app) if has_app_context() else None
    issue_record(session, enrolment, signer=signer)


programme_completed.connect(_on_programme_completed)


def revoke(
    session: Session, actor: User, record: CompletionRecord, reason: str, ip: str = ""
) -> CompletionRecord:
    """Revoke a record with a reason (audited)."""
    reason = (reason or "").strip()
    if not reason:
        raise RecordError(_l("A reason is required to revoke a record."))
    if record.revoked_at is not None:
        raise RecordError(_l("This record is already revoked."))
    record.revoked_at = utcnow()
    record.revoked_reason = reason[:500]
    record.revoked_by_id = actor.id
    session.flush()
    audit(
        session,
        "credentials.revoke",
        actor_id=actor.id,
        subject=f"completion_record:{record.id}",
        ip=ip,
        reason=record.revoked_reason,
        code=record.verification_code,
    )
    return record


def reissue(
    session: Session,
    actor: User,
    record: CompletionRecord,
    ip: str = "",
    signer: CredentialSettings | None = None,
) -> CompletionRecord:
    """Replace a record by a new one with a new code; the old one is revoked (audited).

    Only the latest record of a trainee's programme can be reissued; two reissues racing
    collide on the (user, programme, generation) key and the second one fails.
    """
    if record.replaced_by_id is not None:
        raise RecordError(_l("This record has already been replaced."))
    courses, hours = _snapshot(session, record.user_id, record.programme_id)
    now = utcnow()
    new = CompletionRecord(
        user_id=record.user_id,
        programme_id=record.programme_id,
        sponsor_id=record.sponsor_id,
        generation=record.generation + 1,
        verification_code=new_verification_code(),
        issued_at=now,
        completed_at=record.completed_at,
        study_hours=hours,
        courses=courses or record.courses,
    )
    try:
        with savepoint(session):
            session.add(new)
            session.flush()
    except IntegrityError as error:
        raise RecordError(_l("This record has already been replaced.")) from error
    if record.revoked_at is None:
        record.revoked_at = now
        record.revoked_reason = "Reissued"
        record.revoked_by_id = actor.id
    record.replaced_by_id = new.id
    if signer is not None:
        try_sign_record(new, signer)
    session.flush()
    audit(
        session,
        "credentials.reissue",
        actor_id=actor.id,
        subject=f"completion_record:{record.id}",
        ip=ip,
        new_record_id=new.id,
        old_code=record.verification_code,
        new_code=new.verification_code,
    )
    record_issued.send(new, session=session)
    return new


def lookup_by_code(session: Session, text: str | None) -> CompletionRecord | None:
    """The record with this code as typed (any case, spaces, O for 0), or None."""
    code = normalise_code(text)
    if code is None:
        return None
    return session.scalar(
        select(CompletionRecord)
        .options(
            joinedload(CompletionRecord.user),
            joinedload(CompletionRecord.programme),
            joinedload(CompletionRecord.sponsor),
        )
        .where(CompletionRecord.verification_code == code)
    )


# --- the trainee's own records -------------------------------------------------------------


@dataclass(frozen=True)
class CourseRecord:
    """A completed course, as the trainee's records page shows it."""

    course: Course
    completed_at: datetime
    # The mean of its quizzes' counted results (see lms.credentials.scores); None for a
    # course without a graded quiz (never made up).
    score: float | None = None


def records_of(session: Session, user_id: int) -> list[CompletionRecord]:
    """A trainee's completion records, newest first (replaced ones included)."""
    return list(
        session.scalars(
            select(CompletionRecord)
            .options(joinedload(CompletionRecord.programme), joinedload(CompletionRecord.sponsor))
            .where(CompletionRecord.user_id == user_id)
            .order_by(CompletionRecord.issued_at.desc(), CompletionRecord.id.desc())
        )
    )


def course_records_of(session: Session, user_id: int) -> list[CourseRecord]:
    """The courses a trainee has completed, most recent first."""
    rows = session.execute(
        select(Course, CourseCompletion.completed_at, CourseVersion.snapshot)
        .join(CourseCompletion, CourseCompletion.course_id == Course.id)
        .outerjoin(CourseVersion, CourseVersion.id == CourseCompletion.course_version_id)
        .where(CourseCompletion.user_id == user_id)
        .order_by(CourseCompletion.completed_at.desc(), Course.id)
    )
    return [
        CourseRecord(course, completed_at, course_score(quiz_results(session, user_id, snapshot)))
        for course, completed_at, snapshot in rows
    ]


def readable_record(session: Session, user: User, record_id: int) -> CompletionRecord | None:
    """The record if ``user`` may download its credential, else None.

    Admins always; its own trainee while it is valid (like the PDF certificate): a
    revoked or replaced record is not handed out again, its replacement is.
    """
    record = session.get(CompletionRecord, record_id)
    if record is None:
        return None
    if user.has_role(Role.ADMIN):
        return record
    return record if record.user_id == user.id and record.revoked_at is None else None


def download_credential(
    session: Session, user: User, record: CompletionRecord, signer: CredentialSettings, ip: str = ""
) -> str:
    """The record's signed credential for ``user`` to download; the download is audited."""
    token = credential_token(record, signer)
    audit(
        session,
        "credentials.download",
        actor_id=user.id,
        subject=f"completion_record:{record.id}",
        ip=ip,
        format="vc+jwt",
    )
    return token
