"""Every bad input gets a clear error and leaves nothing behind: no row, no object."""

from __future__ import annotations

import io

import pytest
from flask import Flask

from lms.catalog.models import Lesson
from lms.db import new_session
from lms.media.models import MediaAsset, MediaStatus
from lms.storage import get_storage, new_key
from tests.media.conftest import (
    PART,
    Files,
    World,
    count_assets,
    create,
    load_asset,
    stored_files,
    upload,
)

GiB = 1024**3


def test_a_text_file_named_mp4_fails_with_a_reason_and_no_objects(
    world: World, files: Files
) -> None:
    app = world.app
    client = world.client(world.instructor)
    before = stored_files(app)
    asset_id, done = upload(client, world.video_lesson_id, files.text)
    assert done.status_code == 200  # the upload itself was fine; the content is checked next

    status = client.get(f"/teach/media/{asset_id}/status").get_json()
    assert status["status"] == "failed"
    assert "not a playable video" in status["error"]
    assert status["renditions"] == []
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.FAILED
    assert asset.error and "not a playable video" in asset.error
    assert asset.poster_key is None
    assert not get_storage(app).exists(asset.key)
    assert stored_files(app) == before  # the original went too
    with new_session(app) as session:
        lesson = session.get(Lesson, world.video_lesson_id)
        assert lesson is not None and lesson.media_id is None

    # The instructor sees why, and can dismiss it: then not even the row is left.
    page = client.get(f"/teach/lessons/{world.video_lesson_id}/media").get_data(as_text=True)
    assert "Failed" in page and "not a playable video" in page
    assert "Try processing again" not in page  # nothing left to process
    assert client.post(f"/teach/media/{asset_id}/remove").status_code == 302
    assert count_assets(app) == 0


