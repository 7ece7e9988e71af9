"""Every page of Customer Control and of the operator console, in Japanese and in English, on a
desktop (and a phone screen): no axe-core violation of serious or critical impact (issue 19), and
the whole portal usable with the keyboard alone (the login form, the skip link, the menu)."""

from __future__ import annotations

from typing import Any

import pytest

from callrec_ari.portal.demo import DEMO_LOGINS
from tests.browser.conftest import Portal, axe_violations

CUSTOMER_PAGES = ("/dashboard", "/calls", "/lines", "/notices", "/settings", "/deliveries", "/invoice",
                  "/users", "/audit")
OPERATOR_PAGES = ("/operator/dashboard", "/operator/calls", "/operator", "/operator/contracts/1",
                  "/operator/notices", "/operator/audit")
PHONE = {"width": 390, "height": 844}


def log_in_with_the_keyboard(page: Any, portal: Portal, login: str, password: str, lang: str) -> None:
    page.goto(f"{portal.url}/login")
    if page.locator("html").get_attribute("lang") != lang:
        page.locator(f'button[name="lang"][value="{lang}"]').click()
    assert page.locator("html").get_attribute("lang") == lang
    page.locator("#login").focus()
    page.keyboard.type(login)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_serious_accessibility_violation_on_any_page(portal: Portal, browser_page: Any, lang: str) -> None:
    page = browser_page
    found: dict[str, list[str]] = {}
    page.goto(f"{portal.url}/login")
    found["/login"] = axe_violations(page)
    for user, paths in ((DEMO_LOGINS[0], CUSTOMER_PAGES), (DEMO_LOGINS[1], OPERATOR_PAGES)):
        log_in_with_the_keyboard(page, portal, user.login, user.password, lang)
        # The phone layout is the same markup: checked once, in Japanese (the default).
        for size in (None, PHONE) if lang == "ja" else (None,):
            if size:
                page.set_viewport_size(size)
            for path in paths:
                resp = page.goto(f"{portal.url}{path}")
                assert resp is not None and resp.status == 200, path
                assert page.locator("html").get_attribute("lang") == lang
                found[f"{path} {'phone' if size else 'desktop'}"] = axe_violations(page)
            page.set_viewport_size({"width": 1280, "height": 720})
        page.context.clear_cookies()
    assert {k: v for k, v in found.items() if v} == {}


def test_the_skip_link_and_the_menu_work_with_the_keyboard(portal: Portal, browser_page: Any) -> None:
    page = browser_page
    admin = DEMO_LOGINS[0]
    log_in_with_the_keyboard(page, portal, admin.login, admin.password, "ja")
    page.goto(f"{portal.url}/lines")
    page.keyboard.press("Tab")  # the first stop is the skip link...
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    # ...and the menu marks the page one is on.
    assert page.locator('nav a[aria-current="page"]').get_attribute("href") == "/lines"
