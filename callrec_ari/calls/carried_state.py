"""What the app keeps of a call the dialplan carries (calls/carried.py), and the engine's settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callrec_ari.calls import carry
from callrec_ari.calls.carry import CarriedEvent
from callrec_ari.calls.journal import JournalEntry
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.model.call import RecordedSegment, now_utc
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules.manifest import NoticeEntry

STATE = "carried"  # the journal's state of a call the dialplan carries
RETRY_ROLL_S = 5.0  # a roll MixMonitor refused is tried again this much later
END_WAIT_S = 10.0  # bound on waiting for the last recorders' files to close at the end


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
