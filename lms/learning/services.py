"""What a trainee reads: a course's published version, in their language.

Everything here works from a version's snapshot (plain data frozen at publishing),
so a page costs the same few queries however many lessons the course has. The
instructor's preview feeds the draft's snapshot (:func:`lms.catalog.services.snapshot`)
through the same functions, so both see exactly the same page.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from babel.core import UnknownLocaleError
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from lms.accounts.models import Role, User
from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, CourseVersion, LessonKind
from lms.catalog.services import can_edit
from lms.i18n import CONTENT_LANGUAGES, text_direction
from lms.learning.models import LessonProgress, ProgressStatus
from lms.media.captions import CaptionError, parse_captions, transcript
from lms.media.models import MediaAsset, MediaStatus
from lms.programs.models import Enrolment, EnrolmentStatus, Programme, ProgrammeCourse
from lms.storage import Storage, StorageError

log = logging.getLogger(__name__)

# Enrolments that open a programme's courses to the trainee.
OPEN_STATUSES = (str(EnrolmentStatus.ACTIVE), str(EnrolmentStatus.COMPLETED))


# --- who may read a course -------------------------------------------------------------


def can_view_course(session: Session, user: User, course: Course) -> bool:
    """Admins, the course's instructors, trainees enrolled (active or completed) in a
    programme that includes the course, and staff of that programme's sponsor."""
    if user.has_role(Role.ADMIN) or can_edit(user, course):
        return True
    conditions = []
    if user.has_role(Role.TRAINEE):
        conditions.append(
            Programme.id.in_(
                select(Enrolment.programme_id).where(
                    Enrolment.user_id == user.id, Enrolment.status.in_(OPEN_STATUSES)
                )
            )
        )
    if user.has_role(Role.SPONSOR) and user.sponsor_id is not None:
        conditions.append(Programme.sponsor_id == user.sponsor_id)
    if not conditions:
        return False
    found = session.scalar(
        select(ProgrammeCourse.id)
        .join(Programme, Programme.id == ProgrammeCourse.programme_id)
        .where(ProgrammeCourse.course_id == course.id, or_(*conditions))
        .limit(1)
    )
    return found is not None


# --- texts in the reader's language ------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A piece of course text and the language it is really in (for ``lang``/``dir``)."""

    value: str
    lang: str

    @property
    def dir(self) -> str:
        try:
            return text_direction(self.lang)
        except (ValueError, TypeError, UnknownLocaleError):
            return "ltr"

    def __str__(self) -> str:
        return self.value

    def __bool__(self) -> bool:
        return bool(self.value)


def pick(texts: dict[str, dict[str, str]], name: str, language: str, default: str) -> Text:
    """Like :func:`lms.catalog.models.localized`, and says which language it took."""
    for lang in (language, default):
        value = (texts.get(lang) or {}).get(name)
        if value:
            return Text(value, lang)
    for lang, values in texts.items():
        if values.get(name):
            return Text(values[name], lang)
    return Text("", default)


# --- the outline of a course ------------------------------------------------------------


@dataclass
class LessonRef:
    id: int
    kind: str
    title: Text
    required: bool
    estimated_minutes: int
    number: int  # 1, 2, 3 ... across the whole course
    module_id: int


@dataclass
class ModuleOutline:
    id: int
    title: Text
    lessons: list[LessonRef] = field(default_factory=list)


@dataclass
class Outline:
    course_id: int
    code: str
    language: str
    title: Text
    summary: Text
    modules: list[ModuleOutline]

    @property
    def lessons(self) -> list[LessonRef]:
        return [lesson for module in self.modules for lesson in module.lessons]

    @property
    def total_minutes(self) -> int:
        return sum(lesson.estimated_minutes for lesson in self.lessons)

    def module(self, module_id: int) -> ModuleOutline | None:
        return next((m for m in self.modules if m.id == module_id), None)


