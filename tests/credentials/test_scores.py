"""Courses with scores: a trainee's quiz results reach the record and everything made
from it (My records, the CSV/XLSX lists, the API, the signed credential, the PDF).

Course A has two quizzes: quiz 1 (2 points, best attempt counts) is taken twice, 50%
then 100%; quiz 2 (4 points) once, 75%. Its score is the plain mean, 87.5 (a
points-weighted mean would be 83.3). Course B has no quiz: no score, never a number.
On SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Lesson
from lms.certificates.pdf import render
from lms.certificates.services import document_for
from lms.credentials.models import CompletionRecord
from lms.credentials.scores import course_score
from lms.db import new_session
from lms.learning import tracking
from lms.quizzes import attempts as svc
from lms.quizzes import questions
from lms.quizzes.models import Question, QuizAttempt
from tests.api.conftest import bearer, make_token
from tests.certificates.conftest import pdf_lines
from tests.conftest import login
from tests.learning.test_completion import make_course, make_programme

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class ScoreWorld:
    trainee_id: int
    trainee_email: str
    programme_id: int
    sponsor_id: int
    code_a: str
    code_b: str
    record_id: int


def _true_false(uid: str) -> dict:
    return questions.validate(
        {"type": "true_false", "points": 1, "answer": True, "texts": {"en": {"text": uid}}}
    )


def _quiz_course(app: Flask, instructor_id: int, quizzes: dict[str, tuple[int, str]]):
    """A course: a reading, then one quiz per entry (title -> (questions, grading))."""
    code = f"QA-{uuid.uuid4().hex[:6]}"
    with new_session(app) as session:
        actor = session.get(User, instructor_id)
        course = catalog.create_course(session, actor, catalog.CourseData(code, f"Course {code}"))
        module = catalog.add_module(session, course, "en", "Module")
        reading = catalog.add_lesson(
            session,
            module,
            catalog.LessonData(kind="reading", title="Reading", language="en", body="Text"),
        )
        quiz_ids = []
        for title, (count, grading) in quizzes.items():
            uids = [f"{title}-{n}" for n in range(count)]
            for uid in uids:
                session.add(
                    Question(
                        course_id=course.id,
                        uid=uid,
                        title=uid,
                        type="true_false",
                        spec=_true_false(uid),
                    )
                )
            quiz = catalog.add_lesson(
                session,
                module,
                catalog.LessonData(
                    kind="quiz",
                    title=title,
                    language="en",
                    required=True,
                    settings={
                        "quiz": {
                            "pass_mark": 50,
                            "grading": grading,
                            "review": "immediately",
                            "slots": [{"question": uid} for uid in uids],
                        }
                    },
                ),
            )
            quiz_ids.append(quiz.id)
        catalog.publish(session, actor, course)
        session.commit()
        return course.id, code, reading.id, quiz_ids


def _finish(app: Flask, user_id: int, lesson_id: int) -> None:
    with new_session(app) as session:
        user = session.get(User, user_id)
        lesson = session.get(Lesson, lesson_id)
        tracking.commit_with_retries(session, lambda: tracking.mark_done(session, user, lesson, T0))


def _take(app: Flask, user_id: int, quiz_id: int, right: int, at: datetime) -> None:
    """One attempt answering the first ``right`` questions right and the others wrong."""
    with new_session(app) as session:
        user = session.get(User, user_id)
        attempt = tracking.commit_with_retries(
            session, lambda: svc.start_attempt(session, user, quiz_id, at, seed=1)
        )
        attempt_id = attempt.id
    with new_session(app) as session:
        attempt = session.get(QuizAttempt, attempt_id)
        order = sorted(range(len(attempt.items)), key=lambda i: attempt.items[i]["uid"])
        for rank, position in enumerate(order):
            tracking.commit_with_retries(
                session,
                lambda p=position, r=rank: svc.save_answer(
                    session, session.get(QuizAttempt, attempt_id), p, r < right, 1, at
                ),
            )
    with new_session(app) as session:
        done = at + timedelta(minutes=5)
        assert tracking.commit_with_retries(session, lambda: svc.submit(session, attempt_id, done))


@pytest.fixture
def world(app: Flask, make_user) -> ScoreWorld:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(
        Role.TRAINEE, name="Hanako Yamada", native_name="山田 花子", email="hanako@example.org"
    )
    course_a, code_a, reading_a, (quiz1, quiz2) = _quiz_course(
        app, instructor.id, {"Quiz one": (2, "best"), "Quiz two": (4, "best")}
    )
    code_b = f"QB-{uuid.uuid4().hex[:6]}"
    built_b = make_course(app, instructor.id, [[("reading", True)]], code=code_b)
    programme_id = make_programme(app, [(course_a, True), (built_b.course_id, True)], [trainee.id])
    _finish(app, trainee.id, built_b.lessons[0])
    _finish(app, trainee.id, reading_a)
    _take(app, trainee.id, quiz1, 1, T0)  # 50%
    _take(app, trainee.id, quiz1, 2, T0 + timedelta(hours=1))  # 100%: the best counts
    _take(app, trainee.id, quiz2, 3, T0 + timedelta(hours=2))  # 75%: completes everything
    with new_session(app) as session:
        record = session.scalar(
            select(CompletionRecord).where(CompletionRecord.user_id == trainee.id)
        )
        assert record is not None, "the programme was not completed"
        return ScoreWorld(
            trainee.id,
            trainee.email,
            programme_id,
            record.sponsor_id,
            code_a,
            code_b,
            record.id,
        )


def _record(app: Flask, record_id: int) -> CompletionRecord:
    with new_session(app) as session:
        record = session.get(CompletionRecord, record_id)
        session.expunge(record)
        return record


def test_plain_mean_of_counted_percents() -> None:
    assert course_score([{"percent": 100.0}, {"percent": 75.0}]) == 87.5
    assert course_score([{"percent": 80.0}, {"percent": None}]) == 80.0
    assert course_score([{"percent": None}]) is None
    assert course_score([]) is None


def test_the_record_holds_each_courses_score(app: Flask, world: ScoreWorld) -> None:
    courses = {c["code"]: c for c in _record(app, world.record_id).courses}
    a, b = courses[world.code_a], courses[world.code_b]
    assert a["score"] == 87.5
    assert [(q["title"], q["percent"]) for q in a["quizzes"]] == [
        ("Quiz one", 100.0),
        ("Quiz two", 75.0),
    ]
    assert b["score"] is None and b["quizzes"] == []


def test_a_reissued_record_keeps_the_scores(app: Flask, make_user, world: ScoreWorld) -> None:
    admin = app.test_client()
    login(admin, make_user(Role.ADMIN).email)
    assert admin.post(f"/admin/records/{world.record_id}/reissue").status_code == 302
    with new_session(app) as session:
        new = session.scalar(
            select(CompletionRecord)
            .where(CompletionRecord.replaced_by_id.is_(None))
            .where(CompletionRecord.user_id == world.trainee_id)
        )
        scores = {c["code"]: c["score"] for c in new.courses}
    assert new.id != world.record_id
    assert scores == {world.code_a: 87.5, world.code_b: None}


def test_my_records_shows_the_scores(app: Flask, world: ScoreWorld) -> None:
    client = app.test_client()
    assert login(client, world.trainee_email).status_code == 302
    page = client.get("/records").get_data(as_text=True)
    programme_part, course_part = page.split('id="course-records"', 1)
    assert "score 87.5%" in programme_part
    rows = {
        code: row
        for row in course_part.split("<tr>")[2:]
        for code in (world.code_a, world.code_b)
        if code in row
    }
    assert "87.5%" in rows[world.code_a]
    assert "No score recorded" in rows[world.code_b] and "%" not in rows[world.code_b]


def test_exports_and_api_carry_the_scores(app: Flask, make_user, world: ScoreWorld) -> None:
    staff = make_user(Role.SPONSOR, sponsor_id=world.sponsor_id)
    client = app.test_client()
    assert login(client, staff.email).status_code == 302
    base = f"/sponsor/programmes/{world.programme_id}/completions"
    text = client.get(base + ".csv").get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    assert f"{world.code_a}: 87.5" in text and f"{world.code_b}:" not in text

    workbook = openpyxl.load_workbook(io.BytesIO(client.get(base + ".xlsx").get_data()))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    row = [cell.value for cell in sheet[2]]
    assert row[header.index("Scores")] == f"{world.code_a}: 87.5"

    _id, secret = make_token(app, staff)
    body = app.test_client().get(f"/api/v1/records/{world.record_id}", headers=bearer(secret)).json
    assert body["scores"] == f"{world.code_a}: 87.5"
    by_code = {c["code"]: c["score"] for c in body["course_scores"]}
    assert by_code == {world.code_a: 87.5, world.code_b: None}


def test_the_signed_credential_has_ob3_results(app: Flask, world: ScoreWorld) -> None:
    client = app.test_client()
    assert login(client, world.trainee_email).status_code == 302
    envelope = client.get(f"/records/{world.record_id}/credential.json").get_json()
    token = envelope["id"].split(",", 1)[1]
    body = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    subject = payload["credentialSubject"]
    [description] = subject["achievement"]["resultDescription"]
    [result] = subject["result"]
    assert description["resultType"] == "Percent" and world.code_a in description["name"]
    assert description["type"] == ["ResultDescription"] and description["valueMax"] == "100"
    assert result == {
        "type": ["Result"],
        "resultDescription": description["id"],
        "value": "87.5",
    }
    assert world.code_b not in json.dumps(subject["achievement"]["resultDescription"])


def test_the_pdf_lists_the_scores(app: Flask, world: ScoreWorld) -> None:
    with app.test_request_context(), new_session(app) as session:
        record = session.get(CompletionRecord, world.record_id)
        data = render(document_for(record, issuer="Kenshu", url="https://lms.test/verify/x"))
    text = "\n".join(pdf_lines(data))
    line_a = next(line for line in text.splitlines() if world.code_a in line)
    line_b = next(line for line in text.splitlines() if world.code_b in line)
    assert "(87.5%)" in line_a
    assert "%" not in line_b
