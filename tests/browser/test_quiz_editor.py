"""In a real browser on a phone-sized screen: writing a numeric question in the editor.

Found by id and name rather than words: the demo instructor reads Japanese.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from lms.catalog.models import Course
from lms.db import Base, get_engine, new_session
from lms.demo import load_demo
from lms.quizzes.models import Question
from tests.browser.conftest import DEMO_PASSWORD, new_phone_page
from tests.conftest import build_app

INSTRUCTOR = "instructor@kenshu.example.org"


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'editor.db'}", WTF_CSRF_ENABLED=True)
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        get_engine(app).dispose()


def test_numeric_question_on_a_phone(browser, demo_server) -> None:
    base, app = demo_server
    with new_session(app) as session:
        course_id = session.scalars(select(Course.id).order_by(Course.id)).first()
        before = len(session.scalars(select(Question.id)).all())
    context, page = new_phone_page(browser)
    try:
        page.goto(base + "/login")
        page.fill("input[name=email]", INSTRUCTOR)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/")
        page.goto(f"{base}/teach/courses/{course_id}/questions/new?type=numeric")
        # quiz-editor.js shows only the inputs of the row's kind.
        assert page.locator("#answers-0-value").is_visible()
        assert not page.locator("#answers-0-min").is_visible()
        page.select_option("#answers-1-mode", "range")
        assert page.locator("#answers-1-min").is_visible()
        assert not page.locator("#answers-1-value").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

        page.fill("#title", "Furnace temperature")
        page.fill("#text-en", "Above what temperature (°C) must the furnace stay?")
        page.fill("#answers-0-value", "850")
        page.fill("#answers-0-tolerance", "50")
        page.fill("#answers-1-min", "700")
        page.fill("#answers-1-max", "1000")
        page.fill("#answers-1-credit", "50")
        with page.expect_navigation():
            page.locator("form.question-editor button[type=submit]:not([name])").click()
        assert "/questions/" in page.url and "/new" not in page.url
        assert page.csp_violations == []
    finally:
        context.close()
    with new_session(app) as session:
        questions = session.scalars(select(Question).order_by(Question.id)).all()
        assert len(questions) == before + 1
        spec = questions[-1].spec
        assert [(a.get("value"), a.get("min"), a["credit"]) for a in spec["answers"]] == [
            (850.0, None, 1.0),
            (None, 700.0, 0.5),
        ]
