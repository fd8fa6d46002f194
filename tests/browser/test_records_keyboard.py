"""In a browser on a phone, by keyboard: a trainee finds "My records" and downloads the
credential, which then verifies against the key the server publishes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from lms.accounts.models import Role
from lms.accounts.services import create_user
from lms.credentials.cli import credentials_group
from lms.db import Base, get_engine, new_session
from tests.browser.conftest import new_phone_page
from tests.conftest import PASSWORD, build_app
from tests.credentials.conftest import Completed, complete_programme


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Completed]]:
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'records.db'}", WTF_CSRF_ENABLED=True)
    Base.metadata.create_all(get_engine(app))
    counter = iter(range(1, 100))

    def make_user(*roles: Role, email: str | None = None, **fields: object):
        with new_session(app) as session:
            user = create_user(
                session,
                email=email or f"user{next(counter)}@example.org",
                name=str(fields.pop("name", "Test User")),
                roles=roles or (Role.TRAINEE,),
                password=PASSWORD,
                **fields,  # type: ignore[arg-type]
            )
            session.commit()
            return user

    with app.app_context():
        done = complete_programme(app, make_user, name="Nguyen Van An", native_name="Nguyễn Văn An")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", done
    finally:
        server.shutdown()
        get_engine(app).dispose()


def test_trainee_downloads_the_credential_by_keyboard_on_a_phone(
    browser,  # noqa: F811
    served: tuple[str, Completed],
    tmp_path: Path,
) -> None:
    base, done = served
    context, page = new_phone_page(browser)
    try:
        page.goto(base + "/login")
        # autofocus only applies in a focused window; other tests share this browser.
        page.focus("input[name=email]")
        page.keyboard.type(done.trainee_email)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/")
        page.get_by_role("link", name="My records").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/records")
        assert page.get_by_text(done.code).is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.get_by_role("link", name="Download the verifiable credential (JSON)").focus()
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == f"kenshu-credential-{done.code}.json"
        assert page.csp_violations == []
    finally:
        context.close()
    result = CliRunner().invoke(
        credentials_group,
        [
            "verify",
            str(saved),
            "--keys",
            base + "/credentials/keys",
            "--status",
            base + "/credentials/status/1",
        ],
    )
    assert (result.exit_code, result.output) == (0, "valid\n")
