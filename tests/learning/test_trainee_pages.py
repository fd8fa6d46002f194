"""The trainee's pages: the published course, a lesson, their language, who may see them."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson
from lms.db import new_session
from lms.media.models import Caption, MediaAsset, Rendition
from lms.storage import get_storage
from tests.conftest import login
from tests.learning.helpers import (
    build_course,
    count_statements,
    edit_lesson,
    enrol,
    publish,
)


def _client(app, user):
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# --- languages --------------------------------------------------------------------------


def test_trainees_read_their_language_or_the_default(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR, locale="en")
    japanese = make_user(Role.TRAINEE, locale="ja")
    english = make_user(Role.TRAINEE, locale="en")
    built = build_course(app, instructor.id, lessons=2, published=False)
    course_id, module_id = built["course_id"], built["module_ids"][0]
    first, second = built["lesson_ids"]
    author = _client(app, instructor)
    author.post(
        f"/teach/courses/{course_id}?lang=ja", data={"title": "ごみの収集", "summary": "概要"}
    )
    author.post(
        f"/teach/courses/{course_id}/modules/{module_id}?lang=ja",
        data={f"module-{module_id}-title": "分別"},
    )
    edit_lesson(author, course_id, first, lang="ja", title="家庭での分別", body="日本語の本文")
    # The second lesson has no Japanese title: Japanese readers see the default one.
    assert publish(author, course_id).status_code == 302
    enrol(app, japanese.id, course_id)
    enrol(app, english.id, course_id)

    ja = _client(app, japanese)
    page = _html(ja.get(f"/courses/{course_id}"))
    assert '<html lang="ja"' in page
    assert "ごみの収集" in page and "分別" in page and "家庭での分別" in page
    assert '<h1 lang="ja" dir="ltr">ごみの収集</h1>' in page
    link = f'<a href="/courses/{course_id}/lessons/{second}" lang="en" dir="ltr">Lesson 1.2</a>'
    assert link in page
    page = _html(ja.get(f"/courses/{course_id}/lessons/{first}"))
    assert "家庭での分別" in page and "日本語の本文" in page and "Body of lesson 1.1" not in page
    page = _html(ja.get(f"/courses/{course_id}/lessons/{second}"))
    assert "Lesson 1.2" in page and "Body of lesson 1.2" in page

    en = _client(app, english)
    page = _html(en.get(f"/courses/{course_id}"))
    assert "Course C-1" in page and "Module 1" in page and "Lesson 1.1" in page
    assert "ごみの収集" not in page and "家庭での分別" not in page
    page = _html(en.get(f"/courses/{course_id}/lessons/{first}"))
    assert "Body of lesson 1.1" in page and "日本語の本文" not in page

    # The list of their courses is in their language too.
    assert "ごみの収集" in _html(ja.get("/courses"))
    listing = _html(en.get("/courses"))
    assert "Course C-1" in listing and "Programme P-1" in listing


# --- Markdown is sanitised --------------------------------------------------------------


def test_script_and_event_handlers_never_reach_the_trainee(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build_course(app, instructor.id, lessons=1, published=False)
    course_id, lesson_id = built["course_id"], built["lesson_ids"][0]
    author = _client(app, instructor)
    body = (
        "# Safe heading\n\n"
        "<script>alert('xss')</script>\n\n"
        '<img src="x" onerror="alert(1)">\n\n'
        '<a href="javascript:alert(2)">click</a>\n\n'
        '<p onclick="alert(3)" style="color:red">para</p>\n\n'
        "[link](javascript:alert(4))\n\n"
        '<iframe src="https://evil.example"></iframe>\n'
    )
    edit_lesson(author, course_id, lesson_id, title="<b>Title</b><script>x()</script>", body=body)
    publish(author, course_id)
    enrol(app, trainee.id, course_id)

    for client, url in (
        (_client(app, trainee), f"/courses/{course_id}/lessons/{lesson_id}"),
        (author, f"/teach/courses/{course_id}/preview/lessons/{lesson_id}"),
    ):
        page = _html(client.get(url))
        assert "<h1>Safe heading</h1>" in page
        lowered = page.lower()
        # The only scripts are the page's own files, never inline code.
        for script in re.findall(r"<script\b[^>]*>(.*?)</script>", lowered, re.S):
            assert script == ""
        assert all('src="/static/js/' in tag for tag in re.findall(r"<script\b[^>]*>", lowered))
        assert "onerror" not in lowered and "onclick" not in lowered
        assert "javascript:" not in lowered
        assert "<iframe" not in lowered and "style=" not in lowered
        # The title is text, escaped, never markup.
        assert "&lt;b&gt;Title&lt;/b&gt;" in page
    course_page = _html(_client(app, trainee).get(f"/courses/{course_id}"))
    assert "<script" not in course_page.lower()


# --- who may read -----------------------------------------------------------------------


def test_who_may_read_a_course(app, make_user) -> None:
    owner = make_user(Role.INSTRUCTOR)
    other_instructor = make_user(Role.INSTRUCTOR)
    enrolled = make_user(Role.TRAINEE)
    completed = make_user(Role.TRAINEE)
    withdrawn = make_user(Role.TRAINEE)
    stranger = make_user(Role.TRAINEE)
    admin = make_user(Role.ADMIN)
    built = build_course(app, owner.id)
    course_id, lesson_id = built["course_id"], built["lesson_ids"][0]
    ids = enrol(app, enrolled.id, course_id)
    enrol(app, completed.id, course_id, status="completed")
    enrol(app, withdrawn.id, course_id, status="withdrawn")
    sponsor_staff = make_user(Role.SPONSOR, sponsor_id=ids["sponsor_id"])
    other_ids = enrol(app, 0, build_course(app, owner.id, code="C-9")["course_id"], code="P-9")
    other_staff = make_user(Role.SPONSOR, sponsor_id=other_ids["sponsor_id"])

    urls = (f"/courses/{course_id}", f"/courses/{course_id}/lessons/{lesson_id}")
    expected = {
        owner: 200,
        admin: 200,
        enrolled: 200,
        completed: 200,
        sponsor_staff: 200,
        withdrawn: 403,
        stranger: 403,
        other_instructor: 403,
        other_staff: 403,
    }
    for user, status in expected.items():
        client = _client(app, user)
        for url in urls:
            assert client.get(url).status_code == status, (user.email, url)
    anonymous = app.test_client().get(urls[0])
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]

    client = _client(app, enrolled)
    assert client.get("/courses/999999").status_code == 404
    assert client.get(f"/courses/{course_id}/lessons/999999").status_code == 404
    # The trainee may not preview drafts.
    assert client.get(f"/teach/courses/{course_id}/preview/lessons/{lesson_id}").status_code == 403


def test_unpublished_course_is_not_found_for_trainees(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    stranger = make_user(Role.TRAINEE)
    built = build_course(app, instructor.id, published=False)
    course_id, lesson_id = built["course_id"], built["lesson_ids"][0]
    enrol(app, trainee.id, course_id)
    client = _client(app, trainee)
    assert client.get(f"/courses/{course_id}").status_code == 404
    assert client.get(f"/courses/{course_id}/lessons/{lesson_id}").status_code == 404
    assert _client(app, stranger).get(f"/courses/{course_id}").status_code == 403
    listing = _html(client.get("/courses"))
    assert "Course C-1" in listing and "not published yet" in listing
    assert f'href="/courses/{course_id}"' not in listing


# --- lesson kinds -----------------------------------------------------------------------


def _store(app, key: str, data: bytes, content_type: str) -> None:
    get_storage(app).put(key, io.BytesIO(data), content_type)


@pytest.fixture
def media_course(app, make_user):
    """A published course with a video (renditions, captions), a PDF, a quiz and a tour."""
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE, locale="ja")
    with new_session(app) as session:
        course = catalog.create_course(
            session, instructor, catalog.CourseData(code="MEDIA", title="Media course")
        )
        module = catalog.add_module(session, course, "en", "Lectures")
        lessons = {}
        for kind in ("video", "document", "quiz", "tour"):
            lessons[kind] = catalog.add_lesson(
                session,
                module,
                catalog.LessonData(kind=kind, title=f"A {kind}", language="en", body="About it"),
            )
        video = MediaAsset(
            course_id=course.id,
            kind="video",
            filename="lecture.mp4",
            key="media/v/original.mp4",
            content_type="video/mp4",
            status="ready",
            poster_key="media/v/poster.jpg",
            duration=60.0,
        )
        video.renditions = [
            Rendition(
                name="720p", key="media/v/720p.mp4", content_type="video/mp4",
                size=3000, height=720, bitrate=2_500_000,
            ),
            Rendition(
                name="240p", key="media/v/240p.mp4", content_type="video/mp4",
                size=300, height=240, bitrate=250_000,
            ),
            Rendition(
                name="audio", key="media/v/audio.m4a", content_type="audio/mp4",
                size=50, height=None, bitrate=48_000,
            ),
            Rendition(
                name="360p", key="media/v/360p.mp4", content_type="video/mp4",
                size=600, height=360, bitrate=600_000,
            ),
        ]  # fmt: skip
        video.captions = [
            Caption(language="en", key="media/v/en.vtt"),
            Caption(language="ja", key="media/v/ja.vtt"),
        ]
        document = MediaAsset(
            course_id=course.id,
            kind="document",
            filename="handout.pdf",
            key="media/d/handout.pdf",
            content_type="application/pdf",
            status="ready",
            size=1234,
        )
        session.add_all([video, document])
        session.flush()
        lessons["video"].media_id = video.id
        lessons["document"].media_id = document.id
        catalog.publish(session, instructor, course)
        session.commit()
        ids = {kind: lesson.id for kind, lesson in lessons.items()}
        course_id = course.id
    for key in ("original.mp4", "720p.mp4", "240p.mp4", "360p.mp4", "audio.m4a", "poster.jpg"):
        _store(app, f"media/v/{key}", b"data " + key.encode(), "application/octet-stream")
    _store(app, "media/v/en.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n", "text/vtt")
    _store(app, "media/v/ja.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nkonnichiwa\n", "text/vtt")
    _store(app, "media/d/handout.pdf", b"%PDF-1.4 test", "application/pdf")
    enrol(app, trainee.id, course_id)
    return {"course_id": course_id, "lessons": ids, "trainee": trainee, "instructor": instructor}


def test_video_lesson_plays_lowest_rendition_first_with_subtitles(app, media_course) -> None:
    client = _client(app, media_course["trainee"])
    course_id, lesson_id = media_course["course_id"], media_course["lessons"]["video"]
    page = _html(client.get(f"/courses/{course_id}/lessons/{lesson_id}"))
    video = re.search(r"<video[^>]*>.*?</video>", page, re.S)
    assert video, page
    tag = video.group(0)
    assert "controls" in tag and 'preload="metadata"' in tag and "poster=" in tag
    sources = re.findall(r'<source src="([^"]+)" type="([^"]+)">', tag)
    assert [re.search(r"media/v/(\w+)\.mp4", src).group(1) for src, _type in sources] == [
        "240p",
        "360p",
        "720p",
    ]
    assert all(t == "video/mp4" for _src, t in sources)
    assert "audio.m4a" not in tag
    tracks = re.findall(r"<track [^>]*>", tag)
    assert len(tracks) == 2
    japanese = next(t for t in tracks if 'srclang="ja"' in t)
    english = next(t for t in tracks if 'srclang="en"' in t)
    assert "default" in japanese and "default" not in english
    assert 'kind="subtitles"' in japanese and 'label="日本語"' in japanese
    # The audio-only rendition, for the weakest links: in the player's quality menu (the
    # same <video> plays it, so listening counts), and as a file to save.
    audio = re.search(r'<option value="audio" data-src="([^"]+)"', page)
    assert audio and "media/v/audio.m4a" in audio.group(1)
    assert re.search(r'<a href="[^"]*media/v/audio.m4a[^"]*" type="audio/mp4" download>', page)

    # Every URL is signed, same-origin, and serves the object.
    for url in [src for src, _ in sources] + [unescape(audio.group(1))]:
        url = unescape(url)
        assert url.startswith("/files/")
        assert client.get(url).status_code == 200
    track_url = unescape(re.search(r'src="([^"]+)"', japanese).group(1))
    response = client.get(track_url)
    assert response.status_code == 200 and b"konnichiwa" in response.data
    assert response.headers["Content-Type"].startswith("text/vtt")
    # A URL with its signature changed is refused.
    assert client.get(track_url.replace("ja.vtt", "en.vtt")).status_code == 403


def test_document_quiz_and_tour_lessons(app, media_course) -> None:
    with new_session(app) as session:  # read in English this time
        session.get(User, media_course["trainee"].id).locale = "en"
        session.commit()
    client = _client(app, media_course["trainee"])
    course_id, lessons = media_course["course_id"], media_course["lessons"]
    page = _html(client.get(f"/courses/{course_id}/lessons/{lessons['document']}"))
    link = re.search(r'<a class="button" href="([^"]+)" data-opens-document>([^<]+)</a>', page)
    assert link and "Download the handout (PDF, 1.2 kB)" in link.group(2)
    # Through the page's own endpoint (which marks the lesson done) to a signed URL.
    opened = client.get(unescape(link.group(1)))
    assert opened.status_code == 303
    response = client.get(opened.headers["Location"])
    assert response.status_code == 200 and response.data == b"%PDF-1.4 test"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "handout.pdf" in response.headers["Content-Disposition"]

    page = _html(client.get(f"/courses/{course_id}/lessons/{lessons['quiz']}"))
    assert "About this quiz" in page
    page = _html(client.get(f"/courses/{course_id}/lessons/{lessons['tour']}"))
    assert "This plant tour is not ready yet" in page  # a tour lesson without its tour


def test_previous_and_next_links_cross_modules(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build_course(app, instructor.id, lessons=2, modules=2)
    course_id, (a, b, c, d) = built["course_id"], built["lesson_ids"]
    enrol(app, trainee.id, course_id)
    client = _client(app, trainee)
    first = _html(client.get(f"/courses/{course_id}/lessons/{a}"))
    assert 'rel="prev"' not in first
    assert f'href="/courses/{course_id}/lessons/{b}" rel="next"' in first
    middle = _html(client.get(f"/courses/{course_id}/lessons/{b}"))
    assert f'href="/courses/{course_id}/lessons/{a}" rel="prev"' in middle
    assert f'href="/courses/{course_id}/lessons/{c}" rel="next"' in middle
    assert "Lesson 2 of 4" in middle
    last = _html(client.get(f"/courses/{course_id}/lessons/{d}"))
    assert 'rel="next"' not in last and "Back to the course outline" in last


# --- preview ----------------------------------------------------------------------------


def test_preview_shows_the_draft_with_a_banner(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build_course(app, instructor.id, lessons=2)
    course_id, (first, second) = built["course_id"], built["lesson_ids"]
    enrol(app, trainee.id, course_id)
    author = _client(app, instructor)
    edit_lesson(author, course_id, first, title="Draft title", body="Draft **body**")

    page = _html(author.get(f"/teach/courses/{course_id}/preview/lessons/{first}"))
    assert 'class="preview-banner"' in page and "Preview" in page
    assert "Draft title" in page and "<strong>body</strong>" in page
    assert f"/teach/courses/{course_id}/preview/lessons/{second}" in page
    # The same template as the trainee's, who still sees the published text.
    published = _html(_client(app, trainee).get(f"/courses/{course_id}/lessons/{first}"))
    assert "Body of lesson 1.1" in published and "preview-banner" not in published
    assert 'class="pager"' in page and 'class="pager"' in published

    outline = _html(author.get(f"/teach/courses/{course_id}/preview"))
    assert "Draft title" in outline and 'class="preview-banner"' in outline
    # Previewing in another language: ja falls back to the default where nothing is written.
    page = _html(author.get(f"/teach/courses/{course_id}/preview/lessons/{first}?lang=ja"))
    assert "Draft title" in page
    # An archived or unknown lesson is not in the draft.
    assert author.get(f"/teach/courses/{course_id}/preview/lessons/999999").status_code == 404


# --- queries ----------------------------------------------------------------------------


def test_trainee_pages_make_the_same_queries_for_2_and_30_lessons(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    small = build_course(app, instructor.id, lessons=2, code="SMALL")
    large = build_course(app, instructor.id, lessons=15, modules=2, code="LARGE")
    for built in (small, large):
        enrol(app, trainee.id, built["course_id"])
    client = _client(app, trainee)
    counts: dict[str, list[int]] = {}
    for name, built in (("small", small), ("large", large)):
        course_id = built["course_id"]
        urls = [
            f"/courses/{course_id}",
            f"/courses/{course_id}/lessons/{built['lesson_ids'][1]}",
            "/courses",
        ]
        counts[name] = []
        for url in urls:
            client.get(url)
            with count_statements(app) as statements:
                assert client.get(url).status_code == 200
            counts[name].append(len(statements))
    assert counts["small"] == counts["large"], counts

    # The preview reads the draft in a fixed number of queries too.
    author = _client(app, instructor)
    preview = {}
    for name, built in (("small", small), ("large", large)):
        url = f"/teach/courses/{built['course_id']}/preview/lessons/{built['lesson_ids'][1]}"
        author.get(url)
        with count_statements(app) as statements:
            assert author.get(url).status_code == 200
        preview[name] = len(statements)
    assert preview["small"] == preview["large"], preview


def test_course_texts_in_the_list_come_from_the_published_version(app, make_user) -> None:
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    built = build_course(app, instructor.id)
    course_id = built["course_id"]
    enrol(app, trainee.id, course_id)
    with new_session(app) as session:
        course = session.get(Course, course_id)
        catalog.update_course_texts(course, "en", "Renamed in the draft", "")
        session.commit()
    client = _client(app, trainee)
    listing = _html(client.get("/courses"))
    assert "Course C-1" in listing and "Renamed in the draft" not in listing
    with new_session(app) as session:
        assert session.scalar(select(Lesson.id).where(Lesson.course_id == course_id))
