"""Import a course package: check everything first, then write it in one transaction.

:func:`import_package` reads and checks the whole package (see
:mod:`lms.content.package`) before it touches the database or the storage; a package
with any problem raises :class:`~lms.content.package.PackageError` and changes
nothing. A good package creates the course, or updates the course with the same code
in place: modules and lessons are matched by their stable ``uid``, so their ids, and
the progress trainees recorded against them, are kept. A lesson no longer in the
package is archived, never deleted.

Media goes through the same pipeline as a browser upload
(:func:`lms.media.services.ingest_file`): the original is stored, the asset is
PROCESSING and its job is queued once the transaction commits. A lesson that had no
file gets the new one at once (trainees see "being processed" until it is ready); a
lesson whose file is replaced keeps the old one until the new one is READY, as with
an upload. A file whose SHA-256 matches the lesson's current (or pending) file is
neither stored nor processed again; captions are compared with what is stored.

The caller owns the transaction: it commits once at the end, or rolls back, which
deletes every object the import stored (objects replaced by the import are deleted
only after the commit). If the import itself fails half-way, it deletes what it
stored before raising.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.audit.services import record
from lms.catalog.models import Course, CourseVersion, Lesson, Module
from lms.catalog.services import (
    CourseData,
    LessonData,
    add_lesson,
    add_module,
    archive_lesson,
    can_edit,
    create_course,
    delete_module,
    publish,
    snapshot,
)
from lms.content.package import (
    COURSE_FILE,
    LESSON_KINDS,
    CaptionFile,
    CoursePackage,
    LessonEntry,
    MediaFile,
    PackageError,
    PackageProblem,
    read_package,
)
from lms.content.quizzes import import_bank
from lms.db import utcnow
from lms.media import services as media
from lms.media.models import Caption, MediaAsset, MediaStatus
from lms.storage import NotFound, Storage, StorageError, new_key
from lms.tours.package import import_tour

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did, for the command line and the audit log."""

    course: Course
    created: bool = False  # a new course
    changed: bool = False  # the draft differs from before the import
    modules: int = 0
    lessons: int = 0
    lessons_added: list[str] = field(default_factory=list)
    lessons_archived: list[str] = field(default_factory=list)
    media_uploaded: list[str] = field(default_factory=list)  # package paths
    media_kept: list[str] = field(default_factory=list)  # unchanged: not uploaded again
    captions_written: list[str] = field(default_factory=list)
    questions: int = 0  # in the package's question bank
    questions_written: list[str] = field(default_factory=list)  # uids added or changed
    questions_archived: list[str] = field(default_factory=list)
    notes: list[Any] = field(default_factory=list)  # lazily translated remarks


def import_package(
    session: Session, storage: Storage, actor: User, path: str | os.PathLike[str]
) -> Course:
    """Create or update the course in package folder ``path``; raises PackageError."""
    return import_package_report(session, storage, actor, path).course


def import_package_report(
    session: Session, storage: Storage, actor: User, path: str | os.PathLike[str]
) -> ImportReport:
    """:func:`import_package`, returning what was done."""
    package = read_package(path)  # every check, before anything is written
    return apply_package(session, storage, actor, package)


def apply_package(
    session: Session, storage: Storage, actor: User, package: CoursePackage
) -> ImportReport:
    """Write a package that :func:`~lms.content.package.read_package` accepted."""
    course = session.scalar(select(Course).where(func.upper(Course.code) == package.code.upper()))
    _check_access(actor, course, package)
    writer = _Import(session, storage, actor, package)
    try:
        return writer.run(course)
    except BaseException:
        # The caller's rollback would delete them too; do not count on it.
        media.delete_objects(storage, writer.created)
        raise


def publish_if_changed(session: Session, actor: User, report: ImportReport) -> CourseVersion | None:
    """Publish the imported draft unless the version trainees see is already the same."""
    course = report.course
    if course.published_version_id is not None and not course.draft_changed:
        return None
    return publish(session, actor, course)


def _check_access(actor: User, course: Course | None, package: CoursePackage) -> None:
    if course is None:
        allowed = actor.has_role(Role.ADMIN) or actor.has_role(Role.INSTRUCTOR)
        message = _l("only admins and instructors may create a course")
    else:
        allowed = can_edit(actor, course)
        message = _l(
            "%(user)s may not edit the course %(code)s", user=actor.email, code=course.code
        )
    if not allowed:
        raise PackageError([PackageProblem(COURSE_FILE, package.code_line, message)])


