"""What two customers' administrators see of real calls (issue 19): SIPp calls through the real
Asterisk 22 and the app, delivered by the worker to A's reference receiver while B's server is down;
then the portal on the same database, in Chromium, in Japanese and in English.

A sees its recorded and its excluded call on the dashboard and in the call list, filters it, exports
it as CSV, opens a call's timeline; B sees its own call waiting, with the failing connection, and
nothing of A's (and A nothing of B's). Screenshots of the dashboard and the call page in both
languages are kept in build/screenshots; axe-core finds nothing serious or critical on any page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.portal import i18n
from callrec_ari.portal.app import make_app
from callrec_ari.portal.auth.actions import create_user
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.receiver.app import serve
from callrec_ari.rules.enrollment import LineRequest
from tests.browser.conftest import axe_violations, chromium_page, screenshot
from tests.integration.test_call_flow import ANALYSED_NOTICE, OUTSIDE, StartApp, run_parties, uac, uas

pytestmark = pytest.mark.asterisk
PASSWORD = "correct horse battery"
LINES = {"a": ("09000001001", "1001"), "b": ("09000001002", "1002")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def words(msgid: str, lang: str, **values: object) -> str:
    """What the portal says for ``msgid`` in ``lang`` (so the test reads like the page)."""
    with i18n.speaking(lang):
        return i18n.gettext(msgid) % values if values else i18n.gettext(msgid)


def log_in(page: Any, url: str, login: str) -> None:
    page.goto(f"{url}/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url(f"{url}/dashboard")


def switch(page: Any, lang: str) -> None:
    page.locator(f'button[name="lang"][value="{lang}"]').click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == lang


def call_ids(page: Any) -> list[str]:
    hrefs = page.locator("table.calls tbody a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    return [h.removeprefix("/calls/") for h in hrefs]


def story(url: str, a_recorded: str, a_excluded: str, b_recorded: str) -> dict[str, list[str]]:
    """The browser's part; answers the axe findings of every page it saw (expected empty)."""
    axe: dict[str, list[str]] = {}
    with chromium_page() as page:
        # A's administrator, in Japanese (nobody chose otherwise).
        log_in(page, url, "admin@a.example")
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.locator("#card-calls").inner_text() == "2"
        assert page.locator("#card-recorded").inner_text().startswith("1")
        assert page.locator("#card-unrecorded").inner_text() == "1"
        assert words("Excluded number", "ja") in page.locator("#calls-by-reason").inner_text()
        assert page.locator("#failing").count() == 0  # A's server took its call
        axe["dashboard ja"] = axe_violations(page)
        screenshot(page, "dashboard-ja")
        switch(page, "en")  # English, one click away
        assert page.locator("h1").inner_text() == "Dashboard"
        assert "Excluded number" in page.locator("#calls-by-reason").inner_text()
        axe["dashboard en"] = axe_violations(page)
        screenshot(page, "dashboard-en")

        # The call list: A's two calls, nothing of B's; filtered to the unrecorded one.
        page.get_by_role("link", name="Calls", exact=True).click()
        assert sorted(call_ids(page)) == sorted([a_recorded, a_excluded])
        assert b_recorded not in page.content()
        page.locator("#filter-recorded").select_option("no")
        page.get_by_role("button", name="Show").click()
        assert call_ids(page) == [a_excluded]
        assert "numbers starting with 1" in page.locator("table.calls").inner_text()
        axe["calls en"] = axe_violations(page)
        # CSV of what is shown.
        with page.expect_download() as download:
            page.get_by_role("link", name="Download these calls as CSV").click()
        raw = Path(download.value.path()).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel in Japan opens it right
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert [(r["call_id"], r["recorded"], r["reason"]) for r in rows] == [
            (a_excluded, "false", "excluded-1xx")]
        assert rows[0]["answered_at"].endswith("+09:00")

        # The recorded call's timeline: answer, the notice and tone both heard, talk, end, delivered.
        page.get_by_role("link", name="Clear the filters").click()
        page.locator(f'a[href="/calls/{a_recorded}"]').click()
        kinds = page.locator("ol.timeline li").evaluate_all("items => items.map(li => li.className)")
        assert kinds[:5] == ["event event-answered", "event event-notice", "event event-notice",
                             "event event-talk", "event event-ended"], kinds
        assert "event event-attempt" in kinds and kinds[-1] == "event event-delivery"
        timeline = page.locator("ol.timeline").inner_text()
        assert "Recording notice" in timeline and "Recording tone" in timeline
        assert "Delivery now: Delivered" in timeline
        axe["call en"] = axe_violations(page)
        screenshot(page, "call-en")
        switch(page, "ja")
        assert words("Delivery now: %(state)s", "ja", state=words("Delivered", "ja")) in page.locator(
            "ol.timeline").inner_text()
        axe["call ja"] = axe_violations(page)
        screenshot(page, "call-ja")
        # B's call is not A's to see: the same answer as a call that does not exist.
        assert page.goto(f"{url}/calls/{b_recorded}").status == 404
        assert page.goto(f"{url}/calls/no-such-call").status == 404
        page.context.clear_cookies()

        # B's administrator: its own call, waiting, and the warning that its server is failing.
        log_in(page, url, "admin@b.example")
        assert page.locator("#card-calls").inner_text() == "1"
        assert page.locator("#card-pending").inner_text() == "1"
        assert page.locator("#failing").count() == 1
        axe["dashboard ja (B)"] = axe_violations(page)
        page.goto(f"{url}/calls")
        assert call_ids(page) == [b_recorded]
        page.goto(f"{url}/calls/{b_recorded}")
        timeline = page.locator("ol.timeline").inner_text()
        assert words("Delivery attempt %(n)s", "ja", n=1) in timeline
        waiting = words("Waiting to be delivered", "ja")
        assert words("Delivery now: %(state)s", "ja", state=waiting) in timeline
        for other in (a_recorded, a_excluded):
            assert page.goto(f"{url}/calls/{other}").status == 404
    return axe


