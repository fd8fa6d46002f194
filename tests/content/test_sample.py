"""The sample course in content/: it imports, its media is processed, it matches its generator."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.catalog.models import Lesson
from lms.content.package import read_package
from lms.content.sample import (
    HANDOUT,
    LECTURES,
    SAMPLE_PACKAGE,
    caption_path,
    captions_text,
    load_sample_course,
    text_pdf,
)
from lms.media.models import MediaAsset, MediaStatus
from lms.media.probe import probe_pdf, probe_video
from lms.storage import get_storage
from tests.conftest import build_app


def build_tour_media_paths() -> list[str]:
    """The plant tour's files that build-sample writes (see lms/tours/sample.py)."""
    from lms.tours.sample import CLIP_CAPTIONS, CLIPS, FOLDER, PANORAMAS, PHOTOS, clip_caption_path

    return (
        [f"{FOLDER}/map.png"]
        + [f"{FOLDER}/{uid}.jpg" for uid in PANORAMAS]
        + [
            f"{FOLDER}/{uid}-{n}.jpg"
            for uid, names in PHOTOS.items()
            for n in range(1, len(names) + 1)
        ]
        + [f"{FOLDER}/{uid}.mp4" for uid in CLIPS]
        + [clip_caption_path(uid, lang) for uid, langs in CLIP_CAPTIONS.items() for lang in langs]
    )


def test_the_sample_course_imports_with_its_media_processed(
    app: Flask, session: Session, make_user
):
    instructor: User = make_user(Role.INSTRUCTOR, email="instructor@example.org")
    storage = get_storage(app)
    course = load_sample_course(session, storage, instructor)
    session.commit()
    assert course.code == "TOKYO-MSW" and course.published_version_id is not None
    assert [i.user_id for i in course.instructors] == [instructor.id]
    assert set(course.texts) == {"en", "ja"}
    assert [m.uid for m in course.modules] == [
        "separation-collection",
        "three-rs",
        "incineration",
        "final-disposal",
    ]
    lessons = session.scalars(select(Lesson).where(Lesson.course_id == course.id)).all()
    assert Counter(lesson.kind for lesson in lessons) == {
        "video": 4,
        "reading": 6,
        "document": 1,
        "quiz": 4,
        "tour": 1,
    }
    for lesson in lessons:
        assert set(lesson.texts) == {"en", "ja"}, lesson.uid
        assert all(lesson.texts[lang].get("title") for lang in ("en", "ja")), lesson.uid
        if lesson.kind == "quiz":  # a real quiz, required (tests/content/test_quiz_packages.py)
            assert lesson.required and lesson.settings["quiz"]["slots"], lesson.uid
        if lesson.kind == "tour":  # optional
            assert not lesson.required

    session.expire_all()
    assets = session.scalars(select(MediaAsset).where(MediaAsset.course_id == course.id)).all()
    # The lectures and the handout, and the plant tour's map, photos, panoramas and clips.
    assert sorted(a.kind for a in assets) == ["document"] + ["image"] * 10 + ["video"] * 6
    for asset in assets:
        assert asset.status == MediaStatus.READY, (asset.filename, asset.error)
        if asset.kind == "video" and not (asset.info or {}).get("tour"):
            assert asset.duration == 20
            assert {r.name for r in asset.renditions} == {"240p", "360p", "audio"}
            assert [c.language for c in asset.captions] == ["en", "ja"]
    version = course.published_version
    assert version is not None
    media_ids = [
        lesson["media_id"]
        for module in version.snapshot["modules"]
        for lesson in module["lessons"]
        if lesson["kind"] in ("video", "document")
    ]
    assert len(media_ids) == 5 and None not in media_ids  # trainees see every file

    # `lms demo` runs again: nothing changes, nothing is published again.
    again = load_sample_course(session, storage, instructor)
    session.commit()
    assert again.id == course.id and again.published_version_id == version.id


def test_the_sample_package_is_complete_and_small():
    package = read_package(SAMPLE_PACKAGE)  # every file checked by content
    assert package.default_language == "en"
    for lesson in package.lessons:
        if lesson.kind == "reading":
            assert set(lesson.bodies) == {"en", "ja"}
        if lesson.kind == "video":
            assert set(lesson.captions) == {"en", "ja"}
    media = [p for p in (SAMPLE_PACKAGE / "media").iterdir()]
    assert sum(p.stat().st_size for p in media) < 3 * 1024 * 1024
    for lecture in LECTURES:
        info = probe_video(SAMPLE_PACKAGE / "media" / f"{lecture.name}.mp4")
        assert (info.width, info.height, info.duration) == (640, 360, 20)
        assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert probe_pdf(SAMPLE_PACKAGE / "media" / "handout-separation.pdf").pages == 1
    srt = [path for path in (SAMPLE_PACKAGE / "captions").iterdir() if path.suffix == ".srt"]
    assert srt, "the sample shows the SRT conversion"


def test_the_committed_sample_matches_its_generator():
    for lecture in LECTURES:
        for language in ("en", "ja"):
            path = SAMPLE_PACKAGE / caption_path(lecture, language)
            assert path.read_text(encoding="utf-8") == captions_text(lecture, language)
    pdf = (SAMPLE_PACKAGE / "media" / "handout-separation.pdf").read_bytes()
    assert pdf == text_pdf(HANDOUT, HANDOUT[0][1])


def test_build_sample_writes_the_media(tmp_path: Path):
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")
    target = tmp_path / "sample"
    result = app.test_cli_runner().invoke(args=["lms", "content", "build-sample", str(target)])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == sorted(
        [f"media/{lecture.name}.mp4" for lecture in LECTURES]
        + [caption_path(lecture, lang) for lecture in LECTURES for lang in ("en", "ja")]
        + ["media/handout-separation.pdf"]
        + build_tour_media_paths()
    )
    for name in written:
        if not name.endswith(".mp4"):  # video bytes depend on the fonts installed
            assert (target / name).read_bytes() == (SAMPLE_PACKAGE / name).read_bytes()
    assert probe_video(target / "media" / "lecture-1.mp4").duration == 20
