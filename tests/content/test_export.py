"""Exporting a course: a package that imports back, and export → import → export is stable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Course
from lms.catalog.services import (
    CourseData,
    LessonData,
    add_lesson,
    add_module,
    create_course,
    update_course_texts,
    update_module,
)
from lms.content.exporter import ExportError, export_course
from lms.content.importer import import_package, import_package_report
from lms.content.package import CoursePackage, read_package
from lms.content.sample import SAMPLE_PACKAGE
from lms.storage import get_storage


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def meaning(package: CoursePackage) -> dict[str, Any]:
    """What a package says, whatever its files are called."""
    return {
        "code": package.code,
        "default_language": package.default_language,
        "texts": package.texts,
        "modules": [
            {
                "uid": module.uid,
                "texts": module.texts,
                "lessons": [
                    {
                        "uid": lesson.uid,
                        "kind": lesson.kind,
                        "required": lesson.required,
                        "estimated_minutes": lesson.estimated_minutes,
                        "threshold": lesson.completion_threshold,
                        "texts": lesson.texts,
                        "media": lesson.media.sha256 if lesson.media else None,
                        "captions": {k: c.vtt for k, c in lesson.captions.items()},
                    }
                    for lesson in module.lessons
                ],
            }
            for module in package.modules
        ],
    }


def test_export_import_export_gives_identical_files(
    app: Flask, session: Session, admin: User, tmp_path: Path, jobs: list[Any]
):
    storage = get_storage(app)
    course = import_package(session, storage, admin, SAMPLE_PACKAGE)
    session.commit()
    first = tmp_path / "first"
    report = export_course(session, storage, course, first)
    assert report.notes == []
    files = tree(first)
    assert set(report.files) == set(files)
    assert "captions/separation-lecture.ja.vtt" in files  # the SRT came back as WebVTT
    assert files["captions/separation-lecture.ja.vtt"].startswith(b"WEBVTT\n")
    assert (
        files["media/separation-lecture.mp4"]
        == (SAMPLE_PACKAGE / "media" / "lecture-1.mp4").read_bytes()
    )  # the original, not a rendition
    # The export says the same as the sample, file names apart.
    assert meaning(read_package(first)) == meaning(read_package(SAMPLE_PACKAGE))

    # Its own export imported over the course: nothing changes.
    again = import_package_report(session, storage, admin, first)
    session.commit()
    assert not again.changed and again.media_uploaded == [] and again.captions_written == []

    # Into a catalog without the course: a new course, whose export is byte for byte the same.
    session.execute(delete(Course).where(Course.id == course.id))
    session.commit()
    session.expunge_all()  # the bulk delete bypassed the identity map
    fresh = import_package(session, storage, admin, first)
    session.commit()
    assert fresh is not course and fresh.code == "TOKYO-MSW"
    second = tmp_path / "second"
    export_course(session, storage, fresh, second)
    assert tree(second) == files


def test_a_course_built_in_the_browser_round_trips(
    app: Flask, session: Session, admin: User, tmp_path: Path, jobs: list[Any]
):
    storage = get_storage(app)
    course = create_course(
        session, admin, CourseData(code="hand-made", title="Hand made", default_language="ja")
    )
    update_course_texts(course, "en", "Hand made (en)", "Summary: with a colon, and 'quotes'")
    module = add_module(session, course, "ja", "モジュール")
    update_module(module, "fr", "Module")
    add_lesson(
        session,
        module,
        LessonData(kind="reading", title="読む", language="ja", body="本文\n\n- a\n- b"),
    )
    add_lesson(session, module, LessonData(kind="video", title="No video yet", language="ja"))
    add_lesson(session, module, LessonData(kind="tour", title="yes", language="ja", required=False))
    session.commit()
    first, second = tmp_path / "first", tmp_path / "second"
    export_course(session, storage, course, first)
    text = (first / "course.yaml").read_text(encoding="utf-8")
    assert "default_language: ja\n" in text and "code: hand-made\n" in text
    assert "title: 'yes'" in text  # YAML words are quoted, so they stay text
    session.execute(delete(Course).where(Course.id == course.id))
    session.commit()
    session.expunge_all()
    imported = import_package(session, storage, admin, first)
    session.commit()
    assert imported.texts == {
        "ja": {"title": "Hand made"},
        "en": {"title": "Hand made (en)", "summary": "Summary: with a colon, and 'quotes'"},
    }
    export_course(session, storage, imported, second)
    assert tree(second) == tree(first)


def test_export_refuses_a_folder_that_is_not_empty(
    app: Flask, session: Session, admin: User, package: Path, tmp_path: Path, jobs: list[Any]
):
    storage = get_storage(app)
    course = import_package(session, storage, admin, package)
    session.commit()
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_course(session, storage, course, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    (target / "keep.txt").unlink()
    export_course(session, storage, course, target)  # an empty folder is fine
    assert (target / "course.yaml").is_file()
    assert not list(tmp_path.glob(".out.export-*"))  # no temporary folder left