def outline(course_id: int, snapshot: dict[str, Any], language: str) -> Outline:
    default = snapshot.get("default_language") or "en"
    modules = []
    number = 0
    for module in snapshot.get("modules", []):
        item = ModuleOutline(
            id=module["id"], title=pick(module["texts"], "title", language, default)
        )
        for lesson in module.get("lessons", []):
            number += 1
            item.lessons.append(
                LessonRef(
                    id=lesson["id"],
                    kind=lesson["kind"],
                    title=pick(lesson["texts"], "title", language, default),
                    required=bool(lesson.get("required", True)),
                    estimated_minutes=int(lesson.get("estimated_minutes") or 0),
                    number=number,
                    module_id=module["id"],
                )
            )
        modules.append(item)
    texts = snapshot.get("texts") or {}
    return Outline(
        course_id=course_id,
        code=snapshot.get("code", ""),
        language=language,
        title=pick(texts, "title", language, default),
        summary=pick(texts, "summary", language, default),
        modules=modules,
    )


# --- one lesson ---------------------------------------------------------------------------


@dataclass
class Source:
    url: str
    content_type: str
    label: str  # "240p", "audio"
    size: int
    height: int | None
    bitrate: int = 0  # bits per second, for the player's choice


@dataclass(frozen=True)
class TranscriptLine:
    start: float  # seconds
    end: float
    text: str

    @property
    def timestamp(self) -> str:
        return clock(self.start)


@dataclass
class Transcript:
    """The transcript beside the video: one caption file as paragraphs with start times."""

    language: str
    label: str
    lines: list[TranscriptLine]

    @property
    def dir(self) -> str:
        return Text("", self.language).dir


@dataclass
class Track:
    url: str
    language: str
    label: str
    default: bool


@dataclass
class MediaView:
    kind: str
    status: str
    ready: bool
    poster_url: str | None = None
    sources: list[Source] = field(default_factory=list)  # video renditions, lowest first
    audio: Source | None = None
    tracks: list[Track] = field(default_factory=list)
    document_url: str | None = None
    document_view_url: str | None = None
    filename: str = ""
    size: int | None = None
    duration: float | None = None
    cross_origin: bool = False  # captions from another origin need CORS
    transcript: Transcript | None = None


@dataclass
class LessonView:
    lesson: LessonRef
    module: ModuleOutline
    body: Markup
    body_lang: Text
    settings: dict[str, Any]
    completion_threshold: float
    previous: LessonRef | None
    next: LessonRef | None
    media: MediaView | None = None
    default_language: str = "en"  # the course's, for subtitles the reader's language lacks

    @property
    def has_media(self) -> bool:
        return self.lesson.kind in (LessonKind.VIDEO, LessonKind.DOCUMENT)


def find_lesson(snapshot: dict[str, Any], lesson_id: int) -> dict[str, Any] | None:
    for module in snapshot.get("modules", []):
        for lesson in module.get("lessons", []):
            if lesson["id"] == lesson_id:
                return lesson
    return None


def lesson_view(
    course_outline: Outline, snapshot: dict[str, Any], lesson_id: int
) -> LessonView | None:
    """The lesson ``lesson_id`` of the snapshot, with its neighbours; None if it is not there."""
    data = find_lesson(snapshot, lesson_id)
    if data is None:
        return None
    lessons = course_outline.lessons
    index = next(i for i, ref in enumerate(lessons) if ref.id == lesson_id)
    ref = lessons[index]
    module = course_outline.module(ref.module_id)
    assert module is not None
    default = snapshot.get("default_language") or "en"
    body = pick(data.get("texts") or {}, "body", course_outline.language, default)
    return LessonView(
        lesson=ref,
        module=module,
        body=render_markdown(body.value) if body.value else Markup(""),
        body_lang=body,
        settings=dict(data.get("settings") or {}),
        completion_threshold=float(data.get("completion_threshold") or 0.9),
        previous=lessons[index - 1] if index > 0 else None,
        next=lessons[index + 1] if index + 1 < len(lessons) else None,
        default_language=default,
    )


def media_id_of(snapshot: dict[str, Any], lesson_id: int) -> int | None:
    data = find_lesson(snapshot, lesson_id)
    return None if data is None else data.get("media_id")


def _is_audio(rendition: Any) -> bool:
    return rendition.name == "audio" or str(rendition.content_type).startswith("audio/")


