"""The weekly completion digest: subscribing in the sponsor portal, and the job that
emails each subscriber their own sponsor's new completions as a CSV attachment, once a
week. On SQLite and PostgreSQL (the ``app`` fixture); mail goes to the outbox."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserRole
from lms.audit.models import AuditEvent
from lms.db import new_session
from lms.digests import services
from lms.digests.jobs import send_completion_digests
from lms.digests.models import CompletionDigestSubscription
from lms.mail import get_mailer
from tests.api.conftest import SponsorWorld, add_record, build_sponsor
from tests.conftest import csrf_token_from, login

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
CREATED = datetime(2026, 2, 20, 9, 0, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"


def sent_mail(app: Flask) -> list[EmailMessage]:
    folder = app.config["LMS_SETTINGS"].instance_path / "outbox"
    if not folder.is_dir():
        return []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def attachment_rows(message: EmailMessage) -> tuple[bytes, list[list[str]]]:
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == "text/csv"
    assert part.get_filename().endswith(".csv")
    data = part.get_payload(decode=True)
    return data, list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _subscribe(app: Flask, user: User, created: datetime = CREATED) -> None:
    with new_session(app) as session:
        assert services.subscribe(session, session.get(User, user.id))
        subscription = services.subscription_of(session, user.id)
        subscription.created_at = created
        session.commit()


def _send(app: Flask, now: datetime, force: bool = False) -> services.SendReport:
    with app.app_context(), new_session(app) as session:
        return services.send_due_digests(
            session,
            mailer=get_mailer(app),
            base_url="https://lms.test",
            default_locale="en",
            now=now,
            force=force,
        )


@pytest.fixture
def worlds(app: Flask, make_user) -> tuple[SponsorWorld, SponsorWorld]:
    """Two sponsors; the records of each are issued within the week before NOW, except
    an old one (before the subscription) and a revoked one of the first sponsor."""
    own = build_sponsor(
        app,
        make_user,
        "Mekong",
        [
            ("Somchai Jaidee", "สมชาย ใจดี", "somchai@mekong.example.org"),
            ("Hanako Yamada", "山田 花子", "hanako@mekong.example.org"),
        ],
    )
    other = build_sponsor(
        app, make_user, "Andes", [("Lucia Quispe", "Lucía Quispe", "lucia@andes.example.org")]
    )
    old = make_user(Role.TRAINEE, name="Old Timer", email="old@mekong.example.org")
    revoked = make_user(Role.TRAINEE, name="Revoked Person", email="rev@mekong.example.org")
    add_record(
        app,
        programme_id=own.programme_id,
        sponsor_id=own.sponsor_id,
        user_id=old.id,
        issued_at=CREATED - timedelta(days=10),
    )
    add_record(
        app,
        programme_id=own.programme_id,
        sponsor_id=own.sponsor_id,
        user_id=revoked.id,
        issued_at=NOW - timedelta(days=2),
        revoked_at=NOW - timedelta(days=1),
    )
    with new_session(app) as session:
        from lms.credentials.models import CompletionRecord  # noqa: PLC0415

        for index, record_id in enumerate(own.record_ids + other.record_ids):
            session.get(CompletionRecord, record_id).issued_at = NOW - timedelta(days=1 + index)
        session.commit()
    return own, other


# --- subscribing in the portal -----------------------------------------------------------


def test_subscribe_and_unsubscribe_in_the_portal(app: Flask, worlds) -> None:
    own, _other = worlds
    client = app.test_client()
    assert login(client, own.staff.email).status_code == 302
    assert 'href="/sponsor/digest"' in client.get("/sponsor").get_data(as_text=True)
    page = client.get("/sponsor/digest").get_data(as_text=True)
    assert "You are not subscribed." in page and "Mekong Agency" in page

    assert client.post("/sponsor/digest/subscribe").status_code == 302
    assert client.post("/sponsor/digest/subscribe").status_code == 302  # idempotent
    page = client.get("/sponsor/digest").get_data(as_text=True)
    assert "You are subscribed." in page
    with new_session(app) as session:
        [subscription] = session.scalars(select(CompletionDigestSubscription)).all()
        assert (subscription.user_id, subscription.sponsor_id) == (own.staff.id, own.sponsor_id)
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("digests.subscribe") == 1

    assert client.post("/sponsor/digest/unsubscribe").status_code == 302
    with new_session(app) as session:
        assert session.scalar(select(func.count(CompletionDigestSubscription.id))) == 0
        assert "digests.unsubscribe" in session.scalars(select(AuditEvent.action)).all()
    assert "You are not subscribed." in client.get("/sponsor/digest").get_data(as_text=True)


def test_only_sponsor_staff_may_subscribe(app: Flask, make_user, worlds) -> None:
    for user in (make_user(Role.TRAINEE), make_user(Role.ADMIN), make_user(Role.SPONSOR)):
        client = app.test_client()
        assert login(client, user.email).status_code == 302
        assert client.get("/sponsor/digest").status_code == 403
        assert client.post("/sponsor/digest/subscribe").status_code == 403
    with new_session(app) as session:
        assert session.scalar(select(func.count(CompletionDigestSubscription.id))) == 0


def test_the_forms_need_the_csrf_token(app_factory, make_user, worlds) -> None:
    own, _other = worlds
    guarded = app_factory(WTF_CSRF_ENABLED=True)
    client = guarded.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        data={
            "email": own.staff.email,
            "password": "correct horse battery",
            "csrf_token": csrf_token_from(page),
        },
    )
    assert response.status_code == 302
    assert client.post("/sponsor/digest/subscribe").status_code == 400
    with new_session(guarded) as session:
        assert session.scalar(select(func.count(CompletionDigestSubscription.id))) == 0
    token = csrf_token_from(client.get("/sponsor/digest").get_data(as_text=True))
    response = client.post("/sponsor/digest/subscribe", data={"csrf_token": token})
    assert response.status_code == 302
    with new_session(guarded) as session:
        assert session.scalar(select(func.count(CompletionDigestSubscription.id))) == 1


# --- sending -----------------------------------------------------------------------------


def test_each_subscriber_gets_their_own_sponsors_new_completions(
    app: Flask, make_user, worlds
) -> None:
    own, other = worlds
    colleague = make_user(
        Role.SPONSOR, sponsor_id=own.sponsor_id, email="ja@mekong.example.org", locale="ja"
    )
    for user in (own.staff, other.staff, colleague):
        _subscribe(app, user)

    report = _send(app, NOW)
    assert (report.sent, report.empty, report.skipped, report.taken) == (3, 0, 0, 0)
    mail = {message["To"]: message for message in sent_mail(app)}
    assert set(mail) == {own.staff.email, other.staff.email, colleague.email}

    data, rows = attachment_rows(mail[own.staff.email])
    assert data.startswith(BOM)
    header, body = rows[0], rows[1:]
    assert header[0] == "Trainee name" and "Scores" in header
    assert sorted(row[header.index("Record ID")] for row in body) == sorted(own.public_ids)
    names = {row[0] for row in body}
    assert names == {"Somchai Jaidee", "Hanako Yamada"}  # not the old or the revoked one
    text = mail[own.staff.email].get_body(("plain",)).get_content()
    assert mail[own.staff.email]["Subject"] == "2 new completions for Mekong Agency"
    assert "山田 花子" in text and "Lucia" not in text
    for secret in other.secrets:
        assert secret not in data.decode("utf-8")

    _data, other_rows = attachment_rows(mail[other.staff.email])
    assert [row[0] for row in other_rows[1:]] == ["Lucia Quispe"]

    _data, ja_rows = attachment_rows(mail[colleague.email])
    assert ja_rows[0][0] == "研修員氏名"  # the subscriber's language
    assert len(ja_rows) == 3

    with new_session(app) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "digests.sent"))
        assert sorted(e.details["rows"] for e in events) == [1, 2, 2]


def test_sent_once_a_week_and_then_only_what_is_new(app: Flask, make_user, worlds) -> None:
    own, _other = worlds
    _subscribe(app, own.staff)
    assert _send(app, NOW).sent == 1
    # Later the same week (another run, another worker): nothing more.
    report = _send(app, NOW + timedelta(days=2, hours=3))
    assert (report.sent, report.taken) == (0, 1)
    assert len(sent_mail(app)) == 1

    newcomer = make_user(Role.TRAINEE, name="New Graduate", email="new@mekong.example.org")
    add_record(
        app,
        programme_id=own.programme_id,
        sponsor_id=own.sponsor_id,
        user_id=newcomer.id,
        issued_at=NOW + timedelta(days=1),
    )
    assert _send(app, NOW + timedelta(days=7)).sent == 1
    messages = sent_mail(app)
    assert len(messages) == 2
    _data, rows = attachment_rows(messages[-1])
    assert [row[0] for row in rows[1:]] == ["New Graduate"]

    # A week without new completions: no email.
    report = _send(app, NOW + timedelta(days=14))
    assert (report.sent, report.empty) == (0, 1)
    assert len(sent_mail(app)) == 2


def test_send_now_ignores_the_week_but_not_the_window(app: Flask, worlds) -> None:
    own, _other = worlds
    _subscribe(app, own.staff)
    assert _send(app, NOW).sent == 1
    report = _send(app, NOW + timedelta(hours=1), force=True)
    assert (report.sent, report.empty) == (0, 1)  # nothing new since the last one


def test_people_who_left_or_were_deactivated_get_nothing(app: Flask, make_user, worlds) -> None:
    own, other = worlds
    deactivated = make_user(Role.SPONSOR, sponsor_id=own.sponsor_id, email="d@mekong.example.org")
    moved = make_user(Role.SPONSOR, sponsor_id=own.sponsor_id, email="m@mekong.example.org")
    demoted = make_user(Role.SPONSOR, sponsor_id=own.sponsor_id, email="x@mekong.example.org")
    for user in (deactivated, moved, demoted):
        _subscribe(app, user)
    with new_session(app) as session:
        session.get(User, deactivated.id).active = False
        session.get(User, moved.id).sponsor_id = other.sponsor_id
        for role in session.scalars(select(UserRole).where(UserRole.user_id == demoted.id)):
            session.delete(role)
        session.commit()
    report = _send(app, NOW)
    assert (report.sent, report.skipped) == (0, 3)
    assert sent_mail(app) == []


def test_two_workers_send_each_digest_once(app: Flask, worlds) -> None:
    own, other = worlds
    _subscribe(app, own.staff)
    _subscribe(app, other.staff)
    barrier = threading.Barrier(2)
    reports: list[services.SendReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            reports.append(_send(app, NOW))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(r.sent for r in reports) == 2 and sum(r.taken for r in reports) == 2
    assert sorted(m["To"] for m in sent_mail(app)) == sorted([own.staff.email, other.staff.email])


def test_a_stale_claim_loses(app: Flask, worlds) -> None:
    own, _other = worlds
    _subscribe(app, own.staff)
    with new_session(app) as session:
        subscription = services.subscription_of(session, own.staff.id)
        sid, previous = subscription.id, subscription.last_sent_at
        period = services.period_start(NOW)
        assert services._claim(session, sid, previous, NOW, period)
        assert not services._claim(session, sid, previous, NOW, period)


def test_the_job_and_the_command_send_the_digests(app: Flask, worlds) -> None:
    own, _other = worlds
    _subscribe(app, own.staff, created=datetime.now(UTC) - timedelta(days=8))
    with new_session(app) as session:
        from lms.credentials.models import CompletionRecord  # noqa: PLC0415

        for record_id in own.record_ids:
            session.get(CompletionRecord, record_id).issued_at = datetime.now(UTC) - timedelta(
                hours=2
            )
        session.commit()
    with app.app_context():
        send_completion_digests()
    assert [m["To"] for m in sent_mail(app)] == [own.staff.email]
    result = app.test_cli_runner().invoke(args=["lms", "digests", "send"])
    assert result.exit_code == 0, result.output
    assert "0 sent" in result.output and "1 not due" in result.output
    result = app.test_cli_runner().invoke(args=["lms", "digests", "send", "--now"])
    assert result.exit_code == 0 and "1 with nothing new" in result.output
    assert len(sent_mail(app)) == 1


def test_the_periodic_task_is_queued_every_hour(app: Flask) -> None:
    from lms.jobs import get_jobs  # noqa: PLC0415

    huey = get_jobs(app).huey
    due = [t.name for t in huey.read_periodic(datetime(2026, 3, 2, 5, 41))]
    assert "hourly_completion_digests" in due
    later = [t.name for t in huey.read_periodic(datetime(2026, 3, 2, 5, 42))]
    assert "hourly_completion_digests" not in later
