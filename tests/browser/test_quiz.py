"""A timed quiz of the demo in a real browser, on a connection that drops.

The trainee answers some questions, loses the connection, answers more (the status line
shows them waiting), comes back, reloads and finds every answer kept, then double-clicks
submit: one attempt, graded once, with the right score. A second test lets the deadline
pass (the attempt's deadline is moved a few seconds ahead in the database) and sees the
attempt graded from what was saved by then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from lms.accounts.models import User
from lms.catalog.models import Course, CourseVersion
from lms.db import Base, get_engine, new_session, utcnow
from lms.demo import load_demo
from lms.quizzes.attempts import answers_of
from lms.quizzes.models import QuizAttempt
from tests.browser.conftest import DEMO_PASSWORD, new_phone_page
from tests.conftest import build_app

TRAINEE = "trainee1@kenshu.example.org"


@dataclass
class QuizDemo:
    app: Flask
    base_url: str
    course_id: int
    quiz_id: int  # the first quiz of the sample course

    @property
    def lesson_url(self) -> str:
        return f"{self.base_url}/courses/{self.course_id}/lessons/{self.quiz_id}"


@pytest.fixture
def quiz_demo(tmp_path: Path) -> Iterator[QuizDemo]:
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'quiz.db'}", WTF_CSRF_ENABLED=True)
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    with new_session(app) as session:
        course = session.scalar(select(Course).where(Course.code == "TOKYO-MSW"))
        assert course is not None and course.published_version_id is not None
        snapshot = session.get(CourseVersion, course.published_version_id).snapshot
        quizzes = [
            lesson
            for module in snapshot["modules"]
            for lesson in module["lessons"]
            if lesson["kind"] == "quiz"
        ]
        assert quizzes, "the sample course has no quiz"
        timed = [
            q
            for q in quizzes
            if (q.get("settings") or {}).get("quiz", {}).get("time_limit_minutes")
        ]
        build = QuizDemo(app, "", course.id, (timed or quizzes)[0]["id"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        build.base_url = f"http://127.0.0.1:{server.server_port}"
        yield build
    finally:
        server.shutdown()
        get_engine(app).dispose()


def _sign_in(page, demo: QuizDemo) -> None:
    page.goto(demo.base_url + "/login")
    page.fill("input[name=email]", TRAINEE)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(demo.base_url + "/")


def _attempts(demo: QuizDemo) -> list[QuizAttempt]:
    with new_session(demo.app) as session:
        user_id = session.scalar(select(User.id).where(User.email == TRAINEE))
        rows = list(
            session.scalars(
                select(QuizAttempt)
                .where(QuizAttempt.user_id == user_id, QuizAttempt.lesson_id == demo.quiz_id)
                .order_by(QuizAttempt.number)
            )
        )
        session.expunge_all()
        return rows


def _saved(demo: QuizDemo, attempt_id: int) -> dict[int, Any]:
    with new_session(demo.app) as session:
        return {a.position: a.response for a in answers_of(session, attempt_id)}


def _start(page, demo: QuizDemo, deadline_in: timedelta) -> QuizAttempt:
    """Start the quiz from its lesson page and fix the deadline ``deadline_in`` ahead."""
    page.goto(demo.lesson_url)
    page.get_by_role("button", name="Start the quiz").click()
    page.wait_for_url("**/quiz-attempts/*")
    (attempt,) = _attempts(demo)
    with new_session(demo.app) as session:
        session.execute(
            update(QuizAttempt)
            .where(QuizAttempt.id == attempt.id)
            .values(deadline_at=utcnow() + deadline_in)
        )
        session.commit()
    page.reload()
    expect(page.locator("[data-quiz-countdown]")).to_be_visible()
    return attempt


def _answer_right(page, position: int, spec: dict[str, Any]) -> None:
    """Give the correct answer to question ``position`` through the form, as a trainee would."""
    box = page.locator(f'fieldset[data-position="{position}"]')
    name = f"q{position}"
    kind = spec["type"]
    if kind == "single_choice":
        right = next(c["id"] for c in spec["choices"] if c["weight"] >= 1)
        box.locator(f'input[value="{right}"]').check()
    elif kind == "multiple_response":
        for choice in spec["choices"]:
            if choice.get("correct") or choice.get("weight", 0) > 0:
                box.locator(f'input[value="{choice["id"]}"]').check()
    elif kind == "true_false":
        box.locator(f'input[value="{"true" if spec["answer"] else "false"}"]').check()
    elif kind == "numeric":
        answer = next(a for a in spec["answers"] if a["credit"] == 1)
        value = answer["value"] if "value" in answer else (answer["min"] + answer["max"]) / 2
        box.locator(f'input[name="{name}"]').fill(f"{value:g}")
        box.locator(f'input[name="{name}"]').blur()
    elif kind == "short_answer":
        answer = next(a for a in spec["answers"] if a["credit"] == 1)
        box.locator(f'input[name="{name}"]').fill(answer["text"])
        box.locator(f'input[name="{name}"]').blur()
    elif kind == "matching":
        for prompt in spec["prompts"]:
            box.locator(f'select[name="{name}.{prompt["id"]}"]').select_option(prompt["match"])
    elif kind == "ordering":
        for place, item in enumerate(spec["items"], start=1):
            box.locator(f'select[name="{name}.{item["id"]}"]').select_option(str(place))
    else:  # pragma: no cover - a new type needs a line here
        raise AssertionError(kind)


def _status(page):
    return page.locator("[data-quiz-status]")


def _kept(page) -> list[str]:
    """The quiz keys in the browser's localStorage."""
    return page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kenshu.quiz.'))")


