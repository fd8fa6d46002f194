"""Files kept back for the published version go after the next publication, and only then.

A replaced or removed lecture file stays while trainees still see it in the published
version; the publication that stops showing it deletes it (row and objects), in a job
queued after the commit. Anything the draft, the published version or a lesson's
settings (a tour's photos ...) refer to is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from lms.catalog.models import Course, Lesson
from lms.catalog.services import publish
from lms.db import new_session
from lms.jobs import JobQueue
from lms.media import services
from lms.media.models import MediaAsset
from lms.storage import Storage, get_storage
from tests.media.conftest import Files, World, load_asset, make_world, upload
from tests.media.test_pipeline_s3 import put_with_requests
from tests.storage.conftest import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, Weed


def _publish(world: World) -> None:
    client = world.client(world.instructor)
    response = client.post(f"/teach/courses/{world.course_id}/publish")
    assert response.status_code == 302, response.get_data(as_text=True)


def _keys(asset: MediaAsset) -> list[str]:
    return services.asset_keys(asset)


def _all_exist(storage: Storage, keys: list[str]) -> bool:
    return all(storage.exists(key) for key in keys)


def _none_exist(storage: Storage, keys: list[str]) -> bool:
    return not any(storage.exists(key) for key in keys)


def _published_then_replaced(
    world: World, files: Files, put: Callable[[str, bytes], tuple[int, str]] | None = None
) -> tuple[MediaAsset, MediaAsset]:
    """A video published, then replaced in the draft: the old one is kept for trainees."""
    client = world.client(world.instructor)
    old_id, done = upload(client, world.video_lesson_id, files.small, put=put)
    assert done.status_code == 200
    _publish(world)
    new_id, done = upload(client, world.video_lesson_id, files.medium, put=put)
    assert done.status_code == 200
    old, new = load_asset(world.app, old_id), load_asset(world.app, new_id)
    assert old is not None and new is not None
    assert old.lesson_id is None and old.info.get("detached_from_lesson")
    return old, new


def _draft_changed(app: Flask, course_id: int) -> bool:
    with new_session(app) as session:
        course = session.get(Course, course_id)
        assert course is not None
        return course.draft_changed


def test_the_next_publication_deletes_the_replaced_file(world: World, files: Files) -> None:
    storage = get_storage(world.app)
    old, new = _published_then_replaced(world, files)
    assert _all_exist(storage, _keys(old))  # trainees still watch it

    _publish(world)

    assert load_asset(world.app, old.id) is None
    assert _none_exist(storage, _keys(old))
    assert load_asset(world.app, new.id) is not None
    assert _all_exist(storage, _keys(new))
    assert not _draft_changed(world.app, world.course_id)  # pruning is not an edit


def test_a_removed_file_goes_with_the_next_publication(world: World, files: Files) -> None:
    storage = get_storage(world.app)
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    _publish(world)
    assert client.post(f"/teach/media/{asset_id}/remove").status_code == 302
    asset = load_asset(world.app, asset_id)
    assert asset is not None and _all_exist(storage, _keys(asset))  # still published

    _publish(world)

    assert load_asset(world.app, asset_id) is None
    assert _none_exist(storage, _keys(asset))


def test_files_named_in_lesson_settings_are_kept(world: World, files: Files) -> None:
    storage = get_storage(world.app)
    old, _new = _published_then_replaced(world, files)
    with new_session(world.app) as session:  # a tour (say) shows the old file as a photo
        lesson = session.get(Lesson, world.reading_lesson_id)
        assert lesson is not None
        lesson.settings = {"tour": {"stops": [{"uid": "s1", "photos": [{"media_id": old.id}]}]}}
        session.commit()

    _publish(world)

    assert load_asset(world.app, old.id) is not None
    assert _all_exist(storage, _keys(old))


@pytest.mark.parametrize(
    "settings",
    [
        {"tour": {"map_media_id": 7}},
        {"tour": {"stops": [{"media_id": 7}, {"photos": [{"media_id": 8}]}]}},
        {"gallery": {"media_ids": [7, 8]}},
    ],
)
def test_settings_media_ids_finds_ids_at_any_depth(settings: dict[str, Any]) -> None:
    found = services.settings_media_ids(settings)
    assert 7 in found
    assert services.settings_media_ids({"tour": {"stops": [{"media_id": None, "x": 7}]}}) == set()
    assert services.settings_media_ids({"flag_media_id": True}) == set()


def test_pruning_never_deletes_what_the_published_version_shows(world: World, files: Files) -> None:
    storage = get_storage(world.app)
    old, _new = _published_then_replaced(world, files)
    with world.app.app_context(), new_session(world.app) as session:
        assert services.prune_detached_assets(session, storage, world.course_id) == 0
        session.commit()
    assert load_asset(world.app, old.id) is not None
    assert _all_exist(storage, _keys(old))


def test_a_publication_that_rolls_back_prunes_nothing(
    world: World, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = get_storage(world.app)
    old, _new = _published_then_replaced(world, files)
    queued: list[tuple[str, tuple[Any, ...]]] = []
    real_enqueue = JobQueue.enqueue

    def recording(self: JobQueue, name: str, *args: Any) -> Any:
        queued.append((name, args))
        return real_enqueue(self, name, *args)

    monkeypatch.setattr(JobQueue, "enqueue", recording)
    with world.app.app_context(), new_session(world.app) as session:
        course = session.get(Course, world.course_id)
        actor = session.get(type(world.instructor), world.instructor.id)
        assert course is not None and actor is not None
        publish(session, actor, course)
        assert queued == []  # nothing before the commit
        session.rollback()
    assert queued == []
    assert load_asset(world.app, old.id) is not None
    assert _all_exist(storage, _keys(old))

    _publish(world)
    assert queued == [("prune_course_media", (world.course_id,))]
    assert load_asset(world.app, old.id) is None


def test_no_job_is_queued_when_nothing_was_kept_back(
    world: World, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(JobQueue, "enqueue", lambda self, name, *args: queued.append(name))
    _publish(world)
    assert "prune_course_media" not in queued


# --- the same on a real S3 server ----------------------------------------------------------


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
        JOBS_IMMEDIATE=True,
    )
    return make_world(app, make_user_for(app))


def test_the_next_publication_deletes_the_replaced_file_on_s3(
    s3_world: World, files: Files
) -> None:
    storage = get_storage(s3_world.app)
    assert storage.kind == "s3"
    old, new = _published_then_replaced(s3_world, files, put=put_with_requests)
    assert _all_exist(storage, _keys(old))

    _publish(s3_world)

    assert load_asset(s3_world.app, old.id) is None
    assert _none_exist(storage, _keys(old))
    assert _all_exist(storage, _keys(new))
