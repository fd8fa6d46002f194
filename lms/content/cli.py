"""``lms content import|export|build-sample``: course packages in ``content/``.

The heavy imports (PyAV, the catalog services) happen inside the commands, so that
loading the ``lms`` command stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from lms.accounts.models import User

content_group = AppGroup("content", help="Course packages: import and export.")


def _actor(session: Session, email: str | None) -> User:
    from lms.accounts.models import Role, User, UserRole  # noqa: PLC0415
    from lms.accounts.services import find_user_by_email  # noqa: PLC0415

    if email:
        user = find_user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"No account with the email {email}.")
        return user
    user = session.scalar(
        select(User)
        .join(UserRole)
        .where(UserRole.role == str(Role.ADMIN), User.active.is_(True))
        .order_by(User.id)
        .limit(1)
    )
    if user is None:
        raise click.ClickException(
            "No admin account to import as: create one (lms create-user --role admin) "
            "or name an instructor with --as EMAIL."
        )
    return user


@content_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--publish", is_flag=True, help="Publish the course after importing it.")
@click.option(
    "--as",
    "as_email",
    default=None,
    metavar="EMAIL",
    help="The account that imports: an admin, or an instructor of the course "
    "(default: the first admin).",
)
def import_command(path: Path, publish: bool, as_email: str | None) -> None:
    """Create or update a course from the package in folder PATH (all or nothing)."""
    from flask_babel import force_locale  # noqa: PLC0415

    from lms.catalog.services import CatalogError  # noqa: PLC0415
    from lms.content.importer import import_package_report, publish_if_changed  # noqa: PLC0415
    from lms.content.package import PackageError  # noqa: PLC0415
    from lms.db import new_session  # noqa: PLC0415
    from lms.storage import get_storage  # noqa: PLC0415

    settings = current_app.config["LMS_SETTINGS"]
    # No request here: messages use the configured language, not a browser's.
    with force_locale(settings.default_locale), new_session() as session:
        actor = _actor(session, as_email)
        try:
            report = import_package_report(session, get_storage(), actor, path)
            version = publish_if_changed(session, actor, report) if publish else None
            session.commit()
        except PackageError as error:
            session.rollback()
            click.echo(f"{path}: nothing was imported, because:", err=True)
            for problem in error.problems:
                click.echo(str(problem), err=True)
            raise SystemExit(1) from None
        except CatalogError as error:
            session.rollback()
            raise click.ClickException(str(error.message)) from None
        except BaseException:
            session.rollback()  # deletes the objects stored so far
            raise
        course = report.course
        state = "created" if report.created else "updated" if report.changed else "unchanged"
        click.echo(
            f"Course {course.code} {state}: {report.modules} modules, {report.lessons} lessons "
            f"({len(report.lessons_added)} new, {len(report.lessons_archived)} archived); "
            f"{len(report.media_uploaded)} media files uploaded and queued for processing, "
            f"{len(report.media_kept)} unchanged; "
            f"{len(report.captions_written)} caption files written; "
            f"{report.questions} questions in the bank ({len(report.questions_written)} "
            f"added or changed, {len(report.questions_archived)} archived)."
        )
        for note in report.notes:
            click.echo(f"Note: {note}")
        if publish:
            if version is not None:
                click.echo(f"Published version {version.number}.")
            else:
                click.echo("The published version is already up to date.")


@content_group.command("export")
@click.argument("code")
@click.argument("path", type=click.Path(path_type=Path))
def export_command(code: str, path: Path) -> None:
    """Write the course CODE (its draft) as a package into the new folder PATH."""
    from flask_babel import force_locale  # noqa: PLC0415
    from sqlalchemy import func  # noqa: PLC0415

    from lms.catalog.models import Course  # noqa: PLC0415
    from lms.content.exporter import ExportError, export_course  # noqa: PLC0415
    from lms.db import new_session  # noqa: PLC0415
    from lms.storage import get_storage  # noqa: PLC0415

    settings = current_app.config["LMS_SETTINGS"]
    with force_locale(settings.default_locale), new_session() as session:
        course = session.scalar(select(Course).where(func.upper(Course.code) == code.upper()))
        if course is None:
            raise click.ClickException(f"No course with the code {code}.")
        try:
            report = export_course(session, get_storage(), course, path)
        except ExportError as error:
            raise click.ClickException(str(error.message)) from None
        for note in report.notes:
            click.echo(f"Note: {note}")
        click.echo(f"Exported {course.code} to {path} ({len(report.files)} files).")


@content_group.command("build-sample")
@click.argument("path", type=click.Path(path_type=Path), required=False)
def build_sample_command(path: Path | None) -> None:
    """(Re)build the media and captions of the sample course package."""
    from lms.content.sample import SAMPLE_PACKAGE, build_sample_media  # noqa: PLC0415

    target = path or SAMPLE_PACKAGE
    written = build_sample_media(target)
    for name in written:
        click.echo(f"wrote {Path(target, name)}")
