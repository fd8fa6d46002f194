"""``lms content import|export`` on the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from lms.accounts.models import Role, User
from tests.content.conftest import line_of, row_counts, stored_objects


def lms(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["lms", "content", *args])


def test_a_bad_package_is_refused_with_every_problem(
    app: Flask, admin: User, package: Path, jobs: list[Any]
):
    course = package / "course.yaml"
    course.write_text(course.read_text().replace("kind: quiz", "kind: podcast"))
    (package / "media" / "intro.mp4").write_text("not a video")
    counts = row_counts(app)
    result = lms(app, "import", str(package))
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    assert f"course.yaml:{line_of(course, 'kind: podcast')}: unknown lesson kind 'podcast'" in (
        result.output
    )
    assert f"course.yaml:{line_of(course, 'video: media/intro.mp4')}: media/intro.mp4: " in (
        result.output
    )
    assert row_counts(app) == counts and stored_objects(app) == set()


def test_a_good_package_is_imported_published_and_exported(
    app: Flask, admin: User, package: Path, tmp_path: Path
):
    result = lms(app, "import", str(package), "--publish")
    assert result.exit_code == 0, result.output
    assert "Course TEST-PKG created: 2 modules, 4 lessons (4 new, 0 archived)" in result.output
    assert "2 media files uploaded" in result.output
    assert "Published version 1." in result.output
    assert row_counts(app)["course_versions"] == 1

    result = lms(app, "import", str(package), "--publish")
    assert result.exit_code == 0, result.output
    assert "Course TEST-PKG unchanged" in result.output and "2 unchanged" in result.output
    assert "already up to date" in result.output
    assert row_counts(app)["course_versions"] == 1

    target = tmp_path / "exported"
    result = lms(app, "export", "test-pkg", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "course.yaml").is_file() and (target / "media" / "intro-video.mp4").is_file()
    result = lms(app, "export", "TEST-PKG", str(target))
    assert result.exit_code == 1 and "not an empty folder" in result.output
    result = lms(app, "export", "NOPE", str(tmp_path / "other"))
    assert result.exit_code == 1 and "No course with the code NOPE" in result.output


def test_the_importing_account(
    app: Flask, make_user: Callable[..., User], package: Path, jobs: list[Any]
):
    result = lms(app, "import", str(package))
    assert result.exit_code == 1 and "No admin account" in result.output
    make_user(Role.INSTRUCTOR, email="author@example.org")
    result = lms(app, "import", str(package), "--as", "nobody@example.org")
    assert result.exit_code == 1 and "No account with the email" in result.output
    result = lms(app, "import", str(package), "--as", "author@example.org")
    assert result.exit_code == 0, result.output
    trainee = make_user(Role.TRAINEE, email="trainee@example.org")
    result = lms(app, "import", str(package), "--as", trainee.email)
    assert result.exit_code == 1 and "may not edit the course TEST-PKG" in result.output
