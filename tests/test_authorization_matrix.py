"""Every endpoint, requested as every role, is allowed or denied as the matrix says.

An endpoint missing from MATRIX fails the suite, so no new route escapes review.
Roles: anonymous, trainee, instructor, sponsor (staff of the programme's sponsor),
other_sponsor (staff of another sponsor), admin.
"""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from werkzeug.routing import Rule

from lms.accounts.models import User
from lms.catalog import services as catalog
from lms.db import new_session
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor
from lms.quizzes.models import QuizAttempt
from tests.conftest import login

ROLES = ("anonymous", "trainee", "instructor", "sponsor", "other_sponsor", "admin")
EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
ADMIN = {"admin"}
PROGRAMME_OWNER = {"sponsor", "admin"}
COURSE_TEAM = {"instructor", "admin"}  # the course's own instructors
# Enrolled trainees, the course's instructors, its programme's sponsor staff, admins.
COURSE_READERS = {"trainee", "instructor", "sponsor", "admin"}
# Authorised by a signature in the URL, not by a role: without one, everyone is refused.
SIGNED_URL: set[str] = set()

MATRIX: dict[str, set[str]] = {
    "static": EVERYONE,
    "core.home": EVERYONE,
    "core.healthz": EVERYONE,
    "accounts.login": EVERYONE,
    "accounts.logout": SIGNED_IN,
    "accounts.forgot_password": EVERYONE,
    "accounts.reset_password": EVERYONE,
    "accounts.accept_invitation": EVERYONE,
    "accounts.profile": SIGNED_IN,
    "accounts.change_password": SIGNED_IN,
    "accounts.set_language": EVERYONE,
    "admin.dashboard": ADMIN,
    "admin.users": ADMIN,
    "admin.user_detail": ADMIN,
    "admin.invite": ADMIN,
    "admin.invite_csv": ADMIN,
    "admin.audit_log": ADMIN,
    "programs.sponsors": ADMIN,
    "programs.sponsor_detail": ADMIN,
    "programs.programmes": ADMIN,
    "programs.programme_detail": ADMIN,
    "programs.programme_course_add": ADMIN,
    "programs.programme_course_move": ADMIN,
    "programs.programme_course_remove": ADMIN,
    "programs.programme_course_required": ADMIN,
    "programs.programme_enrol": ADMIN,
    "programs.enrolment_status": ADMIN,
    "programs.sponsor_home": {"sponsor", "other_sponsor", "admin"},
    "programs.sponsor_programme": PROGRAMME_OWNER,
    "exports.completions_csv": PROGRAMME_OWNER,
    "exports.completions_xlsx": PROGRAMME_OWNER,
    "api.me": SIGNED_IN,
    "api.update_me": SIGNED_IN,
    "api.openapi": EVERYONE,
    # The sponsor API is made for bearer tokens (tests/api/test_isolation.py tries them);
    # a cookie session of sponsor staff (own sponsor) or an admin (every sponsor) may use
    # it too, read-only, so staff can try it in a browser. Trainees and instructors: 403.
    "api.programmes": {"sponsor", "other_sponsor", "admin"},  # each sees its own
    "api.programme_completions": PROGRAMME_OWNER,
    # Record 1 does not exist: 404 to whoever passes the role check. Another sponsor's
    # record answers the same 404 (tests/api/test_isolation.py).
    "api.completion_record": {"sponsor", "other_sponsor", "admin"},
    # Each sponsor's staff manage their own tokens; admins see and revoke all. Token 1
    # does not exist: 404, as for another sponsor's token.
    "api_tokens.tokens_page": {"sponsor", "other_sponsor", "admin"},
    "api_tokens.revoke": {"sponsor", "other_sponsor", "admin"},
    # Sponsor staff subscribe themselves for their own sponsor; admins have no sponsor.
    "digests.digest_page": {"sponsor", "other_sponsor"},
    "digests.subscribe": {"sponsor", "other_sponsor"},
    "digests.unsubscribe": {"sponsor", "other_sponsor"},
    "catalog.courses": {"instructor", "admin"},
    "catalog.course_new": {"instructor", "admin"},
    # The world's course is taught by the instructor: course team only.
    "catalog.course_edit": COURSE_TEAM,
    "catalog.course_instructors": ADMIN,
    "catalog.course_publish": COURSE_TEAM,
    "catalog.course_preview": COURSE_TEAM,
    "catalog.lesson_preview": COURSE_TEAM,
    "catalog.module_add": COURSE_TEAM,
    "catalog.module_rename": COURSE_TEAM,
    "catalog.module_move": COURSE_TEAM,
    "catalog.module_delete": COURSE_TEAM,
    "catalog.lesson_add": COURSE_TEAM,
    "catalog.lesson_edit": COURSE_TEAM,
    "catalog.lesson_move": COURSE_TEAM,
    "catalog.lesson_relocate": COURSE_TEAM,
    "catalog.lesson_archive": COURSE_TEAM,
    "learning.my_courses": SIGNED_IN,
    "learning.course": COURSE_READERS,
    "learning.lesson": COURSE_READERS,
    "learning.lesson_done": COURSE_READERS,
    "learning.document": COURSE_READERS,
    "progress.beat": COURSE_READERS,
    "progress.progress": COURSE_READERS,
    "progress.done": COURSE_READERS,
    # Taking a quiz: starting is for the course's readers (404 for the reading lesson);
    # an attempt is its owner's only (the world's trainee has attempt <attempt_id>).
    "quizzes.start": COURSE_READERS,
    "quizzes.attempt": {"trainee"},
    "quizzes.attempt_post": {"trainee"},
    "quizzes.result": {"trainee"},
    "quizzes.api_attempt": {"trainee"},
    "quizzes.api_save": {"trainee"},
    "quizzes.api_submit": {"trainee"},
    # Writing quizzes: the course team (the world's lesson is no quiz, so 404 past the check).
    "quiz_authoring.bank_list": COURSE_TEAM,
    "quiz_authoring.question_new": COURSE_TEAM,
    "quiz_authoring.question_edit": COURSE_TEAM,
    "quiz_authoring.question_archive": COURSE_TEAM,
    "quiz_authoring.question_preview": COURSE_TEAM,
    "quiz_authoring.categories": COURSE_TEAM,
    "quiz_authoring.category_rename": COURSE_TEAM,
    "quiz_authoring.category_delete": COURSE_TEAM,
    "quiz_authoring.gift_import": COURSE_TEAM,
    "quiz_authoring.gift_export": COURSE_TEAM,
    "quiz_authoring.quiz_settings": COURSE_TEAM,
    "quiz_authoring.quiz_preview": COURSE_TEAM,
    "quiz_authoring.quiz_results": COURSE_TEAM,
    "quiz_authoring.attempt_review": COURSE_TEAM,
    "quiz_authoring.answer_override": COURSE_TEAM,
    # Plant tours: the readers of the lesson's course (then 404 when it is not a tour).
    "tours.visit": COURSE_READERS,
    "tours.beat": COURSE_READERS,
    "tours.stop_progress": COURSE_READERS,
    "tours.builder": COURSE_TEAM,
    "tours.builder_map": COURSE_TEAM,
    "tours.builder_settings": COURSE_TEAM,
    "tours.builder_stop_add": COURSE_TEAM,
    "tours.builder_stop_edit": COURSE_TEAM,
    "tours.builder_stop_move": COURSE_TEAM,
    "tours.builder_stop_delete": COURSE_TEAM,
    "tours.builder_hotspot_add": COURSE_TEAM,
    "tours.builder_hotspot_delete": COURSE_TEAM,
    "tours.builder_caption_add": COURSE_TEAM,
    "tours.builder_caption_delete": COURSE_TEAM,
    "tours.builder_stop_media": COURSE_TEAM,
    "tours.clip_upload_create": COURSE_TEAM,
    "tours.clip_upload_state": COURSE_TEAM,
    "tours.clip_upload_parts": COURSE_TEAM,
    "tours.clip_upload_complete": COURSE_TEAM,
    "tours.clip_upload_abort": COURSE_TEAM,
    # Media endpoints check the role first, then the lesson or asset (404 when missing).
    "media.create_upload": {"instructor", "admin"},
    "media.upload_state": {"instructor", "admin"},
    "media.upload_part_urls": {"instructor", "admin"},
    "media.complete_upload": {"instructor", "admin"},
    "media.abort_upload": {"instructor", "admin"},
    "media.asset_status": {"instructor", "admin"},
    "media.lesson_media_page": {"instructor", "admin"},
    "media.upload_caption": {"instructor", "admin"},
    "media.delete_caption": {"instructor", "admin"},
    "media.retry_processing": {"instructor", "admin"},
    "media.remove_media": {"instructor", "admin"},
    # Caption 1 does not exist: a 404 to everyone signed in, like an unreadable one.
    "media.caption_transcript": SIGNED_IN,
    "reports.course_progress": COURSE_TEAM,
    "reports.course_progress_csv": COURSE_TEAM,
    "reports.course_trainee": COURSE_TEAM,
    "reports.sponsor_progress": PROGRAMME_OWNER,
    "reports.sponsor_progress_csv": PROGRAMME_OWNER,
    "reports.sponsor_trainee": PROGRAMME_OWNER,
    "credentials.verify": EVERYONE,
    "credentials.verify_post": EVERYONE,
    "credentials.verify_code": EVERYONE,
    "credentials.records": ADMIN,
    "credentials.revoke": ADMIN,
    "credentials.reissue": ADMIN,
    "credentials.issuer": EVERYONE,
    "credentials.keys": EVERYONE,
    "credentials.status_list": EVERYONE,
    "credentials.my_records": SIGNED_IN,
    # Record 1 does not exist: a 404 to everyone signed in, like someone else's record.
    "credentials.record_credential": SIGNED_IN,
    # The record's trainee and admins only; record 1 does not exist: a 404 to the signed in.
    "certificates.download": SIGNED_IN,
    "certificates.make": SIGNED_IN,
    "certificates.status": SIGNED_IN,
    "storage.serve": SIGNED_URL,
    "storage.upload_part": SIGNED_URL,
}


