"""The trainee's "My records" page: programme records with their state, completed courses."""

from __future__ import annotations

import re

from flask import Flask

from lms.accounts.models import Role
from tests.conftest import login
from tests.credentials.conftest import Completed, complete_programme


def _page(app: Flask, email: str) -> str:
    client = app.test_client()
    assert login(client, email).status_code == 302
    response = client.get("/records")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _record_block(page: str, record_id: int) -> str:
    match = re.search(
        rf'<article class="record" aria-labelledby="record-{record_id}">(.*?)</article>', page, re.S
    )
    assert match, f"record {record_id} is not on the page"
    return match.group(1)


def test_the_page_lists_the_trainees_own_records(app: Flask, make_user, completed: Completed):
    other = complete_programme(app, make_user, name="Somchai Jaidee", native_name="สมชาย ใจดี")
    page = _page(app, completed.trainee_email)
    block = _record_block(page, completed.record_id)
    assert "Programme P-" in block and "Sponsor P-" in block
    assert completed.code in block and f"/verify/{completed.code}" in block
    assert f"/records/{completed.record_id}/credential.json" in block
    assert "0.17" in block  # study hours: one lesson of 10 minutes
    assert "Valid" in block
    assert other.code not in page and f"record-{other.record_id}" not in page
    # linked from the navigation
    assert 'href="/records"' in page


def test_states_valid_revoked_and_replaced(app: Flask, make_user, completed: Completed):
    second = complete_programme(app, make_user, name="Hanako Yamada", email="hanako2@example.org")
    admin = app.test_client()
    login(admin, make_user(Role.ADMIN).email)
    admin.post(f"/admin/records/{completed.record_id}/reissue")
    admin.post(f"/admin/records/{second.record_id}/revoke", data={"reason": "Duplicate"})

    page = _page(app, completed.trainee_email)
    assert "Replaced by a newer record" in _record_block(page, completed.record_id)
    new_ids = [int(i) for i in re.findall(r'aria-labelledby="record-(\d+)"', page)]
    (new_id,) = set(new_ids) - {completed.record_id}
    assert "Valid" in _record_block(page, new_id)
    revoked = _record_block(_page(app, "hanako2@example.org"), second.record_id)
    assert "Revoked on" in revoked and "Valid" not in revoked
    # A revoked or replaced record's credential is no longer handed out to the trainee
    # (its replacement's is); admins can still fetch it.
    assert "credential.json" not in revoked
    assert f"/records/{new_id}/credential.json" in _record_block(page, new_id)
    trainee = app.test_client()
    login(trainee, completed.trainee_email)
    assert trainee.get(f"/records/{completed.record_id}/credential.json").status_code == 404
    assert trainee.get(f"/records/{new_id}/credential.json").status_code == 200
    assert admin.get(f"/records/{completed.record_id}/credential.json").status_code == 200


def test_completed_courses_are_listed_without_made_up_scores(app: Flask, completed: Completed):
    page = _page(app, completed.trainee_email)
    section = page.split('id="course-records"', 1)[1]
    assert re.search(r"C-[0-9a-f]{4,}", section)  # the course code
    assert "2026" in section  # its completion date
    assert "No score recorded" in section


def test_a_user_without_records_sees_an_empty_page(app: Flask, make_user):
    user = make_user(Role.TRAINEE)
    page = _page(app, user.email)
    assert "You have no completion records yet" in page
    assert "You have not completed a course yet" in page


def test_the_page_needs_a_login(client):
    response = client.get("/records")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
