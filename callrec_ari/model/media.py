"""The seam between the call flow and the media of a call.

The flow (calls/flow.py) decides *that* a medium starts or stops and names it; a media part does it
against Asterisk. Three kinds today: the notice and tone, the recording, the stream. A new recording
engine is a new part behind this protocol (callrec_ari/media/), not an edit of the call flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from callrec_ari.rules.manifest import NoticeEntry

MediaKind = Literal["notice", "recording", "stream"]


class MediaFailed(RuntimeError):
    """A medium could not start for a reason that is not an ARI error (e.g. the customer's stream
    endpoint is unreachable)."""

    def __init__(self, error_id: str, message: str, gone: bool = False) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.gone = gone  # what it was to work on is gone (as ARI's 404): the call is ending


@dataclass(frozen=True, slots=True)
class RecordingVoid:
    """A recording that wrote no file although its recorder was started: its leg went as it began (a
    roll that raced the hangup). Nothing of the call is missing (the segment before runs on past the
    next one's start); the flow counts it as never started, so no file is looked for."""

    name: str


@dataclass(frozen=True, slots=True)
class CallLegs:
    """The Asterisk ids of one call's resources (ours: events find the call by them)."""

    caller: str
    callee: str
    bridge: str

    @classmethod
    def for_call(cls, call_id: str, caller_channel: str) -> CallLegs:
        return cls(caller=caller_channel, callee=f"{call_id}-callee", bridge=call_id)


class MediaPart(Protocol):
    """One medium of one call, driven by the call's executor.

    ``start`` raises (an ``AriError``, or :class:`MediaFailed`) when the medium does not start; the
    flow then decides what follows. ``stop`` is idempotent and quiet about media already gone.
    The media's own events (RecordingStarted, PlaybackFinished...) reach the flow by the id it chose.
    """

    def channels(self, media_id: str) -> tuple[str, ...]:
        """The channels of ours in Asterisk this medium has while it runs (e.g. a recording's snoop
        channel): claimed before it starts, so their events reach the call and a restart adopts them."""
        ...

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        """``notices``: what the parties heard so far (a stream announces it in its metadata)."""

    async def stop(self, media_id: str, reason: str) -> None: ...
