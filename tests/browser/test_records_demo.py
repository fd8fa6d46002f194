"""At the demo, on a phone: the graduate opens My records and downloads the PDF
certificate and the verifiable credential.

The demo runs with its jobs at once (``JOBS_IMMEDIATE``), as ``lms serve``'s job threads
would have built the certificate by the time the trainee looks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from lms.credentials.cli import credentials_group
from lms.db import Base, get_engine
from lms.demo import load_demo
from tests.browser.conftest import DEMO_PASSWORD, new_phone_page
from tests.conftest import build_app

GRADUATE = "trainee4@kenshu.example.org"


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    app = build_app(
        tmp_path, f"sqlite:///{tmp_path / 'records.db'}", WTF_CSRF_ENABLED=True, JOBS_IMMEDIATE=True
    )
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        get_engine(app).dispose()


def test_the_graduate_downloads_the_certificate_and_the_credential_on_a_phone(
    browser, demo_server: str, tmp_path: Path
) -> None:
    base = demo_server
    context, page = new_phone_page(browser)
    try:
        page.goto(base + "/login")
        page.fill("input[name=email]", GRADUATE)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/")
        page.goto(base + "/records")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

        with page.expect_download() as pdf_download:
            page.locator("a[href$='/certificate.pdf']").click()
        pdf = tmp_path / pdf_download.value.suggested_filename
        pdf_download.value.save_as(pdf)  # waits for the download to complete
        assert pdf.name.startswith("certificate-WTE-2026-") and pdf.suffix == ".pdf"
        assert pdf.read_bytes().startswith(b"%PDF")

        with page.expect_download() as credential_download:
            page.locator("a[href$='/credential.json']").click()
        credential = tmp_path / credential_download.value.suggested_filename
        credential_download.value.save_as(credential)
        assert credential.name.startswith("kenshu-credential-")
        assert page.csp_violations == []  # type: ignore[attr-defined]
    finally:
        context.close()
    result = CliRunner().invoke(
        credentials_group,
        [
            "verify",
            str(credential),
            "--keys",
            base + "/credentials/keys",
            "--status",
            base + "/credentials/status/1",
        ],
    )
    assert (result.exit_code, result.output) == (0, "valid\n")
