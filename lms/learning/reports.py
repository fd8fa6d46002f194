"""What instructors and sponsors see of trainees' progress in a course.

- :func:`progress_table`: trainees × lessons of the published version, with status,
  share watched (videos) and last activity; three queries whatever the number of
  trainees and lessons (enrolments with their trainees, progress rows, completions).
- :func:`dropoff_chart`: how many trainees reached and finished each lesson, in order,
  laid out for a server-rendered SVG bar chart (pure).
- :func:`progress_csv`: the table as CSV (UTF-8 with a byte-order mark so that
  spreadsheet programs read non-Latin names right).
- :func:`trainee_timeline`: one trainee's activity in the course, newest first, days
  in the viewer's time zone; five queries whatever the length of the history.

**Who is listed.** Only trainees enrolled (in any status) in the programmes passed as
``programme_ids``, which the views compute from the viewer's rights: every programme
that includes the course for its instructors and admins, one programme of their own
sponsor for sponsor staff. A trainee who is in no such programme is never listed and
has no timeline here, whatever else they studied.

Services take the database session and plain values (language, time zone); they read
only. Labels are lazy strings, rendered in the viewer's language by the caller.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Lesson, LessonKind
from lms.learning.models import LessonProgress, PlaybackSession, ProgressStatus
from lms.learning.records import CourseCompletion, ModuleCompletion
from lms.learning.services import Outline, Text, outline
from lms.programs.models import Enrolment, Programme, ProgrammeCourse

STATUS_LABELS = {
    str(ProgressStatus.NOT_STARTED): _l("Not started"),
    str(ProgressStatus.IN_PROGRESS): _l("In progress"),
    str(ProgressStatus.DONE): _l("Done"),
}
ENROLMENT_LABELS = {
    "active": _l("Active"),
    "completed": _l("Completed"),
    "withdrawn": _l("Withdrawn"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


# --- which programmes -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeOption:
    id: int
    code: str
    title: str
    sponsor_id: int


def course_programmes(
    session: Session, course_id: int, sponsor_id: int | None = None
) -> list[ProgrammeOption]:
    """The programmes that include the course (only ``sponsor_id``'s when given): one query."""
    query = (
        select(Programme.id, Programme.code, Programme.title, Programme.sponsor_id)
        .join(ProgrammeCourse, ProgrammeCourse.programme_id == Programme.id)
        .where(ProgrammeCourse.course_id == course_id)
        .order_by(Programme.starts_on.desc(), Programme.code)
    )
    if sponsor_id is not None:
        query = query.where(Programme.sponsor_id == sponsor_id)
    return [ProgrammeOption(*row) for row in session.execute(query)]


def _trainee_ids(programme_ids: list[int]):
    """The users enrolled in those programmes, as a subquery (no long IN lists)."""
    return select(Enrolment.user_id).where(Enrolment.programme_id.in_(programme_ids))


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A lesson of the published version, as a column of the table."""

    id: int
    number: int
    kind: str
    title: Text
    required: bool
    module_title: Text

    @property
    def is_video(self) -> bool:
        return self.kind == LessonKind.VIDEO


@dataclass(frozen=True)
class Cell:
    status: str
    share: float | None = None  # videos: share watched, 0..1 (None when unknown)
    reached: bool = False  # a progress row exists: the video was opened, or the lesson done
    last_activity_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def label(self) -> str:
        return status_label(self.status)


EMPTY_CELL = Cell(str(ProgressStatus.NOT_STARTED))


@dataclass
class Membership:
    code: str
    title: str
    status: str

    @property
    def label(self) -> str:
        return str(ENROLMENT_LABELS.get(self.status, self.status))


@dataclass
class Row:
    user_id: int
    name: str
    email: str
    memberships: list[Membership] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    last_activity_at: datetime | None = None
    completed_at: datetime | None = None  # the course's recorded completion

    @property
    def done(self) -> int:
        return sum(1 for cell in self.cells if cell.status == ProgressStatus.DONE)


@dataclass
class ProgressTable:
    course_id: int
    published: bool
    outline: Outline | None
    columns: list[Column]
    rows: list[Row]

    @property
    def required_count(self) -> int:
        return sum(1 for column in self.columns if column.required)


def columns_of(course_outline: Outline) -> list[Column]:
    return [
        Column(
            id=lesson.id,
            number=lesson.number,
            kind=lesson.kind,
            title=lesson.title,
            required=lesson.required,
            module_title=module.title,
        )
        for module in course_outline.modules
        for lesson in module.lessons
    ]


def progress_table(
    session: Session,
    course_id: int,
    snapshot: Mapping[str, Any] | None,
    language: str,
    programme_ids: list[int],
) -> ProgressTable:
    """Trainees of ``programme_ids`` × lessons of the published ``snapshot``: three queries."""
    course_outline = outline(course_id, dict(snapshot), language) if snapshot else None
    columns = columns_of(course_outline) if course_outline else []
    table = ProgressTable(course_id, snapshot is not None, course_outline, columns, [])
    if not programme_ids:
        return table

    rows: dict[int, Row] = {}
    for user_id, name, email, code, title, status in session.execute(
        select(User.id, User.name, User.email, Programme.code, Programme.title, Enrolment.status)
        .join(Enrolment, Enrolment.user_id == User.id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .where(Enrolment.programme_id.in_(programme_ids))
        .order_by(User.name, User.email, User.id, Programme.code)
    ):
        row = rows.get(user_id)
        if row is None:
            row = rows[user_id] = Row(user_id, name or email, email)
        row.memberships.append(Membership(code, title, status))
    if not rows:
        return table

    trainees = _trainee_ids(programme_ids)
    progress: dict[int, dict[int, Cell]] = {}
    for user_id, lesson_id, status, seconds, duration, last_at, done_at in session.execute(
        select(
            LessonProgress.user_id,
            LessonProgress.lesson_id,
            LessonProgress.status,
            LessonProgress.watched_seconds,
            LessonProgress.duration,
            LessonProgress.last_activity_at,
            LessonProgress.completed_at,
        ).where(LessonProgress.course_id == course_id, LessonProgress.user_id.in_(trainees))
    ):
        share = min(1.0, seconds / duration) if duration else None
        progress.setdefault(user_id, {})[lesson_id] = Cell(status, share, True, last_at, done_at)
        row = rows.get(user_id)
        if row is not None and (row.last_activity_at is None or last_at > row.last_activity_at):
            row.last_activity_at = last_at
    for user_id, completed_at in session.execute(
        select(CourseCompletion.user_id, CourseCompletion.completed_at).where(
            CourseCompletion.course_id == course_id, CourseCompletion.user_id.in_(trainees)
        )
    ):
        if user_id in rows:
            rows[user_id].completed_at = completed_at

    for row in rows.values():
        cells = progress.get(row.user_id, {})
        row.cells = [cells.get(column.id, EMPTY_CELL) for column in columns]
    table.rows = list(rows.values())
    return table


# --- the drop-off chart ---------------------------------------------------------------------

CHART_SLOT = 44  # horizontal room per lesson
CHART_BAR = 30
CHART_PLOT_HEIGHT = 160
CHART_TOP = 24  # room for the counts above the bars
CHART_BOTTOM = 28  # room for the lesson numbers below
CHART_SIDE = 12


@dataclass(frozen=True)
class Bar:
    column: Column
    reached: int
    done: int
    x: int
    reached_y: int
    reached_height: int
    done_y: int
    done_height: int
    label_x: int


@dataclass(frozen=True)
class Chart:
    total: int  # trainees listed: the full height of a bar
    bars: list[Bar]
    width: int
    height: int
    baseline_y: int
    number_y: int
    count_offset: int = 6


def dropoff_chart(table: ProgressTable, rtl: bool = False) -> Chart:
    """How many of the listed trainees reached (opened or did) and finished each lesson.

    Bars are in lesson order along the reading direction (right to left for ``rtl``),
    scaled to the number of trainees listed, so a falling staircase is where people
    drop off.
    """
    total = len(table.rows)
    width = CHART_SIDE * 2 + CHART_SLOT * max(1, len(table.columns))
    baseline = CHART_TOP + CHART_PLOT_HEIGHT
    bars = []
    for index, column in enumerate(table.columns):
        reached = sum(1 for row in table.rows if row.cells[index].reached)
        done = sum(1 for row in table.rows if row.cells[index].status == ProgressStatus.DONE)
        slot = len(table.columns) - 1 - index if rtl else index
        x = CHART_SIDE + slot * CHART_SLOT + (CHART_SLOT - CHART_BAR) // 2
        reached_height = round(CHART_PLOT_HEIGHT * reached / total) if total else 0
        done_height = round(CHART_PLOT_HEIGHT * done / total) if total else 0
        bars.append(
            Bar(
                column=column,
                reached=reached,
                done=done,
                x=x,
                reached_y=baseline - reached_height,
                reached_height=reached_height,
                done_y=baseline - done_height,
                done_height=done_height,
                label_x=x + CHART_BAR // 2,
            )
        )
    return Chart(
        total=total,
        bars=bars,
        width=width,
        height=baseline + CHART_BOTTOM,
        baseline_y=baseline,
        number_y=baseline + CHART_BOTTOM - 8,
    )


# --- CSV ---------------------------------------------------------------------------------------

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (names are typed by people)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _moment(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else ""


def progress_csv(table: ProgressTable, tz: tzinfo) -> str:
    """One row per trainee; per lesson its status, and for videos the share watched (%).

    Times are ISO 8601 with the offset of the viewer's time zone ``tz``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [
        str(_l("Name")),
        str(_l("Email")),
        str(_l("Programmes")),
        str(_l("Course completed")),
        str(_l("Last activity")),
        str(_l("Lessons done")),
    ]
    for column in table.columns:
        header.append(f"{column.number}. {column.title}")
        if column.is_video:
            header.append(str(_l("%(number)d. watched (%%)", number=column.number)))
    writer.writerow([_safe(value) for value in header])
    for row in table.rows:
        values: list[object] = [
            row.name,
            row.email,
            "; ".join(f"{m.code} ({m.label})" for m in row.memberships),
            _moment(row.completed_at, tz),
            _moment(row.last_activity_at, tz),
            row.done,
        ]
        for column, cell in zip(table.columns, row.cells, strict=True):
            values.append(cell.label)
            if column.is_video:
                values.append("" if cell.share is None else round(cell.share * 100))
        writer.writerow([_safe(value) for value in values])
    return BOM + out.getvalue()


