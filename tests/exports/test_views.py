"""The sponsor portal pages and the completion-list downloads, as every kind of visitor.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from sqlalchemy import select

from lms.accounts.models import Role
from lms.audit.models import AuditEvent
from lms.db import new_session
from lms.exports import views as export_views
from lms.exports.portal import programme_counts, programme_overview
from lms.programs.models import Enrolment, Programme
from tests.conftest import login
from tests.exports.conftest import World
from tests.learning.test_completion import finish, make_course, make_programme


def signed_in(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def csv_lines(response) -> list[list[str]]:
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def audit_events(app) -> list[AuditEvent]:
    with new_session(app) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)
            )
        )


def test_sponsor_downloads_a_filtered_csv_and_it_is_audited(app, world: World):
    client = signed_in(app, world.staff_email)
    url = f"/sponsor/programmes/{world.programme_id}/completions.csv"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'filename="completions-JP-2026-01-' in response.headers["Content-Disposition"]
    lines = csv_lines(response)
    assert [line[2] for line in lines[1:]] == [
        "hanako@example.org",
        "somchai@example.org",
        "maria@example.org",
        "ahmed@example.org",
    ]
    assert lines[1][1] == "山田 花子" and lines[2][1] == "สมชาย ใจดี"

    response = client.get(url, query_string={"status": "valid", "country": "BR"})
    assert [line[2] for line in csv_lines(response)[1:]] == ["maria@example.org"]
    response = client.get(url, query_string={"since": "2026-03-02", "until": "2026-04-02"})
    assert [line[2] for line in csv_lines(response)[1:]] == [
        "somchai@example.org",
        "maria@example.org",
    ]

    # Asking for the headers only (HEAD) downloads nothing and is not audited.
    assert client.head(url).status_code == 200

    events = audit_events(app)
    assert len(events) == 3
    assert events[0].subject == "JP-2026-01"
    assert events[0].details["format"] == "csv"
    assert events[0].details["rows"] == 4
    assert events[0].details["sponsor_id"] == world.sponsor_id
    assert events[1].details["country"] == "BR" and events[1].details["status"] == "valid"
    assert events[1].details["rows"] == 1
    assert events[2].details["since"] == "2026-03-02"


def test_sponsor_downloads_xlsx(app, world: World, tmp_path):
    client = signed_in(app, world.staff_email)
    response = client.get(
        f"/sponsor/programmes/{world.programme_id}/completions.xlsx",
        query_string={"status": "revoked"},
    )
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    path = tmp_path / "list.xlsx"
    path.write_bytes(response.get_data())
    values = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    assert [row[2] for row in values[1:]] == ["somchai@example.org"]
    assert values[1][1] == "สมชาย ใจดี"
    assert audit_events(app)[0].details["format"] == "xlsx"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-05-01", "until": "2026-04-01"}, "The end date is before the start date."),
        ({"since": "yesterday"}, "Not a valid date value."),
        ({"status": "everything"}, "Not a valid choice."),
        ({"country": "XX"}, "Not a valid choice."),
    ],
)
def test_bad_filters_are_refused_and_nothing_is_sent(app, world: World, query, message):
    client = signed_in(app, world.staff_email)
    response = client.get(
        f"/sponsor/programmes/{world.programme_id}/completions.csv", query_string=query
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert message in html
    assert 'aria-invalid="true"' in html
    assert audit_events(app) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_nobody_else_gets_a_list(app, world: World, make_user, fmt):
    """Another sponsor's staff, a trainee and an instructor: 403; a guessed id: 404."""
    own = f"/sponsor/programmes/{world.programme_id}/completions.{fmt}"
    instructor = make_user(Role.INSTRUCTOR, email="teacher@example.org")
    for email in (world.other_staff_email, world.trainee_email, instructor.email):
        client = signed_in(app, email)
        response = client.get(own)
        assert response.status_code == 403, email
        assert b"hanako" not in response.get_data()
        assert client.get(f"/sponsor/programmes/{world.programme_id}").status_code == 403
    client = signed_in(app, world.staff_email)
    # The other sponsor's programme, and ids that do not exist.
    response = client.get(f"/sponsor/programmes/{world.other_programme_id}/completions.{fmt}")
    assert response.status_code == 403
    assert b"pedro" not in response.get_data()
    for guess in (world.other_programme_id + 100, 0):
        assert client.get(f"/sponsor/programmes/{guess}/completions.{fmt}").status_code == 404
    anonymous = app.test_client().get(own)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert audit_events(app) == []


def test_admin_may_download_any_programme(app, world: World):
    client = signed_in(app, world.admin_email)
    response = client.get(f"/sponsor/programmes/{world.other_programme_id}/completions.csv")
    assert [line[2] for line in csv_lines(response)[1:]] == ["pedro@example.org"]


