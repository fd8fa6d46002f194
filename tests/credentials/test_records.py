"""Completion records: issued once on programme completion, revoked and reissued by admins."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from lms.accounts.models import Role, User
from lms.audit.models import AuditEvent
from lms.credentials import services
from lms.credentials.codes import normalise_code
from lms.credentials.models import CompletionRecord
from lms.db import new_session
from lms.programs.models import Enrolment
from tests.conftest import login
from tests.credentials.conftest import complete_programme
from tests.learning.test_completion import finish


def _records(app, user_id):
    with new_session(app) as session:
        return list(
            session.scalars(
                select(CompletionRecord)
                .where(CompletionRecord.user_id == user_id)
                .order_by(CompletionRecord.id)
            )
        )


def test_completing_the_programme_issues_one_record(app, make_user, completed):
    rows = _records(app, completed.trainee_id)
    assert len(rows) == 1
    record = rows[0]
    assert normalise_code(record.verification_code) == record.verification_code
    assert record.programme_id == completed.programme_id
    assert record.generation == 1 and record.revoked_at is None
    assert len(record.public_id) == 36
    assert [c["course_id"] for c in record.courses] and record.courses[0]["code"].startswith("C-")
    assert record.study_hours == round(10 / 60, 2)  # one lesson of the default 10 minutes
    # finishing again (or evaluating again) issues nothing new
    finish(app, completed.trainee_id, completed.lesson_id)
    assert len(_records(app, completed.trainee_id)) == 1


def test_two_racing_issues_leave_one_record(app, completed):
    with new_session(app) as session:
        session.execute(CompletionRecord.__table__.delete())
        session.commit()
    with new_session(app) as session:
        enrolment = session.scalar(
            select(Enrolment).where(Enrolment.user_id == completed.trainee_id)
        )
        enrolment_id = enrolment.id
    results: dict[str, object] = {}
    started = threading.Event()

    def other() -> None:
        with new_session(app) as session:
            started.set()
            results["other"] = services.issue_record(session, session.get(Enrolment, enrolment_id))
            session.commit()

    with new_session(app) as session:
        first = services.issue_record(session, session.get(Enrolment, enrolment_id))
        assert first is not None
        thread = threading.Thread(target=other)
        thread.start()
        started.wait(5)
        thread.join(0.5)  # the other one waits for our transaction
        session.commit()
    thread.join(30)
    assert results["other"] is None
    assert len(_records(app, completed.trainee_id)) == 1


def _admin_client(app, make_user):
    admin = make_user(Role.ADMIN, email="admin@example.org")
    client = app.test_client()
    login(client, admin.email)
    return client, admin


def test_revoke_needs_a_reason_and_is_audited(app, make_user, completed):
    client, admin = _admin_client(app, make_user)
    url = f"/admin/records/{completed.record_id}/revoke"
    for data in ({}, {"reason": "   "}):
        assert client.post(url, data=data).status_code == 400
    (record,) = _records(app, completed.trainee_id)
    assert record.revoked_at is None
    response = client.post(url, data={"reason": "Attendance falsified"})
    assert response.status_code == 302
    (record,) = _records(app, completed.trainee_id)
    assert record.revoked_at is not None
    assert record.revoked_reason == "Attendance falsified"
    assert record.revoked_by_id == admin.id
    with new_session(app) as session:
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "credentials.revoke"))
        )
    assert len(events) == 1 and events[0].actor_id == admin.id
    assert events[0].details["reason"] == "Attendance falsified"
    # revoking twice is refused
    assert client.post(url, data={"reason": "again"}).status_code == 400


def test_reissue_gives_a_new_code_and_replaces_the_old(app, make_user, completed):
    client, admin = _admin_client(app, make_user)
    response = client.post(f"/admin/records/{completed.record_id}/reissue")
    assert response.status_code == 302
    old, new = _records(app, completed.trainee_id)
    assert new.verification_code != old.verification_code
    assert new.generation == 2 and new.revoked_at is None
    assert old.replaced_by_id == new.id and old.revoked_at is not None
    assert client.post(f"/admin/records/{completed.record_id}/reissue").status_code == 400
    assert len(_records(app, completed.trainee_id)) == 2
    with new_session(app) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "credentials.reissue")
            )
            == 1
        )
    old_page = client.get(f"/verify/{old.verification_code}")
    assert old_page.status_code == 200 and "Revoked" in old_page.get_data(as_text=True)
    assert "replaced" in old_page.get_data(as_text=True)
    new_page = client.get(f"/verify/{new.verification_code}")
    assert "Valid" in new_page.get_data(as_text=True)


def test_admin_list_filters_by_programme(app, make_user, completed):
    other = complete_programme(app, make_user, name="Somchai Jaidee", native_name="สมชาย ใจดี")
    client, _admin = _admin_client(app, make_user)
    page = client.get("/admin/records").get_data(as_text=True)
    assert "Hanako Yamada" in page and "Somchai Jaidee" in page
    page = client.get(f"/admin/records?programme={other.programme_id}").get_data(as_text=True)
    assert "Somchai Jaidee" in page and "Hanako Yamada" not in page


def test_non_admins_cannot_use_the_admin_pages(app, make_user, completed):
    anonymous = app.test_client()
    assert anonymous.get("/admin/records").status_code in (302, 401)
    for role in (Role.TRAINEE, Role.INSTRUCTOR):
        user: User = make_user(role)
        client = app.test_client()
        login(client, user.email)
        assert client.get("/admin/records").status_code == 403
        revoke = client.post(f"/admin/records/{completed.record_id}/revoke", data={"reason": "x"})
        assert revoke.status_code == 403
        assert client.post(f"/admin/records/{completed.record_id}/reissue").status_code == 403
    (record,) = _records(app, completed.trainee_id)
    assert record.revoked_at is None
