"""A small course package to break in every way, and helpers to see what was left."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.catalog.models import Course, CourseVersion, Lesson, Module
from lms.jobs import JobQueue
from lms.media.models import Caption, MediaAsset, Rendition
from lms.media.synth import make_pdf, make_test_video
from lms.storage import get_storage

COURSE_YAML = """\
format: 1
code: TEST-PKG
default_language: en
texts:
  en:
    title: Test course
    summary: A small package for tests.
  ja:
    title: テストコース
modules:
  - uid: first
    texts:
      en: {title: First module}
      ja: {title: 第1モジュール}
    lessons:
      - uid: intro-video
        kind: video
        completion_threshold: 0.8
        texts:
          en: {title: Introduction}
        body: {en: notes/video.en.md}
        video: media/intro.mp4
        captions: {en: captions/intro.en.vtt, ja: captions/intro.ja.srt}
      - uid: reading-one
        kind: reading
        estimated_minutes: 5
        texts:
          en: {title: Reading one}
          ja: {title: 読み物1}
        body: {en: readings/one.en.md, ja: readings/one.ja.md}
  - uid: second
    texts:
      en: {title: Second module}
    lessons:
      - uid: handout
        kind: document
        required: false
        texts:
          en: {title: Handout}
        document: media/handout.pdf
      - uid: quiz-one
        kind: quiz
        required: false
        texts:
          en: {title: Quiz (coming later)}
"""

CAPTIONS_EN = """\
WEBVTT

00:00:00.000 --> 00:00:01.000
Hello.

00:00:01.000 --> 00:00:02.000
Welcome to the course.
"""

CAPTIONS_JA = """\
1
00:00:00,000 --> 00:00:01,000
こんにちは。

2
00:00:01,000 --> 00:00:02,000
コースへようこそ。
"""


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    """Media jobs run at once (Huey's immediate mode), as a worker would run them."""
    return app_factory(JOBS_IMMEDIATE=True)


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {
        "video": make_test_video(folder / "intro.mp4", seconds=2, width=320, height=180),
        "other_video": make_test_video(folder / "other.mp4", seconds=3, width=320, height=180),
        "pdf": make_pdf(folder / "handout.pdf", "Handout"),
    }


@pytest.fixture
def make_package(tmp_path: Path, media_files: dict[str, Path]) -> Callable[..., Path]:
    counter = iter(range(1, 1000))

    def build(name: str | None = None) -> Path:
        root = tmp_path / (name or f"package-{next(counter)}")
        for folder in ("media", "captions", "readings", "notes"):
            (root / folder).mkdir(parents=True)
        (root / "course.yaml").write_text(COURSE_YAML, encoding="utf-8")
        shutil.copy(media_files["video"], root / "media" / "intro.mp4")
        shutil.copy(media_files["pdf"], root / "media" / "handout.pdf")
        (root / "captions" / "intro.en.vtt").write_text(CAPTIONS_EN, encoding="utf-8")
        (root / "captions" / "intro.ja.srt").write_text(CAPTIONS_JA, encoding="utf-8")
        (root / "readings" / "one.en.md").write_text("# One\n\nSome *text*.\n", encoding="utf-8")
        (root / "readings" / "one.ja.md").write_text("# 一\n\n本文。\n", encoding="utf-8")
        (root / "notes" / "video.en.md").write_text("Watch it.\n", encoding="utf-8")
        return root

    return build


@pytest.fixture
def package(make_package: Callable[..., Path]) -> Path:
    return make_package("package")


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, email="admin@example.org")


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Record queued jobs instead of running them (for tests that need no processing)."""
    queued: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(JobQueue, "enqueue", lambda self, name, *args: queued.append((name, args)))
    return queued


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session inside an app context, as the command line has (jobs need current_app)."""
    from lms.db import new_session

    with app.app_context(), new_session(app) as session:
        yield session


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """The 1-based number of the line holding ``needle`` (its n-th occurrence)."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found in {path}")


def row_counts(app: Flask) -> dict[str, int]:
    from lms.db import new_session

    with new_session(app) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Course, Module, Lesson, MediaAsset, Caption, Rendition, CourseVersion)
        }


def stored_objects(app: Flask) -> set[str]:
    """Every object in the local storage folder (temporary and upload files aside)."""
    root: Path = get_storage(app).root  # type: ignore[attr-defined]
    if not root.exists():
        return set()
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(root).parts)
    }