@pytest.fixture
def world(app: Flask, make_user):
    """Two sponsors with a programme each, a published course taught by the instructor in
    the first programme, the trainee enrolled in it, and a user per role."""
    users = {
        "trainee": make_user("trainee"),
        "instructor": make_user("instructor"),
        "admin": make_user("admin"),
    }
    with new_session(app) as session:
        own = Sponsor(name="Own Sponsor", kind="ministry")
        other = Sponsor(name="Other Sponsor", kind="bank")
        session.add_all([own, other])
        session.flush()
        programme = Programme(
            code="P-1",
            title="Programme",
            sponsor_id=own.id,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        )
        session.add(programme)
        instructor = session.get(User, users["instructor"].id)
        course = catalog.create_course(session, instructor, catalog.CourseData("C-1", "Course"))
        module = catalog.add_module(session, course, "en", "Module")
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="reading", title="Reading", language="en")
        )
        quiz = catalog.add_lesson(
            session, module, catalog.LessonData(kind="quiz", title="Quiz", language="en")
        )
        catalog.publish(session, instructor, course)
        session.flush()
        attempt = QuizAttempt(
            user_id=users["trainee"].id,
            lesson_id=quiz.id,
            course_id=course.id,
            number=1,
            seed=1,
            settings={},
            items=[],
        )
        session.add(attempt)
        session.flush()
        session.add(ProgrammeCourse(programme_id=programme.id, course_id=course.id))
        session.add(Enrolment(programme_id=programme.id, user_id=users["trainee"].id))
        session.commit()
        ids = {
            "programme_id": programme.id,
            "sponsor_id": own.id,
            "course_id": course.id,
            "module_id": module.id,
            "lesson_id": lesson.id,
            "attempt_id": attempt.id,
        }
    users["sponsor"] = make_user("sponsor", sponsor_id=ids["sponsor_id"])
    users["other_sponsor"] = make_user("sponsor", sponsor_id=ids["sponsor_id"] + 1)
    ids["user_id"] = users["trainee"].id
    return ids, users


