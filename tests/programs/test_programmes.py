"""Sponsors, programmes, their courses and enrolments: the admin pages and the sponsor portal."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from lms.audit.models import AuditEvent
from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor
from tests.conftest import csrf_token_from, login


def count(db, model) -> int:
    db.rollback()  # end the read snapshot: see what the requests committed
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin", email="admin@example.org", name="Office Admin")
    assert login(client, user.email).status_code == 302
    return user


def programme_form(sponsor_id, **changes):
    data = {
        "code": "tky-2025-02",
        "title": "Incineration plants",
        "sponsor": str(sponsor_id),
        "starts_on": "2025-05-01",
        "ends_on": "2025-07-31",
    }
    data.update(changes)
    return data


# --- sponsors ------------------------------------------------------------------------


def test_admin_creates_and_edits_a_sponsor(client, db, admin):
    page = client.get("/admin/sponsors")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Development bank" in html  # the kinds carry translated labels
    assert "No sponsors yet." in html

    response = client.post(
        "/admin/sponsors",
        data={
            "name": "  Asian Development Bank ",
            "kind": "bank",
            "contact_name": "Ms Contact",
            "contact_email": "Contact@ADB.example",
        },
    )
    assert response.status_code == 302
    db.rollback()
    sponsor = db.scalar(select(Sponsor))
    assert (sponsor.name, sponsor.kind, sponsor.contact_email) == (
        "Asian Development Bank",
        "bank",
        "contact@adb.example",
    )
    assert response.headers["Location"].endswith(f"/admin/sponsors/{sponsor.id}")
    assert "Asian Development Bank" in client.get("/admin/sponsors").get_data(as_text=True)

    response = client.post(
        f"/admin/sponsors/{sponsor.id}",
        data={"name": "ADB", "kind": "agency", "contact_name": "", "contact_email": ""},
    )
    assert response.status_code == 302
    db.rollback()
    db.refresh(sponsor)
    assert (sponsor.name, sponsor.kind, sponsor.contact_name) == ("ADB", "agency", "")


def test_sponsor_page_lists_its_programmes_and_staff(
    client, db, admin, make_user, make_sponsor, make_programme
):
    sponsor = make_sponsor("JICA", "agency")
    other = make_sponsor("World Bank", "bank")
    make_programme(sponsor, code="JICA-1", title="Landfill management")
    make_programme(other, code="WB-1", title="Recycling markets")
    make_user("sponsor", name="Sato Staff", sponsor_id=sponsor.id)
    make_user("sponsor", name="Other Staff", sponsor_id=other.id)

    page = client.get(f"/admin/sponsors/{sponsor.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Landfill management" in html and "Sato Staff" in html
    assert "Recycling markets" not in html and "Other Staff" not in html
    assert 'value="JICA"' in html  # the edit form is filled in
    assert client.get("/admin/sponsors/999").status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "jica", "kind": "agency"}, "A sponsor with this name already exists."),
        ({"name": "New one", "kind": "palace"}, "Not a valid choice"),
        ({"name": "", "kind": "bank"}, "This field is required."),
        ({"name": "New one", "kind": "bank", "contact_email": "nope"}, "Invalid email address."),
    ],
)
def test_bad_sponsor_input_is_refused_and_writes_nothing(
    client, db, admin, make_sponsor, data, message
):
    make_sponsor("JICA", "agency")
    response = client.post("/admin/sponsors", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "Nothing was saved" in html
    assert count(db, Sponsor) == 1


def test_editing_a_sponsor_to_a_taken_name_changes_nothing(client, db, admin, make_sponsor):
    first = make_sponsor("JICA", "agency")
    second = make_sponsor("World Bank", "bank")
    response = client.post(
        f"/admin/sponsors/{second.id}",
        data={"name": "JICA", "kind": "other", "contact_name": "X"},
    )
    assert response.status_code == 400
    assert "A sponsor with this name already exists." in response.get_data(as_text=True)
    db.rollback()
    assert db.get(Sponsor, second.id).name == "World Bank"
    assert db.get(Sponsor, second.id).kind == "bank"
    assert db.get(Sponsor, first.id).name == "JICA"


# --- programmes ----------------------------------------------------------------------


def test_admin_creates_and_edits_a_programme(client, db, admin, make_sponsor):
    sponsor = make_sponsor()
    other = make_sponsor("JICA", "agency")
    page = client.get("/admin/programmes")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'type="date"' in html and 'name="starts_on"' in html

    response = client.post("/admin/programmes", data=programme_form(sponsor.id))
    assert response.status_code == 302
    db.rollback()
    programme = db.scalar(select(Programme))
    assert programme.code == "TKY-2025-02"
    assert (programme.starts_on, programme.ends_on) == (date(2025, 5, 1), date(2025, 7, 31))
    assert response.headers["Location"].endswith(f"/admin/programmes/{programme.id}")
    assert "Incineration plants" in client.get("/admin/programmes").get_data(as_text=True)

    detail = client.get(f"/admin/programmes/{programme.id}").get_data(as_text=True)
    assert 'value="TKY-2025-02"' in detail and 'value="2025-05-01"' in detail

    response = client.post(
        f"/admin/programmes/{programme.id}",
        data=programme_form(other.id, code="TKY-2025-02", title="Plants", ends_on="2025-08-31"),
    )
    assert response.status_code == 302
    db.rollback()
    db.refresh(programme)
    assert (programme.title, programme.sponsor_id, programme.ends_on) == (
        "Plants",
        other.id,
        date(2025, 8, 31),
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "tky-2025-01"}, "A programme with this code already exists."),
        ({"ends_on": "2025-04-30"}, "The programme cannot end before it starts."),
        ({"sponsor": "999"}, "Unknown sponsor."),
        ({"sponsor": "abc"}, "Unknown sponsor."),
        ({"title": ""}, "This field is required."),
        ({"starts_on": "31/12/2025"}, "Not a valid date value."),
    ],
)
def test_bad_programme_input_is_refused_and_writes_nothing(
    client, db, admin, make_sponsor, make_programme, changes, message
):
    sponsor = make_sponsor()
    make_programme(sponsor, code="TKY-2025-01")
    response = client.post("/admin/programmes", data=programme_form(sponsor.id, **changes))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'aria-invalid="true"' in html  # the message sits by the field at fault
    assert count(db, Programme) == 1


def test_editing_a_programme_with_bad_dates_changes_nothing(
    client, db, admin, make_sponsor, make_programme
):
    sponsor = make_sponsor()
    programme = make_programme(sponsor, code="TKY-2025-01", title="Waste basics")
    response = client.post(
        f"/admin/programmes/{programme.id}",
        data=programme_form(sponsor.id, code="TKY-2025-01", title="Renamed", ends_on="2020-01-01"),
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The programme cannot end before it starts." in html
    assert 'value="Renamed"' in html  # the input is kept for correction
    db.rollback()
    assert db.get(Programme, programme.id).title == "Waste basics"


def test_programme_form_asks_for_a_sponsor_first(client, admin):
    html = client.get("/admin/programmes").get_data(as_text=True)
    assert "Create a sponsor first." in html
    assert 'name="code"' not in html


def test_missing_programme_is_404(client, admin):
    assert client.get("/admin/programmes/999").status_code == 404
    assert client.post("/admin/programmes/999/courses", data={"course": "1"}).status_code == 404
    assert client.get("/sponsor/programmes/999").status_code == 404


# --- courses in a programme ----------------------------------------------------------


def positions(db, programme_id) -> list[tuple[str, int, bool]]:
    db.rollback()
    rows = db.scalars(
        select(ProgrammeCourse)
        .where(ProgrammeCourse.programme_id == programme_id)
        .order_by(ProgrammeCourse.position)
    )
    return [(pc.course.code, pc.position, pc.required) for pc in rows]


def item_id(db, programme_id, code) -> int:
    db.rollback()
    return next(
        pc.id
        for pc in db.scalars(
            select(ProgrammeCourse).where(ProgrammeCourse.programme_id == programme_id)
        )
        if pc.course.code == code
    )


def test_a_programme_works_without_courses(client, admin, make_sponsor, make_programme):
    programme = make_programme(make_sponsor())
    html = client.get(f"/admin/programmes/{programme.id}").get_data(as_text=True)
    assert "No courses exist yet." in html
    assert "This programme has no course yet." in html


def test_courses_are_added_moved_toggled_and_removed(
    client, db, admin, make_sponsor, make_programme, make_course
):
    programme = make_programme(make_sponsor())
    a, b, c = make_course("A"), make_course("B"), make_course("C")
    base = f"/admin/programmes/{programme.id}/courses"

    assert client.post(base, data={"course": str(a.id), "required": "y"}).status_code == 302
    assert client.post(base, data={"course": str(b.id)}).status_code == 302  # optional
    assert client.post(base, data={"course": str(c.id), "required": "y"}).status_code == 302
    assert positions(db, programme.id) == [("A", 0, True), ("B", 1, False), ("C", 2, True)]

    html = client.get(f"/admin/programmes/{programme.id}").get_data(as_text=True)
    assert "Every course is already in this programme." in html
    assert "Move up" in html and "Move down" in html

    # adding the same course again is refused
    response = client.post(base, data={"course": str(a.id), "required": "y"})
    assert response.status_code == 400
    assert "This course is already in the programme." in response.get_data(as_text=True)
    response = client.post(base, data={"course": "999"})
    assert response.status_code == 400
    assert "Unknown course." in response.get_data(as_text=True)

    item_c = item_id(db, programme.id, "C")
    assert client.post(f"{base}/{item_c}/move", data={"direction": "up"}).status_code == 302
    assert positions(db, programme.id) == [("A", 0, True), ("C", 1, True), ("B", 2, False)]
    assert client.post(f"{base}/{item_c}/move", data={"direction": "up"}).status_code == 302
    assert (
        client.post(f"{base}/{item_c}/move", data={"direction": "up"}).status_code == 302
    )  # already first: no change
    assert positions(db, programme.id) == [("C", 0, True), ("A", 1, True), ("B", 2, False)]
    item_a = item_id(db, programme.id, "A")
    assert client.post(f"{base}/{item_a}/move", data={"direction": "down"}).status_code == 302
    assert positions(db, programme.id) == [("C", 0, True), ("B", 1, False), ("A", 2, True)]
    response = client.post(f"{base}/{item_a}/move", data={"direction": "sideways"})
    assert response.status_code == 400
    assert positions(db, programme.id) == [("C", 0, True), ("B", 1, False), ("A", 2, True)]

    item_b = item_id(db, programme.id, "B")
    assert client.post(f"{base}/{item_b}/required", data={"required": "1"}).status_code == 302
    assert client.post(f"{base}/{item_a}/required", data={"required": "0"}).status_code == 302
    assert positions(db, programme.id) == [("C", 0, True), ("B", 1, True), ("A", 2, False)]

    assert client.post(f"{base}/{item_c}/remove").status_code == 302
    assert positions(db, programme.id) == [("B", 0, True), ("A", 1, False)]

    # an item of another programme, or one already removed, is refused
    response = client.post(f"{base}/{item_c}/remove")
    assert response.status_code == 400
    assert "This course is not in the programme." in response.get_data(as_text=True)
    assert positions(db, programme.id) == [("B", 0, True), ("A", 1, False)]


def test_course_buttons_are_forms_with_a_csrf_token(
    app_factory, make_user, make_sponsor, make_programme, make_course, client
):
    """With CSRF on (as in production) every row button carries a token; without one, 400."""
    secured = app_factory(WTF_CSRF_ENABLED=True)
    browser = secured.test_client()
    admin_user = make_user("admin")
    programme = make_programme(make_sponsor())
    course = make_course("A")
    login_page = browser.get("/login").get_data(as_text=True)
    login(browser, admin_user.email, csrf_token=csrf_token_from(login_page))

    page = browser.get(f"/admin/programmes/{programme.id}").get_data(as_text=True)
    token = csrf_token_from(page)
    url = f"/admin/programmes/{programme.id}/courses"
    assert browser.post(url, data={"course": str(course.id)}).status_code == 400
    assert (
        browser.post(url, data={"course": str(course.id), "csrf_token": token}).status_code == 302
    )
    page = browser.get(f"/admin/programmes/{programme.id}").get_data(as_text=True)
    forms = re.findall(r"<form [^>]*method=\"post\".*?</form>", page, flags=re.S)
    assert len(forms) == 6  # sign out, language, edit, 2 row buttons, enrol
    assert all("csrf_token" in form for form in forms)


# --- enrolments ----------------------------------------------------------------------


def test_enrol_a_trainee_and_change_the_status(
    client, db, admin, make_user, make_sponsor, make_programme
):
    programme = make_programme(make_sponsor())
    trainee = make_user("trainee", email="amani@city.example", name="Amani Njoroge", country="KE")
    url = f"/admin/programmes/{programme.id}/enrolments"

    response = client.post(url, data={"email": " Amani@City.example "})
    assert response.status_code == 302
    db.rollback()
    enrolment = db.scalar(select(Enrolment))
    assert (enrolment.user_id, enrolment.status) == (trainee.id, "active")
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "enrolled"))
    assert event.actor_id == admin.id and event.subject == "amani@city.example"
    assert event.details == {"programme": programme.code}

    html = client.get(f"/admin/programmes/{programme.id}").get_data(as_text=True)
    assert "Amani Njoroge" in html and "amani@city.example" in html and "Kenya" in html

    response = client.post(f"{url}/{enrolment.id}/status", data={"status": "completed"})
    assert response.status_code == 302
    db.rollback()
    db.refresh(enrolment)
    assert enrolment.status == "completed" and enrolment.completed_at is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "enrolment_status"))
    assert event.details == {"programme": programme.code, "status": "completed"}
    assert event.actor_id == admin.id

    response = client.post(f"{url}/{enrolment.id}/status", data={"status": "withdrawn"})
    assert response.status_code == 302
    db.rollback()
    db.refresh(enrolment)
    assert enrolment.status == "withdrawn"
    assert enrolment.withdrawn_at is not None and enrolment.completed_at is None

    response = client.post(f"{url}/{enrolment.id}/status", data={"status": "graduated"})
    assert response.status_code == 400
    assert "Unknown status." in response.get_data(as_text=True)
    db.rollback()
    db.refresh(enrolment)
    assert enrolment.status == "withdrawn"
    changes = db.scalars(select(AuditEvent).where(AuditEvent.action == "enrolment_status"))
    assert [e.details["status"] for e in changes] == ["completed", "withdrawn"]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nobody@example.org", "No account uses this email address."),
        ("teacher@example.org", "Only trainees can be enrolled."),
        ("already@example.org", "This trainee is already enrolled."),
        ("", "This field is required."),
    ],
)
def test_bad_enrolments_are_refused_and_write_nothing(
    client, db, admin, make_user, make_sponsor, make_programme, enrol_directly, email, message
):
    programme = make_programme(make_sponsor())
    make_user("instructor", email="teacher@example.org")
    already = make_user("trainee", email="already@example.org")
    enrol_directly(programme, already.id)
    events = count(db, AuditEvent)

    response = client.post(f"/admin/programmes/{programme.id}/enrolments", data={"email": email})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'aria-invalid="true"' in html
    assert count(db, Enrolment) == 1
    assert count(db, AuditEvent) == events


def test_status_of_another_programmes_enrolment_is_404(
    client, db, admin, make_user, make_sponsor, make_programme, enrol_directly
):
    sponsor = make_sponsor()
    first = make_programme(sponsor, code="P-1")
    second = make_programme(sponsor, code="P-2")
    enrolment = enrol_directly(second, make_user("trainee").id)
    response = client.post(
        f"/admin/programmes/{first.id}/enrolments/{enrolment.id}/status",
        data={"status": "completed"},
    )
    assert response.status_code == 404
    db.rollback()
    assert db.get(Enrolment, enrolment.id).status == "active"


# --- the sponsor portal --------------------------------------------------------------


@pytest.fixture
def two_sponsors(make_user, make_sponsor, make_programme, enrol_directly):
    ours = make_sponsor("Ministry of Environment", "ministry")
    theirs = make_sponsor("Development Bank", "bank")
    our_programme = make_programme(ours, code="OURS-1", title="Our programme")
    their_programme = make_programme(theirs, code="THEIRS-1", title="Their programme")
    enrol_directly(
        our_programme,
        make_user(
            "trainee",
            name="Nguyen Van An",
            native_name="Nguyễn Văn An",
            country="VN",
            organisation="Hanoi URENCO",
        ).id,
    )
    enrol_directly(our_programme, make_user("trainee", name="Siti Rahma").id, "completed")
    enrol_directly(their_programme, make_user("trainee", name="Hidden Trainee").id)
    staff = make_user("sponsor", email="staff@ministry.example", sponsor_id=ours.id)
    return staff, our_programme, their_programme


def test_sponsor_staff_see_their_own_programme_only(client, two_sponsors):
    staff, ours, theirs = two_sponsors
    login(client, staff.email)

    page = client.get(f"/sponsor/programmes/{ours.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("Our programme", "Nguyen Van An", "Nguyễn Văn An", "Vietnam", "Hanoi URENCO"):
        assert text in html
    assert "Siti Rahma" in html and "Completed" in html
    assert "Hidden Trainee" not in html

    assert client.get(f"/sponsor/programmes/{theirs.id}").status_code == 403

    listing = client.get("/sponsor").get_data(as_text=True)
    assert "Our programme" in listing and "Their programme" not in listing


def test_admin_sees_every_programme_in_the_portal(client, admin, two_sponsors):
    _staff, ours, theirs = two_sponsors
    assert client.get(f"/sponsor/programmes/{theirs.id}").status_code == 200
    listing = client.get("/sponsor").get_data(as_text=True)
    assert "Our programme" in listing and "Their programme" in listing


def test_sponsor_staff_without_a_sponsor_see_nothing(client, make_user, two_sponsors):
    _staff, ours, _theirs = two_sponsors
    loose = make_user("sponsor")
    login(client, loose.email)
    assert client.get(f"/sponsor/programmes/{ours.id}").status_code == 403
    assert "Our programme" not in client.get("/sponsor").get_data(as_text=True)


ADMIN_PAGES = [
    ("get", "/admin/sponsors"),
    ("post", "/admin/sponsors"),
    ("get", "/admin/sponsors/{sponsor}"),
    ("post", "/admin/sponsors/{sponsor}"),
    ("get", "/admin/programmes"),
    ("post", "/admin/programmes"),
    ("get", "/admin/programmes/{programme}"),
    ("post", "/admin/programmes/{programme}"),
    ("post", "/admin/programmes/{programme}/courses"),
    ("post", "/admin/programmes/{programme}/courses/1/move"),
    ("post", "/admin/programmes/{programme}/courses/1/remove"),
    ("post", "/admin/programmes/{programme}/courses/1/required"),
    ("post", "/admin/programmes/{programme}/enrolments"),
    ("post", "/admin/programmes/{programme}/enrolments/1/status"),
]
SPONSOR_PAGES = [("get", "/sponsor"), ("get", "/sponsor/programmes/{programme}")]


@pytest.mark.parametrize("role", ["trainee", "instructor", "sponsor"])
def test_other_roles_are_refused_the_admin_pages(client, db, make_user, two_sponsors, role):
    _staff, ours, _theirs = two_sponsors
    user = make_user(role, sponsor_id=ours.sponsor_id if role == "sponsor" else None)
    login(client, user.email)
    programmes = count(db, Programme)
    for method, path in ADMIN_PAGES:
        url = path.format(sponsor=ours.sponsor_id, programme=ours.id)
        response = getattr(client, method)(url, data={"name": "X", "kind": "bank"})
        assert response.status_code == 403, (method, url)
    if role != "sponsor":
        for method, path in SPONSOR_PAGES:
            url = path.format(programme=ours.id)
            assert getattr(client, method)(url).status_code == 403, url
    assert count(db, Programme) == programmes


def test_anonymous_visitors_are_sent_to_sign_in(client, two_sponsors):
    _staff, ours, _theirs = two_sponsors
    for method, path in ADMIN_PAGES + SPONSOR_PAGES:
        url = path.format(sponsor=ours.sponsor_id, programme=ours.id)
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


# --- a fixed number of queries per page ----------------------------------------------


def test_pages_run_a_fixed_number_of_queries(
    client, db, admin, make_user, make_sponsor, make_programme, make_course, count_queries
):
    sponsor = make_sponsor()
    programme = make_programme(sponsor)
    staff = make_user("sponsor", sponsor_id=sponsor.id)
    pages = [
        "/admin/sponsors",
        f"/admin/sponsors/{sponsor.id}",
        "/admin/programmes",
        f"/admin/programmes/{programme.id}",
        f"/sponsor/programmes/{programme.id}",
        "/sponsor",
    ]

    def grow(n: int) -> None:
        """Add ``n`` trainees, courses, staff and programmes."""
        start = count(db, Enrolment)
        for i in range(start, start + n):
            trainee = make_user("trainee", name=f"Trainee {i}", country="TH")
            db.add(Enrolment(programme_id=programme.id, user_id=trainee.id))
            make_user("sponsor", sponsor_id=sponsor.id)
            course = make_course(f"C{i}")
            db.add(ProgrammeCourse(programme_id=programme.id, course_id=course.id, position=i))
            other = make_sponsor(f"Sponsor {i}")
            db.add(
                Programme(
                    code=f"X-{i}",
                    title="Extra",
                    sponsor_id=other.id,
                    starts_on=date(2025, 1, 1),
                    ends_on=date(2025, 2, 1),
                )
            )
        db.commit()

    def measure() -> dict[str, int]:
        counts = {}
        for url in pages:
            with count_queries() as statements:
                assert client.get(url).status_code == 200, url
            counts[url] = len(statements)
        return counts

    grow(1)
    small = measure()
    grow(5)
    large = measure()
    assert small == large

    # the sponsor's own view of the same pages
    login(client, staff.email)
    for url in pages[-2:]:
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        before = len(statements)
        grow(3)
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        assert len(statements) == before, url
