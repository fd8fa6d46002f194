"""The digest job, and the periodic task that queues it every hour.

The periodic task runs in a consumer that runs periodic tasks (``lms worker``); each
run sends only the digests not yet sent this week (see :mod:`lms.digests.services`), so
running it hourly, or on two workers, sends each digest once.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app
from huey import crontab

from lms.db import new_session
from lms.digests import services
from lms.jobs import get_jobs, job
from lms.mail import get_mailer

log = logging.getLogger(__name__)

#: Minute of the hour at which the digest run is queued.
DIGEST_MINUTE = "41"


def send_digests(app: Flask | None = None, *, force: bool = False) -> services.SendReport:
    """Send the due digests (all of them with ``force``) with ``app``'s settings."""
    app = app or current_app
    settings = app.config["LMS_SETTINGS"]
    with new_session(app) as session:
        return services.send_due_digests(
            session,
            mailer=get_mailer(app),
            base_url=settings.base_url,
            default_locale=settings.default_locale,
            force=force,
        )


@job(retries=2, retry_delay=300)
def send_completion_digests(*, final_attempt: bool = True) -> None:
    """Send this week's completion digests that are still due."""
    report = send_digests()
    if report.sent or report.empty:
        log.info("completion digests: %d sent, %d with nothing new", report.sent, report.empty)


def schedule_periodic_jobs(app: Flask) -> None:
    """Queue the digest run every hour, from any consumer that runs periodic tasks."""
    queue = get_jobs(app)

    def hourly_completion_digests() -> None:
        queue.enqueue("send_completion_digests")

    queue.huey.periodic_task(crontab(minute=DIGEST_MINUTE), name="hourly_completion_digests")(
        hourly_completion_digests
    )
