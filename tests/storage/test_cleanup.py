"""Abandoned multipart uploads are cleaned up: parts in storage, asset rows in the database.

An upload idle (no start, no part) for longer than the allowed age goes, on the local
folder and on a real S3 server (SeaweedFS); a recent one, or an old one still
receiving parts, stays. Runs hourly as a Huey periodic task and as ``lms storage cleanup``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from lms.db import new_session, utcnow
from lms.jobs import JobQueue, get_jobs
from lms.media import services
from lms.media.models import MediaAsset, MediaUpload
from lms.storage import get_storage, new_key
from lms.storage.local import UPLOADS_DIR, LocalStorage
from tests.media.conftest import PART, World, count_assets, create, make_world, put_parts
from tests.media.test_pipeline_s3 import open_uploads, put_with_requests
from tests.storage.conftest import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, Weed

LATER = timedelta(hours=25)  # past the default 24 hours


@pytest.fixture
def make_user_for() -> Callable[[Flask], Callable[..., Any]]:
    from lms.accounts.services import create_user
    from tests.conftest import PASSWORD

    counter = iter(range(1, 10_000))

    def for_app(app: Flask) -> Callable[..., Any]:
        def factory(*roles: str) -> Any:
            with new_session(app) as session:
                user = create_user(
                    session,
                    email=f"cleanup{next(counter)}@example.org",
                    name="Cleanup Tester",
                    roles=roles,
                    password=PASSWORD,
                )
                session.commit()
                return user

        return factory

    return for_app


@pytest.fixture
def world(app_factory: Callable[..., Flask], make_user_for: Callable[[Flask], Any]) -> World:
    app = app_factory(MEDIA_PART_SIZE=PART)
    return make_world(app, make_user_for(app))


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """Bytes enough for three parts; never completed, so never probed."""
    path = tmp_path / "lecture.mp4"
    path.write_bytes(os.urandom(PART * 2 + 1000))
    return path


def start_upload(world: World, video: Path, parts: list[int] | None = None, **put: Any) -> dict:
    client = world.client(world.instructor)
    response = create(client, world.video_lesson_id, video)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    put_parts(client, created, video, parts or [1], **put)
    return created


def cleanup(app: Flask, now: datetime | None = None, **kwargs: Any) -> services.UploadCleanup:
    with app.app_context(), new_session(app) as session:
        done = services.cleanup_stale_uploads(session, get_storage(app), now=now, **kwargs)
        session.commit()
    return done


def upload_folders(app: Flask) -> list[str]:
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    folder = storage.root / UPLOADS_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def age_local_upload(app: Flask, upload_id: str, by: timedelta) -> None:
    """Make an upload look ``by`` older: its metadata, its files and its row."""
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    folder = storage.root / UPLOADS_DIR / upload_id
    meta_path = folder / "upload.json"
    meta = json.loads(meta_path.read_text())
    meta["created"] -= by.total_seconds()
    meta_path.write_text(json.dumps(meta))
    for path in [*folder.iterdir(), folder]:
        stamp = path.stat().st_mtime - by.total_seconds()
        os.utime(path, (stamp, stamp))
    with new_session(app) as session:
        session.execute(
            update(MediaUpload)
            .where(MediaUpload.upload_id == upload_id)
            .values(created_at=utcnow() - by)
        )
        session.commit()


def upload_rows(app: Flask) -> int:
    with new_session(app) as session:
        return session.scalar(select(func.count()).select_from(MediaUpload)) or 0


# --- local storage --------------------------------------------------------------------


def test_an_idle_upload_goes_with_its_asset(world: World, video: Path) -> None:
    created = start_upload(world, video)
    assert upload_folders(world.app) == [created["upload_id"]]

    done = cleanup(world.app, now=utcnow() + LATER)

    assert done == services.UploadCleanup(discarded_assets=1, aborted_uploads=1)
    assert upload_folders(world.app) == []
    assert count_assets(world.app) == 0 and upload_rows(world.app) == 0


def test_a_recent_upload_stays(world: World, video: Path) -> None:
    created = start_upload(world, video)
    done = cleanup(world.app)
    assert done == services.UploadCleanup(0, 0)
    assert upload_folders(world.app) == [created["upload_id"]]
    assert count_assets(world.app) == 1


def test_an_old_upload_still_receiving_parts_stays(world: World, video: Path) -> None:
    created = start_upload(world, video)
    age_local_upload(world.app, created["upload_id"], timedelta(hours=30))
    put_parts(world.client(world.instructor), created, video, [2])  # a part just now

    assert cleanup(world.app) == services.UploadCleanup(0, 0)
    assert upload_folders(world.app) == [created["upload_id"]]

    age_local_upload(world.app, created["upload_id"], timedelta(hours=30))  # then silence
    assert cleanup(world.app) == services.UploadCleanup(1, 1)
    assert upload_folders(world.app) == [] and count_assets(world.app) == 0


def test_uploads_no_row_refers_to_are_aborted(world: World) -> None:
    storage = get_storage(world.app)
    assert isinstance(storage, LocalStorage)
    orphan = storage.start_multipart(new_key("media", "lost.mp4"))
    broken = storage.root / UPLOADS_DIR / ("ab" * 16)  # a crash left no upload.json
    broken.mkdir(parents=True)
    (broken / ("00001-" + "0" * 32 + ".part")).write_bytes(b"x")
    old = time.time() - LATER.total_seconds()
    for path in (broken, *broken.iterdir()):
        os.utime(path, (old, old))

    done = cleanup(world.app, now=utcnow() + LATER)

    assert done == services.UploadCleanup(discarded_assets=0, aborted_uploads=2)
    assert orphan not in upload_folders(world.app) and upload_folders(world.app) == []


def test_a_row_whose_upload_storage_forgot_goes_when_old(world: World, video: Path) -> None:
    created = start_upload(world, video)
    storage = get_storage(world.app)
    assert isinstance(storage, LocalStorage)
    for path in (storage.root / UPLOADS_DIR / created["upload_id"]).iterdir():
        path.unlink()
    (storage.root / UPLOADS_DIR / created["upload_id"]).rmdir()

    assert cleanup(world.app) == services.UploadCleanup(0, 0)  # not old yet
    assert count_assets(world.app) == 1
    assert cleanup(world.app, now=utcnow() + LATER) == services.UploadCleanup(1, 0)
    assert count_assets(world.app) == 0


def test_the_age_is_configurable_for_the_job_and_the_command(
    app_factory: Callable[..., Flask], make_user_for: Callable[[Flask], Any], video: Path
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART, JOBS_IMMEDIATE=True, MEDIA_UPLOAD_MAX_AGE_HOURS=48)
    world = make_world(app, make_user_for(app))
    created = start_upload(world, video)
    age_local_upload(app, created["upload_id"], timedelta(hours=30))

    runner = app.test_cli_runner()
    result = runner.invoke(args=["lms", "storage", "cleanup"])  # 48 h from the config
    assert result.exit_code == 0, result.output
    assert "0 unfinished upload(s) deleted" in result.output
    with app.app_context():
        get_jobs(app).enqueue("cleanup_stale_uploads")  # immediate: runs now
    assert upload_folders(app) == [created["upload_id"]]

    result = runner.invoke(args=["lms", "storage", "cleanup", "--older-than", "24"])
    assert result.exit_code == 0, result.output
    assert "1 unfinished upload(s) deleted, 1 upload(s) aborted in storage." in result.output
    assert upload_folders(app) == [] and count_assets(app) == 0


def test_the_job_removes_idle_uploads(
    app_factory: Callable[..., Flask], make_user_for: Callable[[Flask], Any], video: Path
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART, JOBS_IMMEDIATE=True)
    world = make_world(app, make_user_for(app))
    created = start_upload(world, video)
    age_local_upload(app, created["upload_id"], timedelta(hours=25))
    with app.app_context():
        get_jobs(app).enqueue("cleanup_stale_uploads")
    assert upload_folders(app) == [] and count_assets(app) == 0


def test_the_cleanup_is_queued_every_hour(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[str] = []
    monkeypatch.setattr(JobQueue, "enqueue", lambda self, name, *args: queued.append(name))
    huey = get_jobs(app).huey
    due = [t for t in huey.read_periodic(datetime(2026, 1, 1, 5, 23)) if t.name.endswith("cleanup")]
    assert [t.name for t in due] == ["hourly_upload_cleanup"]
    assert huey.read_periodic(datetime(2026, 1, 1, 5, 24)) == []
    due[0].execute()
    assert queued == ["cleanup_stale_uploads"]


# --- S3 (SeaweedFS) ---------------------------------------------------------------------


@pytest.fixture
def s3_world(
    app_factory: Callable[..., Flask], weed: Weed, make_user_for: Callable[[Flask], Any]
) -> World:
    app = app_factory(
        LMS_STORAGE="s3",
        LMS_S3_ENDPOINT_URL=weed.endpoint_url,
        LMS_S3_BUCKET=S3_BUCKET,
        LMS_S3_ACCESS_KEY=S3_ACCESS_KEY,
        LMS_S3_SECRET_KEY=S3_SECRET_KEY,
    )
    return make_world(app, make_user_for(app))


def test_idle_uploads_are_aborted_on_s3(s3_world: World, weed: Weed, video: Path) -> None:
    app = s3_world.app
    created = start_upload(s3_world, video, put=put_with_requests)
    orphan_key = new_key("media", "lost.mp4")
    orphan = get_storage(app).start_multipart(orphan_key)
    assert {created["upload_id"], orphan} <= open_uploads(weed)

    assert cleanup(app) == services.UploadCleanup(0, 0)  # all recent
    assert {created["upload_id"], orphan} <= open_uploads(weed)

    done = cleanup(app, now=utcnow() + LATER)

    assert done.discarded_assets == 1 and done.aborted_uploads >= 2  # others' leftovers too
    assert not {created["upload_id"], orphan} & open_uploads(weed)
    assert count_assets(app) == 0 and upload_rows(app) == 0
    # An S3 upload's age counts from its newest part, not from its start.
    pending = get_storage(app).list_uploads(started_before=utcnow() + LATER)
    assert all(u.upload_id not in {created["upload_id"], orphan} for u in pending)


def test_s3_lists_an_uploads_last_part_time(s3_world: World, weed: Weed, video: Path) -> None:
    storage = get_storage(s3_world.app)
    created = start_upload(s3_world, video, put=put_with_requests)
    pending = {u.upload_id: u for u in storage.list_uploads(started_before=utcnow() + LATER)}
    upload = pending[created["upload_id"]]
    assert upload.key.startswith("media/")
    assert upload.started <= upload.last_activity <= utcnow() + timedelta(seconds=5)
    earlier = storage.list_uploads(started_before=upload.started)
    assert created["upload_id"] not in {u.upload_id for u in earlier}
    with s3_world.app.app_context(), new_session(s3_world.app) as session:
        assert session.scalar(select(func.count()).select_from(MediaAsset)) == 1
