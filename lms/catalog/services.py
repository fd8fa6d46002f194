"""Course authoring: courses, modules, lessons, translations, publishing.

Services take the session and the acting user, flush, and never commit.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from lms.accounts.models import Role, User, UserRole
from lms.audit.services import record
from lms.catalog.models import (
    DEFAULT_VIDEO_THRESHOLD,
    Course,
    CourseInstructor,
    CourseVersion,
    Lesson,
    LessonKind,
    Module,
    Texts,
    localized,
)
from lms.db import savepoint, utcnow
from lms.i18n import CONTENT_LANGUAGES
from lms.jobs import enqueue_after_commit
from lms.media.services import has_detached_assets

UID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class CatalogError(Exception):
    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


def new_uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --- access --------------------------------------------------------------------------


def can_edit(user: User, course: Course) -> bool:
    if user.has_role(Role.ADMIN):
        return True
    return user.has_role(Role.INSTRUCTOR) and any(i.user_id == user.id for i in course.instructors)


def editable_courses(session: Session, user: User) -> list[Course]:
    query = select(Course).order_by(Course.title)
    if not user.has_role(Role.ADMIN):
        query = query.join(CourseInstructor).where(CourseInstructor.user_id == user.id)
    return list(session.scalars(query))


def editable_course_rows(session: Session, user: User) -> list[tuple[Course, int | None]]:
    """The courses ``user`` may edit, each with its published version number (or None)."""
    query = (
        select(Course, CourseVersion.number)
        .outerjoin(CourseVersion, CourseVersion.id == Course.published_version_id)
        .order_by(Course.title, Course.code)
    )
    if not user.has_role(Role.ADMIN):
        query = query.join(CourseInstructor, CourseInstructor.course_id == Course.id).where(
            CourseInstructor.user_id == user.id
        )
    return [(course, number) for course, number in session.execute(query)]


def published_number(session: Session, course: Course) -> int | None:
    """The number of the version trainees see, None when the course was never published."""
    if course.published_version_id is None:
        return None
    return session.scalar(
        select(CourseVersion.number).where(CourseVersion.id == course.published_version_id)
    )


# --- texts ---------------------------------------------------------------------------


def set_texts(texts: Texts, language: str, values: dict[str, str]) -> Texts:
    """A copy of ``texts`` with ``values`` set for ``language`` (empty values removed)."""
    if language not in CONTENT_LANGUAGES:
        raise CatalogError(_l("Unknown language."))
    updated = {lang: dict(fields) for lang, fields in texts.items()}
    current = updated.setdefault(language, {})
    for name, value in values.items():
        value = (value or "").strip()
        if value:
            current[name] = value
        else:
            current.pop(name, None)
    if not current:
        updated.pop(language)
    return updated


def _touch(course: Course) -> None:
    course.draft_changed = True
    course.updated_at = utcnow()


# --- courses -------------------------------------------------------------------------


@dataclass
class CourseData:
    code: str
    title: str
    summary: str = ""
    default_language: str = "en"


def create_course(session: Session, actor: User, data: CourseData) -> Course:
    code = data.code.strip()
    if not CODE_PATTERN.fullmatch(code):
        raise CatalogError(_l("Use letters, digits, - and _ for the code (at most 40)."))
    if not data.title.strip():
        raise CatalogError(_l("The title is required."))
    if data.default_language not in CONTENT_LANGUAGES:
        raise CatalogError(_l("Unknown language."))
    if _course_code_taken(session, code):
        raise CatalogError(_l("A course with this code already exists."))
    course = Course(
        code=code,
        title=data.title.strip(),
        default_language=data.default_language,
        texts=set_texts({}, data.default_language, {"title": data.title, "summary": data.summary}),
    )
    if actor.has_role(Role.INSTRUCTOR):
        course.instructors.append(CourseInstructor(user_id=actor.id))
    try:
        with savepoint(session):
            session.add(course)
            session.flush()
    except IntegrityError:
        if _course_code_taken(session, code):  # created by someone else since the check
            raise CatalogError(_l("A course with this code already exists.")) from None
        raise
    record(session, "course_created", actor_id=actor.id, subject=course.code)
    return course


def _course_code_taken(session: Session, code: str) -> bool:
    return (
        session.scalar(select(Course.id).where(func.upper(Course.code) == code.upper()).limit(1))
        is not None
    )


def update_course_texts(course: Course, language: str, title: str, summary: str) -> None:
    if language == course.default_language and not title.strip():
        raise CatalogError(_l("The title in the default language is required."))
    course.texts = set_texts(course.texts, language, {"title": title, "summary": summary})
    course.title = localized(
        course.texts, "title", course.default_language, course.default_language
    )
    _touch(course)


def instructor_candidates(session: Session) -> list[User]:
    """Every account with the instructor role, for the course's instructor list."""
    return list(
        session.scalars(
            select(User)
            .where(User.roles.any(UserRole.role == str(Role.INSTRUCTOR)))
            .order_by(User.name, User.email)
        )
    )