def test_timed_quiz_survives_a_lost_connection_and_a_double_click(browser, quiz_demo) -> None:
    demo = quiz_demo
    context, page = new_phone_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        _sign_in(page, demo)
        attempt = _start(page, demo, timedelta(minutes=10))
        specs = [item["spec"] for item in attempt.items]
        assert len(specs) >= 3
        online, offline = range(len(specs) // 2), range(len(specs) // 2, len(specs))

        for position in online:
            _answer_right(page, position, specs[position])
        expect(_status(page)).to_have_text("All answers saved", timeout=15_000)
        saved = _saved(demo, attempt.id)
        assert all(saved[p] is not None for p in online), saved

        context.set_offline(True)
        for position in offline:
            _answer_right(page, position, specs[position])
        expect(_status(page)).to_contain_text("Offline", timeout=10_000)
        expect(_status(page)).to_contain_text("waiting")
        assert all(_saved(demo, attempt.id)[p] is None for p in offline)

        context.set_offline(False)
        page.reload()
        expect(_status(page)).to_have_text("All answers saved", timeout=20_000)
        page.wait_for_selector("form[data-synced]", state="attached")
        saved = _saved(demo, attempt.id)
        assert all(response is not None for response in saved.values()), saved
        # ... and the reloaded form shows every answer.
        for position in range(len(specs)):
            box = page.locator(f'fieldset[data-position="{position}"]')
            filled = box.evaluate(
                "b => [...b.querySelectorAll('input, select')].some(c =>"
                " (c.type === 'radio' || c.type === 'checkbox') ? c.checked :"
                " c.type !== 'hidden' && c.value !== '')"
            )
            assert filled, f"question {position + 1} lost its answer"

        page.locator("[data-quiz-submit]").dblclick()
        page.wait_for_url("**/result")
        expect(page.locator("[data-quiz-passed]")).to_be_visible()
        total = sum(float(spec["points"]) for spec in specs)
        expect(page.locator("[data-quiz-score]")).to_contain_text(f"{total:g} out of {total:g}")
        attempts = _attempts(demo)
        assert len(attempts) == 1
        assert attempts[0].status == "graded" and attempts[0].score == pytest.approx(total)
        assert attempts[0].finish_reason == "submitted"
        # The result page clears what the graded attempt kept in the browser.
        assert _kept(page) == [], _kept(page)
        assert not errors, errors
        assert not page.csp_violations  # type: ignore[attr-defined]
    finally:
        context.close()


def test_the_deadline_grades_what_was_saved(browser, quiz_demo) -> None:
    demo = quiz_demo
    context, page = new_phone_page(browser)
    try:
        _sign_in(page, demo)
        attempt = _start(page, demo, timedelta(minutes=10))
        specs = [item["spec"] for item in attempt.items]
        for position in (0, 1):
            _answer_right(page, position, specs[position])
        expect(_status(page)).to_have_text("All answers saved", timeout=15_000)

        with new_session(demo.app) as session:  # the time is nearly over
            session.execute(
                update(QuizAttempt)
                .where(QuizAttempt.id == attempt.id)
                .values(deadline_at=utcnow() + timedelta(seconds=4))
            )
            session.commit()
        page.reload()
        context.set_offline(True)  # this last answer never reaches the server in time
        _answer_right(page, 2, specs[2])
        expect(_status(page)).to_contain_text("Offline", timeout=5_000)
        time.sleep(5)
        context.set_offline(False)

        page.goto(f"{demo.base_url}/quiz-attempts/{attempt.id}")
        page.wait_for_url("**/result")
        expect(page.get_by_text("The time ran out")).to_be_visible()
        expected = float(specs[0]["points"]) + float(specs[1]["points"])
        total = sum(float(spec["points"]) for spec in specs)
        expect(page.locator("[data-quiz-score]")).to_contain_text(f"{expected:g} out of {total:g}")
        (graded,) = _attempts(demo)
        assert graded.status == "graded" and graded.finish_reason == "deadline"
        assert graded.score == pytest.approx(expected)
        assert _saved(demo, attempt.id)[2] is None
        with new_session(demo.app) as session:  # the demo's other trainees have attempts too
            trainee = select(User.id).where(User.email == TRAINEE).scalar_subquery()
            mine = select(func.count()).where(QuizAttempt.user_id == trainee)
            assert session.scalar(mine) == 1
    finally:
        context.close()


def test_a_save_refused_for_its_csrf_token_stays_queued(browser, quiz_demo) -> None:
    """Signed out and in again while offline: the page's CSRF token no longer matches the
    session, the server answers 400; the answer is kept and the trainee asked to reload."""
    demo = quiz_demo
    context, page = new_phone_page(browser)
    try:
        _sign_in(page, demo)
        attempt = _start(page, demo, timedelta(minutes=10))
        specs = [item["spec"] for item in attempt.items]
        context.set_offline(True)
        _answer_right(page, 0, specs[0])
        expect(_status(page)).to_contain_text("Offline", timeout=10_000)
        context.clear_cookies()
        context.set_offline(False)
        other = context.new_page()
        _sign_in(other, demo)  # a new session, with a new CSRF secret
        other.close()
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(_status(page)).to_contain_text("reload the page", timeout=10_000)
        assert _saved(demo, attempt.id)[0] is None
        assert any(".a." in key for key in _kept(page)), _kept(page)

        page.reload()  # a fresh token: the kept answer is sent
        expect(_status(page)).to_have_text("All answers saved", timeout=15_000)
        assert _saved(demo, attempt.id)[0] is not None
    finally:
        context.close()
