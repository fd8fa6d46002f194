"""``lms digests send``: send the weekly completion digests from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

digests_group = AppGroup("digests", help="Weekly completion digests for sponsor staff.")


@digests_group.command("send")
@click.option(
    "--now",
    "force",
    is_flag=True,
    help="Send every subscriber's digest now, even if this week's was already sent.",
)
def send_command(force: bool) -> None:
    """Send the completion digests that are due (once per subscriber and week)."""
    from lms.digests.jobs import send_digests  # noqa: PLC0415

    report = send_digests(force=force)
    click.echo(
        f"Digests: {report.sent} sent, {report.empty} with nothing new, "
        f"{report.skipped} subscriber(s) no longer eligible, {report.taken} not due."
    )
