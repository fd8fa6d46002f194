"""Plant tours: the data's checks, bad media, import and export, visits and completion."""

from __future__ import annotations

import copy
import io
import re
import shutil
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson
from lms.content.exporter import export_course
from lms.content.importer import import_package_report, publish_if_changed
from lms.content.package import PackageError, read_package
from lms.db import new_session, utcnow
from lms.learning.models import LessonProgress
from lms.media.models import MediaAsset, Rendition
from lms.media.synth import make_equirectangular_image, make_slides_video
from lms.storage import get_storage
from lms.tours import services
from lms.tours.models import TourStopVisit
from lms.tours.sample import _map, _photo
from lms.tours.schema import TourError, parse_tour
from tests.conftest import csrf_token_from, login
from tests.learning.helpers import count_statements
from tests.learning.test_completion import make_programme

# --- the data ---------------------------------------------------------------------------


def _stop(uid: str, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "uid": uid,
        "x": 0.5,
        "y": 0.5,
        "kind": "panorama",
        "media_id": 3,
        "texts": {"en": {"title": uid.title()}},
    }
    data.update(extra)
    return data


def test_a_good_tour_round_trips_through_its_plain_data() -> None:
    data = {
        "map_media_id": 1,
        "order": "free",
        "dwell_seconds": 7,
        "stops": [
            _stop(
                "furnace",
                hotspots=[
                    {"yaw": 10, "pitch": -5, "kind": "note", "texts": {"en": {"text": "Hot"}}},
                    {"uid": "go", "yaw": -170, "pitch": 0, "kind": "stop", "stop": "stack"},
                ],
            ),
            _stop("stack", kind="video", required=False),
            _stop("ash", kind="photos", photos=[{"media_id": 4}], media_id=None),
        ],
    }
    data["stops"][2].pop("media_id")  # type: ignore[index, union-attr]
    tour = parse_tour(data)
    assert [s.uid for s in tour.stops] == ["furnace", "stack", "ash"]
    assert tour.required_uids == ["furnace", "ash"]
    assert tour.stops[0].hotspots[0].uid == "h1"
    assert parse_tour(tour.to_dict()) == tour
    assert tour.media_ids() == [1, 3, 3, 4]


def test_guided_order_opens_stops_after_the_earlier_required_ones() -> None:
    tour = parse_tour({"stops": [_stop("a"), _stop("b", required=False), _stop("c"), _stop("d")]})
    assert tour.is_open("a", set()) and not tour.is_open("b", set())
    assert tour.is_open("b", {"a"}) and tour.is_open("c", {"a"})  # b is optional
    assert not tour.is_open("d", {"a"})
    assert tour.is_complete({"a", "c", "d"}) and not tour.is_complete({"a", "b", "c"})


def test_a_tour_without_required_stops_is_done_after_one_visit_not_before() -> None:
    tour = parse_tour({"stops": [_stop("a", required=False), _stop("b", required=False)]})
    assert not tour.is_complete(set())
    assert tour.is_complete({"b"})


def test_every_problem_is_named_with_its_place(app: Flask) -> None:
    bad = {
        "order": "random",
        "stops": [
            _stop("a", x=1.5, hotspots=[{"yaw": 400, "pitch": 0, "kind": "stop", "stop": "zz"}]),
            _stop("a", kind="photos", photos=[]),
            _stop("Bad Id", texts={"ja": {"title": "日本語だけ"}}),
        ],
    }
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        with pytest.raises(TourError) as caught:
            parse_tour(bad)
        places = [where for where, _message in caught.value.problems]
        text = " ".join(caught.value.messages)
    assert "order" in places
    assert "stops[0].x" in places
    assert "stops[0].hotspots[0].yaw" in places
    assert "stops[0].hotspots[0].stop" in places
    assert "stops[1].photos" in places
    assert "stops[1].uid" in places  # used twice
    assert "stops[2].uid" in places
    assert "stops[2].texts" in places  # no title in the default language
    assert text  # (translated when the catalogue has the messages)


# --- media ------------------------------------------------------------------------------


def _count(app: Flask) -> tuple[int, int, list[Path]]:
    with new_session(app) as session:
        assets = session.scalar(select(func.count()).select_from(MediaAsset))
        renditions = session.scalar(select(func.count()).select_from(Rendition))
    root = Path(app.config["LMS_SETTINGS"].storage_path)
    return assets or 0, renditions or 0, [p for p in root.rglob("*") if p.is_file()]


def _course(app: Flask, make_user) -> int:
    instructor = make_user(Role.INSTRUCTOR)
    with new_session(app) as session:
        course = catalog.create_course(
            session, session.get(User, instructor.id), catalog.CourseData("T-1", "Tour")
        )
        session.commit()
        return course.id


