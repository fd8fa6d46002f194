"""What only a browser shows: keyboard use, a 360-pixel screen, the CSP, the language switch."""

from __future__ import annotations

from tests.browser.conftest import DEMO_PASSWORD


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_trainee_signs_in_by_keyboard_on_a_phone(page, live_server: str) -> None:
    page.goto(live_server + "/login")
    assert _no_horizontal_scroll(page)
    # The email field has focus on arrival; everything else is reached with Tab.
    page.keyboard.type("trainee1@kenshu.example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/")
    assert page.locator("h2", has_text="My programmes").is_visible()
    assert page.get_by_text("Waste-to-Energy Plant Operations 2026").is_visible()
    assert _no_horizontal_scroll(page)
    assert page.csp_violations == []


def test_visitor_switches_to_japanese_and_back(page, live_server: str) -> None:
    page.goto(live_server + "/login")
    assert page.locator("html").get_attribute("lang") == "en"
    page.select_option("#lang-locale", "ja")
    page.locator(".language-switcher button").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.url.endswith("/login")
    assert page.locator("h1").inner_text() == "ログイン"
    page.select_option("#lang-locale", "en")
    page.locator(".language-switcher button").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.csp_violations == []


def test_skip_link_is_first_in_tab_order(page, live_server: str) -> None:
    page.goto(live_server + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "skip-link" in focused
