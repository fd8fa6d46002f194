"""The admin's user pages: roles, deactivation, the audit trail."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from lms.accounts.models import Role
from lms.programs.models import Sponsor
from tests.accounts.conftest import audit, flashes, reload_user, signed_in
from tests.conftest import login


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user(Role.ADMIN, email="admin@example.org")
    client = app.test_client()
    assert login(client, admin.email).status_code == 302
    client.admin = admin  # type: ignore[attr-defined]
    return client


def save_user(client, user_id: int, roles: list[str], *, active: bool = True, sponsor: str = ""):
    data: dict[str, object] = {"roles": roles, "sponsor": sponsor}
    if active:
        data["active"] = "y"
    return client.post(f"/admin/users/{user_id}", data=data)


def test_admin_sees_the_user_list_and_detail(admin_client, make_user):
    trainee = make_user(name="Grace Wanjiru", native_name="グレース")
    page = admin_client.get("/admin/users?q=grace")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Grace Wanjiru" in html
    assert "admin@example.org" not in html  # filtered out by the search
    detail = admin_client.get(f"/admin/users/{trainee.id}")
    assert detail.status_code == 200
    assert "グレース" in detail.get_data(as_text=True)
    assert admin_client.get("/admin/users/999999").status_code == 404


def test_deactivating_a_user_signs_them_out(app, admin_client, make_user, db):
    trainee = make_user()
    trainee_client = app.test_client()
    login(trainee_client, trainee.email)
    assert signed_in(trainee_client)

    response = save_user(admin_client, trainee.id, ["trainee"], active=False)
    assert response.status_code == 302
    assert not reload_user(db, trainee.id).active

    # Their existing session ends on the next request...
    response = trainee_client.get("/account")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    # ...and they cannot sign in again.
    login(trainee_client, trainee.email)
    assert not signed_in(trainee_client)

    [event] = audit(db, "user_deactivated")
    assert event.actor_id == admin_client.admin.id
    assert event.subject == trainee.email
    assert audit(db, "roles_changed") == []  # roles were left as they were

    # Reactivated, they can sign in again.
    assert save_user(admin_client, trainee.id, ["trainee"], active=True).status_code == 302
    login(trainee_client, trainee.email)
    assert signed_in(trainee_client)
    assert len(audit(db, "user_activated")) == 1


def test_role_changes_are_audited(admin_client, make_user, db):
    user = make_user()
    response = save_user(admin_client, user.id, ["trainee", "instructor"])
    assert response.status_code == 302
    assert reload_user(db, user.id).role_names == {"trainee", "instructor"}
    [event] = audit(db, "roles_changed")
    assert event.actor_id == admin_client.admin.id
    assert event.subject == user.email
    assert event.details["before"] == ["trainee"]
    assert event.details["after"] == ["instructor", "trainee"]

    # Saving the same roles again records nothing new.
    assert save_user(admin_client, user.id, ["trainee", "instructor"]).status_code == 302
    assert len(audit(db, "roles_changed")) == 1


def test_sponsor_staff_need_a_sponsor(admin_client, make_user, db):
    user = make_user()
    response = save_user(admin_client, user.id, ["sponsor"])
    assert response.status_code == 400
    assert ("error", "Sponsor staff must belong to a sponsor.") in flashes(
        response.get_data(as_text=True)
    )
    assert reload_user(db, user.id).role_names == {"trainee"}

    sponsor = Sponsor(name="Asian Cities Development Bank", kind="bank")
    db.add(sponsor)
    db.commit()
    assert save_user(admin_client, user.id, ["sponsor"], sponsor=str(sponsor.id)).status_code == 302
    saved = reload_user(db, user.id)
    assert (saved.role_names, saved.sponsor_id) == ({"sponsor"}, sponsor.id)
    assert audit(db, "roles_changed")[-1].details["sponsor_id"] == sponsor.id


def test_admin_cannot_remove_their_own_admin_role(admin_client, db):
    admin = admin_client.admin
    response = save_user(admin_client, admin.id, ["trainee"])
    assert response.status_code == 400
    assert ("error", "You cannot remove your own administrator role.") in flashes(
        response.get_data(as_text=True)
    )
    assert reload_user(db, admin.id).role_names == {"admin"}
    assert audit(db, "roles_changed") == []
    assert admin_client.get("/admin/users").status_code == 200


def test_admin_cannot_deactivate_themselves(admin_client, db):
    admin = admin_client.admin
    response = save_user(admin_client, admin.id, ["admin"], active=False)
    assert response.status_code == 400
    assert ("error", "You cannot deactivate your own account.") in flashes(
        response.get_data(as_text=True)
    )
    assert reload_user(db, admin.id).active
    assert signed_in(admin_client)


def test_another_admin_can_be_demoted(app, admin_client, make_user, db):
    other = make_user(Role.ADMIN)
    assert save_user(admin_client, other.id, ["instructor"]).status_code == 302
    assert reload_user(db, other.id).role_names == {"instructor"}


@pytest.mark.parametrize("role", ["trainee", "instructor", "sponsor"])
def test_only_admins_reach_admin_pages(app, make_user, db, role):
    sponsor_id = None
    if role == "sponsor":
        sponsor = Sponsor(name="Ministry of Urban Environment", kind="ministry")
        db.add(sponsor)
        db.commit()
        sponsor_id = sponsor.id
    user = make_user(role, sponsor_id=sponsor_id)
    victim = make_user()
    client = app.test_client()
    login(client, user.email)
    for path in ("/admin/users", f"/admin/users/{victim.id}", "/admin/invitations", "/admin/audit"):
        assert client.get(path).status_code == 403, path
    assert save_user(client, victim.id, ["admin"]).status_code == 403
    assert reload_user(db, victim.id).role_names == {"trainee"}


def test_audit_log_lists_events(admin_client, make_user):
    user = make_user()
    save_user(admin_client, user.id, ["instructor"])
    page = admin_client.get("/admin/audit?action=roles_changed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert user.email in html
    assert "roles_changed" in html
