"""The portal end to end, in a real browser, then a real call (issue 5, R2.7, R4.1, R5.4).

In Debian's Chromium (Playwright), a customer administrator records consent and starts recording on
line 1001, uploads a notice; the operator approves it. Then, with nothing restarted, the next call of
1001 on the real Asterisk plays that notice to both parties, as Asterisk's own PlaybackStarted events
show.

The approved notice is written where the local Asterisk reads sounds (``<root>/usr/share/asterisk/
sounds/callrec/custom``; for an Asterisk elsewhere set CALLREC_PORTAL_NOTICES_DIR to a directory it
reads as ``callrec/custom``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.pbx.local import AsteriskTarget, root_path
from tests.browser.conftest import Portal, chromium_page, running_portal
from tests.browser.test_portal_browser import customer_and_operator_story
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import OUTSIDE, StartApp, run_parties, uac, uas

pytestmark = pytest.mark.asterisk


def notices_dir(asterisk: AsteriskTarget) -> Path:
    if os.environ.get("CALLREC_PORTAL_NOTICES_DIR"):
        return Path(os.environ["CALLREC_PORTAL_NOTICES_DIR"])
    if asterisk.recording_dir is None:
        pytest.skip("Asterisk is remote: set CALLREC_PORTAL_NOTICES_DIR to a folder it plays sounds from")
    return root_path() / "usr/share/asterisk/sounds/callrec/custom"


def browser_story(portal: Portal, tmp_path: Path) -> str:
    with chromium_page() as page:
        return customer_and_operator_story(page, portal, tmp_path)


async def test_notice_approved_in_the_browser_plays_on_the_next_call(
    start_app: StartApp, ari: AriClient, asterisk: AsteriskTarget, tones: dict[str, Path], tmp_path: Path
) -> None:
    with running_portal(tmp_path, notices_dir(asterisk)) as portal:
        # Sync Playwright must not run on the event loop's thread.
        sound = await asyncio.to_thread(browser_story, portal, tmp_path)
        written = portal.notices_dir / f"{sound.removeprefix('callrec/custom/')}.wav"
        try:
            app = await start_app(lines_from="database",
                                  db=make_sessionmaker(make_engine(portal.database_url)))
            rc = await run_parties(uac(tmp_path, OUTSIDE, user="1001", tone=tones["caller"], talk_ms=3_000),
                                   uas(tmp_path, tone=tones["callee"]))
            assert rc == (0, 0)
            outcome = await app.outcome()
            assert outcome.answered and outcome.plan.record
            # Both parties hear it, each on its own leg, then the tone (model/plan.py notice_playbacks).
            heard = app.heard()
            assert len(heard) == 2, heard
            assert all(media[:2] == [f"sound:{sound}", "sound:beep"] for media in heard.values()), heard
            await assert_clean(ari)
        finally:
            written.unlink(missing_ok=True)
