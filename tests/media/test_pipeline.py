"""Processing on the real task queue: a consumer, retries with back-off, failures, progress."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

import lms.jobs
from lms.db import new_session
from lms.jobs import JobSpec
from lms.media import services, tasks
from lms.media.models import MediaAsset, MediaStatus
from lms.storage import StorageError, get_storage
from tests.media.conftest import (
    PART,
    Files,
    World,
    count_assets,
    load_asset,
    make_world,
    stored_files,
    upload,
    wait_for,
)


def status_of(app: Flask, asset_id: int) -> str | None:
    asset = load_asset(app, asset_id)
    return asset.status if asset is not None else None


def finished(app: Flask, asset_id: int) -> Callable[[], bool]:
    return lambda: status_of(app, asset_id) in (MediaStatus.READY, MediaStatus.FAILED)


@pytest.fixture
def queued_app(app_factory: Callable[..., Flask]) -> Flask:
    """Jobs go to the SQLite queue in the instance folder, for a consumer to run."""
    return app_factory(MEDIA_PART_SIZE=PART, MEDIA_PROGRESS_INTERVAL=0.2)


@pytest.fixture
def queued_world(queued_app: Flask, make_user_for) -> World:
    return make_world(queued_app, make_user_for(queued_app))


def test_a_real_consumer_processes_the_upload(
    queued_world: World, files: Files, consumer, tmp_path: Path
) -> None:
    app = queued_world.app
    client = queued_world.client(queued_world.instructor)
    asset_id, done = upload(client, queued_world.video_lesson_id, files.small)
    assert done.status_code == 200
    # Queued, not run: no consumer yet. The job waits in the SQLite queue file.
    assert status_of(app, asset_id) == MediaStatus.PROCESSING
    assert Path(app.instance_path, "jobs.db").exists()
    assert lms.jobs.get_jobs(app).huey.pending_count() == 1

    consumer(app)
    wait_for(finished(app, asset_id))
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY, asset and asset.error
    assert sorted(r.name for r in asset.renditions) == ["240p", "audio"]
    page = client.get(f"/teach/lessons/{queued_world.video_lesson_id}/media").get_data(as_text=True)
    assert "Ready" in page and "240p" in page


class FlakyStorage:
    """Makes ``storage.open`` fail ``failures`` times (or always) like an unreachable store."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch, failures: int | None) -> None:
        self.storage = get_storage(app)
        self.real_open = self.storage.open
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()
        monkeypatch.setattr(self.storage, "open", self.open)

    def open(self, key: str):
        with self.lock:
            self.calls += 1
            failing = self.failures is None or self.calls <= self.failures
        if failing:
            raise StorageError("cannot reach http://storage.invalid: connection refused")
        return self.real_open(key)

    def heal(self) -> None:
        self.failures = 0


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two retries one and two seconds apart instead of 10, 20, 40 s."""
    for name in ("process_video", "process_document", "process_image"):
        spec = lms.jobs._JOBS[name]
        monkeypatch.setitem(lms.jobs._JOBS, name, JobSpec(spec.func, retries=2, retry_delay=1))


def test_a_transient_failure_is_retried_until_it_works(
    fast_retries, app_factory, make_user_for, files: Files, consumer, monkeypatch
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART)
    world = make_world(app, make_user_for(app))
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    flaky = FlakyStorage(app, monkeypatch, failures=2)
    notices: list[str] = []
    real_retrying = tasks._retrying

    def spy(session, storage, run, failed_id):
        real_retrying(session, storage, run, failed_id)
        with app.test_request_context():
            asset = load_asset(app, failed_id)
            assert asset is not None
            notices.append(services.asset_notice(asset))

    monkeypatch.setattr(tasks, "_retrying", spy)
    consumer(app)
    wait_for(finished(app, asset_id))
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY, asset and asset.error
    assert flaky.calls == 3  # two failures, then the third attempt worked
    assert notices and all("tried again automatically" in n for n in notices)
    assert "notice" not in asset.info


def test_a_failure_that_lasts_marks_the_asset_failed_with_its_reason(
    fast_retries, app_factory, make_user_for, files: Files, consumer, monkeypatch
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART)
    world = make_world(app, make_user_for(app))
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    flaky = FlakyStorage(app, monkeypatch, failures=None)
    consumer(app)
    wait_for(finished(app, asset_id))
    assert flaky.calls == 3  # the first try and two retries

    status = client.get(f"/teach/media/{asset_id}/status").get_json()
    assert status["status"] == "failed"
    assert "storage could not be reached" in status["error"]
    asset = load_asset(app, asset_id)
    assert asset is not None
    assert asset.info["original_kept"] is True
    assert get_storage(app).exists(asset.key)  # kept, so no new upload is needed
    page = client.get(f"/teach/lessons/{world.video_lesson_id}/media").get_data(as_text=True)
    assert "storage could not be reached" in page and "Try processing again" in page

    # The store is back: the instructor tries again, without uploading again.
    flaky.heal()
    response = client.post(f"/teach/media/{asset_id}/retry")
    assert response.status_code == 302
    wait_for(lambda: status_of(app, asset_id) == MediaStatus.READY)


def test_bad_content_is_final_at_once_without_retries(
    fast_retries, app_factory, make_user_for, files: Files, consumer, monkeypatch
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART)
    world = make_world(app, make_user_for(app))
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.text)
    flaky = FlakyStorage(app, monkeypatch, failures=0)  # counts the attempts
    consumer(app)
    wait_for(finished(app, asset_id))
    assert status_of(app, asset_id) == MediaStatus.FAILED
    assert flaky.calls == 1


# --- the job called directly (JOBS_IMMEDIATE apps or none at all) --------------------------


def run_job(app: Flask, name: str, asset_id: int, final_attempt: bool = True) -> None:
    with app.app_context():
        getattr(tasks, name)(asset_id, final_attempt=final_attempt)


def test_progress_rises_and_is_written_throttled(
    app_factory, make_user_for, files: Files, monkeypatch
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART, MEDIA_PROGRESS_INTERVAL=0)
    world = make_world(app, make_user_for(app))
    asset_id, _ = upload(world.client(world.instructor), world.video_lesson_id, files.medium)
    written: list[float] = []
    real = tasks.Run.progress

    def record(self, value, *, force=False):
        before = self._last_write
        real(self, value, force=force)
        if self._last_write != before:
            written.append(value)

    monkeypatch.setattr(tasks.Run, "progress", record)
    run_job(app, "process_video", asset_id)
    assert status_of(app, asset_id) == MediaStatus.READY
    assert len(written) >= 4
    assert written == sorted(written) and written[0] > 0 and written[-1] <= 1.0
    assert load_asset(app, asset_id).progress == 1.0  # type: ignore[union-attr]

    # With the default interval (1 s) a short video writes only a few times.
    assert tasks.Run.__init__  # the interval comes from MEDIA_PROGRESS_INTERVAL


def test_a_non_final_failure_raises_for_huey_to_retry(
    app_factory, make_user_for, files: Files, monkeypatch
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART)
    world = make_world(app, make_user_for(app))
    asset_id, _ = upload(world.client(world.instructor), world.video_lesson_id, files.small)
    FlakyStorage(app, monkeypatch, failures=None)
    with pytest.raises(StorageError):
        run_job(app, "process_video", asset_id, final_attempt=False)
    assert status_of(app, asset_id) == MediaStatus.PROCESSING
    run_job(app, "process_video", asset_id, final_attempt=True)  # no raise: recorded instead
    assert status_of(app, asset_id) == MediaStatus.FAILED


def test_deleting_the_asset_while_it_is_processed_stops_the_job(
    app_factory, make_user_for, files: Files, monkeypatch
) -> None:
    app = app_factory(MEDIA_PART_SIZE=PART)
    world = make_world(app, make_user_for(app))
    client = world.client(world.instructor)
    before = stored_files(app)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    real_transcode = tasks.transcode

    def transcode_then_removed(src, dest, rendition, **kwargs):
        if rendition.name == "audio":  # the 240p rendition is stored by now
            response = client.post(f"/teach/media/{asset_id}/remove")
            assert response.status_code == 302
        return real_transcode(src, dest, rendition, **kwargs)

    monkeypatch.setattr(tasks, "transcode", transcode_then_removed)
    run_job(app, "process_video", asset_id)
    assert count_assets(app) == 0
    assert stored_files(app) == before


def test_a_missing_or_finished_asset_is_left_alone(world: World, files: Files) -> None:
    run_job(world.app, "process_video", 123_456)  # no such row: nothing happens
    asset_id, _ = upload(world.client(world.instructor), world.video_lesson_id, files.small)
    asset = load_asset(world.app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY
    keys = sorted(r.key for r in asset.renditions)
    run_job(world.app, "process_video", asset_id)  # READY already: not redone
    again = load_asset(world.app, asset_id)
    assert again is not None and sorted(r.key for r in again.renditions) == keys


def test_a_retry_starts_from_a_clean_slate(
    app_factory, make_user_for, files: Files, monkeypatch
) -> None:
    """Outputs of an interrupted attempt (rows and objects) are replaced, not doubled."""
    app = app_factory(MEDIA_PART_SIZE=PART)
    world = make_world(app, make_user_for(app))
    asset_id, _ = upload(world.client(world.instructor), world.video_lesson_id, files.small)
    real_transcode = tasks.transcode

    def fail_on_audio(src, dest, rendition, **kwargs):
        if rendition.name == "audio":
            raise OSError("No space left on device")
        return real_transcode(src, dest, rendition, **kwargs)

    monkeypatch.setattr(tasks, "transcode", fail_on_audio)
    with pytest.raises(OSError):
        run_job(app, "process_video", asset_id, final_attempt=False)
    monkeypatch.setattr(tasks, "transcode", real_transcode)
    run_job(app, "process_video", asset_id)
    asset = load_asset(app, asset_id)
    assert asset is not None and asset.status == MediaStatus.READY
    assert sorted(r.name for r in asset.renditions) == ["240p", "audio"]
    objects = stored_files(app)
    assert len(objects) == 1 + 1 + 2  # original, poster, two renditions: nothing doubled


def test_ingested_files_are_processed_like_uploads(world: World, files: Files, tmp_path) -> None:
    """Course packages hand files over with services.ingest_file."""
    from lms.catalog.models import Lesson
    from lms.media.synth import make_equirectangular_image

    app = world.app
    image = make_equirectangular_image(tmp_path / "plant.jpg", width=512)
    with app.app_context(), new_session(app) as session:
        lesson = session.get(Lesson, world.document_lesson_id)
        pdf = services.ingest_file(
            session,
            get_storage(app),
            path=files.pdf,
            filename="handout.pdf",
            kind="document",
            lesson=lesson,
        )
        picture = services.ingest_file(
            session,
            get_storage(app),
            path=image,
            filename="plant.jpg",
            kind="image",
            course_id=world.course_id,
        )
        session.commit()  # JOBS_IMMEDIATE: both jobs run now
        ids = pdf.id, picture.id
    with new_session(app) as session:
        done = {a.id: a for a in session.scalars(select(MediaAsset).where(MediaAsset.id.in_(ids)))}
        assert done[ids[0]].status == MediaStatus.READY and done[ids[0]].info["pages"] == 3
        assert done[ids[1]].status == MediaStatus.READY
        assert (done[ids[1]].width, done[ids[1]].height) == (512, 256)
        assert done[ids[1]].content_type == "image/jpeg"
        lesson = session.get(Lesson, world.document_lesson_id)
        assert lesson is not None and lesson.media_id == ids[0]


def test_failure_reasons_are_shown_in_the_reader_language(world: World, files: Files) -> None:
    """Stored as message id and parameters, translated when read."""
    asset_id, _ = upload(world.client(world.instructor), world.video_lesson_id, files.text)
    asset = load_asset(world.app, asset_id)
    assert asset is not None
    stored = asset.info["error_message"]
    assert stored["msgid"] == "The file is not a playable video (%(reason)s)."
    assert stored["params"]["reason"]["msgid"]
    with world.app.test_request_context(headers={"Accept-Language": "en"}):
        assert services.asset_error(asset).startswith("The file is not a playable video (")


def test_a_stalled_job_can_be_started_again(queued_world: World, files: Files, consumer) -> None:
    """A worker killed mid-job leaves the asset PROCESSING: after a long silence the
    instructor may start it again."""
    from datetime import timedelta

    from sqlalchemy import update

    from lms.db import utcnow

    app = queued_world.app
    client = queued_world.client(queued_world.instructor)
    asset_id, _ = upload(client, queued_world.video_lesson_id, files.small)
    assert client.post(f"/teach/media/{asset_id}/retry").status_code == 302
    assert lms.jobs.get_jobs(app).huey.pending_count() == 1  # not stalled: refused
    lms.jobs.get_jobs(app).huey.flush()  # the worker "died" with the job

    with new_session(app) as session:
        session.execute(
            update(MediaAsset)
            .where(MediaAsset.id == asset_id)
            .values(updated_at=utcnow() - timedelta(hours=1))
        )
        session.commit()
    page = client.get(f"/teach/lessons/{queued_world.video_lesson_id}/media").get_data(as_text=True)
    assert "may have stopped" in page and "Try processing again" in page
    assert client.post(f"/teach/media/{asset_id}/retry").status_code == 302
    consumer(app)
    wait_for(lambda: status_of(app, asset_id) == MediaStatus.READY)


def test_progress_writes_keep_the_asset_fresh(world: World, files: Files) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from lms.db import utcnow

    asset_id, _ = upload(world.client(world.instructor), world.video_lesson_id, files.small)
    with new_session(world.app) as session:
        session.execute(
            update(MediaAsset)
            .where(MediaAsset.id == asset_id)
            .values(status=MediaStatus.PROCESSING, updated_at=utcnow() - timedelta(hours=1))
        )
        session.commit()
    with world.app.app_context(), new_session(world.app) as session:
        run = tasks.Run(session, get_storage(world.app), asset_id)
        run.progress(0.5, force=True)
    asset = load_asset(world.app, asset_id)
    assert asset is not None and asset.progress == 0.5
    assert not services.processing_stalled(asset)