# --- a trainee's timeline ---------------------------------------------------------------------


@dataclass
class Entry:
    at: datetime
    kind: str  # watched, lesson_done, module_done, course_done, enrolled, programme_done, withdrawn
    rank: int  # at the same moment, the larger event first
    column: Column | None = None
    title: Text | None = None  # a module's title
    programme: str = ""
    seconds: float = 0.0  # watched: new seconds credited
    sessions: int = 0
    clipped: float = 0.0


@dataclass
class Day:
    day: date
    entries: list[Entry]


@dataclass
class Timeline:
    user_id: int
    name: str
    email: str
    memberships: list[Membership]
    days: list[Day]
    completed_at: datetime | None
    course_title: Text | None = None  # from the published version

    @property
    def entries(self) -> list[Entry]:
        return [entry for day in self.days for entry in day.entries]


RANKS = {
    "programme_done": 6,
    "withdrawn": 5,
    "course_done": 4,
    "module_done": 3,
    "lesson_done": 2,
    "watched": 1,
    "enrolled": 0,
}


def trainee_timeline(
    session: Session,
    course_id: int,
    user_id: int,
    snapshot: Mapping[str, Any] | None,
    language: str,
    programme_ids: list[int],
    tz: tzinfo,
) -> Timeline | None:
    """The trainee's activity in the course, newest first, grouped by day in ``tz``.

    None when the trainee is not enrolled in any of ``programme_ids`` (the caller
    answers 404). Playback is summed per day and lesson from the playback sessions
    (seconds credited, i.e. really watched for the first time); completions of
    lessons, modules and the course, and the enrolments in ``programme_ids`` only.
    Five queries whatever the length of the history.
    """
    if not programme_ids:
        return None
    enrolments = session.execute(
        select(
            User.name,
            User.email,
            Programme.code,
            Programme.title,
            Enrolment.status,
            Enrolment.enrolled_at,
            Enrolment.completed_at,
            Enrolment.withdrawn_at,
        )
        .join(Enrolment, Enrolment.user_id == User.id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .where(User.id == user_id, Enrolment.programme_id.in_(programme_ids))
        .order_by(Programme.code)
    ).all()
    if not enrolments:
        return None
    course_outline = outline(course_id, dict(snapshot), language) if snapshot else None
    columns = {c.id: c for c in columns_of(course_outline)} if course_outline else {}
    modules = {m.id: m.title for m in course_outline.modules} if course_outline else {}

    entries: list[Entry] = []
    memberships = []
    for _name, _email, code, title, status, enrolled_at, completed_at, withdrawn_at in enrolments:
        memberships.append(Membership(code, title, status))
        entries.append(Entry(enrolled_at, "enrolled", RANKS["enrolled"], programme=title))
        if completed_at is not None:
            entries.append(
                Entry(completed_at, "programme_done", RANKS["programme_done"], programme=title)
            )
        if withdrawn_at is not None:
            entries.append(Entry(withdrawn_at, "withdrawn", RANKS["withdrawn"], programme=title))

    # Playback, summed per local day and lesson.
    watched: dict[tuple[date, int], Entry] = {}
    for lesson_id, started_at, last_beat_at, credited, clipped in session.execute(
        select(
            PlaybackSession.lesson_id,
            PlaybackSession.started_at,
            PlaybackSession.last_beat_at,
            PlaybackSession.credited_seconds,
            PlaybackSession.clipped_seconds,
        )
        .join(Lesson, Lesson.id == PlaybackSession.lesson_id)
        .where(PlaybackSession.user_id == user_id, Lesson.course_id == course_id)
    ):
        key = (started_at.astimezone(tz).date(), lesson_id)
        entry = watched.get(key)
        if entry is None:
            entry = watched[key] = Entry(
                last_beat_at, "watched", RANKS["watched"], column=columns.get(lesson_id)
            )
        entry.at = max(entry.at, last_beat_at)
        entry.seconds += credited or 0.0
        entry.clipped += clipped or 0.0
        entry.sessions += 1
    entries.extend(watched.values())

    for lesson_id, completed_at in session.execute(
        select(LessonProgress.lesson_id, LessonProgress.completed_at).where(
            LessonProgress.user_id == user_id,
            LessonProgress.course_id == course_id,
            LessonProgress.completed_at.is_not(None),
        )
    ):
        entries.append(
            Entry(completed_at, "lesson_done", RANKS["lesson_done"], column=columns.get(lesson_id))
        )
    for module_id, completed_at in session.execute(
        select(ModuleCompletion.module_id, ModuleCompletion.completed_at).where(
            ModuleCompletion.user_id == user_id, ModuleCompletion.course_id == course_id
        )
    ):
        entries.append(
            Entry(completed_at, "module_done", RANKS["module_done"], title=modules.get(module_id))
        )
    course_done = session.scalar(
        select(CourseCompletion.completed_at).where(
            CourseCompletion.user_id == user_id, CourseCompletion.course_id == course_id
        )
    )
    if course_done is not None:
        entries.append(Entry(course_done, "course_done", RANKS["course_done"]))

    entries.sort(key=lambda e: (e.at, e.rank), reverse=True)
    days: list[Day] = []
    for entry in entries:
        local = entry.at.astimezone(tz).date()
        if not days or days[-1].day != local:
            days.append(Day(local, []))
        days[-1].entries.append(entry)
    name, email = enrolments[0][0], enrolments[0][1]
    return Timeline(
        user_id,
        name or email,
        email,
        memberships,
        days,
        course_done,
        course_outline.title if course_outline else None,
    )


# --- for the templates -------------------------------------------------------------------------

STATUS_ICONS = {
    str(ProgressStatus.NOT_STARTED): "○",
    str(ProgressStatus.IN_PROGRESS): "◐",
    str(ProgressStatus.DONE): "✓",
}


def status_icon(status: str) -> str:
    return STATUS_ICONS.get(status, "○")
