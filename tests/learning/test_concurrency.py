"""Beats racing for the same trainee and lesson lose no second and count none twice.

Runs on SQLite and on PostgreSQL (the ``database_url`` fixture), through the real
endpoint: every beat is its own request from its own test client, in its own
thread, all released at once.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

import lms.learning.models  # noqa: F401 - the progress tables on the metadata
from lms.accounts.models import User
from lms.db import new_session, utcnow
from lms.learning import intervals as iv
from lms.learning.models import LessonProgress, PlaybackSession, ProgressStatus
from tests.conftest import login
from tests.learning.test_tracking import World, build_world

SESSIONS = 4
BEATS_PER_SESSION = 10
REPEATED = 8  # beats sent twice, as a retry would
DURATION = 600.0


@pytest.fixture
def world(app, make_user) -> World:
    return build_world(app, make_user, duration=DURATION)


def _session_cookie(app: Flask, user_id: int) -> str:
    client = app.test_client()
    with new_session(app) as session:
        email = session.get(User, user_id).email
    assert login(client, email).status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _fire(app: Flask, cookie: str, requests: list[tuple[str, dict]]) -> list:
    """Send every request from its own thread and client, all released together."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def run(index: int, url: str, payload: dict) -> None:
        client = app.test_client()
        client.set_cookie("session", cookie)
        barrier.wait()
        try:
            response = client.post(url, json=payload)
            results[index] = (response.status_code, response.get_json(silent=True))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[index] = (None, repr(error))

    threads = [
        threading.Thread(target=run, args=(i, url, payload))
        for i, (url, payload) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _started_sessions(app: Flask, world: World, count: int) -> list[str]:
    """Playback sessions that began an hour ago, so the bound on credit is out of the way
    (it is tested on its own): what is checked here is the merging under contention."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    an_hour_ago = utcnow() - timedelta(hours=1)
    client_ms = int(time.time() * 1000) - 3_600_000
    with new_session(app) as session:
        for playback_id in ids:
            session.add(
                PlaybackSession(
                    id=playback_id,
                    user_id=world.trainee_id,
                    lesson_id=world.video_id,
                    started_at=an_hour_ago,
                    client_started_ms=client_ms,
                    client_latest_ms=client_ms,
                    last_seq=0,
                    missing_seqs=[],
                )
            )
        session.commit()
    return ids


def _random_intervals(rng: random.Random) -> list[list[float]]:
    pairs = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        start = round(rng.uniform(0, DURATION - 5), 1)
        pairs.append([start, round(min(DURATION + 3, start + rng.uniform(0.5, 45)), 2)])
    return pairs


def _round(app: Flask, world: World, cookie: str, rng: random.Random) -> None:
    url = f"/api/v1/lessons/{world.video_id}/beats"
    sessions = _started_sessions(app, world, SESSIONS)
    beats = [
        {
            "session": playback_id,
            "seq": seq,
            "intervals": _random_intervals(rng),
            "position": rng.uniform(0, DURATION),
            "t": int(time.time() * 1000),
        }
        for playback_id in sessions
        for seq in range(1, BEATS_PER_SESSION + 1)
    ]
    repeated = rng.sample(beats, REPEATED)
    # two brand-new sessions whose first beat is sent twice: a race to create the session
    fresh = [{"session": str(uuid.uuid4()), "seq": 0, "t": int(time.time() * 1000)}] * 2
    fresh += [{"session": str(uuid.uuid4()), "seq": 0}] * 2
    requests = [(url, beat) for beat in [*beats, *repeated, *fresh]]
    rng.shuffle(requests)

    with new_session(app) as session:
        previous = session.scalar(
            select(LessonProgress).where(LessonProgress.lesson_id == world.video_id)
        )
        truth = previous.intervals if previous else []
    for beat in beats:
        truth = iv.merge(truth, iv.clip(iv.from_seconds(beat["intervals"]), 0, 6000))

    results = _fire(app, cookie, requests)
    assert all(status == 200 for status, _body in results), results
    duplicates = sum(1 for _status, body in results if body["duplicate"])
    assert duplicates == REPEATED + 2

    with new_session(app) as session:
        rows = session.scalars(
            select(LessonProgress).where(LessonProgress.user_id == world.trainee_id)
        ).all()
        assert len(rows) == 1
        progress = rows[0]
        assert progress.intervals == truth  # nothing lost
        assert iv.is_normalised(progress.watched)
        assert progress.watched_seconds == iv.to_seconds(iv.length(truth))
        playbacks = session.scalars(
            select(PlaybackSession).where(PlaybackSession.user_id == world.trainee_id)
        ).all()
        # every new second was credited to exactly one session: nothing counted twice
        credited = sum(iv.to_units(p.credited_seconds) for p in playbacks)
        assert credited == iv.length(truth)
        assert sum(p.clipped_seconds for p in playbacks) == 0
        for playback_id in sessions:
            playback = session.get(PlaybackSession, playback_id)
            assert playback.last_seq == BEATS_PER_SESSION and playback.missing_seqs == []
            assert playback.beats == BEATS_PER_SESSION
        expected_status = (
            ProgressStatus.DONE if iv.length(truth) >= 0.9 * 6000 else ProgressStatus.IN_PROGRESS
        )
        assert progress.status == expected_status


def test_parallel_beats_match_the_merged_truth(app, world) -> None:
    cookie = _session_cookie(app, world.trainee_id)
    rng = random.Random(20260302)
    for _ in range(3):  # the first round also races to create the progress row
        _round(app, world, cookie, rng)
    with new_session(app) as session:
        assert session.scalar(select(func.count()).select_from(LessonProgress)) == 1


def test_parallel_done_calls_complete_a_reading_once(app, world) -> None:
    cookie = _session_cookie(app, world.trainee_id)
    url = f"/api/v1/lessons/{world.reading_id}/done"
    results = _fire(app, cookie, [(url, {})] * 12)
    assert all(status == 200 for status, _body in results), results
    assert len({body["completed_at"] for _status, body in results}) == 1
    with new_session(app) as session:
        rows = session.scalars(
            select(LessonProgress).where(LessonProgress.lesson_id == world.reading_id)
        ).all()
        assert len(rows) == 1 and rows[0].status == ProgressStatus.DONE