def test_a_pdf_in_a_video_lesson_is_refused_by_content(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    before = stored_files(world.app)
    renamed = files.pdf.with_name("lecture-pdf.mp4")
    renamed.write_bytes(files.pdf.read_bytes())
    asset_id, _ = upload(client, world.video_lesson_id, renamed)
    status = client.get(f"/teach/media/{asset_id}/status").get_json()
    assert status["status"] == "failed"
    assert "not a playable video (it is a PDF document)" in status["error"]
    assert stored_files(world.app) == before


def test_a_video_in_a_document_lesson_is_refused_by_content(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    before = stored_files(world.app)
    renamed = files.small.with_name("handout-video.pdf")
    renamed.write_bytes(files.small.read_bytes())
    asset_id, _ = upload(client, world.document_lesson_id, renamed, kind="document")
    status = client.get(f"/teach/media/{asset_id}/status").get_json()
    assert status["status"] == "failed" and "not a readable PDF" in status["error"]
    assert stored_files(world.app) == before


@pytest.mark.parametrize("difference", [+10, -10, +PART])
def test_a_size_mismatch_at_complete_removes_row_and_object(
    world: World, files: Files, difference: int
) -> None:
    app = world.app
    client = world.client(world.instructor)
    before = stored_files(app)
    actual = files.small.stat().st_size
    response = create(client, world.video_lesson_id, files.small, size=actual + difference)
    created = response.get_json()
    data = files.small.read_bytes()
    # Send the real bytes in the declared layout; the last part carries the difference.
    urls = client.post(
        created["urls"]["parts"], json={"part_numbers": list(range(1, created["part_count"] + 1))}
    ).get_json()["urls"]
    parts = []
    for number in range(1, created["part_count"] + 1):
        chunk = data[(number - 1) * PART : number * PART]
        if not chunk:
            chunk = b"\0"  # a declared part the file does not have
        reply = client.put(urls[str(number)], data=chunk)
        parts.append({"part_number": number, "etag": reply.headers["ETag"]})
    done = client.post(created["urls"]["complete"], json={"parts": parts})
    assert done.status_code == 400
    assert "instead of" in done.get_json()["error"]["message"]
    assert count_assets(app) == 0
    assert stored_files(app) == before


@pytest.mark.parametrize(
    ("lesson", "kind", "size"),
    [("video", "video", 9 * GiB), ("document", "document", 101 * 1024**2)],
)
def test_too_large_is_refused_before_anything_exists(
    world: World, files: Files, lesson: str, kind: str, size: int
) -> None:
    app = world.app
    client = world.client(world.instructor)
    before = stored_files(app)
    lesson_id = world.video_lesson_id if lesson == "video" else world.document_lesson_id
    response = create(client, lesson_id, files.small, kind=kind, size=size)
    assert response.status_code == 413
    assert "too large" in response.get_json()["error"]["message"]
    assert count_assets(app) == 0
    assert stored_files(app) == before


def test_the_size_limit_comes_from_the_config(app_factory, make_user_for, files: Files) -> None:
    from tests.media.conftest import make_world

    app = app_factory(JOBS_IMMEDIATE=True, MEDIA_MAX_VIDEO_MB=1)
    world = make_world(app, make_user_for(app))
    client = world.client(world.instructor)
    response = create(client, world.video_lesson_id, files.small, size=2 * 1024**2)
    assert response.status_code == 413
    assert "1 MB" in response.get_json()["error"]["message"]
    assert create(client, world.video_lesson_id, files.small).status_code == 201


@pytest.mark.parametrize("size", [0, -5, "12", True])
def test_empty_or_malformed_size_is_refused(world: World, files: Files, size: object) -> None:
    client = world.client(world.instructor)
    response = create(client, world.video_lesson_id, files.small, size=size)
    assert response.status_code == 400
    assert count_assets(world.app) == 0


def test_not_json_is_refused(world: World) -> None:
    client = world.client(world.instructor)
    response = client.post(f"/teach/lessons/{world.video_lesson_id}/uploads", data="x")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "Send a JSON object."


def test_an_upload_the_storage_forgot_is_discarded(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    created = create(client, world.video_lesson_id, files.small).get_json()
    with new_session(app) as session:
        asset = session.get(MediaAsset, created["asset_id"])
        assert asset is not None and asset.upload is not None
        get_storage(app).abort_multipart(asset.key, asset.upload.upload_id)
    response = client.get(created["urls"]["state"])
    assert response.status_code == 410
    assert count_assets(app) == 0


# --- captions ---------------------------------------------------------------------------


@pytest.fixture
def ready_video(world: World) -> int:
    """A READY 2-second video on the video lesson (no real processing needed)."""
    app = world.app
    with new_session(app) as session:
        key = new_key("media", "lecture.mp4")
        get_storage(app).put(key, io.BytesIO(b"not really a video"))
        asset = MediaAsset(
            course_id=world.course_id,
            lesson_id=world.video_lesson_id,
            kind="video",
            filename="lecture.mp4",
            key=key,
            status=MediaStatus.READY,
            progress=1.0,
            duration=2.0,
            info={},
        )
        session.add(asset)
        session.flush()
        lesson = session.get(Lesson, world.video_lesson_id)
        assert lesson is not None
        lesson.media_id = asset.id
        session.commit()
        return asset.id


def post_caption(client, asset_id: int, data: bytes, language: str = "en", name: str = "c.vtt"):
    return client.post(
        f"/teach/media/{asset_id}/captions",
        data={"caption-language": language, "caption-file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def caption_count(app: Flask) -> int:
    from sqlalchemy import func, select

    from lms.media.models import Caption

    with new_session(app) as session:
        return session.scalar(select(func.count()).select_from(Caption)) or 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHi\n\n00:00:01,5 --> 2\nBad\n", "Line 6:"),
        (
            b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nB\n\n00:00:00.000 --> 00:00:00.500\nA\n",
            "Line 6: the times go backwards",
        ),
        (
            b"1\n00:00:00,000 --> 00:00:01,000\nHi\n\n2\n00:00:01,000 --> 00:00:09,000\nLate\n",
            "Line 6: the cue ends at 00:00:09.000, after the end of the video",
        ),
        (b"\xff\xfe\x00garbage", "Line 1:"),
    ],
)
def test_a_bad_caption_is_refused_with_its_line(
    world: World, ready_video: int, body: bytes, expected: str
) -> None:
    app = world.app
    client = world.client(world.instructor)
    before = stored_files(app)
    name = "c.srt" if body.startswith(b"1\n") else "c.vtt"
    response = post_caption(client, ready_video, body, name=name)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert expected in html, html
    assert caption_count(app) == 0
    assert stored_files(app) == before


def test_captions_wait_until_the_video_is_ready(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    created = create(client, world.video_lesson_id, files.small).get_json()
    response = post_caption(client, created["asset_id"], files.vtt.read_bytes())
    assert response.status_code == 400
    assert "once the video is processed and ready" in response.get_data(as_text=True)
    assert caption_count(app) == 0


def test_a_too_large_caption_file_is_refused(app_factory, make_user_for) -> None:
    from tests.media.conftest import make_world

    app = app_factory(JOBS_IMMEDIATE=True, MEDIA_MAX_CAPTION_KB=1)
    world = make_world(app, make_user_for(app))
    with new_session(app) as session:
        asset = MediaAsset(
            course_id=world.course_id,
            kind="video",
            filename="v.mp4",
            key=new_key("media", "v.mp4"),
            status=MediaStatus.READY,
            duration=5000.0,
            info={},
        )
        session.add(asset)
        session.commit()
        asset_id = asset.id
    cues = "".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\nLine {i}\n\n" for i in range(60))
    response = post_caption(world.client(world.instructor), asset_id, cues.encode())
    assert response.status_code == 400 or response.status_code == 413
    assert caption_count(app) == 0


# --- who may do what --------------------------------------------------------------------


def endpoints(world: World, asset_id: int, caption_id: int) -> list[tuple[str, str, dict]]:
    lesson = world.video_lesson_id
    base = f"/teach/lessons/{lesson}/uploads"
    return [
        ("POST", base, {"json": {"filename": "a.mp4", "size": 10, "kind": "video"}}),
        ("GET", f"{base}/{asset_id}", {}),
        ("POST", f"{base}/{asset_id}/parts", {"json": {"part_numbers": [1]}}),
        ("POST", f"{base}/{asset_id}/complete", {"json": {"parts": []}}),
        ("DELETE", f"{base}/{asset_id}", {}),
        ("GET", f"/teach/media/{asset_id}/status", {}),
        ("GET", f"/teach/lessons/{lesson}/media", {}),
        ("POST", f"/teach/media/{asset_id}/captions", {"data": {}}),
        ("POST", f"/teach/media/{asset_id}/captions/{caption_id}/delete", {"data": {}}),
        ("POST", f"/teach/media/{asset_id}/retry", {"data": {}}),
        ("POST", f"/teach/media/{asset_id}/remove", {"data": {}}),
    ]


@pytest.fixture
def captioned(world: World, ready_video: int) -> tuple[int, int]:
    client = world.client(world.instructor)
    vtt = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n"
    assert post_caption(client, ready_video, vtt).status_code == 302
    with new_session(world.app) as session:
        asset = session.get(MediaAsset, ready_video)
        assert asset is not None
        return ready_video, asset.captions[0].id


@pytest.mark.parametrize("who", ["other_instructor", "trainee", "anonymous"])
def test_people_who_cannot_edit_the_course_are_refused_everywhere(
    world: World, captioned: tuple[int, int], who: str
) -> None:
    app = world.app
    asset_id, caption_id = captioned
    user = None if who == "anonymous" else getattr(world, who)
    client = world.client(user)
    before = (count_assets(app), caption_count(app), stored_files(app))
    for method, url, kwargs in endpoints(world, asset_id, caption_id):
        response = client.open(url, method=method, **kwargs)
        if who == "anonymous":
            assert response.status_code in (302, 401), (method, url, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"]
        else:
            assert response.status_code == 403, (method, url, response.status_code)
    assert (count_assets(app), caption_count(app), stored_files(app)) == before
    # The transcript is only for people who may view the course; to them it does not exist.
    transcript = client.get(f"/media/captions/{caption_id}/transcript")
    assert transcript.status_code == 404 or (
        who == "anonymous" and transcript.status_code in (302, 401)
    )


def test_an_admin_may_edit_any_course(
    world: World, files: Files, captioned: tuple[int, int]
) -> None:
    asset_id, _caption_id = captioned
    client = world.client(world.admin)
    assert client.get(f"/teach/media/{asset_id}/status").status_code == 200
    assert client.get(f"/teach/lessons/{world.video_lesson_id}/media").status_code == 200
    assert create(client, world.video_lesson_id, files.small).status_code == 201


def test_an_upload_of_another_lesson_is_not_found(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    created = create(client, world.video_lesson_id, files.small).get_json()
    other = f"/teach/lessons/{world.document_lesson_id}/uploads/{created['asset_id']}"
    assert client.get(other).status_code == 404
    assert client.post(other + "/complete", json={}).status_code == 404
    assert client.delete(other).status_code == 404
    assert load_asset(world.app, created["asset_id"]) is not None