@pytest.mark.parametrize(
    ("role", "make", "message"),
    [
        ("map", lambda p: p.write_text("<svg>not a raster</svg>"), "The map must be an image"),
        ("panorama", lambda p: _photo(p, "flat", 1), "equirectangular"),
        ("photo", lambda p: p.write_bytes(b"GIF89a....."), "not a JPEG, PNG or WebP"),
    ],
)
def test_bad_media_is_refused_and_leaves_nothing(
    app: Flask, make_user, tmp_path: Path, role, make, message
) -> None:
    course_id = _course(app, make_user)
    path = tmp_path / "upload.jpg"
    make(path)
    before = _count(app)
    with new_session(app) as session:
        with pytest.raises(services.TourServiceError) as caught:
            services.store_image(
                session,
                get_storage(app),
                course_id=course_id,
                path=path,
                filename="upload.jpg",
                role=role,
            )
        session.rollback()
    assert message in str(caught.value.message)
    assert _count(app) == before


def test_a_panorama_is_stored_with_a_small_preview(app: Flask, make_user, tmp_path: Path) -> None:
    course_id = _course(app, make_user)
    path = make_equirectangular_image(tmp_path / "pano.jpg", 2048)
    with new_session(app) as session:
        asset = services.store_image(
            session,
            get_storage(app),
            course_id=course_id,
            path=path,
            filename="pano.jpg",
            role="panorama",
        )
        session.commit()
        assert asset.status == "ready" and (asset.width, asset.height) == (2048, 1024)
        [preview] = asset.renditions
        assert preview.name == "preview" and (preview.width, preview.height) == (1024, 512)
        assert preview.size < asset.size  # type: ignore[operator]


# --- a package with a tour ------------------------------------------------------------------

COURSE_YAML = """\
format: 1
code: TOUR-1
default_language: en
texts:
  en: {title: A tour}
modules:
  - uid: m1
    texts:
      en: {title: Plant}
    lessons:
      - uid: visit
        kind: tour
        completion_threshold: 0.9
        texts:
          en: {title: Plant visit}
          ja: {title: 工場見学}
        tour: tours/visit.yaml
"""

TOUR_YAML = """\
map: tours/visit/map.png
order: guided
dwell_seconds: 3
stops:
  - uid: bridge
    x: 0.1
    y: 0.8
    texts:
      en: {title: Weighbridge, body: "Trucks are **weighed**."}
      ja: {title: 計量機}
    photos:
      - file: tours/visit/bridge.jpg
        caption: {en: A truck, ja: 収集車}
  - uid: hall
    x: 0.4
    y: 0.4
    required: false
    texts:
      en: {title: Hall}
    panorama: tours/visit/hall.jpg
    hotspots:
      - {yaw: 10, pitch: 0, note: {en: Gates, ja: 扉}}
      - {uid: next, yaw: 90, pitch: 0, stop: crane}
  - uid: crane
    x: 0.7
    y: 0.3
    texts:
      en: {title: Crane}
    video: tours/visit/crane.mp4
"""


@pytest.fixture(scope="module")
def tour_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    _map(folder / "map.png")
    _photo(folder / "bridge.jpg", "A truck", 3)
    make_equirectangular_image(folder / "hall.jpg", 1024)
    make_slides_video(folder / "crane.mp4", ["Crane"], 4, width=320, height=180, audio=None)
    return folder


@pytest.fixture
def package(tmp_path: Path, tour_media: Path) -> Path:
    root = tmp_path / "package"
    (root / "tours").mkdir(parents=True)
    (root / "course.yaml").write_text(COURSE_YAML, encoding="utf-8")
    (root / "tours" / "visit.yaml").write_text(TOUR_YAML, encoding="utf-8")
    shutil.copytree(tour_media, root / "tours" / "visit")
    return root


def _import(app: Flask, user_id: int, path: Path) -> tuple[int, int]:
    with app.app_context(), new_session(app) as session:
        actor = session.get(User, user_id)
        report = import_package_report(session, get_storage(app), actor, path)
        publish_if_changed(session, actor, report)
        session.commit()
        lesson = session.scalar(select(Lesson).where(Lesson.course_id == report.course.id))
        return report.course.id, lesson.id  # type: ignore[union-attr]


def test_a_package_with_bad_tour_media_is_refused_with_its_place(package: Path, app: Flask) -> None:
    _photo(package / "tours" / "visit" / "hall.jpg", "flat", 1)  # not 2:1
    (package / "tours" / "visit" / "map.png").write_text("<svg/>")
    with app.test_request_context():
        with pytest.raises(PackageError) as caught:
            read_package(package)
        problems = [str(p) for p in caught.value.problems]
    assert any(
        p.startswith("tours/visit.yaml:1:") and "The map must be an image" in p for p in problems
    ), problems
    assert any("tours/visit/hall.jpg" in p and "equirectangular" in p for p in problems), problems


