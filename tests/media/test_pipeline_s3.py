"""The same upload and processing against a real S3 server (SeaweedFS): presigned parts
PUT straight to the bucket, renditions written back to it, nothing left behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask

from lms.media.models import MediaStatus
from lms.storage import get_storage
from tests.media.conftest import (
    Files,
    MiB,
    World,
    count_assets,
    create,
    load_asset,
    make_world,
    padded,
    put_parts,
    sha256,
)
from tests.storage.conftest import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, Weed, s3_client


@pytest.fixture
def s3_app(app_factory: Callable[..., Flask], weed: Weed) -> Flask:
    return app_factory(
        LMS_STORAGE="s3",
        LMS_S3_ENDPOINT_URL=weed.endpoint_url,
        LMS_S3_BUCKET=S3_BUCKET,
        LMS_S3_ACCESS_KEY=S3_ACCESS_KEY,
        LMS_S3_SECRET_KEY=S3_SECRET_KEY,
        JOBS_IMMEDIATE=True,
        MEDIA_PART_SIZE=1 * MiB,  # raised to S3's 5 MiB minimum by the server
    )


@pytest.fixture
def s3_world(s3_app: Flask, make_user_for) -> World:
    return make_world(s3_app, make_user_for(s3_app))


def bucket_keys(weed: Weed) -> set[str]:
    client = s3_client(weed.endpoint_url)
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def open_uploads(weed: Weed) -> set[str]:
    listing = s3_client(weed.endpoint_url).list_multipart_uploads(Bucket=S3_BUCKET)
    return {u["UploadId"] for u in listing.get("Uploads", [])}


def put_with_requests(url: str, chunk: bytes) -> tuple[int, str]:
    """What the browser does: a plain PUT to the presigned URL, no credentials."""
    assert url.startswith("http://127.0.0.1:")
    response = requests.put(url, data=chunk, timeout=30)
    return response.status_code, response.headers.get("ETag", "")


@pytest.fixture(scope="module")
def big_video(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real video padded past one S3 part (5 MiB): two parts."""
    return padded(files.medium, tmp_path_factory.mktemp("s3") / "lecture.mp4", 6 * MiB + 12345)


def test_presigned_multipart_upload_and_renditions_on_s3(
    s3_world: World, big_video: Path, weed: Weed
) -> None:
    app = s3_world.app
    client = s3_world.client(s3_world.instructor)
    before = bucket_keys(weed)

    created = create(client, s3_world.video_lesson_id, big_video).get_json()
    assert created["part_size"] == 5 * MiB and created["part_count"] == 2
    first = put_parts(client, created, big_video, [1], put=put_with_requests)
    state = client.get(created["urls"]["state"]).get_json()
    assert [p["part_number"] for p in state["parts"]] == [1]  # resumable from the bucket
    second = put_parts(client, created, big_video, [2], put=put_with_requests)
    done = client.post(created["urls"]["complete"], json={"parts": first + second})
    assert done.status_code == 200, done.get_json()

    asset = load_asset(app, created["asset_id"])
    assert asset is not None and asset.status == MediaStatus.READY, asset and asset.error
    assert asset.sha256 == sha256(big_video)
    assert asset.size == big_video.stat().st_size
    storage = get_storage(app)
    assert storage.kind == "s3"
    assert storage.exists(asset.key) and storage.size(asset.key) == asset.size
    assert asset.poster_key and storage.exists(asset.poster_key)
    assert sorted(r.name for r in asset.renditions) == ["240p", "360p", "audio"]
    for rendition in asset.renditions:
        assert storage.exists(rendition.key)
        assert storage.size(rendition.key) == rendition.size
    expected = {asset.key, asset.poster_key, *(r.key for r in asset.renditions)}
    assert bucket_keys(weed) - before == expected
    assert created["upload_id"] not in open_uploads(weed)

    # A renditions' URL is presigned on the S3 server and plays from there.
    url = storage.url(asset.renditions[0].key)
    assert requests.get(url, headers={"Range": "bytes=0-99"}, timeout=30).status_code == 206


def test_bad_content_on_s3_leaves_no_object(s3_world: World, files: Files, weed: Weed) -> None:
    client = s3_world.client(s3_world.instructor)
    before = bucket_keys(weed)
    created = create(client, s3_world.video_lesson_id, files.text).get_json()
    parts = put_parts(client, created, files.text, put=put_with_requests)
    client.post(created["urls"]["complete"], json={"parts": parts})
    status = client.get(created["urls"]["status"]).get_json()
    assert status["status"] == "failed" and "not a playable video" in status["error"]
    assert bucket_keys(weed) == before


def test_size_mismatch_and_abort_on_s3_leave_nothing(
    s3_world: World, files: Files, weed: Weed
) -> None:
    app = s3_world.app
    client = s3_world.client(s3_world.instructor)
    before = bucket_keys(weed)
    size = files.small.stat().st_size
    created = create(client, s3_world.video_lesson_id, files.small, size=size + 1).get_json()
    parts = put_parts(client, created, files.small, put=put_with_requests)
    done = client.post(created["urls"]["complete"], json={"parts": parts})
    assert done.status_code == 400
    assert count_assets(app) == 0
    assert bucket_keys(weed) == before

    created = create(client, s3_world.video_lesson_id, files.small).get_json()
    put_parts(client, created, files.small, put=put_with_requests)
    assert created["upload_id"] in open_uploads(weed)
    assert client.delete(created["urls"]["abort"]).status_code == 204
    assert created["upload_id"] not in open_uploads(weed)
    assert count_assets(app) == 0
    assert bucket_keys(weed) == before
