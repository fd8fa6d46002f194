"""The whole story of issue 3 in a real browser, from an empty course to a trainee's lesson.

An instructor creates a course, a module and a video lesson through /teach, uploads a
lecture in parts through a connection that breaks part-way, reloads, picks the same file
again and only the missing parts go out; the job queue (a real Huey consumer inside the
process, as ``lms serve`` runs it) turns the file into renditions while the page shows its
progress; the instructor adds captions in English (WebVTT) and Japanese (SRT) and
publishes. A trainee enrolled in a programme that contains the course then opens the
lesson and gets a playable video with both caption tracks.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from lms.accounts.models import User
from lms.accounts.services import create_user
from lms.db import Base, get_engine, new_session
from lms.jobs import get_jobs
from lms.media.synth import make_test_video
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor
from tests.browser.conftest import new_phone_page
from tests.conftest import PASSWORD, build_app
from tests.media.conftest import padded

PART = 64 * 1024  # MEDIA_PART_SIZE: the smallest the local back-end takes
SIZE = 1024 * 1024 + 4321  # sixteen full parts and a short seventeenth
PARTS = math.ceil(SIZE / PART)
GET_THROUGH = 5  # part PUTs that reach the server before the connection breaks

INSTRUCTOR = "kenji.sato@example.org"
TRAINEE = "amina.okafor@example.org"
LESSON_TITLE = "Inside an incineration plant"


@dataclass
class Journey:
    base_url: str
    app: Flask


@pytest.fixture
def journey_server(tmp_path: Path) -> Iterator[Journey]:
    """An instructor and a trainee (English interface), small parts, a running job consumer."""
    app = build_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'journey.db'}",
        WTF_CSRF_ENABLED=True,
        MEDIA_PART_SIZE=PART,
    )
    Base.metadata.create_all(get_engine(app))
    with new_session(app) as session:
        for email, name, role in (
            (INSTRUCTOR, "Kenji Sato", "instructor"),
            (TRAINEE, "Amina Okafor", "trainee"),
        ):
            create_user(
                session, email=email, name=name, roles=(role,), password=PASSWORD, locale="en"
            )
        session.commit()
    consumer = get_jobs(app).start_consumer(workers=1)  # what `lms serve` starts
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Journey(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        consumer.stop(graceful=True)
        get_engine(app).dispose()


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("journey-video")
    video = make_test_video(folder / "source.mp4", seconds=3, width=640, height=360)
    return padded(video, folder / "incineration.mp4", SIZE)  # still a valid MP4


@pytest.fixture(scope="module")
def captions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("journey-captions")
    english = folder / "incineration.en.vtt"
    english.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nThis is the waste bunker.\n\n"
        "00:00:01.500 --> 00:00:03.000\nThe crane feeds the furnace.\n",
        encoding="utf-8",
    )
    japanese = folder / "incineration.ja.srt"
    japanese.write_text(
        "1\n00:00:00,000 --> 00:00:01,500\nこれはごみバンカです。\n\n"
        "2\n00:00:01,500 --> 00:00:03,000\nクレーンがごみを炉に送ります。\n",
        encoding="utf-8",
    )
    return english, japanese


def _new_page(browser):
    context, page = new_phone_page(browser)
    page.set_default_timeout(30_000)
    return context, page


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")


def _submit(page, form_selector: str) -> None:
    with page.expect_navigation():
        page.locator(f"{form_selector} button[type=submit]").first.click()


def _is_part_put(request) -> bool:
    return request.method == "PUT" and "/files-upload/" in request.url


def _part_number(url: str) -> int:
    return int(url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])


def test_instructor_builds_a_video_course_and_a_trainee_watches_it(
    browser, journey_server: Journey, lecture: Path, captions: tuple[Path, Path]
) -> None:
    base = journey_server.base_url
    context, page = _new_page(browser)
    _sign_in(page, base, INSTRUCTOR)

    # --- a course, a module and a video lesson, through /teach ---------------------------
    page.goto(base + "/teach")
    with page.expect_navigation():
        page.get_by_role("link", name="New course").click()
    page.fill("#code", "WTE-201")
    page.fill("#title", "Waste-to-energy plants")
    page.fill("#summary", "How Tokyo's 23 wards burn waste and recover its energy.")
    page.select_option("#default_language", "en")
    _submit(page, "main form[method=post]")
    course_url = page.url.split("?")[0]
    course_id = int(course_url.rstrip("/").rsplit("/", 1)[-1])
    page.fill("#new-module-title", "Incineration")
    _submit(page, "#new-module")
    page.locator("form.add-lesson select").first.select_option("video")
    page.locator("form.add-lesson input[type=text]").first.fill(LESSON_TITLE)
    _submit(page, "form.add-lesson")
    assert "/lessons/" in page.url  # the new lesson's editor
    lesson_id = int(page.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
    editor_url = page.url
    file_input = f"#upload-file-{lesson_id}"
    expect(page.locator("[data-media-panel]")).to_contain_text("No file yet.")

    # --- the upload: five parts get through, then the connection breaks ------------------
    attempted: Counter[int] = Counter()
    finished: set[int] = set()
    lock = threading.Lock()

    def breaking(route, request) -> None:
        if request.method != "PUT":
            route.continue_()
            return
        with lock:
            allow = sum(attempted.values()) < GET_THROUGH
            attempted[_part_number(request.url)] += 1
        if allow:
            route.continue_()
        else:
            route.abort("connectionreset")

    def on_finished(request) -> None:
        if _is_part_put(request):
            response = request.response()
            if response is not None and response.status == 200:
                finished.add(_part_number(request.url))

    page.route("**/files-upload/**", breaking)
    page.on("requestfinished", on_finished)
    page.set_input_files(file_input, str(lecture))
    page.locator("[data-upload-start]").click()
    status = page.locator("[data-upload-status]")
    expect(status).to_contain_text("trying again")  # parts fail; the widget retries
    for _ in range(200):  # the parts let through may still be on their way
        if len(finished) == GET_THROUGH:
            break
        page.wait_for_timeout(50)
    assert len(finished) == GET_THROUGH, (finished, attempted)
    assert len(attempted) > GET_THROUGH  # later parts were tried and lost
    page.remove_listener("requestfinished", on_finished)

    # --- the instructor reloads and picks the same file: only missing parts go out -------
    page.unroute("**/files-upload/**")
    page.reload()
    hint = page.locator("[data-upload-resume-hint]")
    expect(hint).to_contain_text("incineration.mp4")
    resent: Counter[int] = Counter()
    page.on(
        "request",
        lambda request: (
            resent.update([_part_number(request.url)]) if _is_part_put(request) else None
        ),
    )
    page.set_input_files(file_input, str(lecture))
    page.locator("[data-upload-start]").click()
    expect(status).to_contain_text("The file is ready", timeout=45_000)
    assert not (finished & set(resent)), "a finished part was sent again"
    assert set(resent) == set(range(1, PARTS + 1)) - finished
    assert all(count == 1 for count in resent.values()), resent

    # The panel shows the processed file: ready, with its renditions and a poster.
    panel = page.locator("[data-media-panel]")
    expect(panel.locator("[data-media-state]")).to_have_text("Ready")
    renditions = panel.locator("[data-renditions]")
    expect(renditions).to_contain_text("240p")
    listed = renditions.inner_text()
    for name in ("240p", "360p", "Audio only"):
        assert name in listed, (name, listed)
    assert "720p" not in listed  # never larger than the 640×360 source
    expect(panel.locator(".media-poster")).to_be_visible()
    expect(hint).to_be_hidden()  # nothing left to resume

    # --- captions in English (WebVTT) and Japanese (SRT) ---------------------------------
    english, japanese = captions
    for language, path in (("en", english), ("ja", japanese)):
        page.select_option("#caption-language", language)
        page.set_input_files("#caption-file", str(path))
        _submit(page, "form.caption-form")
    assert page.url.split("?")[0] == editor_url.split("?")[0]  # back in the lesson editor
    caption_list = page.locator(".caption-list")
    expect(caption_list.locator("[lang=en]")).to_have_text("English")
    expect(caption_list.locator("[lang=ja]")).to_have_text("日本語")

    # --- publish ---------------------------------------------------------------------------
    page.goto(course_url)
    _submit(page, "#publishing form")
    expect(page.locator("#publishing .state-published")).to_be_visible()
    assert page.csp_violations == []  # type: ignore[attr-defined]
    context.close()

    # --- the training office enrols the trainee in a programme with the course ------------
    with new_session(journey_server.app) as session:
        sponsor = Sponsor(name="Ministry of Environment, Example Republic", kind="ministry")
        session.add(sponsor)
        session.flush()
        programme = Programme(
            code="WTE-2026-B",
            title="Waste-to-energy, second cohort",
            sponsor_id=sponsor.id,
            starts_on=date.today() - timedelta(days=1),
            ends_on=date.today() + timedelta(days=60),
        )
        session.add(programme)
        session.flush()
        session.add(ProgrammeCourse(programme_id=programme.id, course_id=course_id))
        trainee_id = session.scalar(select(User.id).where(User.email == TRAINEE))
        session.add(Enrolment(programme_id=programme.id, user_id=trainee_id))
        session.commit()

    # --- the trainee opens the lesson ----------------------------------------------------
    context, page = _new_page(browser)
    _sign_in(page, base, TRAINEE)
    page.goto(f"{base}/courses/{course_id}")
    with page.expect_navigation():
        page.locator("main a", has_text=LESSON_TITLE).first.click()
    assert page.url.split("?")[0] == f"{base}/courses/{course_id}/lessons/{lesson_id}"
    video = page.locator("video")
    expect(video).to_have_count(1)
    sources = video.locator("source").evaluate_all("els => els.map(e => e.src)")
    assert sources, "the video has no <source>"
    for url in sources:  # fetched with the trainee's cookies
        answer = page.request.get(url)
        assert answer.status == 200, (url, answer.status)
        assert answer.headers["content-type"].startswith("video/mp4"), answer.headers
    tracks = video.locator("track")
    expect(tracks).to_have_count(2)
    languages = sorted(tracks.evaluate_all("els => els.map(e => e.srclang)"))
    assert languages == ["en", "ja"]
    for url in tracks.evaluate_all("els => els.map(e => e.src)"):
        cues = page.request.get(url)
        assert cues.status == 200 and cues.text().startswith("WEBVTT"), url
    assert page.csp_violations == []  # type: ignore[attr-defined]
    context.close()
