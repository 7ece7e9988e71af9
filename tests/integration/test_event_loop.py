"""Nothing blocks the event loop (issue 15): with asyncio's debug mode reporting every callback
that holds the loop for 50 ms or more, two overlapping recorded calls (segment rolls, the hand-over,
packaging, the call record, delivery by the worker to the reference receiver, all in this one loop)
produce no such report."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.pbx.local import AsteriskTarget
from tests.integration.conftest import DeliveryEnv
from tests.integration.test_call_flow import OUTSIDE, StartApp, uac, uas

pytestmark = pytest.mark.asterisk
SLOW = 0.05


async def test_no_callback_holds_the_loop_for_50_ms(
    start_app: StartApp, ari: AriClient, asterisk: AsteriskTarget, tones: dict[str, Path], tmp_path: Path,
    delivery_env: DeliveryEnv, caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    debug, slow = loop.get_debug(), loop.slow_callback_duration
    # This process holds every earlier test's objects, which a full collection would walk during the
    # run: the harness's cost, not the app's (a call's task once took 156 ms late in the full suite,
    # never when run alone; a collection is the likely cause, not proven).
    gc.collect()
    gc.freeze()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW
    try:
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            app = await start_app(recording_roll_seconds=3,
                                  asterisk_recording_dir=str(asterisk.recording_dir or ""),
                                  submitter=RecordingSubmitter(delivery_env.settings),
                                  spool_dir=Path(delivery_env.settings.spool_dir))
            callee = uas(tmp_path, tone=tones["callee"])
            callee.calls = 2  # answers both calls
            callers = [uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=8_000),
                       uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=8_000, port=5072, media=6004)]
            # The SIPp harness starts and stops its processes in threads: its blocking waits are
            # the test's, not the app's, and would otherwise be reported here.
            await asyncio.to_thread(callee.start)
            await asyncio.sleep(0.3)
            for caller in callers:
                await asyncio.to_thread(caller.start)
                await asyncio.sleep(0.5)
            try:
                assert [await c.wait() for c in callers] == [0, 0]
            finally:
                await asyncio.gather(*(asyncio.to_thread(c.stop) for c in (*callers, callee)))
            outcomes = [await app.outcome(), await app.outcome()]
            assert all(o.recordings for o in outcomes)
            await delivery_env.wait_for_zips(2)
    finally:
        loop.set_debug(debug)
        loop.slow_callback_duration = slow
        gc.unfreeze()
    held = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert held == [], held
