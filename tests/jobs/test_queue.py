"""The job queue: SQLite by default, Redis when configured; jobs wait for the commit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from huey import RedisHuey, SqliteHuey

from lms.db import new_session
from lms.jobs import enqueue_after_commit, get_jobs, job
from tests.conftest import IN_CI

REDIS_URL = "redis://127.0.0.1:6379/14"


@job(retries=0)
def write_mark(path: str, *, final_attempt: bool) -> None:
    """A job for these tests: leaves a file behind, proving it ran in a consumer."""
    Path(path).write_text("done")


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        if IN_CI:
            pytest.fail("Redis is not reachable at 127.0.0.1:6379 in CI")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")


def _wait_for(path: Path, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def test_sqlite_queue_is_the_default_and_survives_until_a_consumer_runs(app_factory, tmp_path):
    app = app_factory()
    queue = get_jobs(app)
    assert isinstance(queue.huey, SqliteHuey)
    mark = tmp_path / "sqlite.mark"
    queue.enqueue("write_mark", str(mark))
    # Nobody consumes yet: the job waits on disk, as it would across a restart.
    assert queue.huey.pending_count() == 1
    assert not mark.exists()
    consumer = queue.start_consumer(workers=1)
    try:
        assert _wait_for(mark)
    finally:
        consumer.stop(graceful=True)


def test_redis_queue_when_configured(app_factory, tmp_path):
    _redis_or_skip()
    app = app_factory(LMS_REDIS_URL=REDIS_URL)
    queue = get_jobs(app)
    assert isinstance(queue.huey, RedisHuey)
    queue.huey.flush()
    mark = tmp_path / "redis.mark"
    queue.enqueue("write_mark", str(mark))
    assert queue.huey.pending_count() == 1
    consumer = queue.start_consumer(workers=1)
    try:
        assert _wait_for(mark)
    finally:
        consumer.stop(graceful=True)
        queue.huey.flush()


def test_jobs_are_queued_only_after_the_commit(app_factory, tmp_path):
    app = app_factory()
    queue = get_jobs(app)
    kept, dropped = tmp_path / "kept.mark", tmp_path / "dropped.mark"
    with app.app_context():
        with new_session(app) as session:
            enqueue_after_commit(session, "write_mark", str(dropped))
            session.rollback()  # a failed request queues nothing
        with new_session(app) as session:
            enqueue_after_commit(session, "write_mark", str(kept))
            assert queue.huey.pending_count() == 0  # not before the commit
            session.commit()
    assert queue.huey.pending_count() == 1
    consumer = queue.start_consumer(workers=1)
    try:
        assert _wait_for(kept)
    finally:
        consumer.stop(graceful=True)
    assert not dropped.exists()
