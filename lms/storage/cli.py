"""``lms storage``: maintenance of the object store."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

storage_group = AppGroup("storage", help="Object storage maintenance.")


@storage_group.command("cleanup")
@click.option(
    "--older-than",
    "hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Idle hours after which an unfinished upload goes "
    "[default: MEDIA_UPLOAD_MAX_AGE_HOURS, else 24].",
)
def cleanup_command(hours: float | None) -> None:
    """Abort unfinished uploads left idle, and delete their half-created files."""
    from lms.db import new_session  # noqa: PLC0415
    from lms.media.services import cleanup_stale_uploads  # noqa: PLC0415
    from lms.media.tasks import upload_max_age  # noqa: PLC0415
    from lms.storage import StorageError, get_storage  # noqa: PLC0415

    max_age = timedelta(hours=hours) if hours is not None else upload_max_age()
    try:
        with new_session(current_app) as session:
            done = cleanup_stale_uploads(session, get_storage(), max_age)
            session.commit()
    except StorageError as error:
        raise click.ClickException(f"The storage cannot be used: {error}") from None
    click.echo(
        f"{done.discarded_assets} unfinished upload(s) deleted, "
        f"{done.aborted_uploads} upload(s) aborted in storage."
    )
