"""The ``lms`` command (also ``flask --app wsgi lms``)."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy import select

from lms.config import ConfigError
from lms.content.cli import content_group
from lms.credentials.cli import credentials_group
from lms.digests.cli import digests_group
from lms.storage.cli import storage_group

lms_group = AppGroup("lms", help="Kenshu administration commands.")

DEMO_PASSWORD = "kenshu-demo-2026"  # noqa: S105 - printed on purpose for the demo


@lms_group.command("init")
def init_command() -> None:
    """Create or upgrade the database schema (runs the migrations)."""
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    from lms.migrate import upgrade  # noqa: PLC0415

    settings = current_app.config["LMS_SETTINGS"]
    try:
        upgrade(settings.database_url)
    except OperationalError as error:
        raise click.ClickException(f"Cannot reach the database: {error.orig}") from None
    click.echo("Database is up to date.")


@lms_group.command("demo")
@click.option(
    "--password", default=DEMO_PASSWORD, show_default=True, help="Password for every demo account."
)
def demo_command(password: str) -> None:
    """Load demo sponsors, programmes and accounts (safe to run again)."""
    from lms.demo import load_demo  # noqa: PLC0415

    accounts = load_demo(current_app, password)
    settings = current_app.config["LMS_SETTINGS"]
    click.echo(f"Kenshu demo is ready at {settings.base_url}/")
    for role, email in accounts:
        click.echo(f"{role:<12} {email:<36} password: {password}")


@lms_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug/--no-debug", default=False)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=int,
    help="Background job threads run in this process (0: run `lms worker` instead).",
)
def serve_command(host: str, port: int, debug: bool, workers: int) -> None:
    """Serve the application with the development server, and run background jobs."""
    from lms.jobs import get_jobs  # noqa: PLC0415

    if workers > 0:
        get_jobs().start_consumer(workers=workers, periodic=True)
    current_app.run(host=host, port=port, debug=debug, use_reloader=False, threaded=True)


@lms_group.command("worker")
@click.option("--workers", default=2, show_default=True, type=int)
def worker_command(workers: int) -> None:
    """Run background jobs (media processing, email) until interrupted."""
    from huey.consumer import Consumer  # noqa: PLC0415

    from lms.jobs import get_jobs  # noqa: PLC0415

    click.echo(f"Kenshu worker: {workers} threads on the job queue. Ctrl-C stops.")
    # A short idle poll so that a new upload starts processing within seconds.
    Consumer(get_jobs().huey, workers=workers, worker_type="thread", max_delay=2.0).run()


@lms_group.command("create-user")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["admin", "instructor", "sponsor", "trainee"]),
)
@click.option("--sponsor", "sponsor_name", default=None, help="Sponsor name, for sponsor staff.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(
    email: str, name: str, roles: tuple[str, ...], sponsor_name: str | None, password: str
) -> None:
    """Create an account with one or more roles."""
    from flask_babel import force_locale  # noqa: PLC0415

    from lms.accounts.services import AccountError, create_user  # noqa: PLC0415
    from lms.db import new_session  # noqa: PLC0415
    from lms.programs.models import Sponsor  # noqa: PLC0415

    # No request here: error messages use the configured language, not the browser's.
    settings = current_app.config["LMS_SETTINGS"]
    with force_locale(settings.default_locale), new_session() as session:
        sponsor_id = None
        if sponsor_name:
            sponsor = session.scalar(select(Sponsor).where(Sponsor.name == sponsor_name))
            if sponsor is None:
                raise click.ClickException(f"No sponsor named {sponsor_name!r}.")
            sponsor_id = sponsor.id
        elif "sponsor" in roles:
            raise click.ClickException("Sponsor staff need --sponsor NAME.")
        try:
            user = create_user(
                session,
                email=email,
                name=name or email.split("@")[0],
                roles=roles,
                password=password,
                sponsor_id=sponsor_id,
            )
        except AccountError as error:
            raise click.ClickException(str(error.message)) from None
        session.commit()
        click.echo(f"Created {user.email} ({', '.join(sorted(user.role_names))}).")


translations_group = AppGroup("translations", help="Message catalogues.")
lms_group.add_command(translations_group)


@translations_group.command("check")
def translations_check_command() -> None:
    """Fail when a shipped catalogue has missing, fuzzy or mismatched entries."""
    from lms.i18n.check import check_catalogues  # noqa: PLC0415

    problems = check_catalogues()
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo("All catalogues are complete.")


lms_group.add_command(content_group)
lms_group.add_command(credentials_group)
lms_group.add_command(digests_group)
lms_group.add_command(storage_group)


def register_commands(app: Flask) -> None:
    app.cli.add_command(lms_group)


def _create_app_for_cli() -> Flask:
    from lms import create_app  # noqa: PLC0415

    try:
        return create_app()
    except ConfigError as error:
        click.echo(f"Configuration error: {error}", err=True)
        sys.exit(2)


def main() -> None:
    """Entry point of the ``lms`` console script: the ``lms`` group at top level."""
    info = ScriptInfo(create_app=_create_app_for_cli, load_dotenv_defaults=False)
    lms_group.main(prog_name="lms", obj=info)


if __name__ == "__main__":
    main()
