"""No sponsor's data crosses over: every sponsor-facing page, download and API endpoint,
requested by everyone who is not that sponsor's staff.

The routes are taken from the app's url_map (prefixes ``/sponsor`` and ``/api/v1``), so
routes added later are tried too. Their URL arguments are filled with the *victim*
sponsor's real ids (the best possible guesses); the callers are another sponsor's staff,
a trainee who holds one of the victim's records, an anonymous visitor, and bearer tokens
of another sponsor, and the victim's own expired and revoked tokens. Every answer is
searched for the victim's names, emails, codes and record ids (XLSX opened and read).
A positive control shows the same search finds them for the victim's own staff.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import Rule

from lms.accounts.models import Role
from lms.api.models import ApiToken
from lms.audit.models import AuditEvent
from lms.credentials.models import CompletionRecord
from lms.db import new_session, utcnow
from lms.programs.models import Enrolment, ProgrammeCourse
from tests.api.conftest import SponsorWorld, bearer, load_token, make_token
from tests.conftest import login
from tests.learning.test_completion import make_course

PREFIXES = ("/sponsor", "/api/v1/")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DENIED = {401, 403, 404}


@dataclass
class Victim:
    world: SponsorWorld
    values: dict[str, object]  # URL arguments: the victim's ids
    token_id: int
    secret: str


@pytest.fixture
def victim(app: Flask, make_user, sponsors) -> Victim:
    own, _other = sponsors
    instructor = make_user(Role.INSTRUCTOR, email="teacher@example.org")
    built = make_course(app, instructor.id, [[("reading", True)]])
    with new_session(app) as session:
        session.add(ProgrammeCourse(programme_id=own.programme_id, course_id=built.course_id))
        holders = session.scalars(
            select(CompletionRecord.user_id).where(CompletionRecord.id.in_(own.record_ids))
        ).all()
        for user_id in holders:
            session.add(Enrolment(programme_id=own.programme_id, user_id=user_id))
        session.commit()
    token_id, secret = make_token(app, own.staff, name="Mekong nightly import")
    own.secrets.append("Mekong nightly import")
    values: dict[str, object] = {
        "programme_id": own.programme_id,
        "course_id": built.course_id,
        "user_id": holders[0],
        "record_id": own.record_ids[0],
        "token_id": token_id,
        "lesson_id": built.lessons[0],
        "stop_uid": "stop-1",
    }
    return Victim(own, values, token_id, secret)


def _rules(app: Flask) -> list[Rule]:
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(PREFIXES)]
    assert any(r.endpoint == "api.programme_completions" for r in rules)
    assert (
        sum(getattr(app.view_functions[r.endpoint], "accepts_api_token", False) for r in rules) >= 3
    )
    assert any(r.rule.startswith("/sponsor/programmes") for r in rules)
    return rules


def _url(app: Flask, rule: Rule, values: dict[str, object]) -> str:
    # An argument that is none of the victim's ids (a new route's): try 1.
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{k: values.get(k, 1) for k in rule.arguments})


def _text(response) -> str:
    """Everything a caller could read: body (XLSX cells too) and headers."""
    headers = " ".join(f"{k}: {v}" for k, v in response.headers.items())
    if response.mimetype == XLSX and response.status_code == 200:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
        cells = [str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row]
        return headers + " " + " ".join(cells)
    return headers + " " + response.get_data(as_text=True)


def _sweep(app: Flask, client, victim: Victim, headers: dict[str, str] | None = None):
    """(method url, status, leaked strings) for every sponsor-facing route and method."""
    results = []
    for rule in _rules(app):
        url = _url(app, rule, victim.values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={}, headers=headers or {})
            text = _text(response)
            leaked = sorted(s for s in victim.world.secrets if s and s in text)
            status = response.status_code
            if status == 302 and "/login" in response.headers.get("Location", ""):
                status = 401  # sent to the sign-in page: no session, whatever the token
            results.append((f"{method} {url}", rule, status, leaked))
    return results


def _takes_victim_ids(rule: Rule) -> bool:
    return bool(set(rule.arguments) & {"programme_id", "record_id", "token_id", "user_id"})


def _check(results) -> None:
    problems = []
    for what, rule, status, leaked in results:
        if leaked:
            problems.append(f"{what}: {status} shows {leaked}")
        elif _takes_victim_ids(rule) and status not in DENIED:
            problems.append(f"{what}: answered {status}")
    assert not problems, "\n".join(problems)


def _victim_token_untouched(app: Flask, victim: Victim) -> None:
    token = load_token(app, victim.token_id)
    assert token.revoked_at is None
    with new_session(app) as session:
        count = session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(ApiToken.sponsor_id == victim.world.sponsor_id)
        )
    assert count >= 1


def test_the_search_finds_the_victims_data_for_its_own_staff(app, client, victim):
    """Positive control: without it, a broken search would pass every test below."""
    api = f"/api/v1/programmes/{victim.world.programme_id}/completions"
    # First by token: the session sweep below revokes the token (its own staff may).
    bearer_sweep = _sweep(app, app.test_client(), victim, bearer(victim.secret))
    assert f"GET {api}" in {what for what, _r, _s, leaked in bearer_sweep if leaked}
    login(client, victim.world.staff.email)
    shown = {what for what, _rule, status, leaked in _sweep(app, client, victim) if leaked}
    programme = f"/sponsor/programmes/{victim.world.programme_id}"
    for expected in (f"GET {programme}", f"GET {api}", "GET /api/v1/programmes"):
        assert expected in shown, expected
    assert any(w.endswith(".xlsx") for w in shown), shown
    assert load_token(app, victim.token_id).revoked_at is not None


def test_another_sponsors_staff_sees_nothing(app, client, victim, sponsors):
    _own, other = sponsors
    login(client, other.staff.email)
    _check(_sweep(app, client, victim))
    _victim_token_untouched(app, victim)


def test_a_trainee_holding_a_record_sees_nothing(app, client, victim):
    with new_session(app) as session:
        from lms.accounts.models import User

        trainee = session.get(User, victim.values["user_id"])
        own_identity = {trainee.name, trainee.native_name, trainee.email}
    victim.world.secrets = [s for s in victim.world.secrets if s not in own_identity]
    login(client, trainee.email)
    _check(_sweep(app, client, victim))
    _victim_token_untouched(app, victim)


def test_anonymous_visitors_see_nothing(app, client, victim):
    _check(_sweep(app, client, victim))
    _victim_token_untouched(app, victim)


@pytest.mark.parametrize("kind", ["other_sponsor", "expired", "revoked", "garbage"])
def test_tokens_that_are_not_the_victims_see_nothing(app, client, victim, sponsors, kind):
    _own, other = sponsors
    if kind == "other_sponsor":
        _id, secret = make_token(app, other.staff)
    elif kind == "expired":
        _id, secret = make_token(
            app, victim.world.staff, expires_at=utcnow() - timedelta(seconds=1)
        )
    elif kind == "revoked":
        _id, secret = make_token(app, victim.world.staff, revoked=True)
    else:
        secret = victim.secret[:-2] + "xx"
    results = _sweep(app, client, victim, bearer(secret))
    _check(results)
    if kind != "other_sponsor":  # a refused token gets 401 from every token endpoint
        for what, rule, status, _leaked in results:
            if getattr(app.view_functions[rule.endpoint], "accepts_api_token", False):
                assert status == 401, what
    _victim_token_untouched(app, victim)


def test_guessing_ids_with_another_sponsors_token_finds_only_its_own(app, client, sponsors):
    own, other = sponsors
    _id, secret = make_token(app, other.staff)
    with new_session(app) as session:
        top = session.scalar(select(func.max(CompletionRecord.id)))
    found = []
    for record_id in range(1, top + 4):
        response = client.get(f"/api/v1/records/{record_id}", headers=bearer(secret))
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            found.append(record_id)
    assert found == other.record_ids
    # Another sponsor's record and a record that does not exist: the same answer.
    foreign = client.get(f"/api/v1/records/{own.record_ids[0]}", headers=bearer(secret))
    unknown = client.get(f"/api/v1/records/{top + 100}", headers=bearer(secret))
    assert foreign.get_data() == unknown.get_data() and foreign.status_code == 404
    for programme_id in range(1, max(own.programme_id, other.programme_id) + 4):
        response = client.get(
            f"/api/v1/programmes/{programme_id}/completions", headers=bearer(secret)
        )
        expected = {other.programme_id: 200, own.programme_id: 403}.get(programme_id, 404)
        assert response.status_code == expected, programme_id
    # Refused guesses are not downloads: none is written to the audit log as one.
    with new_session(app) as session:
        exports = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert {e.details["programme_id"] for e in exports} == {other.programme_id}
