"""What calls leave behind in Asterisk is cleared between reconnections (calls/reconcile.py
OrphanSweeper). `make soak` under load found 380 parties' legs and 1,450 bridges left up by calls that
gave up on requests Asterisk answered too late: they held RTP ports until Asterisk ran out and
crashed. A channel or a bridge is only cleared once it was nobody's on two sweeps in a row, and never
when a call is being set up with it or a reconciliation keeps it for a journaled call."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from urllib.parse import quote

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls.manager import CallManager
from callrec_ari.calls.reconcile import OrphanSweeper, reconcile
from callrec_ari.config import Config
from tests.support.fake_ari import FakeAri


async def test_only_what_was_nobodys_on_two_sweeps_is_cleared() -> None:
    async with FakeAri() as fake:
        fake.reply("GET", "/applications/callrec",
                   json={"channel_ids": ["left-callee", "planning", "held-callee"]})
        fake.reply("GET", "/bridges", json=[
            {"id": "20261202T134801-c4c2", "name": "callrec 20261202T134801-c4c2"},  # a call's, left
            {"id": "held-bridge", "name": "callrec held-bridge"},  # a journaled call's, being adopted
            {"id": "dial-bridge", "name": ""},  # the dialplan's own (a plain Dial), not ours
        ])
        for path in ("/channels/left-callee", "/channels/planning", "/channels/held-callee"):
            fake.reply("DELETE", path, 204)
        for bridge in ("20261202T134801-c4c2", "held-bridge", "dial-bridge"):
            fake.reply("DELETE", f"/bridges/{quote(bridge)}", 204)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        try:
            async with asyncio.TaskGroup() as tasks:
                manager = CallManager(ari, Config(), tasks)
                manager._planning["planning"] = []  # its StasisStart is being planned
                held = manager.hold(["held-callee", "held-bridge"])
                sweeper = OrphanSweeper(manager)
                # First look: suspects only, nothing touched.
                assert await sweeper.sweep() == {"channels": 0, "bridges": 0}
                assert not fake.requests_to("DELETE", "/channels/left-callee")
                # Second look: still nobody's, so cleared; the others never.
                assert await sweeper.sweep() == {"channels": 1, "bridges": 1}
                manager.release(held)
        finally:
            await ari.close()
    deleted = sorted(r.path for r in fake.requests if r.method == "DELETE")
    assert deleted == ["/bridges/20261202T134801-c4c2", "/channels/left-callee"]
    assert sweeper.suspects == set()


async def test_a_channel_claimed_between_two_sweeps_is_left_alone() -> None:
    async with FakeAri() as fake:
        fake.reply("GET", "/applications/callrec", json={"channel_ids": ["new-call"]})
        fake.reply("GET", "/bridges", json=[])
        fake.reply("DELETE", "/channels/new-call", 204)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        try:
            async with asyncio.TaskGroup() as tasks:
                manager = CallManager(ari, Config(), tasks)
                sweeper = OrphanSweeper(manager)
                await sweeper.sweep()
                assert ("channel", "new-call") in sweeper.suspects
                manager._planning["new-call"] = []  # its StasisStart arrived: a call is being set up
                assert await sweeper.sweep() == {"channels": 0, "bridges": 0}
                assert sweeper.suspects == set()  # and it is no suspect any more
        finally:
            await ari.close()
    assert not fake.requests_to("DELETE", "/channels/new-call")


async def test_reconciliation_clears_a_bridge_nobodys_and_spares_a_call_ending_meanwhile() -> None:
    """After a restart, reconciliation looks twice (``orphan_grace`` apart) like the sweep: a bridge of
    ours that belongs to no call is destroyed at once (it used to wait for the sweep, a minute later),
    and a channel of a call that ends between the two looks is that call's to take down (the soak
    smoke's log showed reconciliation hanging up an adopted call's legs it had just seen end)."""
    async with FakeAri() as fake:
        fake.reply("GET", "/channels", json=[])
        fake.reply("GET", "/bridges", json=[{"id": "left-bridge", "name": "callrec left-bridge"}])
        fake.reply("GET", "/applications/callrec", json={"channel_ids": ["ending-caller"]})
        fake.reply("DELETE", "/bridges/left-bridge", 204)
        fake.reply("DELETE", "/channels/ending-caller", 204)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        try:
            async with asyncio.TaskGroup() as tasks:
                manager = CallManager(ari, Config(), tasks)
                ending = SimpleNamespace(caller_id="ending-caller", callee_id="", legs_alive=(),
                                         media_channels=(), bridge_id="its-bridge")
                manager._owners["ending-caller"] = ending  # type: ignore[assignment]
                reconciling = asyncio.create_task(reconcile(manager, None, orphan_grace=0.3))
                await asyncio.sleep(0.1)
                del manager._owners["ending-caller"]  # the call ended; Asterisk still lists its leg
                counts = await asyncio.wait_for(reconciling, 5)
        finally:
            await ari.close()
    assert counts["orphans"] == 1, counts
    deleted = sorted(r.path for r in fake.requests if r.method == "DELETE")
    assert deleted == ["/bridges/left-bridge"]
