"""The instructor's quiz pages: the editor of every type, settings, previews, access."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from lms.audit.models import AuditEvent
from lms.catalog.models import Course, Lesson
from lms.db import new_session
from lms.quizzes import bank, questions
from lms.quizzes.models import Question
from lms.quizzes.settings import of_lesson_settings
from tests.conftest import login
from tests.quizzes.authoring_helpers import make_world, single_choice


@pytest.fixture
def world(app: Flask, make_user):
    return make_world(app, make_user)


@pytest.fixture
def client(app: Flask, world):
    client = app.test_client()
    assert login(client, world.instructor.email).status_code == 302
    return client


def url(world, path: str) -> str:
    return f"/teach/courses/{world.course_id}{path}"


def only_question(app: Flask) -> Question:
    with new_session(app) as session:
        rows = session.scalars(select(Question)).all()
        assert len(rows) == 1
        _ = rows[0].category  # loaded before the session closes
        session.expunge_all()
        return rows[0]


def count_questions(app: Flask) -> int:
    with new_session(app) as session:
        return len(session.scalars(select(Question)).all())


def post_new(client, world, kind: str, data: dict):
    return client.post(url(world, f"/questions/new?type={kind}"), data={"type": kind, **data})


def test_single_choice_in_two_languages(app: Flask, client, world) -> None:
    page = client.get(url(world, "/questions/new?type=single_choice")).get_data(as_text=True)
    # The course has English and Japanese texts: both are offered.
    assert 'name="text-en"' in page and 'name="text-ja"' in page
    ids = re.findall(r'name="choices-(\d+)-id" value="([^"]+)"', page)
    assert len(ids) >= 2
    response = post_new(
        client,
        world,
        "single_choice",
        {
            "title": "Days",
            "new_category": "Collection",
            "points": "2",
            "languages": ["en", "ja"],
            "text-en": "How often is burnable waste collected?",
            "text-ja": "燃やすごみの収集は？",
            "explanation-en": "Check your ward's calendar.",
            "choices-count": "3",
            "choices-0-id": ids[0][1],
            "choices-0-text-en": "Twice a week",
            "choices-0-text-ja": "週2回",
            "choices-0-feedback-en": "Right.",
            "choices-0-weight": "100%",
            "choices-1-id": ids[1][1],
            "choices-1-text-en": "Once a month",
            "choices-1-text-ja": "月1回",
            "choices-1-weight": "-50",
            "choices-2-id": "",  # a blank row is ignored
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    question = only_question(app)
    assert question.title == "Days" and question.category.name == "Collection"
    spec = question.spec
    assert spec["points"] == 2.0 and set(spec["texts"]) == {"en", "ja"}
    assert spec["texts"]["en"]["explanation"] == "Check your ward's calendar."
    assert [c["weight"] for c in spec["choices"]] == [1.0, -0.5]
    assert [c["id"] for c in spec["choices"]] == [ids[0][1], ids[1][1]]
    assert spec["choices"][0]["texts"]["en"]["feedback"] == "Right."
    assert spec["choices"][1]["texts"]["ja"] == {"text": "月1回"}
    with new_session(app) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "quiz_question_created")
        ).one()
        assert event.details["question"] == question.uid
    # The saved question opens in the editor with its values.
    page = client.get(url(world, f"/questions/{question.id}")).get_data(as_text=True)
    assert "週2回" in page and 'value="-50"' in page


def test_a_missing_translation_names_the_row_and_saves_nothing(app: Flask, client, world) -> None:
    response = post_new(
        client,
        world,
        "single_choice",
        {
            "points": "1",
            "languages": ["en", "ja"],
            "text-en": "Question?",
            "text-ja": "質問？",
            "choices-count": "2",
            "choices-0-id": "kaaaa1",
            "choices-0-text-en": "Yes",
            "choices-0-text-ja": "はい",
            "choices-0-weight": "100",
            "choices-1-id": "kaaaa2",
            "choices-1-text-en": "No",
            "choices-1-weight": "0",
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was saved" in page
    assert 'href="#choices-1"' in page and "Choice 2" in page
    assert 'aria-invalid="true" aria-describedby="choices-1-error"' in page
    assert "No" in page  # what was typed is kept
    assert count_questions(app) == 0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"points": "abc"}, "Points"),
        ({"points": "0"}, "Points"),
        ({"choices-1-weight": "lots"}, "Choice 2"),
        ({"choices-0-weight": "50"}, "Choices"),  # no right answer
        ({"text-en": ""}, "Question text"),
    ],
)
def test_validation_errors_name_the_field(app: Flask, client, world, data, fragment) -> None:
    form = {
        "points": "1",
        "languages": ["en"],
        "text-en": "Question?",
        "choices-count": "2",
        "choices-0-id": "kaaaa1",
        "choices-0-text-en": "Yes",
        "choices-0-weight": "100",
        "choices-1-id": "kaaaa2",
        "choices-1-text-en": "No",
        "choices-1-weight": "0",
    }
    response = post_new(client, world, "single_choice", form | data)
    assert response.status_code == 400
    assert fragment in response.get_data(as_text=True)
    assert count_questions(app) == 0


def test_every_type_can_be_written(app: Flask, client, world) -> None:
    common = {"points": "1", "languages": ["en"], "text-en": "Q?"}
    forms = {
        "multiple_response": {
            "scoring": "all_or_nothing",
            "choices-count": "3",
            "choices-0-id": "m1",
            "choices-0-text-en": "paper",
            "choices-0-correct": "1",
            "choices-1-id": "m2",
            "choices-1-text-en": "scraps",
            "choices-1-correct": "1",
            "choices-2-id": "m3",
            "choices-2-text-en": "cans",
        },
        "true_false": {"answer": "false", "feedback-true-en": "No: it is false."},
        "numeric": {
            "answers-count": "2",
            "answers-0-id": "n1",
            "answers-0-mode": "value",
            "answers-0-value": "850",
            "answers-0-tolerance": "50",
            "answers-0-credit": "100",
            "answers-1-id": "n2",
            "answers-1-mode": "range",
            "answers-1-min": "700",
            "answers-1-max": "1000",
            "answers-1-credit": "50",
            "answers-1-feedback-en": "Close.",
        },
        "short_answer": {
            "answers-count": "2",
            "answers-0-id": "s1",
            "answers-0-answer": "landfill",
            "answers-0-credit": "100",
            "answers-1-id": "s2",
            "answers-1-answer": "dump",
            "answers-1-credit": "50",
        },
        "matching": {
            "pairs-count": "3",
            "pairs-0-id": "p1",
            "pairs-0-option": "o1",
            "pairs-0-text-en": "Burnable",
            "pairs-0-right-en": "incineration",
            "pairs-1-id": "p2",
            "pairs-1-option": "o2",
            "pairs-1-text-en": "Bulky",
            "pairs-1-right-en": "shredding",
            "pairs-2-id": "p3",
            "pairs-2-option": "o3",
            "pairs-2-text-en": "Kitchen",
            "pairs-2-right-en": "incineration",  # shares the first pair's answer
            "extras-count": "1",
            "extras-0-id": "x1",
            "extras-0-text-en": "composting",
        },
        "ordering": {
            "scoring": "positions",
            "items-count": "3",
            "items-0-id": "i1",
            "items-0-text-en": "burn",
            "items-0-position": "2",
            "items-1-id": "i2",
            "items-1-text-en": "collect",
            "items-1-position": "1",
            "items-2-id": "i3",
            "items-2-text-en": "landfill the ash",
            "items-2-position": "3",
        },
    }
    for kind, data in forms.items():
        response = post_new(client, world, kind, common | data)
        assert response.status_code == 302, (kind, response.get_data(as_text=True))
    with new_session(app) as session:
        specs = {q.type: q.spec for q in session.scalars(select(Question))}
    assert [c["correct"] for c in specs["multiple_response"]["choices"]] == [True, True, False]
    assert specs["true_false"]["answer"] is False
    assert specs["true_false"]["feedback"] == {"true": {"en": "No: it is false."}}
    numeric = specs["numeric"]
    assert questions.grade(numeric, "900").correct and questions.grade(numeric, "950").score == 0.5
    assert questions.grade(specs["short_answer"], " ＤＵＭＰ ").score == 0.5
    matching = specs["matching"]
    assert len(matching["options"]) == 3  # incineration shared, composting extra
    assert questions.grade(matching, {"p1": "o1", "p2": "o2", "p3": "o1"}).correct
    assert [i["id"] for i in specs["ordering"]["items"]] == ["i2", "i1", "i3"]


def test_more_rows_saves_nothing(app: Flask, client, world) -> None:
    response = post_new(
        client,
        world,
        "ordering",
        {"points": "1", "languages": ["en"], "text-en": "Q?", "items-count": "2", "more": "1"},
    )
    assert response.status_code == 200
    assert 'name="items-3-id"' in response.get_data(as_text=True)
    assert count_questions(app) == 0


def test_another_instructor_is_kept_out(app: Flask, world) -> None:
    with app.test_request_context(), new_session(app) as session:
        mine = bank.save_question(
            session, world.course_id, uid=None, title="", category=None, spec=single_choice()
        )
        theirs = bank.save_question(
            session, world.other_course_id, uid=None, title="", category=None, spec=single_choice()
        )
        session.commit()
        mine_id, theirs_id = mine.id, theirs.id
    other = app.test_client()
    login(other, world.other_instructor.email)
    for path in (
        "/questions",
        f"/questions/{mine_id}",
        f"/questions/{mine_id}/preview",
        "/questions/export.txt",
        f"/quizzes/{world.lesson_id}",
        f"/quizzes/{world.lesson_id}/results",
    ):
        assert other.get(url(world, path)).status_code == 403, path
    response = other.post(url(world, f"/questions/{mine_id}"), data={"text-en": "Hacked"})
    assert response.status_code == 403
    response = other.post(url(world, f"/questions/{mine_id}/archive"))
    assert response.status_code == 403
    # The instructor of this course cannot reach a question of another course through it.
    me = app.test_client()
    login(me, world.instructor.email)
    assert me.get(url(world, f"/questions/{theirs_id}")).status_code == 404
    assert me.get(f"/teach/courses/{world.other_course_id}/questions").status_code == 403
    with new_session(app) as session:
        assert session.get(Question, mine_id).archived_at is None


def test_quiz_settings_are_saved_in_the_lesson(app: Flask, client, world) -> None:
    with app.test_request_context(), new_session(app) as session:
        fixed = bank.save_question(
            session,
            world.course_id,
            uid="q-fixed",
            title="Fixed",
            category=None,
            spec=single_choice(),
        )
        for n in range(3):
            bank.save_question(
                session,
                world.course_id,
                uid=None,
                title=f"R{n}",
                category="Pool",
                spec=single_choice(),
            )
        session.commit()
        fixed_uid = fixed.uid
    with new_session(app) as session:
        session.get(Course, world.course_id).draft_changed = False
        session.commit()
    form = {
        "slots-count": "3",
        "slot-0-kind": "category",
        "slot-0-category": "Pool",
        "slot-0-count": "2",
        "slot-0-position": "2",
        "slot-1-kind": "question",
        "slot-1-question": fixed_uid,
        "slot-1-position": "1",
        "slot-2-kind": "",
        "pass_mark": "70",
        "max_attempts": "3",
        "wait_minutes": "10",
        "time_limit_minutes": "20",
        "shuffle_choices": "y",
        "grading": "last",
        "review": "after_passing",
    }
    response = client.post(url(world, f"/quizzes/{world.lesson_id}"), data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    with new_session(app) as session:
        lesson = session.get(Lesson, world.lesson_id)
        settings = of_lesson_settings(lesson.settings)
        assert [s.to_dict() for s in settings.slots] == [
            {"question": "q-fixed"},
            {"category": "Pool", "count": 2},
        ]
        assert (settings.pass_mark, settings.max_attempts, settings.time_limit_minutes) == (
            70,
            3,
            20,
        )
        assert settings.shuffle_choices and not settings.shuffle_questions
        assert settings.grading == "last" and settings.wait_minutes == 10
        assert session.get(Course, world.course_id).draft_changed  # publish to apply
        assert session.scalars(
            select(AuditEvent).where(AuditEvent.action == "quiz_settings_saved")
        ).one()

    preview = client.get(url(world, f"/quizzes/{world.lesson_id}/preview?seed=7"))
    assert preview.status_code == 200
    assert preview.get_data(as_text=True).count('class="card"') >= 3  # 1 fixed + 2 drawn

    # Asking for more than the category holds is refused with the line at fault.
    response = client.post(
        url(world, f"/quizzes/{world.lesson_id}"), data=form | {"slot-0-count": "5"}
    )
    assert response.status_code == 400
    assert "Question 2 of the quiz" in response.get_data(as_text=True)
    response = client.post(
        url(world, f"/quizzes/{world.lesson_id}"), data=form | {"pass_mark": "120"}
    )
    assert response.status_code == 400
    assert "Pass mark" in response.get_data(as_text=True)
    with new_session(app) as session:
        settings = of_lesson_settings(session.get(Lesson, world.lesson_id).settings)
        assert settings.pass_mark == 70  # unchanged


def test_settings_page_of_a_lesson_that_is_no_quiz_is_404(app: Flask, client, world) -> None:
    with new_session(app) as session:
        session.get(Lesson, world.lesson_id).kind = "reading"
        session.commit()
    assert client.get(url(world, f"/quizzes/{world.lesson_id}")).status_code == 404


def test_question_preview_grades_without_recording(app: Flask, client, world) -> None:
    with app.test_request_context(), new_session(app) as session:
        question = bank.save_question(
            session, world.course_id, uid=None, title="", category=None, spec=single_choice()
        )
        session.commit()
        question_id = question.id
    page = client.get(url(world, f"/questions/{question_id}/preview?seed=1")).get_data(as_text=True)
    assert "twice a week en" in page and "Score:" not in page
    checked = client.get(url(world, f"/questions/{question_id}/preview?seed=1&check=1&q0=ka"))
    assert "Score: 1 of 1" in checked.get_data(as_text=True)
    wrong = client.get(url(world, f"/questions/{question_id}/preview?seed=1&check=1&q0=kb"))
    assert "Score: 0 of 1" in wrong.get_data(as_text=True)


def test_categories_page(app: Flask, client, world) -> None:
    response = client.post(url(world, "/question-categories"), data={"name": "Plants"})
    assert response.status_code == 302
    with new_session(app) as session:
        category_id = bank.categories(session, world.course_id)[0].id
    response = client.post(
        url(world, f"/question-categories/{category_id}"),
        data={f"category-{category_id}-name": "Plant visits"},
    )
    assert response.status_code == 302
    with new_session(app) as session:
        assert [c.name for c in bank.categories(session, world.course_id)] == ["Plant visits"]
    response = client.post(url(world, f"/question-categories/{category_id}/delete"))
    assert response.status_code == 302
    with new_session(app) as session:
        assert bank.categories(session, world.course_id) == []
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions[-3:] == [
            "quiz_category_saved",
            "quiz_category_renamed",
            "quiz_category_deleted",
        ]


def test_archive_a_question(app: Flask, client, world) -> None:
    with app.test_request_context(), new_session(app) as session:
        question = bank.save_question(
            session, world.course_id, uid=None, title="", category=None, spec=single_choice()
        )
        session.commit()
        question_id = question.id
    assert client.post(url(world, f"/questions/{question_id}/archive")).status_code == 302
    assert client.get(url(world, f"/questions/{question_id}")).status_code == 404
    assert "twice a week" not in client.get(url(world, "/questions")).get_data(as_text=True)


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


PNG = _png(4, 3)


def test_images_are_stored_with_the_question(app: Flask, client, world) -> None:
    import io

    from lms.storage import get_storage

    form = {
        "points": "1",
        "languages": ["en"],
        "text-en": "What does the picture show?",
        "answer": "true",
    }
    response = client.post(
        url(world, "/questions/new?type=true_false"),
        data=form | {"type": "true_false", "image": (io.BytesIO(b"not an image"), "x.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The file is not a JPEG, PNG or WebP image." in response.get_data(as_text=True)
    assert count_questions(app) == 0

    # The first bytes of a PNG are not a PNG.
    fake = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = client.post(
        url(world, "/questions/new?type=true_false"),
        data=form | {"type": "true_false", "image": (io.BytesIO(fake), "x.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The file is not a JPEG, PNG or WebP image." in response.get_data(as_text=True)

    # A small file of too many pixels (a decompression bomb) is refused before decoding.
    huge = _png(6000, 5000, mode="1")
    assert len(huge) < 100_000
    response = client.post(
        url(world, "/questions/new?type=true_false"),
        data=form | {"type": "true_false", "image": (io.BytesIO(huge), "bomb.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "megapixels" in response.get_data(as_text=True)
    assert count_questions(app) == 0

    response = client.post(
        url(world, "/questions/new?type=true_false"),
        data=form | {"type": "true_false", "image": (io.BytesIO(PNG), "plant photo.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    question = only_question(app)
    [key] = question.spec["images"]
    assert key.startswith("quiz-images/") and key.endswith("plant-photo.png")
    with app.app_context():
        assert get_storage().exists(key)
    page = client.get(url(world, f"/questions/{question.id}/preview")).get_data(as_text=True)
    assert 'class="quiz-image"' in page

    # Keeping only works for the question's own images; unticked ones are removed.
    response = client.post(
        url(world, f"/questions/{question.id}"),
        data=form | {"image-keep": ["media/someone-elses/secret.pdf"]},
    )
    assert response.status_code == 302
    assert "images" not in only_question(app).spec
