"""The SHA-256 of an upload on S3 is taken by the processing job, not by "complete".

Completing a multipart upload on S3 must not read the object back (gigabytes for a
long lecture, while the browser waits); the job downloads the file anyway and records
the checksum then, with an audit event. On the local back-end the checksum comes for
free while the parts are assembled, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.audit.models import AuditEvent
from lms.db import new_session
from lms.media import tasks
from lms.media.models import MediaStatus
from lms.storage import get_storage
from lms.storage.s3 import S3Storage
from tests.media.conftest import (
    Files,
    MiB,
    World,
    create,
    load_asset,
    make_world,
    padded,
    put_parts,
    sha256,
    upload,
)
from tests.media.test_pipeline_s3 import put_with_requests
from tests.storage.conftest import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, Weed


@pytest.fixture
def s3_world(
    app_factory: Callable[..., Flask], weed: Weed, make_user_for: Callable[[Flask], Any]
) -> World:
    """Jobs are queued, not run: the test runs them when it wants."""
    app = app_factory(
        LMS_STORAGE="s3",
        LMS_S3_ENDPOINT_URL=weed.endpoint_url,
        LMS_S3_BUCKET=S3_BUCKET,
        LMS_S3_ACCESS_KEY=S3_ACCESS_KEY,
        LMS_S3_SECRET_KEY=S3_SECRET_KEY,
        MEDIA_PART_SIZE=1 * MiB,
    )
    return make_world(app, make_user_for(app))


@pytest.fixture(scope="module")
def two_part_video(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return padded(files.medium, tmp_path_factory.mktemp("sum") / "lecture.mp4", 6 * MiB + 321)


def checksum_events(app: Flask, asset_id: int) -> list[dict[str, Any]]:
    with new_session(app) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "media_checksum")
        ).all()
        return [e.details for e in events if (e.details or {}).get("asset_id") == asset_id]


def test_complete_on_s3_does_not_read_the_object_back(
    s3_world: World, two_part_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = s3_world.app
    client = s3_world.client(s3_world.instructor)
    created = create(client, s3_world.video_lesson_id, two_part_video).get_json()
    assert created["part_count"] == 2
    parts = put_parts(client, created, two_part_video, put=put_with_requests)

    reads: list[str] = []
    real_open = S3Storage.open

    def counting_open(self: S3Storage, key: str) -> Any:
        reads.append(key)
        return real_open(self, key)

    monkeypatch.setattr(S3Storage, "open", counting_open)
    done = client.post(created["urls"]["complete"], json={"parts": parts})
    assert done.status_code == 200, done.get_json()
    assert reads == []  # no byte read back while the browser waits
    asset = load_asset(app, created["asset_id"])
    assert asset is not None and asset.status == MediaStatus.PROCESSING
    assert asset.size == two_part_video.stat().st_size  # the size is still checked
    assert asset.sha256 is None

    with app.app_context():
        tasks.process_video(created["asset_id"])

    asset = load_asset(app, created["asset_id"])
    assert asset is not None and asset.status == MediaStatus.READY, asset and asset.error
    assert reads == [asset.key]  # read once, by the job, which needed the file anyway
    assert asset.sha256 == sha256(two_part_video)
    assert [e["sha256"] for e in checksum_events(app, asset.id)] == [asset.sha256]


def test_a_document_on_s3_gets_its_checksum_from_the_job(s3_world: World, files: Files) -> None:
    app = s3_world.app
    client = s3_world.client(s3_world.instructor)
    asset_id, done = upload(
        client, s3_world.document_lesson_id, files.pdf, kind="document", put=put_with_requests
    )
    assert done.status_code == 200, done.get_json()
    assert load_asset(app, asset_id).sha256 is None  # type: ignore[union-attr]
    with app.app_context():
        tasks.process_document(asset_id)
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY
    assert asset.sha256 == sha256(files.pdf)


def test_a_rejected_file_on_s3_records_no_checksum(s3_world: World, files: Files) -> None:
    app = s3_world.app
    client = s3_world.client(s3_world.instructor)
    asset_id, _ = upload(client, s3_world.video_lesson_id, files.text, put=put_with_requests)
    with app.app_context():
        tasks.process_video(asset_id)
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.FAILED
    assert asset.sha256 is None and checksum_events(app, asset_id) == []


def test_the_local_back_end_records_it_at_complete_as_before(world: World, files: Files) -> None:
    app = world.app
    storage = get_storage(app)
    assert storage.kind == "local"
    asset_id, done = upload(world.client(world.instructor), world.video_lesson_id, files.small)
    assert done.status_code == 200
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY
    assert asset.sha256 == sha256(files.small)
    assert checksum_events(app, asset_id) == []  # known from the start: nothing to add
