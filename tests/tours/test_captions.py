"""Captions of tour clips: in packages (checked, stored, exported back the same), in the
builder (uploaded per language), and on the trainee's stop page (a subtitle track)."""

from __future__ import annotations

import io
import re
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.catalog.models import Course, Lesson
from lms.content.exporter import export_course
from lms.content.importer import import_package_report
from lms.content.package import PackageError, read_package
from lms.db import new_session
from lms.media.models import Caption, MediaAsset
from lms.media.services import read_object
from lms.storage import get_storage
from lms.tours.models import TourStopVisit
from tests.conftest import login
from tests.learning.test_completion import make_programme
from tests.tours.test_tours import _count, _import, package, tour_media  # noqa: F401 - fixtures

EN_VTT = """WEBVTT

00:00:00.200 --> 00:00:01.800
The crane grab opens

00:00:02.000 --> 00:00:03.800
It feeds the hopper
"""

JA_SRT = """1
00:00:00,200 --> 00:00:01,800
クレーンのグラブが開きます

2
00:00:02,000 --> 00:00:03,800
ホッパへ投入します
"""

# The SRT as stored and exported: WebVTT.
JA_VTT = """WEBVTT

00:00:00.200 --> 00:00:01.800
クレーンのグラブが開きます

00:00:02.000 --> 00:00:03.800
ホッパへ投入します
"""


def _with_captions(package: Path, ja: str = JA_SRT) -> Path:  # noqa: F811
    tour = package / "tours" / "visit.yaml"
    text = tour.read_text(encoding="utf-8").replace(
        "    video: tours/visit/crane.mp4\n",
        "    video: tours/visit/crane.mp4\n"
        "    captions: {en: tours/visit/crane.en.vtt, ja: tours/visit/crane.ja.srt}\n",
    )
    tour.write_text(text, encoding="utf-8")
    (package / "tours" / "visit" / "crane.en.vtt").write_text(EN_VTT, encoding="utf-8")
    (package / "tours" / "visit" / "crane.ja.srt").write_text(ja, encoding="utf-8")
    return package


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _clip(app: Flask, lesson_id: int) -> tuple[int, dict[str, str]]:
    with new_session(app) as session:
        lesson = session.get(Lesson, lesson_id)
        clip = session.get(MediaAsset, lesson.settings["tour"]["stops"][2]["media_id"])  # type: ignore[union-attr]
        assert clip is not None
        storage = get_storage(app)
        return clip.id, {
            c.language: read_object(storage, c.key).decode("utf-8") for c in clip.captions
        }


def test_clip_captions_import_and_export_byte_for_byte(
    package: Path,  # noqa: F811
    app: Flask,
    make_user,
    tmp_path: Path,
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, _with_captions(package))
    _clip_id, stored = _clip(app, lesson_id)
    assert stored == {"en": EN_VTT, "ja": JA_VTT}  # the SRT is stored as WebVTT

    first, second = tmp_path / "first", tmp_path / "second"
    with new_session(app) as session, app.app_context():
        export_course(session, get_storage(app), session.get(Course, course_id), first)  # type: ignore[arg-type]
    files = _tree(first)
    assert files["tours/visit/crane.en.vtt"] == EN_VTT.encode()
    assert files["tours/visit/crane.ja.vtt"] == JA_VTT.encode()
    tour_yaml = files["tours/visit.yaml"].decode()
    assert "captions:\n" in tour_yaml and "ja: tours/visit/crane.ja.vtt" in tour_yaml
    with app.app_context():
        [entry] = read_package(first).lessons
    assert set(entry.tour.captions["crane"]) == {"en", "ja"}

    # Importing its own export changes nothing and stores no caption again.
    with new_session(app) as session:
        keys = set(session.scalars(select(Caption.key)))
    with app.app_context(), new_session(app) as session:
        actor = session.get(User, instructor.id)
        report = import_package_report(session, get_storage(app), actor, first)
        session.commit()
        assert not report.changed
    with new_session(app) as session:
        assert set(session.scalars(select(Caption.key))) == keys
    with new_session(app) as session, app.app_context():
        export_course(session, get_storage(app), session.get(Course, course_id), second)  # type: ignore[arg-type]
    assert _tree(second) == files

    # A changed caption file replaces the stored one; a language left out goes.
    (first / "tours" / "visit" / "crane.en.vtt").write_text(
        EN_VTT.replace("opens", "closes"), encoding="utf-8"
    )
    text = (first / "tours" / "visit.yaml").read_text(encoding="utf-8")
    text = re.sub(r"\n\s+ja: tours/visit/crane.ja.vtt", "", text)
    (first / "tours" / "visit.yaml").write_text(text, encoding="utf-8")
    (first / "tours" / "visit" / "crane.ja.vtt").unlink()
    with app.app_context(), new_session(app) as session:
        actor = session.get(User, instructor.id)
        report = import_package_report(session, get_storage(app), actor, first)
        session.commit()
        assert report.changed
    _clip_id, stored = _clip(app, lesson_id)
    assert stored == {"en": EN_VTT.replace("opens", "closes")}


