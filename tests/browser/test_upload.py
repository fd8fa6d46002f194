"""An instructor uploads a lecture in parts through a bad connection, in a real browser.

The connection "breaks" after three parts (Playwright aborts every later part PUT), the
instructor reloads the page, chooses the same file again, and only the missing parts go
out. The video is processed into renditions and the instructor adds captions in two
languages. Parts are 64 KiB (MEDIA_PART_SIZE) so a 1 MiB file makes sixteen of them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from lms.accounts.services import create_user
from lms.db import Base, get_engine, new_session
from lms.media.synth import make_test_video
from tests.browser.conftest import new_phone_page
from tests.conftest import PASSWORD, build_app
from tests.media.conftest import make_world, padded

PART = 64 * 1024
SIZE = 1024 * 1024 + 4321


@dataclass
class Server:
    base_url: str
    email: str
    lesson_id: int


@pytest.fixture
def upload_server(tmp_path: Path) -> Iterator[Server]:
    app = build_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'upload.db'}",
        WTF_CSRF_ENABLED=True,
        JOBS_IMMEDIATE=True,
        MEDIA_PART_SIZE=PART,
    )
    Base.metadata.create_all(get_engine(app))
    counter = iter(range(1, 100))

    def make_user(*roles: str, **fields: object):
        with new_session(app) as session:
            user = create_user(
                session,
                email=f"teacher{next(counter)}@example.org",
                name="Kenji Sato",
                roles=roles,
                password=PASSWORD,
                **fields,  # type: ignore[arg-type]
            )
            session.commit()
            return user

    world = make_world(app, make_user)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Server(
            f"http://127.0.0.1:{server.server_port}", world.instructor.email, world.video_lesson_id
        )
    finally:
        server.shutdown()
        get_engine(app).dispose()


@pytest.fixture
def upload_page(browser, upload_server: Server):
    context, page = new_phone_page(browser)
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-upload")
    video = make_test_video(folder / "source.mp4", seconds=2, width=640, height=360)
    return padded(video, folder / "lecture.mp4", SIZE)


@pytest.fixture(scope="module")
def captions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("browser-captions")
    english = folder / "lecture.en.vtt"
    english.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nWelcome to the plant.\n\n"
        "00:00:01.000 --> 00:00:02.000\nThis is the bunker.\n"
    )
    japanese = folder / "lecture.ja.srt"
    japanese.write_text(
        "1\n00:00:00,000 --> 00:00:01,000\n清掃工場へようこそ。\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nこれはごみバンカです。\n",
        encoding="utf-8",
    )
    return english, japanese


def part_number(url: str) -> int:
    return int(url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])


def test_upload_survives_a_broken_connection_and_a_reload(
    upload_page, upload_server: Server, lecture: Path, captions: tuple[Path, Path]
) -> None:
    page = upload_page
    base = upload_server.base_url
    parts = math.ceil(SIZE / PART)

    page.goto(base + "/login")
    page.fill("#email", upload_server.email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    media_url = f"{base}/teach/lessons/{upload_server.lesson_id}/media"
    page.goto(media_url)
    assert page.get_by_text("No file yet.").is_visible()

    # --- first attempt: three parts get through, then the connection "breaks" -------
    delivered: list[int] = []
    lock = threading.Lock()

    def flaky(route, request) -> None:
        if request.method != "PUT":
            route.continue_()
            return
        with lock:
            allow = len(delivered) < 3
            if allow:
                delivered.append(part_number(request.url))
        if allow:
            route.continue_()
        else:
            route.abort("connectionreset")

    page.route("**/files-upload/**", flaky)
    finished: list[int] = []
    page.on(
        "requestfinished",
        lambda request: (
            finished.append(part_number(request.url))
            if request.method == "PUT" and "/files-upload/" in request.url
            else None
        ),
    )
    page.set_input_files(f"#upload-file-{upload_server.lesson_id}", str(lecture))
    page.get_by_role("button", name="Upload", exact=True).focus()
    page.keyboard.press("Enter")  # a keyboard user starts it
    expect(page.locator("[data-upload-status]")).to_contain_text("trying again")
    for _ in range(200):  # the three delivered parts may still be on their way
        if len(finished) == 3:
            break
        page.wait_for_timeout(50)
    assert len(delivered) == 3 and sorted(finished) == sorted(delivered)
    assert page.locator("[data-upload-progress]").is_visible()

    # --- the instructor reloads (or comes back later) and picks the same file --------
    page.unroute("**/files-upload/**")
    page.reload()
    hint = page.locator("[data-upload-resume-hint]")
    assert hint.is_visible() and "lecture.mp4" in hint.inner_text()
    sent_after: list[int] = []
    page.on(
        "request",
        lambda request: (
            sent_after.append(part_number(request.url))
            if request.method == "PUT" and "/files-upload/" in request.url
            else None
        ),
    )
    page.set_input_files(f"#upload-file-{upload_server.lesson_id}", str(lecture))
    page.get_by_role("button", name="Upload", exact=True).click()

    status = page.locator("[data-upload-status]")
    expect(status).to_contain_text("The file is ready", timeout=120_000)
    missing = sorted(set(range(1, parts + 1)) - set(delivered))
    assert sorted(sent_after) == missing  # only the missing parts, each once
    assert "ready" in status.inner_text()

    panel = page.locator("[data-media-panel]")
    expect(panel).to_contain_text("240p")
    text = panel.inner_text()
    for expected in ("Ready", "240p", "360p", "Audio only", "lecture.mp4"):
        assert expected in text, expected
    assert page.locator(".media-poster").is_visible()
    assert not hint.is_visible()  # nothing left to resume

    # --- captions in two languages -----------------------------------------------------
    english, japanese = captions
    page.select_option("#caption-language", "en")
    page.set_input_files("#caption-file", str(english))
    page.get_by_role("button", name="Add captions").click()
    page.wait_for_load_state()
    assert page.get_by_text("Captions in English saved (2 cues).").is_visible()
    page.select_option("#caption-language", "ja")
    page.set_input_files("#caption-file", str(japanese))
    page.get_by_role("button", name="Add captions").click()
    page.wait_for_load_state()
    listed = page.locator(".caption-list").inner_text()
    assert "English" in listed and "日本語" in listed

    # A caption that runs past the video is refused with its line.
    bad = japanese.with_name("late.srt")
    bad.write_text("1\n00:00:00,000 --> 00:00:09,000\n遅すぎる\n", encoding="utf-8")
    page.set_input_files("#caption-file", str(bad))
    page.get_by_role("button", name="Add captions").click()
    page.wait_for_load_state()
    assert page.get_by_text("Line 2: the cue ends at 00:00:09.000").is_visible()

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.csp_violations == []  # type: ignore[attr-defined]


def test_pause_offline_and_resume(upload_page, upload_server: Server, lecture: Path) -> None:
    page = upload_page
    base = upload_server.base_url
    page.goto(base + "/login")
    page.fill("#email", upload_server.email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    page.goto(f"{base}/teach/lessons/{upload_server.lesson_id}/media")

    def refuse(route, request) -> None:
        if request.method == "PUT":
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/files-upload/**", refuse)  # a link that drops every part
    page.set_input_files(f"#upload-file-{upload_server.lesson_id}", str(lecture))
    page.get_by_role("button", name="Upload", exact=True).click()
    status = page.locator("[data-upload-status]")
    expect(status).to_contain_text("trying again")

    pause = page.locator("[data-upload-pause]")
    pause.click()
    expect(status).to_contain_text("Paused at")
    expect(pause).to_have_text("Resume")

    page.context.set_offline(True)
    expect(status).to_contain_text("connection is lost")
    page.unroute("**/files-upload/**")
    page.context.set_offline(False)
    page.wait_for_timeout(300)
    assert "ready" not in status.inner_text()  # still paused by the instructor
    pause.click()
    expect(status).to_contain_text("The file is ready", timeout=120_000)
    expect(page.locator("[data-media-panel]")).to_contain_text("240p")
    assert page.csp_violations == []  # type: ignore[attr-defined]
