"""Results: item analysis on a hand-computed example, the results page, overrides."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from lms.audit.models import AuditEvent
from lms.db import new_session, utcnow
from lms.quizzes import analysis, questions
from lms.quizzes.models import QuizAnswer, QuizAttempt
from tests.conftest import login
from tests.learning.test_completion import make_programme
from tests.quizzes.authoring_helpers import make_world


def choice_spec(text: str) -> dict:
    return questions.validate(
        {
            "type": "single_choice",
            "points": 1,
            "texts": {"en": {"text": text}},
            "choices": [
                {"id": "kr", "texts": {"en": {"text": "right"}}, "weight": 1},
                {"id": "kw", "texts": {"en": {"text": "wrong"}}, "weight": 0},
                {"id": "kx", "texts": {"en": {"text": "never picked"}}, "weight": 0},
            ],
        }
    )


SPECS = {uid: choice_spec(f"Question {uid}") for uid in ("q1", "q2", "q3")}
# Four attempts; 1 = right ("kr"), 0 = wrong ("kw").
#        q1 q2 q3  total
#   A     1  1  1    3
#   B     1  0  1    2
#   C     0  1  0    1
#   D     0  0  0    0
SCORES = [(1, 1, 1), (1, 0, 1), (0, 1, 0), (0, 0, 0)]


def observations() -> list[analysis.Observation]:
    result = []
    for attempt_id, row in enumerate(SCORES, start=1):
        total = sum(row)
        for uid, score in zip(("q1", "q2", "q3"), row, strict=True):
            response = "kr" if score else "kw"
            result.append(
                analysis.Observation(attempt_id, uid, SPECS[uid], response, float(score), total)
            )
    return result


def test_item_analysis_matches_the_hand_computation() -> None:
    stats = {item.uid: item for item in analysis.item_analysis(observations())}
    # q1: scores 1,1,0,0; the rest of the test 2,1,1,0.
    #   deviations (.5,.5,-.5,-.5) and (1,0,0,-1): Sxy = 1, Sxx = 1, Syy = 2, r = 1/√2.
    assert stats["q1"].facility == pytest.approx(50.0)
    assert stats["q1"].discrimination == pytest.approx(100 / math.sqrt(2))
    assert stats["q1"].flags == []
    # q2: scores 1,0,1,0; the rest 2,2,0,0: Sxy = .5 - .5 - .5 + .5 = 0, r = 0: weak.
    assert stats["q2"].discrimination == pytest.approx(0.0)
    assert [str(flag) for flag in stats["q2"].flags] == ["Weak discrimination."]
    assert stats["q3"].discrimination == pytest.approx(100 / math.sqrt(2))
    picks = {pick.key: (pick.count, pick.share, pick.credit) for pick in stats["q1"].picks}
    assert picks == {"kr": (2, 50.0, "100%"), "kw": (2, 50.0, "0%"), "kx": (0, 0.0, "0%")}


def test_correlation_edge_cases() -> None:
    assert analysis.correlation([1, 0], [0, 1]) == pytest.approx(-1.0)
    assert analysis.correlation([1, 1, 1], [0, 1, 2]) is None  # no variation
    assert analysis.correlation([1], [1]) is None
    flags = analysis._flags(50.0, -30.0)
    assert [str(f) for f in flags] == ["Negative discrimination: check the correct answer."]
    assert [str(f) for f in analysis._flags(100.0, None)] == [
        "Very easy: almost everyone gets it right."
    ]


def test_distribution_bands() -> None:
    bins = analysis.distribution([0, 9.99, 10, 55, 100, 100])
    assert [b.count for b in bins] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert (bins[-1].low, bins[-1].high) == (90, 100)


def store_attempts(app: Flask, world, user_ids: list[int], rows) -> list[int]:
    """Graded first attempts of the world's quiz with these per-question scores."""
    with new_session(app) as session:
        attempt_ids = []
        for user_id, row in zip(user_ids, rows, strict=True):
            attempt = QuizAttempt(
                user_id=user_id,
                lesson_id=world.lesson_id,
                course_id=world.course_id,
                number=1,
                status="graded",
                finish_reason="submitted",
                started_at=utcnow() - timedelta(minutes=30),
                finished_at=utcnow() - timedelta(minutes=10),
                seed=1,
                settings={"pass_mark": 60.0},
                items=[
                    {
                        "question_id": None,
                        "uid": uid,
                        "spec": SPECS[uid],
                        "layout": {"choices": ["kr", "kw", "kx"]},
                    }
                    for uid in ("q1", "q2", "q3")
                ],
                score=float(sum(row)),
                max_score=3.0,
                passed=sum(row) / 3 >= 0.6,
            )
            session.add(attempt)
            session.flush()
            for position, score in enumerate(row):
                session.add(
                    QuizAnswer(
                        attempt_id=attempt.id,
                        position=position,
                        response="kr" if score else "kw",
                        score=float(score),
                        fraction=float(score),
                        correct=bool(score),
                        feedback=[],
                    )
                )
            attempt_ids.append(attempt.id)
        session.commit()
    return attempt_ids


@pytest.fixture
def graded(app: Flask, make_user):
    """The four attempts above, stored as graded attempts of the world's quiz by four
    trainees enrolled in a programme with the course."""
    world = make_world(app, make_user)
    trainees = [make_user("trainee", name=f"Trainee {name}") for name in "ABCD"]
    make_programme(app, [(world.course_id, True)], [t.id for t in trainees])
    return world, store_attempts(app, world, [t.id for t in trainees], SCORES)


