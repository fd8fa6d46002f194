"""Certificates end to end: built after the completion commits, stored, downloaded by the
record's trainee through a signed URL (audited), hidden from everyone else, rebuilt on
reissue, and a failure shown with its reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, render_template_string
from flask_login import login_user
from sqlalchemy import select

from lms.accounts.models import Role, User
from lms.audit.models import AuditEvent
from lms.certificates import jobs as certificate_jobs
from lms.certificates.models import Certificate, CertificateStatus
from lms.credentials import services as records
from lms.credentials.models import CompletionRecord
from lms.db import new_session
from lms.storage import StorageError, get_storage
from tests.certificates.conftest import complete, pdf_lines, qr_texts
from tests.conftest import login

PARTIAL = '{% include "certificates/_record_links.html" %}'


@pytest.fixture
def jobs_app(app: Flask, app_factory: Callable[..., Flask]) -> Flask:
    """Jobs run as soon as the unit of work that queued them commits."""
    return app_factory(JOBS_IMMEDIATE=True)


def certificate(app: Flask, record_id: int) -> Certificate:
    with new_session(app) as session:
        found = session.scalar(select(Certificate).where(Certificate.record_id == record_id))
        assert found is not None
        return found


def download_path(record_id: int) -> str:
    return f"/records/{record_id}/certificate.pdf"


def partial_for(app: Flask, user_id: int, record_id: int) -> str:
    with app.test_request_context("/records"), new_session(app) as session:
        login_user(session.get(User, user_id))
        return render_template_string(PARTIAL, record=session.get(CompletionRecord, record_id))


def test_a_completion_builds_a_certificate_the_trainee_downloads(jobs_app: Flask, make_user):
    done = complete(jobs_app, make_user, name="Hanako Yamada", native_name="山田 花子", locale="ja")

    made = certificate(jobs_app, done.record_id)
    assert made.status == CertificateStatus.READY and made.language == "ja"
    stored = get_storage(jobs_app).open(made.key)
    data = stored.read()
    stored.close()
    lines = pdf_lines(data)
    assert {"Hanako Yamada", "山田 花子", done.code} <= set(lines)
    assert any("年" in line and "月" in line for line in lines)  # dates in Japanese too
    base_url = jobs_app.config["LMS_SETTINGS"].base_url
    assert qr_texts(data) == [f"{base_url}/verify/{done.code}"]

    client = jobs_app.test_client()
    login(client, done.trainee_email)
    response = client.get(download_path(done.record_id))
    assert response.status_code == 303
    assert response.headers["Cache-Control"] == "no-store"
    signed = response.headers["Location"]
    assert signed.startswith("/files/certificates/") and "s=" in signed
    file = client.get(signed)
    assert file.status_code == 200 and file.data == data
    assert file.mimetype == "application/pdf"
    assert file.headers["Content-Disposition"].startswith("attachment")
    with new_session(jobs_app) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "certificates.download")
        ).all()
    assert [(e.actor_id, e.subject) for e in events] == [
        (done.trainee_id, f"completion_record:{done.record_id}")
    ]
    # The trainee reads Japanese: the link is there, in their language.
    partial = partial_for(jobs_app, done.trainee_id, done.record_id)
    assert f"/records/{done.record_id}/certificate.pdf" in partial
    assert "PDF の修了証をダウンロード" in partial


def test_nobody_else_gets_the_certificate(jobs_app: Flask, make_user):
    done = complete(jobs_app, make_user)
    with new_session(jobs_app) as session:
        sponsor_id = session.get(CompletionRecord, done.record_id).sponsor_id
    others = {
        "another trainee": make_user(Role.TRAINEE),
        "the programme's sponsor": make_user(Role.SPONSOR, sponsor_id=sponsor_id),
        "an instructor": make_user(Role.INSTRUCTOR),
    }
    for who, user in others.items():
        client = jobs_app.test_client()
        login(client, user.email)
        assert client.get(download_path(done.record_id)).status_code == 404, who
        assert client.post(f"/records/{done.record_id}/certificate").status_code == 404, who
        assert client.get(download_path(done.record_id + 1000)).status_code == 404, who
    anonymous = jobs_app.test_client().get(download_path(done.record_id))
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    admin = jobs_app.test_client()
    login(admin, make_user(Role.ADMIN).email)
    assert admin.get(download_path(done.record_id)).status_code == 303
    with new_session(jobs_app) as session:
        actions = session.scalars(
            select(AuditEvent.actor_id).where(AuditEvent.action == "certificates.download")
        ).all()
    assert len(actions) == 1  # the admin's; refusals leave nothing to audit


def test_a_reissued_record_gets_a_new_certificate_and_the_old_one_is_withdrawn(
    jobs_app: Flask, make_user
):
    done = complete(jobs_app, make_user, name="Somchai Jaidee", native_name="สมชาย ใจดี")
    admin = make_user(Role.ADMIN)
    with jobs_app.app_context(), new_session(jobs_app) as session:
        old = session.get(CompletionRecord, done.record_id)
        new = records.reissue(session, session.get(User, admin.id), old)
        session.commit()
        new_id, new_code = new.id, new.verification_code

    rebuilt = certificate(jobs_app, new_id)
    assert rebuilt.status == CertificateStatus.READY
    stored = get_storage(jobs_app).open(rebuilt.key)
    lines = pdf_lines(stored.read())
    stored.close()
    assert new_code in lines and done.code not in lines and "สมชาย ใจดี" in lines
    client = jobs_app.test_client()
    login(client, done.trainee_email)
    assert client.get(download_path(new_id)).status_code == 303
    assert client.get(download_path(done.record_id)).status_code == 404
    assert "no longer valid" in partial_for(jobs_app, done.trainee_id, done.record_id)


def test_a_failure_shows_its_reason_and_the_trainee_can_try_again(jobs_app: Flask, make_user):
    done = complete(jobs_app, make_user, name="Abebe Bikila", native_name="አበበ ቢቂላ")

    failed = certificate(jobs_app, done.record_id)
    assert failed.status == CertificateStatus.FAILED and failed.error_code == "missing_glyphs"
    html = partial_for(jobs_app, done.trainee_id, done.record_id)
    assert "no font can show these characters" in html and "አ" in html
    assert "Try again" in html
    client = jobs_app.test_client()
    login(client, done.trainee_email)
    assert client.get(download_path(done.record_id)).status_code == 404

    with new_session(jobs_app) as session:  # an administrator corrects the name
        session.get(User, done.trainee_id).native_name = ""
        session.commit()
    response = client.post(f"/records/{done.record_id}/certificate", data={"next": "/records"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/records")
    assert certificate(jobs_app, done.record_id).status == CertificateStatus.READY
    assert client.get(download_path(done.record_id)).status_code == 303
    # Once made, a trainee cannot have it made again and again (an admin can).
    token = certificate(jobs_app, done.record_id).token
    again = client.post(f"/records/{done.record_id}/certificate")
    assert again.status_code == 302
    assert certificate(jobs_app, done.record_id).token == token


def test_pending_until_the_job_runs(app: Flask, make_user):
    done = complete(app, make_user)  # this app's queue is not run in tests

    assert certificate(app, done.record_id).status == CertificateStatus.PENDING
    html = partial_for(app, done.trainee_id, done.record_id)
    assert "being made" in html and "certificate-status.js" in html
    client = app.test_client()
    login(client, done.trainee_email)
    assert client.get(download_path(done.record_id)).status_code == 404
    status_url = f"/records/{done.record_id}/certificate/status"
    assert client.get(status_url).get_json() == {"status": "pending"}
    stranger = app.test_client()
    login(stranger, make_user(Role.TRAINEE).email)
    assert stranger.get(status_url).status_code == 404


def test_storage_down_retries_then_fails_with_its_reason(app: Flask, make_user, monkeypatch):
    done = complete(app, make_user)
    pending = certificate(app, done.record_id)
    storage = get_storage(app)

    def unreachable(*_args, **_kwargs):
        raise StorageError("cannot reach the store")

    monkeypatch.setattr(storage, "put", unreachable)
    monkeypatch.setattr(certificate_jobs, "render", lambda _document: b"%PDF-1.7 test")
    with app.app_context():
        with pytest.raises(StorageError):  # Huey retries it
            certificate_jobs.build_certificate(pending.id, pending.token, final_attempt=False)
        assert certificate(app, done.record_id).status == CertificateStatus.PENDING
        certificate_jobs.build_certificate(pending.id, pending.token, final_attempt=True)

    failed = certificate(app, done.record_id)
    assert failed.status == CertificateStatus.FAILED and failed.error_code == "storage"
    assert "storage could not be reached" in partial_for(app, done.trainee_id, done.record_id)


def test_a_build_for_an_older_request_is_thrown_away(app: Flask, make_user, monkeypatch):
    done = complete(app, make_user)
    first = certificate(app, done.record_id)
    with app.app_context(), new_session(app) as session:
        from lms.certificates.services import request_build

        request_build(session, done.record_id)  # asked again before the first job ran
        session.commit()
    monkeypatch.setattr(certificate_jobs, "render", lambda _document: b"%PDF-1.7 test")
    with app.app_context():
        certificate_jobs.build_certificate(first.id, first.token)

    current = certificate(app, done.record_id)
    assert current.status == CertificateStatus.PENDING and current.key is None
    assert not list((get_storage(app).root / "certificates").glob("*/*"))
