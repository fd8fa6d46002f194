"""A live server and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from lms.db import Base, get_engine
from lms.demo import load_demo
from tests.conftest import IN_CI, build_app

CHROMIUM_NAMES = ("chromium", "chromium-browser")
DEMO_PASSWORD = "browser-demo-password"


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if IN_CI:
        pytest.fail("Chromium is not installed; .ci/run installs Debian's chromium package")
    pytest.skip("Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """The demo, served on a free loopback port for the duration of one test."""
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'browser.db'}", WTF_CSRF_ENABLED=True)
    Base.metadata.create_all(get_engine(app))
    load_demo(app, DEMO_PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        get_engine(app).dispose()


def watch_csp(page):
    """Collect the browser's Content-Security-Policy complaints in ``page.csp_violations``."""
    page.csp_violations = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda message: (
            page.csp_violations.append(message.text)  # type: ignore[attr-defined]
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return page


def new_phone_page(browser):
    """A 360-pixel-wide page in a fresh context, watching the CSP; returns (context, page)."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-GB")
    return context, watch_csp(context.new_page())


@pytest.fixture
def page(browser, live_server: str):
    context, page = new_phone_page(browser)
    yield page
    context.close()


os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
