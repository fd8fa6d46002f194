"""Sponsors, programmes and enrolments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from lms.accounts.models import Role, User
from lms.accounts.services import find_user_by_email
from lms.audit.services import record
from lms.catalog.models import Course
from lms.db import savepoint, utcnow
from lms.programs.models import (
    Enrolment,
    EnrolmentStatus,
    Programme,
    ProgrammeCourse,
    Sponsor,
    SponsorKind,
)


class ProgrammeError(Exception):
    """A domain error with a translated message; ``field`` names the form field at fault."""

    def __init__(self, message: object, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


# --- who may see what ---------------------------------------------------------------


def can_view_programme(user: User, programme: Programme) -> bool:
    if user.has_role(Role.ADMIN):
        return True
    return user.has_role(Role.SPONSOR) and user.sponsor_id == programme.sponsor_id


def visible_programmes(session: Session, user: User) -> list[Programme]:
    query = (
        select(Programme)
        .options(selectinload(Programme.sponsor))
        .order_by(Programme.starts_on.desc(), Programme.code)
    )
    if not user.has_role(Role.ADMIN):
        if not user.has_role(Role.SPONSOR) or user.sponsor_id is None:
            return []
        query = query.where(Programme.sponsor_id == user.sponsor_id)
    return list(session.scalars(query))


def enrolment_counts(session: Session, programme_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {
        pid: {str(s): 0 for s in EnrolmentStatus} for pid in programme_ids
    }
    if not programme_ids:
        return counts
    rows = session.execute(
        select(Enrolment.programme_id, Enrolment.status, func.count())
        .where(Enrolment.programme_id.in_(programme_ids))
        .group_by(Enrolment.programme_id, Enrolment.status)
    )
    for pid, status, n in rows:
        counts[pid][status] = n
    return counts


def home_sections(session: Session, user: User) -> dict[str, Any]:
    """What the signed-in user's home page shows, one section per role they hold."""
    sections: dict[str, Any] = {}
    if user.has_role(Role.TRAINEE):
        sections["enrolments"] = list(
            session.scalars(
                select(Enrolment)
                .where(Enrolment.user_id == user.id)
                .options(
                    selectinload(Enrolment.programme).selectinload(Programme.sponsor),
                    selectinload(Enrolment.programme)
                    .selectinload(Programme.courses)
                    .selectinload(ProgrammeCourse.course),
                )
                .join(Enrolment.programme)
                .order_by(Programme.starts_on)
            )
        )
    if user.has_role(Role.INSTRUCTOR):
        from lms.catalog.services import editable_courses  # noqa: PLC0415

        sections["courses"] = editable_courses(session, user)
    if user.has_role(Role.SPONSOR, Role.ADMIN):
        programmes = visible_programmes(session, user)
        sections["programmes"] = programmes
        sections["counts"] = enrolment_counts(session, [p.id for p in programmes])
    if user.has_role(Role.ADMIN):
        sections["totals"] = {
            "users": session.scalar(select(func.count()).select_from(User)),
            "sponsors": session.scalar(select(func.count()).select_from(Sponsor)),
            "programmes": session.scalar(select(func.count()).select_from(Programme)),
        }
    return {"sections": sections}


# --- sponsors ------------------------------------------------------------------------


@dataclass
class SponsorData:
    name: str
    kind: str
    contact_name: str = ""
    contact_email: str = ""


def save_sponsor(session: Session, data: SponsorData, sponsor: Sponsor | None = None) -> Sponsor:
    name = data.name.strip()
    if not name:
        raise ProgrammeError(_l("The name is missing."), "name")
    if data.kind not in {str(k) for k in SponsorKind}:
        raise ProgrammeError(_l("Unknown kind of sponsor."), "kind")
    clash = session.scalar(select(Sponsor).where(func.lower(Sponsor.name) == name.lower()))
    if clash is not None and clash is not sponsor:
        raise ProgrammeError(_l("A sponsor with this name already exists."), "name")
    sponsor = sponsor or Sponsor()
    sponsor.name = name
    sponsor.kind = data.kind
    sponsor.contact_name = data.contact_name.strip()
    sponsor.contact_email = data.contact_email.strip().lower()
    session.add(sponsor)
    session.flush()
    return sponsor


