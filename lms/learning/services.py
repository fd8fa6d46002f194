"""What a trainee reads: a course's published version, in their language.

Everything here works from a version's snapshot (plain data frozen at publishing),
so a page costs the same few queries however many lessons the course has. The
instructor's preview feeds the draft's snapshot (:func:`lms.catalog.services.snapshot`)
through the same functions, so both see exactly the same page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from babel.core import UnknownLocaleError
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from lms.accounts.models import Role, User
from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, CourseVersion, LessonKind
from lms.catalog.services import can_edit
from lms.i18n import CONTENT_LANGUAGES, text_direction
from lms.media.models import MediaAsset, MediaStatus
from lms.programs.models import Enrolment, EnrolmentStatus, Programme, ProgrammeCourse
from lms.storage import Storage, StorageError

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
    )


def media_id_of(snapshot: dict[str, Any], lesson_id: int) -> int | None:
    data = find_lesson(snapshot, lesson_id)
    return None if data is None else data.get("media_id")


def _is_audio(rendition: Any) -> bool:
    return rendition.name == "audio" or str(rendition.content_type).startswith("audio/")


def media_view(
    session: Session, storage: Storage, media_id: int | None, language: str
) -> MediaView | None:
    """Signed URLs for a lesson's media, in three queries (asset, renditions, captions)."""
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
            )
            if _is_audio(rendition):
                view.audio = view.audio or source
            else:
                view.sources.append(source)
        languages = {caption.language for caption in asset.captions}
        default = language if language in languages else None
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