async def test_two_customers_see_their_own_real_calls_in_the_browser(
    start_app: StartApp, ari: Any, tones: dict[str, Path], tmp_path: Path, fresh_db_url: str, down_port: int
) -> None:
    upgrade(fresh_db_url)
    db = make_sessionmaker(make_engine(fresh_db_url))
    a_port, nowhere = free_port(), down_port  # B's server is down
    with db.begin() as s:
        for name, url, secret in (("a", f"http://127.0.0.1:{a_port}/recordings", "secret-of-customer-a"),
                                  ("b", f"http://127.0.0.1:{nowhere}/recordings", "secret-of-customer-b")):
            holder = f"Customer {name.upper()} K.K."
            contract = service.create_contract(s, holder)
            number, endpoint = LINES[name]
            service.enroll_line(s, contract.id, LineRequest(number, endpoint, holder),
                                recording_started=True, consent=True, notice=ANALYSED_NOTICE)
            service.enroll_connection(s, contract.id, "file", url, secret)
            create_user(s, f"admin@{name}.example", PASSWORD, role=CUSTOMER_ADMIN, contract_id=contract.id)
    settings = DeliverySettings(
        database_url=fresh_db_url, spool_dir=str(tmp_path / "spool"), poll_interval=0.1, retry_interval=1.0,
        backoff_initial=0.1, backoff_max=0.3, burst_attempts=2, allow_destinations=("127.0.0.0/8",),
        connection=ConnectionSettings(type="http", url=f"http://127.0.0.1:{free_port()}/recordings",
                                      secret="the-configured-default"),
    )
    stop = asyncio.Event()
    receiver = asyncio.create_task(
        serve(tmp_path / "rx-a", "secret-of-customer-a", "127.0.0.1", a_port, stop))
    worker = asyncio.create_task(make_worker(settings, db).run(stop))
    runner: web.AppRunner | None = None
    try:
        app = await start_app(lines_from="database", db=db, submitter=RecordingSubmitter(settings, db))
        ids = {}
        for key, user, to in (("a_recorded", "1001", OUTSIDE), ("a_excluded", "1001", "117"),
                              ("b_recorded", "1002", OUTSIDE)):
            rc = await run_parties(uac(tmp_path, to, user=user, tone=tones["caller"], talk_ms=4_000),
                                   uas(tmp_path, tone=tones["callee"]))
            assert rc == (0, 0)
            ids[key] = (await app.outcome()).plan.call_id

        def settled() -> bool:
            with db() as s:
                jobs = {d.call_id: d for d in s.scalars(select(Delivery))}
            a, b = jobs.get(ids["a_recorded"]), jobs.get(ids["b_recorded"])
            return bool(a and a.state == "delivered" and b and b.attempt_count >= 1 and b.last_error)

        for _ in range(400):
            if settled():
                break
            await asyncio.sleep(0.1)
        assert settled(), "A's call was not delivered, or B's not tried, in 40 s"
        with db() as s:  # B's server refuses connections: its copy waits for the next try
            b = s.scalars(select(Delivery).where(Delivery.call_id == ids["b_recorded"])).one()
            assert (b.state, (b.last_error or "").split(":")[0]) == ("pending", "connection"), b.last_error

        runner = web.AppRunner(make_app(PortalSettings(database_url=fresh_db_url)))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        # Sync Playwright must not run on the event loop's thread.
        axe = await asyncio.to_thread(story, f"http://127.0.0.1:{port}", ids["a_recorded"], ids["a_excluded"],
                                      ids["b_recorded"])
        assert {page: found for page, found in axe.items() if found} == {}
    finally:
        stop.set()
        await asyncio.gather(receiver, worker, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
