"""Fixtures for the upload and pipeline tests: a course to edit, generated media, helpers."""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.catalog.models import Course, CourseInstructor, Lesson, LessonKind, Module
from lms.db import new_session
from lms.media.models import MediaAsset
from lms.media.synth import make_pdf, make_test_video
from lms.storage import get_storage
from lms.storage.local import LocalStorage
from tests.conftest import login
from tests.storage.conftest import weed  # noqa: F401 - the SeaweedFS fixture, reused

KiB = 1024
MiB = 1024 * KiB
PART = 64 * KiB  # the smallest part the local back-end is given: many parts from tiny files


@dataclass(frozen=True)
class Files:
    small: Path  # 320x240, 2 s, with sound: 240p + audio
    medium: Path  # 640x360, 2 s, with sound: 240p + 360p + audio
    text: Path  # a text file named .mp4
    pdf: Path
    vtt: Path
    srt_ja: Path


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("media-files")
    text = d / "lecture.mp4"
    text.write_text("This is not a video, whatever its name says.\n" * 50)
    vtt = d / "en.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n\n00:00:01.000 --> 00:00:02.000\nBye\n"
    )
    srt = d / "ja.srt"
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nこんにちは\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nさようなら\n",
        encoding="utf-8",
    )
    return Files(
        small=make_test_video(d / "small.mp4", seconds=2, width=320, height=240),
        medium=make_test_video(d / "medium.mp4", seconds=2, width=640, height=360),
        text=text,
        pdf=make_pdf(d / "handout.pdf", "Page one\fPage two\fPage three"),
        vtt=vtt,
        srt_ja=srt,
    )


def padded(source: Path, dest: Path, total: int) -> Path:
    """``source`` followed by an ISO-BMFF ``free`` box up to ``total`` bytes: still valid."""
    data = source.read_bytes()
    pad = total - len(data)
    assert pad >= 8
    dest.write_bytes(data + struct.pack(">I4s", pad, b"free") + b"\0" * (pad - 8))
    return dest


@dataclass
class World:
    app: Flask
    instructor: User
    other_instructor: User
    trainee: User
    admin: User
    course_id: int
    video_lesson_id: int
    document_lesson_id: int
    reading_lesson_id: int

    def client(self, user: User | None = None) -> FlaskClient:
        client = self.app.test_client()
        if user is not None:
            assert login(client, user.email).status_code == 302
        return client


def make_world(app: Flask, make_user: Callable[..., User]) -> World:
    instructor = make_user("instructor")
    other = make_user("instructor")
    trainee = make_user("trainee")
    admin = make_user("admin")
    with new_session(app) as session:
        course = Course(code="WASTE-101", title="Waste basics", texts={"en": {"title": "Waste"}})
        session.add(course)
        session.flush()
        session.add(CourseInstructor(course_id=course.id, user_id=instructor.id))
        module = Module(course_id=course.id, uid="m1", texts={"en": {"title": "Module"}})
        session.add(module)
        session.flush()
        lessons = {}
        for position, kind in enumerate(
            (LessonKind.VIDEO, LessonKind.DOCUMENT, LessonKind.READING)
        ):
            lesson = Lesson(
                course_id=course.id,
                module_id=module.id,
                uid=f"l-{kind}",
                position=position,
                kind=kind,
                texts={"en": {"title": f"A {kind} lesson"}},
            )
            session.add(lesson)
            session.flush()
            lessons[kind] = lesson.id
        session.commit()
        course_id = course.id
    return World(
        app,
        instructor,
        other,
        trainee,
        admin,
        course_id,
        lessons[LessonKind.VIDEO],
        lessons[LessonKind.DOCUMENT],
        lessons[LessonKind.READING],
    )


@pytest.fixture
def media_app(app_factory: Callable[..., Flask]) -> Flask:
    """Jobs run at once (when the request commits); small parts."""
    return app_factory(JOBS_IMMEDIATE=True, MEDIA_PART_SIZE=PART)


@pytest.fixture
def world(media_app: Flask, make_user_for: Callable[[Flask], Callable[..., User]]) -> World:
    return make_world(media_app, make_user_for(media_app))


