"""Export a course's draft as a package folder that :mod:`lms.content.importer` reads.

Files are named after the stable uids, so that export → import → export gives the
same bytes:

- ``course.yaml``, keys in the documented order;
- ``lessons/<lesson uid>.<language>.md``: each lesson's Markdown text;
- ``media/<lesson uid>.<extension>``: the original media object, as uploaded;
- ``captions/<lesson uid>.<language>.vtt``: captions as stored (WebVTT; an SRT
  imported or uploaded was converted on the way in);
- ``questions/<category>.yaml``: the question bank, one file per category (see
  :mod:`lms.content.quizzes`); a quiz lesson's settings are in ``course.yaml``.

Archived lessons are not exported. A video still uploading has no original yet and
is left out, with a note.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from lms.catalog.models import Course, Lesson, LessonKind, Texts
from lms.catalog.services import course_tree
from lms.content.package import (
    LESSON_KINDS,
    CaptionFile,
    CoursePackage,
    LessonEntry,
    MediaFile,
    ModuleEntry,
    TextFile,
    write_package,
)
from lms.content.quizzes import export_bank, export_notes, export_quiz
from lms.media.models import MediaAsset, MediaKind, MediaStatus
from lms.storage import Storage
from lms.tours.package import export_tour

DEFAULT_EXTENSIONS = {MediaKind.VIDEO: ".mp4", MediaKind.DOCUMENT: ".pdf"}
_EXTENSION = re.compile(r"\.[a-z0-9]{1,8}")


class ExportError(Exception):
    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass
class ExportReport:
    path: Path
    files: list[str] = field(default_factory=list)
    notes: list[Any] = field(default_factory=list)  # lazily translated remarks


def export_course(
    session: Session, storage: Storage, course: Course, path: str | os.PathLike[str]
) -> ExportReport:
    """Write ``course`` (its draft) as a package into folder ``path``.

    The folder must not exist or be empty. Files are written to a temporary folder
    beside it that is renamed into place at the end, so a failure leaves nothing.
    """
    dest = Path(path)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(_l("%(path)s exists and is not an empty folder", path=str(dest)))
    report = ExportReport(path=dest)
    package = course_package(session, storage, course, report.notes)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.export-{secrets.token_hex(4)}")
    try:
        report.files = write_package(package, tmp)
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return report


def course_package(
    session: Session, storage: Storage, course: Course, notes: list[Any] | None = None
) -> CoursePackage:
    """The course's draft as a :class:`CoursePackage` whose files come from storage."""
    notes = notes if notes is not None else []
    language = course.default_language
    package = CoursePackage(
        code=course.code,
        default_language=language,
        texts=_fields(course.texts, ("title", "summary")),
        bank=export_bank(session, course.id, notes),
    )
    for module, lessons in course_tree(session, course):
        entry = ModuleEntry(uid=module.uid, titles=_titles(module.texts))
        for lesson in lessons:
            lesson_entry = _lesson(storage, lesson, notes)
            if lesson_entry is not None and lesson.kind == LessonKind.TOUR:
                lesson_entry.tour = export_tour(session, storage, lesson, notes)
            if lesson_entry is not None and lesson.kind == LessonKind.QUIZ:
                lesson_entry.quiz = export_quiz(lesson.settings, notes, lesson.uid)
            if lesson_entry is not None:
                entry.lessons.append(lesson_entry)
        package.modules.append(entry)
    notes.extend(export_notes(package))
    return package


def _fields(texts: Texts, names: tuple[str, ...]) -> Texts:
    result: Texts = {}
    for language, values in texts.items():
        kept = {name: values[name] for name in names if values.get(name)}
        if kept:
            result[language] = kept
    return result


def _titles(texts: Texts) -> dict[str, str]:
    return {language: values["title"] for language, values in texts.items() if values.get("title")}


def _lesson(storage: Storage, lesson: Lesson, notes: list[Any]) -> LessonEntry | None:
    fmt = LESSON_KINDS.get(lesson.kind)
    if fmt is None:
        notes.append(
            _l(
                "lesson %(uid)s: kind '%(kind)s' cannot be exported",
                uid=lesson.uid,
                kind=lesson.kind,
            )
        )
        return None
    entry = LessonEntry(
        uid=lesson.uid,
        kind=lesson.kind,
        titles=_titles(lesson.texts),
        required=lesson.required,
        estimated_minutes=lesson.estimated_minutes,
        completion_threshold=lesson.completion_threshold,
        bodies={
            language: TextFile(f"lessons/{lesson.uid}.{language}.md", values["body"].strip())
            for language, values in lesson.texts.items()
            if (values.get("body") or "").strip()
        },
        line=0,
    )
    asset = lesson.media
    if asset is None or fmt.media is None:
        return entry
    if asset.kind != fmt.media:
        notes.append(
            _l(
                "lesson %(uid)s: its %(media)s does not suit a %(kind)s lesson; not exported",
                uid=lesson.uid,
                media=asset.kind,
                kind=lesson.kind,
            )
        )
        return entry
    if asset.status == MediaStatus.UPLOADING:
        notes.append(
            _l("lesson %(uid)s: its media is still uploading; not exported", uid=lesson.uid)
        )
        return entry
    entry.media = _media(storage, lesson.uid, asset)
    if fmt.captions:
        for caption in asset.captions:
            with storage.open(caption.key) as fh:
                vtt = fh.read().decode("utf-8")
            entry.captions[caption.language] = CaptionFile(
                path=f"captions/{lesson.uid}.{caption.language}.vtt",
                language=caption.language,
                vtt=vtt,
                cue_count=caption.cue_count,
            )
    return entry


def _media(storage: Storage, uid: str, asset: MediaAsset) -> MediaFile:
    suffix = PurePosixPath(asset.filename).suffix.lower()
    if not _EXTENSION.fullmatch(suffix):
        suffix = DEFAULT_EXTENSIONS.get(asset.kind, ".bin")
    key = asset.key

    def opener() -> BinaryIO:
        return storage.open(key)

    return MediaFile(
        path=f"media/{uid}{suffix}",
        kind=asset.kind,
        size=asset.size or 0,
        sha256=asset.sha256 or "",
        open=opener,
    )


__all__ = ["ExportError", "ExportReport", "course_package", "export_course"]