def _assign(obj: object, name: str, value: Any) -> None:
    """Set an attribute only when it differs, so an unchanged row is not updated."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)


class _Import:
    def __init__(
        self, session: Session, storage: Storage, actor: User, package: CoursePackage
    ) -> None:
        self.session = session
        self.storage = storage
        self.actor = actor
        self.package = package
        self.created: list[str] = []  # objects stored by this import
        self.other_changes = False  # media and captions, which snapshots leave out
        self._obsolete_modules: list[Module] = []

    def run(self, course: Course | None) -> ImportReport:
        package = self.package
        language = package.default_language
        default_texts = package.texts[language]
        if course is None:
            course = create_course(
                self.session,
                self.actor,
                CourseData(
                    code=package.code,
                    title=default_texts["title"],
                    summary=default_texts.get("summary", ""),
                    default_language=language,
                ),
            )
            report = ImportReport(course=course, created=True)
            before = None
        else:
            report = ImportReport(course=course)
            before = snapshot(self.session, course)
        _assign(course, "default_language", language)
        _assign(course, "texts", package.texts)
        _assign(course, "title", default_texts["title"])

        modules = self._modules(course)
        self._lessons(course, modules, report)
        self._bank(course, report)

        after = snapshot(self.session, course)
        report.modules = len(package.modules)
        report.lessons = len(package.lessons)
        report.changed = report.created or before != after or self.other_changes
        if report.changed:
            course.draft_changed = True
            course.updated_at = utcnow()
            record(
                self.session,
                "course_imported",
                actor_id=self.actor.id,
                subject=course.code,
                created=report.created,
                lessons_added=len(report.lessons_added),
                lessons_archived=len(report.lessons_archived),
                media_uploaded=len(report.media_uploaded),
            )
        for lesson in package.lessons:
            for name, path in lesson.reserved.items():
                report.notes.append(
                    _l(
                        "lesson %(uid)s: %(path)s is checked but not imported yet; %(field)s "
                        "content comes with a later version",
                        uid=lesson.uid,
                        path=path,
                        field=name,
                    )
                )
        self.session.flush()
        return report

    # -- modules ----------------------------------------------------------------------

    def _modules(self, course: Course) -> dict[str, Module]:
        package = self.package
        existing = {module.uid: module for module in course.modules}
        wanted = {entry.uid for entry in package.modules}
        modules: dict[str, Module] = {}
        for entry in package.modules:
            module = existing.get(entry.uid)
            if module is None:
                module = add_module(
                    self.session,
                    course,
                    package.default_language,
                    entry.titles[package.default_language],
                    uid=entry.uid,
                )
            _assign(module, "texts", entry.texts)
            modules[entry.uid] = module
        self.session.flush()
        self._obsolete_modules = [m for uid, m in existing.items() if uid not in wanted]
        return modules

    # -- lessons ----------------------------------------------------------------------

    def _lessons(self, course: Course, modules: dict[str, Module], report: ImportReport) -> None:
        session = self.session
        language = self.package.default_language
        existing = {
            lesson.uid: lesson
            for lesson in session.scalars(select(Lesson).where(Lesson.course_id == course.id))
        }
        wanted: set[str] = set()
        for module_entry in self.package.modules:
            module = modules[module_entry.uid]
            for position, entry in enumerate(module_entry.lessons):
                wanted.add(entry.uid)
                lesson = existing.get(entry.uid)
                if lesson is None:
                    lesson = add_lesson(
                        session,
                        module,
                        LessonData(
                            kind=entry.kind,
                            title=entry.titles[language],
                            language=language,
                            required=entry.required,
                            estimated_minutes=entry.estimated_minutes,
                            completion_threshold=entry.completion_threshold,
                            uid=entry.uid,
                        ),
                    )
                    report.lessons_added.append(entry.uid)
                self._lesson_fields(lesson, module, position, entry)
                self._media(course, lesson, entry, report)
                if entry.tour is not None:  # a plant tour: its files and stops
                    self.other_changes |= import_tour(
                        session, self.storage, lesson, entry.tour, self.actor.id, self.created
                    )
        session.flush()
        for uid, lesson in existing.items():
            if uid not in wanted and lesson.archived_at is None:
                archive_lesson(session, lesson)
                report.lessons_archived.append(uid)
        for module in self._obsolete_modules:
            delete_module(session, module)  # empty by now: its lessons moved or were archived
        for position, entry in enumerate(self.package.modules):
            _assign(modules[entry.uid], "position", position)
        session.flush()

    def _lesson_fields(
        self, lesson: Lesson, module: Module, position: int, entry: LessonEntry
    ) -> None:
        _assign(lesson, "archived_at", None)
        _assign(lesson, "module_id", module.id)
        _assign(lesson, "position", position)
        _assign(lesson, "kind", entry.kind)
        _assign(lesson, "required", entry.required)
        _assign(lesson, "estimated_minutes", entry.estimated_minutes)
        if LESSON_KINDS[entry.kind].threshold:
            _assign(lesson, "completion_threshold", entry.completion_threshold)
        _assign(lesson, "texts", entry.texts)
        # A quiz's settings live in the lesson's settings; the package is their truth.
        settings = {key: value for key, value in (lesson.settings or {}).items() if key != "quiz"}
        if entry.quiz is not None:
            settings["quiz"] = entry.quiz.to_dict()
        _assign(lesson, "settings", settings)

    # -- question bank ----------------------------------------------------------------

    def _bank(self, course: Course, report: ImportReport) -> None:
        result = import_bank(self.session, course.id, self.package.bank)
        report.questions = result.questions
        report.questions_written = result.written
        report.questions_archived = result.archived
        # A bank change reaches trainees at the next publish, which freezes the bank.
        self.other_changes |= bool(result.written or result.archived)

    # -- media ------------------------------------------------------------------------

    def _media(
        self, course: Course, lesson: Lesson, entry: LessonEntry, report: ImportReport
    ) -> None:
        session = self.session
        wanted = entry.media
        current = session.get(MediaAsset, lesson.media_id) if lesson.media_id else None
        pending = media.pending_assets(session, lesson) if lesson.id else []
        if wanted is None:
            for asset in pending:
                media.discard_asset(session, self.storage, asset)
            if current is not None:
                media.remove_media(session, self.storage, self.actor, current)
            return

        asset = self._same_file(wanted, current, pending)
        if asset is not None:
            report.media_kept.append(wanted.path)
        else:
            asset = self._ingest(lesson, wanted)
            report.media_uploaded.append(wanted.path)
            self.other_changes = True
            if current is None:
                # Nothing to keep showing meanwhile: the lesson takes the new file now.
                lesson.media_id = asset.id
        for old in pending:
            if old is not asset:  # as with uploads, the newest file for a lesson wins
                media.discard_asset(session, self.storage, old)
        if LESSON_KINDS[entry.kind].captions:
            self._captions(asset, entry, report)

    def _same_file(
        self, wanted: MediaFile, current: MediaAsset | None, pending: list[MediaAsset]
    ) -> MediaAsset | None:
        """The lesson's asset (current first, then pending) holding the very same file."""
        for asset in [a for a in (current, *pending) if a is not None]:
            if asset.kind != wanted.kind or asset.sha256 != wanted.sha256:
                continue
            if asset.status in (MediaStatus.READY, MediaStatus.PROCESSING):
                return asset
            if asset.status == MediaStatus.FAILED:
                try:  # a re-import retries processing that failed, if the original is kept
                    media.retry_processing(self.session, self.storage, asset)
                except media.MediaServiceError:
                    continue
                return asset
        return None

    def _ingest(self, lesson: Lesson, wanted: MediaFile) -> MediaAsset:
        assert wanted.source is not None, "media read from a package folder"
        asset = media.ingest_file(
            self.session,
            self.storage,
            path=wanted.source,
            filename=wanted.filename,
            kind=wanted.kind,
            lesson=lesson,
            actor_id=self.actor.id,
        )
        self.created.append(asset.key)
        if asset.sha256 != wanted.sha256:
            raise PackageError(
                [
                    PackageProblem(
                        wanted.path, None, _l("the file changed while it was being imported")
                    )
                ]
            )
        return asset

    def _captions(self, asset: MediaAsset, entry: LessonEntry, report: ImportReport) -> None:
        existing = {caption.language: caption for caption in asset.captions}
        for language, caption in entry.captions.items():
            data = caption.vtt.encode("utf-8")
            row = existing.pop(language, None)
            if row is not None and self._stored(row.key) == data:
                continue
            key = self._put_caption(entry.uid, caption, data)
            if row is None:
                asset.captions.append(
                    Caption(language=language, key=key, cue_count=caption.cue_count)
                )
            else:
                media.delete_after_commit(self.session, self.storage, [row.key])
                row.key = key
                row.cue_count = caption.cue_count
                row.created_at = utcnow()
            report.captions_written.append(caption.path)
            self.other_changes = True
        for row in existing.values():  # languages no longer in the package
            media.delete_after_commit(self.session, self.storage, [row.key])
            asset.captions.remove(row)
            self.other_changes = True
        self.session.flush()

    def _put_caption(self, uid: str, caption: CaptionFile, data: bytes) -> str:
        key = new_key("captions", f"{uid}.{caption.language}.vtt")
        self.created.append(key)
        self.storage.put(key, io.BytesIO(data), "text/vtt; charset=utf-8")
        media.delete_on_rollback(self.session, self.storage, [key])
        return key

    def _stored(self, key: str) -> bytes | None:
        try:
            return media.read_object(self.storage, key)
        except (NotFound, StorageError):
            return None
