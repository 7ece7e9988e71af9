"""The recording engines, one Asterisk recording per segment (R1.2), chosen by ``recording_engine``.

- ``bridge`` (:class:`BridgeRecorder`): the call's bridge is recorded. Asterisk joins a recorder
  channel to the bridge, which puts a two-party call on the softmix technology for its whole length
  (decode, mix and encode every 20 ms).
- ``snoop`` (:class:`SnoopRecorder`): a snoop channel on the caller's leg hears both directions of
  that leg (an audiohook, the path MixMonitor takes) and is recorded; the bridge stays a two-party
  bridge once the notice has ended. Both parties' audio and the notice played on the bridge are on
  the caller's leg, so the file holds the same as the bridge recording.
- per leg (:class:`PerLegRecorder`, whichever engine is set, for a plan whose ``per_leg`` is true: a
  copy wants stereo, or each party hears a different notice): one snoop channel on each leg, each
  spying what that party *hears* (``spy=out``), each recorded. Before the tone ends the parties do
  not hear each other, so each file holds that party's own notice and tone; after it, each holds the
  other party's voice. Packaging mixes the two (mono) or lays them out per party (stereo,
  delivery/channels.py). The caller's file is the segment's name, the callee's
  ``rules.segments.callee_leg_name``; the call flow follows the caller's.

Either way Asterisk writes ``<name>.<format>`` in its recording directory and RecordingStarted /
RecordingFinished carry the name back to the call. docs/performance.md has the measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Literal

from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound, AriUnavailable
from callrec_ari.model.media import CallLegs, MediaFailed
from callrec_ari.rules.manifest import NoticeEntry
from callrec_ari.rules.segments import callee_leg_name

log = logging.getLogger(__name__)

RecordingEngine = Literal["bridge", "snoop", "mixmonitor"]
ENGINES: tuple[RecordingEngine, ...] = ("bridge", "snoop", "mixmonitor")  # mixmonitor: media/mixmonitor.py


# A request Asterisk did not answer in time may still be carried out once it catches up. Seen in
# `make test`'s soak smoke: Asterisk stalled for some 14 s under the CI's load, a segment's recorder
# start went unanswered, and its file was written after all (media/fallback.py), which nothing would
# deliver or remove: the flow counts the segment as never started. The segment before it runs on
# meanwhile, so such a file holds nothing it does not. So LATE_START_S after a snoop or its recording
# went unanswered, whatever records under the segment's name is stopped, its snoop channel hung up,
# and its file removed.
LATE_START_S = 10.0
_clearing: set[asyncio.Task[object]] = set()


def clear_later(clearing: Coroutine[Any, Any, object]) -> None:
    """Runs ``clearing`` (a late start's, after its LATE_START_S) without holding up the call."""
    task: asyncio.Task[object] = asyncio.create_task(clearing)
    _clearing.add(task)
    task.add_done_callback(_clearing.discard)


async def clear_late_start(ari: AriClient, snoop: str, name: str, delay: float) -> bool:
    """True when a file of the segment was there and is removed (see LATE_START_S)."""
    await asyncio.sleep(delay)
    with contextlib.suppress(AriError):
        await ari.stop_recording(name)
    with contextlib.suppress(AriError):
        await ari.hangup(snoop)
    return await remove_uncounted(ari, name)


async def remove_uncounted(ari: AriClient, name: str) -> bool:
    """Removes the file of a segment the flow counts as never started, should a recorder started late
    have written one: the segment before it ran on and holds that time. True when there was one."""
    try:
        await ari.delete_stored_recording(name)
    except AriNotFound:
        return False  # Asterisk never carried it out
    except AriError as exc:
        log.warning("recording %s: its start had no answer and its file may remain: %s", name, exc)
        return False
    log.warning("recording %s: Asterisk started it after its request had no answer; its file is "
                "removed (the segment before it holds that time)", name)
    return True


def snoop_channel_id(segment_name: str) -> str:
    """The snoop channel recording one segment (``<call id>-NNN-snoop``): ours, claimed and owned."""
    return segment_name.rsplit("/", 1)[-1] + "-snoop"


async def start_snoop_recording(ari: AriClient, arrivals: StasisArrivals, leg: str, snoop: str, spy: str,
                                name: str, fmt: str, call_id: str, arrival_timeout: float,
                                late_start_s: float = LATE_START_S) -> None:
    """A snoop channel on ``leg`` in our application, recorded as ``name``; on failure nothing of it
    is left running, nor later (LATE_START_S)."""
    arrived = arrivals.expect(snoop)  # before the request: StasisStart may beat its answer
    try:
        await ari.snoop(leg, snoop, spy, ("leg=snoop", f"call={call_id}"))
        try:
            await asyncio.wait_for(arrived, arrival_timeout)
        except TimeoutError:
            raise MediaFailed("snoop-not-in-stasis",
                              f"snoop channel {snoop} not in our application after "
                              f"{arrival_timeout:.0f}s") from None
    except AriUnavailable as exc:
        if not exc.refused:  # no answer: it may yet be carried out
            clear_later(clear_late_start(ari, snoop, name, late_start_s))
        raise
    finally:
        arrivals.forget(snoop)
    try:
        await ari.record_channel(snoop, name, fmt)
    except AriError as exc:
        if isinstance(exc, AriUnavailable) and not exc.refused:
            clear_later(clear_late_start(ari, snoop, name, late_start_s))
        with contextlib.suppress(AriError):
            await ari.hangup(snoop)
        raise


async def stop_snoop_recording(ari: AriClient, name: str, snoop: str) -> None:
    # Stopping the recording finishes its file; the snoop channel then has nothing left to do.
    with contextlib.suppress(AriNotFound):
        await ari.stop_recording(name)
    with contextlib.suppress(AriNotFound):
        await ari.hangup(snoop)


class BridgeRecorder:
    on_legs = False  # records the bridge: started once the parties are in it (calls/steps.py)

    def __init__(self, ari: AriClient, bridge_id: str, fmt: str) -> None:
        self.ari = ari
        self.bridge_id = bridge_id
        self.fmt = fmt

    def channels(self, media_id: str) -> tuple[str, ...]:
        return ()

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        await self.ari.record_bridge(self.bridge_id, media_id, self.fmt)

    async def stop(self, media_id: str, reason: str) -> None:
        try:
            await self.ari.stop_recording(media_id)
        except AriNotFound:
            pass  # already over (the bridge went, or it finished on its own)


class SnoopRecorder:
    """One snoop channel per segment on the caller's leg, spying both directions, recorded."""

    on_legs = True  # spies on the legs themselves: may start before they are bridged (calls/steps.py)

    def __init__(self, ari: AriClient, legs: CallLegs, call_id: str, fmt: str, arrivals: StasisArrivals,
                 arrival_timeout: float = 5.0, late_start_s: float = LATE_START_S) -> None:
        self.ari = ari
        self.legs = legs
        self.call_id = call_id
        self.fmt = fmt
        self.arrivals = arrivals
        self.arrival_timeout = arrival_timeout
        self.late_start_s = late_start_s

    def channels(self, media_id: str) -> tuple[str, ...]:
        return (snoop_channel_id(media_id),)

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        await start_snoop_recording(self.ari, self.arrivals, self.legs.caller, snoop_channel_id(media_id),
                                    "both", media_id, self.fmt, self.call_id, self.arrival_timeout,
                                    self.late_start_s)

    async def stop(self, media_id: str, reason: str) -> None:
        await stop_snoop_recording(self.ari, media_id, snoop_channel_id(media_id))


class PerLegRecorder(SnoopRecorder):
    """Two snoop channels per segment, one on each leg, each recording what its party hears."""

    def channels(self, media_id: str) -> tuple[str, ...]:
        return (snoop_channel_id(media_id), snoop_channel_id(callee_leg_name(media_id)))

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        callee_name = callee_leg_name(media_id)
        results = await asyncio.gather(
            start_snoop_recording(self.ari, self.arrivals, self.legs.caller, snoop_channel_id(media_id),
                                  "out", media_id, self.fmt, self.call_id, self.arrival_timeout,
                                  self.late_start_s),
            start_snoop_recording(self.ari, self.arrivals, self.legs.callee, snoop_channel_id(callee_name),
                                  "out", callee_name, self.fmt, self.call_id, self.arrival_timeout,
                                  self.late_start_s),
            return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            # Half a call is no recording: stop whichever leg did start and remove what it wrote (the
            # flow counts the segment as never started, so no hand-over would ever look for that file:
            # a roll that raced the hangup left the callee's WAV behind), then report the first failure.
            await self.stop(media_id, "failed")
            await self._remove(media_id, callee_name)
            raise failed[0]

    async def _remove(self, *names: str) -> None:
        for name in names:
            try:
                await self.ari.delete_stored_recording(name)
            except AriNotFound:
                pass  # that leg never started
            except AriError as exc:
                log.warning("half-started recording %s not removed: %s", name, exc)

    async def stop(self, media_id: str, reason: str) -> None:
        callee_name = callee_leg_name(media_id)
        await asyncio.gather(stop_snoop_recording(self.ari, media_id, snoop_channel_id(media_id)),
                             stop_snoop_recording(self.ari, callee_name, snoop_channel_id(callee_name)))