# --- programmes ----------------------------------------------------------------------


@dataclass
class ProgrammeData:
    code: str
    title: str
    sponsor_id: int
    starts_on: date
    ends_on: date


def save_programme(
    session: Session, data: ProgrammeData, programme: Programme | None = None
) -> Programme:
    code = data.code.strip().upper()
    if not code or not data.title.strip():
        raise ProgrammeError(_l("The code and the title are required."))
    if data.ends_on < data.starts_on:
        raise ProgrammeError(_l("The programme cannot end before it starts."), "ends_on")
    if session.get(Sponsor, data.sponsor_id) is None:
        raise ProgrammeError(_l("Unknown sponsor."), "sponsor")
    if _programme_code_clash(session, code, programme):
        raise ProgrammeError(_l("A programme with this code already exists."), "code")
    target = programme or Programme()
    try:
        # Changes inside the savepoint: begin_nested() flushes what is pending before it.
        with savepoint(session):
            target.code = code
            target.title = data.title.strip()
            target.sponsor_id = data.sponsor_id
            target.starts_on = data.starts_on
            target.ends_on = data.ends_on
            session.add(target)
            session.flush()
    except IntegrityError:
        if _programme_code_clash(session, code, programme):  # saved by someone else meanwhile
            raise ProgrammeError(_l("A programme with this code already exists."), "code") from None
        raise
    return target


def _programme_code_clash(session: Session, code: str, programme: Programme | None) -> bool:
    query = select(Programme.id).where(func.upper(Programme.code) == code)
    if programme is not None and programme.id is not None:
        query = query.where(Programme.id != programme.id)
    return session.scalar(query.limit(1)) is not None


def add_course(session: Session, programme: Programme, course_id: int, required: bool) -> None:
    if session.get(Course, course_id) is None:
        raise ProgrammeError(_l("Unknown course."), "course")
    if any(pc.course_id == course_id for pc in programme.courses):
        raise ProgrammeError(_l("This course is already in the programme."), "course")
    position = max((pc.position for pc in programme.courses), default=-1) + 1
    programme.courses.append(
        ProgrammeCourse(course_id=course_id, position=position, required=required)
    )
    session.flush()


def _item(programme: Programme, item_id: int) -> ProgrammeCourse:
    item = next((pc for pc in programme.courses if pc.id == item_id), None)
    if item is None:
        raise ProgrammeError(_l("This course is not in the programme."))
    return item


def move_course(session: Session, programme: Programme, item_id: int, step: int) -> None:
    """Move one course up (-1) or down (+1); positions stay 0..n-1."""
    item = _item(programme, item_id)
    items = sorted(programme.courses, key=lambda pc: pc.position)
    index = items.index(item)
    target = index + step
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]
    for position, pc in enumerate(items):
        pc.position = position
    session.flush()


def remove_course(session: Session, programme: Programme, item_id: int) -> None:
    item = _item(programme, item_id)
    programme.courses.remove(item)
    for position, pc in enumerate(sorted(programme.courses, key=lambda pc: pc.position)):
        pc.position = position
    session.flush()


def set_course_required(
    session: Session, programme: Programme, item_id: int, required: bool
) -> None:
    _item(programme, item_id).required = required
    session.flush()


def enrol(
    session: Session, actor: User, programme: Programme, trainee: User, *, ip: str = ""
) -> Enrolment:
    if not trainee.has_role(Role.TRAINEE):
        raise ProgrammeError(_l("Only trainees can be enrolled."), "email")
    existing = session.scalar(
        select(Enrolment).where(
            Enrolment.programme_id == programme.id, Enrolment.user_id == trainee.id
        )
    )
    if existing is not None:
        raise ProgrammeError(_l("This trainee is already enrolled."), "email")
    enrolment = Enrolment(programme_id=programme.id, user_id=trainee.id)
    session.add(enrolment)
    try:
        with savepoint(session):
            session.flush()
    except IntegrityError:
        raise ProgrammeError(_l("This trainee is already enrolled."), "email") from None
    record(
        session,
        "enrolled",
        actor_id=actor.id,
        subject=trainee.email,
        ip=ip,
        programme=programme.code,
    )
    return enrolment


