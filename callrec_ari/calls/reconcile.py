"""After (re)connecting to ARI: make what the app believes match what Asterisk reports.

While the events socket was down (app killed, Asterisk restarted, network), events were lost.
- A call of ours whose channels Asterisk no longer has ended during the outage: its session is told.
- A call in the journal with no session (the app was killed) is adopted if its legs are still up in
  Asterisk, else finalized: what was recorded is packaged and delivered, nothing is lost.
- A channel in our application that nobody owns is hung up; a bridge of ours that nobody owns is
  destroyed, so nothing is left behind (both once seen so twice, ``orphan_grace`` apart).

Between reconnections, :class:`OrphanSweeper` does the last part again now and then: a call that gave
up on a request Asterisk answered too late (an overloaded Asterisk, a hangup that timed out) would
otherwise leave its other party's leg and its bridge up in Asterisk for good, holding RTP ports
until the range ran out (seen in `make soak`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from callrec_ari.ari.errors import AriError
from callrec_ari.ari.events import AriEvent, Channel
from callrec_ari.calls.carried import STATE as CARRIED
from callrec_ari.calls.journal import CallJournal, JournalEntry, finished_from
from callrec_ari.rules import causes
from callrec_ari.streaming.tap import stream_channel_id

if TYPE_CHECKING:
    from callrec_ari.calls.manager import CallManager

log = logging.getLogger(__name__)


def _resources(entry: JournalEntry) -> tuple[str, ...]:
    """Everything of a journaled call whose events matter to it."""
    streams = (stream_channel_id(entry.call_id, n) for n in range(1, len(entry.plan.stream_recipients) + 1))
    return (entry.caller_id, entry.callee_id, entry.bridge_id, *streams,
            *(s.name for s in entry.segments), *entry.playbacks)


def _gone(channel_id: str) -> AriEvent:
    return AriEvent(type="ChannelDestroyed", timestamp="", application="", cause=causes.FAILURE,
                    channel=Channel(id=channel_id, name="", state="Down"))


def _recording_over(name: str) -> AriEvent:
    return AriEvent(type="RecordingFinished", timestamp="", application="", recording_name=name)


async def reconcile(
    manager: CallManager, journal: CallJournal | None, orphan_grace: float = 1.0
) -> dict[str, int]:
    ari = manager.ari
    owned = set(manager.sessions) | (set(manager.carrier.calls) if manager.carrier is not None else set())
    entries = [e for e in (journal.load_all() if journal is not None else ()) if e.call_id not in owned]
    # Before looking at Asterisk: the events of these calls are kept from here on, so that what
    # happens between the look and the adoption (a party hangs up) reaches the adopted call.
    held = {e.call_id: manager.hold(_resources(e)) for e in entries}
    try:
        channels = {c.id for c in await ari.list_channels()}
        # each bridge with the channels in it
        bridges = {str(b["id"]): {str(c) for c in b.get("channels") or ()} for b in await ari.list_bridges()}
        counts = {"ended": 0, "adopted": 0, "finalized": 0, "orphans": 0}

        for session in list(manager.sessions.values()):
            gone = [leg for leg in session.legs_alive if leg not in channels]
            if not gone:
                continue
            counts["ended"] += 1
            log.warning("call=%s legs %s vanished while ARI was down", session.call_id, gone)
            for leg in gone:
                session.queue.put_nowait(_gone(leg))
            if session.bridge_id not in bridges:
                # Asterisk went away mid-recording: the file is what there is.
                for name in session.live_segments:
                    session.queue.put_nowait(_recording_over(name))

        for entry in entries:
            if entry.state == CARRIED:
                manager.release(held.pop(entry.call_id))
                counts[await _carried(manager, entry, entry.caller_id in channels, journal)] += 1
                continue
            legs = {leg for leg in (entry.caller_id, entry.callee_id) if leg in channels}
            if legs and entry.bridge_id in bridges:
                # A stream still running goes on with the call (the customer keeps receiving it).
                legs |= {stream_channel_id(entry.call_id, n)
                         for n in range(1, len(entry.plan.stream_recipients) + 1)} & channels
                live = {s.name for s in entry.segments
                        if await manager.recording_is_live(entry.caller_id, s.name)}
                playbacks = {p for p in entry.playbacks if await ari.playback_exists(p)}
                bridged = {entry.caller_id, entry.callee_id} <= bridges[entry.bridge_id]
                manager.adopt(entry, legs, live, playbacks, held.pop(entry.call_id), bridged)
                counts["adopted"] += 1
            else:
                manager.release(held.pop(entry.call_id))
                await _finalize(manager, entry, legs, entry.bridge_id in bridges)
                if journal is not None:
                    journal.remove(entry.call_id)
                counts["finalized"] += 1
    finally:
        for events in held.values():  # not reached (an ARI error): the next attempt holds them again
            manager.release(events)

    # What nobody owns is cleared once it was nobody's on two looks, a moment apart: a new call's
    # StasisStart may still be on its way to us, and a call that ends meanwhile takes its own channels
    # down (hanging them up again would only log a false orphan).
    sweeper = OrphanSweeper(manager)
    try:
        await sweeper.look()
        await asyncio.sleep(orphan_grace)
        swept = await sweeper.sweep()
    except AriError as exc:
        log.error("reconcile: application state unavailable: %s", exc)
        return counts
    counts["orphans"] = swept["channels"] + swept["bridges"]
    if any(counts.values()):
        log.info("reconciled with Asterisk: %s", counts)
    return counts


async def _carried(manager: CallManager, entry: JournalEntry, up: bool, journal: CallJournal | None) -> str:
    """A call the dialplan carries (calls/carried.py): followed again while its caller is up; else
    what was recorded is handed over. A node that no longer runs that engine leaves a call still up
    alone (it goes on in Asterisk, recording): the first look after its end hands it over."""
    carrier = manager.carrier
    if up:
        if carrier is None:
            log.error("call=%s is carried by the dialplan but recording_engine is no longer 'dialplan': "
                      "handed over once it ends", entry.call_id)
            return "ended"
        await carrier.adopt(entry)
        return "adopted"
    folder = manager.recording_folder
    finished = (carrier.finalized(entry) if carrier is not None else
                finished_from(entry, str(folder) if folder else "", manager.config.recording_format))
    log.warning("call=%s finalized after a restart: the dialplan carried it; %d segments", entry.call_id,
                len(finished.segments), extra={"call_id": entry.call_id, "event": "CallFinalized"})
    await manager.finish(finished)
    if journal is not None:
        journal.remove(entry.call_id)
    return "finalized"


async def _finalize(manager: CallManager, entry: JournalEntry, legs: set[str], bridge_left: bool) -> None:
    """The call ended while nobody watched: clear what is left, hand its recording over."""
    ari = manager.ari
    for leg in legs:
        with contextlib.suppress(AriError):
            await ari.hangup(leg, causes.TEMPORARY_FAILURE)
    if bridge_left:
        with contextlib.suppress(AriError):
            await ari.destroy_bridge(entry.bridge_id)
    finished = finished_from(entry, manager.config.asterisk_recording_dir, manager.config.recording_format)
    log.warning("call=%s finalized after a restart: %d segments", entry.call_id, len(finished.segments),
                extra={"call_id": entry.call_id, "event": "CallFinalized"})
    await manager.finish(finished)


BRIDGE_NAME_PREFIX = "callrec "  # every bridge the app creates is named "callrec <call id>" (calls/steps.py)


@dataclass
class OrphanSweeper:
    """Hangs up the channels in our application that belong to no call, and destroys our bridges that
    belong to none, once each has been seen so on two sweeps in a row: a call being set up (its
    StasisStart on its way, its bridge just created) is never mistaken for an orphan."""

    manager: CallManager
    suspects: set[tuple[str, str]] = field(default_factory=set)

    def _orphans(self, channel_ids: list[str], bridges: list[dict[str, object]]) -> set[tuple[str, str]]:
        manager = self.manager
        owned = set(manager.owned_channels())
        calls = {s.bridge_id for s in manager.sessions.values()}
        channels = {("channel", c) for c in channel_ids
                    if c not in owned and not manager.is_planning(c) and not manager.is_held(c)}
        ours = (str(b.get("id")) for b in bridges if str(b.get("name", "")).startswith(BRIDGE_NAME_PREFIX))
        return channels | {("bridge", b) for b in ours if b not in calls and not manager.is_held(b)}

    async def _look(self) -> set[tuple[str, str]]:
        ari = self.manager.ari
        app = await ari.application()
        return self._orphans(list(app.get("channel_ids", [])), await ari.list_bridges())

    async def look(self) -> None:
        """A first look: what is nobody's now becomes a suspect, nothing is touched."""
        self.suspects = await self._look()

    async def sweep(self) -> dict[str, int]:
        ari = self.manager.ari
        orphans = await self._look()
        due, self.suspects = orphans & self.suspects, orphans - self.suspects
        counts = {"channels": 0, "bridges": 0}
        for kind, resource in sorted(due):
            try:
                if kind == "channel":
                    await ari.hangup(resource, causes.NORMAL_CLEARING)
                else:
                    await ari.destroy_bridge(resource)
            except AriError as exc:  # gone meanwhile (404), or Asterisk busy: the next sweep sees it
                log.debug("sweep: %s %s: %s", kind, resource, exc)
                continue
            counts[f"{kind}s"] += 1
            log.warning("sweep: %s %s belonged to no call: %s", kind, resource,
                        "hung up" if kind == "channel" else "destroyed", extra={"alert": "orphan-swept"})
        return counts
