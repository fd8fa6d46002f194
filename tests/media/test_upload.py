"""The resumable upload API on the local back-end, from create to a processed video."""

from __future__ import annotations

import pytest
from flask import Flask

from lms.catalog.models import Lesson
from lms.db import new_session
from lms.media.models import MediaAsset, MediaStatus
from lms.storage import get_storage
from tests.conftest import csrf_token_from
from tests.media.conftest import (
    PART,
    Files,
    World,
    count_assets,
    create,
    load_asset,
    parts_of,
    put_parts,
    sha256,
    stored_files,
    upload,
)


def lesson_media_id(app: Flask, lesson_id: int) -> int | None:
    with new_session(app) as session:
        lesson = session.get(Lesson, lesson_id)
        assert lesson is not None
        return lesson.media_id


def test_upload_in_parts_resume_complete_and_process(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    path = files.medium
    size = path.stat().st_size

    response = create(client, world.video_lesson_id, path)
    assert response.status_code == 201
    created = response.get_json()
    assert created["part_size"] == PART
    assert created["part_count"] == parts_of(size) >= 3
    assert created["upload_id"]
    assert created["status"] == "uploading"

    # Half of the parts, then the connection "drops": the state lists what arrived.
    half = created["part_count"] // 2
    first = put_parts(client, created, path, list(range(1, half + 1)))
    state = client.get(created["urls"]["state"]).get_json()
    assert [p["part_number"] for p in state["parts"]] == list(range(1, half + 1))
    assert state["uploaded_bytes"] == half * PART
    assert {p["etag"] for p in state["parts"]} == {p["etag"] for p in first}

    # Resuming sends only the missing parts.
    rest = put_parts(client, created, path, list(range(half + 1, created["part_count"] + 1)))
    done = client.post(created["urls"]["complete"], json={"parts": first + rest})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "processing"  # the answer precedes the commit

    # JOBS_IMMEDIATE: the job ran when the request committed.
    status = client.get(created["urls"]["status"]).get_json()
    assert status["status"] == "ready", status
    assert status["progress"] == 1.0
    assert status["error"] is None
    assert [r["name"] for r in status["renditions"]] == ["audio", "240p", "360p"]  # by bit rate

    asset = load_asset(app, created["asset_id"])
    assert asset is not None and asset.status == MediaStatus.READY
    assert asset.sha256 == sha256(path)
    assert asset.size == size
    assert asset.upload is None
    assert asset.width == 640 and asset.height == 360
    assert asset.duration == pytest.approx(2, abs=0.2)
    assert asset.info["video_codec"] == "h264" and asset.info["audio_codec"] == "aac"
    storage = get_storage(app)
    assert storage.exists(asset.key)  # the original is kept
    assert storage.size(asset.key) == size
    assert asset.poster_key and storage.exists(asset.poster_key)
    heights = {r.name: r.height for r in asset.renditions}
    assert heights == {"240p": 240, "360p": 360, "audio": None}
    for rendition in asset.renditions:
        assert storage.exists(rendition.key)
        assert storage.size(rendition.key) == rendition.size
    assert lesson_media_id(app, world.video_lesson_id) == asset.id
    assert [f for f in stored_files(app) if f.startswith(".uploads")] == []


def test_small_source_gets_240p_and_audio_only(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    asset_id, done = upload(client, world.video_lesson_id, files.small)
    assert done.status_code == 200
    asset = load_asset(world.app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY
    assert sorted(r.name for r in asset.renditions) == ["240p", "audio"]


def test_a_new_upload_replaces_the_lesson_file_only_when_ready(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    first_id, _ = upload(client, world.video_lesson_id, files.small)
    first = load_asset(app, first_id)
    assert first is not None
    old_keys = [first.key, first.poster_key, *(r.key for r in first.renditions)]

    # A second upload in progress: the lesson keeps its working file meanwhile.
    created = create(client, world.video_lesson_id, files.medium).get_json()
    assert lesson_media_id(app, world.video_lesson_id) == first_id
    page = client.get(f"/teach/lessons/{world.video_lesson_id}/media").get_data(as_text=True)
    assert "New file" in page and "Current file" in page

    parts = put_parts(client, created, files.medium)
    client.post(created["urls"]["complete"], json={"parts": parts})
    assert lesson_media_id(app, world.video_lesson_id) == created["asset_id"]
    assert load_asset(app, first_id) is None  # never published: deleted with its objects
    storage = get_storage(app)
    assert not any(storage.exists(key) for key in old_keys if key)


def test_a_rejected_replacement_leaves_the_current_file(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    first_id, _ = upload(client, world.video_lesson_id, files.small)
    bad_id, _ = upload(client, world.video_lesson_id, files.text)
    assert load_asset(app, bad_id).status == MediaStatus.FAILED  # type: ignore[union-attr]
    assert lesson_media_id(app, world.video_lesson_id) == first_id
    page = client.get(f"/teach/lessons/{world.video_lesson_id}/media").get_data(as_text=True)
    assert "not a playable video" in page


def test_starting_again_discards_an_unfinished_upload(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    before = stored_files(app)
    abandoned = create(client, world.video_lesson_id, files.small).get_json()
    put_parts(client, abandoned, files.small, [1])
    assert stored_files(app) != before
    response = create(client, world.video_lesson_id, files.small)
    assert response.status_code == 201, response.get_json()
    fresh = response.get_json()
    # (SQLite may give the new row the old id: compare uploads, not ids.)
    assert count_assets(app) == 1
    assert not any(abandoned["upload_id"] in name for name in stored_files(app))
    assert client.delete(fresh["urls"]["abort"]).status_code == 204
    assert count_assets(app) == 0
    assert stored_files(app) == before


def test_pdf_handout_is_checked_and_counted(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    asset_id, done = upload(client, world.document_lesson_id, files.pdf, kind="document")
    assert done.status_code == 200
    asset = load_asset(world.app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY
    assert asset.info["pages"] == 3
    assert asset.content_type == "application/pdf"
    assert lesson_media_id(world.app, world.document_lesson_id) == asset_id


def test_the_editor_partial_shows_the_ready_video(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    upload(client, world.video_lesson_id, files.medium)
    page = client.get(f"/teach/lessons/{world.video_lesson_id}/media")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("Ready", "240p", "360p", "Audio only", "SHA-256", "Add captions", "js/upload.js"):
        assert text in html, text
    assert 'aria-live="polite"' in html
    assert "style=" not in html and "onclick" not in html
    panel = client.get(f"/teach/lessons/{world.video_lesson_id}/media?panel=1&next=/x")
    assert panel.status_code == 200
    assert "<html" not in panel.get_data(as_text=True)


def test_lesson_without_file_and_unknown_lesson(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    response = create(client, world.reading_lesson_id, files.small)
    assert response.status_code == 400
    assert count_assets(world.app) == 0
    assert create(client, 999_999, files.small).status_code == 404
    wrong_kind = create(client, world.video_lesson_id, files.pdf, kind="document")
    assert wrong_kind.status_code == 400


def test_complete_with_missing_parts_says_which(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    created = create(client, world.video_lesson_id, files.small).get_json()
    put_parts(client, created, files.small, [1])
    response = client.post(created["urls"]["complete"], json={"parts": []})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["missing_parts"] == list(range(2, created["part_count"] + 1))
    # still resumable
    assert client.get(created["urls"]["state"]).get_json()["status"] == "uploading"


def test_part_urls_are_checked(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    created = create(client, world.video_lesson_id, files.small).get_json()
    url = created["urls"]["parts"]
    assert client.post(url, json={"part_numbers": [0]}).status_code == 400
    assert client.post(url, json={"part_numbers": [created["part_count"] + 1]}).status_code == 400
    assert client.post(url, json={"part_numbers": "1"}).status_code == 400
    assert client.post(url, json={"part_numbers": list(range(1, 102))}).status_code == 400


@pytest.fixture
def csrf_app(app_factory) -> Flask:
    return app_factory(JOBS_IMMEDIATE=True, MEDIA_PART_SIZE=PART, WTF_CSRF_ENABLED=True)


def test_json_writes_need_the_csrf_header(csrf_app: Flask, make_user_for, files: Files) -> None:
    from tests.media.conftest import make_world

    world = make_world(csrf_app, make_user_for(csrf_app))
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = csrf_token_from(page)
    client.post(
        "/login",
        data={
            "email": world.instructor.email,
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    refused = create(client, world.video_lesson_id, files.small)
    assert refused.status_code == 400
    assert count_assets(csrf_app) == 0
    html = client.get(f"/teach/lessons/{world.video_lesson_id}/media").get_data(as_text=True)
    token = csrf_token_from(html.replace('data-csrf="', 'name="csrf_token" value="', 1))
    body = {"filename": "a.mp4", "size": files.small.stat().st_size, "kind": "video"}
    accepted = client.post(
        f"/teach/lessons/{world.video_lesson_id}/uploads",
        json=body,
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201


def test_asset_status_payload_for_an_unfinished_upload(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    created = create(client, world.video_lesson_id, files.small).get_json()
    status = client.get(created["urls"]["status"]).get_json()
    assert status["status"] == "uploading"
    assert status["renditions"] == []
    with new_session(world.app) as session:
        asset = session.get(MediaAsset, created["asset_id"])
        assert asset is not None and asset.lesson_id == world.video_lesson_id


def test_remove_media_from_the_lesson(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    before = stored_files(app)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    response = client.post(f"/teach/media/{asset_id}/remove", data={"next": "/"})
    assert response.status_code == 302
    assert lesson_media_id(app, world.video_lesson_id) is None
    assert count_assets(app) == 0
    assert stored_files(app) == before


def test_path_in_the_file_name_is_dropped(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    response = create(client, world.video_lesson_id, files.small, filename="../../etc/x\x00.mp4")
    assert response.status_code == 201
    assert response.get_json()["filename"] == "x.mp4"


def test_the_lesson_editor_includes_the_media_box(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    upload(client, world.video_lesson_id, files.small)
    editor = f"/teach/courses/{world.course_id}/lessons/{world.video_lesson_id}"
    response = client.get(editor)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for expected in ("data-upload", "Current file", "240p", "Add captions", "js/upload.js"):
        assert expected in html, expected
    assert f'name="next" value="{editor}' in html  # the forms come back to the editor
    assert "css/media.css" in html


def test_a_declared_content_type_outside_the_kind_is_not_kept(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    response = create(client, world.video_lesson_id, files.small, content_type="text/html")
    assert response.status_code == 201
    asset = load_asset(world.app, response.get_json()["asset_id"])
    assert asset is not None and asset.content_type == "application/octet-stream"
    response = create(client, world.video_lesson_id, files.small, content_type="video/quicktime")
    asset = load_asset(world.app, response.get_json()["asset_id"])
    assert asset is not None and asset.content_type == "video/quicktime"
