"""In a real browser: an instructor builds and publishes a course, a trainee reads it.

Elements are found by id, name and form action rather than by their words, so the
test holds whatever language the interface is in (the demo instructor uses Japanese).
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
from lms.programs.models import Programme, ProgrammeCourse
from tests.browser.conftest import DEMO_PASSWORD, new_phone_page
from tests.conftest import build_app

INSTRUCTOR = "instructor@kenshu.example.org"
TRAINEE = "trainee1@kenshu.example.org"


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """The demo on a loopback port, with the app at hand to arrange data."""
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'authoring.db'}", WTF_CSRF_ENABLED=True)
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        get_engine(app).dispose()


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _submit(page, form_selector: str) -> None:
    with page.expect_navigation():
        page.locator(f"{form_selector} button[type=submit]").first.click()


def _lesson_order(page) -> list[str]:
    return page.locator(".lesson-list > li .lesson-head > a").all_inner_texts()


def test_instructor_publishes_and_trainee_reads(browser, demo_server) -> None:
    base, app = demo_server
    context, page = new_phone_page(browser)
    _sign_in(page, base, INSTRUCTOR)

    # A new course.
    page.goto(base + "/teach/courses/new")
    page.fill("#code", "MSW-101")
    page.fill("#title", "Municipal solid waste in Tokyo")
    page.fill("#summary", "Separation, collection, incineration and final disposal.")
    page.select_option("#default_language", "en")
    _submit(page, "main form[method=post]")
    assert "/teach/courses/" in page.url
    assert _no_horizontal_scroll(page)

    # A module and two reading lessons.
    page.fill("#new-module-title", "Separation and collection")
    _submit(page, "#new-module")
    add_form = "form.add-lesson"
    kind_select = page.locator(f"{add_form} select").first
    kind_select.select_option("reading")
    page.locator(f"{add_form} input[type=text]").first.fill("Why we separate")
    _submit(page, add_form)
    # The new lesson's editor: write its text.
    assert "/lessons/" in page.url
    page.fill("#body", "Tokyo separates **burnable** waste from *non-burnable* waste.")
    _submit(page, "main form.card")
    page.goto(page.url.split("/lessons/")[0])
    page.locator(f"{add_form} select").first.select_option("reading")
    page.locator(f"{add_form} input[type=text]").first.fill("Collection days")
    _submit(page, add_form)
    page.goto(page.url.split("/lessons/")[0])
    assert _lesson_order(page) == ["Why we separate", "Collection days"]
    assert _no_horizontal_scroll(page)

    # Reorder by keyboard: from the second lesson's preview link, Tab to "move up", Enter.
    second = page.locator(".lesson-list > li").nth(1)
    second.locator(".actions a").first.focus()
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "[document.activeElement.tagName, document.activeElement.form"
        " && document.activeElement.form.querySelector('[name=direction]').value]"
    )
    assert focused == ["BUTTON", "up"]
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _lesson_order(page) == ["Collection days", "Why we separate"]

    # Publish.
    _submit(page, "#publishing form")
    assert page.locator("#publishing .state-published").is_visible()
    assert page.csp_violations == []  # type: ignore[attr-defined]
    context.close()

    # The training office puts the course in the demo programme the trainee is enrolled in.
    with new_session(app) as session:
        course = session.scalar(select(Course).where(Course.code == "MSW-101"))
        programme = session.scalar(select(Programme).where(Programme.code == "WTE-2026"))
        assert course is not None and programme is not None
        session.add(ProgrammeCourse(programme_id=programme.id, course_id=course.id))
        session.commit()

    context, page = new_phone_page(browser)
    _sign_in(page, base, TRAINEE)
    page.goto(base + "/courses")
    with page.expect_navigation():
        page.get_by_role("link", name="Municipal solid waste in Tokyo", exact=True).click()
    assert page.locator("h1").inner_text() == "Municipal solid waste in Tokyo"
    with page.expect_navigation():
        page.get_by_role("link", name="Why we separate", exact=True).click()
    assert page.locator("h1").inner_text() == "Why we separate"
    prose = page.locator(".prose")
    assert "Tokyo separates burnable waste" in prose.inner_text()
    assert prose.locator("strong").inner_text() == "burnable"
    # The lesson order is the reordered one: this lesson comes second.
    assert page.locator("a[rel=prev]").is_visible()
    assert _no_horizontal_scroll(page)
    assert page.csp_violations == []  # type: ignore[attr-defined]
    context.close()
