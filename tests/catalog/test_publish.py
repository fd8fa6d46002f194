"""Publishing: the draft becomes the version trainees see; lesson ids carry over."""

from __future__ import annotations

from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.catalog.models import Course, CourseVersion, Lesson
from lms.db import new_session
from tests.conftest import login
from tests.learning.helpers import (
    add_lesson,
    add_module,
    create_course,
    edit_lesson,
    enrol,
    load,
    publish,
)


def _snapshot_lesson_ids(snapshot: dict) -> list[int]:
    return [lesson["id"] for module in snapshot["modules"] for lesson in module["lessons"]]


def _versions(app, course_id: int) -> list[CourseVersion]:
    with new_session(app) as session:
        return list(
            session.scalars(
                select(CourseVersion)
                .where(CourseVersion.course_id == course_id)
                .order_by(CourseVersion.number)
            )
        )


def test_publishing_an_empty_course_is_refused(app, client, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    login(client, instructor.email)
    course_id = create_course(client)
    add_module(client, course_id, "Empty module")
    response = publish(client, course_id)
    assert response.status_code == 400
    assert "Add at least one lesson before publishing." in response.get_data(as_text=True)
    assert _versions(app, course_id) == []
    course = load(app, Course, course_id)
    assert course.published_version_id is None and course.draft_changed


def test_publish_edit_and_republish(app, client, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE, locale="en")
    login(client, instructor.email)
    course_id = create_course(client, title="Collection")
    module_id = add_module(client, course_id, "Separation")
    first = add_lesson(client, course_id, module_id, "Sorting at home")
    second = add_lesson(client, course_id, module_id, "Collection points")
    edit_lesson(client, course_id, first, title="Sorting at home", body="Original text")

    page = client.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    assert "Draft only, never published" in page and ">Publish<" in page
    response = publish(client, course_id)
    assert response.status_code == 302
    [v1] = _versions(app, course_id)
    assert v1.number == 1 and v1.published_by_id == instructor.id
    assert _snapshot_lesson_ids(v1.snapshot) == [first, second]
    course = load(app, Course, course_id)
    assert course.published_version_id == v1.id and not course.draft_changed
    page = client.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    assert "Published: version 1" in page and "Unpublished changes" not in page
    assert "Publish the changes" not in page

    enrol(app, trainee.id, course_id)
    reader = app.test_client()
    login(reader, trainee.email)
    lesson_url = f"/courses/{course_id}/lessons/{first}"
    assert "Original text" in reader.get(lesson_url).get_data(as_text=True)

    # Editing the draft does not reach the trainee...
    edit_lesson(client, course_id, first, title="Sorting at home", body="Revised text")
    added = add_lesson(client, course_id, module_id, "Bulky waste")
    page = client.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    assert "Unpublished changes" in page and "Publish the changes" in page
    listing = client.get("/teach").get_data(as_text=True)
    assert "Published: version 1" in listing and "Unpublished changes" in listing
    text = reader.get(lesson_url).get_data(as_text=True)
    assert "Original text" in text and "Revised text" not in text
    assert reader.get(f"/courses/{course_id}/lessons/{added}").status_code == 404
    assert "Bulky waste" not in reader.get(f"/courses/{course_id}").get_data(as_text=True)

    # ... until it is published again, with the same lesson ids.
    assert publish(client, course_id).status_code == 302
    v1, v2 = _versions(app, course_id)
    assert v2.number == 2
    assert _snapshot_lesson_ids(v2.snapshot) == [first, second, added]
    assert set(_snapshot_lesson_ids(v1.snapshot)) <= set(_snapshot_lesson_ids(v2.snapshot))
    text = reader.get(lesson_url).get_data(as_text=True)
    assert "Revised text" in text and "Original text" not in text
    assert reader.get(f"/courses/{course_id}/lessons/{added}").status_code == 200


def test_archived_lesson_keeps_its_row_and_leaves_the_next_version(app, client, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    login(client, instructor.email)
    course_id = create_course(client)
    module_id = add_module(client, course_id, "Module")
    keep = add_lesson(client, course_id, module_id, "Keep me")
    drop = add_lesson(client, course_id, module_id, "Drop me")
    publish(client, course_id)
    enrol(app, trainee.id, course_id)
    reader = app.test_client()
    login(reader, trainee.email)
    assert reader.get(f"/courses/{course_id}/lessons/{drop}").status_code == 200

    response = client.post(
        f"/teach/courses/{course_id}/lessons/{drop}/archive", data={"confirm": "y"}
    )
    assert response.status_code == 302
    # Still in the published version until the next publish.
    assert reader.get(f"/courses/{course_id}/lessons/{drop}").status_code == 200
    publish(client, course_id)
    latest = _versions(app, course_id)[-1]
    assert _snapshot_lesson_ids(latest.snapshot) == [keep]
    lesson = load(app, Lesson, drop)
    assert lesson is not None and lesson.id == drop and lesson.archived_at is not None
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(Lesson)) == 2
    assert reader.get(f"/courses/{course_id}/lessons/{drop}").status_code == 404
    assert "Drop me" not in reader.get(f"/courses/{course_id}").get_data(as_text=True)
