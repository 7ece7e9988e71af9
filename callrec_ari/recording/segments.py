"""A call's recording as a series of fixed-length segments (R1.2).

Segment N+1 is started before N is stopped, so the two overlap by the time Asterisk takes to start
a recorder (tens of milliseconds): nothing is lost at a boundary, and packaging trims the overlap
using each segment's start time (Asterisk's RecordingStarted timestamp) so nothing is doubled.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriNotFound

log = logging.getLogger(__name__)


def segment_name(prefix: str, call_id: str, index: int) -> str:
    """``<prefix>/<call id>/<call id>-NNN`` (1-based): sorted by name is sorted by time."""
    return f"{prefix}/{call_id}/{call_id}-{index:03d}"


def parse_ari_time(value: str) -> datetime | None:
    """Asterisk's event timestamps look like 2026-11-28T18:57:38.877+0000."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(value, fmt)
    return None


@dataclass(slots=True)
class Segment:
    name: str
    index: int
    started_at: datetime | None = None  # Asterisk's clock, when the recorder began
    live: bool = False
    finished: bool = False
    failed: bool = False


class SegmentedRecording:
    """The recordings of one call's bridge. Not thread-safe: driven by the call's own event loop."""

    def __init__(self, ari: AriClient, bridge_id: str, call_id: str, prefix: str, fmt: str) -> None:
        self.ari = ari
        self.bridge_id = bridge_id
        self.call_id = call_id
        self.prefix = prefix
        self.fmt = fmt
        self.segments: list[Segment] = []
        self.failed = False

    @property
    def next_name(self) -> str:
        return segment_name(self.prefix, self.call_id, len(self.segments) + 1)

    @property
    def live(self) -> bool:
        return any(s.live for s in self.segments)

    @property
    def started(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.started_at is not None)

    def owns(self, name: str | None) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def restore(self, segments: tuple[Any, ...], live: set[str]) -> None:
        """Segments known from a journal; ``live`` are those Asterisk still records."""
        self.segments = [
            Segment(s.name, s.index, s.started_at, live=s.name in live, finished=s.name not in live)
            for s in segments
        ]

    async def start_next(self) -> Segment:
        """Ask Asterisk for the next segment; the caller claims ``next_name`` for routing first."""
        segment = Segment(self.next_name, len(self.segments) + 1, live=True)
        self.segments.append(segment)
        try:
            await self.ari.record_bridge(self.bridge_id, segment.name, self.fmt)
        except Exception:
            segment.live = False
            segment.failed = True
            self.failed = True
            raise
        return segment

    async def began(self, name: str, timestamp: str) -> Segment | None:
        """RecordingStarted: note when; stop the segments this one supersedes."""
        segment = self.owns(name)
        if segment is None:
            return None
        segment.started_at = parse_ari_time(timestamp)
        for older in self.segments:
            if older.index < segment.index and older.live:
                log.info("call=%s segment %s rolled over to %s", self.call_id, older.name, segment.name)
                with contextlib.suppress(AriNotFound):
                    await self.ari.stop_recording(older.name)
        return segment

    def ended(self, name: str, failed: bool) -> Segment | None:
        segment = self.owns(name)
        if segment is None:
            return None
        segment.live = False
        segment.finished = not failed
        if failed:
            segment.failed = True
            self.failed = True
        return segment

    async def stop_all(self) -> None:
        for segment in self.segments:
            if segment.live:
                with contextlib.suppress(AriNotFound):
                    await self.ari.stop_recording(segment.name)
