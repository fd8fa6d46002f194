"""An instructor builds a small tour in the browser (issue 6).

On a new tour lesson of a fresh course: upload the map, click on it to place two
stops (a panorama, then photos), click on the panorama to place a hotspot that leads
to the photos, reorder the stops, try a flat picture as a panorama (refused, nothing
stored), and preview the tour as a trainee.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.catalog.models import Lesson
from lms.db import new_session
from lms.media.models import MediaAsset
from lms.media.synth import make_equirectangular_image, make_slides_video
from lms.tours.sample import _map, _photo
from tests.browser.conftest import DEMO_PASSWORD
from tests.browser.test_tour import Demo, demo, tour_browser  # noqa: F401 - fixtures

INSTRUCTOR = "instructor@kenshu.example.org"


def _files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "files"
    folder.mkdir()
    _map(folder / "map.png")
    _photo(folder / "photo.jpg", "A photo", 5)
    make_equirectangular_image(folder / "hall.jpg", 1024)
    make_slides_video(folder / "crane.mp4", ["Crane"], 2, width=320, height=180, audio=None)
    return {
        "map": folder / "map.png",
        "photo": folder / "photo.jpg",
        "panorama": folder / "hall.jpg",
        "clip": folder / "crane.mp4",
    }


def _click_map(page, fx: float, fy: float) -> None:
    image = page.locator("[data-builder-map-image]")
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)


def _assets(demo: Demo) -> int:  # noqa: F811
    with new_session(demo.app) as session:
        return session.scalar(select(func.count()).select_from(MediaAsset)) or 0


@pytest.fixture
def english_instructor(demo: Demo) -> Iterator[None]:  # noqa: F811
    """The demo instructor works in Japanese; this test reads the English texts."""
    with new_session(demo.app) as session:
        user = session.scalar(select(User).where(User.email == INSTRUCTOR))
        assert user is not None
        user.locale, locale = "en", user.locale
        session.commit()
    yield
    with new_session(demo.app) as session:
        user = session.scalar(select(User).where(User.email == INSTRUCTOR))
        user.locale = locale  # type: ignore[union-attr]
        session.commit()


@pytest.mark.usefixtures("english_instructor")
def test_an_instructor_builds_a_small_tour(tour_browser, demo: Demo, tmp_path: Path) -> None:  # noqa: F811
    files = _files(tmp_path)
    context = tour_browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(demo.base_url + "/login")
    page.fill("input[name=email]", INSTRUCTOR)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(demo.base_url + "/")

    # A new tour lesson in the sample course's first module.
    page.goto(f"{demo.base_url}/teach/courses/{demo.course_id}")
    add = page.locator("form.add-lesson").first
    add.locator("select").select_option("tour")
    add.locator("input[type=text]").first.fill("Small tour")
    add.locator("button[type=submit]").click()
    page.wait_for_url("**/lessons/*")
    lesson_id = int(page.url.split("/lessons/")[1].split("?")[0].split("#")[0])
    page.goto(f"{demo.base_url}/teach/courses/{demo.course_id}/lessons/{lesson_id}/tour")

    page.set_input_files("#map-file", str(files["map"]))
    page.click("#tour-map button[type=submit]")
    page.wait_for_selector("[data-builder-map-image]")

    # Stop 1, a panorama, placed by a click on the map.
    _click_map(page, 0.25, 0.5)
    assert page.input_value("#new-x") == "0.250"
    page.fill("#new-title", "Hall")
    page.select_option("#new-kind", "panorama")
    page.set_input_files("#new-file", str(files["panorama"]))
    page.click("[data-add-stop] button[type=submit]")
    page.wait_for_selector(".builder-stop")

    # A flat picture is not a panorama: refused with the reason, nothing stored.
    before = _assets(demo)
    _click_map(page, 0.7, 0.3)
    page.fill("#new-title", "Bad")
    page.select_option("#new-kind", "panorama")
    page.set_input_files("#new-file", str(files["photo"]))
    page.click("[data-add-stop] button[type=submit]")
    page.wait_for_selector(".flash-error")
    assert "equirectangular" in page.inner_text(".flash-error")
    assert _assets(demo) == before

    # Stop 2, photos.
    _click_map(page, 0.7, 0.3)
    page.fill("#new-title", "Weighbridge")
    page.select_option("#new-kind", "photos")
    page.set_input_files("#new-file", str(files["photo"]))
    page.click("[data-add-stop] button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('.builder-stop').length === 2")

    # A hotspot on the panorama, placed by a click on it, leading to the photos.
    hall = page.locator(".builder-stop").first
    pano = hall.locator("[data-builder-panorama]")
    page.wait_for_selector("[data-builder-panorama][data-viewer=ready]", timeout=30_000)
    pano.scroll_into_view_if_needed()
    box = pano.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5)
    page.wait_for_function(
        "() => document.querySelector('[data-add-hotspot] [data-yaw]').value !== ''"
    )
    hall.locator("[data-add-hotspot] select").select_option(label="2. Weighbridge")
    hall.locator("[data-add-hotspot] button[type=submit]").click()
    page.wait_for_selector("text=Leads to: Weighbridge")

    # Reorder: the photos first.
    page.locator(".builder-stop").nth(1).locator("button", has_text="Up").click()
    page.wait_for_function(
        "() => document.querySelector('.builder-stop h3').textContent.includes('Weighbridge')"
    )
    with new_session(demo.app) as session:
        tour = session.get(Lesson, lesson_id).settings["tour"]  # type: ignore[union-attr]
    assert [s["kind"] for s in tour["stops"]] == ["photos", "panorama"]
    [hotspot] = tour["stops"][1]["hotspots"]
    assert hotspot["kind"] == "stop" and hotspot["stop"] == tour["stops"][0]["uid"]
    assert -180 <= hotspot["yaw"] <= 180

    # Stop 3, a video clip: sent with the resumable upload, then put on its stop.
    _click_map(page, 0.5, 0.8)
    page.fill("#new-title", "Crane")
    page.select_option("#new-kind", "video")
    assert page.locator("#new-file").is_hidden()  # no one-request upload for clips
    clip = page.locator("[data-tour-clip-upload][data-new-stop]")
    clip.locator("[data-upload-file]").set_input_files(str(files["clip"]))
    clip.locator("[data-upload-start]").click()
    page.wait_for_function("() => document.querySelectorAll('.builder-stop').length === 3")
    with new_session(demo.app) as session:
        stops = session.get(Lesson, lesson_id).settings["tour"]["stops"]  # type: ignore[union-attr]
        assert [s["kind"] for s in stops] == ["photos", "panorama", "video"]
        assert stops[2]["texts"]["en"]["title"] == "Crane" and stops[2]["y"] == 0.8
        clip_asset = session.get(MediaAsset, stops[2]["media_id"])
        assert clip_asset is not None and clip_asset.lesson_id is None

    # Preview as a trainee: the map with the stops, the panorama with its hotspot.
    page.click("[data-preview-tour]")
    assert page.locator("svg.tour-map a.map-stop").count() == 3
    page.click("svg.tour-map a.map-stop >> nth=1")
    page.wait_for_selector("[data-tour-panorama][data-viewer=full]", timeout=30_000)
    assert "Go to stop 1: Weighbridge" in page.inner_text("[data-tour-hotspots]")
    assert errors == []
    context.close()
