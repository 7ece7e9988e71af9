"""Stream delivery (R1.4) as a media part: the stream tap of streaming/tap.py, started after the tone."""

from __future__ import annotations

from datetime import datetime

from callrec_ari.model.media import MediaFailed
from callrec_ari.streaming.tap import StreamTap


class StreamPart:
    def __init__(self, tap: StreamTap) -> None:
        self.tap = tap

    @property
    def channel_id(self) -> str:
        return self.tap.channel_id

    async def start(self, media_id: str, at: datetime) -> None:
        if not await self.tap.begin(at):
            # The tap has logged and counted the loss; the call goes on unstreamed (R1.4).
            raise MediaFailed("stream-not-started", f"stream {media_id} could not start")

    async def stop(self, media_id: str, reason: str) -> None:
        await self.tap.finish(reason=reason)
