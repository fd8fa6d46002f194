"""Progress reports: the trainees × lessons table, the drop-off chart, CSV, the timeline,
sponsor isolation and fixed query counts. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.audit.models import AuditEvent
from lms.catalog.models import Course
from lms.db import new_session
from lms.learning import reports
from lms.learning.models import LessonProgress, PlaybackSession
from lms.programs.models import Sponsor
from tests.conftest import login
from tests.learning.helpers import add_progress, count_statements
from tests.learning.test_completion import T0, finish, make_course, make_programme


def client_for(app: Flask, user: User):
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


def add_playback(
    app: Flask, user_id: int, lesson_id: int, start: datetime, seconds: float, clipped=0.0
) -> None:
    ms = int(start.timestamp() * 1000)
    with new_session(app) as session:
        session.add(
            PlaybackSession(
                id=str(uuid.uuid4()),
                user_id=user_id,
                lesson_id=lesson_id,
                started_at=start,
                client_started_ms=ms,
                client_latest_ms=ms + int(seconds * 1000),
                last_beat_at=start + timedelta(seconds=seconds),
                last_seq=3,
                missing_seqs=[],
                beats=3,
                credited_seconds=seconds,
                clipped_seconds=clipped,
            )
        )
        session.commit()


def names_in(html: str) -> set[str]:
    return set(re.findall(r'<a href="[^"]*/trainees/\d+">([^<]+)</a>', html))


@dataclass
class World:
    course_id: int
    video: int
    reading: int
    document: int
    module_id: int
    own: int  # programme of the own sponsor: Ana, Ben, Chen
    other: int  # programme of another sponsor: Dara
    second_own: int  # a second programme of the own sponsor: Eve
    trainees: dict[str, int]
    users: dict[str, User]


@pytest.fixture
def world(app, make_user) -> World:
    instructor = make_user(Role.INSTRUCTOR, name="Instructor")
    built = make_course(
        app,
        instructor.id,
        [[("video", True), ("reading", True), ("document", False)]],
        code="WTE-1",
        duration=600.0,
    )
    video, reading, document = built.lessons
    trainees = {
        name: make_user(Role.TRAINEE, name=name, email=f"{name.lower()}@example.org").id
        for name in ("Ana", "Ben", "Chen", "Dara", "Eve")
    }
    with new_session(app) as session:
        own, other = Sponsor(name="Ministry", kind="ministry"), Sponsor(name="Bank", kind="bank")
        session.add_all([own, other])
        session.commit()
        own_id, other_id = own.id, other.id
    course = [(built.course_id, True)]
    own_programme = make_programme(
        app, course, [trainees["Ana"], trainees["Ben"], trainees["Chen"]], "OWN-1", own_id
    )
    other_programme = make_programme(app, course, [trainees["Dara"]], "OTHER-1", other_id)
    second_own = make_programme(app, course, [trainees["Eve"]], "OWN-2", own_id)
    # Ana: half the video, the reading done.  Ben: everything (the course completes).
    # Chen: nothing.  Dara (other sponsor): the video opened.  Eve: the reading done.
    add_progress(app, trainees["Ana"], built.course_id, video, "in_progress", 300.0, 600.0)
    finish(app, trainees["Ana"], reading, T0 + timedelta(minutes=10))
    add_progress(app, trainees["Ben"], built.course_id, video, "done", 570.0, 600.0)
    finish(app, trainees["Ben"], document, T0 + timedelta(minutes=20))
    finish(app, trainees["Ben"], reading, T0 + timedelta(minutes=30))
    add_progress(app, trainees["Dara"], built.course_id, video, "not_started", 0.0, 600.0)
    finish(app, trainees["Eve"], reading, T0)
    users = {
        "instructor": instructor,
        "sponsor": make_user(Role.SPONSOR, sponsor_id=own_id),
        "other_sponsor": make_user(Role.SPONSOR, sponsor_id=other_id),
        "admin": make_user(Role.ADMIN, timezone="Asia/Tokyo"),
        "stranger": make_user(Role.INSTRUCTOR),
    }
    return World(
        built.course_id,
        video,
        reading,
        document,
        built.module_ids[0],
        own_programme,
        other_programme,
        second_own,
        trainees,
        users,
    )


def teach_url(world: World, suffix: str = "progress") -> str:
    return f"/teach/courses/{world.course_id}/{suffix}"


def sponsor_url(world: World, programme: int, suffix: str = "progress") -> str:
    return f"/sponsor/programmes/{programme}/courses/{world.course_id}/{suffix}"


# --- the table ---------------------------------------------------------------------------------


def test_the_table_shows_status_share_and_last_activity(app, world) -> None:
    with new_session(app) as session:
        course = session.get(Course, world.course_id)
        table = reports.progress_table(
            session, course.id, course.published_version.snapshot, "en", [world.own]
        )
    assert [c.id for c in table.columns] == [world.video, world.reading, world.document]
    assert [c.required for c in table.columns] == [True, True, False]
    rows = {row.name: row for row in table.rows}
    assert list(rows) == ["Ana", "Ben", "Chen"]  # by name; Dara and Eve are elsewhere
    ana, ben, chen = rows["Ana"], rows["Ben"], rows["Chen"]
    assert [c.status for c in ana.cells] == ["in_progress", "done", "not_started"]
    assert ana.cells[0].share == 0.5 and ana.cells[1].share is None
    assert ana.last_activity_at == T0 + timedelta(minutes=10) and ana.completed_at is None
    assert [c.status for c in ben.cells] == ["done", "done", "done"]
    assert ben.completed_at == T0 + timedelta(minutes=30)  # the required lessons' latest
    assert [c.status for c in chen.cells] == ["not_started"] * 3
    assert chen.last_activity_at is None and not any(c.reached for c in chen.cells)
    assert [m.code for m in ana.memberships] == ["OWN-1"]

    html = client_for(app, world.users["instructor"]).get(teach_url(world)).get_data(as_text=True)
    assert names_in(html) == {"Ana", "Ben", "Chen", "Dara", "Eve"}
    assert "50%" in html and "95%" in html
    assert "In progress" in html and "Not started" in html and "Done" in html
    assert 'class="status-icon" aria-hidden="true">✓' in html
    assert "Course completed" in html
    assert "css/reports.css" in html and "style=" not in html and "<script" not in html


def test_instructors_filter_by_programme(app, world) -> None:
    client = client_for(app, world.users["instructor"])
    html = client.get(teach_url(world) + f"?programme={world.own}").get_data(as_text=True)
    assert names_in(html) == {"Ana", "Ben", "Chen"}
    assert f'<option value="{world.own}" selected>' in html
    html = client.get(teach_url(world) + f"?programme={world.other}").get_data(as_text=True)
    assert names_in(html) == {"Dara"}
    # A programme without the course, or that does not exist, is not a filter.
    elsewhere = make_programme(app, [], [world.trainees["Ana"]], "ELSEWHERE")
    assert client.get(teach_url(world) + f"?programme={elsewhere}").status_code == 404
    assert client.get(teach_url(world) + "?programme=999999").status_code == 404


def test_only_the_course_instructors_and_admins_see_the_teach_pages(app, world) -> None:
    for suffix in ("progress", "progress.csv", f"trainees/{world.trainees['Ana']}"):
        for role, status in (("stranger", 403), ("sponsor", 403), ("admin", 200)):
            response = client_for(app, world.users[role]).get(teach_url(world, suffix))
            assert response.status_code == status, (suffix, role)
    with new_session(app) as session:
        ana = session.get(User, world.trainees["Ana"])
    assert client_for(app, ana).get(teach_url(world)).status_code == 403
    # Someone who is in none of the course's programmes has no timeline.
    instructor = client_for(app, world.users["instructor"])
    assert (
        instructor.get(teach_url(world, f"trainees/{world.users['admin'].id}")).status_code == 404
    )


def test_an_unpublished_course_has_nothing_to_report(app, world, make_user) -> None:
    built = make_course(app, world.users["instructor"].id, [[("reading", True)]], publish=False)
    client = client_for(app, world.users["instructor"])
    response = client.get(f"/teach/courses/{built.course_id}/progress")
    assert response.status_code == 200
    assert "has not been published yet" in response.get_data(as_text=True)
    assert client.get(f"/teach/courses/{built.course_id}/progress.csv").status_code == 404


# --- sponsors ----------------------------------------------------------------------------------


def test_sponsors_see_only_trainees_of_their_programme(app, world) -> None:
    client = client_for(app, world.users["sponsor"])
    response = client.get(sponsor_url(world, world.own))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert names_in(html) == {"Ana", "Ben", "Chen"}
    assert "Dara" not in html and "dara@example.org" not in html and "OTHER-1" not in html
    # The filter offers their own programmes with the course, never the other sponsor's.
    assert f'value="{world.second_own}"' in html and f'value="{world.other}"' not in html
    switched = client.get(sponsor_url(world, world.own) + f"?programme={world.second_own}")
    assert switched.status_code == 302
    assert switched.headers["Location"].endswith(sponsor_url(world, world.second_own))
    assert names_in(client.get(sponsor_url(world, world.second_own)).get_data(as_text=True)) == {
        "Eve"
    }
    # Another sponsor's programme, directly or through the filter: refused.
    assert client.get(sponsor_url(world, world.other)).status_code == 403
    assert client.get(sponsor_url(world, world.other, "progress.csv")).status_code == 403
    assert (
        client.get(sponsor_url(world, world.own) + f"?programme={world.other}").status_code == 404
    )
    # Trainees outside the programme have no timeline here, even of the same sponsor.
    for name in ("Dara", "Eve"):
        url = sponsor_url(world, world.own, f"trainees/{world.trainees[name]}")
        assert client.get(url).status_code == 404
    url = sponsor_url(world, world.other, f"trainees/{world.trainees['Dara']}")
    assert client.get(url).status_code == 403
    assert (
        client.get(sponsor_url(world, world.own, f"trainees/{world.trainees['Ana']}")).status_code
        == 200
    )


def test_the_other_sponsor_and_a_course_outside_the_programme(app, world) -> None:
    other = client_for(app, world.users["other_sponsor"])
    assert other.get(sponsor_url(world, world.own)).status_code == 403
    html = other.get(sponsor_url(world, world.other)).get_data(as_text=True)
    assert names_in(html) == {"Dara"}
    lone = make_course(app, world.users["instructor"].id, [[("reading", True)]])
    url = f"/sponsor/programmes/{world.own}/courses/{lone.course_id}/progress"
    assert client_for(app, world.users["sponsor"]).get(url).status_code == 404
    assert (
        client_for(app, world.users["instructor"]).get(sponsor_url(world, world.own)).status_code
        == 403
    )


def test_admins_filtering_by_programme_see_only_its_trainees(app, world) -> None:
    client = client_for(app, world.users["admin"])
    html = client.get(sponsor_url(world, world.other)).get_data(as_text=True)
    assert names_in(html) == {"Dara"}
    html = client.get(teach_url(world) + f"?programme={world.second_own}").get_data(as_text=True)
    assert names_in(html) == {"Eve"}
    assert names_in(client.get(teach_url(world)).get_data(as_text=True)) == {
        "Ana",
        "Ben",
        "Chen",
        "Dara",
        "Eve",
    }


# --- CSV ---------------------------------------------------------------------------------------


def _parse_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_csv_has_a_bom_a_header_one_row_per_trainee_and_is_audited(app, world) -> None:
    sponsor = world.users["sponsor"]
    response = client_for(app, sponsor).get(sponsor_url(world, world.own, "progress.csv"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'attachment; filename="progress-WTE-1-' in response.headers["Content-Disposition"]
    rows = _parse_csv(response)
    header, body = rows[0], rows[1:]
    assert header[:6] == [
        "Name",
        "Email",
        "Programmes",
        "Course completed",
        "Last activity",
        "Lessons done",
    ]
    assert header[6:] == [
        "1. Lesson 1.1",
        "1. watched (%)",
        "2. Lesson 1.2",
        "3. Lesson 1.3",
    ]
    assert [row[0] for row in body] == ["Ana", "Ben", "Chen"]
    ana, ben, chen = body
    assert ana[1:3] == ["ana@example.org", "OWN-1 (Active)"]
    assert ana[5:] == ["1", "In progress", "50", "Done", "Not started"]
    assert ben[3] == (T0 + timedelta(minutes=30)).isoformat()  # the sponsor's zone is UTC
    assert ben[6:] == ["Done", "95", "Done", "Done"]
    assert chen[4:] == ["", "0", "Not started", "", "Not started", "Not started"]
    with new_session(app) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.actor_id == sponsor.id and event.subject == "WTE-1"
    assert event.details["report"] == "course_progress" and event.details["rows"] == 3
    assert event.details["programme_ids"] == [world.own]


def test_csv_times_are_in_the_viewers_zone_and_formulas_are_defused(app, world, make_user):
    with new_session(app) as session:
        session.get(User, world.trainees["Chen"]).name = "=HYPERLINK(1)"
        session.commit()
    response = client_for(app, world.users["admin"]).get(
        teach_url(world, "progress.csv") + f"?programme={world.own}"
    )
    rows = _parse_csv(response)[1:]
    assert sorted(row[0] for row in rows) == ["'=HYPERLINK(1)", "Ana", "Ben"]
    ben = next(row for row in rows if row[0] == "Ben")
    assert ben[3] == "2026-03-02T18:30:00+09:00"  # Tokyo


# --- the chart ---------------------------------------------------------------------------------


def test_the_dropoff_chart_counts_who_reached_and_finished_each_lesson(app, world) -> None:
    with new_session(app) as session:
        course = session.get(Course, world.course_id)
        snapshot = course.published_version.snapshot
        table = reports.progress_table(
            session, course.id, snapshot, "en", [world.own, world.other, world.second_own]
        )
    chart = reports.dropoff_chart(table)
    assert chart.total == 5
    # video: Ana, Ben, Dara opened it, Ben finished; reading: Ana, Ben, Eve; document: Ben
    assert [(bar.reached, bar.done) for bar in chart.bars] == [(3, 1), (3, 3), (1, 1)]
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)
    assert chart.bars[0].reached_height == round(160 * 3 / 5)
    rtl = reports.dropoff_chart(table, rtl=True)
    assert [bar.x for bar in rtl.bars] == sorted((bar.x for bar in rtl.bars), reverse=True)

    html = client_for(app, world.users["instructor"]).get(teach_url(world)).get_data(as_text=True)
    svg = html[
        html.index('<svg class="dropoff-chart"') : html.index("</svg>", html.index("dropoff-chart"))
    ]
    assert 'role="img"' in svg and '<title id="dropoff-title">' in svg
    titles = re.findall(r"<g class=\"chart-bar\">\s*<title>([^<]+)</title>", svg)
    assert titles == [
        "Lesson 1, Lesson 1.1: 3 of 5 trainees reached it, 1 finished it",
        "Lesson 2, Lesson 1.2: 3 of 5 trainees reached it, 3 finished it",
        "Lesson 3, Lesson 1.3: 1 of 5 trainees reached it, 1 finished it",
    ]
    counts = re.findall(r'<text class="bar-count"[^>]*>(\d+)</text>', svg)
    numbers = re.findall(r'<text class="bar-number"[^>]*>(\d+)</text>', svg)
    assert counts == ["3", "3", "1"] and numbers == ["1", "2", "3"]
    assert "style=" not in svg


# --- the timeline ------------------------------------------------------------------------------


def test_the_timeline_lists_activity_newest_first_in_the_viewers_zone(app, world) -> None:
    ana = world.trainees["Ana"]
    day1 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    add_playback(app, ana, world.video, day1, 120.0)
    add_playback(app, ana, world.video, day1 + timedelta(hours=2), 60.0, clipped=30.0)
    add_playback(app, ana, world.video, day1 + timedelta(days=1), 0.0)
    with new_session(app) as session:
        course = session.get(Course, world.course_id)
        timeline = reports.trainee_timeline(
            session,
            course.id,
            ana,
            course.published_version.snapshot,
            "en",
            [world.own],
            UTC,
        )
    kinds = [(entry.kind, entry.at) for entry in timeline.entries]
    assert kinds == [
        ("watched", day1 + timedelta(days=1)),
        ("lesson_done", T0 + timedelta(minutes=10)),
        ("watched", day1 + timedelta(hours=2, seconds=60)),
        ("enrolled", T0 - timedelta(days=1)),
    ]
    watched = timeline.entries[2]
    assert (watched.seconds, watched.sessions, watched.clipped) == (180.0, 2, 30.0)
    assert watched.column.id == world.video

    client = client_for(app, world.users["admin"])  # in Tokyo
    html = client.get(teach_url(world, f"trainees/{ana}")).get_data(as_text=True)
    assert html.index("Finished") < html.index("Watched") < html.index("Enrolled in")
    assert "Tuesday, March 3, 2026" in html and "Monday, March 2, 2026" in html
    assert "6:10\u202fPM" in html or "6:10 PM" in html  # 09:10 UTC, in Tokyo
    assert "3 minutes not seen before, in 2 sessions" in html
    assert "nothing new watched (1 session)" in html
    assert "30 seconds claimed beyond what could have been played was not counted" in html


def test_the_timeline_shows_module_course_and_programme_completions(app, world) -> None:
    ben = world.trainees["Ben"]
    client = client_for(app, world.users["sponsor"])
    html = client.get(sponsor_url(world, world.own, f"trainees/{ben}")).get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert text.index("Completed the programme Programme OWN-1") < text.index(
        "Completed the course"
    )
    assert text.index("Completed the course") < text.index("Completed the module Module 1")
    assert text.index("Completed the module Module 1") < text.index("Finished 2. Lesson 1.2")
    assert "Enrolled in Programme OWN-1" in text
    assert "Programme OTHER-1" not in text


# --- a fixed number of statements --------------------------------------------------------------


def _course_with(app: Flask, instructor_id: int, trainees: list[int], lessons: int, code: str):
    kinds = [("video", True), ("reading", True), ("document", False)]
    built = make_course(app, instructor_id, [[kinds[i % 3] for i in range(lessons)]], code=code)
    with new_session(app) as session:
        sponsor = session.scalar(select(Sponsor).where(Sponsor.name == "Ministry"))
        sponsor_id = sponsor.id
    programme = make_programme(app, [(built.course_id, True)], trainees, f"P-{code}", sponsor_id)
    with new_session(app) as session:
        for n, trainee in enumerate(trainees):
            for i, lesson in enumerate(built.lessons):
                status = ("done", "in_progress", "not_started")[(n + i) % 3]
                session.add(
                    LessonProgress(
                        user_id=trainee,
                        lesson_id=lesson,
                        course_id=built.course_id,
                        status=status,
                        watched=[],
                        watched_seconds=60.0 * (i % 3),
                        duration=600.0,
                        position=0.0,
                        started_at=T0,
                        last_activity_at=T0 + timedelta(minutes=i),
                        completed_at=T0 if status == "done" else None,
                    )
                )
                session.add(
                    PlaybackSession(
                        id=str(uuid.uuid4()),
                        user_id=trainee,
                        lesson_id=lesson,
                        started_at=T0 + timedelta(days=i % 4),
                        client_started_ms=0,
                        client_latest_ms=0,
                        last_beat_at=T0 + timedelta(days=i % 4, minutes=1),
                        credited_seconds=60.0,
                    )
                )
        session.commit()
    return built, programme


def test_report_pages_run_a_fixed_number_of_statements(app, world, make_user) -> None:
    instructor = world.users["instructor"]
    trainees = [make_user(Role.TRAINEE, name=f"T{n:02d}").id for n in range(25)]
    sizes = {(2, 3): None, (2, 20): None, (25, 3): None, (25, 20): None}
    built = {}
    for n_trainees, n_lessons in sizes:
        code = f"Q-{n_trainees}-{n_lessons}"
        built[(n_trainees, n_lessons)] = _course_with(
            app, instructor.id, trainees[:n_trainees], n_lessons, code
        )
    clients = {
        "instructor": client_for(app, instructor),
        "sponsor": client_for(app, world.users["sponsor"]),
    }
    counts: dict[str, list[int]] = {}
    for key, (course, programme) in built.items():
        first = trainees[0]
        urls = {
            "teach": ("instructor", f"/teach/courses/{course.course_id}/progress"),
            "teach_filtered": (
                "instructor",
                f"/teach/courses/{course.course_id}/progress?programme={programme}",
            ),
            "teach_csv": ("instructor", f"/teach/courses/{course.course_id}/progress.csv"),
            "teach_trainee": (
                "instructor",
                f"/teach/courses/{course.course_id}/trainees/{first}",
            ),
            "sponsor": (
                "sponsor",
                f"/sponsor/programmes/{programme}/courses/{course.course_id}/progress",
            ),
            "sponsor_csv": (
                "sponsor",
                f"/sponsor/programmes/{programme}/courses/{course.course_id}/progress.csv",
            ),
            "sponsor_trainee": (
                "sponsor",
                f"/sponsor/programmes/{programme}/courses/{course.course_id}/trainees/{first}",
            ),
        }
        for name, (who, url) in urls.items():
            clients[who].get(url)  # warm up
            with count_statements(app) as statements:
                response = clients[who].get(url)
            assert response.status_code == 200, (name, key, response.status_code)
            if name.endswith("csv"):
                assert len(_parse_csv(response)) == key[0] + 1
            elif name.endswith("trainee"):
                assert "timeline-watched" in response.get_data(as_text=True)
            else:
                html = response.get_data(as_text=True)
                assert html.count('<th scope="row" class="trainee-col">') == key[0]
                assert html.count('<g class="chart-bar">') == key[1]
            counts.setdefault(name, []).append(len(statements))
    for name, values in counts.items():
        assert len(set(values)) == 1, (name, dict(zip(sizes, values, strict=True)))
    # Pinned: the user and their roles (2), the course, its instructors or the programme,
    # the published version, then the report's own queries.
    assert {name: values[0] for name, values in counts.items()} == {
        "teach": 9,
        "teach_filtered": 9,
        "teach_csv": 10,  # + the audit row
        "teach_trainee": 11,
        "sponsor": 9,
        "sponsor_csv": 10,
        "sponsor_trainee": 11,
    }