def set_instructors(
    session: Session, course: Course, user_ids: list[int], actor: User | None = None
) -> None:
    wanted = set(user_ids)
    users = session.scalars(select(User).where(User.id.in_(wanted))).all() if wanted else []
    if len(users) != len(wanted) or not all(u.has_role(Role.INSTRUCTOR) for u in users):
        raise CatalogError(_l("Only instructors can author a course."))
    # Keep the rows of instructors who stay, add the new ones, drop the others.
    kept = [i for i in course.instructors if i.user_id in wanted]
    present = {i.user_id for i in kept}
    course.instructors = kept + [
        CourseInstructor(user_id=u.id) for u in users if u.id not in present
    ]
    session.flush()
    if actor is not None:
        record(
            session,
            "course_instructors_set",
            actor_id=actor.id,
            subject=course.code,
            instructors=sorted(wanted),
        )


# --- modules -------------------------------------------------------------------------


def add_module(
    session: Session, course: Course, language: str, title: str, uid: str | None = None
) -> Module:
    if not title.strip():
        raise CatalogError(_l("The title is required."))
    uid = uid or new_uid("module")
    if not UID_PATTERN.fullmatch(uid) or any(m.uid == uid for m in course.modules):
        raise CatalogError(_l("This id is not valid or already used in the course."))
    module = Module(
        uid=uid,
        position=len(course.modules),
        texts=set_texts({}, language, {"title": title}),
    )
    course.modules.append(module)
    _touch(course)
    session.flush()
    return module


def update_module(module: Module, language: str, title: str) -> None:
    course = module.course
    if language == course.default_language and not title.strip():
        raise CatalogError(_l("The title in the default language is required."))
    module.texts = set_texts(module.texts, language, {"title": title})
    _touch(course)


def _renumber(items: list[Any]) -> None:
    for position, item in enumerate(items):
        item.position = position


def move(items: list[Any], item: Any, step: int) -> None:
    """Move ``item`` one place up (-1) or down (+1) among ``items``; a keyboard-friendly reorder."""
    ordered = sorted(items, key=lambda x: x.position)
    index = ordered.index(item)
    target = index + step
    if 0 <= target < len(ordered):
        ordered[index], ordered[target] = ordered[target], ordered[index]
    _renumber(ordered)


def move_module(session: Session, module: Module, step: int) -> None:
    move(module.course.modules, module, step)
    _touch(module.course)
    session.flush()


def delete_module(session: Session, module: Module) -> None:
    """Remove a module; its lessons are archived so recorded progress keeps its lesson."""
    course = module.course
    now = utcnow()
    for lesson in _module_lessons(session, module):
        lesson.archived_at = now
        lesson.module_id = None
    course.modules.remove(module)
    _renumber(course.modules)
    _touch(course)
    session.flush()


# --- lessons -------------------------------------------------------------------------


def module_lessons(session: Session, module: Module) -> list[Lesson]:
    """The module's lessons in the draft (archived ones left out), in order."""
    return _module_lessons(session, module)


def _module_lessons(session: Session, module: Module) -> list[Lesson]:
    return list(
        session.scalars(
            select(Lesson)
            .where(Lesson.module_id == module.id, Lesson.archived_at.is_(None))
            .order_by(Lesson.position)
        )
    )


@dataclass
class LessonData:
    kind: str
    title: str
    language: str
    required: bool = True
    estimated_minutes: int = 10
    completion_threshold: float = DEFAULT_VIDEO_THRESHOLD
    body: str = ""
    uid: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def _check_lesson(data: LessonData) -> None:
    if data.kind not in {str(k) for k in LessonKind}:
        raise CatalogError(_l("Unknown kind of lesson."))
    if not 0 < data.estimated_minutes <= 600:
        raise CatalogError(_l("The estimated time must be between 1 and 600 minutes."))
    if not 0.1 <= data.completion_threshold <= 1.0:
        raise CatalogError(_l("The completion threshold must be between 10% and 100%."))


def add_lesson(session: Session, module: Module, data: LessonData) -> Lesson:
    _check_lesson(data)
    if not data.title.strip():
        raise CatalogError(_l("The title is required."))
    course = module.course
    uid = data.uid or new_uid("lesson")
    taken = session.scalar(
        select(Lesson.id).where(Lesson.course_id == course.id, Lesson.uid == uid)
    )
    if not UID_PATTERN.fullmatch(uid) or taken is not None:
        raise CatalogError(_l("This id is not valid or already used in the course."))
    lesson = Lesson(
        course_id=course.id,
        module_id=module.id,
        uid=uid,
        position=len(_module_lessons(session, module)),
        kind=data.kind,
        required=data.required,
        estimated_minutes=data.estimated_minutes,
        completion_threshold=data.completion_threshold,
        texts=set_texts({}, data.language, {"title": data.title, "body": data.body}),
        settings=dict(data.settings),
    )
    session.add(lesson)
    _touch(course)
    session.flush()
    return lesson


