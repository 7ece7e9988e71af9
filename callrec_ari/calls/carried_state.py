"""What the app keeps of a call the dialplan carries (calls/carried.py), and the engine's settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError
from callrec_ari.calls import carry
from callrec_ari.calls.carry import CarriedEvent
from callrec_ari.calls.journal import JournalEntry, file_start
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.model.call import RecordedSegment, now_utc
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules.manifest import NoticeEntry

log = logging.getLogger(__name__)

STATE = "carried"  # the journal's state of a call the dialplan carries
RETRY_ROLL_S = 5.0  # a roll MixMonitor refused is tried again this much later
END_WAIT_S = 10.0  # bound on waiting for the last recorders' files to close at the end
LIMITS_S = 60.0  # how long Asterisk's limits and dialplan are trusted once read (calls/carried.py room)
WATCH_S = 30.0  # how often the followed calls' legs are looked for in Asterisk (calls/carried.py watch)


@dataclass(frozen=True, slots=True)
class CarrySettings:
    recording_prefix: str = "callrec"
    recording_format: str = "wav"
    roll_seconds: float = 3600.0
    directions: str = "stereo"  # config.py mixmonitor_directions: "all" records every call in stereo
    folder: Path | None = None  # Asterisk's recording folder as seen from here (None: remote)
    dial_timeout: int = 60


@dataclass
class CarriedCall:
    plan: CallPlan
    caller: str  # the caller's channel id
    recorder: MixMonitorRecorder
    started: datetime = field(default_factory=now_utc)
    segments: list[RecordedSegment] = field(default_factory=list)
    said: CarriedEvent | None = None  # the latest the dialplan said
    roll: asyncio.TimerHandle | None = None
    over: dict[str, asyncio.Future[str]] = field(default_factory=dict)  # segment -> how it ended
    finishing: bool = False
    notices: tuple[NoticeEntry, ...] = ()  # an adopted call's, as its journal had them

    @property
    def call_id(self) -> str:
        return self.plan.call_id

    def entry(self) -> JournalEntry:
        times = carry.call_times(self.plan, self.started, self.said)
        return JournalEntry(plan=self.plan, state=STATE, caller_id=self.caller, callee_id="", bridge_id="",
                            times=times, segments=tuple(self.segments),
                            notices=carry.notice_entries(self.plan, self.said) or self.notices)


def first_start(segments: Sequence[RecordedSegment], settings: CarrySettings) -> datetime | None:
    """A first recording whose start the app never heard of (its events lost, or no app followed the
    call then): where its file says, its last write less the audio it holds; None when it is known,
    or there is no file to read."""
    first = segments[0] if segments else None
    if first is None or first.started_at is not None or settings.folder is None:
        return None
    return file_start(settings.folder, first.name, settings.recording_format)


class AsteriskLimits:
    """Asterisk's ``maxcalls`` and ``maxload`` (asterisk.conf), read from ``/asterisk/info`` once a
    minute, against which a call is carried or not (calls/carry.py ``pbx_room``)."""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.read: tuple[int, float] | None = None
        self.until = 0.0

    async def room(self, threads: int) -> str | None:
        """None when one more call may be carried beside the app's calls holding ``threads`` of
        Asterisk's PBX threads; else why not (and when the limits cannot be read: the app's bridge then
        records the call)."""
        now = asyncio.get_running_loop().time()
        if self.read is None or now >= self.until:
            try:
                config = (await self.ari.asterisk_info()).get("config") or {}
            except AriError as exc:
                log.warning("Asterisk's call limits not read (%s): the app's bridge records the call", exc)
                return "limits-unknown"
            if not isinstance(config, dict):
                config = {}
            self.read = (int(config.get("max_channels") or 0), float(config.get("max_load") or 0.0))
            self.until = now + LIMITS_S
        return carry.pbx_room(*self.read, threads=threads)


# Where the dialplan takes a carried call (dialplan/extensions.conf): a context missing from Asterisk's
# dialplan (an operator's own extensions.conf without callrec's) would drop every call handed to it.
CARRY_PLACES = (f"{carry.CONTEXT},s,1", "callrec-carry-answered,s,caller", "callrec-carry-answered,s,callee",
                "callrec-carry-callee-gone,s,1", "callrec-carry-end,s,1")


class DialplanCheck:
    """Whether Asterisk's dialplan has the places a carried call goes through, looked at with
    ``DIALPLAN_EXISTS`` on a caller's leg (the function needs a channel) once a minute, so that a dialplan
    reloaded without them is noticed too; until they are back, the app's bridge records every call."""

    def __init__(self, ari: AriClient, places: tuple[str, ...] = CARRY_PLACES) -> None:
        self.ari = ari
        self.places = places
        self.absent: tuple[str, ...] | None = None
        self.until = 0.0

    async def missing(self, channel: str) -> str | None:
        """None when the dialplan can carry the call; else why not."""
        now = asyncio.get_running_loop().time()
        if self.absent is None or now >= self.until:
            try:
                found = await asyncio.gather(*(self.ari.get_channel_var(channel, f"DIALPLAN_EXISTS({place})")
                                               for place in self.places))
            except AriError as exc:
                log.warning("Asterisk's dialplan not looked at (%s): the app's bridge records the call", exc)
                return "dialplan-unknown"
            absent = tuple(place for place, there in zip(self.places, found, strict=True) if there != "1")
            if absent and absent != self.absent:
                log.error("Asterisk's dialplan has no %s: the app's bridge records every call until it has "
                          "(dialplan/extensions.conf, docs/deploy.md)", ", ".join(absent),
                          extra={"event": "DialplanMissing"})
            elif not absent and self.absent:
                log.info("Asterisk's dialplan has callrec's contexts again: calls are carried by it")
            self.absent, self.until = absent, now + LIMITS_S
        return "no-dialplan" if self.absent else None