def test_sponsor_home_lists_only_own_programmes_with_counts(app, world: World):
    html = signed_in(app, world.staff_email).get("/sponsor").get_data(as_text=True)
    assert "Waste management 2026" in html and "Recycling 2026" in html
    assert "Bank programme" not in html
    other = signed_in(app, world.other_staff_email).get("/sponsor").get_data(as_text=True)
    assert "Bank programme" in other and "Waste management 2026" not in other


def test_programme_page_shows_counts_chart_trainees_and_the_filter_form(app, world: World):
    html = (
        signed_in(app, world.staff_email)
        .get(f"/sponsor/programmes/{world.programme_id}")
        .get_data(as_text=True)
    )
    assert "山田 花子" in html and "Pedro Other" not in html
    assert "4 completion records issued." in html
    assert '<form method="get"' in html
    assert f'formaction="/sponsor/programmes/{world.programme_id}/completions.xlsx"' in html
    for name in ("since", "until", "status", "country"):
        assert f'name="{name}"' in html
    assert 'type="date"' in html
    # Countries offered are those of the programme's trainees.
    assert '<option value="TH">' in html and '<option value="EG">' in html
    assert 'role="img"' in html and "<title" in html  # the chart says what it shows
    assert "style=" not in html and "<script" not in html.split("</header>")[-1]


def test_progress_counts_and_distribution(app, make_user):
    """Real progress: one trainee halfway, one not started, one withdrawn, one completed."""
    instructor = make_user(Role.INSTRUCTOR)
    halfway = make_user(Role.TRAINEE, name="Halfway Trainee")
    idle = make_user(Role.TRAINEE, name="Idle Trainee")
    gone = make_user(Role.TRAINEE, name="Gone Trainee")
    done = make_user(Role.TRAINEE, name="Done Trainee")
    built = make_course(app, instructor.id, [[("reading", True), ("reading", True)]])
    programme_id = make_programme(
        app, [(built.course_id, True)], [halfway.id, idle.id, gone.id, done.id]
    )
    finish(app, halfway.id, built.lessons[0])
    finish(app, done.id, built.lessons[0])
    finish(app, done.id, built.lessons[1])
    with new_session(app) as session:
        enrolment = session.scalar(select(Enrolment).where(Enrolment.user_id == gone.id))
        enrolment.status = "withdrawn"
        sponsor_id = session.get(Programme, programme_id).sponsor_id
        session.commit()

    with new_session(app) as session:
        overview = programme_overview(session, programme_id)
        counts = programme_counts(session, [programme_id])[programme_id]
    assert overview.counts == {
        "enrolled": 4,
        "not_started": 1,
        "in_progress": 1,
        "completed": 1,
        "withdrawn": 1,
    }
    assert counts == overview.counts
    by_name = {t.name: t for t in overview.trainees}
    assert by_name["Halfway Trainee"].percent == 50
    assert (by_name["Halfway Trainee"].lessons_done, by_name["Halfway Trainee"].lessons_total) == (
        1,
        2,
    )
    assert by_name["Done Trainee"].percent == 100 and by_name["Done Trainee"].courses_done == 1
    assert by_name["Idle Trainee"].percent == 0
    bars = {(bar.low, bar.high): bar.count for bar in overview.distribution.bars}
    assert overview.distribution.total == 3  # the withdrawn trainee is left out
    assert bars[(0, 0)] == 1 and bars[(50, 74)] == 1 and bars[(100, 100)] == 1
    assert overview.records == 1

    staff = make_user(Role.SPONSOR, email="staff@sponsor.example", sponsor_id=sponsor_id)
    html = (
        signed_in(app, staff.email)
        .get(f"/sponsor/programmes/{programme_id}")
        .get_data(as_text=True)
    )
    assert '<progress max="100" value="50"' in html
    assert "1 of 2 lessons" in html


def test_trainee_list_is_paged(app, world: World, monkeypatch):
    monkeypatch.setattr(export_views, "TRAINEES_PER_PAGE", 2)
    client = signed_in(app, world.staff_email)
    url = f"/sponsor/programmes/{world.programme_id}"
    first = client.get(url).get_data(as_text=True)
    assert "Ahmed Hassan" in first and "Hanako Yamada" in first
    assert "Maria Silva" not in first and "Page 1 of 2" in first
    assert f'href="{url}?page=2#programme-trainees"' in first
    second = client.get(url, query_string={"page": 2}).get_data(as_text=True)
    assert "Maria Silva" in second and "Somchai Jaidee" in second
    assert "Hanako Yamada" not in second
    # The counts and the chart still cover everyone.
    assert '<span class="stage-count">4</span>' in second
    # Out-of-range pages show the nearest page rather than an error.
    assert "Somchai Jaidee" in client.get(url, query_string={"page": 99}).get_data(as_text=True)
