"""Builder video stops go through the resumable multipart upload of lecture videos
(local storage and S3): checked before a byte is sent, resumable, then processed and
put on their stop. Replacing a stop's file leaves the old one for pruning, which never
removes a file that the draft's or the published tour still shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson
from lms.db import new_session
from lms.media import services as media
from lms.media.models import MediaAsset, MediaStatus
from lms.media.synth import make_equirectangular_image
from lms.storage import get_storage
from lms.tours.sample import _map, _photo
from tests.conftest import login
from tests.media.conftest import PART, MiB, padded, put_parts
from tests.storage.conftest import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, weed  # noqa: F401
from tests.tours.test_captions import EN_VTT
from tests.tours.test_tours import _import, package, tour_media  # noqa: F401 - fixtures


@pytest.fixture(params=["local", "s3"])
def clip_app(request: pytest.FixtureRequest, app_factory: Callable[..., Flask]) -> Flask:
    if request.param == "local":
        return app_factory(JOBS_IMMEDIATE=True, MEDIA_PART_SIZE=PART)
    server = request.getfixturevalue("weed")
    return app_factory(
        LMS_STORAGE="s3",
        LMS_S3_ENDPOINT_URL=server.endpoint_url,
        LMS_S3_BUCKET=S3_BUCKET,
        LMS_S3_ACCESS_KEY=S3_ACCESS_KEY,
        LMS_S3_SECRET_KEY=S3_SECRET_KEY,
        JOBS_IMMEDIATE=True,
        MEDIA_PART_SIZE=1 * MiB,  # raised to S3's 5 MiB minimum
    )


def _put(url: str, chunk: bytes) -> tuple[int, str]:
    """What the browser does with a presigned S3 URL: a plain PUT."""
    import requests  # noqa: PLC0415 - only for S3

    response = requests.put(url, data=chunk, timeout=30)
    return response.status_code, response.headers.get("ETag", "")


def _world(app: Flask, tmp_path: Path) -> tuple[User, int, int]:
    from lms.accounts.services import create_user  # noqa: PLC0415

    with new_session(app) as session:
        instructor = create_user(
            session,
            email="clips@example.org",
            name="Clips",
            roles=(Role.INSTRUCTOR,),
            password="correct horse battery staple",
        )
        session.commit()
        course = catalog.create_course(session, instructor, catalog.CourseData("CLIP-1", "Clips"))
        module = catalog.add_module(session, course, "en", "Plant")
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="tour", title="Visit", language="en")
        )
        session.commit()
        return instructor, course.id, lesson.id


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    assert login(client, user.email, "correct horse battery staple").status_code == 302
    return client


def _tour(app: Flask, lesson_id: int) -> dict[str, Any]:
    with new_session(app) as session:
        return session.get(Lesson, lesson_id).settings["tour"]  # type: ignore[union-attr]


def _assets(app: Flask) -> int:
    with new_session(app) as session:
        return session.scalar(select(func.count()).select_from(MediaAsset)) or 0


def test_a_video_stop_is_uploaded_in_resumable_parts_and_replaced(
    clip_app: Flask,
    tour_media: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    app = clip_app
    s3 = get_storage(app).kind == "s3"
    size = 6 * MiB + 4321 if s3 else 3 * PART + 777
    clip = padded(tour_media / "crane.mp4", tmp_path / "crane.mp4", size)
    instructor, course_id, lesson_id = _world(app, tmp_path)
    client = _client(app, instructor)
    base = f"/teach/courses/{course_id}/lessons/{lesson_id}/tour"
    body = {"filename": "crane.mp4", "size": size, "content_type": "video/mp4", "kind": "video"}

    # Everything the stop needs is checked before a byte is sent; nothing is left.
    refused = client.post(f"{base}/uploads?x=0.5&y=0.5", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == "The title is required."
    refused = client.post(f"{base}/uploads?title=Crane&x=2&y=0.5", json=body)
    assert refused.status_code == 400 and "from 0 to 1" in refused.get_json()["error"]["message"]
    refused = client.post(f"{base}/uploads?title=Crane&x=0.5&y=0.5", json={**body, "size": 0})
    assert refused.status_code == 400 and "empty" in refused.get_json()["error"]["message"]
    assert _assets(app) == 0

    response = client.post(f"{base}/uploads?title=Crane&x=0.3&y=0.6", json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["part_count"] >= 2
    put = _put if s3 else None
    first = put_parts(client, created, clip, [1], put=put)
    state = client.get(created["urls"]["state"]).get_json()  # after a reload: resume
    assert [p["part_number"] for p in state["parts"]] == [1]
    assert "tour" not in (_tour_or_none(app, lesson_id) or {})  # no stop before it is complete
    rest = put_parts(client, created, clip, list(range(2, created["part_count"] + 1)), put=put)
    done = client.post(created["urls"]["complete"], json={"parts": first + rest})
    assert done.status_code == 200, done.get_json()
    uid = done.get_json()["stop"]

    tour = _tour(app, lesson_id)
    [stop] = tour["stops"]
    assert stop["uid"] == uid and stop["kind"] == "video" and (stop["x"], stop["y"]) == (0.3, 0.6)
    assert stop["texts"] == {"en": {"title": "Crane"}}
    with app.app_context(), new_session(app) as session:
        asset = session.get(MediaAsset, stop["media_id"])
        assert asset is not None and asset.status == MediaStatus.READY, asset and asset.error
        assert asset.lesson_id is None and asset.renditions  # processed like a lecture
        assert session.get(Lesson, lesson_id).media_id is None  # type: ignore[union-attr]
        old_id = asset.id
        media.add_caption(
            session,
            get_storage(app),
            session.get(User, instructor.id),  # type: ignore[arg-type]
            asset,
            "en",
            EN_VTT.encode(),
            media.Limits(),
        )
        catalog.publish(session, session.get(User, instructor.id), session.get(Course, course_id))  # type: ignore[arg-type]
        session.commit()

    # Another upload for an unknown stop is refused; one for the stop replaces its clip.
    assert client.post(f"{base}/uploads?stop=nope", json=body).status_code == 404
    created = client.post(f"{base}/uploads?stop={uid}", json=body).get_json()
    parts = put_parts(client, created, clip, put=put)
    done = client.post(created["urls"]["complete"], json={"parts": parts})
    assert done.status_code == 200 and done.get_json()["stop"] == uid
    [stop] = _tour(app, lesson_id)["stops"]
    new_id = stop["media_id"]
    assert new_id != old_id
    with new_session(app) as session:
        new = session.get(MediaAsset, new_id)
        assert [c.language for c in new.captions] == ["en"]  # type: ignore[union-attr]
        old = session.get(MediaAsset, old_id)
        assert old is not None and old.info["detached_from_lesson"] == lesson_id
        # The published tour still shows the old clip: pruning keeps it.
        assert media.prune_detached_assets(session, get_storage(app), course_id) == 0
        session.commit()
        old_key = old.key
    with app.app_context(), new_session(app) as session:  # publishing again prunes it
        catalog.publish(session, session.get(User, instructor.id), session.get(Course, course_id))  # type: ignore[arg-type]
        session.commit()
    with new_session(app) as session:
        assert session.get(MediaAsset, old_id) is None
        assert session.get(MediaAsset, new_id) is not None
    assert not get_storage(app).exists(old_key)


def _tour_or_none(app: Flask, lesson_id: int) -> dict[str, Any] | None:
    with new_session(app) as session:
        return session.get(Lesson, lesson_id).settings  # type: ignore[union-attr]


def test_pruning_keeps_tour_files_of_the_draft_and_of_the_published_tour(
    app: Flask, make_user, tmp_path: Path
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    with new_session(app) as session:
        actor = session.get(User, instructor.id)
        course = catalog.create_course(session, actor, catalog.CourseData("P-1", "Prune"))  # type: ignore[arg-type]
        module = catalog.add_module(session, course, "en", "Plant")
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="tour", title="Visit", language="en")
        )
        session.commit()
        course_id, lesson_id = course.id, lesson.id
    maps = []
    for name in ("one.png", "two.png"):
        _map(tmp_path / name)
        maps.append(tmp_path / name)
    client = app.test_client()
    login(client, instructor.email)
    url = f"/teach/courses/{course_id}/lessons/{lesson_id}/tour/map"
    ids = []
    for path in maps:  # the map replaced: the first one is no longer in the draft
        response = client.post(
            url, data={"file": (path.open("rb"), path.name)}, content_type="multipart/form-data"
        )
        assert response.status_code == 302
        ids.append(_tour(app, lesson_id)["map_media_id"])
    with new_session(app) as session:
        replaced = session.get(MediaAsset, ids[0])
        assert replaced.info["detached_from_lesson"] == lesson_id  # type: ignore[union-attr]
        # Marked as left over too, the draft's map must stay: only what neither the draft
        # nor the published tour names may go.
        current = session.get(MediaAsset, ids[1])
        current.info = {**current.info, "detached_from_lesson": lesson_id}  # type: ignore[union-attr]
        session.commit()
        assert media.prune_detached_assets(session, get_storage(app), course_id) == 1
        session.commit()
        assert session.get(MediaAsset, ids[0]) is None
        assert session.get(MediaAsset, ids[1]) is not None  # the draft's map


def test_the_builder_replaces_a_panorama_and_keeps_its_hotspots(
    package: Path,  # noqa: F811
    app: Flask,
    make_user,
    tmp_path: Path,
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, package)
    client = app.test_client()
    login(client, instructor.email)
    base = f"/teach/courses/{course_id}/lessons/{lesson_id}/tour"
    page = client.get(base).get_data(as_text=True)
    assert f"{base}/uploads?lang=en&amp;stop=crane" in page  # the clip's resumable upload
    assert f"{base}/stops/hall/media" in page
    before = _tour(app, lesson_id)
    old_id = before["stops"][1]["media_id"]

    flat = tmp_path / "flat.jpg"
    _photo(flat, "flat", 2)
    assets = _assets(app)
    response = client.post(
        f"{base}/stops/hall/media",
        data={"file": (flat.open("rb"), "flat.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "equirectangular" in response.get_data(as_text=True)
    assert _assets(app) == assets and _tour(app, lesson_id) == before

    pano = make_equirectangular_image(tmp_path / "hall2.jpg", 1024)
    response = client.post(
        f"{base}/stops/hall/media",
        data={"file": (pano.open("rb"), "hall2.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    after = _tour(app, lesson_id)
    assert after["stops"][1]["media_id"] != old_id
    assert after["stops"][1]["hotspots"] == before["stops"][1]["hotspots"]
    with new_session(app) as session:
        old = session.get(MediaAsset, old_id)
        assert old is not None and old.info["detached_from_lesson"] == lesson_id
        # The published tour still shows it: kept until a publication no longer does.
        assert media.prune_detached_assets(session, get_storage(app), course_id) == 0

    # A removed stop's photos are left for pruning too.
    photo_id = after["stops"][0]["photos"][0]["media_id"]
    assert client.post(f"{base}/stops/bridge/delete").status_code == 302
    with new_session(app) as session:
        photo = session.get(MediaAsset, photo_id)
        assert photo is not None and photo.info["detached_from_lesson"] == lesson_id
