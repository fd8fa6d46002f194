"""What the sponsor portal shows of a programme: counts, progress distribution, trainees.

**Stages.** Every enrolment is in one stage: *withdrawn* and *completed* follow its
status; an active enrolment is *in progress* once the trainee has opened any lesson of
the programme's courses, *not started* before. *Enrolled* counts every enrolment.

**Progress** of a trainee is the share of the lessons of the programme's required
courses (their published versions) that the trainee has done. A completed enrolment
is 100 %: completion is recorded once and never lowered, even if a course gains a
lesson afterwards (see :mod:`lms.learning.completion`). Withdrawn trainees are listed
but left out of the distribution.

Read-only; a fixed number of queries whatever the number of trainees or lessons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, false, func, select
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Course, CourseVersion
from lms.credentials.models import CompletionRecord
from lms.learning.completion import requirements
from lms.learning.models import LessonProgress, ProgressStatus
from lms.learning.records import CourseCompletion
from lms.programs.models import Enrolment, EnrolmentStatus, ProgrammeCourse
from lms.programs.services import enrolment_counts

STAGES = ("not_started", "in_progress", "completed", "withdrawn")
STAGE_LABELS: dict[str, Any] = {
    "not_started": _l("Not started"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "withdrawn": _l("Withdrawn"),
}

#: Progress buckets of the distribution chart: (lowest %, highest %) both included.
BUCKETS: tuple[tuple[int, int], ...] = ((0, 0), (1, 24), (25, 49), (50, 74), (75, 99), (100, 100))

# Chart geometry (SVG user units): one horizontal bar per bucket.
CHART_LABEL_WIDTH = 90
CHART_PLOT_WIDTH = 260
CHART_COUNT_WIDTH = 50
CHART_ROW = 32
CHART_BAR = 20


@dataclass(frozen=True)
class TraineeProgress:
    user_id: int
    name: str
    native_name: str
    email: str
    country: str
    organisation: str
    status: str
    enrolled_at: datetime
    completed_at: datetime | None
    withdrawn_at: datetime | None
    lessons_done: int
    lessons_total: int
    courses_done: int
    courses_total: int
    last_activity_at: datetime | None

    @property
    def stage(self) -> str:
        if self.status == EnrolmentStatus.WITHDRAWN:
            return "withdrawn"
        if self.status == EnrolmentStatus.COMPLETED:
            return "completed"
        return "in_progress" if self.last_activity_at is not None else "not_started"

    @property
    def percent(self) -> int:
        if self.status == EnrolmentStatus.COMPLETED:
            return 100
        if not self.lessons_total:
            return 0
        share = min(self.lessons_done, self.lessons_total) / self.lessons_total
        # Never show 100 % before the programme is completed, nor 0 % after some work.
        return max(1 if self.lessons_done else 0, min(99, int(share * 100)))


@dataclass(frozen=True)
class Bar:
    low: int
    high: int
    count: int
    x: int
    y: int
    width: int
    text_y: int
    label_x: int
    count_x: int


@dataclass(frozen=True)
class Distribution:
    total: int
    bars: list[Bar]
    width: int
    height: int
    rtl: bool

    @property
    def label_anchor(self) -> str:
        return "start" if self.rtl else "end"

    @property
    def count_anchor(self) -> str:
        return "end" if self.rtl else "start"


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]  # "enrolled" and every stage
    trainees: list[TraineeProgress]
    distribution: Distribution
    records: int  # completion records issued for the programme (any status)


def distribution(trainees: list[TraineeProgress], rtl: bool = False) -> Distribution:
    """The trainees still in the programme per progress bucket, laid out for a horizontal
    SVG bar chart (pure). Bars grow along the reading direction: leftwards for ``rtl``."""
    counted = [t.percent for t in trainees if t.stage != "withdrawn"]
    total = len(counted)
    full = CHART_LABEL_WIDTH + CHART_PLOT_WIDTH + CHART_COUNT_WIDTH
    bars = []
    for index, (low, high) in enumerate(BUCKETS):
        count = sum(1 for percent in counted if low <= percent <= high)
        width = round(CHART_PLOT_WIDTH * count / total) if total else 0
        y = index * CHART_ROW + (CHART_ROW - CHART_BAR) // 2
        if rtl:  # labels on the right, bars growing leftwards
            label_x = full - CHART_LABEL_WIDTH + 6
            x = full - CHART_LABEL_WIDTH - width
            count_x = x - 6
        else:
            label_x = CHART_LABEL_WIDTH - 6
            x = CHART_LABEL_WIDTH
            count_x = x + width + 6
        bars.append(
            Bar(
                low=low,
                high=high,
                count=count,
                x=x,
                y=y,
                width=width,
                text_y=y + CHART_BAR - 5,
                label_x=label_x,
                count_x=count_x,
            )
        )
    return Distribution(
        total=total, bars=bars, width=full, height=CHART_ROW * len(BUCKETS), rtl=rtl
    )


def _lessons(session: Session, programme_id: int) -> tuple[set[int], int]:
    """The lesson ids that progress counts (required courses' published lessons) and
    the number of required courses: one query."""
    lesson_ids: set[int] = set()
    required = 0
    rows = session.execute(
        select(ProgrammeCourse.required, CourseVersion.snapshot)
        .join(Course, Course.id == ProgrammeCourse.course_id)
        .outerjoin(CourseVersion, CourseVersion.id == Course.published_version_id)
        .where(ProgrammeCourse.programme_id == programme_id)
    )
    for is_required, snapshot in rows:
        if not is_required:
            continue
        required += 1
        if snapshot:
            lesson_ids.update(requirements(snapshot).lessons)
    return lesson_ids, required


def programme_overview(session: Session, programme_id: int, *, rtl: bool = False) -> Overview:
    """Counts, distribution and trainee list of one programme: five queries."""
    enrolled_users = select(Enrolment.user_id).where(Enrolment.programme_id == programme_id)
    programme_courses = select(ProgrammeCourse.course_id).where(
        ProgrammeCourse.programme_id == programme_id
    )
    required_courses = programme_courses.where(ProgrammeCourse.required.is_(True))
    lesson_ids, courses_total = _lessons(session, programme_id)

    done_lesson = and_(
        LessonProgress.status == ProgressStatus.DONE,
        LessonProgress.lesson_id.in_(lesson_ids) if lesson_ids else false(),
    )
    activity: dict[int, tuple[int, datetime | None]] = {
        user_id: (int(done or 0), last)
        for user_id, done, last in session.execute(
            select(
                LessonProgress.user_id,
                func.sum(case((done_lesson, 1), else_=0)),
                func.max(LessonProgress.last_activity_at),
            )
            .where(
                LessonProgress.user_id.in_(enrolled_users),
                LessonProgress.course_id.in_(programme_courses),
            )
            .group_by(LessonProgress.user_id)
        )
    }
    courses_done: dict[int, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(CourseCompletion.user_id, func.count())
            .where(
                CourseCompletion.user_id.in_(enrolled_users),
                CourseCompletion.course_id.in_(required_courses),
            )
            .group_by(CourseCompletion.user_id)
        ).all()
    )
    trainees = []
    for enrolment, user in session.execute(
        select(Enrolment, User)
        .join(User, User.id == Enrolment.user_id)
        .where(Enrolment.programme_id == programme_id)
        .order_by(User.name, User.email, Enrolment.id)
    ):
        done, last = activity.get(user.id, (0, None))
        trainees.append(
            TraineeProgress(
                user_id=user.id,
                name=user.display_name,
                native_name=user.native_name,
                email=user.email,
                country=user.country,
                organisation=user.organisation,
                status=enrolment.status,
                enrolled_at=enrolment.enrolled_at,
                completed_at=enrolment.completed_at,
                withdrawn_at=enrolment.withdrawn_at,
                lessons_done=done,
                lessons_total=len(lesson_ids),
                courses_done=courses_done.get(user.id, 0),
                courses_total=courses_total,
                last_activity_at=last,
            )
        )
    counts = {stage: 0 for stage in STAGES}
    for trainee in trainees:
        counts[trainee.stage] += 1
    counts["enrolled"] = len(trainees)
    records = session.scalar(
        select(func.count())
        .select_from(CompletionRecord)
        .where(CompletionRecord.programme_id == programme_id)
    )
    return Overview(
        counts=counts,
        trainees=trainees,
        distribution=distribution(trainees, rtl=rtl),
        records=int(records or 0),
    )


def programme_counts(session: Session, programme_ids: list[int]) -> dict[int, dict[str, int]]:
    """Enrolled, not started, in progress, completed and withdrawn per programme: two
    queries whatever the number of programmes."""
    counts = {pid: {"enrolled": 0, **{stage: 0 for stage in STAGES}} for pid in programme_ids}
    if not programme_ids:
        return counts
    # The same enrolment counts as the home page, with "active" split by whether a
    # trainee has started.
    for pid, by_status in enrolment_counts(session, programme_ids).items():
        for status, n in by_status.items():
            counts[pid]["enrolled"] += n
            if status == EnrolmentStatus.ACTIVE:
                counts[pid]["not_started"] += n
            elif status in counts[pid]:
                counts[pid][status] += n
    started = exists().where(
        LessonProgress.user_id == Enrolment.user_id,
        LessonProgress.course_id == ProgrammeCourse.course_id,
        ProgrammeCourse.programme_id == Enrolment.programme_id,
    )
    for pid, n in session.execute(
        select(Enrolment.programme_id, func.count())
        .where(
            Enrolment.programme_id.in_(programme_ids),
            Enrolment.status == EnrolmentStatus.ACTIVE,
            started,
        )
        .group_by(Enrolment.programme_id)
    ):
        counts[pid]["in_progress"] = n
        counts[pid]["not_started"] -= n
    return counts


def programme_countries(session: Session, programme_id: int) -> list[str]:
    """The countries (ISO codes) of the programme's trainees, for the filter: one query."""
    return list(
        session.scalars(
            select(User.country)
            .join(Enrolment, Enrolment.user_id == User.id)
            .where(Enrolment.programme_id == programme_id, User.country != "")
            .distinct()
        )
    )
