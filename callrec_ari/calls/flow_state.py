"""Where one call stands, and what does not change during it: the data of the pure call flow."""

from __future__ import annotations

from dataclasses import dataclass, field

from callrec_ari.calls.state import CallState
from callrec_ari.model.call import CallTimes, HangupBy, RecordedSegment
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules import causes
from callrec_ari.rules.manifest import NoticeEntry

S = CallState


@dataclass(frozen=True, slots=True)
class CallSetup:
    """What does not change during a call."""

    plan: CallPlan
    legs: CallLegs
    streams: tuple[str, ...] = ()  # one stream channel per contract that delivers by stream (R1.4)
    files: bool = True  # a contract takes a file copy (R1.1): the bridge is recorded on the platform
    recording_prefix: str = "callrec"
    roll_seconds: float = 3600.0  # how long one recording file runs before the next takes over
    dial_timeout: int = 60
    # Whether the recorder says itself when it ends with the call (an ARI recording does); one that
    # does not (MixMonitor: media/mixmonitor.py) is stopped as the call ends.
    recorder_reports_end: bool = True
    # Whether the recorder records the legs themselves (MixMonitor, a snoop channel), so that it may
    # start with the answer, before the parties are bridged; one that records the bridge starts after.
    recorder_on_legs: bool = True


@dataclass(frozen=True, slots=True)
class Flow:
    """Where one call stands."""

    phase: CallState = S.STARTING
    legs: frozenset[str] = frozenset()  # channels of ours still up
    times: CallTimes = field(default_factory=CallTimes)
    dialstatus: str | None = None
    callee_cause: int | None = None
    end_cause: int = causes.NORMAL_CLEARING
    hangup_by: HangupBy = "app"
    playbacks: frozenset[str] = frozenset()  # notice playbacks still playing
    hanging_up: frozenset[str] = frozenset()  # parties whose hangup Asterisk announced
    notices: tuple[NoticeEntry, ...] = ()  # the notice's sounds as they played (for the record)
    notice_failed: bool = False
    segments: tuple[RecordedSegment, ...] = ()
    recording_failed: bool = False
    aborted: bool = False  # something unexpected failed: leave the loop, clean up

    @property
    def recording_live(self) -> bool:
        return any(s.live for s in self.segments)

    @property
    def done(self) -> bool:
        """Nothing is left to wait for: every leg gone, every recording over."""
        if self.phase is S.ENDED or self.aborted:
            return True
        return self.phase is S.ENDING and not self.legs and not self.recording_live

    def segment(self, name: str | None) -> RecordedSegment | None:
        return next((s for s in self.segments if s.name == name), None)
