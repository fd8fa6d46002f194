"""Issuing, revoking, reissuing and looking up completion records.

Importing this module connects :func:`issue_record` to
:data:`lms.learning.completion.programme_completed`: the record is written through the
completion's own session, in the same transaction, so a completion is never committed
without its record and a rolled-back (and retried) unit of work leaves none behind.
See :mod:`lms.credentials.models` for why it is issued exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from lms.accounts.models import User
from lms.audit.services import record as audit
from lms.catalog.models import Course, CourseVersion
from lms.credentials.codes import new_verification_code, normalise_code
from lms.credentials.models import CompletionRecord
from lms.db import insert_if_absent, utcnow
from lms.learning.completion import programme_completed
from lms.learning.records import CourseCompletion
from lms.programs.models import Enrolment, Programme, ProgrammeCourse


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
        courses.append(
            {
                "course_id": course_id,
                "code": code,
                "title": title,
                "completed_at": completed_at.isoformat(),
            }
        )
        for module in (snapshot or {}).get("modules") or []:
            for lesson in module.get("lessons") or []:
                minutes += int(lesson.get("estimated_minutes") or 0)
    return courses, round(minutes / 60, 2)


def issue_record(
    session: Session, enrolment: Enrolment, now: datetime | None = None
) -> CompletionRecord | None:
    """Issue the record of a completed enrolment: the new record, or None if one exists."""
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
    return None if new_id is None else session.get(CompletionRecord, new_id)


def _on_programme_completed(enrolment: Enrolment, session: Session, **_extra: Any) -> None:
    issue_record(session, enrolment)


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
    session: Session, actor: User, record: CompletionRecord, ip: str = ""
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
        with session.begin_nested():
            session.add(new)
            session.flush()
    except IntegrityError as error:
        raise RecordError(_l("This record has already been replaced.")) from error
    if record.revoked_at is None:
        record.revoked_at = now
        record.revoked_reason = "Reissued"
        record.revoked_by_id = actor.id
    record.replaced_by_id = new.id
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