def clock(seconds: float) -> str:
    """``65.4`` -> ``"1:05"``, ``3723`` -> ``"1:02:03"``: a time in a video, for people."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def subtitle_language(available: Iterable[str], language: str, default: str | None) -> str | None:
    """The caption language to show by default: the reader's, else the course's default."""
    languages = set(available)
    for candidate in (language, default):
        if candidate and candidate in languages:
            return candidate
    return None


@lru_cache(maxsize=128)
def _transcript_lines(storage: Storage, key: str) -> tuple[TranscriptLine, ...]:
    """A stored caption file's transcript. Caption keys are never reused (a replaced
    caption gets a new key), so a cached transcript never goes stale."""
    body = storage.open(key)
    try:
        data = body.read()
    finally:
        body.close()
    return tuple(
        TranscriptLine(float(item["start"]), float(item["end"]), str(item["text"]))
        for item in transcript(parse_captions(data))
    )


def load_transcript(storage: Storage, language: str, key: str) -> Transcript | None:
    """The transcript of one caption file; None (and a log line) when it cannot be read."""
    try:
        lines = list(_transcript_lines(storage, key))
    except (StorageError, CaptionError, OSError, ValueError) as error:
        log.warning("no transcript from caption %s: %s", key, error)
        return None
    return Transcript(language, CONTENT_LANGUAGES.get(language, language), lines)


def media_view(
    session: Session,
    storage: Storage,
    media_id: int | None,
    language: str,
    default_language: str | None = None,
) -> MediaView | None:
    """Signed URLs for a lesson's media, in three queries (asset, renditions, captions).

    Subtitles default to ``language``, else to ``default_language`` (the course's);
    the transcript is built from the same caption file.
    """
    if media_id is None:
        return None
    asset = session.scalar(
        select(MediaAsset)
        .where(MediaAsset.id == media_id)
        .options(selectinload(MediaAsset.renditions), selectinload(MediaAsset.captions))
    )
    if asset is None:
        return None
    view = MediaView(
        kind=asset.kind,
        status=asset.status,
        ready=asset.status == MediaStatus.READY,
        filename=asset.filename,
        size=asset.size,
        duration=asset.duration,
        cross_origin=storage.kind != "local",
    )
    if not view.ready:
        return view
    try:
        if asset.kind == "document":
            view.document_url = storage.url(
                asset.key, filename=asset.filename, inline=False, content_type="application/pdf"
            )
            view.document_view_url = storage.url(
                asset.key, filename=asset.filename, content_type="application/pdf"
            )
            return view
        if asset.poster_key:
            view.poster_url = storage.url(asset.poster_key, content_type="image/jpeg")
        renditions = sorted(asset.renditions, key=lambda r: (r.bitrate, r.height or 0))
        for rendition in renditions:
            source = Source(
                url=storage.url(rendition.key, content_type=rendition.content_type),
                content_type=rendition.content_type,
                label=rendition.name,
                size=rendition.size,
                height=rendition.height,
                bitrate=rendition.bitrate,
            )
            if _is_audio(rendition):
                view.audio = view.audio or source
            else:
                view.sources.append(source)
        default = subtitle_language(
            (caption.language for caption in asset.captions), language, default_language
        )
        for caption in asset.captions:
            view.tracks.append(
                Track(
                    url=storage.url(caption.key, content_type="text/vtt"),
                    language=caption.language,
                    label=CONTENT_LANGUAGES.get(caption.language, caption.language),
                    default=caption.language == default,
                )
            )
    except StorageError:
        view.ready = False
        view.status = str(MediaStatus.FAILED)
        return view
    chosen = default or (asset.captions[0].language if asset.captions else None)
    caption = next((c for c in asset.captions if c.language == chosen), None)
    if caption is not None:
        view.transcript = load_transcript(storage, caption.language, caption.key)
    return view


# --- the trainee's list of courses ---------------------------------------------------------


@dataclass
class CourseItem:
    course_id: int
    code: str
    title: Text
    required: bool
    published: bool


@dataclass
class ProgrammeCourses:
    programme: Programme
    status: str | None  # the enrolment's status; None for sponsor staff
    courses: list[CourseItem]


def my_courses(session: Session, user: User, language: str) -> list[ProgrammeCourses]:
    """The courses of the programmes ``user`` is enrolled in (or whose sponsor they work for).

    Titles come from each course's published version; four queries in all.
    """
    statuses: dict[int, str | None] = {}
    if user.has_role(Role.TRAINEE):
        for programme_id, status in session.execute(
            select(Enrolment.programme_id, Enrolment.status).where(
                Enrolment.user_id == user.id, Enrolment.status.in_(OPEN_STATUSES)
            )
        ):
            statuses[programme_id] = status
    conditions = []
    if statuses:
        conditions.append(Programme.id.in_(list(statuses)))
    if user.has_role(Role.SPONSOR) and user.sponsor_id is not None:
        conditions.append(Programme.sponsor_id == user.sponsor_id)
    if not conditions:
        return []
    programmes = session.scalars(
        select(Programme)
        .where(or_(*conditions))
        .options(selectinload(Programme.courses).selectinload(ProgrammeCourse.course))
        .order_by(Programme.starts_on, Programme.code)
    ).all()
    version_ids = {
        item.course.published_version_id
        for programme in programmes
        for item in programme.courses
        if item.course.published_version_id is not None
    }
    texts: dict[int, tuple[dict[str, Any], str]] = {}
    if version_ids:
        rows = session.execute(
            select(
                CourseVersion.id,
                CourseVersion.snapshot["texts"],
                CourseVersion.snapshot["default_language"],
            ).where(CourseVersion.id.in_(version_ids))
        )
        for version_id, version_texts, default in rows:
            texts[version_id] = (version_texts or {}, str(default or "en"))
    result = []
    for programme in programmes:
        items = []
        for item in programme.courses:
            course = item.course
            published = course.published_version_id in texts
            if published:
                version_texts, default = texts[course.published_version_id]  # type: ignore[index]
                title = pick(version_texts, "title", language, default)
            else:
                title = Text(course.title, course.default_language)
            items.append(
                CourseItem(
                    course_id=course.id,
                    code=course.code,
                    title=title,
                    required=item.required,
                    published=published,
                )
            )
        result.append(ProgrammeCourses(programme, statuses.get(programme.id), items))
    return result


# --- the trainee's progress ------------------------------------------------------------------


class ProgressRow(Protocol):
    """What the pages read of a :class:`LessonProgress` row (a row or a column tuple)."""

    lesson_id: int
    course_id: int
    status: str
    watched_seconds: float
    duration: float | None


@dataclass(frozen=True)
class LessonState:
    """Where a trainee stands in one lesson."""

    status: str = str(ProgressStatus.NOT_STARTED)
    share: float | None = None  # videos: the share really watched, 0..1

    @property
    def done(self) -> bool:
        return self.status == ProgressStatus.DONE

    @property
    def started(self) -> bool:
        return self.status != ProgressStatus.NOT_STARTED

    @property
    def percent(self) -> int:
        """The share watched in whole percent, rounded down (99.6 % is not 100 %)."""
        return math.floor((self.share or 0.0) * 100 + 1e-9)


NOT_STARTED = LessonState()


def lesson_state(row: ProgressRow | None) -> LessonState:
    if row is None:
        return NOT_STARTED
    share = None
    if row.duration:
        share = max(0.0, min(1.0, (row.watched_seconds or 0.0) / row.duration))
    return LessonState(str(row.status), share)


def progress_rows(
    session: Session, user_id: int, course_ids: Iterable[int]
) -> dict[int, dict[int, ProgressRow]]:
    """A trainee's progress in some courses: {course_id: {lesson_id: row}}, in one query.

    Only the columns the pages need are read (not the watched intervals).
    """
    ids = sorted(set(course_ids))
    result: dict[int, dict[int, ProgressRow]] = {course_id: {} for course_id in ids}
    if not ids:
        return result
    rows = session.execute(
        select(
            LessonProgress.lesson_id,
            LessonProgress.course_id,
            LessonProgress.status,
            LessonProgress.watched_seconds,
            LessonProgress.duration,
        ).where(LessonProgress.user_id == user_id, LessonProgress.course_id.in_(ids))
    )
    for row in rows:
        result[row.course_id][row.lesson_id] = row  # type: ignore[assignment]
    return result


def remaining_minutes(lesson: LessonRef, state: LessonState) -> float:
    """The lesson's estimated minutes still to study: none once done; for a video partly
    watched, the share not yet watched."""
    if state.done:
        return 0.0
    minutes = float(lesson.estimated_minutes)
    if lesson.kind == LessonKind.VIDEO and state.share:
        return minutes * (1.0 - state.share)
    return minutes


@dataclass
class CourseProgress:
    """A trainee's standing in a course, from the published outline and their progress rows.

    The bar and the time left count the required lessons (all lessons when none is
    required); "continue" leads to the first of them that is not done yet.
    """

    course_id: int
    states: dict[int, LessonState]
    total: int  # lessons counted
    done: int
    minutes_left: int
    next_lesson: LessonRef | None

    def state(self, lesson_id: int) -> LessonState:
        return self.states.get(lesson_id, NOT_STARTED)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total

    @property
    def started(self) -> bool:
        return any(state.started for state in self.states.values())

    @property
    def percent(self) -> int:
        return math.floor(100 * self.done / self.total) if self.total else 0


def course_progress(course_outline: Outline, rows: Mapping[int, ProgressRow]) -> CourseProgress:
    lessons = course_outline.lessons
    states = {lesson.id: lesson_state(rows.get(lesson.id)) for lesson in lessons}
    counted = [lesson for lesson in lessons if lesson.required] or lessons
    left = sum(remaining_minutes(lesson, states[lesson.id]) for lesson in counted)
    return CourseProgress(
        course_id=course_outline.course_id,
        states=states,
        total=len(counted),
        done=sum(1 for lesson in counted if states[lesson.id].done),
        minutes_left=math.ceil(left - 1e-9),
        next_lesson=next((lesson for lesson in counted if not states[lesson.id].done), None),
    )


# --- the trainee's home page ---------------------------------------------------------------


@dataclass
class CourseCard:
    course_id: int
    code: str
    title: Text
    required: bool
    published: bool
    progress: CourseProgress | None  # None: not published, or the enrolment is closed


@dataclass
class ProgrammeCard:
    programme: Programme
    status: str  # the enrolment's
    courses: list[CourseCard]
    days_left: int  # until the programme's end date, counted in the trainee's time zone

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def next_course(self) -> CourseCard | None:
        """The course to continue: the first required one not complete, else any."""
        cards = [c for c in self.courses if c.progress is not None and c.progress.next_lesson]
        return next((c for c in cards if c.required), cards[0] if cards else None)


def home_programmes(
    session: Session,
    user_id: int,
    enrolments: Iterable[Enrolment],
    language: str,
    today: date,
) -> list[ProgrammeCard]:
    """The trainee's programmes with their progress in every course: two queries (published
    versions, progress rows) on top of the enrolments, whatever the number of courses.

    ``enrolments`` come with their programmes and courses loaded (the home page's query);
    ``today`` is the date in the trainee's time zone.
    """
    enrolments = list(enrolments)
    courses = {
        item.course.id: item.course
        for enrolment in enrolments
        if enrolment.status in OPEN_STATUSES
        for item in enrolment.programme.courses
    }
    version_ids = {
        course.published_version_id
        for course in courses.values()
        if course.published_version_id is not None
    }
    snapshots: dict[int, dict[str, Any]] = {}
    if version_ids:
        for version_id, snapshot in session.execute(
            select(CourseVersion.id, CourseVersion.snapshot).where(
                CourseVersion.id.in_(version_ids)
            )
        ):
            snapshots[version_id] = snapshot or {}
    rows = progress_rows(
        session, user_id, [c.id for c in courses.values() if c.published_version_id in snapshots]
    )
    outlines = {
        course.id: outline(course.id, snapshots[course.published_version_id], language)
        for course in courses.values()
        if course.published_version_id in snapshots
    }
    cards = []
    for enrolment in enrolments:
        programme = enrolment.programme
        items = []
        for item in programme.courses:
            course = item.course
            found = outlines.get(course.id)
            items.append(
                CourseCard(
                    course_id=course.id,
                    code=course.code,
                    title=found.title if found else Text(course.title, course.default_language),
                    required=item.required,
                    published=course.published_version_id is not None,
                    progress=course_progress(found, rows[course.id]) if found else None,
                )
            )
        cards.append(
            ProgrammeCard(
                programme=programme,
                status=str(enrolment.status),
                courses=items,
                days_left=(programme.ends_on - today).days,
            )
        )
    return cards
