"""A trainee plays a lecture of the demo in a real browser on a bad connection (issue 4).

The demo's sample course (TOKYO-MSW) is imported with its videos really processed
(``JOBS_IMMEDIATE``): the first lesson is a 20-second H.264/AAC lecture. The trainee
watches the first seconds, skips ahead (which earns nothing), loses the connection and
watches on (the beats wait in localStorage), comes back online, and the progress stored
on the server is what the browser really played (``video.played``) to within a second;
a reload starts again at the second they stopped at.
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
from lms.learning.models import LessonProgress, PlaybackSession
from tests.browser.conftest import DEMO_PASSWORD, chromium_path, watch_csp
from tests.conftest import build_app

TRAINEE = "trainee1@kenshu.example.org"
QUEUED_BEATS = """() => Object.keys(localStorage)
  .filter((key) => key.startsWith("kenshu.beat.")).length"""
PLAYED = """() => {
  const v = document.querySelector("video");
  const ranges = [];
  for (let i = 0; i < v.played.length; i++) ranges.push([v.played.start(i), v.played.end(i)]);
  return ranges;
}"""


@dataclass
class Demo:
    app: Flask
    base_url: str
    course_id: int
    video_lesson_ids: list[int]
    reading_lesson_id: int
    document_lesson_id: int


@pytest.fixture(scope="module")
def player_browser(browser) -> Iterator[object]:
    """Chromium that may start media without a click (the clicks are scripted)."""
    other = browser.browser_type.launch(
        executable_path=chromium_path(),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    yield other
    other.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    app = build_app(
        tmp_path, f"sqlite:///{tmp_path / 'player.db'}", WTF_CSRF_ENABLED=True, JOBS_IMMEDIATE=True
    )
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    with new_session(app) as session:
        course = session.scalar(select(Course).where(Course.code == "TOKYO-MSW"))
        assert course is not None and course.published_version_id is not None
        version = session.get(CourseVersion, course.published_version_id)
        lessons = [lesson for module in version.snapshot["modules"] for lesson in module["lessons"]]
        by_kind: dict[str, list[int]] = {}
        for lesson in lessons:
            by_kind.setdefault(lesson["kind"], []).append(lesson["id"])
        course_id = course.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Demo(
            app=app,
            base_url=f"http://127.0.0.1:{server.server_port}",
            course_id=course_id,
            video_lesson_ids=by_kind["video"],
            reading_lesson_id=by_kind["reading"][0],
            document_lesson_id=by_kind["document"][0],
        )
    finally:
        server.shutdown()
        get_engine(app).dispose()


@pytest.fixture
def context(player_browser):
    context = player_browser.new_context(viewport={"width": 360, "height": 740}, locale="en-GB")
    yield context
    context.close()


def _page(context):
    page = watch_csp(context.new_page())
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    return page


def _sign_in(page, demo: Demo) -> None:
    page.goto(demo.base_url + "/login")
    page.fill("input[name=email]", TRAINEE)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(demo.base_url + "/")


def _wait_for_player(page) -> None:
    """The rendition chosen (player.js) and its metadata loaded."""
    page.wait_for_selector("[data-player][data-quality-ready]", state="attached")
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")


def _stored(demo: Demo, lesson_id: int) -> LessonProgress:
    with new_session(demo.app) as session:
        user_id = session.scalar(select(User.id).where(User.email == TRAINEE))
        progress = session.scalar(
            select(LessonProgress).where(
                LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson_id
            )
        )
        assert progress is not None
        session.expunge(progress)
        return progress


def _play_until(page, seconds: float) -> None:
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    page.wait_for_function(
        f"() => document.querySelector('video').currentTime >= {seconds}", timeout=30_000
    )


def _wait_near(page, seconds: float, tolerance: float) -> None:
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('video').currentTime - {seconds}) < {tolerance}"
    )


def test_watched_time_survives_skipping_and_a_lost_connection(context, demo: Demo) -> None:
    page = _page(context)
    _sign_in(page, demo)
    # Home: the "continue" button leads to the first unfinished lesson, the first lecture.
    lesson_id = demo.video_lesson_ids[0]
    page.locator("a[data-continue]").first.click()
    page.wait_for_url(f"{demo.base_url}/courses/{demo.course_id}/lessons/{lesson_id}")
    _wait_for_player(page)
    # Chromium plays the H.264/AAC renditions; a 360-pixel screen gets the lowest one.
    assert page.evaluate("document.querySelector('video').duration") == pytest.approx(20, abs=0.5)
    assert page.get_attribute("[data-player]", "data-rendition") == "240p"

    # 1. Watch the first four seconds.
    _play_until(page, 4.0)
    # 2. Skip ahead to 10 s: the seconds in between are not watched.
    page.evaluate("document.querySelector('video').currentTime = 10")
    page.wait_for_function("() => document.querySelector('video').currentTime >= 10.3")
    # the rest of this short file is in the buffer, so it plays on without the network
    page.wait_for_function(
        """() => { const v = document.querySelector('video');
                   return v.buffered.length && v.buffered.end(v.buffered.length - 1) >= 15; }"""
    )
    # 3. The connection drops; the trainee watches three more seconds.
    context.set_offline(True)
    start = page.evaluate("document.querySelector('video').currentTime")
    page.wait_for_function(f"() => document.querySelector('video').currentTime >= {start + 3}")
    page.evaluate("document.querySelector('video').pause()")
    stopped_at = page.evaluate("document.querySelector('video').currentTime")
    assert page.evaluate(QUEUED_BEATS) >= 1, "the beats made offline wait in localStorage"
    # 4. Back online: the queue is sent.
    context.set_offline(False)
    page.wait_for_function(f"() => ({QUEUED_BEATS})() === 0", timeout=20_000)

    played = page.evaluate(PLAYED)
    really_watched = sum(end - start for start, end in played)
    assert 6.5 <= really_watched <= 9.0, played  # about 4 s + 3 s, as the browser saw it
    progress = page.evaluate(
        f"""async () => (await fetch('/api/v1/lessons/{lesson_id}/progress',
                                     {{credentials: 'same-origin'}})).json()"""
    )
    assert progress["watched_seconds"] == pytest.approx(really_watched, abs=1.0), (
        progress,
        played,
    )
    assert progress["status"] == "in_progress"
    assert progress["position"] == pytest.approx(stopped_at, abs=0.5)
    stored = _stored(demo, lesson_id)
    assert stored.watched_seconds == pytest.approx(really_watched, abs=1.0)
    # Nothing between the skip's start (just after 4 s) and its target (10 s) was credited.
    for start_units, end_units in stored.watched:
        assert end_units <= 55 or start_units >= 95, stored.watched
    with new_session(demo.app) as session:
        sessions = session.scalars(
            select(PlaybackSession).where(PlaybackSession.lesson_id == lesson_id)
        ).all()
        assert sum(s.clipped_seconds for s in sessions) == 0

    # The page shows what the server says.
    assert page.get_attribute("[data-lesson-progress]", "data-status") == "in_progress"
    assert "watched" in page.inner_text("[data-progress-share]")

    # 5. A reload resumes at the second where the trainee stopped.
    page.reload()
    page.wait_for_function(
        "() => document.querySelector('video').currentTime > 1"
        " && !document.querySelector('video').seeking",
        timeout=20_000,
    )
    resumed = page.evaluate("document.querySelector('video').currentTime")
    assert resumed == pytest.approx(stopped_at, abs=1.0)
    assert page.csp_violations == [] and page.errors == []  # type: ignore[attr-defined]


def test_player_controls_transcript_and_readings_by_keyboard(context, demo: Demo) -> None:
    page = _page(context)
    _sign_in(page, demo)
    lesson_id = demo.video_lesson_ids[0]
    page.goto(f"{demo.base_url}/courses/{demo.course_id}/lessons/{lesson_id}")
    _wait_for_player(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # Subtitles default to the trainee's language (English here), and every line of the
    # transcript is a button that seeks to its start.
    assert page.evaluate(
        "[...document.querySelector('video').textTracks].filter(t => t.mode === 'showing')"
        ".map(t => t.language)"
    ) == ["en"]
    line = page.locator(".transcript-lines button").nth(2)
    start = float(line.get_attribute("data-start") or 0)
    line.focus()
    page.keyboard.press("Enter")
    _wait_near(page, start, 0.2)
    page.wait_for_function(
        "() => document.querySelectorAll('.transcript-lines button')[2]"
        ".getAttribute('aria-current') === 'true'"
    )

    # Audio only: the same moment, the same speed, and the choice is remembered.
    page.select_option("#player-speed", "1.5")
    page.select_option("#player-quality", "audio")
    page.wait_for_function("() => document.querySelector('video').src.includes('audio')")
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    _wait_near(page, start, 0.5)
    assert page.evaluate("document.querySelector('video').playbackRate") == 1.5
    assert page.evaluate("localStorage.getItem('kenshu.player.quality')") == "audio"
    page.reload()
    page.wait_for_selector("[data-player][data-quality-ready]", state="attached")
    assert page.get_attribute("[data-player]", "data-rendition") == "audio"
    assert page.input_value("#player-speed") == "1.5"

    # A reading is done once its end has been in view.
    page.goto(f"{demo.base_url}/courses/{demo.course_id}/lessons/{demo.reading_lesson_id}")
    assert page.get_attribute("[data-lesson-progress]", "data-status") == "not_started"
    page.locator("[data-reading-end]").scroll_into_view_if_needed()
    page.wait_for_selector("[data-lesson-progress][data-status=done]", timeout=10_000)
    assert page.locator("[data-mark-done]").is_hidden()
    assert _stored(demo, demo.reading_lesson_id).status == "done"
    assert page.csp_violations == [] and page.errors == []  # type: ignore[attr-defined]
