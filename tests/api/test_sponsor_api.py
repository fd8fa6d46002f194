"""The sponsor API: programmes, completion pages (cursor, since, CSV), one record, audit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import select

from lms.audit.models import AuditEvent
from lms.credentials.models import CompletionRecord
from lms.db import new_session, utcnow
from tests.api.conftest import add_record, bearer, make_token
from tests.conftest import login


def _completions(client, programme_id: int, secret: str, **params: str):
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return client.get(
        f"/api/v1/programmes/{programme_id}/completions?{query}", headers=bearer(secret)
    )


def test_programmes_lists_the_tokens_sponsor_only(app, client, sponsors):
    own, other = sponsors
    _id, secret = make_token(app, own.staff)
    body = client.get("/api/v1/programmes", headers=bearer(secret)).json
    assert [p["id"] for p in body["data"]] == [own.programme_id]
    assert body["data"][0]["code"] == own.programme_code
    assert body["data"][0]["sponsor_name"] == "Mekong Agency"


def test_completions_page_through_with_an_opaque_cursor(app, client, sponsors):
    own, _other = sponsors
    _id, secret = make_token(app, own.staff)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = _completions(client, own.programme_id, secret, **params)
        assert response.status_code == 200
        body = response.json
        seen += [row["id"] for row in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        assert body["has_more"] == (cursor is not None)
        if cursor:
            assert str(own.record_ids[0]) not in cursor  # opaque, not a bare id
            assert response.headers["X-Next-Cursor"] == cursor
            assert 'rel="next"' in response.headers["Link"]
        else:
            break
    assert seen == own.record_ids and pages == 2
    row = body["data"][-1]
    assert row["record_id"] == own.public_ids[-1] and row["status"] == "valid"
    assert row["trainee_name"] == "Nguyen Van An" and row["native_name"] == "Nguyễn Văn An"
    assert row["verification_url"].endswith("/verify/" + row["verification_code"])
    assert row["issued_at"].endswith("Z") and row["revoked_at"] is None


def test_bad_query_arguments_are_refused_with_a_message(app, client, sponsors):
    own, _other = sponsors
    _id, secret = make_token(app, own.staff)
    for params, words in (
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"cursor": "!!"}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"format": "xml"}, "format"),
    ):
        response = _completions(client, own.programme_id, secret, **params)
        assert response.status_code == 400, params
        assert words in response.json["error"]["message"], params
    assert _completions(client, own.programme_id, secret, limit="1000").status_code == 200


def test_since_returns_new_and_revoked_records(app, client, sponsors):
    own, _other = sponsors
    _id, secret = make_token(app, own.staff)
    first = _completions(client, own.programme_id, secret).json
    as_of = first["as_of"]
    assert len(first["data"]) == 3
    # Nothing changed since: only records issued within the safety margin come again.
    since_cut = (utcnow() + timedelta(seconds=5)).isoformat()
    assert _completions(client, own.programme_id, secret, since=since_cut).json["data"] == []

    # The oldest record (issued a day ago) is revoked now, and a new one is issued.
    with new_session(app) as session:
        old = session.get(CompletionRecord, own.record_ids[0])
        old.revoked_at = utcnow()
        trainee_id = old.user_id
        session.commit()
    new = add_record(
        app,
        programme_id=own.programme_id,
        sponsor_id=own.sponsor_id,
        user_id=trainee_id,
        generation=2,
    )
    yesterday_noon = (utcnow() - timedelta(hours=12)).replace(tzinfo=None).isoformat()
    changed = _completions(client, own.programme_id, secret, since=yesterday_noon).json["data"]
    ids = [row["id"] for row in changed]
    assert ids == [*own.record_ids, new.id]  # the day-old record is back: it was revoked
    assert changed[0]["status"] == "revoked" and changed[0]["revoked_at"]
    assert changed[0]["updated_at"] == changed[0]["revoked_at"]
    # A pull from as_of sees the revocation and the new record, and pages over them.
    page = _completions(client, own.programme_id, secret, since=as_of, limit="1").json
    assert page["data"][0]["id"] in ids and page["has_more"]


def test_csv_format_has_the_export_columns_and_a_next_cursor(app, client, sponsors):
    own, _other = sponsors
    _id, secret = make_token(app, own.staff)
    response = _completions(client, own.programme_id, secret, format="csv", limit="2")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][0] == "Trainee name" and "Record ID" in rows[0]
    assert [r[0] for r in rows[1:]] == ["Somchai Jaidee", "Hanako Yamada"]
    assert "山田 花子" in text
    cursor = response.headers["X-Next-Cursor"]
    rest = _completions(client, own.programme_id, secret, format="csv", cursor=cursor)
    assert "Nguyen Van An" in rest.get_data(as_text=True) and "X-Next-Cursor" not in rest.headers


def test_one_record_and_revoked_status(app, client, sponsors):
    own, _other = sponsors
    _id, secret = make_token(app, own.staff)
    record_id = own.record_ids[1]
    body = client.get(f"/api/v1/records/{record_id}", headers=bearer(secret)).json
    assert body["id"] == record_id and body["email"] == "hanako@mekong.example.org"
    assert body["status"] == "valid" and body["replaced_by_id"] is None
    with new_session(app) as session:
        session.get(CompletionRecord, record_id).revoked_at = utcnow()
        session.commit()
    body = client.get(f"/api/v1/records/{record_id}", headers=bearer(secret)).json
    assert body["status"] == "revoked"


def test_every_download_is_in_the_audit_log(app, client, make_user, sponsors):
    own, _other = sponsors
    token_id, secret = make_token(app, own.staff)
    _completions(client, own.programme_id, secret, limit="2")
    _completions(client, own.programme_id, secret, format="csv")
    client.get(f"/api/v1/records/{own.record_ids[0]}", headers=bearer(secret))
    # HEAD asks for the headers only: nothing is downloaded, nothing audited
    head = client.head(f"/api/v1/records/{own.record_ids[0]}", headers=bearer(secret))
    assert head.status_code == 200
    login(client, own.staff.email)
    client.get(f"/api/v1/programmes/{own.programme_id}/completions")
    with new_session(app) as session:
        events = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)
            )
        )
    assert [e.details["report"] for e in events] == [
        "api_completions",
        "api_completions",
        "api_record",
        "api_completions",
    ]
    by_token = events[0]
    assert by_token.actor_id is None and by_token.details["token_id"] == token_id
    assert by_token.details["rows"] == 2 and by_token.details["via"] == "token"
    assert by_token.details["programme_id"] == own.programme_id
    assert events[1].details["format"] == "csv" and events[1].details["rows"] == 3
    assert events[2].subject == own.public_ids[0]
    assert events[3].actor_id == own.staff.id and events[3].details["via"] == "session"


def test_refused_calls_write_no_audit_event(app, client, sponsors):
    own, other = sponsors
    _id, secret = make_token(app, own.staff)
    _completions(client, other.programme_id, secret)
    client.get(f"/api/v1/records/{other.record_ids[0]}", headers=bearer(secret))
    _completions(client, own.programme_id, secret, limit="0")
    with new_session(app) as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all() == []


def test_admin_session_sees_every_sponsor(app, client, make_user, sponsors):
    own, other = sponsors
    admin = make_user("admin", email="root@example.org")
    login(client, admin.email)
    body = client.get("/api/v1/programmes").json
    assert {p["id"] for p in body["data"]} == {own.programme_id, other.programme_id}
    assert client.get(f"/api/v1/records/{other.record_ids[0]}").status_code == 200


def test_a_record_issued_by_a_real_completion_comes_through(app, client, make_user):
    from lms.programs.models import Programme
    from tests.credentials.conftest import complete_programme

    done = complete_programme(app, make_user, name="Hanako Yamada", native_name="山田 花子")
    with new_session(app) as session:
        sponsor_id = session.get(Programme, done.programme_id).sponsor_id
    staff = make_user("sponsor", sponsor_id=sponsor_id, email="staff@real.example.org")
    _id, secret = make_token(app, staff)
    [row] = _completions(client, done.programme_id, secret).json["data"]
    assert row["id"] == done.record_id and row["verification_code"] == done.code
    assert row["native_name"] == "山田 花子" and row["status"] == "valid"
    one = client.get(f"/api/v1/records/{done.record_id}", headers=bearer(secret)).json
    assert one["email"] == done.trainee_email
