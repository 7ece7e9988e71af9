"""What a call is and leaves behind, as plain frozen data: its times, its segments, the finished call.

:class:`FinishedCall` is the one hand-over from the call flow to the services that come after it: the
call record (contracts), packaging (delivery) and the event log read it, typed, and nothing parses
it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.rules.charges import billing_start
from callrec_ari.rules.manifest import CallRecord, NoticeEntry

HangupBy = Literal["caller", "callee", "app"]
NOTICE_FAILED = "notice-failed"  # reason id: the notice could not play, so nothing is kept (R2.1)
RECORDING_FAILED = "recording-failed"  # reason id: the recorder failed; what it recorded is kept


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CallTimes:
    started: datetime = field(default_factory=now_utc)
    answered: datetime | None = None
    notice_started: datetime | None = None  # the billing start (R2.4)
    talk_started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordedSegment:
    """One segment of a call's recording (R1.2), from the request that starts it to its file.

    ``started_at`` is Asterisk's RecordingStarted time: None until the recorder runs (and for a
    segment that never started, which then has no file).
    """

    name: str  # Asterisk recording name (a file <name>.<format> under its recording directory)
    index: int  # 1-based
    started_at: datetime | None = None
    live: bool = False  # Asterisk is recording it now
    failed: bool = False  # could not start, RecordingFailed, or never reported its end (steps.stop_due)

    @property
    def has_audio(self) -> bool:
        return self.started_at is not None


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """A segment's WAV on the platform's disk and the UTC time its first frame was recorded: what
    packaging reads (delivery/packaging.py)."""

    path: Path
    started_at: datetime
    # Each leg recorded apart (``CallPlan.per_leg``): ``path`` is what the caller heard and
    # ``callee_heard`` what the callee heard (None if its file was lost: packaged as silence).
    per_leg: bool = False
    callee_heard: Path | None = None
    # ``path`` holds both directions of the caller's leg, two channels (MixMonitor's D, per_leg
    # too): the caller's voice and what it heard (delivery/wavfile.py).
    interleaved: bool = False

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.path,) if self.callee_heard is None else (self.path, self.callee_heard)


@dataclass(frozen=True, slots=True)
class FinishedCall:
    """A call that has ended, and everything the services after it need to know."""

    plan: CallPlan
    times: CallTimes
    end_cause: int
    hangup_by: HangupBy
    segments: tuple[RecordedSegment, ...] = ()  # only those with audio, in order
    recording_failed: bool = False
    notice_failed: bool = False
    notices: tuple[NoticeEntry, ...] = ()  # each sound of the notice and tone, as played
    # Segments a recorder was asked for whose start was never heard (the app died meanwhile, or the
    # call ended first): no audio to deliver, but Asterisk may have written a file for them.
    unconfirmed: tuple[RecordedSegment, ...] = ()

    @property
    def call_id(self) -> str:
        return self.plan.call_id

    @property
    def answered(self) -> bool:
        return self.times.answered is not None

    @property
    def recordings(self) -> tuple[str, ...]:
        """The Asterisk recording names, in order."""
        return tuple(s.name for s in self.segments)

    @property
    def line_number(self) -> str:
        """The subscriber line's number: the caller's on an outgoing call, the callee's on an incoming."""
        return self.plan.caller_number if self.plan.direction == "outgoing" else self.plan.callee_number

    @property
    def ended(self) -> datetime:
        return self.times.ended or self.times.started

    @property
    def billing_start(self) -> datetime | None:
        """R2.4, in one place: the notice's start, or the answer where no notice played."""
        return billing_start(self.times.answered, self.times.notice_started)

    @property
    def label(self) -> str:
        """The call's outcome as the metrics count it."""
        if not self.answered:
            return "unanswered"
        if self.plan.record and self.notice_failed:
            return NOTICE_FAILED
        return "recorded" if self.recorded and self.segments else "unrecorded"

    @property
    def recorded(self) -> bool:
        """Recorded and kept: the rules said so, and the parties heard the notice (R2.1)."""
        return self.plan.record and not self.notice_failed

    @property
    def reason(self) -> str:
        """Why (not) recorded: the rules' reason id; ``notice-failed`` when the notice did not play
        (nothing kept); ``recording-failed`` when a recorder could not start or Asterisk failed it (what
        was recorded is kept and delivered: the customer is told the file may be short or missing)."""
        if self.plan.record and self.notice_failed:
            return NOTICE_FAILED
        if self.plan.record and self.recording_failed:
            return RECORDING_FAILED
        return self.plan.reason

    @property
    def file_copies(self) -> tuple[Recipient, ...]:
        """One per contract that takes this call as a file (R1.1, R1.5); a recorded call of a plan
        that names no contract (single tenant, hand-made) has one, for the configured connection."""
        if not self.recorded or not self.segments:
            return ()
        return self.plan.file_recipients or (() if self.plan.recipients else (Recipient(self.line_number),))

    @property
    def delivery_type(self) -> str | None:
        """How the call's own line's recording was delivered: "file", "stream", or None (unrecorded)."""
        if not self.recorded:
            return None
        mine = self.plan.recipient_for(self.line_number) or (
            self.plan.recipients[0] if self.plan.recipients else None)
        return mine.delivery if mine is not None else "file"

    def manifest_call(self, copy: Recipient | None = None) -> CallRecord:
        """The call as one contract's copy's manifest describes it (docs/delivery-protocol.md): its
        own line as ``line``, the parties as they were."""
        return CallRecord(
            call_id=self.call_id, direction=self.plan.direction,
            line=copy.line if copy is not None else self.line_number,
            # Withheld (184, or an anonymous incoming call): no copy names the caller (R2.2), as
            # docs/delivery-protocol.md and the stream's metadata say.
            caller="" if self.plan.caller_withheld else self.plan.caller_number,
            callee=self.plan.callee_number,
            answered=self.times.answered, notice_started=self.times.notice_started, ended=self.ended,
            contract=copy.contract if copy is not None else "", notices=self.notices,
            # Stereo needs each leg apart: a plan that recorded one mix delivers it as it is.
            channels=copy.channels if copy is not None and self.plan.per_leg else "mono",
            side=copy.side if copy is not None else "caller",
        )

    def log_record(self) -> dict[str, object]:
        """The finished call as one JSON-able record for the event log."""

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        plan, times = self.plan, self.times
        return {
            "call_id": plan.call_id, "direction": plan.direction, "line": self.line_number,
            "line_endpoint": plan.line, "caller": plan.caller_number, "callee": plan.callee_number,
            "recorded": self.recorded, "reason": self.reason, "notice_reason": plan.notice_reason,
            "started": iso(times.started), "answered": iso(times.answered),
            "notice_started": iso(times.notice_started), "billing_start": iso(self.billing_start),
            "ended": iso(times.ended), "end_cause": self.end_cause, "hangup_by": self.hangup_by,
            "recordings": list(self.recordings), "recording_failed": self.recording_failed,
            "notice_failed": self.notice_failed,
        }
