"""Background jobs on Huey: SQLite in ``instance/`` by default, Redis when configured.

Jobs are plain functions declared with :func:`job`; each runs inside an app
context with its own database session. They are queued only after the request's
transaction commits (:func:`enqueue_after_commit`), so a worker never looks for a
row that is not there yet, and a rolled-back request queues nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.db import after_commit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    func: Callable[..., Any]
    retries: int
    retry_delay: int


_JOBS: dict[str, JobSpec] = {}


def job(*, retries: int = 3, retry_delay: int = 10) -> Callable[[Callable[..., Any]], Callable]:
    """Declare a background job; failures retry with a doubling delay."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        _JOBS[func.__name__] = JobSpec(func, retries, retry_delay)
        return func

    return decorator


class JobQueue:
    def __init__(self, app: Flask, settings: Settings, *, immediate: bool = False) -> None:
        self.app = app
        if settings.redis_url:
            self.huey: Huey = RedisHuey("kenshu", url=settings.redis_url, immediate=immediate)
        else:
            self.huey = SqliteHuey(
                "kenshu", filename=str(settings.instance_path / "jobs.db"), immediate=immediate
            )
        self.tasks: dict[str, Any] = {}
        for name, spec in _JOBS.items():
            self.tasks[name] = self.huey.task(
                retries=spec.retries,
                retry_delay=spec.retry_delay,
                retry_backoff=2,
                name=name,
                context=True,
            )(self._in_app(spec))

    def _in_app(self, spec: JobSpec) -> Callable[..., Any]:
        app = self.app

        @wraps(spec.func)
        def run(*args: Any, task: Any = None, **kwargs: Any) -> Any:
            with app.app_context():
                final_attempt = task is None or task.retries == 0
                return spec.func(*args, final_attempt=final_attempt, **kwargs)

        return run

    def enqueue(self, name: str, *args: Any) -> Any:
        return self.tasks[name](*args)

    def start_consumer(self, workers: int = 2, periodic: bool = False) -> Consumer:
        """Run a consumer in this process's threads (used by ``lms serve``).

        ``periodic`` also runs the hourly tasks (upload clean-up, weekly digests); they
        are safe to run from several processes, each doing its work once.
        """
        # A short idle poll so that a new upload starts processing within seconds.
        consumer = _ThreadConsumer(
            self.huey, workers=workers, worker_type="thread", periodic=periodic, max_delay=2.0
        )
        consumer.start()  # starts worker threads and returns
        return consumer


class _ThreadConsumer(Consumer):
    """A consumer living beside a web server: the server owns the process's signals."""

    def _set_signal_handlers(self) -> None:
        pass


def init_app(app: Flask, settings: Settings) -> None:
    import lms.media.tasks  # noqa: F401,PLC0415 - declares the media jobs

    immediate = bool(app.config.get("JOBS_IMMEDIATE", False))
    app.extensions["lms.jobs"] = JobQueue(app, settings, immediate=immediate)


def get_jobs(app: Flask | None = None) -> JobQueue:
    return (app or current_app).extensions["lms.jobs"]


def enqueue_after_commit(session: Session, name: str, *args: Any) -> None:
    """Queue ``name(*args)`` once ``session`` commits; nothing if it rolls back."""
    queue = get_jobs()
    after_commit(session, lambda: queue.enqueue(name, *args))