def update_lesson(session: Session, lesson: Lesson, data: LessonData) -> None:
    _check_lesson(data)
    course = session.get(Course, lesson.course_id)
    assert course is not None
    if data.language == course.default_language and not data.title.strip():
        raise CatalogError(_l("The title in the default language is required."))
    if data.kind != lesson.kind and lesson.media_id is not None:
        raise CatalogError(_l("Remove the lesson's media before changing its kind."))
    lesson.kind = data.kind
    lesson.required = data.required
    lesson.estimated_minutes = data.estimated_minutes
    lesson.completion_threshold = data.completion_threshold
    lesson.texts = set_texts(lesson.texts, data.language, {"title": data.title, "body": data.body})
    _touch(course)
    session.flush()


def move_lesson(session: Session, lesson: Lesson, step: int) -> None:
    module = session.get(Module, lesson.module_id)
    if module is None:
        raise CatalogError(_l("This lesson is archived."))
    move(_module_lessons(session, module), lesson, step)
    _touch(module.course)
    session.flush()


def move_lesson_to_module(session: Session, lesson: Lesson, module: Module) -> None:
    if module.course_id != lesson.course_id:
        raise CatalogError(_l("A lesson can only move within its course."))
    if lesson.archived_at is not None:
        raise CatalogError(_l("This lesson is archived."))
    if lesson.module_id == module.id:
        return
    old = session.get(Module, lesson.module_id) if lesson.module_id else None
    lesson.module_id = module.id
    lesson.position = len(_module_lessons(session, module))
    session.flush()
    if old is not None:
        _renumber(_module_lessons(session, old))
    _touch(module.course)
    session.flush()


def archive_lesson(session: Session, lesson: Lesson) -> None:
    """Take a lesson out of the draft; its id and any progress on it are kept."""
    module = session.get(Module, lesson.module_id) if lesson.module_id else None
    lesson.archived_at = utcnow()
    lesson.module_id = None
    session.flush()
    if module is not None:
        _renumber(_module_lessons(session, module))
        _touch(module.course)
    session.flush()


# --- publishing ----------------------------------------------------------------------


def course_tree(session: Session, course: Course) -> list[tuple[Module, list[Lesson]]]:
    """The draft's modules with their lessons, in two queries whatever the size."""
    lessons = session.scalars(
        select(Lesson)
        .where(Lesson.course_id == course.id, Lesson.archived_at.is_(None))
        .options(selectinload(Lesson.media))
        .order_by(Lesson.position)
    ).all()
    by_module: dict[int, list[Lesson]] = {}
    for lesson in lessons:
        by_module.setdefault(lesson.module_id or 0, []).append(lesson)
    return [(m, by_module.get(m.id, [])) for m in course.modules]


def snapshot(session: Session, course: Course, *, publishing: bool = False) -> dict[str, Any]:
    """The draft as plain data: what a published version freezes.

    ``publishing``: also freeze each quiz lesson's question bank (``"bank"``), which
    refuses a quiz that could not be started (QuizPublishError, a CatalogError).
    """
    from lms.quizzes.publishing import frozen_bank  # here: lms.quizzes imports this module

    return {
        "code": course.code,
        "default_language": course.default_language,
        "texts": course.texts,
        "modules": [
            {
                "id": module.id,
                "uid": module.uid,
                "texts": module.texts,
                "lessons": [
                    {
                        "id": lesson.id,
                        "uid": lesson.uid,
                        "kind": lesson.kind,
                        "required": lesson.required,
                        "estimated_minutes": lesson.estimated_minutes,
                        "completion_threshold": lesson.completion_threshold,
                        "texts": lesson.texts,
                        "media_id": lesson.media_id,
                        "settings": lesson.settings,
                        **(
                            {"bank": frozen_bank(session, course, lesson)}
                            if publishing and lesson.kind == LessonKind.QUIZ
                            else {}
                        ),
                    }
                    for lesson in lessons
                ],
            }
            for module, lessons in course_tree(session, course)
        ],
    }


def publish(session: Session, actor: User, course: Course) -> CourseVersion:
    """Freeze the draft as the version trainees see; lesson ids carry over."""
    tree = course_tree(session, course)
    if not any(lessons for _module, lessons in tree):
        raise CatalogError(_l("Add at least one lesson before publishing."))
    number = (
        session.scalar(
            select(func.max(CourseVersion.number)).where(CourseVersion.course_id == course.id)
        )
        or 0
    ) + 1
    version = CourseVersion(
        course_id=course.id,
        number=number,
        snapshot=snapshot(session, course, publishing=True),
        published_by_id=actor.id,
    )
    session.add(version)
    session.flush()
    course.published_version_id = version.id
    course.draft_changed = False
    session.flush()
    record(session, "course_published", actor_id=actor.id, subject=course.code, version=number)
    if has_detached_assets(session, course.id):
        # Files kept only for the previous version; deleted once this one is committed.
        enqueue_after_commit(session, "prune_course_media", course.id)
    return version
