"""Reconciliation after a restart loses no event of a call it is about to adopt (issue 20: the soak smoke
found a call its killed app left in Asterisk adopted after its caller had hung up, the hangup's events
dropped as nobody's while reconciliation was still asking Asterisk about it: the adopted call waited
for them forever, its journal and recording left on the platform).

The call and its events are the real ones of tests/transcripts/flow-adoption-*.jsonl (`callrec run`
SIGKILLed mid-call and restarted, tests/integration/test_faults.py); Asterisk's answers to
reconciliation are scripted on a fake ARI server, the one that is slow is what opens the window.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import quote

from callrec_ari.app import CallrecApp
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls.actions import Begin
from callrec_ari.calls.flow import CallSetup
from callrec_ari.calls.journal import CallJournal, JournalEntry
from callrec_ari.calls.manager import CallManager
from callrec_ari.calls.reconcile import reconcile
from callrec_ari.config import Config
from callrec_ari.model.call import FinishedCall, RecordedSegment
from callrec_ari.model.media import CallLegs
from tests.support.fake_ari import FakeAri
from tests.unit.test_call_flow_transcripts import Replay, load, plan_for


def killed_call() -> tuple[JournalEntry, CallLegs]:
    """What the killed app had journaled: the call talking, its recording running."""
    before = load("adoption-before")
    plan, caller = plan_for(before)
    legs = CallLegs.for_call(plan.call_id, caller)
    first = Replay(CallSetup(plan=plan, legs=legs))
    first.feed(Begin())
    for event in before[1:]:
        first.feed(event)
    flow = first.flow
    entry = JournalEntry(
        plan=plan, state=str(flow.phase), caller_id=caller, callee_id=legs.callee, bridge_id=legs.bridge,
        times=flow.times,
        segments=tuple(RecordedSegment(s.name, s.index, s.started_at) for s in flow.segments),
        playbacks=tuple(sorted(flow.playbacks)),
    )
    return entry, legs


async def test_a_hangup_while_reconciliation_looks_at_asterisk_reaches_the_adopted_call(
    tmp_path: Path,
) -> None:
    entry, legs = killed_call()
    assert entry.state == "talking" and entry.segments
    journal = CallJournal(tmp_path / "active")
    journal.write(entry).result()
    # The restarted app's first events: the caller hangs up, the call comes apart.
    after = load("adoption-after")
    segment = entry.segments[0].name
    async with FakeAri() as fake:
        fake.reply("GET", "/channels", json=[{"id": c, "state": "Up"} for c in (legs.caller, legs.callee)])
        fake.reply("GET", "/bridges", json=[{"id": legs.bridge, "channels": [legs.caller, legs.callee]}])
        # Asterisk is slow to say the recording still runs: the hangup happens meanwhile.
        live = f"/recordings/live/{quote(segment, safe='')}"
        fake.reply("GET", live, json={"name": segment, "state": "recording"}, delay=0.5)
        fake.reply("GET", "/applications/callrec", json={"channel_ids": []})
        for channel in (legs.caller, legs.callee):
            fake.reply("DELETE", f"/channels/{quote(channel)}", 204)
            fake.reply("DELETE", f"/channels/{quote(channel)}/mute", 204)
        fake.reply("POST", f"/recordings/live/{quote(segment, safe='')}/stop", 204)
        fake.reply("DELETE", f"/bridges/{quote(legs.bridge)}", 204)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        handed_over: list[FinishedCall] = []

        async def finished(call: FinishedCall) -> None:
            handed_over.append(call)

        try:
            async with asyncio.TaskGroup() as tasks:
                config = Config(cleanup_timeout=1.0)
                manager = CallManager(ari, config, tasks, on_finished=finished, journal=journal)
                reconciling = asyncio.create_task(reconcile(manager, journal, orphan_grace=0.0))
                # Reconciliation has seen both legs up and asks about the recording...
                for _ in range(200):
                    if fake.requests_to("GET", live):
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("reconciliation never asked about the running recording")
                # ...when the parties hang up: their events arrive before the call is adopted.
                for event in after:
                    await manager.on_event(event)
                counts = await asyncio.wait_for(reconciling, 5)
                assert counts["adopted"] == 1, counts
                await asyncio.wait_for(manager.idle.wait(), 10)
        finally:
            await ari.close()
    journal.flush()
    assert [c.plan.call_id for c in handed_over] == [entry.call_id]
    assert handed_over[0].hangup_by == "caller"  # the hangup reached it: the call ended as it did
    assert [s.name for s in handed_over[0].segments] == [segment]
    assert list((tmp_path / "active").glob("*.json")) == []  # nothing left for the next restart
    assert manager.sessions == {} and manager._held == {}


async def test_reconciliation_that_asterisk_could_not_answer_is_tried_again(tmp_path: Path) -> None:
    """A busy Asterisk that fails reconciliation's first look: the app looks again a moment later
    (it used to wait for the next connection, leaving the killed app's calls neither adopted nor
    finalized, their recordings undelivered)."""
    entry, _ = killed_call()
    spool = tmp_path / "spool"
    CallJournal(spool / "active").write(entry).result()
    async with FakeAri() as fake:
        fake.add_ws_session((), close=False)
        fake.reply("GET", "/channels", 500, json={"message": "Internal Server Error"})
        fake.reply("GET", "/bridges", json=[])
        fake.reply("GET", "/applications/callrec", json={"channel_ids": []})
        config = Config(ari_url=fake.url, ari_username="callrec", ari_password="callrec",
                        http_port=0, asterisk_recording_dir=str(tmp_path / "recordings"))
        handed_over: list[FinishedCall] = []

        async def finished(call: FinishedCall) -> None:
            handed_over.append(call)

        app = CallrecApp(config, on_finished=finished, spool_dir=spool)
        running = asyncio.create_task(app.run())
        try:
            for _ in range(500):
                if fake.requests_to("GET", "/channels"):
                    break
                await asyncio.sleep(0.01)
            fake.reply("GET", "/channels", json=[])  # Asterisk answers again: both legs are long gone
            await asyncio.wait_for(app.reconciled.wait(), 10)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert len(fake.requests_to("GET", "/channels")) == 2
    assert [c.plan.call_id for c in handed_over] == [entry.call_id]  # finalized: handed over
    app.journal.flush()
    assert list((spool / "active").glob("*.json")) == []
