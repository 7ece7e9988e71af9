"""Stream delivery (R1.4) as a media part: the stream taps of streaming/tap.py, started after the tone."""

from __future__ import annotations

from datetime import datetime

from callrec_ari.model.media import MediaFailed
from callrec_ari.rules.manifest import NoticeEntry
from callrec_ari.streaming.tap import StreamTap


class StreamPart:
    """The call's streams, one per contract that delivers by stream, by channel id."""

    def __init__(self, taps: tuple[StreamTap, ...]) -> None:
        self.taps = {tap.channel_id: tap for tap in taps}

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return tuple(self.taps)

    def channels(self, media_id: str) -> tuple[str, ...]:
        return ()

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        if not await self.taps[media_id].begin(at, notices):
            # The tap has logged and counted the loss; the call goes on unstreamed (R1.4).
            raise MediaFailed("stream-not-started", f"stream {media_id} could not start")

    async def resume(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        """A stream a previous run of the app started, still running after a restart."""
        await self.taps[media_id].resume(at, notices)

    async def stop(self, media_id: str, reason: str) -> None:
        await self.taps[media_id].finish(reason=reason)
