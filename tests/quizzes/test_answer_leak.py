"""No correct answer, score key, feedback or explanation reaches the browser before the
review rules allow it: every HTML and JSON response of an attempt is inspected, for a
quiz with every question type. The same inspection then finds them on a result page
whose review is allowed, so the test can fail."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import login
from tests.quizzes.test_attempts import RIGHT, SPECS, QuizWorld, build_quiz

# Texts only the key holds: feedback, explanations, accepted answers, ranges, tolerances.
SECRETS = ("SECRET", "7771", "7779", "0.125")
# Words of a spec's key that have no business in the trainee's pages before review.
HTML_WORDS = re.compile(r"weight|tolerance|credit|data-correct|data-match|explanation", re.I)
JSON_KEYS = {
    "correct",
    "weight",
    "match",
    "answer",
    "answers",
    "tolerance",
    "credit",
    "feedback",
    "explanation",
    "min",
    "max",
    "value",
    "score",
    "fraction",
    "spec",
    "items",
    "layout",
}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


class Inspector:
    """Records what every response leaks."""

    def __init__(self) -> None:
        self.seen = 0
        self.leaks: list[str] = []

    def check(self, label: str, response) -> Any:
        self.seen += 1
        body = response.get_data(as_text=True)
        for secret in SECRETS:
            if secret in body:
                self.leaks.append(f"{label}: {secret!r}")
        if response.is_json:
            payload = response.get_json()
            leaked = _keys(payload) & JSON_KEYS
            if leaked:
                self.leaks.append(f"{label}: JSON keys {sorted(leaked)}")
            return payload
        for match in HTML_WORDS.finditer(body):
            self.leaks.append(f"{label}: {match.group(0)!r}")
        return body


def _client(app: Flask, world: QuizWorld) -> FlaskClient:
    client = app.test_client()
    assert login(client, world.trainee_email).status_code == 302
    return client


def _take(app: Flask, world: QuizWorld, inspect: Inspector) -> int:
    """Take the quiz through every endpoint a trainee uses, inspecting each response."""
    client = _client(app, world)
    lesson_url = f"/courses/{world.course_id}/lessons/{world.quiz_id}"
    page = inspect.check("intro", client.get(lesson_url))
    assert "Start the quiz" in page

    started = client.post(f"{lesson_url}/quiz/start")
    inspect.check("start", started)
    assert started.status_code == 302
    attempt_url = started.headers["Location"]
    attempt_id = int(attempt_url.rsplit("/", 1)[1])
    page = inspect.check("attempt page", client.get(attempt_url))
    for spec in SPECS.values():  # every question is on the page
        assert spec["texts"]["en"]["text"] in page
    shown = [page.index(step) for step in ("Collect", "Sort", "Burn")]
    assert shown != sorted(shown)  # an ordering question is never shown solved

    api = f"/api/v1/quiz-attempts/{attempt_id}"
    state = inspect.check("state", client.get(api))
    assert len(state["saved"]) == len(SPECS)
    uids = list(SPECS)  # fixed slots, not shuffled: the bank's order
    for position, uid in enumerate(uids):
        saved = client.post(
            f"{api}/answers",
            json={"position": position, "response": RIGHT[uid], "revision": 10 + position},
        )
        assert saved.status_code == 200, saved.get_json()
        inspect.check(f"save {uid}", saved)
        replay = client.post(
            f"{api}/answers",
            json={"position": position, "response": RIGHT[uid], "revision": 10 + position},
        )
        inspect.check(f"replayed save {uid}", replay)
    # the form fields, as quiz.js sends them
    fields = client.post(
        f"{api}/answers",
        json={
            "position": uids.index("ordering"),
            "revision": 99,
            "fields": {"q6.i1": "1", "q6.i2": "2", "q6.i3": "3"},
        },
    )
    assert fields.status_code == 200, fields.get_json()
    inspect.check("save fields", fields)
    for label, body in (
        ("bad choice", {"position": 0, "response": "zz", "revision": 100}),
        ("bad number", {"position": 3, "response": "abc", "revision": 100}),
        ("bad position", {"position": 42, "response": "k7", "revision": 100}),
        ("bad ordering", {"position": 6, "revision": 100, "fields": {"q6.i1": "1"}}),
    ):
        refused = client.post(f"{api}/answers", json=body)
        assert refused.status_code == 400
        inspect.check(label, refused)

    inspect.check("resumed page", client.get(attempt_url))
    inspect.check("resume by start", client.post(f"{lesson_url}/quiz/start"))
    inspect.check("intro while in progress", client.get(lesson_url))
    inspect.check("state again", client.get(api))
    inspect.check("result too early", client.get(f"{attempt_url}/result"))

    form = {"csrf_token": "x", "revision": "1", "action": "save", "q0": "k7"}
    inspect.check("form save", client.post(attempt_url, data=form))
    submitted = client.post(f"{api}/submit")
    assert submitted.get_json()["graded"] is True
    inspect.check("submit", submitted)
    inspect.check("submit again", client.post(f"{api}/submit"))
    inspect.check("form submit after grading", client.post(attempt_url, data={"action": "submit"}))
    late = client.post(f"{api}/answers", json={"position": 0, "response": "b2", "revision": 10**9})
    assert late.status_code == 409
    inspect.check("late save", late)
    inspect.check("attempt page after grading", client.get(attempt_url, follow_redirects=True))
    inspect.check("intro after grading", client.get(lesson_url))
    result = client.get(f"{attempt_url}/result")
    inspect.check("result", result)
    inspect.check("state after grading", client.get(api))
    return attempt_id


@pytest.mark.parametrize("policy", ["never", "after_programme"])
def test_nothing_leaks_before_review(app: Flask, make_user, policy: str) -> None:
    world = build_quiz(app, make_user, settings={"review": policy})
    inspect = Inspector()
    _take(app, world, inspect)
    assert inspect.seen > 25
    assert not inspect.leaks, "\n".join(inspect.leaks)


def test_after_passing_nothing_leaks_from_a_failed_attempt(app: Flask, make_user) -> None:
    world = build_quiz(app, make_user, settings={"review": "after_passing", "pass_mark": 100})
    inspect = Inspector()
    client = _client(app, world)
    lesson_url = f"/courses/{world.course_id}/lessons/{world.quiz_id}"
    attempt_url = client.post(f"{lesson_url}/quiz/start").headers["Location"]
    client.post(attempt_url, data={"action": "submit", "q0": "b2"})
    inspect.check("failed result", client.get(f"{attempt_url}/result"))
    assert not inspect.leaks, "\n".join(inspect.leaks)


def test_the_review_shows_the_key_when_allowed(app: Flask, make_user) -> None:
    """The inspector would catch a leak: the same pages with review allowed show it all."""
    world = build_quiz(app, make_user, settings={"review": "immediately"})
    inspect = Inspector()
    attempt_id = _take(app, world, inspect)
    client = _client(app, world)
    page = client.get(f"/quiz-attempts/{attempt_id}/result").get_data(as_text=True)
    for spec in SPECS.values():
        assert spec["texts"]["en"]["explanation"] in page
    for marker in (
        "FEEDBACK-SECRET-right",
        "FEEDBACK-SECRET-cans",
        "FEEDBACK-SECRET-f",
        "FEEDBACK-SECRET-n",
        "FEEDBACK-SECRET-s",
        "ACCEPTED-SECRET-Tokyo Bay",
        "ACCEPTED-SECRET-Edo",
        "7771",
        "0.125",
    ):
        assert marker in page, marker
    assert any("result" in leak for leak in inspect.leaks)


def test_json_checker_finds_keys() -> None:
    assert _keys(json.loads('{"a": [{"b": {"correct": true}}]}')) >= {"correct"}