def test_a_tour_imports_publishes_and_exports_the_same(
    package: Path, app: Flask, make_user, tmp_path: Path
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, package)
    with new_session(app) as session:
        lesson = session.get(Lesson, lesson_id)
        tour = lesson.settings["tour"]  # type: ignore[union-attr]
        assert [s["uid"] for s in tour["stops"]] == ["bridge", "hall", "crane"]
        assert tour["dwell_seconds"] == 3
        course = session.get(Course, course_id)
        published = course.published_version.snapshot  # type: ignore[union-attr]
        frozen = published["modules"][0]["lessons"][0]["settings"]["tour"]
        assert frozen == tour  # publishing froze it
        kinds = sorted(
            session.scalars(select(MediaAsset.kind).where(MediaAsset.course_id == course_id))
        )
        assert kinds == ["image", "image", "image", "video"]
        clip = session.get(MediaAsset, tour["stops"][2]["media_id"])
        assert clip.status == "ready" and clip.renditions  # type: ignore[union-attr]
        out = tmp_path / "out"
        with app.app_context():
            export_course(session, get_storage(app), course, out)  # type: ignore[arg-type]
    with app.app_context():
        again = read_package(out)
    assert (out / "tours" / "visit.yaml").is_file()
    assert sorted(p.name for p in (out / "tours" / "visit").iterdir()) == [
        "bridge-1.jpg",
        "crane.mp4",
        "hall.jpg",
        "map.png",
    ]
    [entry] = again.lessons
    assert entry.tour is not None and len(entry.tour.files) == 4
    # Importing the export changes nothing, stores nothing again, publishes nothing.
    before = _count(app)
    _import(app, instructor.id, out)
    assert _count(app)[:2] == before[:2]
    with new_session(app) as session:
        course = session.get(Course, course_id)
        assert course.published_version.number == 1 and not course.draft_changed  # type: ignore[union-attr]
    with new_session(app) as session:
        assert session.get(Lesson, lesson_id).settings["tour"] == tour  # type: ignore[union-attr]


# --- the trainee ----------------------------------------------------------------------------


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


