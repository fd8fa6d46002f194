"""Importing a package: all or nothing, updates in place by uid, media processed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.catalog.models import Course, Lesson, Module
from lms.content.importer import import_package, import_package_report, publish_if_changed
from lms.content.package import PackageError
from lms.db import new_session
from lms.learning.models import LessonProgress
from lms.media.models import MediaAsset, MediaStatus
from lms.storage import StorageError, get_storage
from tests.content.badcases import CASES
from tests.content.conftest import row_counts, stored_objects


def edit(root: Path, old: str, new: str) -> None:
    course = root / "course.yaml"
    text = course.read_text(encoding="utf-8")
    assert old in text, old
    course.write_text(text.replace(old, new, 1), encoding="utf-8")


def lessons_by_uid(session: Session, course: Course) -> dict[str, Lesson]:
    rows = session.scalars(select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.id))
    return {lesson.uid: lesson for lesson in rows}


def test_a_package_becomes_a_course(app: Flask, session: Session, admin: User, package: Path):
    report = import_package_report(session, get_storage(app), admin, package)
    session.commit()
    course = report.course
    assert report.created and report.changed
    assert (course.code, course.title, course.default_language) == ("TEST-PKG", "Test course", "en")
    assert course.texts["ja"] == {"title": "テストコース"}
    assert [(m.uid, m.position) for m in course.modules] == [("first", 0), ("second", 1)]
    assert course.modules[0].texts == {
        "en": {"title": "First module"},
        "ja": {"title": "第1モジュール"},
    }
    lessons = lessons_by_uid(session, course)
    assert [(u, lessons[u].position) for u in lessons] == [
        ("intro-video", 0),
        ("reading-one", 1),
        ("handout", 0),
        ("quiz-one", 1),
    ]
    video = lessons["intro-video"]
    assert (video.kind, video.completion_threshold, video.required) == ("video", 0.8, True)
    assert video.texts == {"en": {"title": "Introduction", "body": "Watch it."}}
    assert lessons["reading-one"].texts["ja"]["body"] == "# 一\n\n本文。"
    assert lessons["handout"].required is False

    # The media went through the real pipeline (jobs run at once in these tests).
    session.expire_all()
    asset = session.get(MediaAsset, video.media_id)
    assert asset is not None and asset.status == MediaStatus.READY, asset and asset.error
    assert asset.filename == "intro.mp4" and asset.lesson_id == video.id
    assert {r.name for r in asset.renditions} >= {"240p", "audio"}
    assert {c.language: c.cue_count for c in asset.captions} == {"en": 2, "ja": 2}
    with get_storage(app).open(next(c.key for c in asset.captions if c.language == "ja")) as fh:
        assert (
            fh.read().decode().startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nこんにちは。")
        )
    document = session.get(MediaAsset, lessons["handout"].media_id)
    assert document is not None and document.status == MediaStatus.READY
    assert document.info["pages"] == 1


def test_the_same_package_again_changes_nothing(
    app: Flask, session: Session, admin: User, package: Path, jobs: list[Any]
):
    storage = get_storage(app)
    first = import_package_report(session, storage, admin, package)
    publish_if_changed(session, admin, first)
    session.commit()
    assert sorted(name for name, _ in jobs) == ["process_document", "process_video"]
    objects, counts = stored_objects(app), row_counts(app)

    again = import_package_report(session, storage, admin, package)
    assert publish_if_changed(session, admin, again) is None  # nothing new to publish
    session.commit()
    assert not again.changed and not again.created
    assert sorted(again.media_kept) == ["media/handout.pdf", "media/intro.mp4"]
    assert again.media_uploaded == [] and again.captions_written == []
    assert len(jobs) == 2  # nothing processed again
    assert stored_objects(app) == objects
    assert row_counts(app) == counts
    assert again.course.draft_changed is False


def test_a_reimport_updates_in_place_and_keeps_progress(
    app: Flask,
    session: Session,
    admin: User,
    make_user: Callable[..., User],
    package: Path,
    jobs: list[Any],
):
    storage = get_storage(app)
    course = import_package(session, storage, admin, package)
    session.commit()
    trainee = make_user(Role.TRAINEE)
    before = lessons_by_uid(session, course)
    ids = {uid: lesson.id for uid, lesson in before.items()}
    module_ids = {m.uid: m.id for m in course.modules}
    media_ids = {uid: lesson.media_id for uid, lesson in before.items()}
    for uid in ("intro-video", "handout"):
        session.add(
            LessonProgress(
                user_id=trainee.id, lesson_id=ids[uid], course_id=course.id, status="done"
            )
        )
    session.commit()
    objects = stored_objects(app)

    # The handout goes, the reading moves to the second module, a lesson is added,
    # modules swap places and titles change.
    text = (package / "course.yaml").read_text(encoding="utf-8")
    start = text.index("      - uid: handout")
    end = text.index("      - uid: quiz-one")
    handout = text[start:end]
    text = text[:start] + text[end:]
    reading_start = text.index("      - uid: reading-one")
    reading_end = text.index("  - uid: second")
    reading = text[reading_start:reading_end]
    text = text[:reading_start] + text[reading_end:]
    first_start = text.index("  - uid: first")
    second_start = text.index("  - uid: second")
    first, second = text[first_start:second_start], text[second_start:]
    second = second.replace("      - uid: quiz-one", reading + "      - uid: quiz-one")
    second += (
        "      - uid: new-reading\n        kind: reading\n        texts:\n"
        "          en: {title: New}\n        body: {en: readings/one.en.md}\n"
    )
    text = text[:first_start] + second + first
    text = text.replace("title: First module", "title: First module (renamed)")
    (package / "course.yaml").write_text(text, encoding="utf-8")

    report = import_package_report(session, storage, admin, package)
    session.commit()
    assert report.changed and not report.created
    assert report.lessons_added == ["new-reading"]
    assert report.lessons_archived == ["handout"]
    session.expire_all()
    course = session.get(Course, course.id)
    assert course is not None and course.draft_changed
    assert [(m.uid, m.id, m.position) for m in course.modules] == [
        ("second", module_ids["second"], 0),
        ("first", module_ids["first"], 1),
    ]
    assert course.modules[1].texts["en"]["title"] == "First module (renamed)"
    after = lessons_by_uid(session, course)
    for uid in ("intro-video", "reading-one", "quiz-one", "handout"):
        assert after[uid].id == ids[uid]
    assert after["reading-one"].module_id == module_ids["second"]
    assert [after[u].position for u in ("reading-one", "quiz-one", "new-reading")] == [0, 1, 2]
    # Archived, not deleted: the lesson, its media and the trainee's progress stay.
    assert after["handout"].archived_at is not None and after["handout"].module_id is None
    assert after["handout"].media_id == media_ids["handout"]
    progress = session.scalars(select(LessonProgress).where(LessonProgress.user_id == trainee.id))
    assert sorted(p.lesson_id for p in progress) == sorted([ids["intro-video"], ids["handout"]])
    # Unchanged media is neither stored nor processed again.
    assert after["intro-video"].media_id == media_ids["intro-video"]
    assert report.media_kept == ["media/intro.mp4"] and report.media_uploaded == []
    assert len(jobs) == 2
    assert stored_objects(app) == objects

    # Put the handout back: the same lesson returns, with its id.
    text = (package / "course.yaml").read_text(encoding="utf-8")
    (package / "course.yaml").write_text(
        text.replace("      - uid: quiz-one", handout + "      - uid: quiz-one", 1),
        encoding="utf-8",
    )
    report = import_package_report(session, storage, admin, package)
    session.commit()
    assert report.lessons_added == [] and report.lessons_archived == []
    back = lessons_by_uid(session, course)["handout"]
    assert back.id == ids["handout"] and back.archived_at is None
    assert back.module_id == module_ids["second"] and back.media_id == media_ids["handout"]
    assert session.scalar(select(Module).where(Module.uid == "first")) is not None


def test_changed_media_and_captions_are_replaced(
    app: Flask, session: Session, admin: User, package: Path, media_files: dict[str, Path]
):
    storage = get_storage(app)
    course = import_package(session, storage, admin, package)
    session.commit()
    video = lessons_by_uid(session, course)["intro-video"]
    old_asset = session.get(MediaAsset, video.media_id)
    assert old_asset is not None
    old_keys = {c.language: c.key for c in old_asset.captions}
    old_id, old_key = old_asset.id, old_asset.key

    # Only the English captions change: the video stays, one caption object is replaced.
    (package / "captions" / "intro.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello again.\n"
    )
    report = import_package_report(session, storage, admin, package)
    session.commit()
    assert report.changed and report.captions_written == ["captions/intro.en.vtt"]
    assert sorted(report.media_kept) == ["media/handout.pdf", "media/intro.mp4"]
    session.expire_all()
    asset = session.get(MediaAsset, video.media_id)
    assert asset is not None
    keys = {c.language: c.key for c in asset.captions}
    assert keys["ja"] == old_keys["ja"] and keys["en"] != old_keys["en"]
    assert not storage.exists(old_keys["en"])  # deleted once the import committed
    assert {c.language: c.cue_count for c in asset.captions} == {"en": 1, "ja": 2}

    # Japanese captions removed from the package: removed from the video.
    edit(package, ", ja: captions/intro.ja.srt}", "}")
    import_package(session, storage, admin, package)
    session.commit()
    session.expire_all()
    asset = session.get(MediaAsset, video.media_id)
    assert asset is not None and [c.language for c in asset.captions] == ["en"]
    assert not storage.exists(old_keys["ja"])

    # A new video: stored and processed; it becomes the lesson's media once READY.
    shutil.copy(media_files["other_video"], package / "media" / "intro.mp4")
    (package / "captions" / "intro.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nA longer video.\n"
    )
    report = import_package_report(session, storage, admin, package)
    session.commit()
    assert report.media_uploaded == ["media/intro.mp4"]
    session.expire_all()
    lesson = session.get(Lesson, video.id)
    assert lesson is not None and lesson.media_id not in (None, old_id)
    new_asset = session.get(MediaAsset, lesson.media_id)
    assert new_asset is not None and new_asset.status == MediaStatus.READY
    assert new_asset.duration == pytest.approx(3, abs=0.1)
    assert [c.language for c in new_asset.captions] == ["en"]
    # The old file was never published, so the media pipeline deleted it.
    assert session.get(MediaAsset, old_id) is None
    assert not storage.exists(old_key)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_package_is_reported_and_leaves_nothing(
    app: Flask,
    session: Session,
    admin: User,
    make_package: Callable[..., Path],
    case: Callable[[Path], Any],
):
    root = make_package()
    expected = case(root)
    counts, objects = row_counts(app), stored_objects(app)
    with pytest.raises(PackageError) as caught:
        import_package(session, get_storage(app), admin, root)
    session.rollback()
    where = expected.file if expected.line is None else f"{expected.file}:{expected.line}"
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{where}: ") and expected.fragment in m for m in messages), messages
    assert row_counts(app) == counts
    assert stored_objects(app) == objects


def test_a_bad_reimport_leaves_the_course_as_it_was(
    app: Flask, session: Session, admin: User, package: Path, jobs: list[Any]
):
    storage = get_storage(app)
    import_package(session, storage, admin, package)
    session.commit()
    counts, objects = row_counts(app), stored_objects(app)
    edit(package, "title: Test course", "title: Changed")
    edit(package, "kind: quiz", "kind: podcast")
    with pytest.raises(PackageError):
        import_package(session, storage, admin, package)
    session.rollback()
    assert row_counts(app) == counts and stored_objects(app) == objects
    with new_session(app) as other:
        course = other.scalar(select(Course).where(Course.code == "TEST-PKG"))
        assert course is not None and course.title == "Test course"


def test_a_failure_while_writing_leaves_nothing(
    app: Flask,
    session: Session,
    admin: User,
    package: Path,
    jobs: list[Any],
    monkeypatch: pytest.MonkeyPatch,
):
    storage = get_storage(app)
    put = storage.put
    calls: list[str] = []

    def flaky_put(key: str, fileobj: Any, content_type: str | None = None) -> Any:
        calls.append(key)
        if len(calls) == 3:  # the video and one caption are stored by now
            raise StorageError("the disk is full")
        return put(key, fileobj, content_type)

    monkeypatch.setattr(storage, "put", flaky_put)
    with pytest.raises(StorageError):
        import_package(session, storage, admin, package)
    session.rollback()
    assert row_counts(app) == dict.fromkeys(row_counts(app), 0)
    assert stored_objects(app) == set()
    assert jobs == []


def test_a_trainee_cannot_import_and_an_instructor_only_their_courses(
    app: Flask,
    session: Session,
    admin: User,
    make_user: Callable[..., User],
    package: Path,
    jobs: list[Any],
):
    storage = get_storage(app)
    trainee = make_user(Role.TRAINEE)
    with pytest.raises(PackageError, match="only admins and instructors"):
        import_package(session, storage, trainee, package)
    session.rollback()
    author = make_user(Role.INSTRUCTOR, email="author@example.org")
    other = make_user(Role.INSTRUCTOR, email="other@example.org")
    course = import_package(session, storage, author, package)
    session.commit()
    assert [i.user_id for i in course.instructors] == [author.id]
    with pytest.raises(PackageError, match="other@example.org may not edit the course TEST-PKG"):
        import_package(session, storage, other, package)
    session.rollback()
    import_package(session, storage, admin, package)  # admins may
    session.commit()


def test_publish_after_import_freezes_the_imported_draft(
    app: Flask, session: Session, admin: User, package: Path, jobs: list[Any]
):
    storage = get_storage(app)
    report = import_package_report(session, storage, admin, package)
    version = publish_if_changed(session, admin, report)
    session.commit()
    assert version is not None and version.number == 1
    modules = version.snapshot["modules"]
    assert [lesson["uid"] for lesson in modules[0]["lessons"]] == ["intro-video", "reading-one"]
    # A lesson that had no file takes the new one at once, so the version shows it.
    assert modules[0]["lessons"][0]["media_id"] is not None
    edit(package, "title: Test course", "title: Test course (2nd edition)")
    report = import_package_report(session, storage, admin, package)
    version = publish_if_changed(session, admin, report)
    session.commit()
    assert version is not None and version.number == 2
    assert version.snapshot["texts"]["en"]["title"] == "Test course (2nd edition)"