def test_results_page_shows_the_analysis(app: Flask, graded) -> None:
    world, _ids = graded
    client = app.test_client()
    login(client, world.instructor.email)
    response = client.get(f"/teach/courses/{world.course_id}/quizzes/{world.lesson_id}/results")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "70.7" in page  # discrimination of q1 and q3
    assert "Weak discrimination." in page
    assert "<svg" in page and 'role="img"' in page and "style=" not in page
    assert "Trainee A" in page and "Trainee D" in page


def test_results_count_only_enrolled_trainees(app: Flask, graded, make_user) -> None:
    world, _ids = graded
    # The instructor tries the quiz; so do a sponsor's staff member and a trainee of
    # another programme: all full marks, which would change every statistic.
    staff = make_user("sponsor", name="Staff Sato")
    stranger = make_user("trainee", name="Trainee Elsewhere")
    make_programme(app, [(world.other_course_id, True)], [stranger.id])
    others = [world.instructor.id, staff.id, stranger.id]
    store_attempts(app, world, others, [(1, 1, 1)] * 3)
    client = app.test_client()
    login(client, world.instructor.email)
    page = client.get(
        f"/teach/courses/{world.course_id}/quizzes/{world.lesson_id}/results"
    ).get_data(as_text=True)
    assert "Staff Sato" not in page and "Trainee Elsewhere" not in page
    assert "Ichiro Instructor" not in page.split('id="attempts-heading"')[1]
    assert "70.7" in page  # the discrimination of q1 and q3, as without them
    assert "3 attempts by others" in page
    facts = page.split('id="summary-heading"')[1].split("</dl>")[0]
    assert "<dd>4</dd>" in facts  # graded attempts counted


def test_override_is_audited_and_recomputes_the_attempt(app: Flask, graded) -> None:
    world, ids = graded
    attempt_id = ids[2]  # C: 1 of 3, not passed
    client = app.test_client()
    login(client, world.instructor.email)
    base = f"/teach/courses/{world.course_id}/quizzes/{world.lesson_id}/attempts/{attempt_id}"
    page = client.get(base).get_data(as_text=True)
    assert "Trainee C" in page and "right" in page  # the correct answer is shown

    # Without a reason, or out of range: refused, nothing changed.
    response = client.post(f"{base}/answers/0", data={"answer-0-score": "1", "answer-0-reason": ""})
    assert response.status_code == 400
    response = client.post(
        f"{base}/answers/0", data={"answer-0-score": "2", "answer-0-reason": "x"}
    )
    assert response.status_code == 400
    with new_session(app) as session:
        assert session.get(QuizAnswer, (attempt_id, 0)).override_score is None

    response = client.post(
        f"{base}/answers/0",
        data={"answer-0-score": "1", "answer-0-reason": "Both answers are accepted locally."},
    )
    assert response.status_code == 302
    with new_session(app) as session:
        answer = session.get(QuizAnswer, (attempt_id, 0))
        assert answer.override_score == 1.0 and answer.score == 0.0
        assert answer.overridden_by_id == world.instructor.id
        attempt = session.get(QuizAttempt, attempt_id)
        assert attempt.score == 2.0 and attempt.passed is True
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "quiz_answer_overridden")
        ).one()
        assert event.actor_id == world.instructor.id
        assert event.details["reason"] == "Both answers are accepted locally."
        assert (event.details["before"], event.details["after"]) == (0.0, 1.0)
        assert (event.details["attempt_score_before"], event.details["attempt_score_after"]) == (
            1.0,
            2.0,
        )
    page = client.get(base).get_data(as_text=True)
    assert "Both answers are accepted locally." in page
    # Unknown answer, or an attempt of another quiz: 404.
    assert client.post(f"{base}/answers/9", data={}).status_code == 404


def test_other_instructor_cannot_review_or_override(app: Flask, graded) -> None:
    world, ids = graded
    client = app.test_client()
    login(client, world.other_instructor.email)
    base = f"/teach/courses/{world.course_id}/quizzes/{world.lesson_id}/attempts/{ids[0]}"
    assert client.get(base).status_code == 403
    response = client.post(
        f"{base}/answers/0", data={"answer-0-score": "0", "answer-0-reason": "x"}
    )
    assert response.status_code == 403
    with new_session(app) as session:
        assert session.get(QuizAnswer, (ids[0], 0)).override_score is None


def test_first_attempts_only(app: Flask, graded) -> None:
    world, ids = graded
    with new_session(app) as session:
        first = session.get(QuizAttempt, ids[3])  # D: 0 of 3; a second attempt gets 3 of 3
        second = QuizAttempt(
            user_id=first.user_id,
            lesson_id=first.lesson_id,
            course_id=first.course_id,
            number=2,
            status="graded",
            seed=2,
            settings=first.settings,
            items=first.items,
            score=3.0,
            max_score=3.0,
            passed=True,
            finished_at=utcnow(),
        )
        session.add(second)
        session.flush()
        for position in range(3):
            session.add(
                QuizAnswer(attempt_id=second.id, position=position, response="kr", score=1.0)
            )
        session.commit()
    client = app.test_client()
    login(client, world.instructor.email)
    base = f"/teach/courses/{world.course_id}/quizzes/{world.lesson_id}/results"
    # Every attempt: q1 scores 1,1,0,0,1 against the rest 2,1,1,0,2: r = 1.4 / √3.36.
    every = client.get(base).get_data(as_text=True)
    assert f"{100 * 1.4 / math.sqrt(3.36):.1f}" == "76.4"
    assert "76.4" in every
    first_only = client.get(base + "?attempts=first").get_data(as_text=True)
    assert "70.7" in first_only and "76.4" not in first_only