def test_a_trainee_visits_the_stops_and_the_tour_is_done(
    package: Path, app: Flask, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, package)
    trainee = make_user(Role.TRAINEE)
    make_programme(app, [(course_id, True)], [trainee.id])
    client = app.test_client()
    login(client, trainee.email)
    app.config["WTF_CSRF_ENABLED"] = True  # the API's CSRF checks are part of the test
    url = f"/courses/{course_id}/lessons/{lesson_id}"
    page = _html(client.get(url))
    assert "0 of 2 required stops visited" in page and 'class="tour-map"' in page
    assert page.count("data-map-stop=") == 3

    page = _html(client.get(f"{url}?stop=bridge"))
    assert "Trucks are <strong>weighed</strong>." in page
    token = re.search(r'data-token="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    csrf = csrf_token_from(page)
    visit = f"/api/v1/lessons/{lesson_id}/tour/stops/bridge/visit"
    headers = {"X-CSRFToken": csrf}
    assert client.post(visit, json={"token": token}).status_code == 400  # no CSRF token
    early = client.post(visit, json={"token": token}, headers=headers)
    assert early.status_code == 409  # not open for 3 s yet
    later = utcnow() + timedelta(seconds=4)
    monkeypatch.setattr("lms.tours.views.utcnow", lambda: later)
    # A guided tour: the clip opens only after the first required stop.
    crane = client.get(f"{url}?stop=crane").get_data(as_text=True)
    assert "visit the earlier stops first" in crane
    done = client.post(visit, json={"token": token}, headers=headers)
    assert done.status_code == 200 and done.json == {
        "visited": ["bridge"],
        "done": False,
        "new": True,
    }
    again = client.post(visit, json={"token": token}, headers=headers)
    assert again.json["new"] is False  # recorded once
    forged = client.post(
        f"/api/v1/lessons/{lesson_id}/tour/stops/hall/visit", json={"token": token}, headers=headers
    )
    assert forged.status_code == 400  # a token is bound to its stop

    page = _html(client.get(f"{url}?stop=hall"))
    assert "data-tour-panorama" in page and "Gates" in page and "?stop=crane" in page

    page = _html(client.get(f"{url}?stop=crane"))
    beat_url = f"/api/v1/lessons/{lesson_id}/tour/stops/crane/beats"
    assert beat_url in page
    with new_session(app) as session:
        progress = session.scalar(
            select(LessonProgress).where(LessonProgress.lesson_id == lesson_id)
        )
        assert progress is not None and progress.status == "in_progress"
    # The clip is 4 s and the threshold 90 %: claiming it all at once is cut to what the
    # player could have played (2 s of tolerance); three seconds later, it counts.
    session_id = "0f4e9c4a-8f0e-4d55-9a55-3b4ac1d9e001"
    t0 = utcnow()
    monkeypatch.setattr("lms.tours.views.utcnow", lambda: t0)
    cheat = client.post(
        beat_url,
        json={"session": session_id, "seq": 0, "intervals": [[0, 4]], "t": 1000},
        headers=headers,
    )
    assert cheat.status_code == 200, cheat.json
    assert cheat.json["progress"]["status"] == "in_progress"
    assert cheat.json["progress"]["watched_seconds"] == 2.0
    monkeypatch.setattr("lms.tours.views.utcnow", lambda: t0 + timedelta(seconds=3))
    watched = client.post(
        beat_url,
        json={"session": session_id, "seq": 1, "intervals": [[0, 4]], "t": 4000},
        headers=headers,
    )
    body = watched.json["progress"]
    assert body["status"] == "done" and body["tour"]["done"] is True
    with new_session(app) as session:
        progress = session.scalar(
            select(LessonProgress).where(LessonProgress.lesson_id == lesson_id)
        )
        assert progress.status == "done"  # type: ignore[union-attr]
        visits = session.scalars(select(TourStopVisit.stop_uid)).all()
        assert sorted(visits) == ["bridge", "crane"]  # the optional hall was skipped
    page = _html(client.get(url))
    assert "Tour complete" in page
    course_page = _html(client.get(f"/courses/{course_id}"))
    assert "Course complete" in course_page or "100%" in course_page


def test_the_tour_api_is_for_those_who_may_read_the_course(
    package: Path, app: Flask, make_user
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    _course_id, lesson_id = _import(app, instructor.id, package)
    stranger = make_user(Role.TRAINEE)
    client = app.test_client()
    assert client.post(f"/api/v1/lessons/{lesson_id}/tour/stops/bridge/visit").status_code == 401
    login(client, stranger.email)
    response = client.post(f"/api/v1/lessons/{lesson_id}/tour/stops/bridge/visit", json={})
    assert response.status_code == 403
    assert client.get(f"/api/v1/lessons/{lesson_id}/tour/stops/crane/progress").status_code == 403


def test_the_builder_refuses_a_map_that_is_not_an_image(
    app: Flask, make_user, tmp_path: Path
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    with new_session(app) as session:
        actor = session.get(User, instructor.id)
        course = catalog.create_course(session, actor, catalog.CourseData("T-2", "Tour"))  # type: ignore[arg-type]
        module = catalog.add_module(session, course, "en", "Plant")
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="tour", title="Visit", language="en")
        )
        session.commit()
        course_id, lesson_id = course.id, lesson.id
    client = app.test_client()
    login(client, instructor.email)
    before = _count(app)
    response = client.post(
        f"/teach/courses/{course_id}/lessons/{lesson_id}/tour/map",
        data={"file": (io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "map.svg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The map must be an image" in response.get_data(as_text=True)
    assert _count(app) == before
    with new_session(app) as session:
        assert "tour" not in (session.get(Lesson, lesson_id).settings or {})  # type: ignore[union-attr]
    good = tmp_path / "map.png"
    _map(good)
    response = client.post(
        f"/teach/courses/{course_id}/lessons/{lesson_id}/tour/map",
        data={"file": (good.open("rb"), "map.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with new_session(app) as session:
        tour = session.get(Lesson, lesson_id).settings["tour"]  # type: ignore[union-attr]
        assert tour["map_media_id"] and tour["stops"] == []


def test_the_tour_page_costs_the_same_queries_for_any_number_of_stops(
    package: Path, app: Flask, make_user
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, package)
    trainee = make_user(Role.TRAINEE)
    make_programme(app, [(course_id, True)], [trainee.id])
    client = app.test_client()
    login(client, trainee.email)
    url = f"/courses/{course_id}/lessons/{lesson_id}?stop=hall"

    def statements() -> int:
        client.get(url)  # warm: the session's user, caches
        with count_statements(app) as seen:
            assert client.get(url).status_code == 200
        return len(seen)

    few = statements()
    with new_session(app) as session:
        lesson = session.get(Lesson, lesson_id)
        data = copy.deepcopy(lesson.settings["tour"])  # type: ignore[union-attr]
        for index in range(20):  # twenty more photo stops
            extra = copy.deepcopy(data["stops"][0])
            extra["uid"] = f"more-{index}"
            data["stops"].append(extra)
        services.save_tour(session, lesson, data)  # type: ignore[arg-type]
        catalog.publish(session, session.get(User, instructor.id), session.get(Course, course_id))  # type: ignore[arg-type]
        session.commit()
    assert statements() == few
