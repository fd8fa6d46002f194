"""The instructor's pages under /teach: courses, modules, lessons, translations, access."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.catalog.models import Course, CourseInstructor, Lesson, Module
from lms.db import new_session
from tests.conftest import login
from tests.learning.helpers import (
    add_lesson,
    add_module,
    build_course,
    count_statements,
    create_course,
    draft,
    edit_lesson,
    load,
)


def _instructor(make_user, client, **fields):
    user = make_user(Role.INSTRUCTOR, **fields)
    assert login(client, user.email).status_code == 302
    return user


def _titles(items, lang: str = "en") -> list[str]:
    return [item.texts[lang]["title"] for item in items]


# --- building a course through the pages -----------------------------------------------


def test_instructor_builds_a_course_through_the_pages(app, client, make_user) -> None:
    user = _instructor(make_user, client)
    assert client.get("/teach").status_code == 200
    assert client.get("/teach/courses/new").status_code == 200

    course_id = create_course(client, "WTE-101", "Incineration", summary="How plants work")
    course = load(app, Course, course_id)
    assert course.code == "WTE-101"
    assert course.texts == {"en": {"title": "Incineration", "summary": "How plants work"}}
    with new_session(app) as session:
        assert (
            session.scalar(
                select(CourseInstructor).where(CourseInstructor.course_id == course_id)
            ).user_id
            == user.id
        )

    first = add_module(client, course_id, "Separation and collection")
    second = add_module(client, course_id, "Incineration plants")
    reading = add_lesson(client, course_id, first, "The 3Rs")
    video = add_lesson(client, course_id, first, "A day at a plant", kind="video")
    quiz = add_lesson(client, course_id, second, "Check yourself", kind="quiz")

    response = edit_lesson(
        client,
        course_id,
        reading,
        title="The 3Rs",
        body="# Reduce\n\nReuse and *recycle*.",
        estimated_minutes="15",
    )
    assert response.status_code == 302
    response = edit_lesson(
        client,
        course_id,
        video,
        kind="video",
        title="A day at a plant",
        required=False,
        estimated_minutes="25",
        completion_threshold="80",
    )
    assert response.status_code == 302

    course, tree = draft(app, course_id)
    assert [m.id for m, _lessons in tree] == [first, second]
    assert [[lesson.id for lesson in lessons] for _m, lessons in tree] == [
        [reading, video],
        [quiz],
    ]
    lesson = load(app, Lesson, reading)
    assert lesson.texts["en"] == {"title": "The 3Rs", "body": "# Reduce\n\nReuse and *recycle*."}
    assert lesson.estimated_minutes == 15 and lesson.required
    lesson = load(app, Lesson, video)
    assert lesson.kind == "video" and not lesson.required
    assert lesson.completion_threshold == 0.8 and lesson.estimated_minutes == 25

    page = client.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    for text in ("Separation and collection", "The 3Rs", "A day at a plant", "Check yourself"):
        assert text in page
    assert "Draft only, never published" in page

    listing = client.get("/teach").get_data(as_text=True)
    assert "Incineration" in listing and "WTE-101" in listing


def test_lesson_pages_per_kind(app, client, make_user) -> None:
    _instructor(make_user, client)
    course_id = create_course(client)
    module_id = add_module(client, course_id, "Module")
    video = add_lesson(client, course_id, module_id, "Lecture", kind="video")
    quiz = add_lesson(client, course_id, module_id, "Quiz", kind="quiz")
    tour = add_lesson(client, course_id, module_id, "Tour", kind="tour")

    page = client.get(f"/teach/courses/{course_id}/lessons/{video}").get_data(as_text=True)
    assert "Completion threshold" in page and 'value="90"' in page
    assert "Description (optional, Markdown)" in page
    page = client.get(f"/teach/courses/{course_id}/lessons/{quiz}").get_data(as_text=True)
    assert f"/teach/courses/{course_id}/quizzes/{quiz}" in page  # the quiz editor
    assert "Completion threshold" not in page
    page = client.get(f"/teach/courses/{course_id}/lessons/{tour}").get_data(as_text=True)
    assert f"/teach/courses/{course_id}/lessons/{tour}/tour" in page  # the tour builder
    # The editor shows that the video has no file yet.
    assert "No file yet" in client.get(f"/teach/courses/{course_id}").get_data(as_text=True)


def test_bad_input_answers_400_and_saves_nothing(app, client, make_user) -> None:
    _instructor(make_user, client)
    course_id = create_course(client, "DUP-1")
    module_id = add_module(client, course_id, "Module")
    lesson_id = add_lesson(client, course_id, module_id, "Lesson")

    response = client.post(
        "/teach/courses/new", data={"code": "dup-1", "title": "Again", "default_language": "en"}
    )
    assert response.status_code == 400
    assert "A course with this code already exists." in response.get_data(as_text=True)
    response = client.post(
        "/teach/courses/new", data={"code": "bad code!", "title": "X", "default_language": "en"}
    )
    assert response.status_code == 400
    response = client.post(
        "/teach/courses/new", data={"code": "OK-1", "title": "X", "default_language": "xx"}
    )
    assert response.status_code == 400
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(Course)) == 1

    # An empty title in the default language is refused; the old one stays.
    response = client.post(f"/teach/courses/{course_id}", data={"title": " ", "summary": "S"})
    assert response.status_code == 400
    assert "The title in the default language is required." in response.get_data(as_text=True)
    assert load(app, Course, course_id).texts["en"].get("summary") is None

    response = client.post(f"/teach/courses/{course_id}/modules", data={"new-module-title": ""})
    assert response.status_code == 400
    response = client.post(
        f"/teach/courses/{course_id}/modules/{module_id}",
        data={f"module-{module_id}-title": ""},
    )
    assert response.status_code == 400
    assert load(app, Module, module_id).texts == {"en": {"title": "Module"}}

    response = client.post(
        f"/teach/courses/{course_id}/modules/{module_id}/lessons",
        data={f"add-{module_id}-kind": "podcast", f"add-{module_id}-title": "X"},
    )
    assert response.status_code == 400
    assert "Unknown kind of lesson." in response.get_data(as_text=True)

    for fields in (
        {"estimated_minutes": "0"},
        {"estimated_minutes": "many"},
        {"kind": "video", "completion_threshold": "5"},
        {"title": ""},
    ):
        data = {"title": "Changed", "body": "New body", **fields}
        response = edit_lesson(client, course_id, lesson_id, **data)
        assert response.status_code == 400, fields
    lesson = load(app, Lesson, lesson_id)
    assert lesson.texts == {"en": {"title": "Lesson"}}
    assert lesson.kind == "reading" and lesson.estimated_minutes == 10
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(Lesson)) == 1
        assert session.scalar(select(func.count()).select_from(Module)) == 1


# --- reordering --------------------------------------------------------------------------


def test_reorder_modules_and_lessons(app, client, make_user) -> None:
    _instructor(make_user, client)
    course_id = create_course(client)
    a = add_module(client, course_id, "A")
    b = add_module(client, course_id, "B")
    c = add_module(client, course_id, "C")
    one = add_lesson(client, course_id, a, "One")
    two = add_lesson(client, course_id, a, "Two")
    three = add_lesson(client, course_id, a, "Three")

    response = client.post(f"/teach/courses/{course_id}/modules/{c}/move", data={"direction": "up"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#module-{c}")
    client.post(f"/teach/courses/{course_id}/modules/{a}/move", data={"direction": "down"})
    _course, tree = draft(app, course_id)
    assert [m.id for m, _ in tree] == [c, a, b]
    # Moving the first module up changes nothing.
    client.post(f"/teach/courses/{course_id}/modules/{c}/move", data={"direction": "up"})
    assert [m.id for m, _ in draft(app, course_id)[1]] == [c, a, b]
    response = client.post(
        f"/teach/courses/{course_id}/modules/{c}/move", data={"direction": "sideways"}
    )
    assert response.status_code == 400

    client.post(f"/teach/courses/{course_id}/lessons/{three}/move", data={"direction": "up"})
    client.post(f"/teach/courses/{course_id}/lessons/{one}/move", data={"direction": "down"})
    tree = dict((m.id, lessons) for m, lessons in draft(app, course_id)[1])
    assert [lesson.id for lesson in tree[a]] == [three, one, two]
    assert [lesson.position for lesson in tree[a]] == [0, 1, 2]

    # To another module: it goes last there, and the old module closes the gap.
    response = client.post(f"/teach/courses/{course_id}/lessons/{three}/module", data={"module": b})
    assert response.status_code == 302
    tree = dict((m.id, lessons) for m, lessons in draft(app, course_id)[1])
    assert [lesson.id for lesson in tree[a]] == [one, two]
    assert [lesson.position for lesson in tree[a]] == [0, 1]
    assert [lesson.id for lesson in tree[b]] == [three]

    # A module of another course is refused.
    other = build_course(app, None, code="OTHER")
    response = client.post(
        f"/teach/courses/{course_id}/lessons/{one}/module", data={"module": other["module_ids"][0]}
    )
    assert response.status_code == 400
    assert load(app, Lesson, one).module_id == a


def test_editor_page_moves_are_buttons_with_names(app, client, make_user) -> None:
    _instructor(make_user, client)
    course_id = create_course(client)
    module_id = add_module(client, course_id, "Only module")
    add_lesson(client, course_id, module_id, "First")
    add_lesson(client, course_id, module_id, "Second")
    page = client.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    # Keyboard users reach real buttons, each naming what it moves.
    assert 'Move up<span class="visually-hidden">: Second</span></button>' in page
    assert 'Move down<span class="visually-hidden">: First</span></button>' in page
    assert "draggable" not in page
    assert "style=" not in page and "<script" not in page
    # Every form field has a label of its own: no id is used twice on the page.
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    admin = make_user(Role.ADMIN)
    make_user(Role.INSTRUCTOR, name="Another")
    other = app.test_client()
    login(other, admin.email)
    page = other.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


# --- deleting and archiving ----------------------------------------------------------------


def test_delete_module_asks_for_confirmation_and_archives_its_lessons(
    app, client, make_user
) -> None:
    _instructor(make_user, client)
    course_id = create_course(client)
    keep = add_module(client, course_id, "Keep")
    gone = add_module(client, course_id, "Gone")
    lesson_id = add_lesson(client, course_id, gone, "Inside")

    page = client.get(f"/teach/courses/{course_id}/modules/{gone}/delete")
    assert page.status_code == 200 and "Inside" in page.get_data(as_text=True)
    response = client.post(f"/teach/courses/{course_id}/modules/{gone}/delete", data={})
    assert response.status_code == 400
    assert "Tick the box to confirm." in response.get_data(as_text=True)
    assert load(app, Module, gone) is not None

    response = client.post(
        f"/teach/courses/{course_id}/modules/{gone}/delete", data={"confirm": "y"}
    )
    assert response.status_code == 302
    assert load(app, Module, gone) is None
    lesson = load(app, Lesson, lesson_id)
    assert lesson is not None and lesson.archived_at is not None and lesson.module_id is None
    assert [m.id for m, _ in draft(app, course_id)[1]] == [keep]
    # The archived lesson has left the authoring pages.
    assert client.get(f"/teach/courses/{course_id}/lessons/{lesson_id}").status_code == 404


def test_archive_lesson_asks_for_confirmation_and_keeps_the_row(app, client, make_user) -> None:
    _instructor(make_user, client)
    course_id = create_course(client)
    module_id = add_module(client, course_id, "Module")
    first = add_lesson(client, course_id, module_id, "First")
    second = add_lesson(client, course_id, module_id, "Second")

    assert client.get(f"/teach/courses/{course_id}/lessons/{first}/archive").status_code == 200
    response = client.post(f"/teach/courses/{course_id}/lessons/{first}/archive", data={})
    assert response.status_code == 400
    assert load(app, Lesson, first).archived_at is None

    response = client.post(
        f"/teach/courses/{course_id}/lessons/{first}/archive", data={"confirm": "y"}
    )
    assert response.status_code == 302
    lesson = load(app, Lesson, first)
    assert lesson.id == first and lesson.archived_at is not None
    remaining = draft(app, course_id)[1][0][1]
    assert [(x.id, x.position) for x in remaining] == [(second, 0)]
    assert "First" not in client.get(f"/teach/courses/{course_id}").get_data(as_text=True)


# --- translations ----------------------------------------------------------------------------


def test_texts_are_edited_per_language(app, client, make_user) -> None:
    _instructor(make_user, client)
    course_id = create_course(client, title="Incineration")
    module_id = add_module(client, course_id, "Plants")
    lesson_id = add_lesson(client, course_id, module_id, "Furnaces")

    response = client.post(
        f"/teach/courses/{course_id}?lang=ja", data={"title": "焼却", "summary": "清掃工場の仕組み"}
    )
    assert response.status_code == 302 and "lang=ja" in response.headers["Location"]
    client.post(
        f"/teach/courses/{course_id}/modules/{module_id}?lang=ja",
        data={f"module-{module_id}-title": "清掃工場"},
    )
    edit_lesson(client, course_id, lesson_id, lang="ja", title="焼却炉", body="本文")

    course = load(app, Course, course_id)
    assert course.texts["ja"] == {"title": "焼却", "summary": "清掃工場の仕組み"}
    assert course.title == "Incineration"  # the default language's title
    assert load(app, Module, module_id).texts == {
        "en": {"title": "Plants"},
        "ja": {"title": "清掃工場"},
    }
    assert load(app, Lesson, lesson_id).texts == {
        "en": {"title": "Furnaces"},
        "ja": {"title": "焼却炉", "body": "本文"},
    }

    page = client.get(f"/teach/courses/{course_id}?lang=ja").get_data(as_text=True)
    assert 'value="焼却"' in page and "清掃工場" in page
    assert "日本語 (has texts)" in page
    assert "In the default language: Incineration" in page
    # An empty title in another language only removes that translation.
    response = client.post(f"/teach/courses/{course_id}?lang=ja", data={"title": "", "summary": ""})
    assert response.status_code == 302
    assert "ja" not in load(app, Course, course_id).texts
    # A language we do not know falls back to the default language.
    page = client.get(f"/teach/courses/{course_id}?lang=xx").get_data(as_text=True)
    assert 'value="Incineration"' in page


# --- instructors and access ------------------------------------------------------------------


def test_admin_sets_the_instructors(app, client, make_user) -> None:
    admin = make_user(Role.ADMIN)
    first = make_user(Role.INSTRUCTOR, name="First Instructor")
    second = make_user(Role.INSTRUCTOR, name="Second Instructor")
    trainee = make_user(Role.TRAINEE)
    built = build_course(app, first.id, published=False)
    course_id = built["course_id"]
    login(client, admin.email)
    page = client.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    assert "Second Instructor" in page and "Who may edit this course" in page

    response = client.post(
        f"/teach/courses/{course_id}/instructors", data={"instructors": [first.id, second.id]}
    )
    assert response.status_code == 302
    response = client.post(
        f"/teach/courses/{course_id}/instructors", data={"instructors": [second.id, trainee.id]}
    )
    assert response.status_code == 400
    assert "Only instructors can author a course." in response.get_data(as_text=True)
    with new_session(app) as session:
        ids = session.scalars(
            select(CourseInstructor.user_id).where(CourseInstructor.course_id == course_id)
        ).all()
    assert sorted(ids) == sorted([first.id, second.id])
    response = client.post(
        f"/teach/courses/{course_id}/instructors", data={"instructors": [second.id]}
    )
    assert response.status_code == 302

    # The second instructor may now edit; the first may not any more, nor set instructors.
    other = app.test_client()
    login(other, first.email)
    assert other.get(f"/teach/courses/{course_id}").status_code == 403
    other = app.test_client()
    login(other, second.email)
    page = other.get(f"/teach/courses/{course_id}").get_data(as_text=True)
    assert "The training office decides who edits a course." in page
    response = other.post(f"/teach/courses/{course_id}/instructors", data={"instructors": []})
    assert response.status_code == 403


def test_access_to_the_authoring_pages(app, client, make_user) -> None:
    owner = make_user(Role.INSTRUCTOR)
    stranger = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    admin = make_user(Role.ADMIN)
    built = build_course(app, owner.id, published=False)
    course_id, module_id = built["course_id"], built["module_ids"][0]
    lesson_id = built["lesson_ids"][0]
    other = build_course(app, stranger.id, code="C-2", published=False)
    urls = [
        ("get", f"/teach/courses/{course_id}"),
        ("post", f"/teach/courses/{course_id}"),
        ("post", f"/teach/courses/{course_id}/publish"),
        ("post", f"/teach/courses/{course_id}/modules"),
        ("post", f"/teach/courses/{course_id}/modules/{module_id}"),
        ("post", f"/teach/courses/{course_id}/modules/{module_id}/move"),
        ("get", f"/teach/courses/{course_id}/modules/{module_id}/delete"),
        ("post", f"/teach/courses/{course_id}/modules/{module_id}/delete"),
        ("post", f"/teach/courses/{course_id}/modules/{module_id}/lessons"),
        ("get", f"/teach/courses/{course_id}/lessons/{lesson_id}"),
        ("post", f"/teach/courses/{course_id}/lessons/{lesson_id}"),
        ("post", f"/teach/courses/{course_id}/lessons/{lesson_id}/move"),
        ("post", f"/teach/courses/{course_id}/lessons/{lesson_id}/module"),
        ("get", f"/teach/courses/{course_id}/lessons/{lesson_id}/archive"),
        ("post", f"/teach/courses/{course_id}/lessons/{lesson_id}/archive"),
        ("get", f"/teach/courses/{course_id}/preview"),
        ("get", f"/teach/courses/{course_id}/preview/lessons/{lesson_id}"),
        # Unknown ids under a course the user may not edit still answer 403.
        ("get", f"/teach/courses/{course_id}/lessons/999999"),
    ]
    login(client, stranger.email)
    for method, url in urls:
        assert getattr(client, method)(url, data={}).status_code == 403, url
    assert client.get("/teach").status_code == 200
    assert "Course C-1" not in client.get("/teach").get_data(as_text=True)

    client = app.test_client()
    login(client, trainee.email)
    assert client.get("/teach").status_code == 403
    assert client.get("/teach/courses/new").status_code == 403
    for method, url in urls:
        assert getattr(client, method)(url, data={}).status_code == 403, url

    anonymous = app.test_client()
    response = anonymous.get(f"/teach/courses/{course_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    client = app.test_client()
    login(client, owner.email)
    assert client.get("/teach/courses/999999").status_code == 404
    assert client.get(f"/teach/courses/{course_id}/lessons/999999").status_code == 404
    # A lesson or module of another course is not found under this one.
    assert (
        client.get(f"/teach/courses/{course_id}/lessons/{other['lesson_ids'][0]}").status_code
        == 404
    )
    response = client.post(
        f"/teach/courses/{course_id}/modules/{other['module_ids'][0]}/move",
        data={"direction": "up"},
    )
    assert response.status_code == 404
    # ... and the other course itself is refused.
    assert client.get(f"/teach/courses/{other['course_id']}").status_code == 403

    client = app.test_client()
    login(client, admin.email)
    assert client.get(f"/teach/courses/{course_id}").status_code == 200
    assert client.get(f"/teach/courses/{other['course_id']}").status_code == 200
    listing = client.get("/teach").get_data(as_text=True)
    assert "Course C-1" in listing and "Course C-2" in listing


# --- queries ---------------------------------------------------------------------------------


def test_editor_makes_the_same_queries_for_2_and_30_lessons(app, client, make_user) -> None:
    instructor = _instructor(make_user, client)
    small = build_course(app, instructor.id, lessons=2, code="SMALL")
    large = build_course(app, instructor.id, lessons=15, modules=2, code="LARGE")
    counts = {}
    for name, built in (("small", small), ("large", large)):
        url = f"/teach/courses/{built['course_id']}"
        client.get(url)  # warm up
        with count_statements(app) as statements:
            assert client.get(url).status_code == 200
        counts[name] = len(statements)
    # Two modules instead of one cost nothing more either.
    assert counts["small"] == counts["large"], counts
    lesson_url = f"/teach/courses/{large['course_id']}/lessons/{large['lesson_ids'][0]}"
    with count_statements(app) as statements:
        assert client.get(lesson_url).status_code == 200
    assert len(statements) < 12