SAMPLE_VALUES = {
    "token": "not-a-real-token",
    "key": "media/0123456789abcdef0123456789abcdef/file.bin",
    "filename": "static/css/app.css",
    "upload_id": "0123456789abcdef",
    "part_number": 1,
    "item_id": 1,
    "asset_id": 1,
    "caption_id": 1,
    "record_id": 1,
    "list_id": 1,
    "code": "K7M2-9QXD-4TRW-HC8P",
    "enrolment_id": 1,
    "token_id": 1,
    "stop_uid": "weighbridge",
    "hotspot_uid": "h1",
    "language": "ja",
    "question_id": 1,
    "category_id": 1,
    "position": 0,
}


def _url(app: Flask, rule: Rule, ids: dict[str, int]) -> str:
    values = {}
    for name in rule.arguments:
        if name in ids:
            values[name] = ids[name]
        elif name == "filename":
            values[name] = "css/app.css"
        elif name in SAMPLE_VALUES:
            values[name] = SAMPLE_VALUES[name]
        else:
            raise AssertionError(f"no sample value for <{name}> in {rule.rule}")
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _denied(response, role: str) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("Location", "")
    return role == "anonymous" and response.status_code == 302 and "/login" in location


def test_every_endpoint_is_in_the_matrix(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - MATRIX.keys())
    assert not missing, f"endpoints missing from the authorization matrix: {missing}"
    stale = sorted(MATRIX.keys() - endpoints)
    assert not stale, f"matrix lists endpoints that no longer exist: {stale}"


@pytest.mark.parametrize("role", ROLES)
def test_matrix(app: Flask, world, role: str) -> None:
    ids, users = world
    client = app.test_client()
    if role != "anonymous":
        assert login(client, users[role].email).status_code == 302
    failures = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "accounts.logout":
            continue  # would end the session mid-test; checked below
        url = _url(app, rule, ids)
        allowed = role in MATRIX[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={})
            if allowed == _denied(response, role):
                verdict = "denied" if allowed else "allowed"
                failures.append(
                    f"{method} {url} ({rule.endpoint}) {verdict}: {response.status_code}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_logout_needs_a_session(app: Flask, world, role: str) -> None:
    _ids, users = world
    client = app.test_client()
    if role != "anonymous":
        login(client, users[role].email)
    response = client.post("/logout")
    assert _denied(response, role) == (role not in MATRIX["accounts.logout"])
