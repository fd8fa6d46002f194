"""A trainee walks the sample plant tour in a real browser (issue 6).

The demo's sample course is imported with its clips really processed
(``JOBS_IMMEDIATE``). On a phone-sized page the trainee opens the stops in order
(a guided tour), looks around a 360° panorama by dragging and with the keyboard,
follows a hotspot to the next stop, watches a video stop, and sees the tour done
only once every required stop is visited; the lesson's progress row says so too.
The viewer (Photo Sphere Viewer, bundled by ``make assets``) must work under the
strict Content Security Policy: no violation is reported.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from lms.accounts.models import User
from lms.catalog.models import Course, CourseVersion
from lms.db import Base, get_engine, new_session
from lms.demo import load_demo
from lms.learning.models import LessonProgress
from tests.browser.conftest import DEMO_PASSWORD, chromium_path, watch_csp
from tests.conftest import IN_CI, build_app

TRAINEE = "trainee1@kenshu.example.org"
VIEWER_BUNDLE = Path(__file__).resolve().parents[2] / "lms" / "static" / "vendor" / "panorama.js"


@dataclass
class Demo:
    app: Flask
    base_url: str
    course_id: int
    tour_lesson_id: int


@pytest.fixture(scope="module")
def tour_browser(browser) -> Iterator[object]:
    """Chromium with software WebGL (for the 360° view) that may start media by script."""
    if not VIEWER_BUNDLE.is_file():
        message = "the panorama viewer is not built: run `make assets` (npm registry)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    other = browser.browser_type.launch(
        executable_path=chromium_path(),
        headless=True,
        args=[
            "--no-sandbox",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--autoplay-policy=no-user-gesture-required",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
        ],
    )
    yield other
    other.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    app = build_app(
        tmp_path, f"sqlite:///{tmp_path / 'tour.db'}", WTF_CSRF_ENABLED=True, JOBS_IMMEDIATE=True
    )
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    with new_session(app) as session:
        course = session.scalar(select(Course).where(Course.code == "TOKYO-MSW"))
        assert course is not None and course.published_version_id is not None
        version = session.get(CourseVersion, course.published_version_id)
        [tour] = [
            lesson
            for module in version.snapshot["modules"]  # type: ignore[union-attr]
            for lesson in module["lessons"]
            if lesson["kind"] == "tour"
        ]
        course_id = course.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Demo(app, f"http://127.0.0.1:{server.server_port}", course_id, tour["id"])
    finally:
        server.shutdown()
        get_engine(app).dispose()


def _progress(demo: Demo) -> str | None:
    with new_session(demo.app) as session:
        user_id = session.scalar(select(User.id).where(User.email == TRAINEE))
        return session.scalar(
            select(LessonProgress.status).where(
                LessonProgress.user_id == user_id, LessonProgress.lesson_id == demo.tour_lesson_id
            )
        )


def _wait_visited(page, uid: str) -> None:
    page.wait_for_selector(f'[data-stop-item="{uid}"].visited', timeout=20_000)
    page.wait_for_selector(f'[data-map-stop="{uid}"].visited', state="attached")


def _yaw(page) -> int:
    return int(page.get_attribute("[data-tour-panorama]", "data-yaw") or "0")


def test_a_trainee_walks_the_sample_tour(tour_browser, demo: Demo) -> None:
    context = tour_browser.new_context(viewport={"width": 360, "height": 740}, locale="en-GB")
    page = watch_csp(context.new_page())
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(demo.base_url + "/login")
    page.fill("input[name=email]", TRAINEE)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(demo.base_url + "/")

    page.goto(f"{demo.base_url}/courses/{demo.course_id}/lessons/{demo.tour_lesson_id}")
    assert "0 of 5 required stops visited" in page.inner_text("[data-tour-status]")
    assert page.locator("svg.tour-map a.map-stop").count() == 9

    # Stop 1, photos: visited after the tour's dwell time (5 s), shown on the map.
    page.click("[data-start-tour]")
    page.wait_for_url("**stop=weighbridge")
    assert page.locator(".tour-photos img").count() == 2
    _wait_visited(page, "weighbridge")
    assert "1 of 5" in page.inner_text("[data-tour-status]")

    # Stop 2, a panorama: the small preview first, then the full image.
    page.click("[data-next-stop]")
    page.wait_for_url("**stop=tipping-floor")
    page.wait_for_selector("[data-tour-panorama][data-viewer=full]", timeout=30_000)
    viewer = page.locator("[data-tour-panorama]")
    box = viewer.bounding_box()
    assert box is not None and box["width"] <= 360
    # Look around by dragging...
    before = _yaw(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 120, y, steps=8)
    page.mouse.up()
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-tour-panorama]').dataset.yaw) !== {before}"
    )
    # ... and with the keyboard, once the view has the focus.
    dragged = _yaw(page)
    viewer.focus()
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-tour-panorama]').dataset.yaw) !== {dragged}"
    )
    _wait_visited(page, "tipping-floor")

    # Follow the hotspot that leads to the bunker: turn towards it and click it.
    page.evaluate("() => window.kenshuPanorama.rotate({ yaw: '20deg', pitch: '-10deg' })")
    marker = page.locator('[data-marker="to-bunker"]')
    marker.wait_for(state="visible")
    marker.click()
    page.wait_for_url("**stop=waste-bunker")

    # Stop 3, a clip: visited once the lesson's share of it has really been played.
    page.wait_for_selector("[data-player][data-quality-ready]", state="attached")
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    page.wait_for_function("() => document.querySelector('video').ended", timeout=30_000)
    _wait_visited(page, "waste-bunker")
    assert "3 of 5" in page.inner_text("[data-tour-status]")

    # Stop 4, the furnace; the optional stops 5 to 7 may be skipped in a guided tour.
    page.click("[data-next-stop]")
    page.wait_for_url("**stop=furnace")
    _wait_visited(page, "furnace")
    assert "4 of 5" in page.inner_text("[data-tour-status]")
    assert page.get_attribute("[data-tour-status]", "data-done") is None
    assert _progress(demo) == "in_progress"

    page.click('svg.tour-map a[data-map-stop="control-room"]')
    page.wait_for_url("**stop=control-room")
    _wait_visited(page, "control-room")
    page.wait_for_selector("[data-tour-status][data-done]")
    assert "Tour complete" in page.inner_text("[data-tour-status]")
    assert _progress(demo) == "done"

    assert errors == []
    assert page.csp_violations == []  # type: ignore[attr-defined]
    context.close()
