"""In a real browser: a customer administrator logs in, records consent and starts recording on a
line, uploads a notice; an operator approves it; the line's notice is the uploaded one (R4.1, R5.4,
R2.7). tests/integration/test_portal_notice_call.py runs the same story, then a real call plays it."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callrec_ari.contracts.models import Line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.portal.demo import DEMO_LOGINS
from tests.browser.conftest import Portal
from tests.portal.conftest import make_wav

LINE = "09000001001"


def log_in(page: Any, portal: Portal, login: str, password: str) -> None:
    """Log in, in English (the portal speaks Japanese until one switches on the login page)."""
    page.goto(f"{portal.url}/login")
    if page.locator("html").get_attribute("lang") != "en":
        page.get_by_role("button", name="English").click()
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_customer_and_operator_in_the_browser(portal: Portal, browser_page: Any, tmp_path: Path) -> None:
    customer_and_operator_story(browser_page, portal, tmp_path)


def customer_and_operator_story(page: Any, portal: Portal, tmp_path: Path) -> str:
    """The whole story in the browser; answers the notice (sound name) now set on the line."""
    admin, operator = DEMO_LOGINS[0], DEMO_LOGINS[1]
    log_in(page, portal, admin.login, admin.password)
    assert page.locator("h1").inner_text() == "Dashboard"  # where a customer lands
    page.get_by_role("link", name="Lines", exact=True).click()
    row = page.locator(f"#line-{LINE}")
    row.wait_for(timeout=5000)
    # Starting without consent is refused with the reason (R5.4) ...
    row.get_by_role("button", name="Start").click()
    assert "consent-missing" in page.locator("#error-id").inner_text()
    page.goto(f"{portal.url}/lines")
    # ... so record consent, then start.
    row.get_by_role("button", name="Record consent").click()
    assert "consent recorded" in page.locator(".done").inner_text()
    row.get_by_role("button", name="Start").click()
    assert "recording started on 1 line" in page.locator(".done").inner_text()
    assert row.locator(".recording").inner_text().startswith("on")

    notice = tmp_path / "our-notice.wav"
    notice.write_bytes(make_wav(2.0, rate=44100, channels=2))
    page.get_by_role("link", name="Notices").click()
    page.get_by_label("Name").fill("Our own notice")
    page.get_by_label("WAV file").set_input_files(str(notice))
    page.get_by_label(LINE).check()
    page.get_by_role("button", name="Upload").click()
    assert "waits for the operator" in page.locator(".done").inner_text()
    assert "pending" in page.locator("tr", has_text="Our own notice").locator(".state").inner_text()
    page.get_by_role("button", name="Log out").click()

    log_in(page, portal, operator.login, operator.password)
    page.get_by_role("link", name="Notices to approve").click()
    page.locator("tr", has_text="Our own notice").get_by_role("button", name="Approve and activate").click()
    assert f"now on {LINE}" in page.locator(".done").inner_text()
    page.get_by_role("link", name="Contracts").click()
    page.get_by_role("link", name="Demo Trading Co.").click()
    shown = page.locator(f"#line-{LINE} .notice").inner_text()
    assert shown.startswith("callrec/custom/")

    # The database says the same (the call flow reads it per call), and Asterisk's file is in place.
    engine = make_engine(portal.database_url)
    with make_sessionmaker(engine)() as s:
        line = s.scalars(select(Line).where(Line.number == LINE, Line.removed_at.is_(None))).one()
        assert (line.recording_started, line.consent, line.notice) == (True, True, shown)
    engine.dispose()
    wav_path = portal.notices_dir / (shown.removeprefix("callrec/custom/") + ".wav")
    with wave.open(str(wav_path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    return shown