def enrol_by_email(
    session: Session, actor: User, programme: Programme, email: str, *, ip: str = ""
) -> Enrolment:
    """Enrol the existing trainee account that uses ``email``."""
    trainee = find_user_by_email(session, email) if email.strip() else None
    if trainee is None:
        raise ProgrammeError(_l("No account uses this email address."), "email")
    return enrol(session, actor, programme, trainee, ip=ip)


def set_enrolment_status(
    session: Session, actor: User, enrolment: Enrolment, status: str, *, ip: str = ""
) -> None:
    if status not in {str(s) for s in EnrolmentStatus}:
        raise ProgrammeError(_l("Unknown status."), "status")
    if enrolment.status == status:
        return
    now = utcnow()
    enrolment.status = status
    enrolment.completed_at = now if status == EnrolmentStatus.COMPLETED else None
    enrolment.withdrawn_at = now if status == EnrolmentStatus.WITHDRAWN else None
    record(
        session,
        "enrolment_status",
        actor_id=actor.id,
        subject=enrolment.user.email,
        ip=ip,
        programme=enrolment.programme.code,
        status=status,
    )
    session.flush()


# --- what the pages show: a fixed number of queries, whatever the number of rows -----


@dataclass
class SponsorRow:
    sponsor: Sponsor
    programmes: int
    staff: int


def sponsor_rows(session: Session) -> list[SponsorRow]:
    programmes: dict[int, int] = {
        sponsor_id: n
        for sponsor_id, n in session.execute(
            select(Programme.sponsor_id, func.count()).group_by(Programme.sponsor_id)
        )
    }
    staff: dict[int, int] = {
        sponsor_id: n
        for sponsor_id, n in session.execute(
            select(User.sponsor_id, func.count())
            .where(User.sponsor_id.is_not(None))
            .group_by(User.sponsor_id)
        )
    }
    return [
        SponsorRow(sponsor, programmes.get(sponsor.id, 0), staff.get(sponsor.id, 0))
        for sponsor in session.scalars(select(Sponsor).order_by(Sponsor.name))
    ]


def all_sponsors(session: Session) -> list[Sponsor]:
    return list(session.scalars(select(Sponsor).order_by(Sponsor.name)))


def load_sponsor(session: Session, sponsor_id: int) -> Sponsor | None:
    """A sponsor with its programmes."""
    return session.scalar(
        select(Sponsor).where(Sponsor.id == sponsor_id).options(selectinload(Sponsor.programmes))
    )


def sponsor_staff(session: Session, sponsor_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.sponsor_id == sponsor_id).order_by(User.name, User.email)
        )
    )


def load_programme(session: Session, programme_id: int) -> Programme | None:
    """A programme with its sponsor and its courses in order."""
    return session.scalar(
        select(Programme)
        .where(Programme.id == programme_id)
        .options(
            joinedload(Programme.sponsor),
            selectinload(Programme.courses).joinedload(ProgrammeCourse.course),
        )
    )


def programme_enrolments(session: Session, programme_id: int) -> list[Enrolment]:
    """The enrolments of a programme with their trainees, by name."""
    return list(
        session.scalars(
            select(Enrolment)
            .join(Enrolment.user)
            .where(Enrolment.programme_id == programme_id)
            .options(contains_eager(Enrolment.user))
            .order_by(User.name, User.email, Enrolment.id)
        )
    )


def count_by_status(enrolments: list[Enrolment]) -> dict[str, int]:
    counts = {str(s): 0 for s in EnrolmentStatus}
    for enrolment in enrolments:
        counts[enrolment.status] = counts.get(enrolment.status, 0) + 1
    return counts


def courses_to_add(session: Session, programme: Programme) -> tuple[list[Course], bool]:
    """The courses not yet in ``programme``, and whether any course exists at all."""
    courses = list(session.scalars(select(Course).order_by(Course.title, Course.code)))
    included = {pc.course_id for pc in programme.courses}
    return [c for c in courses if c.id not in included], bool(courses)
