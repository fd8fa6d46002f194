"""The progress API: beats (JSON and beacons), resuming, readings marked done, bad input."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from flask import Flask

import lms.learning.models  # noqa: F401 - the progress tables on the metadata
from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson
from lms.db import new_session
from lms.learning import tracking
from lms.learning.models import PlaybackSession
from tests.conftest import PASSWORD, csrf_token_from, login
from tests.learning.helpers import count_statements
from tests.learning.test_tracking import World, build_world, playback_row, progress_row, row_counts


@pytest.fixture
def world(app, make_user) -> World:
    return build_world(app, make_user)


def signed_in(app: Flask, user_id: int):
    client = app.test_client()
    with new_session(app) as session:
        email = session.get(User, user_id).email
    assert login(client, email).status_code == 302
    return client


def now_ms() -> int:
    return int(time.time() * 1000)


def beat_url(lesson_id: int) -> str:
    return f"/api/v1/lessons/{lesson_id}/beats"


def test_beats_record_progress_and_the_player_resumes(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    url = beat_url(world.video_id)
    s = str(uuid.uuid4())
    assert client.get(f"/api/v1/lessons/{world.video_id}/progress").json["position"] == 0
    start = client.post(url, json={"session": s, "seq": 0, "position": 0, "t": now_ms()})
    assert start.status_code == 200, start.json
    response = client.post(
        url,
        json={"session": s, "seq": 1, "intervals": [[0, 1.5]], "position": 1.5, "rate": 1.0},
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["duplicate"] is False and body["credited"] == 1.5 and body["clipped"] == 0
    assert body["progress"]["status"] == "in_progress"
    progress = client.get(f"/api/v1/lessons/{world.video_id}/progress").json
    assert progress["position"] == 1.5 and progress["watched_seconds"] == 1.5
    assert progress["duration"] == 600 and progress["share"] == 0.0025
    assert progress["threshold"] == 0.9 and progress["status"] == "in_progress"
    assert progress["completed_at"] is None and progress["last_activity_at"]
    repeat = client.post(url, json={"session": s, "seq": 1, "intervals": [[0, 1.5]]})
    assert repeat.json["duplicate"] is True


def test_a_beacon_carries_its_csrf_token_in_the_body(app_factory, make_user) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    world = build_world(app, make_user)
    client = app.test_client()
    with new_session(app) as session:
        email = session.get(User, world.trainee_id).email
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    url = beat_url(world.video_id)
    s = str(uuid.uuid4())

    # navigator.sendBeacon(url, string): text/plain, no custom headers
    forged = client.post(url, data=json.dumps({"session": s, "seq": 0}), content_type="text/plain")
    assert (
        forged.status_code == 400 and "not sent from this site" in forged.json["error"]["message"]
    )
    wrong = client.post(
        url,
        data=json.dumps({"session": s, "seq": 0, "csrf_token": "x" + token}),
        content_type="text/plain",
    )
    assert wrong.status_code == 400
    assert row_counts(app) == (0, 0)

    beacon = client.post(
        url,
        data=json.dumps({"session": s, "seq": 0, "position": 0, "csrf_token": token}),
        content_type="text/plain;charset=UTF-8",
    )
    assert beacon.status_code == 200, beacon.json
    # fetch() sends the header instead
    fetched = client.post(
        url, json={"session": s, "seq": 1, "intervals": [[0, 1]]}, headers={"X-CSRFToken": token}
    )
    assert fetched.status_code == 200 and fetched.json["credited"] == 1

    # the reading's "done" keeps the usual header check
    done_url = f"/api/v1/lessons/{world.reading_id}/done"
    assert client.post(done_url).status_code == 400
    assert client.post(done_url, headers={"X-CSRFToken": token}).json["status"] == "done"


def test_a_reading_is_marked_done_by_an_explicit_call(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    url = f"/api/v1/lessons/{world.reading_id}/done"
    first = client.post(url)
    assert first.status_code == 200 and first.json["status"] == "done"
    assert first.json["completed_at"]
    assert client.post(url).json["completed_at"] == first.json["completed_at"]
    page = client.get(f"/api/v1/lessons/{world.reading_id}/progress").json
    assert page["status"] == "done" and page["duration"] is None and page["share"] is None
    refused = client.post(f"/api/v1/lessons/{world.video_id}/done")
    assert refused.status_code == 409 and "watched" in refused.json["error"]["message"]


def test_offline_queue_flushed_at_once_keeps_its_credit(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    url = beat_url(world.video_id)
    s = str(uuid.uuid4())
    start = now_ms()
    assert client.post(url, json={"session": s, "seq": 0, "t": start}).status_code == 200
    # The player went offline for a minute and queued four beats; move the session's
    # server-side start back a minute, as if that minute had passed.
    with new_session(app) as session:
        playback = session.get(PlaybackSession, s)
        playback.started_at -= timedelta(seconds=61)
        playback.client_started_ms -= 61_000
        playback.client_latest_ms -= 61_000
        session.commit()
    credited = [
        client.post(
            url,
            json={
                "session": s,
                "seq": n,
                "intervals": [[15 * (n - 1), 15 * n]],
                "position": 15 * n,
                "t": start - 61_000 + 15_000 * n,
            },
        ).json["credited"]
        for n in range(1, 5)
    ]
    assert credited == [15, 15, 15, 15]
    greedy = client.post(url, json={"session": s, "seq": 5, "intervals": [[60, 600]]}).json
    assert greedy["clipped"] > 400 and greedy["credited"] < 70


BAD_BODIES = [
    ("not json", "text/plain"),
    ("[1, 2]", "application/json"),
    ('{"session": "S", "seq": 1, "intervals": [[NaN, 5]]}', "application/json"),
    ('{"session": "S", "seq": 1, "intervals": [[-1, 5]]}', "application/json"),
    ('{"session": "S", "seq": 1, "intervals": [[9, 5]]}', "application/json"),
    ('{"session": "S", "seq": "one"}', "application/json"),
    ('{"session": "nope", "seq": 1}', "application/json"),
    ('{"session": "S", "seq": 1, "position": -4}', "application/json"),
    (json.dumps({"session": "S", "seq": 1, "intervals": [[0, 1]] * 101}), "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_bad_beats_get_a_clear_error_and_change_nothing(app, world, body, content_type) -> None:
    client = signed_in(app, world.trainee_id)
    s = str(uuid.uuid4())
    assert client.post(beat_url(world.video_id), json={"session": s, "seq": 0}).status_code == 200
    before = progress_row(app, world.trainee_id, world.video_id), playback_row(app, s)
    response = client.post(
        beat_url(world.video_id), data=body.replace('"S"', f'"{s}"'), content_type=content_type
    )
    assert response.status_code == 400
    assert response.is_json and response.json["error"]["message"]
    after = progress_row(app, world.trainee_id, world.video_id), playback_row(app, s)
    assert after[0].version == before[0].version and after[1].version == before[1].version
    assert after[1].last_seq == 0


def test_errors_are_in_the_users_language(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    response = client.post(
        beat_url(world.video_id),
        json={"session": str(uuid.uuid4()), "seq": "x"},
        headers={"Accept-Language": "ja"},
    )
    assert response.status_code == 400 and response.json["error"]["message"]


def test_too_large_a_beat_is_refused(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    response = client.post(
        beat_url(world.video_id), data="x" * 20_000, content_type="application/json"
    )
    assert response.status_code == 413 and response.is_json


def test_who_may_send_beats(app, world, make_user) -> None:
    s = {"session": str(uuid.uuid4()), "seq": 0}
    assert app.test_client().post(beat_url(world.video_id), json=s).status_code == 401
    assert app.test_client().get(f"/api/v1/lessons/{world.video_id}/progress").status_code == 401
    stranger = signed_in(app, make_user(Role.TRAINEE).id)
    assert stranger.post(beat_url(world.video_id), json=s).status_code == 403
    assert stranger.get(f"/api/v1/lessons/{world.video_id}/progress").status_code == 403
    assert stranger.post(f"/api/v1/lessons/{world.reading_id}/done").status_code == 403
    instructor = signed_in(app, world.instructor_id)
    assert instructor.post(beat_url(world.video_id), json=s).status_code == 200
    trainee = signed_in(app, world.trainee_id)
    taken = trainee.post(beat_url(world.video_id), json={**s, "seq": 1})
    assert taken.status_code == 409  # the instructor's playback session id
    assert row_counts(app) == (1, 1)


def test_unknown_removed_and_wrong_kind_of_lessons(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    s = {"session": str(uuid.uuid4()), "seq": 0}
    missing = client.post(beat_url(999_999), json=s)
    assert missing.status_code == 404 and missing.is_json
    reading = client.post(beat_url(world.reading_id), json=s)
    assert reading.status_code == 409 and reading.json["error"]["message"]
    with new_session(app) as session:
        catalog.archive_lesson(session, session.get(Lesson, world.video_id))
        catalog.publish(
            session, session.get(User, world.instructor_id), session.get(Course, world.course_id)
        )
        session.commit()
    gone = client.post(beat_url(world.video_id), json=s)
    assert gone.status_code == 410 and "removed" in gone.json["error"]["message"]
    assert client.get(f"/api/v1/lessons/{world.video_id}/progress").status_code == 410
    assert row_counts(app) == (0, 0)


def test_busy_database_answers_503_and_the_player_keeps_the_beat(app, world, monkeypatch) -> None:
    client = signed_in(app, world.trainee_id)

    def always_busy(session, work, **_kwargs):
        raise tracking.Busy("busy")

    monkeypatch.setattr(tracking, "commit_with_retries", always_busy)
    response = client.post(beat_url(world.video_id), json={"session": str(uuid.uuid4()), "seq": 0})
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"


def test_a_beat_costs_the_same_few_statements_however_long_the_history(app, world) -> None:
    client = signed_in(app, world.trainee_id)
    url = beat_url(world.video_id)
    s = str(uuid.uuid4())
    counts = []
    for seq in range(12):
        # a seek every beat: the watched set grows to a dozen separate intervals
        with count_statements(app) as statements:
            response = client.post(
                url, json={"session": s, "seq": seq, "intervals": [[seq * 20, seq * 20 + 0.5]]}
            )
        assert response.status_code == 200
        counts.append(len(statements))
    # user, roles, lesson, course, access; progress (locked), session; two updates
    assert len(set(counts[1:])) == 1 and counts[1] <= 9, counts
