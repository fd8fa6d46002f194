from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class SponsorKind(StrEnum):
    MINISTRY = "ministry"
    BANK = "bank"
    AGENCY = "agency"
    OTHER = "other"


class EnrolmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class Sponsor(Base):
    """A body that pays for training: a ministry, a development bank, an aid agency."""

    __tablename__ = "sponsors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=SponsorKind.OTHER)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    programmes: Mapped[list[Programme]] = relationship(
        back_populates="sponsor", order_by="Programme.starts_on"
    )


class Programme(Base):
    """A cohort run for one sponsor, made of courses in order."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    sponsor_id: Mapped[int] = mapped_column(ForeignKey("sponsors.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sponsor: Mapped[Sponsor] = relationship(back_populates="programmes")
    courses: Mapped[list[ProgrammeCourse]] = relationship(
        back_populates="programme",
        order_by="ProgrammeCourse.position",
        cascade="all, delete-orphan",
    )
    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="programme", cascade="all, delete-orphan"
    )


class ProgrammeCourse(Base):
    __tablename__ = "programme_courses"
    __table_args__ = (UniqueConstraint("programme_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    required: Mapped[bool] = mapped_column(default=True)

    programme: Mapped[Programme] = relationship(back_populates="courses")
    course: Mapped[Course] = relationship()  # noqa: F821


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("programme_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=EnrolmentStatus.ACTIVE)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]

    programme: Mapped[Programme] = relationship(back_populates="enrolments")
    user: Mapped[User] = relationship()  # noqa: F821


from lms.accounts.models import User  # noqa: E402,F401
from lms.catalog.models import Course  # noqa: E402,F401