@pytest.mark.parametrize(
    ("ja", "line", "message"),
    [
        (JA_SRT.replace("00:00:02,000 -->", "00:00:02 -->"), 6, "cue timing is not valid"),
        (JA_SRT.replace("00:00:03,800", "00:00:09,000"), 6, "after the end of the video"),
    ],
)
def test_a_bad_caption_file_is_named_with_its_line_and_nothing_is_imported(
    package: Path,  # noqa: F811
    app: Flask,
    make_user,
    ja: str,
    line: int,
    message: str,
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    _with_captions(package, ja)
    with app.test_request_context():
        with pytest.raises(PackageError) as caught:
            read_package(package)
        problems = [str(p) for p in caught.value.problems]
    assert any(
        p.startswith(f"tours/visit/crane.ja.srt:{line}:") and message in p for p in problems
    ), problems
    before = _count(app)
    with app.app_context(), new_session(app) as session:
        actor = session.get(User, instructor.id)
        with pytest.raises(PackageError):
            import_package_report(session, get_storage(app), actor, package)
        session.rollback()
    assert _count(app) == before
    with new_session(app) as session:
        assert session.scalar(select(Course).where(Course.code == "TOUR-1")) is None


def test_captions_only_go_on_video_stops(package: Path, app: Flask) -> None:  # noqa: F811
    tour = package / "tours" / "visit.yaml"
    text = tour.read_text(encoding="utf-8").replace(
        "    panorama: tours/visit/hall.jpg\n",
        "    panorama: tours/visit/hall.jpg\n    captions: {en: tours/visit/hall.en.vtt}\n",
    )
    tour.write_text(text, encoding="utf-8")
    with app.test_request_context(), pytest.raises(PackageError) as caught:
        read_package(package)
    assert any("only video stops have captions" in str(p) for p in caught.value.problems)


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


def test_the_trainee_stop_page_has_subtitles_in_the_trainee_language(
    package: Path,  # noqa: F811
    app: Flask,
    make_user,
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, _with_captions(package))
    japanese = make_user(Role.TRAINEE, locale="ja")
    english = make_user(Role.TRAINEE, locale="en")
    make_programme(app, [(course_id, True)], [japanese.id, english.id])
    with new_session(app) as session:  # a guided tour: the clip opens after the first stop
        for user in (japanese, english):
            session.add(TourStopVisit(user_id=user.id, lesson_id=lesson_id, stop_uid="bridge"))
        session.commit()
    url = f"/courses/{course_id}/lessons/{lesson_id}?stop=crane"
    for user, default in ((japanese, "ja"), (english, "en")):
        client = app.test_client()
        login(client, user.email)
        page = _html(client.get(url))
        tracks = re.findall(r"<track [^>]*>", page)
        assert {re.search(r'srclang="(\w+)"', t).group(1) for t in tracks} == {"en", "ja"}  # type: ignore[union-attr]
        [chosen] = [t for t in tracks if " default" in t]
        assert f'srclang="{default}"' in chosen
        transcript = "クレーンのグラブが開きます" if default == "ja" else "The crane grab opens"
        assert f'data-transcript lang="{default}"' in page and transcript in page
        src = re.search(r'src="([^"]+)"', chosen).group(1)  # type: ignore[union-attr]
        body = client.get(src).get_data(as_text=True)
        assert body == (JA_VTT if default == "ja" else EN_VTT)


def test_the_builder_takes_a_caption_file_per_language(
    package: Path,  # noqa: F811
    app: Flask,
    make_user,
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    course_id, lesson_id = _import(app, instructor.id, package)
    assert _clip(app, lesson_id)[1] == {}
    client = app.test_client()
    login(client, instructor.email)
    url = f"/teach/courses/{course_id}/lessons/{lesson_id}/tour/stops/crane/captions"
    page = _html(client.get(f"/teach/courses/{course_id}/lessons/{lesson_id}/tour"))
    assert url in page

    before = _count(app)
    bad = JA_SRT.replace("00:00:02,000 -->", "00:00:02 -->")
    response = client.post(
        url,
        data={"language": "ja", "file": (io.BytesIO(bad.encode()), "crane.ja.srt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Line 6: the cue timing is not valid" in _html_any(response)
    assert _count(app) == before and _clip(app, lesson_id)[1] == {}

    response = client.post(
        url,
        data={"language": "ja", "file": (io.BytesIO(JA_SRT.encode()), "crane.ja.srt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, _html_any(response)
    assert _clip(app, lesson_id)[1] == {"ja": JA_VTT}
    page = _html(client.get(response.headers["Location"]))
    assert "(2 cues)." in page
    assert client.post(f"{url}/en/delete", data={}).status_code == 400  # none in English

    # Removing them: the language goes, nothing else.
    page = _html(client.get(f"/teach/courses/{course_id}/lessons/{lesson_id}/tour"))
    assert "日本語" in page and "2 cues" in page
    response = client.post(f"{url}/ja/delete", data={})
    assert response.status_code == 302
    assert _clip(app, lesson_id)[1] == {}


def _html_any(response) -> str:
    return unescape(response.get_data(as_text=True))


def test_the_sample_tour_clips_have_the_generated_captions() -> None:
    from lms.content.sample import SAMPLE_PACKAGE  # noqa: PLC0415
    from lms.tours.sample import CLIP_CAPTIONS, clip_caption_path, clip_captions_text  # noqa: PLC0415

    tour = (SAMPLE_PACKAGE / "tours" / "plant.yaml").read_text(encoding="utf-8")
    for uid, languages in CLIP_CAPTIONS.items():
        assert set(languages) == {"en", "ja"}
        for language in languages:
            path = clip_caption_path(uid, language)
            assert f"{language}: {path}" in tour
            committed = (SAMPLE_PACKAGE / path).read_text(encoding="utf-8")
            assert committed == clip_captions_text(uid, language)
