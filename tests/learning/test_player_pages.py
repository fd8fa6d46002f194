"""The trainee's pages with their progress: home, course outline, the lesson player.

Statuses come from LessonProgress rows; "continue" leads to the first unfinished
lesson; time left is the estimated minutes of what is not done (less the share of a
video already watched); the player offers every rendition, subtitles defaulting to the
trainee's language and a transcript; readings and documents are marked done; and the
pages run the same number of SQL statements for 2 lessons as for 30.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Course, CourseVersion
from lms.db import new_session
from lms.learning import services
from lms.learning.models import LessonProgress
from lms.media.models import Caption, MediaAsset, Rendition
from lms.programs.models import Programme
from lms.storage import get_storage
from tests.conftest import PASSWORD, csrf_token_from, login
from tests.learning.helpers import (
    add_progress,
    count_statements,
    enrol,
)

EN_VTT = (
    b"WEBVTT\n\n"
    b"00:00:01.500 --> 00:00:04.000\nWelcome to the plant.\n\n"
    b"00:01:05.000 --> 00:01:08.000\nThis is the <b>bunker</b> &amp; crane.\n\n"
    b"00:09:00.000 --> 00:09:59.000\nThank you.\n"
)
JA_VTT = (
    b"WEBVTT\n\n00:00:01.500 --> 00:00:04.000\n\xe3\x82\x88\xe3\x81\x86\xe3\x81\x93\xe3\x81\x9d\n"
)
TH_VTT = b"WEBVTT\n\n00:00:02.000 --> 00:00:04.000\nsawasdee\n"


# --- a course to study ----------------------------------------------------------------------


@dataclass
class Spec:
    kind: str = "reading"
    minutes: int = 10
    required: bool = True


@dataclass
class Built:
    course_id: int
    lesson_ids: list[int]
    asset_id: int | None = None
    document_asset_id: int | None = None
    extra: dict[str, int] = field(default_factory=dict)


def _put(app: Flask, key: str, data: bytes, content_type: str) -> None:
    get_storage(app).put(key, io.BytesIO(data), content_type)


def build(
    app: Flask,
    instructor_id: int,
    specs: list[Spec],
    code: str = "PLAY-1",
    captions: dict[str, bytes] | None = None,
    modules: int = 1,
) -> Built:
    """A published course with the lessons ``specs`` (spread over ``modules``); every video
    lesson shows one 10-minute video (240p, 360p, 720p, audio; ``captions``), every
    document one PDF."""
    captions = {"en": EN_VTT, "ja": JA_VTT} if captions is None else captions
    prefix = uuid.uuid4().hex
    with new_session(app) as session:
        actor = session.get(User, instructor_id)
        course = catalog.create_course(
            session, actor, catalog.CourseData(code=code, title=f"Course {code}")
        )
        video = MediaAsset(
            course_id=course.id,
            kind="video",
            filename="lecture.mp4",
            key=f"media/{prefix}/original.mp4",
            content_type="video/mp4",
            status="ready",
            poster_key=f"media/{prefix}/poster.jpg",
            duration=600.0,
        )
        video.renditions = [
            Rendition(name=name, key=f"media/{prefix}/{name}.{ext}", content_type=ctype,
                      size=size, height=height, bitrate=bitrate)
            for name, ext, ctype, size, height, bitrate in (
                ("720p", "mp4", "video/mp4", 3000, 720, 2_500_000),
                ("audio", "m4a", "audio/mp4", 50, None, 48_000),
                ("240p", "mp4", "video/mp4", 300, 240, 250_000),
                ("360p", "mp4", "video/mp4", 600, 360, 600_000),
            )
        ]  # fmt: skip
        video.captions = [
            Caption(language=lang, key=f"captions/{prefix}/{lang}.vtt") for lang in captions
        ]
        document = MediaAsset(
            course_id=course.id,
            kind="document",
            filename="handout.pdf",
            key=f"media/{prefix}/handout.pdf",
            content_type="application/pdf",
            status="ready",
            size=1234,
        )
        session.add_all([video, document])
        session.flush()
        module_list = [
            catalog.add_module(session, course, "en", f"Module {m + 1}") for m in range(modules)
        ]
        ids = []
        for index, spec in enumerate(specs):
            lesson = catalog.add_lesson(
                session,
                module_list[index * modules // max(1, len(specs))],
                catalog.LessonData(
                    kind=spec.kind,
                    title=f"Lesson {index + 1}",
                    language="en",
                    required=spec.required,
                    estimated_minutes=spec.minutes,
                    body=f"Body of lesson {index + 1}",
                ),
            )
            if spec.kind == "video":
                lesson.media_id = video.id
            elif spec.kind == "document":
                lesson.media_id = document.id
            ids.append(lesson.id)
        catalog.publish(session, actor, course)
        session.commit()
        built = Built(course.id, ids, video.id, document.id)
    for name in ("original.mp4", "poster.jpg", "240p.mp4", "360p.mp4", "720p.mp4", "audio.m4a"):
        _put(app, f"media/{prefix}/{name}", b"data " + name.encode(), "application/octet-stream")
    for lang, data in captions.items():
        _put(app, f"captions/{prefix}/{lang}.vtt", data, "text/vtt")
    _put(app, f"media/{prefix}/handout.pdf", b"%PDF-1.4 test", "application/pdf")
    return built


def set_progress(
    app: Flask,
    user_id: int,
    course_id: int,
    lesson_id: int,
    status: str,
    watched: float = 0.0,
    duration: float | None = None,
) -> None:
    add_progress(app, user_id, course_id, lesson_id, status, watched, duration)


def signed_in(app: Flask, user: User):
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def lesson_item(page: str, lesson_id: int) -> str:
    """The <li> of a lesson in the course outline."""
    match = re.search(
        rf'<li[^>]*>\s*<a href="/courses/\d+/lessons/{lesson_id}".*?</li>', page, re.S
    )
    assert match, lesson_id
    return match.group(0)


# --- the arithmetic, without pages ----------------------------------------------------------


def _outline(specs: list[Spec]) -> services.Outline:
    snapshot = {
        "default_language": "en",
        "texts": {"en": {"title": "C"}},
        "modules": [
            {
                "id": 1,
                "texts": {"en": {"title": "M"}},
                "lessons": [
                    {
                        "id": index + 1,
                        "kind": spec.kind,
                        "required": spec.required,
                        "estimated_minutes": spec.minutes,
                        "texts": {"en": {"title": f"L{index + 1}"}},
                    }
                    for index, spec in enumerate(specs)
                ],
            }
        ],
    }
    return services.outline(7, snapshot, "en")


@dataclass
class Row:
    lesson_id: int
    status: str
    watched_seconds: float = 0.0
    duration: float | None = None
    course_id: int = 7


def test_time_left_counts_unfinished_required_lessons_less_what_was_watched() -> None:
    outline = _outline(
        [
            Spec("video", 10),  # 40 % watched: 6 minutes left
            Spec("reading", 5),  # done: nothing left
            Spec("reading", 8),  # not started: 8
            Spec("video", 20, required=False),  # optional: not counted
            Spec("video", 3),  # 99.5 % watched: 0.015 minutes, rounds up to a whole minute
        ]
    )
    rows = {
        1: Row(1, "in_progress", 240.0, 600.0),
        2: Row(2, "done"),
        5: Row(5, "in_progress", 597.0, 600.0),
    }
    progress = services.course_progress(outline, rows)
    assert progress.minutes_left == 15  # ceil(6 + 0 + 8 + 0.015)
    assert progress.total == 4 and progress.done == 1 and progress.percent == 25
    assert progress.next_lesson is not None and progress.next_lesson.id == 1
    assert progress.state(1).status == "in_progress" and progress.state(1).percent == 40
    assert progress.state(5).percent == 99  # rounded down: 99.5 % is not 100 %
    assert progress.state(4).status == "not_started" and progress.state(4).share is None
    assert progress.started and not progress.complete

    # The first lesson done: "continue" moves on to the first one that is not.
    rows[1] = Row(1, "done", 600.0, 600.0)
    progress = services.course_progress(outline, rows)
    assert progress.next_lesson.id == 3 and progress.minutes_left == 9
    # Every required lesson done: complete, nothing left, however the optional one stands.
    rows[3] = Row(3, "done")
    rows[5] = Row(5, "done", 600.0, 600.0)
    progress = services.course_progress(outline, rows)
    assert progress.complete and progress.next_lesson is None and progress.minutes_left == 0
    # A course of optional lessons only counts them all.
    only_optional = services.course_progress(_outline([Spec(required=False)] * 2), {})
    assert only_optional.total == 2 and only_optional.minutes_left == 20
    assert only_optional.next_lesson.id == 1 and not only_optional.started


def test_clock_and_subtitle_choice() -> None:
    assert services.clock(0) == "0:00"
    assert services.clock(65.9) == "1:05"
    assert services.clock(3723) == "1:02:03"
    assert services.subtitle_language(["en", "ja"], "ja", "en") == "ja"
    assert services.subtitle_language(["en", "th"], "ja", "en") == "en"
    assert services.subtitle_language(["th"], "ja", "en") is None


# --- the course page ------------------------------------------------------------------------


def test_course_page_shows_statuses_time_left_and_continue(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build(
        app,
        instructor.id,
        [Spec("reading", 5), Spec("video", 10), Spec("reading", 8), Spec("document", 4, False)],
    )
    course_id, (first, video, third, handout) = built.course_id, built.lesson_ids
    enrol(app, trainee.id, course_id)
    client = signed_in(app, trainee)

    page = html(client.get(f"/courses/{course_id}"))
    assert "0 of 3 lessons done" in page and "About 23 minutes left" in page
    assert f'<a class="button" href="/courses/{course_id}/lessons/{first}" data-continue>' in page
    assert "Start: " in page

    set_progress(app, trainee.id, course_id, first, "done")
    set_progress(app, trainee.id, course_id, video, "in_progress", 240.0, 600.0)
    page = html(client.get(f"/courses/{course_id}"))
    done = lesson_item(page, first)
    assert 'class="status status-done"' in done and "Done" in done
    assert '<span class="status-icon" aria-hidden="true"></span>' in done
    watching = lesson_item(page, video)
    assert 'class="status status-in-progress"' in watching and "In progress" in watching
    assert "40% watched" in watching and 'aria-current="step"' in watching
    assert "Not started" in lesson_item(page, third)
    assert "Not started" in lesson_item(page, handout)
    assert "1 of 3 lessons done" in page
    assert '<progress id="course-progress-bar" max="3" value="1">' in page
    assert "About 14 minutes left" in page  # 10 x 60 % + 8; the optional handout not counted
    assert f'href="/courses/{course_id}/lessons/{video}" data-continue>Continue: ' in page

    # Another trainee's progress is not this one's.
    other = make_user(Role.TRAINEE)
    enrol(app, other.id, course_id)
    assert "0 of 3 lessons done" in html(signed_in(app, other).get(f"/courses/{course_id}"))


# --- the home page --------------------------------------------------------------------------


def test_home_shows_programmes_courses_progress_and_deadline_in_the_trainees_zone(
    app, make_user
) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    early = make_user(Role.TRAINEE, timezone="Pacific/Kiritimati")  # UTC+14
    late = make_user(Role.TRAINEE, timezone="Pacific/Pago_Pago")  # UTC-11
    built = build(app, instructor.id, [Spec("reading", 5), Spec("reading", 5)])
    optional = build(app, instructor.id, [Spec("reading", 7)], code="PLAY-2")
    for user in (early, late):
        enrol(app, user.id, built.course_id)
        enrol(app, user.id, optional.course_id)
    ends = datetime.now(ZoneInfo("UTC")).date() + timedelta(days=30)
    with new_session(app) as session:
        programme = session.scalar(select(Programme).where(Programme.code == "P-1"))
        programme.ends_on = ends
        session.commit()
    set_progress(app, early.id, built.course_id, built.lesson_ids[0], "done")

    page = html(signed_in(app, early).get("/"))
    assert "Programme P-1" in page and "Course PLAY-1" in page and "Course PLAY-2" in page
    assert "1 of 2 lessons done" in page and "0 of 1 lessons done" in page
    assert f'<progress id="course-progress-{programme.id}-{built.course_id}" max="2" value="1">'
    lesson = built.lesson_ids[1]
    assert (
        f'<a class="button" href="/courses/{built.course_id}/lessons/{lesson}" data-continue>'
        "Continue: " in page
    )
    # The second course has not been started: "Start", as a plain link.
    start = optional.lesson_ids[0]
    assert f'<a href="/courses/{optional.course_id}/lessons/{start}" data-continue>Start' in page

    # The deadline in days, counted from today where each trainee lives: a day apart.
    days = {}
    for user in (early, late):
        today = datetime.now(ZoneInfo(user.timezone)).date()
        days[user.timezone] = (ends - today).days
        text = html(signed_in(app, user).get("/"))
        formatted = f"{ends:%B} {ends.day}, {ends.year}"
        assert f"Deadline: {formatted} ({days[user.timezone]} days left)" in text, text
    assert days["Pacific/Kiritimati"] < days["Pacific/Pago_Pago"]


def test_home_of_a_withdrawn_trainee_has_no_links(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build(app, instructor.id, [Spec()])
    enrol(app, trainee.id, built.course_id, status="withdrawn")
    page = html(signed_in(app, trainee).get("/"))
    assert "Programme P-1" in page and "Withdrawn" in page
    assert "data-continue" not in page and f'href="/courses/{built.course_id}"' not in page


# --- the lesson player ----------------------------------------------------------------------


def _video_tag(page: str) -> str:
    match = re.search(r"<video[^>]*>.*?</video>", page, re.S)
    assert match, page
    return match.group(0)


def test_video_lesson_offers_every_rendition_subtitles_and_tracking(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE, locale="ja")
    built = build(app, instructor.id, [Spec("reading"), Spec("video"), Spec("reading")])
    course_id, (before, video, after) = built.course_id, built.lesson_ids
    enrol(app, trainee.id, course_id)
    page = html(signed_in(app, trainee).get(f"/courses/{course_id}/lessons/{video}"))
    tag = _video_tag(page)

    # Without JavaScript the browser plays the first <source>: the lowest rendition.
    sources = re.findall(r'<source src="[^"]*/(\w+)\.mp4[^"]*" type="video/mp4">', tag)
    assert sources == ["240p", "360p", "720p"]
    # The quality menu: automatic, every video rendition, and audio only; none missing.
    menu = re.search(r'<select id="player-quality".*?</select>', page, re.S).group(0)
    options = re.findall(r'<option value="([^"]+)"(?: data-src="([^"]+)")?', menu)
    assert [value for value, _src in options] == ["auto", "240p", "360p", "720p", "audio"]
    for value, src in options[1:]:
        assert src.startswith("/files/") and f"/{value}." in src
    assert 'data-name="240p"' in menu and 'data-bitrate="250000"' in menu
    assert 'data-height="720"' in menu and 'data-bitrate="48000"' in menu
    # Speed 0.75x to 2x (the server credits at most 2x).
    menu = re.search(r'<select id="player-speed".*?</select>', page, re.S).group(0)
    speeds = re.findall(r'<option value="([\d.]+)"', menu)
    assert speeds == ["0.75", "1", "1.25", "1.5", "1.75", "2"]

    # heartbeat.js's attributes: where to beat, where to resume from, CSRF, the user.
    assert f'data-beat-url="/api/v1/lessons/{video}/beats"' in tag
    assert f'data-progress-url="/api/v1/lessons/{video}/progress"' in tag
    assert re.search(r'data-csrf-token="[^"]{20,}"', tag)
    assert f'data-user-id="{trainee.id}"' in tag and f'data-lesson-id="{video}"' in tag
    assert '<script src="/static/js/heartbeat.js" defer></script>' in page
    assert '<script src="/static/js/player.js" defer></script>' in page
    assert 'href="/static/css/learning.css"' in page

    # Subtitles: a track per caption language, the trainee's (Japanese) by default.
    tracks = re.findall(r"<track [^>]*>", tag)
    assert len(tracks) == 2
    assert "default" in next(t for t in tracks if 'srclang="ja"' in t)
    assert "default" not in next(t for t in tracks if 'srclang="en"' in t)
    # ... and the transcript in the same language.
    assert re.search(r'<ol class="transcript-lines" data-transcript lang="ja" dir="ltr">', page)
    assert "ようこそ" in page

    # Status, share watched, previous and next lesson.
    assert 'data-lesson-progress data-status="not_started"' in page
    assert '<progress id="watched-bar" max="100" value="0">' in page
    assert f'href="/courses/{course_id}/lessons/{before}" rel="prev"' in page
    assert f'href="/courses/{course_id}/lessons/{after}" rel="next"' in page
    assert "style=" not in page.lower()


def test_transcript_lines_seek_to_their_start(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE, locale="en")
    built = build(app, instructor.id, [Spec("video")])
    enrol(app, trainee.id, built.course_id)
    page = html(
        signed_in(app, trainee).get(f"/courses/{built.course_id}/lessons/{built.lesson_ids[0]}")
    )
    lines = re.findall(
        r'<li><button type="button" data-start="([\d.]+)"><span>([\d:]+)</span> ([^<]*)</button>',
        page,
    )
    assert [(float(start), stamp, unescape(text)) for start, stamp, text in lines] == [
        (1.5, "0:01", "Welcome to the plant."),
        (65.0, "1:05", "This is the bunker & crane."),  # tags stripped, entity decoded
        (540.0, "9:00", "Thank you."),
    ]
    assert 'lang="en"' in re.search(r'<ol class="transcript-lines"[^>]*>', page).group(0)


def test_subtitles_and_transcript_fall_back_to_the_courses_language(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE, locale="ja")
    built = build(app, instructor.id, [Spec("video")], captions={"en": EN_VTT, "th": TH_VTT})
    enrol(app, trainee.id, built.course_id)
    page = html(
        signed_in(app, trainee).get(f"/courses/{built.course_id}/lessons/{built.lesson_ids[0]}")
    )
    tracks = re.findall(r"<track [^>]*>", _video_tag(page))
    assert [t for t in tracks if " default" in t][0].count('srclang="en"') == 1
    assert "Welcome to the plant." in page and "sawasdee" not in page


def test_video_page_shows_the_share_watched(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build(app, instructor.id, [Spec("video")])
    enrol(app, trainee.id, built.course_id)
    lesson = built.lesson_ids[0]
    set_progress(app, trainee.id, built.course_id, lesson, "in_progress", 150.0, 600.0)
    page = html(signed_in(app, trainee).get(f"/courses/{built.course_id}/lessons/{lesson}"))
    assert 'data-lesson-progress data-status="in_progress"' in page
    assert '<progress id="watched-bar" max="100" value="25">' in page and "25% watched" in page
    assert "The lesson is done when you have watched 90% of the video." in page


def test_instructor_preview_records_nothing(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    built = build(app, instructor.id, [Spec("video"), Spec("reading")])
    with new_session(app) as session:
        catalog.set_instructors(session, session.get(Course, built.course_id), [instructor.id])
        session.commit()
    client = signed_in(app, instructor)
    for lesson in built.lesson_ids:
        page = html(client.get(f"/teach/courses/{built.course_id}/preview/lessons/{lesson}"))
        assert "data-beat-url" not in page and "heartbeat.js" not in page
        assert "data-reading-end" not in page and "data-lesson-progress" not in page
    assert "<video" in html(
        client.get(f"/teach/courses/{built.course_id}/preview/lessons/{built.lesson_ids[0]}")
    )


# --- readings and documents marked done -----------------------------------------------------


@pytest.fixture
def csrf_app(app_factory) -> Flask:
    return app_factory(WTF_CSRF_ENABLED=True)


def csrf_client(app: Flask, user: User):
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def stored(app: Flask, user_id: int, lesson_id: int) -> LessonProgress | None:
    with new_session(app) as session:
        return session.scalar(
            select(LessonProgress).where(
                LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson_id
            )
        )


def test_reading_is_done_through_the_api_the_page_calls(csrf_app, make_user) -> None:
    app = csrf_app
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build(app, instructor.id, [Spec("reading"), Spec("reading")])
    course_id, (first, second) = built.course_id, built.lesson_ids
    enrol(app, trainee.id, course_id)
    client = csrf_client(app, trainee)
    page = html(client.get(f"/courses/{course_id}/lessons/{first}"))
    # The sentinel at the end of the text, with the URL and the token player.js uses.
    sentinel = re.search(r"<div class=\"reading-end\" data-reading-end[^>]*>", page).group(0)
    url = re.search(r'data-done-url="([^"]+)"', sentinel).group(1)
    token = re.search(r'data-csrf-token="([^"]+)"', sentinel).group(1)
    assert url == f"/api/v1/lessons/{first}/done"
    # Without the token the request is refused and nothing is recorded.
    assert client.post(url).status_code == 400
    assert stored(app, trainee.id, first) is None
    response = client.post(url, headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.json["status"] == "done"
    assert stored(app, trainee.id, first).status == "done"
    page = html(client.get(f"/courses/{course_id}/lessons/{first}"))
    assert 'data-lesson-progress data-status="done"' in page and "data-mark-done" not in page
    assert "data-reading-end" in page and " data-done" in page
    # The course page now says so, and continues with the second reading.
    outline = html(client.get(f"/courses/{course_id}"))
    assert "1 of 2 lessons done" in outline
    assert f'href="/courses/{course_id}/lessons/{second}" data-continue>Continue' in outline


def test_mark_as_done_form_works_without_javascript(csrf_app, make_user) -> None:
    app = csrf_app
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build(app, instructor.id, [Spec("reading"), Spec("video")])
    course_id, (reading, video) = built.course_id, built.lesson_ids
    enrol(app, trainee.id, course_id)
    client = csrf_client(app, trainee)
    page = html(client.get(f"/courses/{course_id}/lessons/{reading}"))
    form = re.search(r'<form method="post" action="([^"]+)" class="mark-done"', page)
    assert form and form.group(1) == f"/courses/{course_id}/lessons/{reading}/done"
    assert client.post(form.group(1)).status_code == 400  # no CSRF token
    assert stored(app, trainee.id, reading) is None
    response = client.post(form.group(1), data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/courses/{course_id}/lessons/{reading}")
    assert "marked as done" in html(client.get(response.headers["Location"]))
    assert stored(app, trainee.id, reading).status == "done"
    # A video cannot be marked done by hand: an error, and nothing changes.
    page = html(client.get(f"/courses/{course_id}/lessons/{video}"))
    assert "data-mark-done" not in page
    response = client.post(
        f"/courses/{course_id}/lessons/{video}/done", data={"csrf_token": csrf_token_from(page)}
    )
    assert response.status_code == 302
    assert "enough of it has been watched" in html(client.get(response.headers["Location"]))
    assert stored(app, trainee.id, video) is None
    # Someone not enrolled may not.
    stranger = csrf_client(app, make_user(Role.TRAINEE))
    response = stranger.post(
        f"/courses/{course_id}/lessons/{reading}/done", data={"csrf_token": csrf_token_from(page)}
    )
    assert response.status_code in (400, 403)


def test_document_is_done_when_opened(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    other = make_user(Role.TRAINEE)
    built = build(app, instructor.id, [Spec("document"), Spec("reading")])
    course_id, (document, reading) = built.course_id, built.lesson_ids
    enrol(app, trainee.id, course_id)
    enrol(app, other.id, course_id)
    client = signed_in(app, trainee)
    page = html(client.get(f"/courses/{course_id}/lessons/{document}"))
    links = re.findall(r'<a (?:class="button" )?href="([^"]+)"[^>]*data-opens-document>', page)
    assert len(links) == 2
    download, view = (unescape(link) for link in links)
    assert download.startswith(f"/courses/{course_id}/lessons/{document}/document?token=")
    assert "view=1" in view

    # A link from elsewhere (no token, or another trainee's) opens the file, records nothing.
    other_page = html(signed_in(app, other).get(f"/courses/{course_id}/lessons/{document}"))
    others_link = unescape(re.search(r'href="([^"]+/document\?[^"]+)"', other_page).group(1))
    for url in (f"/courses/{course_id}/lessons/{document}/document", others_link):
        response = client.get(url)
        assert response.status_code == 303 and response.headers["Location"].startswith("/files/")
    assert stored(app, trainee.id, document) is None

    response = client.get(download)
    assert response.status_code == 303
    served = client.get(response.headers["Location"])
    assert served.status_code == 200 and served.data == b"%PDF-1.4 test"
    assert "attachment" in served.headers["Content-Disposition"]
    assert stored(app, trainee.id, document).status == "done"
    assert stored(app, other.id, document) is None
    response = client.get(view)
    served = client.get(response.headers["Location"])
    assert "inline" in served.headers["Content-Disposition"]
    # Opening a reading's "document" is not a thing.
    assert client.get(f"/courses/{course_id}/lessons/{reading}/document").status_code == 404


# --- a fixed number of SQL statements -------------------------------------------------------


def _count(app: Flask, client, url: str) -> int:
    client.get(url)  # warm caches (templates, the transcript)
    with count_statements(app) as statements:
        assert client.get(url).status_code == 200, url
    return len(statements)


def test_pages_run_the_same_statements_for_2_and_30_lessons(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    kinds = ["video", "reading", "document"]
    small = build(app, instructor.id, [Spec("video"), Spec("reading")], code="SMALL")
    large = build(
        app,
        instructor.id,
        [Spec(kinds[i % 3]) for i in range(30)],
        code="LARGE",
        modules=3,
    )
    enrol(app, trainee.id, small.course_id, code="P-SMALL")
    client = signed_in(app, trainee)
    counts: dict[str, dict[str, int]] = {}

    def measure(name: str, built: Built) -> None:
        course_id, ids = built.course_id, built.lesson_ids
        for lesson_id in ids[:-1]:  # progress everywhere but the last lesson
            status = "done" if lesson_id % 2 else "in_progress"
            set_progress(app, trainee.id, course_id, lesson_id, status, 30.0, 600.0)
        counts[name] = {
            "home": _count(app, client, "/"),
            "course": _count(app, client, f"/courses/{course_id}"),
            "video": _count(app, client, f"/courses/{course_id}/lessons/{ids[0]}"),
            "reading": _count(app, client, f"/courses/{course_id}/lessons/{ids[1]}"),
        }

    measure("small", small)
    # The large course, and two more programmes with a course each, for the home page.
    enrol(app, trainee.id, large.course_id, code="P-LARGE")
    for index in range(2):
        more = build(app, instructor.id, [Spec()] * 30, code=f"MORE-{index}")
        enrol(app, trainee.id, more.course_id, code=f"P-MORE-{index}")
    measure("large", large)
    assert counts["small"] == counts["large"], counts
    # And the numbers themselves, so that one more query per page is a decision, not an
    # accident. Home: the user, the enrolments with programme, sponsor and courses (the home
    # view), the published outlines and the progress rows. Course: the user, the course,
    # the access check, the published version, the progress rows. A video lesson adds the
    # asset with its renditions and captions.
    assert counts["large"] == {"home": 9, "course": 6, "video": 9, "reading": 6}


def test_published_snapshot_is_what_trainees_study(app, make_user) -> None:
    """Lessons added to the draft after publishing are not counted until published."""
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build(app, instructor.id, [Spec("reading", 5)])
    enrol(app, trainee.id, built.course_id)
    with new_session(app) as session:
        course = session.get(Course, built.course_id)
        module = catalog.course_tree(session, course)[0][0]
        catalog.add_lesson(
            session, module, catalog.LessonData(kind="reading", title="Draft", language="en")
        )
        session.commit()
        assert session.scalar(select(CourseVersion.id).where(CourseVersion.course_id == course.id))
    page = html(signed_in(app, trainee).get(f"/courses/{built.course_id}"))
    assert "0 of 1 lessons done" in page and "Draft" not in page
