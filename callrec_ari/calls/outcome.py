"""What a call is and leaves behind, as plain data: its times, its segments, its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from callrec_ari.calls.plan import CallPlan


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class CallTimes:
    started: datetime = field(default_factory=now_utc)
    answered: datetime | None = None
    notice_started: datetime | None = None  # the billing start (R2.4)
    talk_started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordedSegment:
    name: str  # Asterisk recording name (a file <name>.<format> under its recording directory)
    index: int  # 1-based
    started_at: datetime | None  # Asterisk's RecordingStarted time


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What a finished call leaves behind, for the call record and delivery."""

    plan: CallPlan
    times: CallTimes
    answered: bool
    end_cause: int
    hangup_by: str  # "caller", "callee" or "app"
    recordings: tuple[str, ...]  # Asterisk recording names, in order
    segments: tuple[RecordedSegment, ...]  # the same, with when each began (to trim overlaps)
    recording_failed: bool
    notice_failed: bool = False


