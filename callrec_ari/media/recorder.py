"""The recording engines, one Asterisk recording per segment (R1.2), chosen by ``recording_engine``.

- ``bridge`` (:class:`BridgeRecorder`): the call's bridge is recorded. Asterisk joins a recorder
  channel to the bridge, which puts a two-party call on the softmix technology for its whole length
  (decode, mix and encode every 20 ms).
- ``snoop`` (:class:`SnoopRecorder`): a snoop channel on the caller's leg hears both directions of
  that leg (an audiohook, the path MixMonitor takes) and is recorded; the bridge stays a two-party
  bridge once the notice has ended. Both parties' audio and the notice played on the bridge are on
  the caller's leg, so the file holds the same as the bridge recording.

Either way Asterisk writes ``<name>.<format>`` in its recording directory and RecordingStarted /
RecordingFinished carry the name back to the call. docs/performance.md has the measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Literal

from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound
from callrec_ari.model.media import CallLegs, MediaFailed
from callrec_ari.rules.manifest import NoticeEntry

RecordingEngine = Literal["bridge", "snoop"]
ENGINES: tuple[RecordingEngine, ...] = ("bridge", "snoop")


def snoop_channel_id(segment_name: str) -> str:
    """The snoop channel recording one segment (``<call id>-NNN-snoop``): ours, claimed and owned."""
    return segment_name.rsplit("/", 1)[-1] + "-snoop"


class BridgeRecorder:
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

    def __init__(self, ari: AriClient, legs: CallLegs, call_id: str, fmt: str, arrivals: StasisArrivals,
                 arrival_timeout: float = 5.0) -> None:
        self.ari = ari
        self.legs = legs
        self.call_id = call_id
        self.fmt = fmt
        self.arrivals = arrivals
        self.arrival_timeout = arrival_timeout

    def channels(self, media_id: str) -> tuple[str, ...]:
        return (snoop_channel_id(media_id),)

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        snoop = snoop_channel_id(media_id)
        arrived = self.arrivals.expect(snoop)  # before the request: StasisStart may beat its answer
        try:
            await self.ari.snoop(self.legs.caller, snoop, "both", ("leg=snoop", f"call={self.call_id}"))
            try:
                await asyncio.wait_for(arrived, self.arrival_timeout)
            except TimeoutError:
                raise MediaFailed("snoop-not-in-stasis",
                                  f"snoop channel {snoop} not in our application after "
                                  f"{self.arrival_timeout:.0f}s") from None
        finally:
            self.arrivals.forget(snoop)
        try:
            await self.ari.record_channel(snoop, media_id, self.fmt)
        except AriError:
            with contextlib.suppress(AriError):
                await self.ari.hangup(snoop)
            raise

    async def stop(self, media_id: str, reason: str) -> None:
        # Stopping the recording finishes its file; the snoop channel then has nothing left to do.
        with contextlib.suppress(AriNotFound):
            await self.ari.stop_recording(media_id)
        with contextlib.suppress(AriNotFound):
            await self.ari.hangup(snoop_channel_id(media_id))
