"""Recording progress: unique seconds, the bound on credit, idempotency, completion."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

import lms.learning.models  # noqa: F401 - the progress tables on the metadata
from lms.accounts.models import Role, User
from lms.catalog import services as catalog
from lms.catalog.models import Course, Lesson
from lms.db import new_session
from lms.learning import intervals as iv
from lms.learning import tracking
from lms.learning.models import LessonProgress, PlaybackSession, ProgressStatus
from lms.media.models import MediaAsset
from tests.learning.helpers import enrol

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


@dataclass
class World:
    course_id: int
    video_id: int
    reading_id: int
    document_id: int
    trainee_id: int
    instructor_id: int
    asset_id: int


def build_world(
    app: Flask, make_user, duration: float | None = 600.0, threshold: float = 0.9, code="V-1"
) -> World:
    """A published course (a 10-minute video, a reading, a document) and an enrolled trainee."""
    instructor = make_user(Role.INSTRUCTOR)
    trainee = make_user(Role.TRAINEE)
    with new_session(app) as session:
        actor = session.get(User, instructor.id)
        course = catalog.create_course(
            session, actor, catalog.CourseData(code=code, title="Waste incineration")
        )
        module = catalog.add_module(session, course, "en", "Plants")
        video = catalog.add_lesson(
            session,
            module,
            catalog.LessonData(
                kind="video", title="Lecture", language="en", completion_threshold=threshold
            ),
        )
        asset = MediaAsset(
            course_id=course.id,
            lesson_id=video.id,
            kind="video",
            filename="lecture.mp4",
            key=f"media/{uuid.uuid4().hex}/lecture.mp4",
            status="ready",
            duration=duration,
        )
        session.add(asset)
        session.flush()
        video.media_id = asset.id
        reading = catalog.add_lesson(
            session,
            module,
            catalog.LessonData(kind="reading", title="Reading", language="en", body="Text"),
        )
        document = catalog.add_lesson(
            session, module, catalog.LessonData(kind="document", title="Handout", language="en")
        )
        catalog.publish(session, actor, course)
        session.commit()
        world = World(
            course.id, video.id, reading.id, document.id, trainee.id, instructor.id, asset.id
        )
    enrol(app, trainee.id, world.course_id, code=f"P-{code}")
    return world


def send(
    app: Flask,
    user_id: int,
    lesson_id: int,
    session_id: str,
    seq: int,
    at: float,
    intervals: list[list[float]] | None = None,
    position: float | None = None,
    made: float | None = None,
    **extra: Any,
) -> tracking.BeatResult:
    """A beat arriving ``at`` seconds after T0, made ``made`` seconds after T0 (default: at)."""
    payload: dict[str, Any] = {
        "session": session_id,
        "seq": seq,
        "intervals": intervals or [],
        "position": position,
        "t": T0_MS + int(1000 * (at if made is None else made)),
        **extra,
    }
    beat = tracking.parse_beat({k: v for k, v in payload.items() if v is not None})
    with new_session(app) as session:
        user = session.get(User, user_id)
        lesson = session.get(Lesson, lesson_id)
        return tracking.commit_with_retries(
            session,
            lambda: tracking.record_beat(session, user, lesson, beat, T0 + timedelta(seconds=at)),
        )


def progress_row(app: Flask, user_id: int, lesson_id: int) -> LessonProgress | None:
    with new_session(app) as session:
        return tracking.find_progress(session, user_id, lesson_id)


def playback_row(app: Flask, session_id: str) -> PlaybackSession | None:
    with new_session(app) as session:
        return session.get(PlaybackSession, session_id)


def row_counts(app: Flask) -> tuple[int, int]:
    with new_session(app) as session:
        return (
            session.scalar(select(func.count()).select_from(LessonProgress)) or 0,
            session.scalar(select(func.count()).select_from(PlaybackSession)) or 0,
        )


@pytest.fixture
def world(app, make_user) -> World:
    return build_world(app, make_user)


def sid() -> str:
    return str(uuid.uuid4())


# --- counting unique seconds -----------------------------------------------------------------


def test_played_intervals_count_once_and_resume_where_left(app, world) -> None:
    s = sid()
    start = send(app, world.trainee_id, world.video_id, s, 0, at=0, position=0)
    assert start.credited_seconds == 0 and start.progress.status == ProgressStatus.NOT_STARTED
    first = send(
        app, world.trainee_id, world.video_id, s, 1, at=15, intervals=[[0, 15]], position=15
    )
    assert first.credited_seconds == 15
    assert first.progress.status == ProgressStatus.IN_PROGRESS
    assert first.progress.position == 15 and first.progress.share == 0.025
    # rewatching 10..25 adds only 15..25
    again = send(
        app, world.trainee_id, world.video_id, s, 2, at=30, intervals=[[10, 25]], position=25
    )
    assert again.credited_seconds == 10
    row = progress_row(app, world.trainee_id, world.video_id)
    assert row.watched == [[0, 250]] and row.watched_seconds == 25 and row.position == 25
    assert row.course_id == world.course_id and row.duration == 600


def test_seeking_to_the_end_credits_nothing(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    send(app, world.trainee_id, world.video_id, s, 1, at=10, intervals=[[0, 10]], position=10)
    # the player seeked to 595 and played to the end: only those 5 s count
    end = send(
        app, world.trainee_id, world.video_id, s, 2, at=16, intervals=[[595, 600]], position=600
    )
    assert end.credited_seconds == 5
    assert end.progress.status == ProgressStatus.IN_PROGRESS
    assert end.progress.watched_seconds == 15
    assert end.progress.position == 0  # finished: the next visit starts from the beginning


def test_intervals_beyond_the_video_are_clipped_to_its_length(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0, position=590)
    result = send(
        app, world.trainee_id, world.video_id, s, 1, at=30, intervals=[[590, 640]], position=640
    )
    assert result.credited_seconds == 10
    row = progress_row(app, world.trainee_id, world.video_id)
    assert row.watched == [[5900, 6000]] and row.position == 600


def test_watching_to_the_threshold_completes_once(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    seq = 0
    for chunk in range(36):  # 36 × 15 s = 540 s = 90 % of 600 s, at normal speed
        seq += 1
        result = send(
            app,
            world.trainee_id,
            world.video_id,
            s,
            seq,
            at=15 * (chunk + 1),
            intervals=[[15 * chunk, 15 * (chunk + 1)]],
            position=15 * (chunk + 1),
        )
        expected = ProgressStatus.DONE if chunk == 35 else ProgressStatus.IN_PROGRESS
        assert result.progress.status == expected, chunk
    completed_at = result.progress.completed_at
    assert completed_at == T0 + timedelta(seconds=540)
    # more watching later never moves the completion time
    later = send(app, world.trainee_id, world.video_id, s, seq + 1, at=600, intervals=[[540, 600]])
    assert later.progress.status == ProgressStatus.DONE
    assert later.progress.completed_at == completed_at
    assert later.progress.watched_seconds == 600


def test_completion_is_signalled_once(app, world) -> None:
    seen: list[int] = []

    def receiver(progress, session):
        seen.append(progress.lesson_id)

    tracking.lesson_completed.connect(receiver)
    try:
        s = sid()
        send(app, world.trainee_id, world.video_id, s, 0, at=0)
        send(app, world.trainee_id, world.video_id, s, 1, at=400, intervals=[[0, 600]])
        send(app, world.trainee_id, world.video_id, s, 2, at=500, intervals=[[0, 600]])
    finally:
        tracking.lesson_completed.disconnect(receiver)
    assert seen == [world.video_id]


def test_a_full_threshold_allows_for_the_last_frame(app, make_user) -> None:
    world = build_world(app, make_user, duration=100.04, threshold=1.0)
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    result = send(app, world.trainee_id, world.video_id, s, 1, at=100, intervals=[[0, 99.5]])
    assert result.progress.status == ProgressStatus.DONE


# --- idempotency and order ---------------------------------------------------------------------


def test_a_repeated_beat_changes_nothing(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    send(app, world.trainee_id, world.video_id, s, 1, at=15, intervals=[[0, 15]], position=15)
    before = progress_row(app, world.trainee_id, world.video_id)
    session_before = playback_row(app, s)
    repeat = send(
        app, world.trainee_id, world.video_id, s, 1, at=40, intervals=[[0, 40]], position=40
    )
    assert repeat.duplicate and repeat.credited_seconds == 0
    after = progress_row(app, world.trainee_id, world.video_id)
    session_after = playback_row(app, s)
    assert (after.watched, after.position, after.version) == (
        before.watched,
        before.position,
        before.version,
    )
    assert session_after.version == session_before.version
    assert session_after.beats == 2


def test_beats_may_arrive_out_of_order(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    late = send(
        app,
        world.trainee_id,
        world.video_id,
        s,
        5,
        at=75,
        made=75,
        intervals=[[60, 75]],
        position=75,
    )
    assert late.credited_seconds == 15
    early = send(
        app,
        world.trainee_id,
        world.video_id,
        s,
        4,
        at=76,
        made=60,
        intervals=[[45, 60]],
        position=60,
    )
    assert early.credited_seconds == 15 and not early.duplicate
    assert early.progress.position == 75  # the older beat does not move the resume point back
    assert send(
        app, world.trainee_id, world.video_id, s, 4, at=77, made=60, intervals=[[45, 60]]
    ).duplicate
    assert send(app, world.trainee_id, world.video_id, s, 5, at=77, intervals=[[60, 75]]).duplicate
    playback = playback_row(app, s)
    assert playback.last_seq == 5 and sorted(playback.missing_seqs) == [1, 2, 3]
    row = progress_row(app, world.trainee_id, world.video_id)
    assert row.watched == [[450, 750]]


# --- the bound on credit --------------------------------------------------------------------------


def test_offline_viewing_keeps_its_credit_when_queued_beats_arrive_at_once(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0, position=0)  # page load, online
    # 60 s watched offline, four beats queued, all sent the moment the network is back
    results = [
        send(
            app,
            world.trainee_id,
            world.video_id,
            s,
            n,
            at=65,
            made=15 * n,
            intervals=[[15 * (n - 1), 15 * n]],
            position=15 * n,
        )
        for n in range(1, 5)
    ]
    assert [r.credited_seconds for r in results] == [15, 15, 15, 15]
    assert all(r.clipped_seconds == 0 for r in results)
    assert progress_row(app, world.trainee_id, world.video_id).watched_seconds == 60
    assert playback_row(app, s).clipped_beats == 0


def test_claiming_more_than_wall_time_allows_is_clipped_and_logged(app, world, caplog) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    with caplog.at_level(logging.WARNING, logger="lms.learning.tracking"):
        result = send(app, world.trainee_id, world.video_id, s, 1, at=60, intervals=[[0, 600]])
    # 60 s of wall time × 2.0 + 2 s: the earliest 122 s are kept
    assert result.credited_seconds == 122 and result.clipped_seconds == 478
    assert progress_row(app, world.trainee_id, world.video_id).watched == [[0, 1220]]
    playback = playback_row(app, s)
    assert playback.clipped_beats == 1 and playback.clipped_seconds == 478
    assert playback.credited_seconds == 122
    assert "beat clipped" in caplog.text
    # the budget is spent: another claim right after gets only what the new time allows
    more = send(app, world.trainee_id, world.video_id, s, 2, at=61, intervals=[[122, 300]])
    assert more.credited_seconds == 2 and more.progress.status == ProgressStatus.IN_PROGRESS


def test_a_client_clock_in_the_future_buys_nothing(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    result = send(
        app, world.trainee_id, world.video_id, s, 1, at=10, made=3600, intervals=[[0, 600]]
    )
    assert result.credited_seconds == 22  # bounded by the server's 10 s, not the claimed hour
    assert result.progress.last_activity_at == T0 + timedelta(seconds=10)


def test_a_first_beat_arriving_late_gets_only_the_tolerance(app, world) -> None:
    s = sid()  # no start beat ever arrived: what came before cannot be checked
    result = send(app, world.trainee_id, world.video_id, s, 3, at=100, intervals=[[0, 45]])
    assert result.credited_seconds == 2 and result.clipped_seconds == 43


def test_rewatching_does_not_spend_the_budget(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    send(app, world.trainee_id, world.video_id, s, 1, at=30, intervals=[[0, 30]])
    send(app, world.trainee_id, world.video_id, s, 2, at=60, intervals=[[0, 30]])
    result = send(app, world.trainee_id, world.video_id, s, 3, at=90, intervals=[[30, 120]])
    assert result.credited_seconds == 90 and result.clipped_seconds == 0


def test_each_tab_has_its_own_session_and_shares_the_watched_set(app, world) -> None:
    a, b = sid(), sid()
    send(app, world.trainee_id, world.video_id, a, 0, at=0)
    send(app, world.trainee_id, world.video_id, b, 0, at=1)
    send(app, world.trainee_id, world.video_id, a, 1, at=30, intervals=[[0, 30]])
    other = send(app, world.trainee_id, world.video_id, b, 1, at=31, intervals=[[20, 50]])
    assert other.credited_seconds == 20
    assert progress_row(app, world.trainee_id, world.video_id).watched == [[0, 500]]


# --- completion is never lowered ------------------------------------------------------------------


def test_editing_the_course_never_lowers_a_completion(app, world) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    done = send(app, world.trainee_id, world.video_id, s, 1, at=300, intervals=[[0, 560]])
    assert done.progress.status == ProgressStatus.DONE
    completed_at = done.progress.completed_at
    with new_session(app) as session:  # a longer video and a stricter threshold, republished
        actor = session.get(User, world.instructor_id)
        course = session.get(Course, world.course_id)
        lesson = session.get(Lesson, world.video_id)
        lesson.completion_threshold = 1.0
        session.get(MediaAsset, world.asset_id).duration = 1200.0
        catalog.publish(session, actor, course)
        session.commit()
    later = send(app, world.trainee_id, world.video_id, sid(), 0, at=900, position=560)
    assert later.progress.status == ProgressStatus.DONE
    assert later.progress.completed_at == completed_at
    assert later.progress.duration == 1200 and later.progress.threshold == 1.0


def test_readings_and_documents_are_marked_done_once(app, world) -> None:
    with new_session(app) as session:
        user = session.get(User, world.trainee_id)
        reading = session.get(Lesson, world.reading_id)
        first = tracking.mark_done(session, user, reading, T0)
        session.commit()
        again = tracking.mark_done(session, user, reading, T0 + timedelta(hours=1))
        session.commit()
        assert first.status == again.status == ProgressStatus.DONE
        assert again.completed_at == T0
        document = session.get(Lesson, world.document_id)
        assert tracking.mark_done(session, user, document, T0).status == ProgressStatus.DONE
        with pytest.raises(tracking.NotTrackable):
            tracking.mark_done(session, user, session.get(Lesson, world.video_id), T0)


def test_progress_of_a_lesson_not_started(app, world) -> None:
    with new_session(app) as session:
        user = session.get(User, world.trainee_id)
        view = tracking.progress_of(session, user, session.get(Lesson, world.video_id))
    assert view.status == ProgressStatus.NOT_STARTED
    assert (view.position, view.watched_seconds, view.duration, view.share) == (0, 0, 600, 0)


# --- which lessons can be tracked ---------------------------------------------------------------


def test_only_video_lessons_with_a_length_take_beats(app, make_user) -> None:
    world = build_world(app, make_user, duration=None)
    with pytest.raises(tracking.NotTrackable):
        send(app, world.trainee_id, world.video_id, sid(), 0, at=0)
    with pytest.raises(tracking.NotTrackable):
        send(app, world.trainee_id, world.reading_id, sid(), 0, at=0)
    assert row_counts(app) == (0, 0)


def test_a_removed_lesson_is_gone_but_counts_until_republished(app, world) -> None:
    with new_session(app) as session:
        catalog.archive_lesson(session, session.get(Lesson, world.video_id))
        session.commit()
    s = sid()
    # archived in the draft, still in the published version: trainees still watch it
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    assert (
        send(
            app, world.trainee_id, world.video_id, s, 1, at=10, intervals=[[0, 10]]
        ).credited_seconds
        == 10
    )
    with new_session(app) as session:
        catalog.publish(
            session, session.get(User, world.instructor_id), session.get(Course, world.course_id)
        )
        session.commit()
    with pytest.raises(tracking.LessonGone):
        send(app, world.trainee_id, world.video_id, s, 2, at=20, intervals=[[10, 20]])
    row = progress_row(app, world.trainee_id, world.video_id)
    assert row.watched_seconds == 10  # kept


def test_draft_lessons_are_for_their_editors_only(app, world) -> None:
    with new_session(app) as session:
        course = session.get(Course, world.course_id)
        module = course.modules[0]
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="video", title="New", language="en")
        )
        lesson.media_id = world.asset_id
        session.commit()
        draft_id = lesson.id
    with pytest.raises(tracking.LessonNotFound):
        send(app, world.trainee_id, draft_id, sid(), 0, at=0)
    preview = send(app, world.instructor_id, draft_id, sid(), 0, at=0)
    assert preview.progress.duration == 600


def test_a_playback_session_belongs_to_one_trainee_and_lesson(app, world, make_user) -> None:
    s = sid()
    send(app, world.trainee_id, world.video_id, s, 0, at=0)
    other = make_user(Role.TRAINEE)
    enrol(app, other.id, world.course_id, code="P-V-1")
    with pytest.raises(tracking.SessionConflict):
        send(app, other.id, world.video_id, s, 1, at=10, intervals=[[0, 10]])
    assert progress_row(app, other.id, world.video_id) is None


def test_who_can_view_a_lesson(app, world, make_user) -> None:
    stranger = make_user(Role.TRAINEE)
    withdrawn = make_user(Role.TRAINEE)
    enrol(app, withdrawn.id, world.course_id, status="withdrawn", code="P-V-1")
    admin = make_user(Role.ADMIN)
    with new_session(app) as session:
        lesson = session.get(Lesson, world.video_id)
        allowed = {
            name: tracking.can_view_lesson(session, session.get(User, user_id), lesson)
            for name, user_id in {
                "trainee": world.trainee_id,
                "instructor": world.instructor_id,
                "admin": admin.id,
                "stranger": stranger.id,
                "withdrawn": withdrawn.id,
            }.items()
        }
    assert allowed == {
        "trainee": True,
        "instructor": True,
        "admin": True,
        "stranger": False,
        "withdrawn": False,
    }


# --- parsing ------------------------------------------------------------------------------------


GOOD = {"session": str(uuid.UUID(int=1)), "seq": 0, "intervals": [[0, 1.5]], "position": 1.5}


@pytest.mark.parametrize(
    "change",
    [
        {"session": "not-a-uuid"},
        {"session": 5},
        {"seq": "1"},
        {"seq": 1.5},
        {"seq": True},
        {"seq": -1},
        {"intervals": "0-10"},
        {"intervals": [[0]]},
        {"intervals": [[-1, 5]]},
        {"intervals": [[float("nan"), 5]]},
        {"intervals": [[0, float("inf")]]},
        {"intervals": [[10, 5]]},
        {"intervals": [[0, "5"]]},
        {"intervals": [[0, 1]] * (tracking.MAX_INTERVALS + 1)},
        {"position": -3},
        {"position": float("nan")},
        {"rate": 0},
        {"rate": 100},
        {"t": "yesterday"},
    ],
)
def test_bad_beats_are_refused(change) -> None:
    with pytest.raises(tracking.InvalidBeat):
        tracking.parse_beat({**GOOD, **change})


def test_a_good_beat_is_parsed() -> None:
    beat = tracking.parse_beat({**GOOD, "rate": 1.5, "t": 1.7e12, "csrf_token": "x"})
    assert beat.session_id == GOOD["session"] and beat.seq == 0
    assert beat.intervals == ((0, 1.5),) and beat.position == 1.5
    assert beat.rate == 1.5 and beat.client_time_ms == 1_700_000_000_000
    assert tracking.parse_beat({"session": GOOD["session"].upper(), "seq": 3}).intervals == ()
    with pytest.raises(tracking.InvalidBeat):
        tracking.parse_beat([GOOD])


def test_required_units() -> None:
    assert tracking.required_units(6000, 0.9) == 5400
    assert tracking.required_units(6000, 1.0) == 5990
    assert tracking.required_units(5, 1.0) == 1
    assert tracking.required_units(6000, 0.0) == 1
    assert iv.to_units(tracking.TOLERANCE_SECONDS) == 20