@pytest.fixture
def make_user_for() -> Callable[[Flask], Callable[..., User]]:
    """Users on a given app (the shared ``make_user`` is tied to the default ``app``)."""
    from lms.accounts.services import create_user
    from tests.conftest import PASSWORD

    counter = iter(range(1, 10_000))

    def for_app(app: Flask) -> Callable[..., User]:
        def factory(*roles: str, **fields: Any) -> User:
            with new_session(app) as session:
                user = create_user(
                    session,
                    email=f"media{next(counter)}@example.org",
                    name="Media Tester",
                    roles=roles,
                    password=PASSWORD,
                    **fields,
                )
                session.commit()
                return user

        return factory

    return for_app


# --- the upload protocol, as the browser runs it ----------------------------------------


def absolute(url: str, base: str = "") -> str:
    return base + url if url.startswith("/") else url


def create(client: FlaskClient, lesson_id: int, path: Path, kind: str = "video", **extra: Any):
    body = {
        "filename": path.name,
        "size": path.stat().st_size,
        "content_type": "video/mp4" if kind == "video" else "application/pdf",
        "kind": kind,
        **extra,
    }
    return client.post(f"/teach/lessons/{lesson_id}/uploads", json=body)


def put_parts(
    client: FlaskClient,
    created: dict[str, Any],
    path: Path,
    numbers: list[int] | None = None,
    put: Callable[[str, bytes], tuple[int, str]] | None = None,
) -> list[dict[str, Any]]:
    """PUT the given parts (default: all) to their signed URLs; returns {part_number, etag}."""
    data = path.read_bytes()
    size = created["part_size"]
    numbers = numbers or list(range(1, created["part_count"] + 1))
    response = client.post(created["urls"]["parts"], json={"part_numbers": numbers})
    assert response.status_code == 200, response.get_json()
    urls = response.get_json()["urls"]
    parts = []
    for number in numbers:
        chunk = data[(number - 1) * size : number * size]
        if put is None:
            reply = client.put(urls[str(number)], data=chunk)
            status, etag = reply.status_code, reply.headers.get("ETag", "")
        else:
            status, etag = put(urls[str(number)], chunk)
        assert status == 200, status
        parts.append({"part_number": number, "etag": etag})
    return parts


def upload(
    client: FlaskClient,
    lesson_id: int,
    path: Path,
    kind: str = "video",
    put: Callable[[str, bytes], tuple[int, str]] | None = None,
) -> tuple[int, Any]:
    """The whole protocol; returns the asset id and the answer to "complete"."""
    response = create(client, lesson_id, path, kind)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    parts = put_parts(client, created, path, put=put)
    done = client.post(created["urls"]["complete"], json={"parts": parts})
    return created["asset_id"], done


# --- inspecting what is left ------------------------------------------------------------


def count_assets(app: Flask) -> int:
    with new_session(app) as session:
        return session.scalar(select(func.count()).select_from(MediaAsset)) or 0


def load_asset(app: Flask, asset_id: int) -> MediaAsset | None:
    with new_session(app) as session:
        asset = session.get(MediaAsset, asset_id)
        if asset is not None:
            _ = asset.renditions, asset.captions, asset.upload  # loaded before the session ends
        return asset


def stored_files(app: Flask) -> list[str]:
    """Every file under the local storage folder (objects and unfinished uploads)."""
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    return sorted(str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(predicate: Callable[[], Any], timeout: float = 90, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)


def parts_of(size: int, part_size: int = PART) -> int:
    return max(1, math.ceil(size / part_size))


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Flask], Any]]:
    """Start a real Huey consumer (threads) on an app's queue; stopped after the test."""
    from huey.consumer import Consumer

    from lms.jobs import get_jobs

    # JobQueue.start_consumer runs Consumer.start in a thread, where installing signal
    # handlers raises (after the workers have started); keep that noise out of the tests.
    monkeypatch.setattr(Consumer, "_set_signal_handlers", lambda self: None)
    started = []

    def start(app: Flask) -> Any:
        running = get_jobs(app).start_consumer(workers=1)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(graceful=True)
